//! The UserImport status: builders for each phase, and the one way it is written.
//!
//! Each builder returns the whole status. It is written as a JSON merge patch of the status
//! subresource in which every field the builder left out is an explicit `null`, so a field of an
//! earlier run (old counts, an old error report) never survives into a new one.

use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::conditions::{
    self, READY, RECONCILE_PANICKED, RECONCILING, STALLED, TEMPLATE_VALID, Wanted,
};
use super::error::Result;
use crate::core::report::ImportReport;
use crate::resources::{
    ErrorReportState, ErrorReportStatus, ImportPhase, UserImport, UserImportStatus,
};

/// Entries kept in each of the three lists; `counts` keeps the full numbers.
pub const LIST_CAP: usize = 100;

/// Every field of `UserImportStatus` as serialised: the ones absent from a patch are nulled.
const FIELDS: [&str; 15] = [
    "phase",
    "observedGeneration",
    "templateDigest",
    "templateEncoding",
    "counts",
    "new",
    "update",
    "problem",
    "truncated",
    "highlightMessage",
    "ignoredColumns",
    "errorReport",
    "startedAt",
    "completedAt",
    "conditions",
];

/// What a builder needs to know about the object it writes for.
pub struct Basis<'a> {
    pub previous: Option<&'a UserImportStatus>,
    pub generation: Option<i64>,
    pub now: Timestamp,
}

impl Basis<'_> {
    fn conditions(
        &self,
        wanted: &[Wanted],
    ) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        let previous = self
            .previous
            .map(|s| s.conditions.as_slice())
            .unwrap_or(&[]);
        conditions::merge(previous, wanted, self.generation, self.now)
    }

    fn previous_started_at(&self) -> Option<String> {
        self.previous.and_then(|s| s.started_at.clone())
    }
}

/// RFC 3339 in whole seconds, UTC (`2026-11-24T10:00:00Z`).
pub fn rfc3339(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The status written as soon as work on a generation or template starts.
pub fn running(basis: &Basis) -> UserImportStatus {
    UserImportStatus {
        phase: Some(ImportPhase::Running),
        observed_generation: basis.generation,
        started_at: Some(rfc3339(basis.now)),
        conditions: basis.conditions(&[
            Wanted::new(READY, false, "Importing", "the import is running"),
            Wanted::new(RECONCILING, true, "Importing", "the import is running"),
            Wanted::new(STALLED, false, "Importing", ""),
        ]),
        ..Default::default()
    }
}

/// The import cannot start: a missing Tenant, template source or key, or a bad reference.
pub fn stalled(basis: &Basis, reason: &str, message: &str) -> UserImportStatus {
    UserImportStatus {
        phase: Some(ImportPhase::Pending),
        observed_generation: basis.generation,
        conditions: basis.conditions(&[
            Wanted::new(READY, false, reason, message),
            Wanted::new(RECONCILING, false, reason, ""),
            Wanted::new(STALLED, true, reason, message),
        ]),
        ..Default::default()
    }
}

/// The template was rejected whole: nothing was written.
pub fn rejected(basis: &Basis, digest: &str, message: &str) -> UserImportStatus {
    const REASON: &str = "TemplateRejected";
    UserImportStatus {
        phase: Some(ImportPhase::Failed),
        observed_generation: basis.generation,
        template_digest: Some(digest.to_string()),
        started_at: basis.previous_started_at(),
        completed_at: Some(rfc3339(basis.now)),
        conditions: basis.conditions(&[
            Wanted::new(READY, false, REASON, message),
            Wanted::new(RECONCILING, false, REASON, ""),
            Wanted::new(STALLED, true, REASON, message),
            Wanted::new(TEMPLATE_VALID, false, REASON, message),
        ]),
        ..Default::default()
    }
}

/// A controller error (the API server failing); the reconcile is retried.
pub fn failed(basis: &Basis, message: &str) -> UserImportStatus {
    const REASON: &str = "RetryingAfterError";
    let mut status = basis.previous.cloned().unwrap_or_default();
    status.phase = Some(ImportPhase::Failed);
    status.observed_generation = basis.generation;
    status.conditions = basis.conditions(&[
        Wanted::new(READY, false, REASON, message),
        // Still being worked on: the controller retries by itself.
        Wanted::new(RECONCILING, true, REASON, message),
        Wanted::new(STALLED, false, REASON, ""),
    ]);
    status
}

/// The reconcile panicked. A failure of this import, which cannot progress by itself: the
/// controller retries it after a back-off, and at once when the spec changes. What the previous
/// status said of this generation (counts, a planned result, the report) is kept.
pub fn panicked(basis: &Basis, panic: &str) -> UserImportStatus {
    let message = format!("the reconcile panicked: {panic}");
    let mut status = basis.previous.cloned().unwrap_or_default();
    status.phase = Some(ImportPhase::Failed);
    status.observed_generation = basis.generation;
    status.conditions = basis.conditions(&[
        Wanted::new(READY, false, RECONCILE_PANICKED, &message),
        Wanted::new(RECONCILING, false, RECONCILE_PANICKED, ""),
        Wanted::new(STALLED, true, RECONCILE_PANICKED, &message),
    ]);
    status
}

/// The import finished for this generation and template, problem rows or not.
pub fn completed(
    basis: &Basis,
    report: &ImportReport,
    error_report: Option<ErrorReportStatus>,
) -> UserImportStatus {
    let phase = if report.counts.problem > 0 {
        ImportPhase::SucceededWithProblems
    } else {
        ImportPhase::Succeeded
    };
    let message = format!(
        "new {}, update {}, unchanged {}, problem {}",
        report.counts.new, report.counts.update, report.counts.unchanged, report.counts.problem
    );
    let truncated = [report.new.len(), report.update.len(), report.problem.len()]
        .iter()
        .any(|len| *len > LIST_CAP);
    UserImportStatus {
        phase: Some(phase),
        observed_generation: basis.generation,
        template_digest: Some(report.template.digest.clone()),
        template_encoding: Some(report.template.encoding.clone()),
        counts: Some(report.counts),
        new: capped(&report.new),
        update: capped(&report.update),
        problem: capped(&report.problem),
        truncated,
        highlight_message: report.highlight_message.clone(),
        ignored_columns: report.template.ignored_columns.clone(),
        error_report: Some(error_report.unwrap_or_default()),
        started_at: basis.previous_started_at(),
        completed_at: Some(rfc3339(basis.now)),
        conditions: basis.conditions(&[
            Wanted::new(READY, true, "Imported", &message),
            Wanted::new(RECONCILING, false, "Imported", ""),
            Wanted::new(STALLED, false, "Imported", ""),
            Wanted::new(TEMPLATE_VALID, true, "TemplateRead", ""),
        ]),
    }
}

/// Appends `note` to the message of the `Ready` condition.
pub fn note_on_ready(status: &mut UserImportStatus, note: &str) {
    if let Some(ready) = status.conditions.iter_mut().find(|c| c.type_ == READY) {
        ready.message = format!("{}; {note}", ready.message);
    }
}

/// The error report's status before any delivery: `Pending` when there is one to send.
pub fn error_report_pending(file_name: &str, rows: usize) -> ErrorReportStatus {
    ErrorReportStatus {
        file_name: Some(file_name.to_string()),
        rows,
        state: ErrorReportState::Pending,
        ..Default::default()
    }
}

fn capped<T: Clone>(list: &[T]) -> Vec<T> {
    list.iter().take(LIST_CAP).cloned().collect()
}

/// True when the status already describes a finished import of this generation and template:
/// the controller then does nothing at all (spec section 6: never applied twice).
pub fn is_done(status: Option<&UserImportStatus>, generation: Option<i64>, digest: &str) -> bool {
    let Some(status) = status else { return false };
    let finished = match status.phase {
        Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems) => true,
        // A rejected template stays rejected until the template or the spec changes.
        Some(ImportPhase::Failed) => {
            conditions::find(&status.conditions, STALLED).is_some_and(|stalled| {
                stalled.status == "True" && stalled.reason == "TemplateRejected"
            })
        }
        _ => false,
    };
    finished
        && status.completed_at.is_some()
        && status.observed_generation == generation
        && status.template_digest.as_deref() == Some(digest)
}

/// True when the status holds a finished import's result for this generation.
pub fn has_result_for(status: Option<&UserImportStatus>, generation: Option<i64>) -> bool {
    status.is_some_and(|status| {
        matches!(
            status.phase,
            Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems)
        ) && status.observed_generation == generation
    })
}

/// Writes `status` whole to the status subresource.
pub async fn write(api: &Api<UserImport>, name: &str, status: &UserImportStatus) -> Result<()> {
    let patch = json!({ "status": with_nulls(serde_json::to_value(status)?) });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The status object with every absent field set to `null` (a merge patch then removes it).
fn with_nulls(value: Value) -> Value {
    let mut object = match value {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    for field in FIELDS {
        object.entry(field).or_insert(Value::Null);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(previous: Option<&UserImportStatus>) -> Basis<'_> {
        Basis {
            previous,
            generation: Some(3),
            now: Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn running_status_is_reconciling_and_not_ready() {
        let status = running(&basis(None));
        assert_eq!(status.phase, Some(ImportPhase::Running));
        assert_eq!(status.observed_generation, Some(3));
        let get = |t| {
            conditions::find(&status.conditions, t)
                .unwrap()
                .status
                .clone()
        };
        assert_eq!(get(READY), "False");
        assert_eq!(get(RECONCILING), "True");
        assert_eq!(get(STALLED), "False");
    }

    #[test]
    fn done_only_for_same_generation_digest_and_a_finished_phase() {
        let mut status = running(&basis(None));
        assert!(!is_done(Some(&status), Some(3), "sha256:a"));
        status.phase = Some(ImportPhase::Succeeded);
        status.template_digest = Some("sha256:a".into());
        status.completed_at = Some("2026-11-24T10:00:00Z".into());
        assert!(is_done(Some(&status), Some(3), "sha256:a"));
        assert!(!is_done(Some(&status), Some(4), "sha256:a"));
        assert!(!is_done(Some(&status), Some(3), "sha256:b"));
        let rejected = rejected(&basis(None), "sha256:a", "bad");
        assert!(is_done(Some(&rejected), Some(3), "sha256:a"));
        let failed = failed(&basis(Some(&status)), "api down");
        assert!(!is_done(Some(&failed), Some(3), "sha256:a"));
    }

    #[test]
    fn a_panic_is_a_stalled_failure_that_keeps_the_result() {
        let mut previous = running(&basis(None));
        previous.template_digest = Some("sha256:a".into());
        let status = panicked(&basis(Some(&previous)), "boom");
        assert_eq!(status.phase, Some(ImportPhase::Failed));
        assert_eq!(status.template_digest.as_deref(), Some("sha256:a"));
        let stalled = conditions::find(&status.conditions, STALLED).unwrap();
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", RECONCILE_PANICKED)
        );
        assert!(stalled.message.contains("boom"), "{}", stalled.message);
        let reconciling = conditions::find(&status.conditions, RECONCILING).unwrap();
        assert_eq!(reconciling.status, "False");
        assert!(
            !is_done(Some(&status), Some(3), "sha256:a"),
            "retried later"
        );
    }

    #[test]
    fn absent_fields_become_nulls() {
        let value = with_nulls(serde_json::to_value(running(&basis(None))).unwrap());
        assert_eq!(value["counts"], Value::Null);
        assert_eq!(value["phase"], "Running");
    }
}
