//! The mail options shared by `import` and `run`: `#[command(flatten)] mail: MailArgs`.
//!
//! Each option has an environment variable named `USER_IMPORT_` and the option's name, as the
//! other options of `run` do, so that a Deployment's `env` can set any of them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;

use super::settings::{DEFAULT_FROM, SmtpSettings};
use super::{MailError, MailSettings, RetryPolicy};
use crate::policy::RecipientDomains;

/// Where error reports are mailed: an SMTP relay, or else an outbox folder of `.eml` files.
// The environment variable names are written out (not `env` alone, which would derive
// `SMTP_URL`) so that every variable of the binary carries the prefix.
#[derive(clap::Args, Clone, PartialEq, Eq)]
pub(crate) struct MailArgs {
    /// SMTP relay URL: smtps://host:465, smtp://host:587?tls=required, smtp://host (port 25,
    /// STARTTLS when offered), smtp://host?tls=none (in clear; no credentials); credentials as
    /// smtps://user:pass@host (percent-encoded). Without it, messages are written to --outbox.
    #[arg(
        long,
        env = "USER_IMPORT_SMTP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) smtp_url: Option<String>,

    /// File holding the SMTP password (for the user named in --smtp-url); read at each send.
    #[arg(
        long,
        env = "USER_IMPORT_SMTP_PASSWORD_FILE",
        value_name = "FILE",
        requires = "smtp_url"
    )]
    pub(crate) smtp_password_file: Option<PathBuf>,

    /// PEM file of CA certificates to trust for the relay, besides the public roots.
    #[arg(
        long,
        env = "USER_IMPORT_SMTP_CA_FILE",
        value_name = "FILE",
        requires = "smtp_url"
    )]
    pub(crate) smtp_ca_file: Option<PathBuf>,

    /// Seconds allowed for the TCP connect to the relay.
    #[arg(
        long,
        env = "USER_IMPORT_SMTP_CONNECT_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    pub(crate) smtp_connect_timeout: u64,

    /// Seconds allowed for one whole delivery attempt.
    #[arg(
        long,
        env = "USER_IMPORT_SMTP_SEND_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub(crate) smtp_send_timeout: u64,

    /// Delivery attempts before giving up on transient failures (back-off doubles from 2 s).
    #[arg(
        long,
        env = "USER_IMPORT_SMTP_ATTEMPTS",
        value_name = "N",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) smtp_attempts: u32,

    /// Sender address, e.g. "User Import <noreply@example.com>".
    #[arg(
        long,
        env = "USER_IMPORT_MAIL_FROM",
        value_name = "ADDRESS",
        default_value = DEFAULT_FROM
    )]
    pub(crate) mail_from: String,

    /// Folder for .eml files when no --smtp-url is given (created when missing).
    #[arg(
        long,
        env = "USER_IMPORT_OUTBOX",
        value_name = "DIR",
        default_value = "./outbox",
        conflicts_with = "smtp_url"
    )]
    pub(crate) outbox: PathBuf,

    /// Hours an .eml file stays in --outbox: older ones are removed each time a report is
    /// written there. 0 keeps them all.
    #[arg(
        long,
        env = "USER_IMPORT_OUTBOX_RETENTION_HOURS",
        value_name = "HOURS",
        default_value_t = 0,
        conflicts_with = "smtp_url"
    )]
    pub(crate) outbox_retention_hours: u64,

    /// Domains the error report may be mailed to, comma-separated (acme.test,example.com): the
    /// recipient's domain must be one of them, compared case-insensitively; subdomains are not
    /// included. Empty: any domain.
    #[arg(
        long,
        env = "USER_IMPORT_ALLOWED_RECIPIENT_DOMAINS",
        value_name = "DOMAINS"
    )]
    pub(crate) allowed_recipient_domains: Option<RecipientDomains>,
}

/// The variables that set `--smtp-url` and `--mail-from` before every variable carried the
/// `USER_IMPORT_` prefix, each with its new name. They are no longer read: docs/decisions.md
/// says why.
const RETIRED_VARIABLES: [(&str, &str); 2] = [
    ("SMTP_URL", "USER_IMPORT_SMTP_URL"),
    ("MAIL_FROM", "USER_IMPORT_MAIL_FROM"),
];

impl MailArgs {
    /// One warning for each retired variable (`SMTP_URL`, `MAIL_FROM`) that is set while its
    /// new name is not. Without it, a deployment still setting `SMTP_URL` would write its
    /// reports to the outbox and say nothing. The caller prints or logs them.
    pub(crate) fn retired_variable_warnings() -> Vec<String> {
        retired_variable_warnings(|name| std::env::var_os(name).is_some())
    }

    /// The domains reports may be mailed to (`--allowed-recipient-domains`).
    pub(crate) fn recipient_domains(&self) -> RecipientDomains {
        self.allowed_recipient_domains.clone().unwrap_or_default()
    }

    /// The settings these options describe; errors name the offending option.
    pub(crate) fn settings(&self) -> Result<MailSettings, MailError> {
        let from: Mailbox =
            self.mail_from
                .parse()
                .map_err(
                    |e: lettre::address::AddressError| MailError::InvalidAddress {
                        role: "sender (--mail-from)",
                        address: self.mail_from.clone(),
                        reason: e.to_string(),
                    },
                )?;
        let retry = RetryPolicy::default().with_max_attempts(self.smtp_attempts);
        let Some(url) = &self.smtp_url else {
            let retention = (self.outbox_retention_hours > 0)
                .then(|| Duration::from_secs(self.outbox_retention_hours * 3600));
            return Ok(MailSettings::outbox(&self.outbox, from)
                .with_retry(retry)
                .with_outbox_retention(retention));
        };
        let mut settings = MailSettings::from_url(url, from)?.with_retry(retry);
        if let Some(smtp) = settings.smtp_mut() {
            self.complete(smtp)?;
        }
        Ok(settings)
    }

    fn complete(&self, smtp: &mut SmtpSettings) -> Result<(), MailError> {
        if let Some(file) = &self.smtp_password_file {
            if smtp.username.is_none() {
                return Err(MailError::InvalidSettings(
                    "--smtp-password-file needs a user in --smtp-url (smtp://user@host)".into(),
                ));
            }
            if smtp.password.is_some() {
                return Err(MailError::InvalidSettings(
                    "give the SMTP password in --smtp-url or in --smtp-password-file, not both"
                        .into(),
                ));
            }
            smtp.password_file = Some(file.clone());
        }
        smtp.ca_file = self.smtp_ca_file.clone();
        smtp.connect_timeout = Duration::from_secs(self.smtp_connect_timeout);
        smtp.send_timeout = Duration::from_secs(self.smtp_send_timeout);
        Ok(())
    }
}

/// [`MailArgs::retired_variable_warnings`] over any environment: `is_set` says whether a
/// variable is set.
fn retired_variable_warnings(is_set: impl Fn(&str) -> bool) -> Vec<String> {
    RETIRED_VARIABLES
        .iter()
        .filter(|(old, new)| is_set(old) && !is_set(new))
        .map(|(old, new)| format!("{old} is set but no longer read: rename it {new}"))
        .collect()
}

/// Written by hand because `--smtp-url` may carry a password.
impl fmt::Debug for MailArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self
            .smtp_url
            .as_deref()
            .map(|u| SmtpSettings::from_url(u).map_or("<invalid>".to_owned(), |s| s.to_string()));
        f.debug_struct("MailArgs")
            .field("smtp_url", &url)
            .field("smtp_password_file", &self.smtp_password_file)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("smtp_connect_timeout", &self.smtp_connect_timeout)
            .field("smtp_send_timeout", &self.smtp_send_timeout)
            .field("smtp_attempts", &self.smtp_attempts)
            .field("mail_from", &self.mail_from)
            .field("outbox", &self.outbox)
            .field("allowed_recipient_domains", &self.allowed_recipient_domains)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Target;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        mail: MailArgs,
    }

    fn args(argv: &[&str]) -> Result<MailArgs, clap::Error> {
        let argv = std::iter::once("test").chain(argv.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.mail)
    }

    fn settings(argv: &[&str]) -> Result<MailSettings, MailError> {
        args(argv).expect("arguments parse").settings()
    }

    #[test]
    fn without_a_url_mail_goes_to_the_outbox() {
        // A mail variable in the environment changes the defaults under test.
        if std::env::vars_os().any(|(name, _)| {
            let name = name.to_string_lossy();
            name.starts_with("USER_IMPORT_SMTP_")
                || name == "USER_IMPORT_MAIL_FROM"
                || name == "USER_IMPORT_OUTBOX"
        }) {
            return;
        }
        let s = settings(&[]).unwrap();
        assert_eq!(s.target, Target::Outbox(PathBuf::from("./outbox")));
        assert_eq!(s.from.to_string(), DEFAULT_FROM);
        let s = settings(&["--outbox", "/tmp/x", "--mail-from", "Ops <ops@a.test>"]).unwrap();
        assert_eq!(s.target, Target::Outbox(PathBuf::from("/tmp/x")));
        assert_eq!(s.from.email.to_string(), "ops@a.test");
    }

    #[test]
    fn smtp_options_reach_the_settings() {
        let s = settings(&[
            "--smtp-url=smtp://bob@relay:587?tls=required",
            "--smtp-password-file=/run/pw",
            "--smtp-ca-file=/run/ca.pem",
            "--smtp-connect-timeout=3",
            "--smtp-send-timeout=9",
            "--smtp-attempts=2",
        ])
        .unwrap();
        let Target::Smtp(smtp) = &s.target else {
            panic!("not SMTP: {s:?}")
        };
        assert_eq!(smtp.password_file, Some(PathBuf::from("/run/pw")));
        assert_eq!(smtp.ca_file, Some(PathBuf::from("/run/ca.pem")));
        assert_eq!(smtp.connect_timeout, Duration::from_secs(3));
        assert_eq!(smtp.send_timeout, Duration::from_secs(9));
        assert_eq!(s.retry.max_attempts, 2);
    }

    #[test]
    fn contradictions_are_rejected() {
        let err = |argv: &[&str]| settings(argv).unwrap_err().to_string();
        assert!(
            err(&["--smtp-url=smtp://relay", "--smtp-password-file=/p"]).contains("needs a user")
        );
        assert!(
            err(&["--smtp-url=smtp://u:x@relay", "--smtp-password-file=/p"]).contains("not both")
        );
        assert!(err(&["--mail-from=nope"]).contains("--mail-from"));
        assert!(args(&["--smtp-url=smtp://relay", "--outbox=/o"]).is_err());
        assert!(args(&["--smtp-attempts=0"]).is_err());
    }

    #[test]
    fn a_retired_variable_is_named_when_its_new_name_is_not_set() {
        let warnings = |set: &[&str]| retired_variable_warnings(|name| set.contains(&name));
        assert_eq!(warnings(&[]), Vec::<String>::new());
        assert_eq!(
            warnings(&["SMTP_URL", "MAIL_FROM", "USER_IMPORT_MAIL_FROM"]),
            ["SMTP_URL is set but no longer read: rename it USER_IMPORT_SMTP_URL"]
        );
        assert_eq!(warnings(&["USER_IMPORT_SMTP_URL"]), Vec::<String>::new());
    }

    #[test]
    fn allowed_recipient_domains_are_a_comma_separated_list() {
        if std::env::var_os("USER_IMPORT_ALLOWED_RECIPIENT_DOMAINS").is_some() {
            return;
        }
        assert!(args(&[]).unwrap().recipient_domains().allows_any());
        let a = args(&["--allowed-recipient-domains", "Acme.test, example.com"]).unwrap();
        let domains = a.recipient_domains();
        assert_eq!(domains.check("admin@ACME.test"), Ok(()));
        assert_eq!(domains.check("ops@example.com"), Ok(()));
        assert!(domains.check("admin@eu.acme.test").is_err());
        let error = args(&["--allowed-recipient-domains=*.acme.test"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            error.to_string().contains("never its subdomains"),
            "{error}"
        );
        assert!(args(&["--allowed-recipient-domains=admin@acme.test"]).is_err());
        let blank = args(&["--allowed-recipient-domains="]).unwrap();
        assert!(blank.recipient_domains().allows_any());
    }

    #[test]
    fn debug_hides_the_url_password() {
        let a = args(&["--smtp-url=smtps://bob:hunter2@relay"]).unwrap();
        let debug = format!("{a:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("smtps://bob@relay:465"), "{debug}");
    }
}
