//! Delivery: SMTP through lettre with retries, or an `.eml` file in the outbox.

use std::error::Error as _;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use backon::Retryable;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::settings::{Secret, SmtpSettings, Target, TlsMode};
use super::{MailError, MailSettings, RetryPolicy};

type Smtp = AsyncSmtpTransport<Tokio1Executor>;

/// A delivered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts it took (1 when the first one worked).
    pub attempts: u32,
    /// `smtp://user@host:port…` (no password) or `outbox <dir>`.
    pub(crate) target: String,
    /// The server's final reply (`250 …`), or the path of the `.eml` file.
    pub detail: String,
}

/// Sends `message` as `settings` say. SMTP failures that may pass (connection refused or
/// reset, timeouts, 4xx replies) are retried per `settings.retry`; 5xx replies and TLS or
/// protocol failures are not. Password and CA files are read here, at each call.
pub async fn send(settings: &MailSettings, message: Message) -> Result<Delivery, MailError> {
    match &settings.target {
        Target::Outbox(dir) => {
            let delivery = write_outbox(dir, message).await?;
            if let Some(retention) = settings.outbox_retention {
                remove_older_messages(dir, retention).await;
            }
            Ok(delivery)
        }
        Target::Smtp(smtp) => send_smtp(smtp, &settings.retry, message).await,
    }
}

async fn write_outbox(dir: &Path, message: Message) -> Result<Delivery, MailError> {
    let fail = |e: &dyn std::fmt::Display| MailError::Outbox {
        dir: dir.to_owned(),
        reason: e.to_string(),
    };
    tokio::fs::create_dir_all(dir).await.map_err(|e| fail(&e))?;
    let id = AsyncFileTransport::<Tokio1Executor>::new(dir)
        .send(message)
        .await
        .map_err(|e| fail(&e))?;
    Ok(Delivery {
        attempts: 1,
        target: format!("outbox {}", dir.display()),
        detail: dir.join(format!("{id}.eml")).display().to_string(),
    })
}

/// Removes the `.eml` files of `dir` last modified more than `retention` ago: an error report
/// holds personal data, and the status keeps its rows. Other files are left alone. A file that
/// cannot be read or removed is logged and skipped: a delivery never fails for it.
async fn remove_older_messages(dir: &Path, retention: Duration) {
    let Some(cutoff) = SystemTime::now().checked_sub(retention) else {
        return;
    };
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "outbox: cannot list for retention");
            return;
        }
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "eml") {
            continue;
        }
        let modified = entry.metadata().await.and_then(|meta| meta.modified());
        if matches!(modified, Ok(time) if time < cutoff) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => tracing::info!(file = %path.display(), "outbox: removed after retention"),
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "outbox: cannot remove");
                }
            }
        }
    }
}

async fn send_smtp(
    smtp: &SmtpSettings,
    retry: &RetryPolicy,
    message: Message,
) -> Result<Delivery, MailError> {
    let password = password(smtp).await?;
    let transport = transport(smtp, password.as_ref()).await?;
    let server = smtp.server();
    let started = Instant::now();
    // Counted by the attempts themselves; read by the log lines and the result. An atomic,
    // not a Cell, so that the future stays Send.
    let attempts = AtomicU32::new(0);
    let attempt = || async {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt_once(&transport, smtp, &message)
            .await
            .map_err(|failure| failure.scrubbed(password.as_ref()))
    };
    let sent = attempt
        .retry(retry.delays())
        .sleep(tokio::time::sleep)
        .when(|failure: &Failure| failure.transient)
        .adjust(|_, delay| retry.within_time(started.elapsed(), delay))
        .notify(|failure, delay| {
            let attempt = attempts.load(Ordering::Relaxed);
            // The server's reply may quote the recipient's address: personal data, so only at
            // debug level.
            tracing::warn!(%server, attempt, ?delay, "mail delivery failed; retrying");
            tracing::debug!(%server, attempt, reason = %failure.reason, "mail delivery failure");
        })
        .await;
    let attempts = attempts.load(Ordering::Relaxed);
    match sent {
        Ok(reply) => Ok(Delivery {
            attempts,
            target: smtp.to_string(),
            detail: reply,
        }),
        Err(failure) => Err(failure.into_error(server, attempts)),
    }
}

/// One attempt, bounded by the send timeout.
async fn attempt_once(
    transport: &Smtp,
    smtp: &SmtpSettings,
    message: &Message,
) -> Result<String, Failure> {
    match tokio::time::timeout(smtp.send_timeout, transport.send(message.clone())).await {
        Ok(Ok(response)) => Ok(format!(
            "{} {}",
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        )),
        Ok(Err(e)) => Err(Failure::from_smtp(&e)),
        Err(_) => Err(Failure {
            transient: true,
            answered: false,
            reason: format!("no answer within {:?}", smtp.send_timeout),
        }),
    }
}

/// A failed attempt, classified.
struct Failure {
    transient: bool,
    /// The server answered with a negative reply (rather than TLS, I/O or protocol trouble).
    answered: bool,
    reason: String,
}

impl Failure {
    fn from_smtp(e: &lettre::transport::smtp::Error) -> Self {
        if let Some(code) = e.status() {
            let text = e.source().map(|s| s.to_string()).unwrap_or_default();
            return Failure {
                transient: e.is_transient(),
                answered: true,
                reason: format!("{code} {text}").trim_end().to_owned(),
            };
        }
        Failure {
            transient: is_transient_io(e),
            answered: false,
            reason: error_chain(e),
        }
    }

    /// Removes the password from the text: defence in depth against a server or library that
    /// echoes credentials back.
    fn scrubbed(mut self, password: Option<&Secret>) -> Self {
        if let Some(p) = password.map(Secret::expose).filter(|p| !p.is_empty()) {
            self.reason = self.reason.replace(p, "***");
        }
        self
    }

    fn into_error(self, server: String, attempts: u32) -> MailError {
        match (self.transient, self.answered) {
            (true, _) => MailError::Unavailable {
                server,
                attempts,
                reason: self.reason,
            },
            (false, true) => MailError::Rejected {
                server,
                attempts,
                reply: self.reason,
            },
            (false, false) => MailError::Failed {
                server,
                attempts,
                reason: self.reason,
            },
        }
    }
}

/// Connection and network errors are worth retrying unless they are TLS or protocol errors,
/// which rustls and lettre report as `InvalidData` and which a retry would only repeat.
fn is_transient_io(e: &lettre::transport::smtp::Error) -> bool {
    if e.is_timeout() {
        return true;
    }
    if e.is_client() || e.is_response() || e.is_tls() || e.is_transport_shutdown() {
        return false;
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.kind() != std::io::ErrorKind::InvalidData;
        }
        source = err.source();
    }
    true
}

/// `Connection error: Connection refused (os error 111)`: lettre's text already includes its
/// source's; only deeper causes are appended, and a repeated part (lettre nests its own
/// errors: "Connection error: Connection error: …") is said once.
fn error_chain(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source().and_then(|s| s.source());
    while let Some(err) = source {
        let more = err.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = err.source();
    }
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}

async fn password(smtp: &SmtpSettings) -> Result<Option<Secret>, MailError> {
    let Some(path) = &smtp.password_file else {
        return Ok(smtp.password.clone());
    };
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| MailError::File {
            what: "SMTP password file",
            path: path.clone(),
            reason: e.to_string(),
        })?;
    // Files made by `echo` or editors end with a newline that is not part of the password.
    Ok(Some(Secret::new(text.trim_end_matches(['\r', '\n']))))
}

async fn transport(smtp: &SmtpSettings, password: Option<&Secret>) -> Result<Smtp, MailError> {
    let mut builder = Smtp::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(smtp.connect_timeout))
        // No reuse: a connection abandoned mid-transaction by the send timeout would
        // otherwise go back to the pool and poison the next attempt.
        .pool_config(PoolConfig::new().max_size(0))
        .tls(tls(smtp).await?);
    if let (Some(user), Some(password)) = (&smtp.username, password) {
        builder = builder
            .credentials(Credentials::new(user.clone(), password.expose().to_owned()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

async fn tls(smtp: &SmtpSettings) -> Result<Tls, MailError> {
    let wrap: fn(TlsParameters) -> Tls = match smtp.tls {
        TlsMode::None => return Ok(Tls::None),
        TlsMode::Opportunistic => Tls::Opportunistic,
        TlsMode::Required => Tls::Required,
        TlsMode::Implicit => Tls::Wrapper,
    };
    let mut params = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        params = params.add_root_certificate(ca_certificate(path).await?);
    }
    let params = params
        .build_rustls()
        .map_err(|e| MailError::InvalidSettings(format!("TLS setup failed: {e}")))?;
    Ok(wrap(params))
}

async fn ca_certificate(path: &Path) -> Result<Certificate, MailError> {
    let fail = |reason: String| MailError::File {
        what: "CA file",
        path: path.to_owned(),
        reason,
    };
    let pem = tokio::fs::read(path)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // lettre accepts a PEM without certificates and would then trust nothing extra.
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(fail("no PEM certificate in it".into()));
    }
    Certificate::from_pem(&pem).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::fs::{File, FileTimes};
    use std::time::{Duration, SystemTime};

    use super::remove_older_messages;

    fn file_aged(dir: &std::path::Path, name: &str, age: Duration) {
        let file = File::create(dir.join(name)).unwrap();
        let modified = SystemTime::now() - age;
        file.set_times(FileTimes::new().set_modified(modified))
            .unwrap();
    }

    #[tokio::test]
    async fn only_messages_older_than_the_retention_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let day = Duration::from_secs(24 * 3600);
        file_aged(dir.path(), "old.eml", 2 * day);
        file_aged(dir.path(), "recent.eml", Duration::from_secs(3600));
        file_aged(dir.path(), "old-notes.txt", 2 * day);
        remove_older_messages(dir.path(), day).await;
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["old-notes.txt", "recent.eml"]);
    }

    #[tokio::test]
    async fn a_missing_folder_is_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        remove_older_messages(&dir.path().join("missing"), Duration::from_secs(1)).await;
    }
}
