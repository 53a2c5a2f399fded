//! Graceful shutdown on SIGTERM (what Kubernetes sends) or ctrl-c.

use tokio::sync::watch;

/// A shutdown signal that any number of tasks can wait for.
#[derive(Clone)]
pub(crate) struct Shutdown {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    /// Starts listening for SIGTERM and ctrl-c.
    pub(crate) fn on_signals() -> Self {
        let (sender, receiver) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            let _ = sender.send(true);
        });
        Shutdown { receiver }
    }

    /// Resolves once shutdown is requested.
    pub(crate) async fn requested(mut self) {
        // An error means the sender is gone, which only happens after it sent `true`.
        let _ = self.receiver.wait_for(|requested| *requested).await;
    }

    /// A future that is `Send + Sync` (kube-runtime's `graceful_shutdown_on` asks for that).
    pub(crate) fn as_sync_future(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let (sender, receiver) = futures::channel::oneshot::channel::<()>();
        let this = self.clone();
        tokio::spawn(async move {
            this.requested().await;
            let _ = sender.send(());
        });
        async move {
            let _ = receiver.await;
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
