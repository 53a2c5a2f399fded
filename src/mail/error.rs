//! Errors of the mailer. Every text is meant for a status field or a log line, so none of
//! them may carry a password (see [`crate::mail::Secret`]).

use std::path::PathBuf;

/// Why a report could not be mailed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A recipient or sender address that is not a valid e-mail address.
    #[error("invalid {role} address {address:?}: {reason}")]
    InvalidAddress {
        /// Whose address: `recipient`, or `sender (--mail-from)`.
        role: &'static str,
        /// The address as given.
        address: String,
        /// Why it is not valid.
        reason: String,
    },
    /// Settings that cannot work (a bad SMTP URL, a password file without a user, ...).
    #[error("invalid mail settings: {0}")]
    InvalidSettings(String),
    /// The message could not be assembled.
    #[error("cannot build the report message: {0}")]
    Message(String),
    /// A password or CA file could not be read or used.
    #[error("cannot use {what} {path:?}: {reason}")]
    File {
        /// Which file: `SMTP password file` or `CA file`.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// The server answered with a permanent (5xx) reply: retrying would not help.
    #[error("SMTP server at {server} refused the message: {reply}")]
    Rejected {
        /// The SMTP server, `host:port`.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// The server's reply.
        reply: String,
    },
    /// A failure that retrying would not fix, without an SMTP reply (TLS, protocol).
    #[error("delivery to SMTP server at {server} failed: {reason}")]
    Failed {
        /// The SMTP server, `host:port`.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// Transient failures (connection refused, timeouts, 4xx) until the retry budget ran out.
    #[error("SMTP server at {server} unavailable after {attempts} attempts: {reason}")]
    Unavailable {
        /// The SMTP server, `host:port`.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The `.eml` file could not be written.
    #[error("cannot write to outbox {dir:?}: {reason}")]
    Outbox {
        /// The outbox folder.
        dir: PathBuf,
        /// Why the file could not be written.
        reason: String,
    },
}

impl MailError {
    /// Delivery attempts made before this error (0 when nothing was tried), for the
    /// `errorReport.attempts` of the UserImport status.
    pub fn attempts(&self) -> u32 {
        match self {
            MailError::Rejected { attempts, .. }
            | MailError::Failed { attempts, .. }
            | MailError::Unavailable { attempts, .. } => *attempts,
            MailError::Outbox { .. } => 1,
            _ => 0,
        }
    }

    /// True when a later try (e.g. the next reconcile) may succeed without a config change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MailError::Unavailable { .. } | MailError::Outbox { .. }
        )
    }
}
