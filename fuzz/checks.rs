//! What both fuzzers check on any input: the stable-Rust property run (`fuzz/proptest.rs`, a
//! test of the main crate) and the libFuzzer targets (`fuzz/fuzz_targets`, run with
//! `cargo fuzz`). Each function takes arbitrary bytes and panics only when the code under test
//! breaks a rule: a rejected input must be an error, never a panic, and an accepted one must
//! come out whole (every row in exactly one section, counts that add up, a records file that
//! reads back as it was written).

// Each libFuzzer target uses one half of this module.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::OnceLock;

use user_import_engine::error_report::write_error_report;
use user_import_engine::matching::ExistingUser;
use user_import_engine::planner::{Plan, PlanOptions, plan};
use user_import_engine::results::build_results;
use user_import_engine::template::{Template, TemplateLimits, read_capped, read_template};
use user_import_operator::cli::records_file::{PlanRecords, RecordsFile, RecordsFormat};

/// The bundled example template: the seed the structured mutations start from.
pub const EXAMPLE_TEMPLATE: &[u8] = include_bytes!("../examples/template.csv");

/// The bundled example records: the other seed.
pub const EXAMPLE_RECORDS: &[u8] = include_bytes!("../examples/records.yaml");

/// Limits small enough that fuzzed inputs reach them, large enough for the examples.
fn limits() -> TemplateLimits {
    TemplateLimits {
        max_bytes: 64 * 1024,
        max_rows: 500,
        max_cell_chars: 256,
    }
}

/// The example users: a template is planned against none and against these.
fn example_users() -> &'static [ExistingUser] {
    static USERS: OnceLock<Vec<ExistingUser>> = OnceLock::new();
    USERS.get_or_init(|| {
        RecordsFile::parse(EXAMPLE_RECORDS)
            .expect("the example records read")
            .users
    })
}

/// The example template, read: records files are planned against it.
fn example_template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        read_template(EXAMPLE_TEMPLATE, &TemplateLimits::default())
            .expect("the example template reads")
    })
}

/// Reads `bytes` as a template (through the size-limited reader, as the CLI does) and, when it
/// is accepted, plans it and writes its reports, checking every invariant on the way.
pub fn template(bytes: &[u8]) {
    let limits = limits();
    let template = match read_capped(bytes, &limits).and_then(|b| read_template(&b, &limits)) {
        Ok(template) => template,
        Err(rejection) => {
            assert!(!rejection.to_string().is_empty(), "a rejection says why");
            return;
        }
    };
    check_template(&template, &limits);
    for users in [&[][..], example_users()] {
        for tenant in ["acme", "a-very-long-tenant-name-"] {
            check_plan(&template, users, tenant);
        }
    }
}

/// `plan`'s read, and `other`, a read of the same bytes another way (`how`): the same users and
/// label, or the same error.
fn assert_same_read<E: std::fmt::Display + std::fmt::Debug>(
    plan_read: &Result<PlanRecords, E>,
    other: Result<PlanRecords, E>,
    how: &str,
) {
    match (plan_read, other) {
        (Ok(plan_read), Ok(other)) => {
            assert_eq!(
                plan_read.users.to_existing(),
                other.users.to_existing(),
                "users read {how}"
            );
            assert_eq!(
                plan_read.tenant_label(),
                other.tenant_label(),
                "label read {how}"
            );
        }
        (Err(plan_read), Err(other)) => {
            assert_eq!(format!("{plan_read:#}"), format!("{other:#}"), "read {how}")
        }
        (plan_read, other) => panic!(
            "plan's read and the read {how} disagree: {:?} against {:?}",
            plan_read.as_ref().map(|records| records.users.len()),
            other.map(|records| records.users.len())
        ),
    }
}

/// Reads `bytes` as a records file and, when it is accepted, checks that it names every
/// object once, renders, reads back as the same users, and can be planned against; and that
/// `plan`'s partial read accepts it with the same users and label, or, when it refuses it,
/// that the full read refuses it too.
pub fn records(bytes: &[u8]) {
    let plan_read = PlanRecords::parse(bytes);
    // Read in tiny blocks, cut anywhere (inside a key, a number, a character), the same.
    let block = 1 + bytes.len() % 16;
    let blocks = PlanRecords::parse_in_blocks(bytes, block);
    assert_same_read(&plan_read, blocks, &format!("in blocks of {block}"));
    // The scanner reads what it reads as serde does, and leaves the rest to serde.
    assert_same_read(
        &plan_read,
        PlanRecords::parse_without_scanner(bytes),
        "by serde",
    );
    let file = match RecordsFile::parse(bytes) {
        Ok(file) => file,
        Err(error) => {
            assert!(!format!("{error:#}").is_empty(), "an error says why");
            return;
        }
    };
    match plan_read {
        Ok(plan_read) => {
            assert_eq!(
                plan_read.users.to_existing(),
                file.users,
                "plan reads other users"
            );
            assert_eq!(
                plan_read.tenant_label(),
                file.tenant_label().as_deref(),
                "plan reads another tenant label"
            );
        }
        Err(error) => panic!("plan refuses a records file that import reads: {error:#}"),
    }
    assert_eq!(file.users.len(), file.metadata.len());
    let mut names = HashSet::new();
    for user in &file.users {
        assert!(!user.name.is_empty(), "every object has a name");
        assert!(
            names.insert(user.name.as_str()),
            "two objects named {}",
            user.name
        );
    }
    let text = file.render().expect("an accepted records file renders");
    let again = RecordsFile::parse(&text).unwrap_or_else(|error| {
        panic!(
            "the rendered file does not read back: {error:#}\n{}",
            String::from_utf8_lossy(&text)
        )
    });
    assert_eq!(again.users, file.users, "users change over a rewrite");
    // An empty file of documents renders as nothing, which reads as an empty list.
    if !(file.format == RecordsFormat::YamlDocuments && file.users.is_empty()) {
        assert_eq!(again.format, file.format, "the form changes over a rewrite");
    }
    check_plan(example_template(), &file.users, "acme");
}

fn check_template(template: &Template, limits: &TemplateLimits) {
    assert_eq!(template.headers.len(), template.columns.len());
    assert!(template.rows.len() <= limits.max_rows);
    let mut previous = 1;
    for row in &template.rows {
        assert!(row.number > previous, "row numbers increase");
        previous = row.number;
        assert!(template.row_cells(row).len() <= template.headers.len());
        for cell in template.row_cells(row) {
            assert!(cell.chars().count() <= limits.max_cell_chars);
        }
    }
}

/// Plans `template` against `users` and checks the plan, the report and the error report.
fn check_plan(template: &Template, users: &[ExistingUser], tenant: &str) {
    let options = PlanOptions {
        tenant: tenant.to_string(),
        sso_sync: true,
    };
    let planned = plan(template, users, &options);
    check_sections(template, &planned);
    assert_eq!(
        plan(template, users, &options),
        planned,
        "planning is deterministic"
    );
    let date = jiff::civil::date(2026, 11, 24);
    let error_report = write_error_report("Acme Corp", date, template, &planned);
    match &error_report {
        None => assert_eq!(planned.counts.problem, 0),
        Some(report) => {
            assert_eq!(report.rows, planned.counts.problem);
            assert!(report.file_name.len() <= 255);
            let csv = report.csv.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM");
            let records = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(csv)
                .records()
                .collect::<Result<Vec<_>, _>>()
                .expect("the error report is valid CSV");
            assert_eq!(
                records.len(),
                planned.counts.problem + 1,
                "header + one per problem"
            );
        }
    }
    let summary = error_report.as_ref().map(|report| report.summary());
    let report = build_results("Acme Corp", template, &planned, summary);
    serde_json::to_string(&report).expect("the report serialises");
}

/// Every row lands in exactly one section, and the counts say so.
fn check_sections(template: &Template, plan: &Plan) {
    let counts = plan.counts;
    assert_eq!(
        counts.new + counts.update + counts.unchanged + counts.problem,
        template.rows.len(),
        "counts add up to the rows"
    );
    assert_eq!(plan.new.len(), counts.new);
    assert_eq!(plan.update.len(), counts.update);
    assert_eq!(plan.problem.len(), counts.problem);
    assert_eq!(plan.problem_rows.len(), counts.problem);
    let rows: HashSet<usize> = template.rows.iter().map(|row| row.number).collect();
    let mut listed = HashSet::new();
    let sections = plan.new.iter().map(|entry| entry.row);
    let sections = sections.chain(plan.update.iter().map(|entry| entry.row));
    for row in sections.chain(plan.problem.iter().map(|entry| entry.row)) {
        assert!(rows.contains(&row), "row {row} is a row of the template");
        assert!(listed.insert(row), "row {row} is in two sections");
    }
    for (entry, &position) in plan.problem.iter().zip(&plan.problem_rows) {
        assert_eq!(template.rows[position].number, entry.row);
    }
    let mut names = HashSet::new();
    for write in &plan.writes {
        assert!(listed.contains(&write.row), "a write for a listed row");
        assert!(names.insert(&write.name), "two writes to {}", write.name);
        assert!(write.name.len() <= 253, "a record name fits an object name");
    }
}
