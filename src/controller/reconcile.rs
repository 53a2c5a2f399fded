//! One reconcile of a UserImport: resolve, read, plan, apply, report. Every business rule lives
//! in `crate::core`; this module only moves data between the API server and the core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::runtime::controller::Action;

use super::conditions::{RECONCILE_PANICKED, TEMPLATE_FETCH_FAILED};
use super::context::SourceVersion;
use super::context::{Context, ImportKey, Presence};
use super::error::{Error, Result};
use super::events::{self, Note};
use super::metrics::ErrorLabel;
use super::reasons::{
    IMPORTED, PROBLEM_ROWS, RECONCILE_FAILED, TEMPLATE_REJECTED, TENANT_NOT_FOUND,
};
use super::references;
use super::report_mail::{self, Prepared, Subject};
use super::status::{self, Basis};
use super::template_source::{self, Content, Known, SourceProblem, TemplateBytes};
use super::tenant_users;
use crate::core::error_report::{ErrorReport, write_error_report};
use crate::core::planner::{Plan, PlanOptions, plan};
use crate::core::report::{Counts, ImportReport, build_report};
use crate::core::template::{Template, read_template};
use crate::resources::{ImportMode, OnProblem, TemplateRef, Tenant, UserImport, UserImportStatus};

/// The entry point given to the kube-runtime `Controller`.
pub async fn reconcile(import: Arc<UserImport>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let target = Target::of(&import, &ctx);
    let result = match &target {
        Ok(target) => reconcile_import(target, &ctx).await,
        Err(missing) => Err(Error::MissingMetadata(missing)),
    };
    let result = result.map(|action| recheck_url(action, &import, &ctx));
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if let Err(error) = &result {
        record_failure(&import, target.as_ref().ok(), &ctx, error).await;
    } else if let Some(uid) = import.metadata.uid.as_deref() {
        ctx.reset_backoff(uid);
    }
    result
}

/// A URL source has no watch to tell of a new file: an import that would otherwise wait for a
/// change (or the long resync) looks again after the URL's `interval`.
fn recheck_url(action: Action, import: &UserImport, ctx: &Context) -> Action {
    let Ok(TemplateRef::Url(url)) = import.spec.template.resolve() else {
        return action;
    };
    let Some(interval) = url.interval() else {
        return action;
    };
    let idle = action == Action::await_change() || action == Action::requeue(ctx.settings.resync);
    if idle && interval < ctx.settings.resync {
        Action::requeue(interval)
    } else if action == Action::await_change() {
        Action::requeue(ctx.settings.resync)
    } else {
        action
    }
}

/// What the kube-runtime `Controller` does after an error: retry with a growing delay.
pub fn error_policy(import: Arc<UserImport>, _error: &Error, ctx: Arc<Context>) -> Action {
    let uid = import.metadata.uid.as_deref().unwrap_or_default();
    Action::requeue(ctx.next_backoff(uid))
}

/// The identity of one UserImport, with the APIs scoped to its namespace.
struct Target<'a> {
    import: &'a UserImport,
    name: String,
    namespace: String,
    uid: String,
    /// Every status write of the reconcile goes through it.
    status: status::Writer,
    /// Set once this reconcile starts an import (rather than checking a finished one).
    importing: AtomicBool,
}

impl<'a> Target<'a> {
    /// The target, or the metadata field it lacks.
    fn of(import: &'a UserImport, ctx: &Context) -> Result<Self, &'static str> {
        let namespace = import.metadata.namespace.clone().ok_or("namespace")?;
        let name = import.metadata.name.clone().unwrap_or_default();
        Ok(Target {
            import,
            uid: import.metadata.uid.clone().ok_or("uid")?,
            status: status::Writer::new(Api::namespaced(ctx.client.clone(), &namespace), &name),
            name,
            namespace,
            importing: AtomicBool::new(false),
        })
    }

    fn subject(&self) -> Subject<'_> {
        Subject {
            import: self.import,
            status: &self.status,
            name: &self.name,
            namespace: &self.namespace,
            uid: &self.uid,
        }
    }

    fn basis(&self) -> Basis<'a> {
        Basis {
            previous: self.import.status.as_ref(),
            generation: self.import.metadata.generation,
            now: Timestamp::now(),
        }
    }

    fn key(&self, bytes: &TemplateBytes) -> ImportKey {
        (self.import.metadata.generation, bytes.digest.clone())
    }

    /// What the finished import of this generation read, if there is one: a download whose
    /// source still has that version (ETag, artifact revision) is not made again.
    fn known(&self, ctx: &Context) -> Option<Known> {
        let status = self.import.status.as_ref()?;
        let generation = self.import.metadata.generation;
        let digest = status.template_digest.clone()?;
        if !status::is_done(Some(status), generation, &digest) {
            return None;
        }
        // A newer version that gave the same template, fetched by this process.
        if let Some(version) = ctx.version_of(&self.uid, generation, &digest) {
            return Some(Known {
                digest,
                revision: version.revision,
                etag: version.etag,
            });
        }
        Some(Known {
            digest,
            revision: status.template_revision.clone(),
            etag: status.template_etag.clone(),
        })
    }

    /// Fetches the template (not downloaded again when `known` says it is unchanged), or stalls.
    async fn fetch(
        &self,
        ctx: &Context,
        known: Option<&Known>,
    ) -> Result<Result<TemplateBytes, SourceProblem>> {
        let template = &self.import.spec.template;
        let generation = self.import.metadata.generation;
        if let (Some(known), Ok(TemplateRef::Url(url))) = (known, template.resolve()) {
            // A URL is asked at most once per `interval`, not at every reconcile (each status
            // write triggers one).
            let checked = ctx.version_of(&self.uid, generation, &known.digest);
            let recent = checked.is_some_and(|version| {
                url.interval()
                    .is_some_and(|interval| version.checked_at.elapsed() < interval)
            });
            if recent {
                return Ok(Ok(TemplateBytes {
                    content: Content::Unchanged,
                    digest: known.digest.clone(),
                    revision: known.revision.clone(),
                    etag: known.etag.clone(),
                }));
            }
        }
        let fetched = template_source::fetch(ctx, &self.namespace, template, known).await?;
        ctx.fetch_succeeded(&self.uid);
        if let Ok(bytes) = &fetched {
            let version = SourceVersion {
                generation,
                revision: bytes.revision.clone(),
                etag: bytes.etag.clone(),
                digest: bytes.digest.clone(),
                checked_at: std::time::Instant::now(),
            };
            ctx.remember_version(&self.uid, version);
        }
        Ok(fetched)
    }
}

async fn reconcile_import(target: &Target<'_>, ctx: &Context) -> Result<Action> {
    let import = target.import;
    if let Err(problem) = references::of_import(&import.spec) {
        return stall(target, ctx, problem).await;
    }
    if let Some(wait) = ctx.fetch_wait(&target.uid, import.metadata.generation) {
        // A download failed a moment ago: its back-off holds, whatever triggered this reconcile.
        return Ok(Action::requeue(wait));
    }
    let tenant_name = &import.spec.tenant_ref.name;
    let tenants: Api<Tenant> = Api::namespaced(ctx.client.clone(), &target.namespace);
    let Some(tenant) = tenants.get_opt(tenant_name).await? else {
        let problem = SourceProblem {
            reason: TENANT_NOT_FOUND,
            message: format!("Tenant {tenant_name:?} not found"),
        };
        return stall(target, ctx, problem).await;
    };
    if let Err(problem) = references::of_tenant(&tenant) {
        return stall(target, ctx, problem).await;
    }
    let known = target.known(ctx);
    let mut bytes = match target.fetch(ctx, known.as_ref()).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(problem)) => return stall(target, ctx, problem).await,
        Err(Error::Fetch(message)) => return fetch_failed(target, ctx, message).await,
        Err(error) => return Err(error),
    };
    let unchanged = matches!(bytes.content, Content::Unchanged);
    if unchanged
        && !status::is_done(
            import.status.as_ref(),
            import.metadata.generation,
            &bytes.digest,
        )
    {
        // Not reached while `known` is only offered for a finished import; if it were, the
        // template is fetched whole rather than imported from nothing.
        bytes = match target.fetch(ctx, None).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(problem)) => return stall(target, ctx, problem).await,
            Err(Error::Fetch(message)) => return fetch_failed(target, ctx, message).await,
            Err(error) => return Err(error),
        };
    }
    let key = target.key(&bytes);
    if status::is_done(import.status.as_ref(), key.0, &key.1) {
        // Same generation, same template, finished: never applied twice.
        // Only a report delivery may be left to do.
        return deliver_if_wanted(target, ctx, &tenant, &bytes, &key).await;
    }
    if ctx.has_finished(&target.uid, &key) {
        // The cache still shows the status from before this process finished the import.
        return Ok(Action::requeue(ctx.settings.resync));
    }
    tracing::info!(import = %target.name, namespace = %target.namespace, digest = %key.1, "import starts");
    target.importing.store(true, Ordering::Relaxed);
    let action = import_template(target, ctx, &tenant, &bytes).await?;
    ctx.remember_finished(&target.uid, key);
    Ok(action)
}

/// Reads, plans, applies and reports.
async fn import_template(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    bytes: &TemplateBytes,
) -> Result<Action> {
    let read = match &bytes.content {
        Content::Csv(csv) => read_template(csv, &ctx.settings.limits).map_err(|r| r.to_string()),
        Content::Rejected(message) => Err(message.clone()),
        Content::Unchanged => {
            return Err(Error::Fetch(
                "the template was not downloaded (unchanged); fetching it again".into(),
            ));
        }
    };
    let template = match read {
        Ok(template) => template,
        Err(message) => {
            // Started and rejected at once: the Running status it passes through is not written.
            let started = status::running(&target.basis(), &UserImportStatus::default());
            let basis = Basis {
                previous: Some(&started),
                ..target.basis()
            };
            let mut rejected = status::rejected(&basis, &bytes.digest, &message);
            with_source_version(&mut rejected, bytes);
            target.status.write(&rejected).await?;
            tracing::info!(import = %target.name, "template rejected");
            events::publish(
                &ctx.recorder,
                target.import,
                Note::warning(TEMPLATE_REJECTED, message),
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    let tenant_name = tenant.metadata.name.clone().unwrap_or_default();
    let plan = plan_against_users(ctx, &target.namespace, tenant, &template).await?;
    if ctx.presence(target.import).deleted() {
        tracing::info!(import = %target.name, namespace = %target.namespace, "the UserImport was deleted before its import started");
        ctx.forget_if_gone(target.import);
        return Ok(Action::await_change());
    }
    let planned = planned_result(target, ctx, tenant, &template, &plan, bytes);
    let mut running = status::running(&target.basis(), &planned.status);
    with_source_version(&mut running, bytes);
    target.status.write(&running).await?;
    ctx.keep_plan(&target.uid, target.key(bytes), planned.status.clone());
    if let Some(prepared) = &planned.report {
        ctx.keep_report(&target.uid, target.key(bytes), prepared.clone());
    }
    let counts = planned.status.counts.unwrap_or_default();
    // Whatever the first plan was, what is still missing is what this plan writes: every
    // write is an idempotent apply, and the users written by an earlier pass plan unchanged.
    let presence = ctx.presence(target.import);
    let written = apply_plan(target, ctx, &tenant_name, &plan, &counts, &presence).await?;
    if presence.deleted() {
        // Deleting a UserImport stops its import: no write started after the deletion was
        // seen, and there is no status to finish nor report to mail.
        tracing::info!(
            import = %target.name,
            namespace = %target.namespace,
            written = written.unwrap_or(0),
            planned = plan.writes.len(),
            "the UserImport was deleted: its import stopped"
        );
        ctx.forget_if_gone(target.import);
        return Ok(Action::await_change());
    }
    // The Running status just written is the basis of the final one (conditions).
    let basis = Basis {
        previous: Some(&running),
        ..target.basis()
    };
    finish(target, ctx, tenant, &planned, &plan, bytes, &basis, written).await
}

/// An import as planned when its generation and digest started: the result part of its
/// status (see `status::planned`), and its error report when it has problem rows.
struct Planned {
    status: Arc<UserImportStatus>,
    report: Option<Arc<Prepared>>,
}

/// The planned result of this import: the one an earlier pass of the same generation and
/// digest recorded (in this process's memory, else in the status, after a restart), or `plan`
/// when this pass is the first.
fn planned_result(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    template: &Template,
    plan: &Plan,
    bytes: &TemplateBytes,
) -> Planned {
    let key = target.key(bytes);
    let earlier = ctx
        .kept_plan(&target.uid, &key)
        .or_else(|| status::planned_in(target.import.status.as_ref(), key.0, &key.1).map(Arc::new));
    let Some(earlier) = earlier else {
        let (report, error_report) = reports(tenant, template, plan);
        let pending = error_report
            .as_ref()
            .map(|file| status::error_report_pending(&file.file_name, file.rows));
        let planned = status::planned(&target.basis(), &report, pending);
        return Planned {
            status: Arc::new(planned),
            report: error_report.map(|error_report| {
                Arc::new(Prepared {
                    report,
                    error_report,
                })
            }),
        };
    };
    tracing::info!(import = %target.name, "import resumes: reporting its first plan");
    let report = ctx.kept_report(&target.uid, &key).or_else(|| {
        let (report, error_report) = reports(tenant, template, plan);
        let prepared = error_report.map(|error_report| Prepared {
            report,
            error_report,
        });
        prepared.map(|prepared| Arc::new(as_recorded(prepared, &earlier)))
    });
    Planned {
        status: earlier,
        report,
    }
}

/// A report rebuilt from a later plan, made to say what the status records: the counts of the
/// first plan (its rows written since plan as unchanged now) and the report's file name. Its
/// problem rows, which were not applied, plan the same.
fn as_recorded(mut prepared: Prepared, recorded: &UserImportStatus) -> Prepared {
    if let Some(counts) = recorded.counts {
        prepared.report.counts = counts;
    }
    let file_name = recorded
        .error_report
        .as_ref()
        .and_then(|r| r.file_name.clone());
    if let Some(file_name) = file_name {
        prepared.error_report.file_name = file_name;
    }
    prepared
}

/// Plans the template against the tenant's users as they are now (one list).
async fn plan_against_users(
    ctx: &Context,
    namespace: &str,
    tenant: &Tenant,
    template: &Template,
) -> Result<Plan> {
    let tenant_name = tenant.metadata.name.clone().unwrap_or_default();
    let users = tenant_users::list(&ctx.client, namespace, &tenant_name).await?;
    let options = PlanOptions {
        tenant: tenant_name,
        sso_sync: tenant.spec.sso_sync.enabled,
    };
    Ok(plan(template, &users, &options))
}

/// The JSON report and the error report of a plan, dated today.
fn reports(
    tenant: &Tenant,
    template: &Template,
    plan: &Plan,
) -> (ImportReport, Option<ErrorReport>) {
    let display_name = &tenant.spec.display_name;
    let date = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let error_report = write_error_report(display_name, date, template, plan);
    let report = build_report(display_name, template, plan, error_report.as_ref());
    (report, error_report)
}

/// For a finished import whose report still waits for delivery: tries it.
async fn deliver_if_wanted(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    bytes: &TemplateBytes,
    key: &ImportKey,
) -> Result<Action> {
    let wanted = |status: &UserImportStatus| report_mail::wanted(status, tenant);
    if !target.import.status.as_ref().is_some_and(wanted) {
        return Ok(Action::requeue(ctx.settings.resync));
    }
    if let Some(wait) = ctx.mail_wait(&target.uid) {
        // Our own status writes trigger reconciles too: they must not skip the back-off.
        return Ok(Action::requeue(wait));
    }
    // The cache can lag behind this process's last write (showing an attempt as Pending that
    // was sent since): read the status afresh before sending anything.
    let fresh = target.status.api().get_status(&target.name).await?;
    let current =
        |status: &UserImportStatus| status::is_done(Some(status), key.0, &key.1) && wanted(status);
    let Some(status) = fresh.status.filter(current) else {
        return Ok(Action::requeue(ctx.settings.resync));
    };
    let prepared = match ctx.kept_report(&target.uid, key) {
        Some(prepared) => prepared,
        None => match rebuild_report(target, ctx, tenant, bytes).await? {
            Some(prepared) => Arc::new(as_recorded(prepared, &status)),
            None => return Ok(Action::requeue(ctx.settings.resync)),
        },
    };
    report_mail::deliver(&target.subject(), ctx, tenant, status, &prepared).await
}

/// After a restart the report of a finished import is not in memory: plan the same template
/// again (read-only) for its problem rows (see `as_recorded`).
async fn rebuild_report(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    bytes: &TemplateBytes,
) -> Result<Option<Prepared>> {
    let fetched;
    let csv = match &bytes.content {
        Content::Csv(csv) => csv,
        Content::Rejected(_) => return Ok(None),
        Content::Unchanged => {
            // Not downloaded as unchanged: the report needs the rows.
            fetched = match target.fetch(ctx, None).await? {
                Ok(fetched) if fetched.digest == bytes.digest => fetched,
                _ => return Ok(None),
            };
            match &fetched.content {
                Content::Csv(csv) => csv,
                _ => return Ok(None),
            }
        }
    };
    let Ok(template) = read_template(csv, &ctx.settings.limits) else {
        return Ok(None);
    };
    let plan = plan_against_users(ctx, &target.namespace, tenant, &template).await?;
    let (report, error_report) = reports(tenant, &template, &plan);
    Ok(error_report.map(|error_report| Prepared {
        report,
        error_report,
    }))
}

/// Applies the plan's writes unless the mode or `onProblem` forbids it (judged on `planned`,
/// the import's first plan); no write starts once `presence` sees the UserImport deleted.
/// Returns the writes made, or why writing was withheld.
async fn apply_plan(
    target: &Target<'_>,
    ctx: &Context,
    tenant_name: &str,
    plan: &Plan,
    planned: &Counts,
    presence: &Presence,
) -> Result<Result<usize, &'static str>> {
    let spec = &target.import.spec;
    if spec.mode == ImportMode::DryRun {
        return Ok(Err("DryRun: no TenantUser was written"));
    }
    if spec.on_problem == OnProblem::Abort && planned.problem > 0 {
        return Ok(Err(
            "onProblem Abort: problem rows, so no TenantUser was written",
        ));
    }
    let concurrency = ctx.settings.concurrency;
    let written = tenant_users::apply_all(
        &ctx.client,
        &target.namespace,
        tenant_name,
        &plan.writes,
        concurrency,
        || !presence.deleted(),
    )
    .await?;
    ctx.metrics.writes.inc_by(written as u64);
    Ok(Ok(written))
}

/// Writes the final status and tells about it (event, log, metrics), then mails the report.
#[allow(clippy::too_many_arguments)]
async fn finish(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    planned: &Planned,
    plan: &Plan,
    bytes: &TemplateBytes,
    basis: &Basis<'_>,
    written: Result<usize, &'static str>,
) -> Result<Action> {
    let mut completed = status::completed(basis, &planned.status);
    // The digest of the bytes as fetched: the one `is_done` compares on the next reconcile.
    completed.template_digest = Some(bytes.digest.clone());
    with_source_version(&mut completed, bytes);
    if let Err(why) = written {
        // DryRun or Abort: say so where `kubectl get` users look first.
        status::note_on_ready(&mut completed, why);
    }
    target.status.write(&completed).await?;
    let counts = completed.counts.unwrap_or_default();
    ctx.metrics.count_rows(&counts);
    let summary = format!(
        "new {}, update {}, unchanged {}, problem {}; {}",
        counts.new,
        counts.update,
        counts.unchanged,
        counts.problem,
        match written {
            Ok(count) => format!("{count} TenantUser write(s)"),
            Err(why) => why.to_string(),
        }
    );
    tracing::info!(import = %target.name, namespace = %target.namespace, %summary, "import finished");
    // Every problem row (the status keeps 100): the report's, else this plan's (problem rows
    // are not applied, so a later plan finds the same).
    let problem_rows: Vec<usize> = match &planned.report {
        Some(prepared) => prepared.report.problem.iter().map(|e| e.row).collect(),
        None => plan.problem.iter().map(|entry| entry.row).collect(),
    };
    if !problem_rows.is_empty() {
        tracing::info!(import = %target.name, rows = ?problem_rows, "problem rows");
        let message = format!(
            "{} problem row(s): rows {:?}",
            problem_rows.len(),
            problem_rows
        );
        events::publish(
            &ctx.recorder,
            target.import,
            Note::warning(PROBLEM_ROWS, message),
        )
        .await;
    }
    events::publish(
        &ctx.recorder,
        target.import,
        Note::normal(IMPORTED, summary),
    )
    .await;
    let Some(prepared) = &planned.report else {
        return Ok(Action::requeue(ctx.settings.resync));
    };
    if !report_mail::wanted(&completed, tenant) {
        // A resumed import whose report an earlier pass already delivered (or gave up on).
        return Ok(Action::requeue(ctx.settings.resync));
    }
    report_mail::deliver(&target.subject(), ctx, tenant, completed, prepared).await
}

/// The template could not be downloaded: the status says why (unless a finished import of this
/// generation stands: then a Warning event does), and the download is tried again after a
/// back-off that doubles with each failure.
async fn fetch_failed(target: &Target<'_>, ctx: &Context, message: String) -> Result<Action> {
    let generation = target.import.metadata.generation;
    let wait = ctx.fetch_failed(&target.uid, generation);
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabel {
            error: "TemplateFetch",
        })
        .inc();
    tracing::warn!(import = %target.name, namespace = %target.namespace, %message, retry_in = ?wait, "the template could not be downloaded");
    let previous = target.import.status.as_ref();
    if !status::has_result_for(previous, generation) {
        let failed = status::failed(&target.basis(), TEMPLATE_FETCH_FAILED, &message);
        let same = previous.is_some_and(|previous| {
            previous.phase == failed.phase && previous.conditions == failed.conditions
        });
        if !same {
            target.status.write(&failed).await?;
        }
    }
    let note = Note::warning(TEMPLATE_FETCH_FAILED, message);
    events::publish(&ctx.recorder, target.import, note).await;
    Ok(Action::requeue(wait))
}

/// Records where the template came from (a Flux revision, an ETag) beside its digest.
fn with_source_version(status: &mut UserImportStatus, bytes: &TemplateBytes) {
    status.template_revision = bytes.revision.clone();
    status.template_etag = bytes.etag.clone();
}

/// The import cannot start. Writes the Stalled status (only when it changes, so a requeue of
/// a stalled import makes no write) and looks again later.
async fn stall(target: &Target<'_>, ctx: &Context, problem: SourceProblem) -> Result<Action> {
    let previous = target.import.status.as_ref();
    if status::has_result_for(previous, target.import.metadata.generation) {
        // The import of this generation is finished: a source deleted afterwards (a common
        // clean-up) does not undo it. A new template or spec starts a new import.
        return Ok(Action::await_change());
    }
    let stalled = status::stalled(&target.basis(), problem.reason, &problem.message);
    if target.import.status.as_ref() != Some(&stalled) {
        target.status.write(&stalled).await?;
        tracing::info!(import = %target.name, reason = problem.reason, "import stalled");
        let note = Note::warning(problem.reason, problem.message);
        events::publish(&ctx.recorder, target.import, note).await;
    }
    Ok(Action::requeue(ctx.settings.stalled_requeue))
}

/// A reconcile that panicked: shown in the status (best effort) and as an event. The metric and
/// the log line are the guard's.
pub(super) async fn record_panic(import: &UserImport, ctx: &Context, panic: &str) {
    let Ok(target) = Target::of(import, ctx) else {
        return;
    };
    // The reconcile may have written statuses the cache does not show yet (a Running status,
    // a result): build on the stored one, not on the one the reconcile started from.
    let stored = target.status.api().get_status(&target.name).await.ok();
    let previous = stored.as_ref().and_then(|stored| stored.status.as_ref());
    let basis = Basis {
        previous: previous.or(import.status.as_ref()),
        ..target.basis()
    };
    let panicked = status::panicked(&basis, panic);
    if let Err(error) = target.status.write(&panicked).await {
        tracing::warn!(import = %target.name, %error, "could not write the ReconcilePanicked status");
    }
    let note = Note::warning(
        RECONCILE_PANICKED,
        format!("the reconcile panicked: {panic}"),
    );
    events::publish(&ctx.recorder, import, note).await;
}

/// A controller error: counted, logged, shown in the status (best effort) and as an event.
async fn record_failure(
    import: &UserImport,
    target: Option<&Target<'_>>,
    ctx: &Context,
    error: &Error,
) {
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabel {
            error: error.kind(),
        })
        .inc();
    tracing::warn!(import = ?import.metadata.name, %error, "reconcile failed");
    let Some(target) = target else {
        return;
    };
    // Built on the last status this reconcile wrote (a planned result stays for the retry),
    // else on the one it started from.
    let last = target.status.last();
    let previous = last.as_ref().or(import.status.as_ref());
    let importing = target.importing.load(Ordering::Relaxed);
    if !importing && status::has_result_for(previous, import.metadata.generation) {
        // A re-check of a finished import, or the delivery of its report, failed: the import's
        // result stands (a `Failed` phase here would outlive the error). The retry comes by
        // back-off; the event and the log say why.
        let note = Note::warning(RECONCILE_FAILED, error.to_string());
        events::publish(&ctx.recorder, import, note).await;
        return;
    }
    let basis = Basis {
        previous,
        ..target.basis()
    };
    let failed = status::failed(&basis, error.reason(), &error.to_string());
    if let Err(status_error) = target.status.write(&failed).await {
        tracing::warn!(import = %target.name, error = %status_error, "could not write the Failed status");
    }
    let note = Note::warning(RECONCILE_FAILED, error.to_string());
    events::publish(&ctx.recorder, import, note).await;
}
