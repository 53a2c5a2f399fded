//! One reconcile of a UserImport: resolve, read, plan, apply, report. Every business rule lives
//! in `user_import_engine`; this module only moves data between the API server and the core.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;

use super::conditions::{RECONCILE_PANICKED, TEMPLATE_FETCH_FAILED};
use super::context::SourceVersion;
use super::context::{Context, ImportKey, Presence};
use super::error::{Error, Result};
use super::events::{self, Note};
use super::metrics::ErrorLabel;
use super::read::{self, Read, plan_against_users, read_import};
use super::reasons::{IMPORTED, PROBLEM_ROWS, RECONCILE_FAILED, TEMPLATE_REJECTED};
use super::report_delivery::{self, Prepared};
use super::status::{self, Basis};
use super::subject::Subject;
use super::template_source::{self, Content, Fetched, Known, SourceProblem, TemplateBytes};
use super::tenant_users;
use user_import_engine::error_report::{ErrorReport, write_error_report};
use user_import_engine::planner::Plan;
use user_import_engine::results::{Counts, ImportResults, take_results};
use user_import_engine::template::{Template, read_template};
use user_import_resources::{
    ImportMode, OnProblem, TemplateRef, Tenant, UserImport, UserImportStatus,
};

/// The entry point given to the kube-runtime `Controller`.
pub async fn reconcile(import: Arc<UserImport>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let subject = Subject::of(&import, &ctx.client);
    let result = match &subject {
        Ok(subject) => reconcile_import(subject, &ctx).await,
        Err(missing) => Err(Error::MissingMetadata(missing)),
    };
    let result = result.map(|action| recheck_url(action, &import, &ctx));
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if let Err(error) = &result {
        record_failure(&import, subject.as_ref().ok(), &ctx, error).await;
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
pub(crate) fn error_policy(import: Arc<UserImport>, _error: &Error, ctx: Arc<Context>) -> Action {
    let uid = import.metadata.uid.as_deref().unwrap_or_default();
    Action::requeue(ctx.next_backoff(uid))
}

impl Subject<'_> {
    /// What the finished import of this generation read, if there is one: a download whose
    /// source still has that version (ETag, artifact revision) is not made again.
    fn known(&self, ctx: &Context) -> Option<Known> {
        let generation = self.import.metadata.generation;
        let status = self.import.status.as_ref();
        let finished = status.and_then(|status| {
            let digest = status.template_digest.clone()?;
            status::is_done(Some(status), generation, &digest).then_some((status, digest))
        });
        let Some((status, digest)) = finished else {
            // The watch cache may not show yet the status this process wrote when it finished
            // the import (each write triggers a reconcile at once): what it finished is known
            // all the same, and its source is not downloaded a second time.
            return ctx.finished_version(&self.uid, generation).map(known_of);
        };
        // A newer version that gave the same template, fetched by this process.
        if let Some(version) = ctx.version_of(&self.uid, generation, &digest) {
            return Some(known_of(version));
        }
        Some(Known {
            digest,
            revision: status.template_revision.clone(),
            etag: status.template_etag.clone(),
        })
    }

    /// Fetches the template (not downloaded again when `known` says it is unchanged), or stalls.
    async fn fetch(&self, ctx: &Context, known: Option<&Known>) -> Result<Fetched> {
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
                return Ok(Fetched::Ready(TemplateBytes {
                    content: Content::Unchanged,
                    digest: known.digest.clone(),
                    revision: known.revision.clone(),
                    etag: known.etag.clone(),
                }));
            }
        }
        let objects = Some(ctx.template_objects.as_ref());
        let fetched = template_source::fetch_watched(
            &ctx.client,
            &ctx.settings,
            &self.namespace,
            template,
            known,
            objects,
        )
        .await?;
        ctx.fetch_succeeded(&self.uid);
        if let Fetched::Ready(bytes) = &fetched {
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

    /// The template of the current generation: not downloaded again while its source still
    /// has the version of a finished import (see [`Subject::known`]).
    async fn fetch_current(&self, ctx: &Context) -> Result<Fetched> {
        let known = self.known(ctx);
        let bytes = match self.fetch(ctx, known.as_ref()).await? {
            Fetched::Ready(bytes) => bytes,
            stalled @ Fetched::Stalled(_) => return Ok(stalled),
        };
        let key = self.key(&bytes);
        if matches!(bytes.content, Content::Unchanged)
            && !status::is_done(self.import.status.as_ref(), key.0, &key.1)
            && !ctx.has_finished(&self.uid, &key)
        {
            // Not reached while `known` is only offered for an import finished (in its status,
            // or in this process's memory); if it were, the template is fetched whole rather
            // than imported from nothing.
            return self.fetch(ctx, None).await;
        }
        Ok(Fetched::Ready(bytes))
    }
}

/// What a source version this process fetched says of the template it gave.
fn known_of(version: SourceVersion) -> Known {
    Known {
        digest: version.digest,
        revision: version.revision,
        etag: version.etag,
    }
}

/// Why a reconcile reads no further than the template's bytes.
enum Skip {
    /// The import of this generation and template is finished (its status says so): it is
    /// never applied twice; only its report's delivery may be left to do.
    Done(ImportKey),
    /// This process finished it, and the cache still shows the status from before.
    FinishedHere,
}

async fn reconcile_import(subject: &Subject<'_>, ctx: &Context) -> Result<Action> {
    let import = subject.import;
    // Before the read: a download of this generation failed a moment ago (so its names passed
    // the check), and its back-off holds, whatever triggered this reconcile.
    if let Some(wait) = ctx.fetch_wait(&subject.uid, import.metadata.generation) {
        return Ok(Action::requeue(wait));
    }
    // Whether the fetched template is imported: not twice. Once it is, a failure from here on
    // fails the import (see `record_failure`), so `importing` is set before the read.
    let gate = |bytes: &TemplateBytes| {
        let key = subject.key(bytes);
        if status::is_done(import.status.as_ref(), key.0, &key.1) {
            return Some(Skip::Done(key));
        }
        if ctx.has_finished(&subject.uid, &key) {
            return Some(Skip::FinishedHere);
        }
        tracing::info!(import = %subject.name, namespace = %subject.namespace, digest = %key.1, "import starts");
        subject.importing.store(true, Ordering::Relaxed);
        None
    };
    let fetch = subject.fetch_current(ctx);
    let limits = &ctx.settings.limits;
    let read = read_import(
        &ctx.client,
        limits,
        &subject.namespace,
        &import.spec,
        fetch,
        gate,
    );
    let (action, bytes) = match read.await? {
        Read::Stalled(problem) => return stall(subject, ctx, problem).await,
        Read::FetchFailed(message) => return fetch_failed(subject, ctx, message).await,
        Read::Skipped {
            skip: Skip::Done(key),
            tenant,
            bytes,
        } => return deliver_if_wanted(subject, ctx, &tenant, &bytes, &key).await,
        Read::Skipped {
            skip: Skip::FinishedHere,
            ..
        } => return Ok(Action::requeue(ctx.settings.resync)),
        Read::Rejected { bytes, message } => (reject(subject, ctx, &bytes, message).await?, bytes),
        Read::Planned(mut planned) => (
            import_planned(subject, ctx, &mut planned).await?,
            planned.bytes,
        ),
    };
    ctx.remember_finished(&subject.uid, subject.key(&bytes));
    Ok(action)
}

/// The template was rejected whole: the status and a Warning event say why; nothing is written.
async fn reject(
    subject: &Subject<'_>,
    ctx: &Context,
    bytes: &TemplateBytes,
    message: String,
) -> Result<Action> {
    // Started and rejected at once: the Running status it passes through is not written.
    let started = status::running(&subject.basis(), &UserImportStatus::default());
    let basis = Basis {
        previous: Some(&started),
        ..subject.basis()
    };
    let mut rejected = status::rejected(&basis, &bytes.digest, &message);
    with_source_version(&mut rejected, bytes);
    subject.status.write(&rejected).await?;
    tracing::info!(import = %subject.name, "template rejected");
    events::publish(
        &ctx.recorder,
        subject.import,
        Note::warning(TEMPLATE_REJECTED, message),
    )
    .await;
    Ok(Action::await_change())
}

/// Applies and reports a plan.
async fn import_planned(
    subject: &Subject<'_>,
    ctx: &Context,
    input: &mut read::Planned,
) -> Result<Action> {
    let read::Planned {
        tenant,
        bytes,
        template,
        plan,
    } = input;
    let tenant_name = tenant.metadata.name.clone().unwrap_or_default();
    if ctx.presence(subject.import).deleted() {
        tracing::info!(import = %subject.name, namespace = %subject.namespace, "the UserImport was deleted before its import started");
        ctx.forget_if_gone(subject.import);
        return Ok(Action::await_change());
    }
    let planned = planned_result(subject, ctx, tenant, template, plan, bytes);
    let plan = &*plan;
    let mut running = status::running(&subject.basis(), &planned.status);
    with_source_version(&mut running, bytes);
    subject.status.write(&running).await?;
    ctx.keep_plan(&subject.uid, subject.key(bytes), planned.status.clone());
    if let Some(prepared) = &planned.report {
        ctx.keep_report(&subject.uid, subject.key(bytes), prepared.clone());
    }
    let counts = planned.status.counts.unwrap_or_default();
    // Whatever the first plan was, what is still missing is what this plan writes: every
    // write is an idempotent apply, and the users written by an earlier pass plan unchanged.
    let presence = ctx.presence(subject.import);
    let written = apply_plan(subject, ctx, &tenant_name, plan, &counts, &presence).await?;
    if presence.deleted() {
        // Deleting a UserImport stops its import: no write started after the deletion was
        // seen, and there is no status to finish nor report to mail.
        tracing::info!(
            import = %subject.name,
            namespace = %subject.namespace,
            written = match written {
                Written::Applied(count) => count,
                Written::Withheld(_) => 0,
            },
            planned = plan.writes.len(),
            "the UserImport was deleted: its import stopped"
        );
        ctx.forget_if_gone(subject.import);
        return Ok(Action::await_change());
    }
    // The Running status just written is the basis of the final one (conditions).
    let basis = Basis {
        previous: Some(&running),
        ..subject.basis()
    };
    finish(subject, ctx, tenant, &planned, plan, bytes, &basis, written).await
}

/// An import as planned when its generation and digest started: the result part of its
/// status (see `status::planned`), and its error report when it has problem rows.
struct Planned {
    status: Arc<UserImportStatus>,
    report: Option<Arc<Prepared>>,
}

/// The planned result of this import: the one an earlier pass of the same generation and
/// digest recorded (in this process's memory, else in the status, after a restart), or `plan`
/// when this pass is the first. The report takes the plan's sections (see [`reports`]).
fn planned_result(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant: &Tenant,
    template: &Template,
    plan: &mut Plan,
    bytes: &TemplateBytes,
) -> Planned {
    let key = subject.key(bytes);
    let earlier = ctx.kept_plan(&subject.uid, &key).or_else(|| {
        status::planned_in(subject.import.status.as_ref(), key.0, &key.1).map(Arc::new)
    });
    let Some(earlier) = earlier else {
        let (report, error_report) = reports(tenant, template, plan);
        let pending = error_report
            .as_ref()
            .map(|file| status::error_report_pending(&file.file_name, file.rows));
        let planned = status::planned(&subject.basis(), &report, pending);
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
    tracing::info!(import = %subject.name, "import resumes: reporting its first plan");
    let report = ctx.kept_report(&subject.uid, &key).or_else(|| {
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

/// The JSON report and the error report of a plan, dated today. The report takes the plan's
/// three sections, which leaves them empty in the plan (only its writes are applied after).
fn reports(
    tenant: &Tenant,
    template: &Template,
    plan: &mut Plan,
) -> (ImportResults, Option<ErrorReport>) {
    let display_name = &tenant.spec.display_name;
    let date = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let error_report = write_error_report(display_name, date, template, plan);
    let summary = error_report.as_ref().map(ErrorReport::summary);
    let report = take_results(display_name, template, plan, summary);
    (report, error_report)
}

/// For a finished import whose report still waits for delivery: tries it.
async fn deliver_if_wanted(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant: &Tenant,
    bytes: &TemplateBytes,
    key: &ImportKey,
) -> Result<Action> {
    let domains = &ctx.settings.recipient_domains;
    let wanted = |status: &UserImportStatus| report_delivery::wanted(status, tenant, domains);
    if !subject.import.status.as_ref().is_some_and(wanted) {
        return Ok(Action::requeue(ctx.settings.resync));
    }
    if let Some(wait) = ctx.mail_wait(&subject.uid) {
        // Our own status writes trigger reconciles too: they must not skip the back-off.
        return Ok(Action::requeue(wait));
    }
    // The cache can lag behind this process's last write (showing an attempt as Pending that
    // was sent since): read the status afresh before sending anything.
    let fresh = subject.status.api().get_status(&subject.name).await?;
    let current =
        |status: &UserImportStatus| status::is_done(Some(status), key.0, &key.1) && wanted(status);
    let Some(status) = fresh.status.filter(current) else {
        return Ok(Action::requeue(ctx.settings.resync));
    };
    let prepared = match ctx.kept_report(&subject.uid, key) {
        Some(prepared) => prepared,
        None => match rebuild_report(subject, ctx, tenant, bytes).await? {
            Some(prepared) => Arc::new(as_recorded(prepared, &status)),
            None => return Ok(Action::requeue(ctx.settings.resync)),
        },
    };
    report_delivery::deliver(subject, ctx, tenant, status, &prepared).await
}

/// After a restart the report of a finished import is not in memory: plan the same template
/// again (read-only) for its problem rows (see `as_recorded`).
async fn rebuild_report(
    subject: &Subject<'_>,
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
            fetched = match subject.fetch(ctx, None).await? {
                Fetched::Ready(fetched) if fetched.digest == bytes.digest => fetched,
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
    let mut plan = plan_against_users(&ctx.client, &subject.namespace, tenant, &template).await?;
    let (report, error_report) = reports(tenant, &template, &mut plan);
    Ok(error_report.map(|error_report| Prepared {
        report,
        error_report,
    }))
}

/// What became of a plan's writes.
#[derive(Clone, Copy, Debug)]
enum Written {
    /// This many TenantUser writes were made.
    Applied(usize),
    /// None was made, on purpose (`DryRun`, `onProblem: Abort`): why, for the `Ready` message.
    Withheld(&'static str),
}

/// Applies the plan's writes unless the mode or `onProblem` forbids it (judged on `planned`,
/// the import's first plan); no write starts once `presence` sees the UserImport deleted.
async fn apply_plan(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant_name: &str,
    plan: &Plan,
    planned: &Counts,
    presence: &Presence,
) -> Result<Written> {
    let spec = &subject.import.spec;
    if spec.mode == ImportMode::DryRun {
        return Ok(Written::Withheld("DryRun: no TenantUser was written"));
    }
    if spec.on_problem == OnProblem::Abort && planned.problem > 0 {
        return Ok(Written::Withheld(
            "onProblem Abort: problem rows, so no TenantUser was written",
        ));
    }
    let concurrency = ctx.settings.concurrency;
    let written = tenant_users::apply_all(
        &ctx.client,
        &subject.namespace,
        tenant_name,
        &plan.writes,
        concurrency,
        || !presence.deleted(),
    )
    .await?;
    ctx.metrics.writes.inc_by(written as u64);
    Ok(Written::Applied(written))
}

/// Writes the final status and tells about it (event, log, metrics), then mails the report.
#[allow(clippy::too_many_arguments)]
async fn finish(
    subject: &Subject<'_>,
    ctx: &Context,
    tenant: &Tenant,
    planned: &Planned,
    plan: &Plan,
    bytes: &TemplateBytes,
    basis: &Basis<'_>,
    written: Written,
) -> Result<Action> {
    let mut completed = status::completed(basis, &planned.status);
    // The digest of the bytes as fetched: the one `is_done` compares on the next reconcile.
    completed.template_digest = Some(bytes.digest.clone());
    with_source_version(&mut completed, bytes);
    if let Written::Withheld(why) = written {
        // DryRun or Abort: say so where `kubectl get` users look first.
        status::note_on_ready(&mut completed, why);
    }
    subject.status.write(&completed).await?;
    let counts = completed.counts.unwrap_or_default();
    ctx.metrics.count_rows(&counts);
    let summary = format!(
        "new {}, update {}, unchanged {}, problem {}; {}",
        counts.new,
        counts.update,
        counts.unchanged,
        counts.problem,
        match written {
            Written::Applied(count) => format!("{count} TenantUser write(s)"),
            Written::Withheld(why) => why.to_string(),
        }
    );
    tracing::info!(import = %subject.name, namespace = %subject.namespace, %summary, "import finished");
    // Every problem row (the status keeps 100): the report's, else this plan's (problem rows
    // are not applied, so a later plan finds the same).
    let problem_rows: Vec<usize> = match &planned.report {
        Some(prepared) => prepared.report.problem.iter().map(|e| e.row).collect(),
        None => plan.problem.iter().map(|entry| entry.row).collect(),
    };
    if !problem_rows.is_empty() {
        tracing::info!(import = %subject.name, rows = ?problem_rows, "problem rows");
        let message = format!(
            "{} problem row(s): rows {:?}",
            problem_rows.len(),
            problem_rows
        );
        events::publish(
            &ctx.recorder,
            subject.import,
            Note::warning(PROBLEM_ROWS, message),
        )
        .await;
    }
    events::publish(
        &ctx.recorder,
        subject.import,
        Note::normal(IMPORTED, summary),
    )
    .await;
    let Some(prepared) = &planned.report else {
        return Ok(Action::requeue(ctx.settings.resync));
    };
    if !report_delivery::wanted(&completed, tenant, &ctx.settings.recipient_domains) {
        // A resumed import whose report an earlier pass already delivered (or gave up on).
        return Ok(Action::requeue(ctx.settings.resync));
    }
    report_delivery::deliver(subject, ctx, tenant, completed, prepared).await
}

/// The template could not be downloaded: the status says why (unless a finished import of this
/// generation stands: then a Warning event does), and the download is tried again after a
/// back-off that doubles with each failure.
async fn fetch_failed(subject: &Subject<'_>, ctx: &Context, message: String) -> Result<Action> {
    let generation = subject.import.metadata.generation;
    let wait = ctx.fetch_failed(&subject.uid, generation);
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabel {
            error: "TemplateFetch",
        })
        .inc();
    tracing::warn!(import = %subject.name, namespace = %subject.namespace, %message, retry_in = ?wait, "the template could not be downloaded");
    let previous = subject.import.status.as_ref();
    if !status::has_result_for(previous, generation) {
        let failed = status::failed(&subject.basis(), TEMPLATE_FETCH_FAILED, &message);
        let same = previous.is_some_and(|previous| {
            previous.phase == failed.phase && previous.conditions == failed.conditions
        });
        if !same {
            subject.status.write(&failed).await?;
        }
    }
    let note = Note::warning(TEMPLATE_FETCH_FAILED, message);
    events::publish(&ctx.recorder, subject.import, note).await;
    Ok(Action::requeue(wait))
}

/// Records where the template came from (a Flux revision, an ETag) beside its digest.
fn with_source_version(status: &mut UserImportStatus, bytes: &TemplateBytes) {
    status.template_revision = bytes.revision.clone();
    status.template_etag = bytes.etag.clone();
}

/// The import cannot start. Writes the Stalled status (only when it changes, so a requeue of
/// a stalled import makes no write) and looks again later.
async fn stall(subject: &Subject<'_>, ctx: &Context, problem: SourceProblem) -> Result<Action> {
    let previous = subject.import.status.as_ref();
    if status::has_result_for(previous, subject.import.metadata.generation) {
        // The import of this generation is finished: a source deleted afterwards (a common
        // clean-up) does not undo it. A new template or spec starts a new import.
        return Ok(Action::await_change());
    }
    let stalled = status::stalled(&subject.basis(), problem.reason, &problem.message);
    if subject.import.status.as_ref() != Some(&stalled) {
        subject.status.write(&stalled).await?;
        tracing::info!(import = %subject.name, reason = problem.reason, "import stalled");
        let note = Note::warning(problem.reason, problem.message);
        events::publish(&ctx.recorder, subject.import, note).await;
    }
    Ok(Action::requeue(ctx.settings.stalled_requeue))
}

/// A reconcile that panicked: shown in the status (best effort) and as an event. The metric and
/// the log line are the guard's.
pub(super) async fn record_panic(import: &UserImport, ctx: &Context, panic: &str) {
    let Ok(subject) = Subject::of(import, &ctx.client) else {
        return;
    };
    // The reconcile may have written statuses the cache does not show yet (a Running status,
    // a result): build on the stored one, not on the one the reconcile started from.
    let stored = subject.status.api().get_status(&subject.name).await.ok();
    let previous = stored.as_ref().and_then(|stored| stored.status.as_ref());
    let basis = Basis {
        previous: previous.or(import.status.as_ref()),
        ..subject.basis()
    };
    let panicked = status::panicked(&basis, panic);
    if let Err(error) = subject.status.write(&panicked).await {
        tracing::warn!(import = %subject.name, %error, "could not write the ReconcilePanicked status");
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
    subject: Option<&Subject<'_>>,
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
    let Some(subject) = subject else {
        return;
    };
    // Built on the last status this reconcile wrote (a planned result stays for the retry),
    // else on the one it started from.
    let last = subject.status.last();
    let previous = last.as_ref().or(import.status.as_ref());
    let importing = subject.importing.load(Ordering::Relaxed);
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
        ..subject.basis()
    };
    let failed = status::failed(&basis, error.reason(), &error.to_string());
    if let Err(status_error) = subject.status.write(&failed).await {
        tracing::warn!(import = %subject.name, error = %status_error, "could not write the Failed status");
    }
    let note = Note::warning(RECONCILE_FAILED, error.to_string());
    events::publish(&ctx.recorder, import, note).await;
}
