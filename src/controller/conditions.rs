//! kstatus-style conditions (kubernetes-sigs/cli-utils, pkg/kstatus).
//!
//! `Reconciling` and `Stalled` are "abnormal-true": True only while the import is worked on, or
//! when it cannot progress. `lastTransitionTime` moves only when a condition's status changes,
//! so tools that watch it see real transitions, not every reconcile.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const TEMPLATE_VALID: &str = "TemplateValid";
pub const REPORT_DELIVERED: &str = "ReportDelivered";

/// Reason of `Stalled=True`: the reconcile panicked (a bug, or input nobody foresaw). Retried
/// with back-off, and at once when the UserImport's spec changes.
pub const RECONCILE_PANICKED: &str = "ReconcilePanicked";
/// Reason of `Stalled=True`: a name in the UserImport's or its Tenant's spec is not a valid
/// object name (the message names the field).
pub const INVALID_REFERENCE: &str = "InvalidReference";

/// Reason of `Stalled=True`: the ConfigMap, Secret or Flux source that `spec.template` names
/// (or the Secret of a URL's credentials) does not exist.
pub const TEMPLATE_SOURCE_NOT_FOUND: &str = "TemplateSourceNotFound";
/// Reason of `Stalled=True`: the ConfigMap or Secret has no such key.
pub const TEMPLATE_KEY_NOT_FOUND: &str = "TemplateKeyNotFound";
/// Reason of `Stalled=True`: `spec.template` sets no source or several, `path` without
/// `sourceRef`, or a malformed `url.digest`, or a Secret with half the basic-auth pair.
pub const INVALID_TEMPLATE_REF: &str = "InvalidTemplateRef";
/// Reason of `Stalled=True`: the Flux source has no artifact yet (`status.artifact`); the
/// import starts when it has one (the source is watched).
pub const ARTIFACT_NOT_READY: &str = "ArtifactNotReady";
/// Reason of `Stalled=True`: the artifact is no gzip-compressed tarball.
pub const ARTIFACT_UNREADABLE: &str = "ArtifactUnreadable";
/// Reason of `Stalled=True`: `spec.template.path` is not a file of the source's artifact.
pub const TEMPLATE_PATH_NOT_FOUND: &str = "TemplatePathNotFound";
/// Reason of `Stalled=True`: `spec.template.path` leaves the artifact (`..`, absolute).
pub const INVALID_TEMPLATE_PATH: &str = "InvalidTemplatePath";
/// Reason of `Stalled=True`: the download's digest is not the one required (a URL's
/// `digest`, a Flux artifact's `status.artifact.digest`); the message names both. Nothing was
/// written.
pub const TEMPLATE_DIGEST_MISMATCH: &str = "TemplateDigestMismatch";
/// Reason of `Reconciling=True`: the template could not be downloaded (unreachable, an HTTP
/// error, a broken connection); retried with back-off.
pub const TEMPLATE_FETCH_FAILED: &str = "TemplateFetchFailed";
/// Reason of `Stalled=True`: a `sourceRef` names a Flux source, and the operator runs with
/// `--flux-sources=false` (the chart's default: `fluxSources.enabled`).
pub const FLUX_SOURCES_DISABLED: &str = "FluxSourcesDisabled";
/// Reason of `Reconciling=True`: an API error interrupted the import; retried with back-off.
pub const RETRYING_AFTER_ERROR: &str = "RetryingAfterError";

/// One condition to set: type, status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Wanted {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Wanted {
            type_,
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The previous conditions with `wanted` set on them. Conditions not named in `wanted` are
/// kept as they were (for example `ReportDelivered` while the import itself is re-run).
pub fn merge(
    previous: &[Condition],
    wanted: &[Wanted],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = previous
        .iter()
        .filter(|old| !wanted.iter().any(|want| want.type_ == old.type_))
        .cloned()
        .collect();
    conditions.extend(wanted.iter().map(|want| {
        let status = if want.status { "True" } else { "False" };
        let old = previous.iter().find(|old| old.type_ == want.type_);
        let last_transition_time = match old {
            Some(old) if old.status == status => old.last_transition_time.clone(),
            _ => Time(now),
        };
        Condition {
            type_: want.type_.to_string(),
            status: status.to_string(),
            reason: want.reason.clone(),
            message: want.message.clone(),
            observed_generation: generation,
            last_transition_time,
        }
    }));
    // A stable order keeps status patches minimal and `kubectl describe` readable.
    conditions.sort_by_key(|condition| order(&condition.type_));
    conditions
}

fn order(type_: &str) -> usize {
    [
        READY,
        RECONCILING,
        STALLED,
        TEMPLATE_VALID,
        REPORT_DELIVERED,
    ]
    .iter()
    .position(|known| *known == type_)
    .unwrap_or(usize::MAX)
}

/// The condition of `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|condition| condition.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = merge(
            &[],
            &[Wanted::new(READY, false, "Importing", "")],
            Some(1),
            at(10),
        );
        let same = merge(
            &first,
            &[Wanted::new(READY, false, "Other", "x")],
            Some(2),
            at(20),
        );
        assert_eq!(same[0].last_transition_time, Time(at(10)));
        assert_eq!(same[0].reason, "Other");
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[Wanted::new(READY, true, "Done", "")],
            Some(2),
            at(30),
        );
        assert_eq!(flipped[0].last_transition_time, Time(at(30)));
        assert_eq!(flipped[0].status, "True");
    }

    #[test]
    fn unnamed_conditions_are_kept_and_order_is_stable() {
        let delivered = merge(
            &[],
            &[Wanted::new(REPORT_DELIVERED, true, "Sent", "")],
            None,
            at(1),
        );
        let all = merge(
            &delivered,
            &[
                Wanted::new(STALLED, false, "A", ""),
                Wanted::new(READY, true, "B", ""),
            ],
            None,
            at(2),
        );
        let types: Vec<&str> = all.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, STALLED, REPORT_DELIVERED]);
    }
}
