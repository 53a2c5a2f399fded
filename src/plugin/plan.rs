//! `kubectl user-import plan NAME`: what the UserImport's current template would do against the
//! tenant's current users, planned by the core exactly as the controller plans it. Read-only:
//! the Tenant, the template's ConfigMap or Secret, and one paginated list of TenantUsers.

use std::io::Write;

use kube::{Api, Client};

use super::status::not_found;
use super::{EXIT_IMPORT_FAILED, EXIT_OK, Output, PluginError, Terminal, check_name};
use crate::cli::table::{self, Style};
use crate::controller::template_source::{self, Content, Fetched};
use crate::controller::{Settings, tenant_users};
use crate::core::error_report::error_report_summary;
use crate::core::planner::{PlanOptions, plan};
use crate::core::report::{ImportReport, build_report};
use crate::core::template::read_template;
use crate::resources::{ImportMode, OnProblem, Tenant, UserImport};

/// Why the import cannot be planned, with the reason the controller would put in `Stalled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blocked {
    /// PascalCase, as in a condition: `TenantNotFound`, `TemplateSourceNotFound`, …
    pub(crate) reason: String,
    /// What is wrong, for a person.
    pub(crate) message: String,
}

impl Blocked {
    fn new(reason: &str, message: impl Into<String>) -> Blocked {
        Blocked {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Runs `plan`: prints the report, or says why there is none; returns the exit status.
pub(crate) async fn run(
    client: &Client,
    namespace: &str,
    name: &str,
    output: Output,
    terminal: Terminal,
) -> Result<u8, PluginError> {
    let imports: Api<UserImport> = Api::namespaced(client.clone(), namespace);
    let import = imports
        .get_opt(name)
        .await?
        .ok_or_else(|| not_found(name, namespace))?;
    let report = match plan_import(client, namespace, &import).await? {
        Ok(report) => report,
        Err(blocked) => {
            eprintln!(
                "error: {namespace}/{name} cannot be planned: {}: {}",
                blocked.reason, blocked.message
            );
            return Ok(EXIT_IMPORT_FAILED);
        }
    };
    let text = match output {
        Output::Table => table_view(&import, &report, terminal.color),
        Output::Json => {
            let mut text = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
            text.push('\n');
            text
        }
        Output::Yaml => serde_norway::to_string(&report).map_err(anyhow::Error::from)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| PluginError::Failed(anyhow::anyhow!("writing the output: {error}")))?;
    Ok(EXIT_OK)
}

/// Plans `import`'s current template against its tenant's current users. `Ok(Err(_))` when the
/// import cannot be planned (the controller would call it Stalled); `Err` for API failures.
pub(crate) async fn plan_import(
    client: &Client,
    namespace: &str,
    import: &UserImport,
) -> Result<Result<ImportReport, Blocked>, PluginError> {
    let spec = &import.spec;
    // Names from a spec go into request paths: refuse one that cannot be an object name.
    let mut names = vec![("spec.tenantRef.name", &spec.tenant_ref.name)];
    if let Some(key) = &spec.template.config_map_key_ref {
        names.push(("spec.template.configMapKeyRef.name", &key.name));
    }
    if let Some(key) = &spec.template.secret_key_ref {
        names.push(("spec.template.secretKeyRef.name", &key.name));
    }
    for (field, name) in names {
        if let Err(message) = check_name(field, name) {
            return Ok(Err(Blocked::new("InvalidName", message)));
        }
    }
    let tenant_name = &spec.tenant_ref.name;
    let tenants: Api<Tenant> = Api::namespaced(client.clone(), namespace);
    let Some(tenant) = tenants.get_opt(tenant_name).await? else {
        let message = format!("Tenant {tenant_name:?} not found");
        return Ok(Err(Blocked::new("TenantNotFound", message)));
    };
    // The controller's own fetch: the same sources (ConfigMap, Secret, Flux artifact, URL), the
    // operator's default limits (its `run` flags, if changed, are not visible from here).
    let settings = Settings::default();
    let fetched = template_source::fetch(client, &settings, namespace, &spec.template, None)
        .await
        .map_err(|error| PluginError::Failed(error.into()))?;
    let fetched = match fetched {
        Fetched::Ready(fetched) => fetched,
        Fetched::Stalled(problem) => {
            return Ok(Err(Blocked::new(problem.reason, problem.message)));
        }
    };
    let read = match fetched.content {
        Content::Csv(csv) => read_template(&csv, &settings.limits).map_err(|r| r.to_string()),
        Content::Rejected(message) => Err(message),
        // Only a fetch that is told what it read before answers "unchanged"; this one is not.
        Content::Unchanged => Err("the source answered \"unchanged\" to a first read".into()),
    };
    let template = match read {
        Ok(template) => template,
        Err(rejection) => return Ok(Err(Blocked::new("TemplateRejected", rejection))),
    };
    let users = tenant_users::list(client, namespace, tenant_name)
        .await
        .map_err(|error| PluginError::Failed(error.into()))?;
    let options = PlanOptions {
        tenant: tenant_name.clone(),
        sso_sync: tenant.spec.sso_sync.enabled,
    };
    let plan = plan(&template, &users, &options);
    // Dated today, as the controller dates the report of an import that starts now.
    let display_name = &tenant.spec.display_name;
    let date = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    // Only the report is shown: the error report's name and size, not its CSV.
    let error_report = error_report_summary(display_name, date, &plan);
    Ok(Ok(build_report(
        display_name,
        &template,
        &plan,
        error_report,
    )))
}

/// The CLI's table of the report, under a line that says what was planned, and above a note
/// when the import's mode or `onProblem` would keep it from writing.
fn table_view(import: &UserImport, report: &ImportReport, color: bool) -> String {
    let namespace = import.metadata.namespace.as_deref().unwrap_or_default();
    let name = import.metadata.name.as_deref().unwrap_or_default();
    let source = super::view::template_source(&import.spec.template);
    let mut text = format!(
        "Plan of UserImport {namespace}/{name} ({source}) against the tenant's users as they are now; nothing was written.\n"
    );
    text.push_str(&table::render_styled(report, Style { color, marks: true }));
    if import.spec.mode == ImportMode::DryRun {
        text.push_str("Mode DryRun: the import reports this plan and writes no TenantUser.\n");
    } else if import.spec.on_problem == OnProblem::Abort && report.counts.problem > 0 {
        text.push_str(&format!(
            "onProblem Abort: with {} problem row(s), the import would write no TenantUser.\n",
            report.counts.problem
        ));
    }
    text
}
