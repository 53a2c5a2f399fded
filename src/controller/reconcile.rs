//! One reconcile of a UserImport: resolve, read, plan, apply, report. Every business rule lives
//! in `crate::core`; this module only moves data between the API server and the core.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::runtime::controller::Action;

use super::conditions::RECONCILE_PANICKED;
use super::context::{Context, ImportKey};
use super::error::{Error, Result};
use super::events::{self, Note};
use super::metrics::ErrorLabel;
use super::references;
use super::report_mail::{self, Prepared, Subject};
use super::status::{self, Basis};
use super::template_source::{self, SourceProblem, TemplateBytes};
use super::tenant_users;
use crate::core::error_report::{ErrorReport, write_error_report};
use crate::core::planner::{Plan, PlanOptions, plan};
use crate::core::report::{ImportReport, build_report};
use crate::core::template::{Template, read_template};
use crate::resources::{ImportMode, OnProblem, Tenant, UserImport, UserImportStatus};

/// The entry point given to the kube-runtime `Controller`.
pub async fn reconcile(import: Arc<UserImport>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let result = reconcile_import(&import, &ctx).await;
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if let Err(error) = &result {
        record_failure(&import, &ctx, error).await;
    } else if let Some(uid) = import.metadata.uid.as_deref() {
        ctx.reset_backoff(uid);
    }
    result
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
    imports: Api<UserImport>,
}

impl<'a> Target<'a> {
    fn of(import: &'a UserImport, ctx: &Context) -> Result<Self> {
        let namespace = import
            .metadata
            .namespace
            .clone()
            .ok_or(Error::MissingMetadata("namespace"))?;
        Ok(Target {
            import,
            name: import.metadata.name.clone().unwrap_or_default(),
            uid: import
                .metadata
                .uid
                .clone()
                .ok_or(Error::MissingMetadata("uid"))?,
            imports: Api::namespaced(ctx.client.clone(), &namespace),
            namespace,
        })
    }

    fn subject(&self) -> Subject<'_> {
        Subject {
            import: self.import,
            imports: &self.imports,
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
}

async fn reconcile_import(import: &UserImport, ctx: &Context) -> Result<Action> {
    let target = Target::of(import, ctx)?;
    if let Err(problem) = references::of_import(&import.spec) {
        return stall(&target, ctx, problem).await;
    }
    let tenant_name = &import.spec.tenant_ref.name;
    let tenants: Api<Tenant> = Api::namespaced(ctx.client.clone(), &target.namespace);
    let Some(tenant) = tenants.get_opt(tenant_name).await? else {
        let problem = SourceProblem {
            reason: "TenantNotFound",
            message: format!("Tenant {tenant_name:?} not found"),
        };
        return stall(&target, ctx, problem).await;
    };
    if let Err(problem) = references::of_tenant(&tenant) {
        return stall(&target, ctx, problem).await;
    }
    let source = template_source::fetch(&ctx.client, &target.namespace, &import.spec.template);
    let bytes = match source.await? {
        Ok(bytes) => bytes,
        Err(problem) => return stall(&target, ctx, problem).await,
    };
    let key = (import.metadata.generation, bytes.digest.clone());
    if status::is_done(import.status.as_ref(), key.0, &key.1) {
        // Same generation, same template, finished: never applied twice (spec section 6).
        // Only a report delivery may be left to do.
        return deliver_if_wanted(&target, ctx, &tenant, &bytes, &key).await;
    }
    if ctx.has_finished(&target.uid, &key) {
        // The cache still shows the status from before this process finished the import.
        return Ok(Action::requeue(ctx.settings.resync));
    }
    tracing::info!(import = %target.name, namespace = %target.namespace, digest = %key.1, "import starts");
    let running = status::running(&target.basis());
    status::write(&target.imports, &target.name, &running).await?;
    let action = import_template(&target, ctx, &tenant, &bytes, &running).await?;
    ctx.remember_finished(&target.uid, key);
    Ok(action)
}

/// Reads, plans, applies and reports. The Running status is already written.
async fn import_template(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    bytes: &TemplateBytes,
    running: &UserImportStatus,
) -> Result<Action> {
    // The Running status just written is the basis of the final one (startedAt, conditions).
    let basis = Basis {
        previous: Some(running),
        ..target.basis()
    };
    let template = match read_template(&bytes.bytes, &ctx.settings.limits) {
        Ok(template) => template,
        Err(rejection) => {
            let message = rejection.to_string();
            let rejected = status::rejected(&basis, &bytes.digest, &message);
            status::write(&target.imports, &target.name, &rejected).await?;
            tracing::info!(import = %target.name, "template rejected");
            events::publish(
                &ctx.recorder,
                target.import,
                Note::warning("TemplateRejected", message),
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    let tenant_name = tenant.metadata.name.clone().unwrap_or_default();
    let plan = plan_against_users(ctx, &target.namespace, tenant, &template).await?;
    let written = apply_plan(target, ctx, &tenant_name, &plan).await?;
    finish(
        target, ctx, tenant, &template, &plan, bytes, &basis, written,
    )
    .await
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
    let date = chrono::Utc::now().date_naive();
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
    let fresh = target.imports.get_status(&target.name).await?;
    let current =
        |status: &UserImportStatus| status::is_done(Some(status), key.0, &key.1) && wanted(status);
    let Some(status) = fresh.status.filter(current) else {
        return Ok(Action::requeue(ctx.settings.resync));
    };
    let prepared = match ctx.kept_report(&target.uid, key) {
        Some(prepared) => prepared,
        None => match rebuild_report(target, ctx, tenant, bytes).await? {
            Some(prepared) => Arc::new(prepared),
            None => return Ok(Action::requeue(ctx.settings.resync)),
        },
    };
    report_mail::deliver(&target.subject(), ctx, tenant, status, &prepared).await
}

/// After a restart the report of a finished import is not in memory: plan the same template
/// again (read-only) for its problem rows. Rows that were applied plan as unchanged now; the
/// problem rows, which were not applied, plan the same.
async fn rebuild_report(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    bytes: &TemplateBytes,
) -> Result<Option<Prepared>> {
    let Ok(template) = read_template(&bytes.bytes, &ctx.settings.limits) else {
        return Ok(None);
    };
    let plan = plan_against_users(ctx, &target.namespace, tenant, &template).await?;
    let (report, error_report) = reports(tenant, &template, &plan);
    Ok(error_report.map(|error_report| Prepared {
        report,
        error_report,
    }))
}

/// Applies the plan's writes unless the mode or `onProblem` forbids it. Returns the writes made,
/// or None when writing was withheld (and why).
async fn apply_plan(
    target: &Target<'_>,
    ctx: &Context,
    tenant_name: &str,
    plan: &Plan,
) -> Result<Result<usize, &'static str>> {
    let spec = &target.import.spec;
    if spec.mode == ImportMode::DryRun {
        return Ok(Err("DryRun: no TenantUser was written"));
    }
    if spec.on_problem == OnProblem::Abort && plan.counts.problem > 0 {
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
    )
    .await?;
    ctx.metrics.writes.inc_by(written as u64);
    Ok(Ok(written))
}

/// Writes the final status and tells about it (event, log, metrics).
#[allow(clippy::too_many_arguments)]
async fn finish(
    target: &Target<'_>,
    ctx: &Context,
    tenant: &Tenant,
    template: &Template,
    plan: &Plan,
    bytes: &TemplateBytes,
    basis: &Basis<'_>,
    written: Result<usize, &'static str>,
) -> Result<Action> {
    let (report, error_report) = reports(tenant, template, plan);
    let report_status = error_report
        .as_ref()
        .map(|file| status::error_report_pending(&file.file_name, file.rows));
    let mut completed = status::completed(basis, &report, report_status);
    // The digest of the bytes as fetched: the one `is_done` compares on the next reconcile.
    completed.template_digest = Some(bytes.digest.clone());
    if let Err(why) = written {
        // DryRun or Abort: say so where `kubectl get` users look first.
        status::note_on_ready(&mut completed, why);
    }
    status::write(&target.imports, &target.name, &completed).await?;
    ctx.metrics.count_rows(&plan.counts);
    let counts = &plan.counts;
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
    let problem_rows: Vec<usize> = plan.problem.iter().map(|entry| entry.row).collect();
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
            Note::warning("ProblemRows", message),
        )
        .await;
    }
    events::publish(
        &ctx.recorder,
        target.import,
        Note::normal("Imported", summary),
    )
    .await;
    let Some(error_report) = error_report else {
        return Ok(Action::requeue(ctx.settings.resync));
    };
    let prepared = Arc::new(Prepared {
        report,
        error_report,
    });
    let key = (target.import.metadata.generation, bytes.digest.clone());
    ctx.keep_report(&target.uid, key, prepared.clone());
    report_mail::deliver(&target.subject(), ctx, tenant, completed, &prepared).await
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
        status::write(&target.imports, &target.name, &stalled).await?;
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
    let stored = target.imports.get_status(&target.name).await.ok();
    let previous = stored.as_ref().and_then(|stored| stored.status.as_ref());
    let basis = Basis {
        previous: previous.or(import.status.as_ref()),
        ..target.basis()
    };
    let panicked = status::panicked(&basis, panic);
    if let Err(error) = status::write(&target.imports, &target.name, &panicked).await {
        tracing::warn!(import = %target.name, %error, "could not write the ReconcilePanicked status");
    }
    let note = Note::warning(
        RECONCILE_PANICKED,
        format!("the reconcile panicked: {panic}"),
    );
    events::publish(&ctx.recorder, import, note).await;
}

/// A controller error: counted, logged, shown in the status (best effort) and as an event.
async fn record_failure(import: &UserImport, ctx: &Context, error: &Error) {
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabel {
            error: error.kind(),
        })
        .inc();
    tracing::warn!(import = ?import.metadata.name, %error, "reconcile failed");
    let Ok(target) = Target::of(import, ctx) else {
        return;
    };
    let failed = status::failed(&target.basis(), &error.to_string());
    if let Err(status_error) = status::write(&target.imports, &target.name, &failed).await {
        tracing::warn!(import = %target.name, error = %status_error, "could not write the Failed status");
    }
    let note = Note::warning("ReconcileFailed", error.to_string());
    events::publish(&ctx.recorder, import, note).await;
}
