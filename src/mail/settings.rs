//! Where messages go: an SMTP relay (parsed from a URL) or an outbox folder.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use url::Url;

use super::{MailError, RetryPolicy};

/// The sender used when none is configured.
pub const DEFAULT_FROM: &str = "user-import-operator@localhost";

/// A password: shown as `***` by `Debug`, never by `Display`, only readable on purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear text, for the SMTP login and for scrubbing error texts.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (`?tls=none`): a local relay only; refused with credentials.
    None,
    /// STARTTLS when the server offers it (`smtp://host`, or `?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS or fail (`?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// An SMTP relay, as parsed by [`SmtpSettings::from_url`].
#[derive(Clone, Debug, PartialEq)]
pub struct SmtpSettings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: TlsMode,
    pub(crate) username: Option<String>,
    /// From the URL (percent-decoded).
    pub password: Option<Secret>,
    /// Read at each send, so a rotated Kubernetes Secret is picked up without a restart.
    pub password_file: Option<PathBuf>,
    /// PEM certificates trusted in addition to the public roots (a private relay's CA).
    pub ca_file: Option<PathBuf>,
    /// Bound on the TCP connect (lettre's async transport applies its timeout there only).
    pub connect_timeout: Duration,
    /// Bound on one whole delivery attempt (connect, greeting, TLS, auth, data): what catches
    /// a server that accepts the connection and then says nothing.
    pub send_timeout: Duration,
}

/// The destination of messages.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// An SMTP server.
    Smtp(SmtpSettings),
    /// Each message is written as `<id>.eml` into this folder (created when missing).
    Outbox(PathBuf),
}

/// Everything [`send`](super::send) needs.
#[derive(Clone, Debug, PartialEq)]
pub struct MailSettings {
    pub(crate) from: Mailbox,
    pub(crate) target: Target,
    /// How often and how long a transient failure is retried.
    pub retry: RetryPolicy,
    /// In outbox mode, how long a written message is kept; `None` keeps every one.
    pub(crate) outbox_retention: Option<Duration>,
}

impl MailSettings {
    /// SMTP delivery to the relay of `url` (see [`SmtpSettings::from_url`]).
    pub fn from_url(url: &str, from: Mailbox) -> Result<Self, MailError> {
        Ok(Self::new(Target::Smtp(SmtpSettings::from_url(url)?), from))
    }

    /// Outbox mode: `.eml` files in `dir`.
    pub fn outbox(dir: impl Into<PathBuf>, from: Mailbox) -> Self {
        Self::new(Target::Outbox(dir.into()), from)
    }

    fn new(target: Target, from: Mailbox) -> Self {
        MailSettings {
            from,
            target,
            retry: RetryPolicy::default(),
            outbox_retention: None,
        }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Keeps outbox messages for `retention` only: older `.eml` files of the folder are removed
    /// whenever a message is written there. The problem rows stay in the UserImport's status.
    pub fn with_outbox_retention(mut self, retention: Option<Duration>) -> Self {
        self.outbox_retention = retention;
        self
    }

    /// True for an SMTP relay reached in clear (`?tls=none`): worth a warning at start.
    pub fn is_plain_text(&self) -> bool {
        matches!(&self.target, Target::Smtp(smtp) if smtp.tls == TlsMode::None)
    }

    /// The SMTP part, for further settings; `None` in outbox mode.
    pub fn smtp_mut(&mut self) -> Option<&mut SmtpSettings> {
        match &mut self.target {
            Target::Smtp(smtp) => Some(smtp),
            Target::Outbox(_) => None,
        }
    }
}

/// For logs: the relay without its password, or the outbox folder.
impl fmt::Display for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Smtp(smtp) => write!(f, "{smtp}")?,
            Target::Outbox(dir) => write!(f, "outbox {}", dir.display())?,
        }
        write!(f, " (from {})", self.from)
    }
}

impl SmtpSettings {
    /// Parses `smtp://[user[:pass]@]host[:port][?tls=none|opportunistic|required]` or
    /// `smtps://[user[:pass]@]host[:port]`. Without `tls`, `smtp://` takes STARTTLS when the
    /// server offers it, and requires it when the URL has a user. Ports default to 25 for `smtp` without `tls` or with `tls=none`, 587
    /// with `tls=opportunistic` or `required`, 465 for `smtps`. User and password are
    /// percent-decoded; with `tls=none` they are refused, as they would cross the network in
    /// clear. Errors never repeat the URL, which may hold a password.
    pub(crate) fn from_url(url: &str) -> Result<Self, MailError> {
        let url = Url::parse(url.trim()).map_err(|e| invalid(format!("bad SMTP URL: {e}")))?;
        let (tls, default_port) = tls_mode(&url)?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("the SMTP URL has no host".into()))?;
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(invalid(
                "the SMTP URL may not have a path or fragment".into(),
            ));
        }
        let (username, password) = credentials(&url)?;
        // Credentials never cross the network in clear: without a `tls` parameter, a user
        // makes STARTTLS required (opportunistic STARTTLS would send them in clear to a relay
        // that does not offer it); with `tls=none` the URL is refused.
        let tls_given = url.query_pairs().any(|(key, _)| key == "tls");
        let tls = match tls {
            TlsMode::Opportunistic if username.is_some() && !tls_given => TlsMode::Required,
            tls => tls,
        };
        if tls == TlsMode::None && username.is_some() {
            return Err(invalid(
                "the SMTP URL has a user but tls=none: the credentials would cross the network \
                 in clear; use ?tls=required (STARTTLS) or smtps://"
                    .into(),
            ));
        }
        Ok(SmtpSettings {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(default_port),
            tls,
            username,
            password,
            password_file: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
        })
    }

    /// `host:port`, as errors name the server.
    pub(crate) fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `smtp[s]://user@host:port?tls=…`: the URL without its password.
impl fmt::Display for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == TlsMode::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.username {
            write!(f, "{user}@")?;
        }
        write!(f, "{}", self.server())?;
        match self.tls {
            TlsMode::None => f.write_str("?tls=none"),
            TlsMode::Opportunistic => f.write_str("?tls=opportunistic"),
            TlsMode::Required => f.write_str("?tls=required"),
            TlsMode::Implicit => Ok(()),
        }
    }
}

/// The TLS mode and the default port of the URL's scheme and `tls` parameter.
fn tls_mode(url: &Url) -> Result<(TlsMode, u16), MailError> {
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "tls" => tls = Some(value.into_owned()),
            other => return Err(invalid(format!("unknown SMTP URL parameter {other:?}"))),
        }
    }
    match (url.scheme(), tls.as_deref()) {
        // A relay's port 25, with STARTTLS when offered (required when the URL has a user).
        ("smtp", None) => Ok((TlsMode::Opportunistic, 25)),
        ("smtp", Some("none")) => Ok((TlsMode::None, 25)),
        ("smtp", Some("opportunistic")) => Ok((TlsMode::Opportunistic, 587)),
        ("smtp", Some("required")) => Ok((TlsMode::Required, 587)),
        ("smtp", Some(other)) => Err(invalid(format!(
            "tls={other:?} is not one of none, opportunistic, required"
        ))),
        ("smtps", None) => Ok((TlsMode::Implicit, 465)),
        ("smtps", Some(_)) => Err(invalid(
            "smtps:// always uses TLS; drop the tls parameter".into(),
        )),
        (scheme, _) => Err(invalid(format!(
            "unsupported scheme {scheme:?} (use smtp:// or smtps://)"
        ))),
    }
}

fn credentials(url: &Url) -> Result<(Option<String>, Option<Secret>), MailError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| invalid("the SMTP URL's user or password is not UTF-8".into()))
    };
    let user = Some(decode(url.username())?).filter(|u| !u.is_empty());
    let password = url.password().map(decode).transpose()?.map(Secret);
    if user.is_none() && password.is_some() {
        return Err(invalid("the SMTP URL has a password but no user".into()));
    }
    Ok((user, password))
}

fn invalid(reason: String) -> MailError {
    MailError::InvalidSettings(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> SmtpSettings {
        SmtpSettings::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn error(url: &str) -> String {
        SmtpSettings::from_url(url).unwrap_err().to_string()
    }

    #[test]
    fn plain_smtp_is_port_25_with_starttls_when_offered() {
        let s = parse("smtp://relay");
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("relay", 25, TlsMode::Opportunistic)
        );
        assert_eq!((s.username, s.password), (None, None));
        assert_eq!(parse("smtp://relay:2525").port, 2525);
        let none = parse("smtp://relay/?tls=none");
        assert_eq!((none.port, none.tls), (25, TlsMode::None));
    }

    #[test]
    fn credentials_without_tls_are_refused() {
        for url in [
            "smtp://bob@relay?tls=none",
            "smtp://bob:hunter2@relay:25?tls=none",
        ] {
            let message = error(url);
            assert!(message.contains("tls=none"), "{message}");
            assert!(message.contains("in clear"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        // Without a tls parameter a user makes STARTTLS required, on the same port 25.
        let s = parse("smtp://bob:pw@relay");
        assert_eq!((s.port, s.tls), (25, TlsMode::Required));
        assert_eq!(parse("smtp://bob@relay:587").tls, TlsMode::Required);
        // Given explicitly, opportunistic STARTTLS stays the caller's choice.
        assert_eq!(
            parse("smtp://bob:pw@relay?tls=opportunistic").tls,
            TlsMode::Opportunistic
        );
        assert_eq!(
            parse("smtp://bob:pw@relay?tls=required").tls,
            TlsMode::Required
        );
        assert_eq!(parse("smtps://bob:pw@relay").tls, TlsMode::Implicit);
    }

    #[test]
    fn starttls_modes() {
        let s = parse("smtp://relay:587?tls=required");
        assert_eq!((s.port, s.tls), (587, TlsMode::Required));
        let s = parse("smtp://relay?tls=opportunistic");
        assert_eq!((s.port, s.tls), (587, TlsMode::Opportunistic));
    }

    #[test]
    fn smtps_is_implicit_tls_on_465() {
        let s = parse("smtps://relay");
        assert_eq!((s.port, s.tls), (465, TlsMode::Implicit));
        assert_eq!(parse("smtps://relay:10465").port, 10465);
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let s = parse("smtps://rep%40acme.test:p%3Ass%2Fw%20rd@relay:465");
        assert_eq!(s.username.as_deref(), Some("rep@acme.test"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("p:ss/w rd"));
        let s = parse("smtp://bob@relay");
        assert_eq!((s.username.as_deref(), s.password), (Some("bob"), None));
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let s = parse("smtp://[::1]:2525");
        assert_eq!(
            (s.host.as_str(), s.server()),
            ("::1", "[::1]:2525".to_owned())
        );
    }

    #[test]
    fn bad_urls_are_clear_errors() {
        assert!(error("http://relay").contains("unsupported scheme \"http\""));
        assert!(error("smtp://relay?tls=always").contains("tls=\"always\" is not one of"));
        assert!(error("smtps://relay?tls=required").contains("drop the tls parameter"));
        assert!(error("smtp://relay?tsl=required").contains("unknown SMTP URL parameter"));
        assert!(error("smtp://relay/mail").contains("path"));
        assert!(error("smtp://:secret@relay").contains("password but no user"));
        assert!(error("relay:25").contains("scheme"));
        assert!(error("not a url").contains("bad SMTP URL"));
    }

    #[test]
    fn bad_url_errors_never_repeat_the_password() {
        for url in [
            "smtp://u:hunter2@relay:99999",
            "smtp://u:hunter2@relay?tls=bogus",
            "ftp://u:hunter2@relay",
        ] {
            assert!(!error(url).contains("hunter2"), "{url}");
        }
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let from: Mailbox = DEFAULT_FROM.parse().unwrap();
        let settings =
            MailSettings::from_url("smtp://bob:hunter2@relay:587?tls=required", from).unwrap();
        let debug = format!("{settings:?}");
        let display = settings.to_string();
        assert!(
            !debug.contains("hunter2") && debug.contains("Secret(***)"),
            "{debug}"
        );
        assert!(!display.contains("hunter2"), "{display}");
        assert_eq!(
            display,
            "smtp://bob@relay:587?tls=required (from user-import-operator@localhost)"
        );
    }
}
