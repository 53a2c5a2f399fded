//! The one read path of an import: the names its spec refers to, its Tenant, its template and
//! the tenant's users, read from the cluster and planned by the engine.
//!
//! The controller imports what [`read_import`] returns, and `kubectl user-import plan` shows
//! it: one path, so that the plugin checks the same names as the controller, in the same order,
//! and says why an import cannot be planned with the reason the controller writes in `Stalled`.

use std::convert::Infallible;
use std::future::Future;

use kube::{Api, Client};
use user_import_engine::matching::UserIndex;
use user_import_engine::planner::{Plan, PlanOptions, Writes, plan_checked};
use user_import_engine::template::{Template, TemplateLimits, read_template};
use user_import_engine::validation::validate_rows;
use user_import_resources::{Tenant, UserImportSpec};

use super::error::{Error, Result};
use super::reasons::TENANT_NOT_FOUND;
use super::references;
use super::template_source::{Content, Fetched, SourceProblem, TemplateBytes};
use super::tenant_users;

/// What reading an import found. `Skip` is what the caller's gate answered for a template it
/// does not want read ([`Infallible`] for a caller that reads every template).
#[derive(Debug)]
pub(crate) enum Read<Skip = Infallible> {
    /// The import cannot start until the user fixes something: a `Stalled` reason of
    /// [`super::reasons`] and a message.
    Stalled(SourceProblem),
    /// The template could not be downloaded (unreachable, an HTTP error); a later try may work.
    FetchFailed(String),
    /// The template was fetched, and the gate said not to read it.
    Skipped {
        /// The gate's answer.
        skip: Skip,
        /// The import's Tenant (boxed: the other outcomes are small).
        tenant: Box<Tenant>,
        /// The template as fetched, not read.
        bytes: TemplateBytes,
    },
    /// The template is no acceptable template (`TemplateRejected`): nothing is planned.
    Rejected {
        /// The template as fetched.
        bytes: TemplateBytes,
        /// Why it was rejected, for the status and the event.
        message: String,
    },
    /// The template, planned against the tenant's users as they are now.
    Planned(Box<Planned>),
}

/// An import read and planned: what it was planned from, and the plan.
#[derive(Debug)]
pub(crate) struct Planned {
    /// The import's Tenant.
    pub(crate) tenant: Tenant,
    /// The template as fetched (its digest and source version identify the import).
    pub(crate) bytes: TemplateBytes,
    /// The template as read.
    pub(crate) template: Template,
    /// The plan of it against the tenant's users.
    pub(crate) plan: Plan,
}

/// Reads the import of `spec` in `namespace` and plans it. In order: every name the spec
/// refers to (as an object name), the Tenant and the names of its spec, the template (`fetch`,
/// which the caller makes: the controller's remembers what it fetched before), then — unless
/// `gate` answers `Some` for the bytes fetched — the template read within `limits`, one list of
/// the tenant's users, and the plan.
///
/// `Err` for what a retry may cure (the API server), and for a template that `fetch` reported
/// unchanged but `gate` wants read: the caller fetches it whole on its next try.
pub(crate) async fn read_import<Skip>(
    client: &Client,
    limits: &TemplateLimits,
    namespace: &str,
    spec: &UserImportSpec,
    fetch: impl Future<Output = Result<Fetched>>,
    gate: impl FnOnce(&TemplateBytes) -> Option<Skip>,
) -> Result<Read<Skip>> {
    if let Err(problem) = references::of_import(spec) {
        return Ok(Read::Stalled(problem));
    }
    let tenant_name = &spec.tenant_ref.name;
    let tenants: Api<Tenant> = Api::namespaced(client.clone(), namespace);
    let Some(tenant) = tenants.get_opt(tenant_name).await? else {
        return Ok(Read::Stalled(SourceProblem {
            reason: TENANT_NOT_FOUND,
            message: format!("Tenant {tenant_name:?} not found"),
        }));
    };
    if let Err(problem) = references::of_tenant(&tenant) {
        return Ok(Read::Stalled(problem));
    }
    let bytes = match fetch.await {
        Ok(Fetched::Ready(bytes)) => bytes,
        Ok(Fetched::Stalled(problem)) => return Ok(Read::Stalled(problem)),
        Err(Error::Fetch(message)) => return Ok(Read::FetchFailed(message)),
        Err(error) => return Err(error),
    };
    if let Some(skip) = gate(&bytes) {
        return Ok(Read::Skipped {
            skip,
            tenant: Box::new(tenant),
            bytes,
        });
    }
    let read = match &bytes.content {
        Content::Csv(csv) => read_template(csv, limits).map_err(|r| r.to_string()),
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
            return Ok(Read::Rejected { bytes, message });
        }
    };
    let plan = plan_against_users(client, namespace, &tenant, &template).await?;
    Ok(Read::Planned(Box::new(Planned {
        tenant,
        bytes,
        template,
        plan,
    })))
}

/// Plans `template` against `tenant`'s users as they are now (one paginated list). The last
/// step of [`read_import`]; also the controller's, when it plans a template read before again.
pub(crate) async fn plan_against_users(
    client: &Client,
    namespace: &str,
    tenant: &Tenant,
    template: &Template,
) -> Result<Plan> {
    let tenant_name = tenant.metadata.name.clone().unwrap_or_default();
    let users = tenant_users::list(client, namespace, &tenant_name).await?;
    let options = PlanOptions {
        tenant: tenant_name,
        sso_sync: tenant.spec.sso_sync.enabled,
    };
    let index = UserIndex::new(&users);
    let problems = validate_rows(template);
    Ok(plan_checked(
        template,
        problems,
        &index,
        &options,
        Writes::Keep,
    ))
}
