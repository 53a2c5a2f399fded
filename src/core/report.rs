//! The result of an import as data: the three sections and their counts (spec section 6).
//! The CLI prints it as JSON or a table; the controller copies it into the UserImport status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The sentence shown under New Data when any field is highlighted (the vendor note, verbatim).
pub const HIGHLIGHT_MESSAGE: &str = "Any field highlighted in yellow above will not be updated via the user import template due to this user being a SSO synced user with Coupa Enterprise.";

/// The whole report, in the exact shape of the CLI's `--output json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub tenant: String,
    pub template: TemplateSummary,
    pub counts: Counts,
    pub new: Vec<NewEntry>,
    pub update: Vec<UpdateEntry>,
    pub problem: Vec<ProblemEntry>,
    pub highlight_message: Option<String>,
    pub error_report: Option<ErrorReportSummary>,
}

/// What was read from the template.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    /// User rows read (blank lines not counted).
    pub rows: usize,
    /// `utf-8` or `windows-1252`.
    pub encoding: String,
    /// `,`, `;` or `\t`.
    pub delimiter: String,
    /// `sha256:<hex>` of the template's bytes.
    pub digest: String,
    /// Original headers of the columns that map to no field, in column order.
    pub ignored_columns: Vec<String>,
}

/// How many rows fell in each section.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Counts {
    pub new: usize,
    pub update: usize,
    pub unchanged: usize,
    pub problem: usize,
}

/// A row that creates a user (New Data).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewEntry {
    pub row: usize,
    pub coupa_user_id: String,
    pub coupa_username: String,
    pub email: String,
    pub username: String,
    /// Always empty for a new user (nothing is stored yet); kept for the shape of the report.
    pub highlighted_fields: Vec<String>,
}

/// A row that changes an existing user, or would but for highlighted fields (Update Data).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEntry {
    pub row: usize,
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
    pub row: usize,
    pub coupa_user_id: String,
    pub reason: ProblemReason,
    /// Every field the problem concerns (TenantUser field names).
    pub fields: Vec<String>,
    pub message: String,
    /// The Risk Assess user the row collided with, or null.
    pub conflicts_with: Option<UserKeys>,
}

/// Why a row is a problem. The order is the order of precedence (spec section 3).
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
    pub username: String,
    pub coupa_username: String,
    pub email: String,
}

/// The error report file, when there are problem rows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReportSummary {
    pub file_name: String,
    pub rows: usize,
}

/// Assembles the JSON report of a plan.
pub fn build_report(
    tenant_display_name: &str,
    template: &super::template::Template,
    plan: &super::planner::Plan,
    error_report: Option<&super::error_report::ErrorReport>,
) -> ImportReport {
    ImportReport {
        tenant: tenant_display_name.to_string(),
        template: TemplateSummary {
            rows: template.rows.len(),
            encoding: template.encoding.as_str().to_string(),
            delimiter: (template.delimiter as char).to_string(),
            digest: template.digest.clone(),
            ignored_columns: template.ignored_columns(),
        },
        counts: plan.counts,
        new: plan.new.clone(),
        update: plan.update.clone(),
        problem: plan.problem.clone(),
        highlight_message: plan.has_highlights().then(|| HIGHLIGHT_MESSAGE.to_string()),
        error_report: error_report.map(|report| ErrorReportSummary {
            file_name: report.file_name.clone(),
            rows: report.rows,
        }),
    }
}
