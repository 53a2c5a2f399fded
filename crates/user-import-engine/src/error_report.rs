//! The error report (docs/error-report.md): one CSV row per problem row, with the original data,
//! the Risk Assess user it matched or collided with, and the reason.

use jiff::civil::Date;

use super::naming::{error_report_file_name, report_date};
use super::planner::Plan;
use super::results::ErrorReportSummary;
use super::template::Template;

/// A written error report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReport {
    /// `<tenant>_user_import_errors_<date>.csv` (docs/error-report.md).
    pub file_name: String,
    /// Problem rows in the report.
    pub rows: usize,
    /// The file's bytes: UTF-8 with a byte-order mark, CRLF line ends, RFC 4180 quoting.
    pub csv: Vec<u8>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The report of `plan`'s problem rows, or `None` when there are none.
pub fn write_error_report(
    tenant_display_name: &str,
    date: Date,
    template: &Template,
    plan: &Plan,
) -> Option<ErrorReport> {
    if plan.problem.is_empty() {
        return None;
    }
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.to_vec());
    let date_text = report_date(date);
    let header = std::iter::once("Sync Failed Date")
        .chain(template.headers.iter().map(String::as_str))
        .chain([
            "Risk Assess Username",
            "Risk Assess Coupa Username",
            "Risk Assess Email",
            "Reason",
        ]);
    write_record(&mut writer, header);
    for (entry, &position) in plan.problem.iter().zip(&plan.problem_rows) {
        let keys = entry.conflicts_with.clone().unwrap_or_default();
        let reason = format!("{}: {}", entry.reason.as_str(), entry.message);
        let record = std::iter::once(date_text.as_str())
            .chain(original_cells(template, position))
            .chain([
                keys.username.as_str(),
                keys.coupa_username.as_str(),
                keys.email.as_str(),
                reason.as_str(),
            ]);
        write_record(&mut writer, record);
    }
    let csv = writer.into_inner().expect("writing to memory cannot fail");
    let ErrorReportSummary { file_name, rows } =
        error_report_summary(tenant_display_name, date, plan)?;
    Some(ErrorReport {
        file_name,
        rows,
        csv,
    })
}

/// What the import's report says of the error report of `plan`'s problem rows, its name and
/// size, without writing its CSV; `None` when there are none.
pub fn error_report_summary(
    tenant_display_name: &str,
    date: Date,
    plan: &Plan,
) -> Option<ErrorReportSummary> {
    (!plan.problem.is_empty()).then(|| ErrorReportSummary {
        file_name: error_report_file_name(tenant_display_name, date),
        rows: plan.problem.len(),
    })
}

impl ErrorReport {
    /// What the import's report says of this error report.
    pub fn summary(&self) -> ErrorReportSummary {
        ErrorReportSummary {
            file_name: self.file_name.clone(),
            rows: self.rows,
        }
    }
}

/// The row's cells as they stand in the file, one per header (a short row's last are blank).
fn original_cells(template: &Template, position: usize) -> impl Iterator<Item = &str> {
    let row = &template.rows[position];
    (0..template.headers.len()).map(move |index| template.row_cell(row, index).unwrap_or(""))
}

fn write_record<'a>(writer: &mut csv::Writer<Vec<u8>>, cells: impl Iterator<Item = &'a str>) {
    let guarded: Vec<_> = cells.map(guard_formula).collect();
    writer
        .write_record(guarded.iter().map(|cell| cell.as_bytes()))
        .expect("writing to memory cannot fail");
}

/// Prefixes `'` to a cell a spreadsheet would run as a formula (formula injection).
pub(crate) fn guard_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}
