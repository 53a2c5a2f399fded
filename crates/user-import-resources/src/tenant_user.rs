use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One user record of a tenant. Labelled `riskassess.io/tenant: <tenant name>`.
///
/// Every text field is optional: a blank and an absent value mean the same to the import.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "riskassess.io",
    version = "v1alpha1",
    kind = "TenantUser",
    namespaced,
    shortname = "rau",
    printcolumn = r#"{"name":"Username","type":"string","jsonPath":".spec.username"}"#,
    printcolumn = r#"{"name":"Coupa User ID","type":"string","jsonPath":".spec.coupaUserId"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".spec.status"}"#,
    printcolumn = r#"{"name":"SSO","type":"boolean","jsonPath":".spec.ssoSynced"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantUserSpec {
    /// The Risk Assess username (template column Username): the login, unique in the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// First Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Middle Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Last Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email: unique in the tenant, compared without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Status: `Active`, `Inactive` or `Deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<UserStatus>,
    /// Coupa Username: the user's login in Coupa.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupa_username: Option<String>,
    /// Digits only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]*$"))]
    pub coupa_user_id: Option<String>,
    /// The user is synced with Coupa Enterprise over SSO: its non-editable fields keep their values.
    #[serde(default)]
    pub sso_synced: bool,
    /// Prefix (Mr, Ms, Dr, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Culture (a locale such as `en-US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culture: Option<String>,
    /// Business Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_phone: Option<String>,
    /// Business Ext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_ext: Option<String>,
    /// Mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Home phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Fax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// Mailing Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_address: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State/Province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_province: Option<String>,
    /// Postal Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A user's status, stored capitalised: `Active`, `Inactive` or `Deleted` (docs/template.md).
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum UserStatus {
    Active,
    Inactive,
    Deleted,
}

impl UserStatus {
    /// Parses a template cell, ignoring case.
    pub fn parse(text: &str) -> Option<UserStatus> {
        [
            UserStatus::Active,
            UserStatus::Inactive,
            UserStatus::Deleted,
        ]
        .into_iter()
        .find(|status| status.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The status as stored and as the template spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "Active",
            UserStatus::Inactive => "Inactive",
            UserStatus::Deleted => "Deleted",
        }
    }
}
