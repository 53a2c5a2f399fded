//! Section 3: row validation and its precedence.

use proptest::prelude::*;

use super::*;
use crate::results::ProblemReason::{self, *};
use crate::validation::is_valid_email;

fn only_problem(plan: &Plan) -> (ProblemReason, Vec<String>) {
    assert_eq!(plan.problem.len(), 1, "expected one problem row: {plan:#?}");
    (plan.problem[0].reason, plan.problem[0].fields.clone())
}

#[test]
fn a_blank_mandatory_cell_is_missing_and_every_blank_one_is_listed() {
    let plan = plan_rows(&[["Ann", "", "", "alee", "7", "", ""]], &[]);
    let (reason, fields) = only_problem(&plan);
    assert_eq!(reason, MissingMandatoryField);
    assert_eq!(fields, ["lastName", "email"]);
    assert!(plan.problem[0].message.contains("Last Name, Email"));
    assert!(plan.writes.is_empty());
}

#[test]
fn emails_need_local_at_domain_with_a_dot_and_no_spaces() {
    for good in ["a@b.c", "ann.lee+x@mail.acme.test", "A@B.CO"] {
        assert!(is_valid_email(good), "{good} should be valid");
    }
    for bad in [
        "a@b",
        "a b@c.d",
        "@c.d",
        "a@.d",
        "a@c.",
        "a@@c.d",
        "ann.acme.test",
        "a@c .d",
    ] {
        assert!(!is_valid_email(bad), "{bad} should be invalid");
    }
    let plan = plan_rows(&[row("7", "alee", "ann at acme.test")], &[]);
    assert_eq!(only_problem(&plan), (InvalidEmail, vec!["email".into()]));
}

/// The e-mail rule: exactly one `@`, a non-empty local part, a domain of two or more
/// non-empty dot-separated labels, no spaces or control characters anywhere.
#[test]
fn the_email_rule_table() {
    let cases: &[(&str, bool)] = &[
        ("a@b.c", true),
        ("ann.lee+x@mail.acme.test", true),
        ("A@B.CO", true),
        ("o'hara@acme.test", true),
        ("ann@acme-corp.test", true),
        ("jos\u{e9}@b\u{fc}ro.test", true),
        ("a.@b.c", true),
        // The three of the defect: a doubled, a trailing and a leading dot in the domain.
        ("c@acme..test", false),
        ("a@acme.test.", false),
        ("b@.acme.test", false),
        ("a@b", false),
        ("a@", false),
        ("@c.d", false),
        ("@", false),
        ("", false),
        ("a@@c.d", false),
        ("a@b@c.d", false),
        ("ann.acme.test", false),
        ("a b@c.d", false),
        ("a@c .d", false),
        (" a@c.d", false),
        ("a@c.d ", false),
        ("a\u{a0}b@c.d", false),
        ("a\tb@c.d", false),
        ("a@c.d\n", false),
        ("a\u{0}@c.d", false),
        ("a@c\u{7f}.d", false),
        ("a\u{85}@c.d", false),
        ("a@.", false),
        ("a@..", false),
        ("a@c..", false),
        ("a@.c.d.", false),
        ("a@c...d", false),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(email, valid)| is_valid_email(email) != *valid)
        .map(|(email, valid)| {
            format!(
                "{email:?} should be {}",
                if *valid { "valid" } else { "invalid" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    for email in ["c@acme..test", "a@acme.test.", "b@.acme.test"] {
        let plan = plan_rows(&[row("7", "alee", email)], &[]);
        assert_eq!(
            only_problem(&plan),
            (InvalidEmail, vec!["email".into()]),
            "{email}"
        );
    }
}

/// A label: what may stand between the dots of a domain, or as a local part.
fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_+'\\-\u{e9}\u{4e2d}]{1,8}"
}

fn valid_email() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        prop::collection::vec(label(), 1..3).prop_map(|parts| parts.join(".")),
        prop::collection::vec(label(), 2..5),
    )
}

proptest! {
    #[test]
    fn emails_built_by_the_rule_are_valid((local, labels) in valid_email()) {
        let email = format!("{local}@{}", labels.join("."));
        prop_assert!(is_valid_email(&email), "{}", email);
    }

    #[test]
    fn breaking_any_part_of_the_rule_makes_an_email_invalid(
        (local, labels) in valid_email(),
        break_at in 0..6usize,
        position in any::<prop::sample::Index>(),
        bad in prop::sample::select(vec![' ', '\t', '\n', '\r', '\u{0}', '\u{7f}', '\u{a0}', '\u{2028}', '@']),
    ) {
        let domain = labels.join(".");
        let email = match break_at {
            0 => format!("@{domain}"),
            1 => format!("{local}@{labels}", labels = labels[0]),
            2 => format!("{local}@.{domain}"),
            3 => format!("{local}@{domain}."),
            4 => {
                let cut = position.index(labels.len() - 1) + 1;
                format!("{local}@{}..{}", labels[..cut].join("."), labels[cut..].join("."))
            }
            _ => {
                let whole: Vec<char> = format!("{local}@{domain}").chars().collect();
                let at = position.index(whole.len() + 1);
                let mut broken: String = whole[..at].iter().collect();
                broken.push(bad);
                broken.extend(&whole[at..]);
                broken
            }
        };
        prop_assert!(!is_valid_email(&email), "{:?} (break {})", email, break_at);
    }
}

#[test]
fn a_coupa_user_id_must_be_all_digits() {
    for bad in ["10A7", "-5", "1.0", "٣"] {
        let plan = plan_rows(&[row(bad, "alee", "a@acme.test")], &[]);
        assert_eq!(
            only_problem(&plan),
            (InvalidCoupaUserId, vec!["coupaUserId".into()])
        );
    }
}

#[test]
fn a_coupa_user_id_of_more_than_20_digits_is_invalid() {
    let longest = "1".repeat(20);
    let plan = plan_rows(&[row(&longest, "alee", "a@acme.test")], &[]);
    assert_eq!(plan.counts.new, 1, "{:#?}", plan.problem);
    for too_long in [
        "1".repeat(21),
        "9".repeat(300),
        format!("0{}", "1".repeat(20)),
    ] {
        let plan = plan_rows(&[row(&too_long, "alee", "a@acme.test")], &[]);
        assert_eq!(
            only_problem(&plan),
            (InvalidCoupaUserId, vec!["coupaUserId".into()])
        );
        let message = &plan.problem[0].message;
        assert!(
            message.contains(&format!("{} digits", too_long.len())) && message.contains("20"),
            "{message}"
        );
        assert!(message.len() < 200, "the message stays short: {message}");
    }
}

#[test]
fn a_status_is_blank_or_active_inactive_deleted_in_any_case() {
    for good in ["", "active", "INACTIVE", "Deleted"] {
        let plan = plan_rows(&[["Ann", "Lee", "a@acme.test", "alee", "7", "", good]], &[]);
        assert!(plan.problem.is_empty(), "{good:?} should be accepted");
    }
    let plan = plan_rows(
        &[["Ann", "Lee", "a@acme.test", "alee", "7", "", "Suspended"]],
        &[],
    );
    assert_eq!(only_problem(&plan), (InvalidStatus, vec!["status".into()]));
}

#[test]
fn rows_sharing_a_coupa_user_id_are_all_problems() {
    let plan = plan_rows(
        &[
            row("7", "alee", "a@acme.test"),
            row("8", "bob", "b@acme.test"),
            row("7", "ann2", "c@acme.test"),
        ],
        &[],
    );
    let rows: Vec<usize> = plan.problem.iter().map(|p| p.row).collect();
    assert_eq!(rows, [2, 4]);
    assert!(plan.problem.iter().all(|p| p.reason == DuplicateInTemplate));
    assert!(plan.problem[0].message.contains("rows 2, 4"));
    assert_eq!(plan.counts.new, 1);
}

#[test]
fn the_same_email_or_coupa_username_under_different_ids_is_a_duplicate() {
    let same_email = plan_rows(
        &[
            row("7", "alee", "a@acme.test"),
            row("8", "bob", "A@ACME.test"),
        ],
        &[],
    );
    assert_eq!(same_email.counts.problem, 2);
    assert!(same_email.problem.iter().all(|p| p.fields == ["email"]));
    let same_cu = plan_rows(
        &[
            row("7", "alee", "a@acme.test"),
            row("8", "ALEE", "b@acme.test"),
        ],
        &[],
    );
    assert_eq!(same_cu.counts.problem, 2);
    assert!(
        same_cu
            .problem
            .iter()
            .all(|p| p.fields == ["coupaUsername"])
    );
}

#[test]
fn blank_cells_never_count_as_equal() {
    // Both rows lack an email (a MissingMandatoryField each), but they are no duplicates.
    let plan = plan_rows(&[row("7", "alee", ""), row("8", "bob", "")], &[]);
    assert!(
        plan.problem
            .iter()
            .all(|p| p.reason == MissingMandatoryField)
    );
    assert!(plan.problem.iter().all(|p| p.fields == ["email"]));
}

#[test]
fn several_reasons_report_the_first_and_list_every_field() {
    let plan = plan_rows(&[["Ann", "", "bad email", "alee", "x1", "", "Gone"]], &[]);
    let problem = &plan.problem[0];
    assert_eq!(problem.reason, MissingMandatoryField);
    assert_eq!(
        problem.fields,
        ["lastName", "email", "status", "coupaUserId"]
    );
    for part in [
        "Last Name",
        "not an address",
        "not all digits",
        "Status \"Gone\"",
    ] {
        assert!(
            problem.message.contains(part),
            "{part} missing in {}",
            problem.message
        );
    }
}

#[test]
fn a_mismatch_comes_after_validation_reasons_and_adds_its_fields() {
    let users = [synced("acme-9", "9", "bking", "bk@acme.test")];
    let plan = plan_rows(
        &[["Bo", "King", "bo@acme.test", "bking", "10", "", "Nope"]],
        &users,
    );
    let problem = &plan.problem[0];
    assert_eq!(problem.reason, InvalidStatus);
    assert_eq!(problem.fields, ["status", "coupaUsername"]);
    assert_eq!(problem.conflicts_with.as_ref().unwrap().username, "bking");
}

#[test]
fn a_large_duplicate_group_names_a_few_rows_and_counts_the_rest() {
    let rows: Vec<[&str; 7]> = (0..8).map(|_| row("7", "alee", "a@acme.test")).collect();
    let plan = plan_rows(&rows, &[]);
    assert_eq!(plan.counts.problem, 8);
    assert!(
        plan.problem[0]
            .message
            .contains("rows 2, 3, 4, 5, 6 and 3 more"),
        "{}",
        plan.problem[0].message
    );
}
