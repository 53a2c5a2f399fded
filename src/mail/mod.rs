//! The mailer: e-mails the error report of an import (docs/error-report.md).
//!
//! Three steps, each usable on its own:
//! 1. [`build_message`] turns a [`ReportMail`] (plain data: recipient, source, the
//!    [`ImportResults`](user_import_engine::results::ImportResults), the CSV bytes) into a
//!    [`lettre::Message`] with a text and an HTML body ([`body_text`], [`body_html`](html::body_html)), the
//!    CSV attached unchanged and a deterministic `Message-ID`. Header values that may come from a Tenant (names, the file name that is
//!    also the Subject) are cleaned of line breaks and control characters, RFC 2047-encoded
//!    and folded here, so that no value can add a header, make a line a relay refuses, or
//!    panic; [`header_fixes`] says what was replaced.
//! 2. [`MailSettings`] says where messages go: an SMTP relay given by URL
//!    (`smtp://`, `smtp://…?tls=required|opportunistic`, `smtps://`) or an outbox folder of
//!    `.eml` files. [`MailArgs`] is the clap fragment that produces it for the CLI and the
//!    controller.
//! 3. [`send`] delivers one message, retrying transient failures with exponential back-off
//!    ([`RetryPolicy`]), and reports how many attempts it took ([`Delivery`] or
//!    [`MailError::attempts`]).
//!
//! Passwords are held in [`Secret`]: they never appear in `Debug`/`Display` of the settings,
//! in [`MailError`] texts, or in logs.

mod args;
mod error;
mod header;
mod html;
mod message;
mod retry;
mod settings;
mod transport;

pub(crate) use args::MailArgs;
pub use error::MailError;
pub(crate) use header::{HeaderFix, header_fixes};
pub use message::{ReportMail, body_text, build_message, message_id};
pub use retry::RetryPolicy;
pub use settings::{DEFAULT_FROM, MailSettings, Secret, SmtpSettings, Target, TlsMode};
pub use transport::{Delivery, send};

/// Re-exported so callers can build a sender without naming lettre.
pub use lettre::message::Mailbox;
