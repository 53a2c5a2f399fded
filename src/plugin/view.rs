//! A UserImport as text: its identity and phase, the three sections as the CLI's table draws
//! them, the error report's delivery and the conditions. Pure: no I/O.

use std::fmt::Write;

use crate::cli::table::{self, Style};
use crate::controller::status::LIST_CAP;
use crate::sections::{Entries, Section, Sections};
use user_import_resources::{
    Counts, ErrorReportState, ErrorReportStatus, ImportPhase, TemplateSource, UserImport,
    UserImportStatus,
};

const READY: &str = "Ready";
const STALLED: &str = "Stalled";

/// The status view of `import`. `color`: draw highlighted fields in yellow. Highlighted fields
/// are always marked with `*` as well, so that piped output keeps them.
pub(crate) fn render_status(import: &UserImport, color: bool) -> String {
    let mut out = String::new();
    let status = import.status.as_ref();
    let metadata = &import.metadata;
    let spec = &import.spec;
    let mut fields = vec![
        ("Name", metadata.name.clone().unwrap_or_default()),
        ("Namespace", metadata.namespace.clone().unwrap_or_default()),
        ("Tenant", spec.tenant_ref.name.clone()),
        ("Template", template_source(&spec.template)),
        (
            "Mode",
            format!("{:?}, on problem {:?}", spec.mode, spec.on_problem),
        ),
        ("Phase", phase(status)),
    ];
    if let Some(status) = status {
        if let Some(digest) = &status.template_digest {
            let encoding = status
                .template_encoding
                .as_deref()
                .unwrap_or("encoding unknown");
            fields.push(("Digest", format!("{digest} ({encoding})")));
        }
        if let Some(started) = &status.started_at {
            fields.push(("Started", started.clone()));
        }
        if let Some(completed) = &status.completed_at {
            fields.push(("Completed", completed.clone()));
        }
        if !status.ignored_columns.is_empty() {
            fields.push(("Ignored columns", status.ignored_columns.join(", ")));
        }
    }
    key_values(&mut out, "", &fields);
    let Some(status) = status else {
        let _ = writeln!(
            out,
            "\nNo status yet: the controller has not picked this UserImport up (is the operator running?)."
        );
        return out;
    };
    if status.observed_generation != metadata.generation {
        let _ = writeln!(
            out,
            "\nThis status describes generation {}; the spec is at generation {}: the controller has not caught up yet.",
            number(status.observed_generation),
            number(metadata.generation),
        );
    }
    match status.counts {
        Some(counts) => sections(&mut out, status, counts, color),
        None => {
            let _ = writeln!(
                out,
                "\nNo sections yet: the import has not finished (phase {}).",
                phase(Some(status))
            );
        }
    }
    error_report(&mut out, status.error_report.as_ref());
    conditions(&mut out, status);
    out
}

/// True when the import is Failed, or Stalled: a pipeline should stop.
pub(crate) fn is_failed_or_stalled(import: &UserImport) -> bool {
    let Some(status) = &import.status else {
        return false;
    };
    status.phase == Some(ImportPhase::Failed) || condition_is_true(status, STALLED)
}

/// True when the import is Ready for the current generation of its spec.
pub(crate) fn is_ready(import: &UserImport) -> bool {
    let Some(status) = &import.status else {
        return false;
    };
    let generation = import.metadata.generation;
    status.observed_generation == generation
        && status.conditions.iter().any(|condition| {
            condition.type_ == READY
                && condition.status == "True"
                && condition
                    .observed_generation
                    .is_none_or(|g| Some(g) == generation)
        })
}

/// `ConfigMap NAME, key KEY`, `Secret NAME, key KEY`, `GitRepository NAME, path PATH` or
/// `URL URL`; every source the spec sets (the CRD allows one), or `(none set)`.
pub(crate) fn template_source(source: &TemplateSource) -> String {
    let mut parts = Vec::new();
    if let Some(key) = &source.config_map_key_ref {
        parts.push(format!("ConfigMap {}, key {}", key.name, key.key));
    }
    if let Some(key) = &source.secret_key_ref {
        parts.push(format!("Secret {}, key {}", key.name, key.key));
    }
    if let Some(flux) = &source.source_ref {
        let path = source.path.as_deref().unwrap_or("(no path)");
        parts.push(format!("{} {}, path {path}", flux.kind.kind(), flux.name));
    }
    if let Some(url) = &source.url {
        parts.push(format!("URL {}", url.url));
    }
    if parts.is_empty() {
        "(none set)".into()
    } else {
        parts.join(" and ")
    }
}

fn condition_is_true(status: &UserImportStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|condition| condition.type_ == type_ && condition.status == "True")
}

fn phase(status: Option<&UserImportStatus>) -> String {
    match status.and_then(|status| status.phase) {
        Some(phase) => format!("{phase:?}"),
        None => "(none yet)".into(),
    }
}

fn number(value: Option<i64>) -> String {
    value.map_or_else(|| "?".into(), |value| value.to_string())
}

/// The three sections of the status's lists, drawn by the CLI's table, and the counts line.
fn sections(out: &mut String, status: &UserImportStatus, counts: Counts, color: bool) {
    let sections = Sections::build(Entries {
        new: &status.new,
        update: &status.update,
        problem: &status.problem,
        counts,
        highlight_message: status.highlight_message.as_deref(),
    });
    let style = Style { color, marks: true };
    table::render_sections(out, &sections, style, Some(omitted));
    let _ = writeln!(
        out,
        "\nNew: {}  Update: {}  Unchanged: {}  Problem: {}",
        counts.new, counts.update, counts.unchanged, counts.problem
    );
}

/// The line under a list the controller cut at [`LIST_CAP`] entries: how many rows are not
/// shown, and where every row can be seen.
fn omitted(section: Section, hidden: usize) -> String {
    let kept = format!("… {hidden} more row(s) not shown: the status keeps the first {LIST_CAP}");
    match section {
        Section::Problem => format!("{kept}; the error report lists every problem row"),
        Section::New | Section::Update => format!(
            "{kept}; the command line's `plan` of the same template against the users as they were before the import lists every row"
        ),
    }
}

fn error_report(out: &mut String, report: Option<&ErrorReportStatus>) {
    let Some(report) = report else {
        return;
    };
    if report.state == ErrorReportState::NotNeeded {
        let _ = writeln!(out, "\nError report: not needed (no problem rows)");
        return;
    }
    let mut fields = Vec::new();
    if let Some(file_name) = &report.file_name {
        fields.push(("File", format!("{file_name} ({} rows)", report.rows)));
    }
    fields.push((
        "Recipient",
        report
            .recipient
            .clone()
            .unwrap_or_else(|| "(none yet)".into()),
    ));
    let state = match (&report.state, &report.sent_at) {
        (ErrorReportState::Sent, Some(sent_at)) => format!("Sent at {sent_at}"),
        (state, _) => format!("{state:?}"),
    };
    fields.push(("State", state));
    fields.push(("Attempts", report.attempts.to_string()));
    if let Some(last_error) = &report.last_error {
        fields.push(("Last error", last_error.clone()));
    }
    let _ = writeln!(out, "\nError report");
    key_values(out, "  ", &fields);
}

fn conditions(out: &mut String, status: &UserImportStatus) {
    if status.conditions.is_empty() {
        return;
    }
    let mut rows = vec![["Type", "Status", "Reason", "Message"].map(String::from)];
    rows.extend(status.conditions.iter().map(|condition| {
        [
            condition.type_.clone(),
            condition.status.clone(),
            condition.reason.clone(),
            condition.message.clone(),
        ]
    }));
    let _ = writeln!(out, "\nConditions");
    let widths: Vec<usize> = (0..4)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, " {cell:<width$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// `Key:   value` lines with the values aligned.
fn key_values(out: &mut String, indent: &str, fields: &[(&str, String)]) {
    let width = fields
        .iter()
        .map(|(key, _)| key.len() + 1)
        .max()
        .unwrap_or(0);
    for (key, value) in fields {
        let key = format!("{key}:");
        let _ = writeln!(out, "{indent}{key:<width$} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use user_import_resources::{
        KeyRef, NewEntry, ProblemEntry, ProblemReason, TenantRef, UpdateEntry, UserImportSpec,
    };

    fn import(status: Option<UserImportStatus>) -> UserImport {
        let mut import = UserImport::new(
            "acme-2026-11",
            UserImportSpec {
                tenant_ref: TenantRef {
                    name: "acme".into(),
                },
                template: TemplateSource {
                    config_map_key_ref: Some(KeyRef {
                        name: "acme-user-import".into(),
                        key: "template.csv".into(),
                    }),
                    ..TemplateSource::default()
                },
                mode: Default::default(),
                on_problem: Default::default(),
            },
        );
        import.metadata.namespace = Some("acme".into());
        import.metadata.generation = Some(1);
        import.status = status;
        import
    }

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn update(row: usize, highlighted: &[&str]) -> UpdateEntry {
        UpdateEntry {
            row,
            coupa_user_id: format!("{}", 1000 + row),
            username: format!("user{row}"),
            changed_fields: vec!["title".into()],
            highlighted_fields: highlighted.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn no_status_says_so() {
        let text = render_status(&import(None), false);
        assert!(text.contains("No status yet"), "{text}");
        assert!(!is_failed_or_stalled(&import(None)));
        assert!(!is_ready(&import(None)));
    }

    #[test]
    fn highlights_are_marked_without_colour_and_yellow_with_it() {
        let status = UserImportStatus {
            phase: Some(ImportPhase::Succeeded),
            observed_generation: Some(1),
            counts: Some(Counts {
                new: 1,
                update: 1,
                unchanged: 0,
                problem: 0,
            }),
            new: vec![NewEntry {
                row: 2,
                coupa_user_id: "1001".into(),
                coupa_username: "jdoe".into(),
                email: "jdoe@acme.test".into(),
                username: "jdoe".into(),
                highlighted_fields: vec![],
            }],
            update: vec![update(3, &["lastName", "city"])],
            highlight_message: Some(user_import_engine::results::HIGHLIGHT_MESSAGE.into()),
            conditions: vec![condition(READY, "True", "Imported")],
            ..Default::default()
        };
        let import = import(Some(status));
        let plain = render_status(&import, false);
        assert!(plain.contains("lastName*, city*"), "{plain}");
        assert!(!plain.contains('\x1b'));
        let new_data = plain.find("New Data (1)").unwrap();
        let sentence = plain.find("Any field highlighted in yellow").unwrap();
        let update_data = plain.find("Update Data (1)").unwrap();
        assert!(new_data < sentence && sentence < update_data, "{plain}");
        assert!(plain.contains(table::MARK_LEGEND));
        let coloured = render_status(&import, true);
        assert!(
            coloured.contains("\x1b[30;43mlastName*, city*\x1b[0m"),
            "{coloured}"
        );
        assert!(is_ready(&import));
        assert!(!is_failed_or_stalled(&import));
    }

    #[test]
    fn capped_lists_say_how_many_rows_are_not_shown() {
        let problem = |row| ProblemEntry {
            row,
            coupa_user_id: "x".into(),
            reason: ProblemReason::InvalidCoupaUserId,
            fields: vec!["coupaUserId".into()],
            message: "not all digits".into(),
            conflicts_with: None,
        };
        let status = UserImportStatus {
            phase: Some(ImportPhase::SucceededWithProblems),
            observed_generation: Some(1),
            counts: Some(Counts {
                new: 0,
                update: 0,
                unchanged: 0,
                problem: 250,
            }),
            problem: (2..102).map(problem).collect(),
            truncated: true,
            ..Default::default()
        };
        let text = render_status(&import(Some(status)), false);
        assert!(text.contains("Problem Data (250)"), "{text}");
        assert!(
            text.contains("… 150 more row(s) not shown: the status keeps the first 100; the error report lists every problem row"),
            "{text}"
        );
    }

    #[test]
    fn stalled_and_failed_imports_fail_the_pipeline() {
        let stalled = UserImportStatus {
            phase: Some(ImportPhase::Pending),
            observed_generation: Some(1),
            conditions: vec![
                condition(READY, "False", "TemplateSourceNotFound"),
                condition(STALLED, "True", "TemplateSourceNotFound"),
            ],
            ..Default::default()
        };
        let stalled = import(Some(stalled));
        assert!(is_failed_or_stalled(&stalled));
        assert!(!is_ready(&stalled));
        let text = render_status(&stalled, false);
        let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            squeezed.contains("Stalled True TemplateSourceNotFound"),
            "{text}"
        );
        assert!(text.contains("No sections yet"), "{text}");
        let failed = UserImportStatus {
            phase: Some(ImportPhase::Failed),
            ..Default::default()
        };
        assert!(is_failed_or_stalled(&import(Some(failed))));
    }

    #[test]
    fn a_status_of_an_older_generation_is_not_ready() {
        let status = UserImportStatus {
            phase: Some(ImportPhase::Succeeded),
            observed_generation: Some(1),
            conditions: vec![condition(READY, "True", "Imported")],
            ..Default::default()
        };
        let mut import = import(Some(status));
        import.metadata.generation = Some(2);
        assert!(!is_ready(&import));
        assert!(render_status(&import, false).contains("the controller has not caught up"));
    }
}
