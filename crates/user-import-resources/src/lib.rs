//! The three custom resources of group `riskassess.io/v1alpha1` (docs/resources.md).
//!
//! These are plain serde types with the `kube::CustomResource` derive: they hold data and
//! describe the CRDs; nothing here talks to a cluster. This is the bottom layer: every other
//! crate may use it, and it uses none of them (its manifest has no other crate of this workspace), so that the CRD
//! schema changes only by a change made here.

#![warn(missing_docs, unreachable_pub)]

mod entries;
mod names;
mod tenant;
mod tenant_user;
mod user_import;

pub use entries::{Counts, NewEntry, ProblemEntry, ProblemReason, UpdateEntry, UserKeys};
pub use names::{OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN, is_object_name};
pub use tenant::{SecretName, SiteAdministrator, SsoSync, Tenant, TenantSpec};
pub use tenant_user::{TenantUser, TenantUserSpec, UserStatus};
pub use user_import::{
    ErrorReportState, ErrorReportStatus, FLUX_SOURCE_GROUP, FLUX_SOURCE_VERSION, FluxSourceKind,
    FluxSourceRef, ImportMode, ImportPhase, KeyRef, OnProblem, TemplateRef, TemplateSource,
    TenantRef, UrlSource, UserImport, UserImportSpec, UserImportStatus,
};

/// The API group of every resource of this operator.
pub const GROUP: &str = "riskassess.io";
/// The label that ties a `TenantUser` to its tenant.
pub const TENANT_LABEL: &str = "riskassess.io/tenant";

/// Rewrites schemars' formats of unsigned integers (`uint`, `uint32`, …), which kube-apiserver
/// does not know and warns about on every apply of the CRDs, to Kubernetes' `int64`/`int32`.
/// The `minimum: 0` that schemars writes beside them keeps them unsigned.
pub(crate) fn kubernetes_integer_formats(schema: &mut schemars::Schema) {
    schemars::transform::transform_subschemas(&mut kubernetes_integer_formats, schema);
    let format = match schema.get("format").and_then(serde_json::Value::as_str) {
        Some("uint" | "uint64") => "int64",
        Some("uint32" | "uint16" | "uint8") => "int32",
        _ => return,
    };
    schema.insert("format".into(), format.into());
}

/// The three CustomResourceDefinitions, in a stable order, as one multi-document YAML text.
pub fn crds_yaml() -> String {
    use kube::CustomResourceExt;
    let crds = [Tenant::crd(), TenantUser::crd(), UserImport::crd()];
    crds.iter()
        .map(|crd| serde_norway::to_string(crd).expect("a CRD always serialises"))
        .map(|doc| format!("---\n{doc}"))
        .collect()
}
