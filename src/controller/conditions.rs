//! kstatus-style conditions (kubernetes-sigs/cli-utils, pkg/kstatus).
//!
//! `Reconciling` and `Stalled` are "abnormal-true": True only while the import is worked on, or
//! when it cannot progress. `lastTransitionTime` moves only when a condition's status changes,
//! so tools that watch it see real transitions, not every reconcile.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

// The names live in the vocabulary; re-exported so that `conditions::READY` keeps working.
pub(crate) use super::reasons::{
    ARTIFACT_NOT_READY, ARTIFACT_UNREADABLE, FLUX_SOURCES_DISABLED, INVALID_REFERENCE,
    INVALID_TEMPLATE_PATH, INVALID_TEMPLATE_REF, READY, RECONCILE_PANICKED, RECONCILING,
    REPORT_DELIVERED, RETRYING_AFTER_ERROR, STALLED, TEMPLATE_DIGEST_MISMATCH,
    TEMPLATE_FETCH_FAILED, TEMPLATE_KEY_NOT_FOUND, TEMPLATE_PATH_NOT_FOUND,
    TEMPLATE_SOURCE_NOT_FOUND, TEMPLATE_VALID,
};

/// One condition to set: type, status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) type_: &'static str,
    pub(crate) status: bool,
    pub(crate) reason: String,
    pub(crate) message: String,
}

impl Wanted {
    pub(crate) fn new(
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
pub(crate) fn merge(
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
    super::reasons::CONDITION_TYPES
        .iter()
        .position(|known| *known == type_)
        .unwrap_or(usize::MAX)
}

/// The condition of `type_`, if set.
pub(crate) fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
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
