//! The three sections of an import (New Data, Update Data, Problem Data) as plain data: for
//! each section its count, and one row of cells per entry under the section's columns, each
//! cell saying whether it is highlighted (fields not applied: an SSO-synced user keeps them).
//!
//! Built once from a plan's report or a UserImport's status, then drawn by the terminal table
//! ([`crate::cli::table`], which the kubectl plugin draws with too) and by the report mail's
//! HTML ([`crate::mail::html`]). Each renderer picks the columns it shows ([`Table::select`]);
//! the headers and the cells of every column are made here only, so the three cannot drift.
//!
//! It lives beside the adapters rather than in the engine: it is presentation (headers, which
//! cells are drawn highlighted), used only by the adapters, and built from the resource types
//! alone, so it can move into the engine as it is if another crate ever draws the sections.

use std::borrow::Cow;

use user_import_resources::{Counts, NewEntry, ProblemEntry, UpdateEntry};

/// One of the three sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    New,
    Update,
    Problem,
}

impl Section {
    /// The section's title, as the product names it.
    pub(crate) const fn title(self) -> &'static str {
        match self {
            Section::New => "New Data",
            Section::Update => "Update Data",
            Section::Problem => "Problem Data",
        }
    }

    /// Every column of the section, in the order of a [`Table`]'s cells.
    pub(crate) const fn columns(self) -> &'static [Column] {
        use Column::*;
        match self {
            Section::New => &[Row, CoupaUserId, CoupaUsername, Email, Username, NotUpdated],
            Section::Update => &[Row, CoupaUserId, Username, Changed, NotUpdated],
            Section::Problem => &[
                Row,
                CoupaUserId,
                Reason,
                Fields,
                RiskAssessUser,
                Message,
                RiskAssessUsername,
                RiskAssessCoupaUsername,
                RiskAssessEmail,
            ],
        }
    }
}

/// A column of a section: one value of its entries, under a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    /// The row's number in the template.
    Row,
    CoupaUserId,
    CoupaUsername,
    Email,
    Username,
    /// The fields an update changes.
    Changed,
    /// The highlighted fields: not applied, the SSO-synced user keeps them.
    NotUpdated,
    /// A problem's reason code.
    Reason,
    /// The fields a problem concerns.
    Fields,
    /// A problem's message.
    Message,
    /// The username of the Risk Assess user a problem row collides with, under the terminal
    /// table's short header.
    RiskAssessUser,
    /// The same username, under the mail's header that stands beside the user's other keys.
    RiskAssessUsername,
    RiskAssessCoupaUsername,
    RiskAssessEmail,
}

impl Column {
    /// The column's header.
    pub(crate) const fn header(self) -> &'static str {
        match self {
            Column::Row => "Row",
            Column::CoupaUserId => "Coupa User ID",
            Column::CoupaUsername => "Coupa Username",
            Column::Email => "Email",
            Column::Username => "Username",
            Column::Changed => "Changed",
            Column::NotUpdated => "Not updated (SSO)",
            Column::Reason => "Reason",
            Column::Fields => "Fields",
            Column::Message => "Message",
            Column::RiskAssessUser => "Risk Assess User",
            Column::RiskAssessUsername => "Risk Assess Username",
            Column::RiskAssessCoupaUsername => "Risk Assess Coupa Username",
            Column::RiskAssessEmail => "Risk Assess Email",
        }
    }
}

/// What a cell holds: a text, or field names (shown joined by `, `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Text(Cow<'a, str>),
    Fields(&'a [String]),
}

/// One cell: its value, and whether it is highlighted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cell<'a> {
    pub(crate) value: Value<'a>,
    /// The cell lists fields that are not applied (drawn in yellow).
    pub(crate) highlighted: bool,
}

impl<'a> Cell<'a> {
    fn text(text: impl Into<Cow<'a, str>>) -> Self {
        Cell {
            value: Value::Text(text.into()),
            highlighted: false,
        }
    }

    fn fields(fields: &'a [String]) -> Self {
        Cell {
            value: Value::Fields(fields),
            highlighted: false,
        }
    }

    /// The fields of `fields` not applied: highlighted when there is any.
    fn not_applied(fields: &'a [String]) -> Self {
        Cell {
            value: Value::Fields(fields),
            highlighted: !fields.is_empty(),
        }
    }

    /// The cell as text: field names joined by `, `.
    pub(crate) fn shown(&self) -> Cow<'_, str> {
        match &self.value {
            Value::Text(text) => Cow::Borrowed(text),
            Value::Fields(fields) => Cow::Owned(fields.join(", ")),
        }
    }

    /// The cell as text, each field name of a highlighted cell followed by `*`: the highlight
    /// survives where there is no colour (piped output, a log, a colour-blind reader).
    pub(crate) fn marked(&self) -> Cow<'_, str> {
        match &self.value {
            Value::Fields(fields) if self.highlighted => {
                let marked: Vec<String> = fields.iter().map(|field| format!("{field}*")).collect();
                Cow::Owned(marked.join(", "))
            }
            _ => self.shown(),
        }
    }
}

/// One section: its count, its columns' headers, and a row of cells per entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Table<'a> {
    pub(crate) section: Section,
    /// Rows in the section, the number in its title. A capped list (a status keeps 100) holds
    /// fewer rows.
    pub(crate) count: usize,
    /// The headers, one per cell of a row.
    pub(crate) headers: Vec<&'static str>,
    /// One row per entry, in template order.
    pub(crate) rows: Vec<Vec<Cell<'a>>>,
}

impl<'a> Table<'a> {
    fn new(section: Section, count: usize, rows: Vec<Vec<Cell<'a>>>) -> Self {
        let headers = section.columns().iter().map(|c| c.header()).collect();
        Table {
            section,
            count,
            headers,
            rows,
        }
    }

    /// The table of `columns` only, in that order: the columns a renderer shows.
    ///
    /// # Panics
    ///
    /// When a column is not one of the section's (a renderer's fixed list is wrong).
    pub(crate) fn select(&self, columns: &[Column]) -> Table<'a> {
        let at: Vec<usize> = columns
            .iter()
            .map(|column| {
                let all = self.section.columns();
                all.iter().position(|c| c == column).unwrap_or_else(|| {
                    panic!("{column:?} is no column of {:?}", self.section.title())
                })
            })
            .collect();
        Table {
            section: self.section,
            count: self.count,
            headers: columns.iter().map(|c| c.header()).collect(),
            rows: (self.rows.iter())
                .map(|row| at.iter().map(|&i| row[i].clone()).collect())
                .collect(),
        }
    }
}

/// What the sections are built from: a plan's report's lists or a status's capped ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entries<'a> {
    pub(crate) new: &'a [NewEntry],
    pub(crate) update: &'a [UpdateEntry],
    pub(crate) problem: &'a [ProblemEntry],
    /// The rows in each section: the titles' numbers.
    pub(crate) counts: Counts,
    /// The sentence shown right below New Data, when any field is highlighted.
    pub(crate) highlight_message: Option<&'a str>,
}

/// The three sections, ready to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sections<'a> {
    pub(crate) new: Table<'a>,
    pub(crate) update: Table<'a>,
    pub(crate) problem: Table<'a>,
    /// The sentence drawn right below New Data, when any field is highlighted.
    pub(crate) highlight_message: Option<&'a str>,
}

impl<'a> Sections<'a> {
    /// The sections of `entries`.
    pub(crate) fn build(entries: Entries<'a>) -> Self {
        let new = entries.new.iter().map(new_row).collect();
        let update = entries.update.iter().map(update_row).collect();
        let problem = entries.problem.iter().map(problem_row).collect();
        let counts = entries.counts;
        Sections {
            new: Table::new(Section::New, counts.new, new),
            update: Table::new(Section::Update, counts.update, update),
            problem: Table::new(Section::Problem, counts.problem, problem),
            highlight_message: entries.highlight_message,
        }
    }
}

// One cell per column of the section, in `Section::columns` order.

fn new_row(entry: &NewEntry) -> Vec<Cell<'_>> {
    vec![
        Cell::text(entry.row.to_string()),
        Cell::text(&entry.coupa_user_id),
        Cell::text(&entry.coupa_username),
        Cell::text(&entry.email),
        Cell::text(&entry.username),
        Cell::not_applied(&entry.highlighted_fields),
    ]
}

fn update_row(entry: &UpdateEntry) -> Vec<Cell<'_>> {
    vec![
        Cell::text(entry.row.to_string()),
        Cell::text(&entry.coupa_user_id),
        Cell::text(&entry.username),
        Cell::fields(&entry.changed_fields),
        Cell::not_applied(&entry.highlighted_fields),
    ]
}

fn problem_row(entry: &ProblemEntry) -> Vec<Cell<'_>> {
    let user = entry.conflicts_with.as_ref();
    let key = |key: fn(&_) -> &String| Cell::text(user.map_or("", |user| key(user).as_str()));
    vec![
        Cell::text(entry.row.to_string()),
        Cell::text(&entry.coupa_user_id),
        Cell::text(entry.reason.as_str()),
        Cell::fields(&entry.fields),
        key(|user| &user.username),
        Cell::text(&entry.message),
        key(|user| &user.username),
        key(|user| &user.coupa_username),
        key(|user| &user.email),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use user_import_resources::{ProblemReason, UserKeys};

    fn problem() -> ProblemEntry {
        ProblemEntry {
            row: 17,
            coupa_user_id: "1010".into(),
            reason: ProblemReason::Mismatch,
            fields: vec!["coupaUsername".into(), "email".into()],
            message: "taken".into(),
            conflicts_with: Some(UserKeys {
                username: "bk".into(),
                coupa_username: "bking".into(),
                email: "bk@acme.test".into(),
            }),
        }
    }

    fn update(highlighted: &[&str]) -> UpdateEntry {
        UpdateEntry {
            row: 3,
            coupa_user_id: "1002".into(),
            username: "asmith".into(),
            changed_fields: vec!["title".into()],
            highlighted_fields: highlighted.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn built<'a>(updates: &'a [UpdateEntry], problems: &'a [ProblemEntry]) -> Sections<'a> {
        Sections::build(Entries {
            new: &[],
            update: updates,
            problem: problems,
            counts: Counts {
                problem: 250,
                ..Counts::default()
            },
            highlight_message: None,
        })
    }

    fn texts(table: &Table) -> Vec<Vec<String>> {
        let row = |row: &Vec<Cell>| row.iter().map(|c| c.shown().into_owned()).collect();
        table.rows.iter().map(row).collect()
    }

    #[test]
    fn every_row_has_a_cell_per_column() {
        let (problems, updates) = ([problem()], [update(&["city"])]);
        let sections = built(&updates, &problems);
        for table in [&sections.update, &sections.problem] {
            assert_eq!(table.headers.len(), table.section.columns().len());
            assert!(
                table
                    .rows
                    .iter()
                    .all(|row| row.len() == table.headers.len())
            );
        }
    }

    #[test]
    fn a_selection_keeps_the_order_asked_for() {
        let problems = [problem()];
        let sections = built(&[], &problems);
        let chosen = [Column::Row, Column::Message, Column::RiskAssessEmail];
        let table = sections.problem.select(&chosen);
        assert_eq!(table.headers, ["Row", "Message", "Risk Assess Email"]);
        assert_eq!(texts(&table), [["17", "taken", "bk@acme.test"]]);
        assert_eq!(table.count, 250);
        let fields = sections.problem.select(&[Column::Fields]);
        assert_eq!(texts(&fields), [["coupaUsername, email"]]);
    }

    #[test]
    fn only_fields_not_applied_are_highlighted_and_marked() {
        let updates = [update(&["lastName", "city"]), update(&[])];
        let sections = built(&updates, &[]);
        let highlighted: Vec<Vec<bool>> = (sections.update.rows.iter())
            .map(|row| row.iter().map(|cell| cell.highlighted).collect())
            .collect();
        let kept = vec![false, false, false, false, true];
        assert_eq!(highlighted, [kept, vec![false; 5]]);
        let kept = &sections.update.rows[0][4];
        assert_eq!(kept.shown(), "lastName, city");
        assert_eq!(kept.marked(), "lastName*, city*");
        // Changed fields are applied: never marked.
        assert_eq!(sections.update.rows[0][3].marked(), "title");
    }

    #[test]
    #[should_panic(expected = "no column of")]
    fn a_column_of_another_section_is_refused() {
        let _ = built(&[], &[]).new.select(&[Column::Reason]);
    }
}
