//! A panic in one reconcile is a failure of that import, never of the operator.
//!
//! kube-runtime runs each reconcile as a task and unwraps its `JoinHandle`: a panic would end
//! the controller's stream, and with it the process (exit 101 on every restart when the panic
//! comes from stored data). Here the reconcile future is polled inside `catch_unwind`, so the
//! panic never reaches that task: it is counted, logged and written to the import's status, and
//! the other imports go on.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use kube::runtime::controller::Action;

use super::context::Context;
use super::error::Result;
use super::reconcile;
use user_import_resources::UserImport;

/// Runs `reconcile` (one reconcile of `import`) and turns a panic inside it into a `Failed`
/// status with reason `ReconcilePanicked` and a retry after a back-off.
///
/// This is where each reconcile starts, so its span is here: every log line of the reconcile
/// (and of a panic in it) carries the import's namespace, name and uid. The import itself is
/// skipped: it holds the whole status, with the e-mail addresses of its rows.
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        namespace = import.metadata.namespace.as_deref(),
        name = import.metadata.name.as_deref(),
        uid = import.metadata.uid.as_deref(),
    )
)]
pub(crate) async fn contained<F>(
    import: Arc<UserImport>,
    ctx: Arc<Context>,
    reconcile: F,
) -> Result<Action>
where
    F: Future<Output = Result<Action>> + Send,
{
    let uid = import.metadata.uid.clone().unwrap_or_default();
    let generation = import.metadata.generation;
    if let Some(wait) = ctx.panic_wait(&uid, generation) {
        // The status write that reported the panic triggers a reconcile too: wait as planned.
        return Ok(Action::requeue(wait));
    }
    // Unwind safety: what a reconcile shares is the Context (its maps are locked statement by
    // statement and read through poisoning) and atomic metrics; the API server holds the rest.
    match AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => {
            ctx.forget_panic(&uid);
            result
        }
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            ctx.metrics.reconcile_panics.inc();
            tracing::error!(
                import = ?import.metadata.name,
                namespace = ?import.metadata.namespace,
                panic = %text,
                "reconcile panicked"
            );
            let wait = ctx.next_backoff(&uid);
            ctx.delay_after_panic(&uid, generation, wait);
            reconcile::record_panic(&import, &ctx, &text).await;
            Ok(Action::requeue(wait))
        }
    }
}

/// The message a panic was raised with (`panic!("…")` gives a `&str` or a `String`).
fn panic_text(payload: &(dyn Any + Send)) -> String {
    const MAX_CHARS: usize = 1000;
    let text = payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    // A status message is for people; a panic message may quote a whole input.
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_text_is_the_message_cut_at_1000_characters() {
        let caught = std::panic::catch_unwind(|| panic!("static text")).unwrap_err();
        assert_eq!(panic_text(caught.as_ref()), "static text");
        let caught = std::panic::catch_unwind(|| panic!("formatted {}", 42)).unwrap_err();
        assert_eq!(panic_text(caught.as_ref()), "formatted 42");
        let long = "é".repeat(1500);
        let caught = std::panic::catch_unwind(|| panic!("{long}")).unwrap_err();
        assert_eq!(panic_text(caught.as_ref()).chars().count(), 1001);
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
        assert_eq!(panic_text(caught.as_ref()), "a panic without a message");
    }
}
