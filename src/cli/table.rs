//! The `--output table` view: the three sections as the product's screen shows them.
//! Highlighted fields are yellow on a terminal; the highlight sentence stands under New Data.

use std::fmt::Write;

use crate::core::report::ImportReport;

const YELLOW: &str = "\x1b[30;43m";
const RESET: &str = "\x1b[0m";

/// A cell, and whether it is shown highlighted.
struct Cell {
    text: String,
    highlighted: bool,
}

fn plain(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        highlighted: false,
    }
}

/// Renders the report. `color`: standard output is a terminal.
pub fn render(report: &ImportReport, color: bool) -> String {
    let mut out = String::new();
    let template = &report.template;
    let _ = writeln!(
        out,
        "Tenant: {}\nTemplate: {} rows, {}, delimiter {:?}, {}",
        report.tenant, template.rows, template.encoding, template.delimiter, template.digest
    );
    if !template.ignored_columns.is_empty() {
        let _ = writeln!(
            out,
            "Ignored columns: {}",
            template.ignored_columns.join(", ")
        );
    }
    section(&mut out, "New Data", new_rows(report), color);
    if let Some(message) = &report.highlight_message {
        let _ = writeln!(out, "\n{message}");
    }
    section(&mut out, "Update Data", update_rows(report), color);
    section(&mut out, "Problem Data", problem_rows(report), color);
    let counts = report.counts;
    let _ = writeln!(
        out,
        "\nNew: {}  Update: {}  Unchanged: {}  Problem: {}",
        counts.new, counts.update, counts.unchanged, counts.problem
    );
    if let Some(error_report) = &report.error_report {
        let _ = writeln!(
            out,
            "Error report: {} ({} rows)",
            error_report.file_name, error_report.rows
        );
    }
    out
}

fn new_rows(report: &ImportReport) -> Vec<Vec<Cell>> {
    let header = [
        "Row",
        "Coupa User ID",
        "Coupa Username",
        "Email",
        "Username",
    ];
    let mut rows = vec![header.map(plain).into()];
    rows.extend(report.new.iter().map(|entry| {
        vec![
            plain(entry.row.to_string()),
            plain(&entry.coupa_user_id),
            plain(&entry.coupa_username),
            plain(&entry.email),
            plain(&entry.username),
        ]
    }));
    rows
}

fn update_rows(report: &ImportReport) -> Vec<Vec<Cell>> {
    let header = [
        "Row",
        "Coupa User ID",
        "Username",
        "Changed",
        "Not updated (SSO)",
    ];
    let mut rows = vec![header.map(plain).into()];
    rows.extend(report.update.iter().map(|entry| {
        vec![
            plain(entry.row.to_string()),
            plain(&entry.coupa_user_id),
            plain(&entry.username),
            plain(entry.changed_fields.join(", ")),
            Cell {
                text: entry.highlighted_fields.join(", "),
                highlighted: !entry.highlighted_fields.is_empty(),
            },
        ]
    }));
    rows
}

fn problem_rows(report: &ImportReport) -> Vec<Vec<Cell>> {
    let header = [
        "Row",
        "Coupa User ID",
        "Reason",
        "Fields",
        "Risk Assess User",
        "Message",
    ];
    let mut rows = vec![header.map(plain).into()];
    rows.extend(report.problem.iter().map(|entry| {
        let user = entry
            .conflicts_with
            .as_ref()
            .map(|keys| keys.username.clone())
            .unwrap_or_default();
        vec![
            plain(entry.row.to_string()),
            plain(&entry.coupa_user_id),
            plain(entry.reason.as_str()),
            plain(entry.fields.join(", ")),
            plain(user),
            plain(&entry.message),
        ]
    }));
    rows
}

/// Writes a titled section; a section with no rows says so.
fn section(out: &mut String, title: &str, rows: Vec<Vec<Cell>>, color: bool) {
    let _ = writeln!(out, "\n{title} ({})", rows.len() - 1);
    if rows.len() == 1 {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].text.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(&widths) {
            let padding = " ".repeat(width - cell.text.chars().count());
            if cell.highlighted && color {
                let _ = write!(line, " {YELLOW}{}{RESET}{padding}", cell.text);
            } else {
                let _ = write!(line, " {}{padding}", cell.text);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
