//! `kubectl user-import plan NAME`: what the UserImport's current template would do against the
//! tenant's current users, planned by the core exactly as the controller plans it. Read-only:
//! the Tenant, the template's ConfigMap or Secret, and one paginated list of TenantUsers.

use std::convert::Infallible;
use std::io::Write;

use kube::{Api, Client};

use super::status_command::not_found;
use super::{EXIT_IMPORT_FAILED, EXIT_OK, Output, PluginError, Terminal};
use crate::cli::table::{self, Style};
use crate::controller::Settings;
use crate::controller::error::Error as ControllerError;
use crate::controller::read::{Read, read_import};
use crate::controller::reasons::TEMPLATE_REJECTED;
use crate::controller::template_source::{self, SourceProblem, TemplateBytes};
use user_import_engine::error_report::error_report_summary;
use user_import_engine::results::{ImportResults, build_results};
use user_import_resources::{ImportMode, OnProblem, UserImport};

/// What `plan` found: the report, or why the import cannot be planned.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The import's template planned against the tenant's users as they are now.
    Planned(Box<ImportResults>),
    /// Why it cannot be planned: the reason the controller writes in `Stalled`, and a message.
    Blocked(SourceProblem),
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
        Outcome::Planned(report) => report,
        Outcome::Blocked(blocked) => {
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

/// Plans `import`'s current template against its tenant's current users, by the controller's
/// own read path. `Err` for API failures and failed downloads.
pub(crate) async fn plan_import(
    client: &Client,
    namespace: &str,
    import: &UserImport,
) -> Result<Outcome, PluginError> {
    // The operator's default limits: its `run` flags, if changed, are not visible from here.
    let settings = Settings::default();
    let spec = &import.spec;
    // No `known` version: the template is fetched whole, never answered "unchanged".
    let fetch = template_source::fetch(client, &settings, namespace, &spec.template, None);
    // A plan is made whatever the status says: no template is skipped.
    let gate = |_: &TemplateBytes| None::<Infallible>;
    let read = read_import(client, &settings.limits, namespace, spec, fetch, gate);
    let planned = match read.await.map_err(anyhow::Error::from)? {
        Read::Planned(planned) => planned,
        Read::Stalled(problem) => return Ok(Outcome::Blocked(problem)),
        Read::Rejected { message, .. } => {
            let problem = SourceProblem {
                reason: TEMPLATE_REJECTED,
                message,
            };
            return Ok(Outcome::Blocked(problem));
        }
        Read::FetchFailed(message) => {
            return Err(anyhow::Error::from(ControllerError::Fetch(message)).into());
        }
        Read::Skipped { skip, .. } => match skip {},
    };
    // Dated today, as the controller dates the report of an import that starts now.
    let display_name = &planned.tenant.spec.display_name;
    let date = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    // Only the report is shown: the error report's name and size, not its CSV.
    let error_report = error_report_summary(display_name, date, &planned.plan);
    let report = build_results(display_name, &planned.template, &planned.plan, error_report);
    Ok(Outcome::Planned(Box::new(report)))
}

/// The CLI's table of the report, under a line that says what was planned, and above a note
/// when the import's mode or `onProblem` would keep it from writing.
fn table_view(import: &UserImport, report: &ImportResults, color: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::reasons::INVALID_REFERENCE;
    use user_import_resources::{
        FluxSourceKind, FluxSourceRef, KeyRef, SecretName, TemplateSource, TenantRef, UrlSource,
        UserImportSpec,
    };

    /// A client for an address nothing listens on: the names are checked before any request.
    fn unreachable_client() -> Client {
        // What the binaries install at start (the client's TLS needs one provider).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        Client::try_from(config).unwrap()
    }

    fn import(tenant: &str, template: TemplateSource) -> UserImport {
        let spec = UserImportSpec {
            tenant_ref: TenantRef {
                name: tenant.into(),
            },
            template,
            mode: Default::default(),
            on_problem: Default::default(),
        };
        UserImport::new("acme-2026-11", spec)
    }

    /// The plugin refuses every name the controller refuses, with the controller's reason,
    /// before it sends a request: the Flux source's and a URL's Secret too.
    #[tokio::test]
    async fn every_name_is_checked_with_the_controllers_reason() {
        let key = |name: &str| KeyRef {
            name: name.into(),
            key: "template.csv".into(),
        };
        let cases = [
            (
                import("../acme", TemplateSource::default()),
                "spec.tenantRef.name",
            ),
            (
                import(
                    "acme",
                    TemplateSource {
                        config_map_key_ref: Some(key("A")),
                        ..Default::default()
                    },
                ),
                "spec.template.configMapKeyRef.name",
            ),
            (
                import(
                    "acme",
                    TemplateSource {
                        secret_key_ref: Some(key("a/b")),
                        ..Default::default()
                    },
                ),
                "spec.template.secretKeyRef.name",
            ),
            (
                import(
                    "acme",
                    TemplateSource {
                        source_ref: Some(FluxSourceRef {
                            kind: FluxSourceKind::GitRepository,
                            name: "../x".into(),
                        }),
                        ..Default::default()
                    },
                ),
                "spec.template.sourceRef.name",
            ),
            (
                import(
                    "acme",
                    TemplateSource {
                        url: Some(UrlSource {
                            secret_ref: Some(SecretName {
                                name: "../creds".into(),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ),
                "spec.template.url.secretRef.name",
            ),
        ];
        let client = unreachable_client();
        for (import, field) in cases {
            let outcome = plan_import(&client, "acme", &import).await.unwrap();
            let Outcome::Blocked(problem) = outcome else {
                panic!("{field}: planned");
            };
            assert_eq!(problem.reason, INVALID_REFERENCE, "{field}");
            assert!(problem.message.starts_with(field), "{}", problem.message);
        }
    }
}
