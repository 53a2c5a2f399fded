//! The result of an import as data: the three sections and their counts (docs/results.md).
//! The CLI prints it as JSON or a table; the controller copies it into the UserImport status.

use serde::{Deserialize, Serialize};

/// The entries of the report are those of the UserImport status, defined with the CRDs (their
/// shape is part of the CRD schema); re-exported here because the report is made of them.
pub use user_import_resources::{
    Counts, NewEntry, ProblemEntry, ProblemReason, UpdateEntry, UserKeys,
};

/// The sentence shown under New Data when any field is highlighted (the vendor note, verbatim).
pub const HIGHLIGHT_MESSAGE: &str = "Any field highlighted in yellow above will not be updated via the user import template due to this user being a SSO synced user with Coupa Enterprise.";

/// The whole report, in the exact shape of the CLI's `--output json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImportResults {
    /// The tenant imported into.
    pub tenant: String,
    /// What was read from the template.
    pub template: TemplateSummary,
    /// How many rows fell in each section.
    pub counts: Counts,
    /// New Data, in row order.
    pub new: Vec<NewEntry>,
    /// Update Data, in row order.
    pub update: Vec<UpdateEntry>,
    /// Problem Data, in row order.
    pub problem: Vec<ProblemEntry>,
    /// The one sentence under New Data that says why highlighted fields were not applied.
    pub highlight_message: Option<String>,
    /// The error report, when there are problem rows.
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

/// The error report file, when there are problem rows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReportSummary {
    /// The report's file name.
    pub file_name: String,
    /// How many problem rows it holds.
    pub rows: usize,
}

/// Assembles the JSON report of a plan.
pub fn build_results(
    tenant_display_name: &str,
    template: &super::template::Template,
    plan: &super::planner::Plan,
    error_report: Option<ErrorReportSummary>,
) -> ImportResults {
    let sections = Sections {
        highlights: plan.has_highlights(),
        new: plan.new.clone(),
        update: plan.update.clone(),
        problem: plan.problem.clone(),
    };
    assemble(tenant_display_name, template, plan, sections, error_report)
}

/// [`build_results`], with the three sections moved out of `plan` (which keeps them empty)
/// rather than copied: for a caller that needs them no more in the plan, as the controller,
/// which applies the plan's writes. At 200,000 rows a copy of the sections is some 60 MB.
pub fn take_results(
    tenant_display_name: &str,
    template: &super::template::Template,
    plan: &mut super::planner::Plan,
    error_report: Option<ErrorReportSummary>,
) -> ImportResults {
    let sections = Sections {
        highlights: plan.has_highlights(),
        new: std::mem::take(&mut plan.new),
        update: std::mem::take(&mut plan.update),
        problem: std::mem::take(&mut plan.problem),
    };
    assemble(tenant_display_name, template, plan, sections, error_report)
}

/// New, Update and Problem Data, in row order, and whether a field is highlighted.
struct Sections {
    highlights: bool,
    new: Vec<NewEntry>,
    update: Vec<UpdateEntry>,
    problem: Vec<ProblemEntry>,
}

fn assemble(
    tenant_display_name: &str,
    template: &super::template::Template,
    plan: &super::planner::Plan,
    sections: Sections,
    error_report: Option<ErrorReportSummary>,
) -> ImportResults {
    ImportResults {
        tenant: tenant_display_name.to_string(),
        template: TemplateSummary {
            rows: template.rows.len(),
            encoding: template.encoding.as_str().to_string(),
            delimiter: (template.delimiter as char).to_string(),
            digest: template.digest.clone(),
            ignored_columns: template.ignored_columns(),
        },
        counts: plan.counts,
        new: sections.new,
        update: sections.update,
        problem: sections.problem,
        highlight_message: sections.highlights.then(|| HIGHLIGHT_MESSAGE.to_string()),
        error_report,
    }
}
