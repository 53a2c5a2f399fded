//! Leader election through a `coordination.k8s.io/v1` Lease: only the holder runs the
//! controller; the others stand by (and are ready, so a rollout is not blocked by them).

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

/// Where the Lease is and how long it holds.
#[derive(Clone, Debug)]
pub(crate) struct LeaseSettings {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) identity: String,
    /// Seconds a lease stays valid after its last renewal.
    pub(crate) duration: u64,
}

/// A running election: the receiver says whether this instance holds the Lease.
pub(crate) struct Election {
    pub(crate) leading: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Starts campaigning for the Lease (creating it when absent).
pub(crate) async fn campaign(
    client: Client,
    settings: &LeaseSettings,
) -> Result<Election, LeaseManagerError> {
    // Renew a third of the duration before expiry: tolerates some clock skew and API latency.
    let grace = (settings.duration / 3).max(1);
    let manager = LeaseManagerBuilder::new(client, &settings.name)
        .with_namespace(&settings.namespace)
        .with_identity(&settings.identity)
        .with_duration(settings.duration)
        .with_grace(grace)
        .build()
        .await?;
    let (leading, task) = manager.watch().await;
    Ok(Election { leading, task })
}

impl Election {
    /// Waits until this instance leads. False when the election ended without it.
    pub(crate) async fn until_leading(&mut self) -> bool {
        self.leading.wait_for(|leading| *leading).await.is_ok()
    }

    /// Resolves when leadership is lost (or the election ended).
    pub(crate) async fn until_lost(mut receiver: watch::Receiver<bool>) {
        let _ = receiver.wait_for(|leading| !*leading).await;
    }

    /// Steps down: closing the channel makes the manager release the Lease, so a standby
    /// instance takes over at once rather than after the lease expires.
    pub(crate) async fn resign(self) {
        drop(self.leading);
        match self.task.await {
            Ok(Ok(_)) => tracing::info!("lease released"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the lease"),
            Err(error) => tracing::warn!(%error, "the lease task failed"),
        }
    }
}
