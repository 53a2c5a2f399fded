use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names::{OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN};

/// A Risk Assess tenant: who gets the error report, and whether imported users are SSO-synced.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "riskassess.io",
    version = "v1alpha1",
    kind = "Tenant",
    namespaced,
    shortname = "rat",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Administrator","type":"string","jsonPath":".spec.defaultSiteAdministrator.email"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// The tenant name shown in the error report's title and file name.
    pub display_name: String,
    /// Who receives the error report (Admin > Company Information > Settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_site_administrator: Option<SiteAdministrator>,
    /// SSO sync with Coupa Enterprise.
    #[serde(default)]
    pub sso_sync: SsoSync,
    /// A Secret (keys `url`, optional `from`, `password`) that overrides the operator-wide SMTP settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_secret_ref: Option<SecretName>,
}

/// The tenant's default site administrator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteAdministrator {
    /// The administrator's name, as the report mail greets them.
    #[serde(default)]
    pub name: String,
    /// Where the error report is mailed.
    pub email: String,
}

/// SSO sync settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoSync {
    /// Users created or linked by an import become `ssoSynced: true` (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for SsoSync {
    fn default() -> Self {
        SsoSync { enabled: true }
    }
}

fn yes() -> bool {
    true
}

/// A reference to a Secret in the tenant's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretName {
    /// The Secret's name: a Kubernetes object name.
    #[schemars(length(max = OBJECT_NAME_MAX_LENGTH), pattern(OBJECT_NAME_PATTERN))]
    pub name: String,
}
