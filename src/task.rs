//! A spawned task tied to its owner: [`AbortOnDrop`] aborts the task when the owner drops it,
//! so a helper task (a download's body pump, a watch, a sweep) never outlives what it serves.

use tokio::task::JoinHandle;

/// Aborts the task when dropped. A plain `JoinHandle` detaches its task when dropped: the task
/// would run on, holding a connection or a watch, after its result stopped mattering.
#[derive(Debug)]
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
