//! Section 3: row validation and its precedence.

use super::*;
use crate::core::report::ProblemReason::{self, *};
use crate::core::validation::is_valid_email;

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
