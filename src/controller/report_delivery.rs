//! Mailing the error report of an import with problem rows (docs/error-report.md) and recording the
//! delivery in `status.errorReport` and the `ReportDelivered` condition.
//!
//! Each attempt is recorded in the status before the message is sent, so a crash mid-send
//! is visible (and retried: at least once, never silently lost). The `Message-ID` is derived
//! from the import's uid, generation and template digest, so a receiver can tell a resend.
//! A report marked `Sent` for the current generation and template is never sent again.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::runtime::controller::Action;

use super::conditions::{self, REPORT_DELIVERED, Wanted};
use super::context::Context;
use super::error::Result;
use super::events::{self, Note};
use super::reasons::{
    DELIVERY_FAILED, DELIVERY_REJECTED, NO_RECIPIENT, RECIPIENT_NOT_ALLOWED, REPORT_FAILED,
    REPORT_HEADER_SANITIZED, REPORT_SENT, RETRIES_EXHAUSTED, SENDING, SENT,
};
use super::references;
use super::status;
use super::subject::Subject;
use crate::backoff::Backoff;
use crate::mail::{self, MailError, MailSettings, Mailbox, ReportMail};
use crate::policy::{RecipientDomains, RecipientRefused};
use user_import_engine::error_report::ErrorReport;
use user_import_engine::results::ImportResults;
use user_import_resources::{ErrorReportState, Tenant, UserImportStatus};

/// Delivery tries across reconciles before the report stays `Failed`.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// The report and its CSV, as mailed.
pub(crate) struct Prepared {
    pub(crate) report: ImportResults,
    pub(crate) error_report: ErrorReport,
}

/// Whether the status asks for a delivery now: a report is `Pending`, or `Failed` in a way
/// that a retry (or a recipient added to the Tenant since, or a recipient that `domains` now
/// allows) may fix.
pub(crate) fn wanted(
    status: &UserImportStatus,
    tenant: &Tenant,
    domains: &RecipientDomains,
) -> bool {
    let Some(report) = &status.error_report else {
        return false;
    };
    let reason = conditions::find(&status.conditions, REPORT_DELIVERED).map(|c| c.reason.as_str());
    match report.state {
        ErrorReportState::Pending => true,
        ErrorReportState::Failed => match reason {
            Some(NO_RECIPIENT) => recipient(tenant).is_some(),
            // Sent once the Tenant's address, or the operator's list, allows it; a Tenant that
            // names another refused address is recorded again (the status names the address).
            Some(RECIPIENT_NOT_ALLOWED) => recipient(tenant).is_some_and(|(to, _)| {
                domains.check(&to).is_ok() || report.recipient.as_deref() != Some(to.as_str())
            }),
            Some(DELIVERY_FAILED) => report.attempts < MAX_ATTEMPTS,
            _ => false,
        },
        ErrorReportState::NotNeeded | ErrorReportState::Sent => false,
    }
}

fn recipient(tenant: &Tenant) -> Option<(String, String)> {
    let admin = tenant.spec.default_site_administrator.as_ref()?;
    let email = admin.email.trim();
    (!email.is_empty()).then(|| (email.to_string(), admin.name.clone()))
}

/// Tries one delivery. `status` is the current status (with `errorReport` set).
pub(crate) async fn deliver(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant: &Tenant,
    mut status: UserImportStatus,
    prepared: &Prepared,
) -> Result<Action> {
    let generation = subject.import.metadata.generation;
    let Some((to, to_name)) = recipient(tenant) else {
        let message = "the Tenant has no spec.defaultSiteAdministrator.email";
        record(
            &mut status,
            generation,
            ErrorReportState::Failed,
            NO_RECIPIENT,
            message,
        );
        subject.status.write(&status).await?;
        // Counted once recorded: a failed write is retried by the next reconcile, which counts.
        ctx.metrics.count_delivery(NO_RECIPIENT);
        events::publish(
            &ctx.recorder,
            subject.import,
            Note::warning(NO_RECIPIENT, message),
        )
        .await;
        return Ok(Action::await_change());
    };
    if let Err(refused) = ctx.settings.recipient_domains.check(&to) {
        return refuse(
            subject,
            ctx,
            tenant,
            status,
            prepared,
            (to, to_name),
            refused,
        )
        .await;
    }
    let attempts = status.error_report.as_ref().map_or(0, |r| r.attempts);
    // The attempt is on record before anything is sent.
    if let Some(report) = status.error_report.as_mut() {
        report.attempts = attempts + 1;
        report.recipient = Some(to.clone());
        report.file_name = Some(prepared.error_report.file_name.clone());
    }
    record(
        &mut status,
        generation,
        ErrorReportState::Pending,
        SENDING,
        "sending the error report",
    );
    subject.status.write(&status).await?;
    let outcome = send(subject, ctx, tenant, prepared, &to, to_name).await?;
    match outcome {
        Sent::Delivered {
            attempts: delivered_attempts,
            header_fixes,
        } => {
            if let Some(report) = status.error_report.as_mut() {
                report.attempts = attempts + delivered_attempts.max(1);
                report.sent_at = Some(status::rfc3339(Timestamp::now()));
                report.last_error = None;
            }
            ctx.delay_mail(&subject.uid, None);
            // A Tenant value that could not stand in a header as written (a line break in the
            // administrator's name, say) was replaced; the status says so rather than hiding it.
            let message = if header_fixes.is_empty() {
                "the error report was sent".to_string()
            } else {
                let fixes: Vec<String> = header_fixes.iter().map(ToString::to_string).collect();
                format!(
                    "the error report was sent; header values from the Tenant were changed: {}",
                    fixes.join("; ")
                )
            };
            record(
                &mut status,
                generation,
                ErrorReportState::Sent,
                SENT,
                &message,
            );
            subject.status.write(&status).await?;
            ctx.metrics.count_delivery(SENT);
            tracing::info!(import = %subject.name, "error report sent");
            let note = Note::normal(
                REPORT_SENT,
                "the error report was sent to the tenant's default site administrator",
            );
            events::publish(&ctx.recorder, subject.import, note).await;
            if !header_fixes.is_empty() {
                events::publish(
                    &ctx.recorder,
                    subject.import,
                    Note::warning(REPORT_HEADER_SANITIZED, message),
                )
                .await;
            }
            Ok(Action::requeue(ctx.settings.resync))
        }
        Sent::Failed { error, transient } => {
            let tried = attempts + error.attempts().max(1);
            let retry = transient && tried < MAX_ATTEMPTS;
            if let Some(report) = status.error_report.as_mut() {
                report.attempts = tried;
                report.last_error = Some(error.to_string());
            }
            let reason = match (retry, transient) {
                (true, _) => DELIVERY_FAILED,
                (false, true) => RETRIES_EXHAUSTED,
                (false, false) => DELIVERY_REJECTED,
            };
            record(
                &mut status,
                generation,
                ErrorReportState::Failed,
                reason,
                &error.to_string(),
            );
            subject.status.write(&status).await?;
            ctx.metrics.count_delivery(reason);
            tracing::info!(import = %subject.name, attempts = tried, retry, "error report not sent");
            events::publish(
                &ctx.recorder,
                subject.import,
                Note::warning(REPORT_FAILED, error.to_string()),
            )
            .await;
            let wait = retry.then(|| backoff(ctx.settings.mail_backoff, tried));
            ctx.delay_mail(&subject.uid, wait);
            Ok(wait.map_or_else(Action::await_change, Action::requeue))
        }
    }
}

/// The Tenant's administrator is outside the operator's `--allowed-recipient-domains`: the
/// report is not mailed, and not retried (see [`wanted`]). An outbox (the operator's, when the
/// Tenant names no relay of its own) keeps it: nothing leaves the pod. The status and a
/// Warning event say why.
async fn refuse(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant: &Tenant,
    mut status: UserImportStatus,
    prepared: &Prepared,
    (to, to_name): (String, String),
    refused: RecipientRefused,
) -> Result<Action> {
    let generation = subject.import.metadata.generation;
    let to_outbox = tenant.spec.smtp_secret_ref.is_none()
        && ctx
            .settings
            .mail
            .as_ref()
            .is_some_and(|settings| matches!(settings.target, mail::Target::Outbox(_)));
    let kept = if to_outbox {
        match send(subject, ctx, tenant, prepared, &to, to_name).await? {
            Sent::Delivered { .. } => "; it was written to the outbox only".to_string(),
            Sent::Failed { error, .. } => format!("; the outbox could not keep it either: {error}"),
        }
    } else {
        String::new()
    };
    let message = format!(
        "the error report was not mailed to the Tenant's spec.defaultSiteAdministrator.email: \
         {refused}{kept}"
    );
    if let Some(report) = status.error_report.as_mut() {
        report.recipient = Some(to);
        report.file_name = Some(prepared.error_report.file_name.clone());
        report.last_error = Some(message.clone());
    }
    record(
        &mut status,
        generation,
        ErrorReportState::Failed,
        RECIPIENT_NOT_ALLOWED,
        &message,
    );
    subject.status.write(&status).await?;
    ctx.metrics.count_delivery(RECIPIENT_NOT_ALLOWED);
    tracing::info!(import = %subject.name, "error report not mailed: the recipient's domain is not allowed");
    events::publish(
        &ctx.recorder,
        subject.import,
        Note::warning(RECIPIENT_NOT_ALLOWED, message),
    )
    .await;
    Ok(Action::await_change())
}

/// How one attempt to send the report ended.
enum Sent {
    /// The relay (or the outbox) took it, after `attempts` tries; `header_fixes` lists the
    /// Tenant values that were changed to stand in a header.
    Delivered {
        attempts: u32,
        header_fixes: Vec<mail::HeaderFix>,
    },
    /// It was not sent; `transient` says whether a later attempt may succeed (a missing Secret
    /// may be created, a relay may come back; a message that cannot be built will not change).
    Failed { error: MailError, transient: bool },
}

/// Builds and sends the message.
async fn send(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant: &Tenant,
    prepared: &Prepared,
    to: &str,
    to_name: String,
) -> Result<Sent> {
    let settings = match settings_for(ctx, &subject.namespace, tenant).await? {
        Relay::Ready(settings) => settings,
        // A missing Secret or relay setting may be fixed without touching the import.
        Relay::Unusable(error) => {
            return Ok(Sent::Failed {
                error,
                transient: true,
            });
        }
    };
    let mail = ReportMail {
        to: to.to_string(),
        to_name: (!to_name.is_empty()).then_some(to_name),
        source: format!("UserImport {}/{}", subject.namespace, subject.name),
        identity: format!("{}/{:?}", subject.uid, subject.import.metadata.generation),
        report: &prepared.report,
        file_name: prepared.error_report.file_name.clone(),
        csv: prepared.error_report.csv.clone(),
    };
    let header_fixes = mail::header_fixes(&mail, &settings.from);
    let message = match mail::build_message(&mail, &settings.from) {
        Ok(message) => message,
        Err(error) => {
            return Ok(Sent::Failed {
                error,
                transient: false,
            });
        }
    };
    Ok(match mail::send(&settings, message).await {
        Ok(delivery) => Sent::Delivered {
            attempts: delivery.attempts,
            header_fixes,
        },
        Err(error) => {
            let transient = error.is_transient();
            Sent::Failed { error, transient }
        }
    })
}

/// The mail settings a report is sent with, or why there are none usable.
enum Relay {
    /// Boxed: the settings are large beside the error, and a `Relay` is moved around.
    Ready(Box<MailSettings>),
    /// No settings, a missing Secret, a bad value in it: a delivery fails (transiently: the
    /// settings may be fixed without touching the import).
    Unusable(MailError),
}

impl From<std::result::Result<MailSettings, MailError>> for Relay {
    fn from(result: std::result::Result<MailSettings, MailError>) -> Self {
        match result {
            Ok(settings) => Relay::Ready(Box::new(settings)),
            Err(error) => Relay::Unusable(error),
        }
    }
}

/// The tenant's SMTP Secret when it names one, else the operator-wide settings.
async fn settings_for(ctx: &Context, namespace: &str, tenant: &Tenant) -> Result<Relay> {
    let operator_wide = ctx.settings.mail.clone();
    let Some(reference) = &tenant.spec.smtp_secret_ref else {
        let settings = operator_wide.ok_or_else(|| {
            MailError::InvalidSettings(
                "no SMTP settings: neither the operator's nor the Tenant's".into(),
            )
        });
        return Ok(settings.into());
    };
    // The reconcile stalls on a bad name before it gets here; checked again at the request.
    if let Err(problem) = references::check("spec.smtpSecretRef.name", &reference.name) {
        return Ok(Relay::Unusable(MailError::InvalidSettings(problem.message)));
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        let message = format!("the Tenant's SMTP Secret {:?} is not found", reference.name);
        return Ok(Relay::Unusable(MailError::InvalidSettings(message)));
    };
    Ok(tenant_settings(&secret, operator_wide.as_ref()).into())
}

/// Settings from a Secret with keys `url`, optional `from` and `password`.
fn tenant_settings(
    secret: &Secret,
    operator_wide: Option<&MailSettings>,
) -> std::result::Result<MailSettings, MailError> {
    let value = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok())
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
    };
    let url = value("url").ok_or_else(|| {
        MailError::InvalidSettings("the Tenant's SMTP Secret has no key \"url\"".into())
    })?;
    let from: Mailbox =
        match value("from") {
            Some(from) => from.parse().map_err(|e: lettre::address::AddressError| {
                MailError::InvalidAddress {
                    role: "sender (the Tenant's SMTP Secret)",
                    address: from.clone(),
                    reason: e.to_string(),
                }
            })?,
            None => operator_wide
                .map(|settings| settings.from.clone())
                .unwrap_or_else(|| mail::DEFAULT_FROM.parse().expect("a valid default sender")),
        };
    let mut settings = MailSettings::from_url(&url, from)?;
    if let Some(retry) = operator_wide.map(|settings| settings.retry) {
        settings = settings.with_retry(retry);
    }
    if let (Some(password), Some(smtp)) = (value("password"), settings.smtp_mut()) {
        smtp.password = Some(mail::Secret::new(password));
    }
    Ok(settings)
}

/// Sets `errorReport.state` and the `ReportDelivered` condition.
fn record(
    status: &mut UserImportStatus,
    generation: Option<i64>,
    state: ErrorReportState,
    reason: &str,
    message: &str,
) {
    if let Some(report) = status.error_report.as_mut() {
        report.state = state;
    }
    let delivered = state == ErrorReportState::Sent;
    let wanted = [Wanted::new(REPORT_DELIVERED, delivered, reason, message)];
    status.conditions =
        conditions::merge(&status.conditions, &wanted, generation, Timestamp::now());
}

/// `base`, doubled per attempt after the first, at most an hour.
fn backoff(base: Duration, attempts: u32) -> Duration {
    Backoff::new(base, Duration::from_secs(3600)).delay(attempts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use user_import_resources::{ErrorReportStatus, SiteAdministrator, TenantSpec};

    /// [`super::wanted`] without a list of recipient domains.
    fn wanted(status: &UserImportStatus, tenant: &Tenant) -> bool {
        super::wanted(status, tenant, &RecipientDomains::default())
    }

    fn tenant(email: &str) -> Tenant {
        Tenant::new(
            "acme",
            TenantSpec {
                display_name: "Acme".into(),
                default_site_administrator: Some(SiteAdministrator {
                    name: "A".into(),
                    email: email.into(),
                }),
                ..Default::default()
            },
        )
    }

    fn status(state: ErrorReportState, attempts: u32, reason: &str) -> UserImportStatus {
        let mut status = UserImportStatus {
            error_report: Some(ErrorReportStatus {
                state,
                attempts,
                ..Default::default()
            }),
            ..Default::default()
        };
        record(&mut status, Some(1), state, reason, "");
        status
    }

    #[test]
    fn pending_is_sent_sent_is_not() {
        assert!(wanted(
            &status(ErrorReportState::Pending, 0, SENDING),
            &tenant("a@b.test")
        ));
        assert!(!wanted(
            &status(ErrorReportState::Sent, 1, SENT),
            &tenant("a@b.test")
        ));
        assert!(!wanted(&UserImportStatus::default(), &tenant("a@b.test")));
    }

    #[test]
    fn failures_are_retried_within_the_budget_and_no_recipient_waits_for_one() {
        assert!(wanted(
            &status(ErrorReportState::Failed, 1, DELIVERY_FAILED),
            &tenant("a@b.test")
        ));
        assert!(!wanted(
            &status(ErrorReportState::Failed, MAX_ATTEMPTS, DELIVERY_FAILED),
            &tenant("a@b.test")
        ));
        assert!(!wanted(
            &status(ErrorReportState::Failed, 1, DELIVERY_REJECTED),
            &tenant("a@b.test")
        ));
        assert!(!wanted(
            &status(ErrorReportState::Failed, 5, RETRIES_EXHAUSTED),
            &tenant("a@b.test")
        ));
        assert!(!wanted(
            &status(ErrorReportState::Failed, 0, NO_RECIPIENT),
            &tenant(" ")
        ));
        assert!(wanted(
            &status(ErrorReportState::Failed, 0, NO_RECIPIENT),
            &tenant("a@b.test")
        ));
    }

    #[test]
    fn a_refused_recipient_waits_for_an_allowed_one_or_another_address() {
        let domains = RecipientDomains::new(["acme.test".parse().unwrap()]);
        let mut refused = status(ErrorReportState::Failed, 0, RECIPIENT_NOT_ALLOWED);
        refused.error_report.as_mut().unwrap().recipient = Some("admin@evil.test".into());
        let wanted_for = |email: &str, domains: &RecipientDomains| {
            super::wanted(&refused, &tenant(email), domains)
        };
        // Never retried as it stands.
        assert!(!wanted_for("admin@evil.test", &domains));
        // A Tenant fixed to an allowed address, or a list that now allows the domain.
        assert!(wanted_for("admin@acme.test", &domains));
        assert!(wanted_for("admin@evil.test", &RecipientDomains::default()));
        // Another refused address: recorded again, with that address.
        assert!(wanted_for("root@evil.test", &domains));
        assert!(!wanted_for(" ", &domains));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), base);
        assert_eq!(backoff(base, 3), base * 4);
        assert_eq!(backoff(base, 30), Duration::from_secs(3600));
    }
}
