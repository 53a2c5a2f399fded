//! The UserImport status: builders for each phase, and the one way it is written.
//!
//! Each builder returns the whole status. It is written by server-side apply of the status
//! subresource with the operator's field manager: a field the builder left out is one the
//! manager no longer sets, and the API server removes it, so a field of an earlier run (old
//! counts, an old error report) never survives into a new one.

use std::sync::{Mutex, PoisonError};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde_json::json;

use super::conditions::{
    self, READY, RECONCILE_PANICKED, RECONCILING, STALLED, TEMPLATE_VALID, Wanted,
};
use super::error::Result;
use super::reasons::{IMPORTED, IMPORTING, TEMPLATE_READ, TEMPLATE_REJECTED};
use super::status_owner::{self, Takeover};
use super::tenant_users::FIELD_MANAGER;
use user_import_engine::results::ImportResults;
use user_import_resources::{
    ErrorReportState, ErrorReportStatus, ImportPhase, UserImport, UserImportStatus,
};

/// Entries kept in each of the three lists; `counts` keeps the full numbers.
pub(crate) const LIST_CAP: usize = 100;

/// What a builder needs to know about the object it writes for.
pub(crate) struct Basis<'a> {
    pub(crate) previous: Option<&'a UserImportStatus>,
    pub(crate) generation: Option<i64>,
    pub(crate) now: Timestamp,
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
pub(crate) fn rfc3339(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The result part of a status: the import as planned when its generation and digest started
/// (digest, encoding, counts, the three lists, highlight, ignored columns, the error report and
/// `startedAt`), without phase, generation, completion time or conditions. It is written with
/// the `Running` status before the first TenantUser write, and kept to the end: a pass retried
/// after an error, a panic or a restart reports it, not a new plan against the users that an
/// earlier pass wrote.
pub(crate) fn planned(
    basis: &Basis,
    report: &ImportResults,
    error_report: Option<ErrorReportStatus>,
) -> UserImportStatus {
    let truncated = [report.new.len(), report.update.len(), report.problem.len()]
        .iter()
        .any(|len| *len > LIST_CAP);
    UserImportStatus {
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
        started_at: Some(rfc3339(basis.now)),
        ..Default::default()
    }
}

/// The planned result that `status` holds for this generation and digest, when a pass of that
/// import wrote it and did not finish (`Running`, or `Failed` after an error or a panic).
pub(crate) fn planned_in(
    status: Option<&UserImportStatus>,
    generation: Option<i64>,
    digest: &str,
) -> Option<UserImportStatus> {
    let status = status?;
    let unfinished = matches!(
        status.phase,
        Some(ImportPhase::Running | ImportPhase::Failed)
    );
    let planned = unfinished
        && status.counts.is_some()
        && status.observed_generation == generation
        && status.template_digest.as_deref() == Some(digest);
    planned.then(|| UserImportStatus {
        phase: None,
        observed_generation: None,
        completed_at: None,
        conditions: Vec::new(),
        ..status.clone()
    })
}

/// The status written when work on a generation or template starts, before the first
/// TenantUser write: `Running`, with the planned result.
pub(crate) fn running(basis: &Basis, planned: &UserImportStatus) -> UserImportStatus {
    UserImportStatus {
        phase: Some(ImportPhase::Running),
        observed_generation: basis.generation,
        started_at: planned
            .started_at
            .clone()
            .or_else(|| Some(rfc3339(basis.now))),
        completed_at: None,
        conditions: basis.conditions(&[
            Wanted::new(READY, false, IMPORTING, "the import is running"),
            Wanted::new(RECONCILING, true, IMPORTING, "the import is running"),
            Wanted::new(STALLED, false, IMPORTING, ""),
        ]),
        ..planned.clone()
    }
}

/// The import cannot start: a missing Tenant, template source or key, or a bad reference.
pub(crate) fn stalled(basis: &Basis, reason: &str, message: &str) -> UserImportStatus {
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
pub(crate) fn rejected(basis: &Basis, digest: &str, message: &str) -> UserImportStatus {
    UserImportStatus {
        phase: Some(ImportPhase::Failed),
        observed_generation: basis.generation,
        template_digest: Some(digest.to_string()),
        started_at: basis.previous_started_at(),
        completed_at: Some(rfc3339(basis.now)),
        conditions: basis.conditions(&[
            Wanted::new(READY, false, TEMPLATE_REJECTED, message),
            Wanted::new(RECONCILING, false, TEMPLATE_REJECTED, ""),
            Wanted::new(STALLED, true, TEMPLATE_REJECTED, message),
            Wanted::new(TEMPLATE_VALID, false, TEMPLATE_REJECTED, message),
        ]),
        ..Default::default()
    }
}

/// A controller error (the API server failing, a download failing: `reason` says which); the
/// reconcile is retried.
pub(crate) fn failed(basis: &Basis, reason: &str, message: &str) -> UserImportStatus {
    let mut status = kept(basis);
    status.phase = Some(ImportPhase::Failed);
    status.observed_generation = basis.generation;
    status.conditions = basis.conditions(&[
        Wanted::new(READY, false, reason, message),
        // Still being worked on: the controller retries by itself.
        Wanted::new(RECONCILING, true, reason, message),
        Wanted::new(STALLED, false, reason, ""),
    ]);
    status
}

/// What a failure keeps of the previous status: all of it when it describes this generation
/// (a planned result stays for the retry), only the conditions otherwise, so that the failure's
/// `observedGeneration` never vouches for another generation's counts.
fn kept(basis: &Basis) -> UserImportStatus {
    match basis.previous {
        Some(previous) if previous.observed_generation == basis.generation => previous.clone(),
        Some(previous) => UserImportStatus {
            conditions: previous.conditions.clone(),
            ..Default::default()
        },
        None => UserImportStatus::default(),
    }
}

/// The reconcile panicked. A failure of this import, which cannot progress by itself: the
/// controller retries it after a back-off, and at once when the spec changes. What the previous
/// status said of this generation (counts, a planned result, the report) is kept.
pub(crate) fn panicked(basis: &Basis, panic: &str) -> UserImportStatus {
    let message = format!("the reconcile panicked: {panic}");
    let mut status = kept(basis);
    status.phase = Some(ImportPhase::Failed);
    status.observed_generation = basis.generation;
    status.conditions = basis.conditions(&[
        Wanted::new(READY, false, RECONCILE_PANICKED, &message),
        Wanted::new(RECONCILING, false, RECONCILE_PANICKED, ""),
        Wanted::new(STALLED, true, RECONCILE_PANICKED, &message),
    ]);
    status
}

/// The import finished for this generation and template, problem rows or not: the planned
/// result (see [`planned`]) as the final one.
pub(crate) fn completed(basis: &Basis, planned: &UserImportStatus) -> UserImportStatus {
    let counts = planned.counts.unwrap_or_default();
    let phase = if counts.problem > 0 {
        ImportPhase::SucceededWithProblems
    } else {
        ImportPhase::Succeeded
    };
    let message = format!(
        "new {}, update {}, unchanged {}, problem {}",
        counts.new, counts.update, counts.unchanged, counts.problem
    );
    UserImportStatus {
        phase: Some(phase),
        observed_generation: basis.generation,
        counts: Some(counts),
        error_report: Some(planned.error_report.clone().unwrap_or_default()),
        completed_at: Some(rfc3339(basis.now)),
        conditions: basis.conditions(&[
            Wanted::new(READY, true, IMPORTED, &message),
            Wanted::new(RECONCILING, false, IMPORTED, ""),
            Wanted::new(STALLED, false, IMPORTED, ""),
            Wanted::new(TEMPLATE_VALID, true, TEMPLATE_READ, ""),
        ]),
        ..planned.clone()
    }
}

/// Appends `note` to the message of the `Ready` condition.
pub(crate) fn note_on_ready(status: &mut UserImportStatus, note: &str) {
    if let Some(ready) = status.conditions.iter_mut().find(|c| c.type_ == READY) {
        ready.message = format!("{}; {note}", ready.message);
    }
}

/// The error report's status before any delivery: `Pending` when there is one to send.
pub(crate) fn error_report_pending(file_name: &str, rows: usize) -> ErrorReportStatus {
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
/// the controller then does nothing at all (docs/status.md: never applied twice).
pub(crate) fn is_done(
    status: Option<&UserImportStatus>,
    generation: Option<i64>,
    digest: &str,
) -> bool {
    let Some(status) = status else { return false };
    let finished = match status.phase {
        Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems) => true,
        // A rejected template stays rejected until the template or the spec changes.
        Some(ImportPhase::Failed) => conditions::find(&status.conditions, STALLED)
            .is_some_and(|stalled| stalled.status == "True" && stalled.reason == TEMPLATE_REJECTED),
        _ => false,
    };
    finished
        && status.completed_at.is_some()
        && status.observed_generation == generation
        && status.template_digest.as_deref() == Some(digest)
}

/// True when the status holds a finished import's result for this generation.
pub(crate) fn has_result_for(status: Option<&UserImportStatus>, generation: Option<i64>) -> bool {
    status.is_some_and(|status| {
        matches!(
            status.phase,
            Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems)
        ) && status.observed_generation == generation
    })
}

/// Writes one UserImport's status, and keeps the last status written: a failure later in the
/// same reconcile builds on it, where the watch cache may still show an older one.
pub(crate) struct Writer {
    api: Api<UserImport>,
    name: String,
    last: Mutex<Option<UserImportStatus>>,
    /// Status fields of an older operator's merge patches to take over before the first write
    /// (src/controller/status_owner.rs); None for nearly every import.
    takeover: Mutex<Option<Takeover>>,
}

impl Writer {
    /// The writer of `import`'s status, through `api` (of the import's namespace).
    pub(crate) fn new(api: Api<UserImport>, import: &UserImport) -> Self {
        Writer {
            api,
            name: import.metadata.name.clone().unwrap_or_default(),
            last: Mutex::new(None),
            takeover: Mutex::new(Takeover::of(&import.metadata)),
        }
    }

    /// Writes `status` whole (see [`write`]), after the takeover of an older operator's status
    /// fields at the first write, when the object needs it.
    pub(crate) async fn write(&self, status: &UserImportStatus) -> Result<()> {
        let takeover = self
            .takeover
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(takeover) = takeover {
            status_owner::write(&self.api, &self.name, takeover).await;
        }
        write(&self.api, &self.name, status).await?;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(status.clone());
        Ok(())
    }

    /// The last status this writer wrote, if any.
    pub(crate) fn last(&self) -> Option<UserImportStatus> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The UserImport API of the object's namespace.
    pub(crate) fn api(&self) -> &Api<UserImport> {
        &self.api
    }
}

/// Writes `status` whole to the status subresource: a server-side apply by [`FIELD_MANAGER`],
/// forced (the operator is the status's only writer). Every field `status` leaves out that the
/// manager set before is removed by the API server.
pub(crate) async fn write(
    api: &Api<UserImport>,
    name: &str,
    status: &UserImportStatus,
) -> Result<()> {
    let patch = json!({
        "apiVersion": UserImport::api_version(&()),
        "kind": UserImport::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::reasons::RETRYING_AFTER_ERROR;

    fn basis(previous: Option<&UserImportStatus>) -> Basis<'_> {
        Basis {
            previous,
            generation: Some(3),
            now: Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn running_status_is_reconciling_and_not_ready() {
        let status = running(&basis(None), &UserImportStatus::default());
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
        let mut status = running(&basis(None), &UserImportStatus::default());
        assert!(!is_done(Some(&status), Some(3), "sha256:a"));
        status.phase = Some(ImportPhase::Succeeded);
        status.template_digest = Some("sha256:a".into());
        status.completed_at = Some("2026-11-24T10:00:00Z".into());
        assert!(is_done(Some(&status), Some(3), "sha256:a"));
        assert!(!is_done(Some(&status), Some(4), "sha256:a"));
        assert!(!is_done(Some(&status), Some(3), "sha256:b"));
        let rejected = rejected(&basis(None), "sha256:a", "bad");
        assert!(is_done(Some(&rejected), Some(3), "sha256:a"));
        let failed = failed(&basis(Some(&status)), RETRYING_AFTER_ERROR, "api down");
        assert!(!is_done(Some(&failed), Some(3), "sha256:a"));
    }

    #[test]
    fn a_panic_is_a_stalled_failure_that_keeps_the_result() {
        let mut previous = running(&basis(None), &UserImportStatus::default());
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

    /// A planned result as a pass writes it with its Running status.
    fn planned_result() -> UserImportStatus {
        UserImportStatus {
            template_digest: Some("sha256:a".into()),
            counts: Some(user_import_resources::Counts {
                new: 980,
                ..Default::default()
            }),
            started_at: Some("2026-11-24T10:00:00Z".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_planned_result_is_found_for_its_generation_and_digest_until_finished() {
        let running = running(&basis(None), &planned_result());
        let found = planned_in(Some(&running), Some(3), "sha256:a").unwrap();
        assert_eq!(found.counts.unwrap().new, 980);
        assert_eq!(found.started_at.as_deref(), Some("2026-11-24T10:00:00Z"));
        assert_eq!((found.phase, found.observed_generation), (None, None));
        assert!(found.conditions.is_empty());
        assert_eq!(planned_in(Some(&running), Some(4), "sha256:a"), None);
        assert_eq!(planned_in(Some(&running), Some(3), "sha256:b"), None);
        // An error or a panic keeps it for the retry.
        let failed = failed(&basis(Some(&running)), RETRYING_AFTER_ERROR, "500");
        assert!(planned_in(Some(&failed), Some(3), "sha256:a").is_some());
        let panicked = panicked(&basis(Some(&running)), "boom");
        assert!(planned_in(Some(&panicked), Some(3), "sha256:a").is_some());
        // A finished import is done, not resumed; a status without a plan has nothing.
        let completed = completed(&basis(Some(&running)), &found);
        assert_eq!(planned_in(Some(&completed), Some(3), "sha256:a"), None);
        let started = super::running(&basis(None), &UserImportStatus::default());
        assert_eq!(planned_in(Some(&started), Some(3), "sha256:a"), None);
    }

    #[test]
    fn the_final_status_is_the_planned_result() {
        let running = running(&basis(None), &planned_result());
        let completed = completed(&basis(Some(&running)), &planned_result());
        assert_eq!(completed.phase, Some(ImportPhase::Succeeded));
        assert_eq!(completed.counts.unwrap().new, 980);
        assert_eq!(
            completed.started_at.as_deref(),
            Some("2026-11-24T10:00:00Z")
        );
        assert!(completed.completed_at.is_some());
        let ready = conditions::find(&completed.conditions, READY).unwrap();
        assert_eq!(ready.message, "new 980, update 0, unchanged 0, problem 0");
    }

    #[test]
    fn a_failure_of_another_generation_drops_the_old_result() {
        let mut old = running(&basis(None), &planned_result());
        old.observed_generation = Some(2);
        let failed = failed(&basis(Some(&old)), RETRYING_AFTER_ERROR, "500");
        assert_eq!(failed.observed_generation, Some(3));
        assert_eq!(failed.counts, None);
        assert_eq!(planned_in(Some(&failed), Some(3), "sha256:a"), None);
        assert!(!failed.conditions.is_empty());
    }
}
