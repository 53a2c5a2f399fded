//! The `--output table` view: the three sections as the product's screen shows them.
//! Highlighted fields are yellow on a terminal; the highlight sentence stands under New Data.
//!
//! [`render`] draws a whole report (the CLI's `plan` and `import`); [`render_sections`] draws
//! only the three sections of the [`crate::sections`] model, built from any lists of entries,
//! so that the kubectl plugin draws a UserImport status's capped lists exactly as the CLI draws
//! a plan.

use std::borrow::Cow;
use std::fmt::Write;

use crate::sections::{Cell, Column, Entries, Section, Sections, Table};
use user_import_engine::results::{Counts, ImportResults};

const YELLOW: &str = "\x1b[30;43m";
const RESET: &str = "\x1b[0m";

/// The columns the terminal draws of New Data: no highlight column, as a new user has nothing
/// stored to keep. Update Data shows every column of its own.
const NEW: &[Column] = &[
    Column::Row,
    Column::CoupaUserId,
    Column::CoupaUsername,
    Column::Email,
    Column::Username,
];
/// The columns the terminal draws of Problem Data: the Risk Assess user by username only, the
/// message last (the widest cell).
const PROBLEM: &[Column] = &[
    Column::Row,
    Column::CoupaUserId,
    Column::Reason,
    Column::Fields,
    Column::RiskAssessUser,
    Column::Message,
];

/// Renders the report. `color`: standard output is a terminal.
pub(crate) fn render(report: &ImportResults, color: bool) -> String {
    let style = Style {
        color,
        marks: false,
    };
    render_styled(report, style)
}

/// Renders the report with highlighted cells shown as `style` says.
pub(crate) fn render_styled(report: &ImportResults, style: Style) -> String {
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
    let sections = Sections::build(Entries {
        new: &report.new,
        update: &report.update,
        problem: &report.problem,
        // A report's lists are whole: the titles count what is drawn.
        counts: Counts {
            new: report.new.len(),
            update: report.update.len(),
            problem: report.problem.len(),
            ..report.counts
        },
        highlight_message: report.highlight_message.as_deref(),
    });
    render_sections(&mut out, &sections, style, None);
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

/// How highlighted cells are shown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    /// Yellow background (standard output is a terminal).
    pub(crate) color: bool,
    /// A `*` after each highlighted field name, and a legend under the sentence: the highlight
    /// survives without colour (piped output, a log, a colour-blind reader).
    pub(crate) marks: bool,
}

/// The legend drawn under the highlight sentence when highlighted fields are marked.
pub const MARK_LEGEND: &str = "(* after a field name: highlighted, not updated)";

/// For a section whose list holds fewer rows than its count: the line that says how many are
/// not shown and where they are, given the section and that number.
pub(crate) type Omitted = fn(Section, usize) -> String;

/// Draws New Data, the highlight sentence, Update Data and Problem Data, in that order, and
/// under a section cut short the line `omitted` gives, if any.
pub(crate) fn render_sections(
    out: &mut String,
    sections: &Sections,
    style: Style,
    omitted: Option<Omitted>,
) {
    section(out, &sections.new.select(NEW), style, omitted);
    if let Some(message) = sections.highlight_message {
        let _ = writeln!(out, "\n{message}");
        if style.marks {
            let _ = writeln!(out, "{MARK_LEGEND}");
        }
    }
    section(out, &sections.update, style, omitted);
    section(out, &sections.problem.select(PROBLEM), style, omitted);
}

/// Writes a titled section; a section with no rows says so.
fn section(out: &mut String, table: &Table, style: Style, omitted: Option<Omitted>) {
    let _ = writeln!(out, "\n{} ({})", table.section.title(), table.count);
    if table.rows.is_empty() {
        let _ = writeln!(out, "  (none)");
    } else {
        rows(out, table, style);
    }
    let shown = table.rows.len();
    if let (Some(line), true) = (omitted, table.count > shown) {
        let _ = writeln!(out, "  {}", line(table.section, table.count - shown));
    }
}

/// The header and the rows, each column as wide as its widest cell.
fn rows<'t>(out: &mut String, table: &'t Table, style: Style) {
    let text = |cell: &'t Cell| {
        if style.marks {
            cell.marked()
        } else {
            cell.shown()
        }
    };
    let header = table.headers.iter().map(|h| (Cow::Borrowed(*h), false));
    let mut lines = vec![header.collect::<Vec<_>>()];
    lines.extend((table.rows.iter()).map(|row| {
        let cells = row.iter().map(|cell| (text(cell), cell.highlighted));
        cells.collect::<Vec<_>>()
    }));
    let widths: Vec<usize> = (0..table.headers.len())
        .map(|column| {
            (lines.iter())
                .map(|line| line[column].0.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for cells in &lines {
        let mut line = String::from(" ");
        for ((text, highlighted), width) in cells.iter().zip(&widths) {
            let padding = " ".repeat(width - text.chars().count());
            if *highlighted && style.color {
                let _ = write!(line, " {YELLOW}{text}{RESET}{padding}");
            } else {
                let _ = write!(line, " {text}{padding}");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
