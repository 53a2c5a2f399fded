use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::entries::{Counts, NewEntry, ProblemEntry, UpdateEntry};
use super::names::{OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN};

/// One import of a User Import Template into a tenant.
// The CRD carries CEL rules (`x-kubernetes-validations`) that only an API server enforces:
// exactly one template source, and a `tenantRef` that never changes. The controller keeps its
// own checks (status reasons) for objects stored before the rules existed.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "riskassess.io",
    version = "v1alpha1",
    kind = "UserImport",
    namespaced,
    status = "UserImportStatus",
    shortname = "uimp",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"New","type":"integer","jsonPath":".status.counts.new"}"#,
    printcolumn = r#"{"name":"Update","type":"integer","jsonPath":".status.counts.update"}"#,
    printcolumn = r#"{"name":"Problem","type":"integer","jsonPath":".status.counts.problem"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct UserImportSpec {
    /// The Tenant (same namespace) to import into. Immutable: an import's counts, report and
    /// users belong to one tenant; another tenant is another UserImport.
    #[x_kube(validation = Rule::new("self == oldSelf").message(TENANT_REF_IMMUTABLE))]
    pub tenant_ref: TenantRef,
    /// Where the template CSV is: exactly one of `configMapKeyRef`, `secretKeyRef`.
    pub template: TemplateSource,
    /// `Apply` (default) writes users; `DryRun` only reports.
    #[serde(default)]
    pub mode: ImportMode,
    /// `Continue` (default) applies the good rows; `Abort` applies nothing if any row is a problem.
    #[serde(default)]
    pub on_problem: OnProblem,
}

/// The Tenant an import writes into.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TenantRef {
    /// The Tenant's name: a Kubernetes object name.
    #[schemars(length(max = OBJECT_NAME_MAX_LENGTH), pattern(OBJECT_NAME_PATTERN))]
    pub name: String,
}

/// The template's source. Exactly one of the two must be set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(ONE_TEMPLATE_SOURCE_RULE).message(ONE_TEMPLATE_SOURCE))]
pub struct TemplateSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
}

/// CEL: exactly one template source is set. A list of `has()`, so that another source kind
/// is one more entry (and one more name in [`ONE_TEMPLATE_SOURCE`]).
pub const ONE_TEMPLATE_SOURCE_RULE: &str =
    "[has(self.configMapKeyRef), has(self.secretKeyRef)].filter(set, set).size() == 1";
/// The message of [`ONE_TEMPLATE_SOURCE_RULE`].
pub const ONE_TEMPLATE_SOURCE: &str =
    "spec.template must set exactly one of configMapKeyRef, secretKeyRef";
/// The message of the CEL rule that keeps `spec.tenantRef` as created.
pub const TENANT_REF_IMMUTABLE: &str =
    "spec.tenantRef is immutable: create another UserImport to import into another Tenant";

/// A key of a ConfigMap or Secret in the UserImport's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct KeyRef {
    /// The ConfigMap's or Secret's name: a Kubernetes object name.
    #[schemars(length(max = OBJECT_NAME_MAX_LENGTH), pattern(OBJECT_NAME_PATTERN))]
    pub name: String,
    pub key: String,
}

/// The resolved template source, once exactly one reference is known to be set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TemplateRef {
    ConfigMap(KeyRef),
    Secret(KeyRef),
}

impl TemplateSource {
    /// The one reference that is set, or a message saying what is wrong.
    pub fn resolve(&self) -> Result<TemplateRef, &'static str> {
        match (&self.config_map_key_ref, &self.secret_key_ref) {
            (Some(key), None) => Ok(TemplateRef::ConfigMap(key.clone())),
            (None, Some(key)) => Ok(TemplateRef::Secret(key.clone())),
            (None, None) => Err("spec.template sets neither configMapKeyRef nor secretKeyRef"),
            (Some(_), Some(_)) => Err("spec.template sets both configMapKeyRef and secretKeyRef"),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ImportMode {
    #[default]
    Apply,
    DryRun,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OnProblem {
    #[default]
    Continue,
    Abort,
}

/// What the controller last did with this import (spec section 6).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::kubernetes_integer_formats)]
pub struct UserImportStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ImportPhase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `sha256:<hex>` of the template bytes this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_digest: Option<String>,
    /// `utf-8` or `windows-1252` (a file that was not valid UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// New Data, in row order (at most 100 entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new: Vec<NewEntry>,
    /// Update Data, in row order (at most 100 entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<UpdateEntry>,
    /// Problem Data, in row order (at most 100 entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problem: Vec<ProblemEntry>,
    /// True when any of the three lists was cut at 100 entries; `counts` has the full numbers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight_message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_report: Option<ErrorReportStatus>,
    /// RFC 3339 time the current import started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339 time the current import finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// `Ready`, `Reconciling`, `Stalled` (kstatus), `TemplateValid`, `ReportDelivered`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImportPhase {
    Pending,
    Running,
    Succeeded,
    SucceededWithProblems,
    Failed,
}

/// The error report and its delivery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReportStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default)]
    pub rows: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    pub state: ErrorReportState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ErrorReportState {
    #[default]
    NotNeeded,
    Pending,
    Sent,
    Failed,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde_json::{Value, json};

    use super::*;

    /// The schema of `spec` in the generated CRD.
    fn spec_schema() -> Value {
        let crd = serde_json::to_value(UserImport::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    #[test]
    fn the_crd_carries_the_cel_rules_with_their_messages() {
        let spec = spec_schema();
        assert_eq!(
            spec["properties"]["template"]["x-kubernetes-validations"],
            json!([{"rule": ONE_TEMPLATE_SOURCE_RULE, "message": ONE_TEMPLATE_SOURCE}])
        );
        assert_eq!(
            spec["properties"]["tenantRef"]["x-kubernetes-validations"],
            json!([{"rule": "self == oldSelf", "message": TENANT_REF_IMMUTABLE}])
        );
        // Each rule sits on its own field, nowhere else.
        let yaml = crate::resources::crds_yaml();
        assert_eq!(yaml.matches("x-kubernetes-validations").count(), 2);
    }

    #[test]
    fn the_one_source_rule_names_every_source_kind() {
        // A source kind added to `TemplateSource` must be added to the rule and its message.
        let spec = spec_schema();
        let sources = spec["properties"]["template"]["properties"]
            .as_object()
            .unwrap();
        assert!(sources.len() >= 2, "{sources:?}");
        for kind in sources.keys() {
            assert!(
                ONE_TEMPLATE_SOURCE_RULE.contains(&format!("has(self.{kind})")),
                "{kind}"
            );
            assert!(ONE_TEMPLATE_SOURCE.contains(kind.as_str()), "{kind}");
        }
    }
}
