//! The `--output table` view: the three sections as the product's screen shows them.
//! Highlighted fields are yellow on a terminal; the highlight sentence stands under New Data.
//!
//! [`render`] draws a whole report (the CLI's `plan` and `import`); [`render_sections`] draws
//! only the three sections, from any lists of entries, so that the kubectl plugin draws a
//! UserImport status's capped lists exactly as the CLI draws a plan.

use std::fmt::Write;

use crate::core::report::{Counts, ImportReport, NewEntry, ProblemEntry, UpdateEntry};

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
pub(crate) fn render(report: &ImportReport, color: bool) -> String {
    let style = Style {
        color,
        marks: false,
    };
    render_styled(report, style)
}

/// Renders the report with highlighted cells shown as `style` says.
pub(crate) fn render_styled(report: &ImportReport, style: Style) -> String {
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
    let sections = Sections {
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
        omitted: None,
    };
    render_sections(&mut out, &sections, style);
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

/// The three sections to draw: a plan's full lists, or a UserImport status's capped ones.
pub(crate) struct Sections<'a> {
    /// New Data, in row order.
    pub(crate) new: &'a [NewEntry],
    /// Update Data, in row order.
    pub(crate) update: &'a [UpdateEntry],
    /// Problem Data, in row order.
    pub(crate) problem: &'a [ProblemEntry],
    /// Rows in each section: the numbers in the titles. A capped list holds fewer.
    pub(crate) counts: Counts,
    /// The sentence drawn right below New Data, when any field is highlighted.
    pub(crate) highlight_message: Option<&'a str>,
    /// For a section whose list holds fewer rows than its count: the line that says how many
    /// are not shown and where they are, given the section and that number.
    pub(crate) omitted: Option<fn(Section, usize) -> String>,
}

/// One of the three sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    New,
    Update,
    Problem,
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

/// Draws New Data, the highlight sentence, Update Data and Problem Data, in that order.
pub(crate) fn render_sections(out: &mut String, sections: &Sections, style: Style) {
    section(
        out,
        "New Data",
        sections.counts.new,
        new_rows(sections.new),
        style,
    );
    omitted(out, sections, Section::New, sections.new.len());
    if let Some(message) = sections.highlight_message {
        let _ = writeln!(out, "\n{message}");
        if style.marks {
            let _ = writeln!(out, "{MARK_LEGEND}");
        }
    }
    let update = update_rows(sections.update, style.marks);
    section(out, "Update Data", sections.counts.update, update, style);
    omitted(out, sections, Section::Update, sections.update.len());
    let problem = problem_rows(sections.problem);
    section(out, "Problem Data", sections.counts.problem, problem, style);
    omitted(out, sections, Section::Problem, sections.problem.len());
}

/// The line under a section whose list was cut short, when the caller gave one.
fn omitted(out: &mut String, sections: &Sections, which: Section, shown: usize) {
    let total = match which {
        Section::New => sections.counts.new,
        Section::Update => sections.counts.update,
        Section::Problem => sections.counts.problem,
    };
    if let (Some(line), true) = (sections.omitted, total > shown) {
        let _ = writeln!(out, "  {}", line(which, total - shown));
    }
}

fn new_rows(entries: &[NewEntry]) -> Vec<Vec<Cell>> {
    let header = [
        "Row",
        "Coupa User ID",
        "Coupa Username",
        "Email",
        "Username",
    ];
    let mut rows = vec![header.map(plain).into()];
    rows.extend(entries.iter().map(|entry| {
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

fn update_rows(entries: &[UpdateEntry], marks: bool) -> Vec<Vec<Cell>> {
    let header = [
        "Row",
        "Coupa User ID",
        "Username",
        "Changed",
        "Not updated (SSO)",
    ];
    let mut rows = vec![header.map(plain).into()];
    rows.extend(entries.iter().map(|entry| {
        vec![
            plain(entry.row.to_string()),
            plain(&entry.coupa_user_id),
            plain(&entry.username),
            plain(entry.changed_fields.join(", ")),
            Cell {
                text: highlighted(&entry.highlighted_fields, marks),
                highlighted: !entry.highlighted_fields.is_empty(),
            },
        ]
    }));
    rows
}

fn problem_rows(entries: &[ProblemEntry]) -> Vec<Vec<Cell>> {
    let header = [
        "Row",
        "Coupa User ID",
        "Reason",
        "Fields",
        "Risk Assess User",
        "Message",
    ];
    let mut rows = vec![header.map(plain).into()];
    rows.extend(entries.iter().map(|entry| {
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

/// The highlighted field names of a cell, each followed by `*` when marked.
fn highlighted(fields: &[String], marks: bool) -> String {
    if marks {
        let marked: Vec<String> = fields.iter().map(|field| format!("{field}*")).collect();
        marked.join(", ")
    } else {
        fields.join(", ")
    }
}

/// Writes a titled section of `count` rows; a section with no rows says so.
fn section(out: &mut String, title: &str, count: usize, rows: Vec<Vec<Cell>>, style: Style) {
    let _ = writeln!(out, "\n{title} ({count})");
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
            if cell.highlighted && style.color {
                let _ = write!(line, " {YELLOW}{}{RESET}{padding}", cell.text);
            } else {
                let _ = write!(line, " {}{padding}", cell.text);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
