//! Kubernetes Events on the UserImport. Events expire after about an hour: the status is the
//! lasting record, so a failure to publish one is logged and otherwise ignored.

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

use user_import_resources::UserImport;

/// What happened, as an event.
pub(crate) struct Note {
    pub(crate) warning: bool,
    /// PascalCase, at most 128 characters.
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl Note {
    pub(crate) fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            warning: false,
            reason,
            message: message.into(),
        }
    }

    pub(crate) fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            warning: true,
            reason,
            message: message.into(),
        }
    }
}

/// Publishes `note` on `import`.
pub(crate) async fn publish(recorder: &Recorder, import: &UserImport, note: Note) {
    let event = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.to_string(),
        note: Some(truncate(note.message, 1000)),
        action: "Import".to_string(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, &import.object_ref(&())).await {
        tracing::warn!(%error, reason = note.reason, "could not publish an event");
    }
}

/// Events carry at most 1 kB of message.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
