//! The entries of an import's result: the counts and the New, Update and Problem Data rows.
//!
//! They are part of the UserImport status, so they are part of the CRD schema and live here,
//! in the API layer. The core builds them and the command line prints them (its JSON report
//! embeds them), but a change to their shape is a change to the CRD: it is made here, where
//! `crds/` is generated from, and never as a side effect of a change to the core.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many rows fell in each section.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Counts {
    /// Rows that create a user.
    pub new: usize,
    /// Rows that change a user, or would but for highlighted fields.
    pub update: usize,
    /// Rows that match a user exactly: nothing to do.
    pub unchanged: usize,
    /// Rows that are not applied.
    pub problem: usize,
}

/// A row that creates a user (New Data).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewEntry {
    /// The row's number in the template (the header is row 1).
    pub row: usize,
    /// Coupa User ID.
    pub coupa_user_id: String,
    /// Coupa Username.
    pub coupa_username: String,
    /// Email.
    pub email: String,
    /// The Risk Assess username the user gets.
    pub username: String,
    /// Always empty for a new user (nothing is stored yet); kept for the shape of the report.
    pub highlighted_fields: Vec<String>,
}

/// A row that changes an existing user, or would but for highlighted fields (Update Data).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEntry {
    /// The row's number in the template (the header is row 1).
    pub row: usize,
    /// Coupa User ID.
    pub coupa_user_id: String,
    /// The Risk Assess username of the user that is updated.
    pub username: String,
    /// Fields written by this update, in TenantUser field order.
    pub changed_fields: Vec<String>,
    /// Non-editable fields of an SSO-synced user that the row would change: not applied.
    pub highlighted_fields: Vec<String>,
}

/// A row that is not applied at all (Problem Data).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProblemEntry {
    /// The row's number in the template (the header is row 1).
    pub row: usize,
    /// Coupa User ID, as written in the row.
    pub coupa_user_id: String,
    /// Why the row is not applied.
    pub reason: ProblemReason,
    /// Every field the problem concerns (TenantUser field names).
    pub fields: Vec<String>,
    /// The reason in words, naming the row, the column and the value.
    pub message: String,
    /// The Risk Assess user the row collided with, or null.
    pub conflicts_with: Option<UserKeys>,
}

/// Why a row is a problem. The order is the order of precedence (docs/validation.md):
/// `MissingMandatoryField`, `InvalidEmail`, `InvalidCoupaUserId`, `InvalidStatus`,
/// `DuplicateInTemplate` (a key repeats an earlier row's), `Mismatch` (the row's keys point at
/// different users, or at a user another row already took).
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum ProblemReason {
    MissingMandatoryField,
    InvalidEmail,
    InvalidCoupaUserId,
    InvalidStatus,
    DuplicateInTemplate,
    Mismatch,
}

impl ProblemReason {
    /// The reason's name, as the status, the JSON report and the error report spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemReason::MissingMandatoryField => "MissingMandatoryField",
            ProblemReason::InvalidEmail => "InvalidEmail",
            ProblemReason::InvalidCoupaUserId => "InvalidCoupaUserId",
            ProblemReason::InvalidStatus => "InvalidStatus",
            ProblemReason::DuplicateInTemplate => "DuplicateInTemplate",
            ProblemReason::Mismatch => "Mismatch",
        }
    }
}

/// The Risk Assess fields of a user that the error report shows.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserKeys {
    /// Username.
    pub username: String,
    /// Coupa Username.
    pub coupa_username: String,
    /// Email.
    pub email: String,
}
