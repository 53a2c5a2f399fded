//! Properties that hold for any template and any tenant.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::matching::{UserIndex, fold};
use crate::planner::{Writes, plan_checked, plan_on_threads};
use crate::validation::validate_rows;

const COLUMNS: [&str; 8] = [
    "First Name",
    "Last Name",
    "Email",
    "Coupa Username",
    "Coupa User ID",
    "Username",
    "City",
    "Status",
];

/// Small pools make collisions between rows and users likely.
fn cell(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(String::from)
}

fn row_strategy() -> impl Strategy<Value = Vec<String>> {
    (
        cell(&["Ann", "", "Bo"]),
        cell(&["Lee", "", "Ko"]),
        cell(&["a@x.io", "b@x.io", "C@X.IO", "", "bad"]),
        cell(&["a", "b", "c", ""]),
        cell(&["1", "2", "3", "", "4x"]),
        cell(&["", "a", "zed"]),
        cell(&["", "Oslo", "Rome"]),
        cell(&["", "active", "Inactive", "Bogus"]),
    )
        .prop_map(|(f, l, e, cu, id, u, city, s)| vec![f, l, e, cu, id, u, city, s])
}

fn optional(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::of(cell(pool))
}

fn user_strategy() -> impl Strategy<Value = TenantUserSpec> {
    (
        optional(&["a", "b", "zed", "q"]),
        optional(&["a@x.io", "b@x.io", "c@x.io"]),
        optional(&["a", "b", "c"]),
        optional(&["1", "2", "3"]),
        optional(&["Oslo", "Bergen"]),
        any::<bool>(),
    )
        .prop_map(|(username, email, cu, id, city, sso)| TenantUserSpec {
            username,
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            email,
            coupa_username: cu,
            coupa_user_id: id,
            city,
            sso_synced: sso,
            ..TenantUserSpec::default()
        })
}

fn existing(specs: Vec<TenantUserSpec>) -> Vec<ExistingUser> {
    specs
        .into_iter()
        .enumerate()
        .map(|(index, spec)| ExistingUser {
            name: format!("hand-{index}"),
            spec,
        })
        .collect()
}

fn make_template(rows: &[Vec<String>]) -> Template {
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let rows: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
    template(&COLUMNS, &rows)
}

/// Applies the writes of a plan to the users, as the controller and `import` do.
fn apply(users: &mut Vec<ExistingUser>, plan: &Plan) {
    for write in &plan.writes {
        match users.iter_mut().find(|u| u.name == write.name) {
            Some(user) => user.spec = write.spec(),
            None => users.push(ExistingUser {
                name: write.name.clone(),
                spec: write.spec(),
            }),
        }
    }
}

proptest! {
    #[test]
    fn blank_cells_never_change_a_stored_value(
        rows in prop::collection::vec(row_strategy(), 1..6),
        specs in prop::collection::vec(user_strategy(), 0..5),
    ) {
        let tmpl = make_template(&rows);
        let users = existing(specs);
        let plan = plan(&tmpl, &users, &options());
        for write in plan.writes.iter().filter(|w| !w.create) {
            let stored = &users.iter().find(|u| u.name == write.name).unwrap().spec;
            let row = tmpl.rows.iter().find(|r| r.number == write.row).unwrap();
            let desired = write.spec();
            for field in Field::ALL {
                if tmpl.cell(row, field).is_empty() {
                    prop_assert_eq!(field.get(&desired), field.get(stored), "{:?}", field);
                }
                if stored.sso_synced && field.is_non_editable() && field.get(stored).is_some() {
                    prop_assert_eq!(field.get(&desired), field.get(stored), "{:?}", field);
                }
            }
        }
    }

    /// Re-importing changes nothing once the template's renames are in: a new row whose username
    /// an existing user gives up in the same template is a problem in that import (the username
    /// is still taken when it is planned) and New in the next one (docs/decisions.md). So the
    /// plan is applied twice, and the third plan must be empty.
    #[test]
    fn a_plan_applied_and_planned_again_has_no_new_and_no_change(
        rows in prop::collection::vec(row_strategy(), 1..6),
        specs in prop::collection::vec(user_strategy(), 0..5),
    ) {
        let tmpl = make_template(&rows);
        let mut users = existing(specs);
        for _ in 0..2 {
            let planned = plan(&tmpl, &users, &options());
            apply(&mut users, &planned);
        }
        let third = plan(&tmpl, &users, &options());
        prop_assert_eq!(third.counts.new, 0, "{:#?}", third);
        prop_assert!(third.update.iter().all(|u| u.changed_fields.is_empty()), "{:#?}", third);
        prop_assert!(third.writes.is_empty());
    }

    #[test]
    fn no_two_writes_touch_one_user_or_share_a_key(
        rows in prop::collection::vec(row_strategy(), 1..8),
        specs in prop::collection::vec(user_strategy(), 0..5),
    ) {
        let tmpl = make_template(&rows);
        let plan = plan(&tmpl, &existing(specs), &options());
        let names: HashSet<&str> = plan.writes.iter().map(|w| w.name.as_str()).collect();
        prop_assert_eq!(names.len(), plan.writes.len());
        for field in [Field::CoupaUserId, Field::Email, Field::CoupaUsername] {
            let values: Vec<String> = plan.writes.iter().filter_map(|w| field.get(&w.spec()).map(fold)).collect();
            let distinct: HashSet<&String> = values.iter().collect();
            prop_assert_eq!(distinct.len(), values.len(), "{:?} shared", field);
        }
        let counts = plan.counts;
        prop_assert_eq!(counts.new + counts.update + counts.unchanged + counts.problem, tmpl.rows.len());
    }
}

proptest! {
    #[test]
    fn a_plan_without_writes_has_the_same_sections(
        rows in prop::collection::vec(row_strategy(), 1..8),
        specs in prop::collection::vec(user_strategy(), 0..5),
        sso_sync in any::<bool>(),
    ) {
        let tmpl = make_template(&rows);
        let users = existing(specs);
        let options = PlanOptions { tenant: "acme".into(), sso_sync };
        let kept = plan(&tmpl, &users, &options);
        let index = UserIndex::new(users.as_slice());
        let skipped = plan_checked(&tmpl, validate_rows(&tmpl), &index, &options, Writes::Skip);
        prop_assert!(skipped.writes.is_empty());
        prop_assert_eq!(Plan { writes: Vec::new(), ..kept }, skipped);
    }

    #[test]
    fn rows_decided_on_several_threads_make_the_same_plan(
        rows in prop::collection::vec(row_strategy(), 1..12),
        specs in prop::collection::vec(user_strategy(), 0..5),
        threads in 2..5usize,
    ) {
        let tmpl = make_template(&rows);
        let users = existing(specs);
        let index = UserIndex::new(users.as_slice());
        let plan_on = |threads| {
            let problems = validate_rows(&tmpl);
            plan_on_threads(&tmpl, problems, &index, &options(), Writes::Keep, threads)
        };
        prop_assert_eq!(plan_on(1), plan_on(threads));
    }
}

/// Any text a cell may hold: delimiters, quotes, line breaks, spaces, formula starters, unicode.
fn any_cell() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9,;\"'\t\r\n=+@é€-]{0,12}"
}

proptest! {
    #[test]
    fn reading_then_writing_the_report_keeps_every_original_cell(
        rows in prop::collection::vec(prop::collection::vec(any_cell(), 6), 1..8),
    ) {
        use crate::error_report::{guard_formula, write_error_report};
        use crate::template::{TemplateLimits, read_template};
        let headers = ["First Name", "Last Name", "Email", "Coupa Username", "Coupa User ID", "Notes"];
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(headers).unwrap();
        for (index, row) in rows.iter().enumerate() {
            // A Coupa User ID that is not all digits makes every row a problem row.
            let mut cells = row.clone();
            cells[4] = format!("id-{index}{}", cells[4]);
            writer.write_record(&cells).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let tmpl = read_template(&bytes, &TemplateLimits::default()).unwrap();
        let plan = plan(&tmpl, &[], &options());
        let date = jiff::civil::date(2026, 1, 2);
        let report = write_error_report("T", date, &tmpl, &plan).unwrap();
        let mut reader = csv::ReaderBuilder::new().from_reader(&report.csv[3..]);
        let written: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        prop_assert_eq!(written.len(), rows.len());
        for (index, record) in written.iter().enumerate() {
            let mut original = rows[index].clone();
            original[4] = format!("id-{index}{}", original[4]);
            for (column, cell) in original.iter().enumerate() {
                let expected = guard_formula(cell).into_owned();
                prop_assert_eq!(&record[column + 1], expected.as_str(), "row {} column {}", index, column);
            }
        }
    }
}
