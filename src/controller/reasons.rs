//! The controller's vocabulary: every condition type, and every reason it writes in a condition
//! or an event. `docs/status.md` lists the same names; a test holds the two together.
//!
//! Reasons are PascalCase (an Event's reason is at most 128 characters). A reason of a
//! `Stalled=True` condition is also the reason of the Warning event that announces it.

// Condition types (kstatus-style; see `conditions`).

/// Type: True when the import has finished for the current generation.
pub(crate) const READY: &str = "Ready";
/// Type: abnormal-true, True only while the import is worked on.
pub(crate) const RECONCILING: &str = "Reconciling";
/// Type: abnormal-true, True only when the import cannot progress.
pub(crate) const STALLED: &str = "Stalled";
/// Type: whether the template's header and limits passed.
pub(crate) const TEMPLATE_VALID: &str = "TemplateValid";
/// Type: whether the error report reached the relay.
pub(crate) const REPORT_DELIVERED: &str = "ReportDelivered";

/// Every condition type, in the order the status lists them.
pub(crate) const CONDITION_TYPES: &[&str] = &[
    READY,
    RECONCILING,
    STALLED,
    TEMPLATE_VALID,
    REPORT_DELIVERED,
];

// Reasons of the import's conditions.

/// Reason of `Ready=False`, `Reconciling=True`: the import is running.
pub(crate) const IMPORTING: &str = "Importing";
/// Reason of `Ready=True` (and of the Normal event): finished for the current generation.
pub(crate) const IMPORTED: &str = "Imported";
/// Reason of `TemplateValid=True`: the template's header and limits passed.
pub(crate) const TEMPLATE_READ: &str = "TemplateRead";
/// Reason of `Stalled=True`, `TemplateValid=False` (and of the Warning event): the template was
/// rejected whole; nothing was written.
pub(crate) const TEMPLATE_REJECTED: &str = "TemplateRejected";
/// Reason of `Stalled=True`: `spec.tenantRef` names no Tenant in the namespace.
pub(crate) const TENANT_NOT_FOUND: &str = "TenantNotFound";
/// Reason of `Stalled=True`: the reconcile panicked (a bug, or input nobody foresaw). Retried
/// with back-off, and at once when the UserImport's spec changes.
pub(crate) const RECONCILE_PANICKED: &str = "ReconcilePanicked";
/// Reason of `Stalled=True`: a name in the UserImport's or its Tenant's spec is not a valid
/// object name (the message names the field).
pub(crate) const INVALID_REFERENCE: &str = "InvalidReference";
/// Reason of `Stalled=True`: the ConfigMap, Secret or Flux source that `spec.template` names
/// (or the Secret of a URL's credentials) does not exist.
pub(crate) const TEMPLATE_SOURCE_NOT_FOUND: &str = "TemplateSourceNotFound";
/// Reason of `Stalled=True`: the ConfigMap or Secret has no such key.
pub(crate) const TEMPLATE_KEY_NOT_FOUND: &str = "TemplateKeyNotFound";
/// Reason of `Stalled=True`: `spec.template` sets no source or several, `path` without
/// `sourceRef`, or a malformed `url.digest`, or a Secret with half the basic-auth pair.
pub(crate) const INVALID_TEMPLATE_REF: &str = "InvalidTemplateRef";
/// Reason of `Stalled=True`: the Flux source has no artifact yet (`status.artifact`); the
/// import starts when it has one (the source is watched).
pub(crate) const ARTIFACT_NOT_READY: &str = "ArtifactNotReady";
/// Reason of `Stalled=True`: the artifact is no gzip-compressed tarball.
pub(crate) const ARTIFACT_UNREADABLE: &str = "ArtifactUnreadable";
/// Reason of `Stalled=True`: `spec.template.path` is not a file of the source's artifact.
pub(crate) const TEMPLATE_PATH_NOT_FOUND: &str = "TemplatePathNotFound";
/// Reason of `Stalled=True`: `spec.template.path` leaves the artifact (`..`, absolute).
pub(crate) const INVALID_TEMPLATE_PATH: &str = "InvalidTemplatePath";
/// Reason of `Stalled=True`: the download's digest is not the one required (a URL's
/// `digest`, a Flux artifact's `status.artifact.digest`); the message names both. Nothing was
/// written.
pub(crate) const TEMPLATE_DIGEST_MISMATCH: &str = "TemplateDigestMismatch";
/// Reason of `Reconciling=True` (and of the Warning event): the template could not be
/// downloaded (unreachable, an HTTP error, a broken connection); retried with back-off.
pub(crate) const TEMPLATE_FETCH_FAILED: &str = "TemplateFetchFailed";
/// Reason of `Stalled=True`: a `sourceRef` names a Flux source, and the operator runs with
/// `--flux-sources=false` (the chart's default: `fluxSources.enabled`).
pub(crate) const FLUX_SOURCES_DISABLED: &str = "FluxSourcesDisabled";
/// Reason of `Stalled=True` (and of the Warning event): the host of `spec.template.url`, or an
/// address it resolves to, is not allowed by the operator's `--allowed-template-hosts` (or is
/// refused by default: loopback, link-local, the API server). Nothing was requested.
pub(crate) const TEMPLATE_HOST_NOT_ALLOWED: &str = "TemplateHostNotAllowed";
/// Reason of `Reconciling=True`: an API error interrupted the import; retried with back-off.
pub(crate) const RETRYING_AFTER_ERROR: &str = "RetryingAfterError";

// Reasons of `ReportDelivered`.

/// Reason of `ReportDelivered=False`: the error report is being sent.
pub(crate) const SENDING: &str = "Sending";
/// Reason of `ReportDelivered=True`: the error report reached the relay (or the outbox).
pub(crate) const SENT: &str = "Sent";
/// Reason of `ReportDelivered=False`: a failure that a later try may fix; retried with back-off.
pub(crate) const DELIVERY_FAILED: &str = "DeliveryFailed";
/// Reason of `ReportDelivered=False`: the relay refused the report for good (5xx).
pub(crate) const DELIVERY_REJECTED: &str = "DeliveryRejected";
/// Reason of `ReportDelivered=False`: the transient failures outlasted the tries.
pub(crate) const RETRIES_EXHAUSTED: &str = "RetriesExhausted";
/// Reason of `ReportDelivered=False` (and of the Warning event): the Tenant has no
/// `defaultSiteAdministrator.email`.
pub(crate) const NO_RECIPIENT: &str = "NoRecipient";
/// Reason of `ReportDelivered=False` (and of the Warning event): the domain of the Tenant's
/// `defaultSiteAdministrator.email` is not in the operator's `--allowed-recipient-domains`.
/// The report is not mailed (an outbox keeps it), and not retried: it goes out once the
/// Tenant's address, or the operator's list, allows it.
pub(crate) const RECIPIENT_NOT_ALLOWED: &str = "RecipientNotAllowed";

// Reasons of events only.

/// Warning event: rows of the template are problem rows (the message has their numbers).
pub(crate) const PROBLEM_ROWS: &str = "ProblemRows";
/// Warning event: a reconcile failed with an error; retried with back-off.
pub(crate) const RECONCILE_FAILED: &str = "ReconcileFailed";
/// Normal event: the error report was sent.
pub(crate) const REPORT_SENT: &str = "ReportSent";
/// Warning event: the error report could not be sent (the message says why).
pub(crate) const REPORT_FAILED: &str = "ReportFailed";
/// Warning event: a Tenant value was changed to stand in a mail header (a line break replaced).
pub(crate) const REPORT_HEADER_SANITIZED: &str = "ReportHeaderSanitized";

/// Every reason the controller writes in a condition.
#[cfg(test)]
pub(crate) const CONDITION_REASONS: &[&str] = &[
    IMPORTING,
    IMPORTED,
    TEMPLATE_READ,
    TEMPLATE_REJECTED,
    TENANT_NOT_FOUND,
    RECONCILE_PANICKED,
    INVALID_REFERENCE,
    TEMPLATE_SOURCE_NOT_FOUND,
    TEMPLATE_KEY_NOT_FOUND,
    INVALID_TEMPLATE_REF,
    ARTIFACT_NOT_READY,
    ARTIFACT_UNREADABLE,
    TEMPLATE_PATH_NOT_FOUND,
    INVALID_TEMPLATE_PATH,
    TEMPLATE_DIGEST_MISMATCH,
    TEMPLATE_FETCH_FAILED,
    FLUX_SOURCES_DISABLED,
    TEMPLATE_HOST_NOT_ALLOWED,
    RETRYING_AFTER_ERROR,
    SENDING,
    SENT,
    DELIVERY_FAILED,
    DELIVERY_REJECTED,
    RETRIES_EXHAUSTED,
    NO_RECIPIENT,
    RECIPIENT_NOT_ALLOWED,
];

/// Every reason the controller gives an event. A stalled import's event carries the reason of
/// its `Stalled` condition.
#[cfg(test)]
pub(crate) const EVENT_REASONS: &[&str] = &[
    IMPORTED,
    PROBLEM_ROWS,
    TEMPLATE_REJECTED,
    TEMPLATE_FETCH_FAILED,
    RECONCILE_FAILED,
    RECONCILE_PANICKED,
    REPORT_SENT,
    REPORT_FAILED,
    REPORT_HEADER_SANITIZED,
    NO_RECIPIENT,
    RECIPIENT_NOT_ALLOWED,
    TENANT_NOT_FOUND,
    INVALID_REFERENCE,
    TEMPLATE_SOURCE_NOT_FOUND,
    TEMPLATE_KEY_NOT_FOUND,
    INVALID_TEMPLATE_REF,
    ARTIFACT_NOT_READY,
    ARTIFACT_UNREADABLE,
    TEMPLATE_PATH_NOT_FOUND,
    INVALID_TEMPLATE_PATH,
    TEMPLATE_DIGEST_MISMATCH,
    FLUX_SOURCES_DISABLED,
    TEMPLATE_HOST_NOT_ALLOWED,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const STATUS_DOC: &str = include_str!("../../docs/status.md");

    /// The names in backticks in `cell`.
    fn names(cell: &str) -> impl Iterator<Item = &str> {
        cell.split('`').skip(1).step_by(2)
    }

    /// The rows of the table whose header row starts with `header`, as cells.
    fn table<'a>(doc: &'a str, header: &str) -> Vec<Vec<&'a str>> {
        let mut lines = doc.lines().skip_while(|line| !line.starts_with(header));
        assert!(
            lines.next().is_some(),
            "no table {header:?} in docs/status.md"
        );
        lines
            .skip(1) // the |---| line
            .take_while(|line| line.starts_with('|'))
            .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
            .collect()
    }

    fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        names.into_iter().collect()
    }

    /// The doc's tables list exactly the names the controller writes: a reason added to the
    /// code without a row, or a row left for a reason the code no longer has, fails here.
    fn check(doc: &str) {
        let conditions = table(doc, "| condition | status | reason |");
        let types = set(conditions.iter().flat_map(|row| names(row[0])));
        assert_eq!(
            types,
            set(CONDITION_TYPES.iter().copied()),
            "condition types"
        );
        let reasons = set(conditions.iter().flat_map(|row| names(row[2])));
        assert_eq!(
            reasons,
            set(CONDITION_REASONS.iter().copied()),
            "condition reasons"
        );
        let events = table(doc, "| event | type | meaning |");
        let events = set(events.iter().flat_map(|row| names(row[0])));
        assert_eq!(events, set(EVENT_REASONS.iter().copied()), "event reasons");
    }

    #[test]
    fn docs_status_lists_exactly_the_reasons() {
        check(STATUS_DOC);
    }

    #[test]
    #[should_panic(expected = "condition reasons")]
    fn a_reason_missing_from_the_doc_fails() {
        let row = "| `ReportDelivered` | False | `NoRecipient` |";
        let doc = STATUS_DOC.replace(row, "| `ReportDelivered` | False | NoRecipient |");
        assert_ne!(doc, STATUS_DOC);
        check(&doc);
    }

    #[test]
    #[should_panic(expected = "event reasons")]
    fn a_doc_row_for_an_unknown_reason_fails() {
        let row = "| `ProblemRows` | Warning |";
        let doc = STATUS_DOC.replace(row, "| `ProblemRows`, `NoLongerWritten` | Warning |");
        assert_ne!(doc, STATUS_DOC);
        check(&doc);
    }
}
