//! Section 6: the JSON report's exact shape.

use super::*;
use crate::error_report::write_error_report;
use crate::results::{ProblemReason, build_results};

fn date() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 24)
}

#[test]
fn the_json_report_has_the_spec_shape_with_nulls_and_row_order() {
    let mut headers = HEADERS.to_vec();
    headers.push("Department");
    let rows: [&[&str]; 4] = [
        &["Jo", "Doe", "jdoe@acme.test", "jdoe", "1001", "", "", "Eng"],
        &[
            "Al",
            "Smyth",
            "asmith@acme.test",
            "asmith",
            "1002",
            "",
            "",
            "Fin",
        ],
        &[
            "Ca",
            "White",
            "cw@acme.test",
            "cwhite",
            "1003",
            "",
            "",
            "Ops",
        ],
        &["Bo", "King", "bo@acme.test", "bking", "1004", "", "", "Ops"],
    ];
    let tmpl = template(&headers, &rows);
    let users = [
        synced("acme-1002", "1002", "asmith", "asmith@acme.test"),
        synced("acme-1003", "1003", "cwhite", "cw@acme.test"),
        synced("acme-1009", "1009", "bking", "bk@acme.test"),
    ];
    let mut users = users.to_vec();
    users[1].spec.first_name = Some("Ca".into());
    users[1].spec.last_name = Some("White".into());
    let plan = plan(&tmpl, &users, &options());
    let error_report = write_error_report("Acme Corp", date(), &tmpl, &plan);
    let report = build_results(
        "Acme Corp",
        &tmpl,
        &plan,
        error_report.as_ref().map(|report| report.summary()),
    );
    let json = serde_json::to_value(&report).unwrap();
    let message = json["problem"][0]["message"].clone();
    let highlight = json["highlightMessage"].clone();
    assert_eq!(
        json,
        json!({
            "tenant": "Acme Corp",
            "template": {"rows": 4, "encoding": "utf-8", "delimiter": ",", "digest": "sha256:test",
                         "ignoredColumns": ["Department"]},
            "counts": {"new": 1, "update": 1, "unchanged": 1, "problem": 1},
            "new": [{"row": 2, "coupaUserId": "1001", "coupaUsername": "jdoe", "email": "jdoe@acme.test",
                     "username": "jdoe", "highlightedFields": []}],
            "update": [{"row": 3, "coupaUserId": "1002", "username": "asmith",
                        "changedFields": [], "highlightedFields": ["firstName", "lastName"]}],
            "problem": [{"row": 5, "coupaUserId": "1004", "reason": "Mismatch", "fields": ["coupaUsername"],
                         "message": message, "conflictsWith": {"username": "bking", "coupaUsername": "bking",
                         "email": "bk@acme.test"}}],
            "highlightMessage": highlight,
            "errorReport": {"fileName": "User Sync Error Report - Acme Corp - 2026-11-24.csv", "rows": 1}
        })
    );
    assert!(message.as_str().unwrap().contains("bking"));
}

#[test]
fn nulls_when_nothing_is_highlighted_no_problem_and_no_conflict() {
    let tmpl = template(
        &HEADERS,
        &[
            &row("7", "alee", "a@acme.test"),
            &row("x", "bob", "b@acme.test"),
        ],
    );
    let plan = plan(&tmpl, &[], &options());
    let json = serde_json::to_value(build_results("Acme", &tmpl, &plan, None)).unwrap();
    assert_eq!(json["highlightMessage"], serde_json::Value::Null);
    assert_eq!(json["errorReport"], serde_json::Value::Null);
    assert_eq!(json["problem"][0]["conflictsWith"], serde_json::Value::Null);
    let clean = plan_rows(&[row("7", "alee", "a@acme.test")], &[]);
    let report = build_results("Acme", &tmpl, &clean, None);
    assert!(serde_json::to_value(report).unwrap()["errorReport"].is_null());
}

#[test]
fn lists_are_in_row_order_and_counts_add_up() {
    let users = [synced("acme-3", "3", "c", "c@acme.test")];
    let rows = [
        row("5", "e", "e@acme.test"),
        row("x", "d", "d@acme.test"),
        row("3", "c", "c@acme.test"),
        row("1", "a", "a@acme.test"),
        row("y", "b", "b@acme.test"),
    ];
    let plan = plan_rows(&rows, &users);
    let new_rows: Vec<usize> = plan.new.iter().map(|e| e.row).collect();
    let problem_rows: Vec<usize> = plan.problem.iter().map(|e| e.row).collect();
    assert_eq!(new_rows, [2, 5]);
    assert_eq!(problem_rows, [3, 6]);
    let counts = plan.counts;
    assert_eq!(
        counts.new + counts.update + counts.unchanged + counts.problem,
        rows.len()
    );
}

/// Record names are `<tenant>-<coupaUserId>` cut to 253 characters: with a long tenant name,
/// different ids give one name. The first row keeps it; the later ones are problems.
#[test]
fn two_ids_that_give_one_record_name_make_the_later_rows_problems() {
    let options = PlanOptions {
        tenant: "t".repeat(250),
        sso_sync: true,
    };
    let rows: [&[&str]; 4] = [
        &row("1234567", "alee", "a@acme.test"),
        &row("1234568", "bob", "b@acme.test"),
        &row("99", "cy", "c@acme.test"),
        &row("1234569", "dee", "d@acme.test"),
    ];
    let tmpl = template(&HEADERS, &rows);
    let plan = plan(&tmpl, &[], &options);
    // 250 + "-99" is 253 characters: that name is not cut, and row 4 is new.
    assert_eq!(plan.counts.new, 2, "{plan:#?}");
    assert_eq!(plan.counts.problem, 2);
    let name = format!("{}-12", "t".repeat(250));
    assert_eq!(plan.writes[0].name, name);
    let problems: Vec<(usize, ProblemReason)> =
        plan.problem.iter().map(|p| (p.row, p.reason)).collect();
    assert_eq!(
        problems,
        [
            (3, ProblemReason::InvalidCoupaUserId),
            (5, ProblemReason::InvalidCoupaUserId),
        ]
    );
    for problem in &plan.problem {
        assert_eq!(problem.fields, ["coupaUserId"]);
        assert!(
            problem.message.contains("row 2") && problem.message.contains("253"),
            "{}",
            problem.message
        );
    }
}

#[test]
fn ids_that_give_one_record_name_collide_whatever_the_first_row_became() {
    // The first row is a problem of its own (a bad email); the second would be new under the
    // same record name. The rule looks at the ids alone, so it is refused all the same.
    let options = PlanOptions {
        tenant: "t".repeat(250),
        sso_sync: true,
    };
    let rows: [&[&str]; 2] = [
        &["Ann", "Lee", "bad email", "alee", "1234567", "", ""],
        &row("1234568", "bob", "b@acme.test"),
    ];
    let plan = plan(&template(&HEADERS, &rows), &[], &options);
    assert_eq!(plan.counts.problem, 2, "{plan:#?}");
    assert_eq!(plan.problem[1].reason, ProblemReason::InvalidCoupaUserId);
    assert!(plan.writes.is_empty());
}
