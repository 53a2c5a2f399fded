//! Section 7: the error report file.

use super::*;
use crate::error_report::{guard_formula, write_error_report};
use crate::naming::error_report_file_name;

fn date() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 24)
}

#[test]
fn the_file_name_has_tenant_and_date_and_no_unsafe_characters() {
    assert_eq!(
        error_report_file_name("Acme Corp", date()),
        "User Sync Error Report - Acme Corp - 2026-11-24.csv"
    );
    assert_eq!(
        error_report_file_name("A/B: C*D?\"<>|\\", date()),
        "User Sync Error Report - A_B_ C_D______ - 2026-11-24.csv"
    );
}

#[test]
fn a_display_name_too_long_for_a_file_name_is_shortened_keeping_the_date() {
    let suffix = " - 2026-11-24.csv";
    for (name, kept_chars) in [
        ("a".repeat(300), 213),
        ("é".repeat(300), 106),
        ("€".repeat(300), 71),
        ("😀".repeat(300), 53),
        (format!("{}/x", "b".repeat(211)), 213),
    ] {
        let file_name = error_report_file_name(&name, date());
        assert!(file_name.len() <= 255, "{} bytes", file_name.len());
        assert!(file_name.len() > 250, "shortened no more than needed");
        assert!(file_name.starts_with("User Sync Error Report - "));
        assert!(file_name.ends_with(suffix), "{file_name}");
        let kept = &file_name["User Sync Error Report - ".len()..file_name.len() - suffix.len()];
        assert_eq!(kept.chars().count(), kept_chars, "{name}");
        assert!(name.replace('/', "_").starts_with(kept));
    }
    // Exactly at the limit: nothing is cut.
    let name = "c".repeat(213);
    assert_eq!(
        error_report_file_name(&name, date()),
        format!("User Sync Error Report - {name}{suffix}")
    );
}

#[test]
fn control_characters_and_line_breaks_are_replaced_in_the_file_name() {
    assert_eq!(
        error_report_file_name("Acme\r\nBcc\t\u{0}\u{7f}", date()),
        "User Sync Error Report - Acme__Bcc___ - 2026-11-24.csv"
    );
}

#[test]
fn no_problem_rows_no_report() {
    let tmpl = template(&HEADERS, &[&row("7", "alee", "a@acme.test")]);
    let plan = plan(&tmpl, &[], &options());
    assert_eq!(write_error_report("Acme", date(), &tmpl, &plan), None);
}

#[test]
fn the_report_has_bom_crlf_original_columns_risk_assess_fields_and_reason() {
    let headers = [
        "Dept",
        "First Name",
        "Last Name",
        "Email",
        "Coupa Username",
        "Coupa User ID",
    ];
    let rows: [&[&str]; 3] = [
        &["=SUM(A1)", " Bo ", "King", "bo@acme.test", "bking", "10"],
        &["Ops", "Ann", "Lee", "a@acme.test", "alee", "7"],
        &[
            "Line\nbreak, \"quoted\"",
            "Cy",
            "",
            "cy@acme.test",
            "cy",
            "11",
        ],
    ];
    let tmpl = template(&headers, &rows);
    let users = [synced("acme-9", "9", "bking", "bk@acme.test")];
    let plan = plan(&tmpl, &users, &options());
    let report = write_error_report("Acme Corp", date(), &tmpl, &plan).expect("two problems");
    assert_eq!(report.rows, 2);
    assert_eq!(
        report.file_name,
        "User Sync Error Report - Acme Corp - 2026-11-24.csv"
    );
    assert!(report.csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM");
    let text = std::str::from_utf8(&report.csv[3..]).unwrap();
    assert!(text.ends_with("\r\n"));
    assert_eq!(
        text.matches("\r\n").count(),
        3,
        "CRLF after each record: {text:?}"
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(
        records[0],
        [
            "Sync Failed Date",
            "Dept",
            "First Name",
            "Last Name",
            "Email",
            "Coupa Username",
            "Coupa User ID",
            "Risk Assess Username",
            "Risk Assess Coupa Username",
            "Risk Assess Email",
            "Reason"
        ]
    );
    assert_eq!(
        records[1][..7],
        [
            "2026-11-24",
            "'=SUM(A1)",
            " Bo ",
            "King",
            "bo@acme.test",
            "bking",
            "10"
        ]
    );
    assert_eq!(records[1][7..10], ["bking", "bking", "bk@acme.test"]);
    assert!(
        records[1][10].starts_with("Mismatch: "),
        "{}",
        records[1][10]
    );
    assert_eq!(
        records[2][1], "Line\nbreak, \"quoted\"",
        "quoted cells survive"
    );
    assert_eq!(
        records[2][7..10],
        ["", "", ""],
        "no user: blank Risk Assess fields"
    );
    assert!(records[2][10].starts_with("MissingMandatoryField: "));
}

#[test]
fn formula_cells_are_prefixed_with_a_quote_and_others_left_alone() {
    for risky in ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "\nx"] {
        assert_eq!(guard_formula(risky), format!("'{risky}"));
    }
    for safe in ["1-1", "a=b", "", " =x", "'x"] {
        assert_eq!(guard_formula(safe), safe);
    }
}
