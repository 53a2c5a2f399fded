//! Section 4: one test per row of the matching table.

use super::*;
use crate::matching::{Match, RowKeys, UserIndex};
use crate::results::ProblemReason::Mismatch;

/// The user a Mismatch names, and the keys that collided.
fn mismatch(plan: &Plan) -> (String, Vec<String>) {
    assert_eq!(plan.problem.len(), 1, "expected a mismatch: {plan:#?}");
    let problem = &plan.problem[0];
    assert_eq!(problem.reason, Mismatch);
    let with = problem
        .conflicts_with
        .as_ref()
        .expect("a mismatch names a user");
    (with.username.clone(), problem.fields.clone())
}

fn unlinked(name: &str, username: &str, cu: Option<&str>, email: &str) -> ExistingUser {
    let mut spec = json!({"username": username, "firstName": "Ann", "lastName": "Lee",
                          "email": email, "ssoSynced": false});
    if let Some(cu) = cu {
        spec["coupaUsername"] = cu.into();
    }
    user(name, spec)
}

#[test]
fn row1_by_id_with_agreeing_or_absent_other_keys_updates_that_user() {
    let users = [synced("acme-7", "7", "alee", "a@acme.test")];
    // Other keys absent from the tenant (new values) or pointing at the same user.
    let agreeing = plan_rows(&[row("7", "ALEE", "A@acme.test")], &users);
    assert_eq!(agreeing.counts.unchanged, 1);
    let absent = plan_rows(
        &[["Ann", "Lee", "new@acme.test", "alee", "7", "", ""]],
        &users,
    );
    assert_eq!(absent.counts.update, 1);
    assert_eq!(absent.update[0].highlighted_fields, ["email"]);
}

#[test]
fn row2_by_id_but_another_key_on_another_user_is_a_mismatch_with_that_user() {
    let users = [
        synced("acme-7", "7", "alee", "a@acme.test"),
        synced("acme-8", "8", "bob", "b@acme.test"),
    ];
    let by_cu = plan_rows(&[row("7", "bob", "a@acme.test")], &users);
    assert_eq!(
        mismatch(&by_cu),
        ("bob".into(), vec!["coupaUsername".into()])
    );
    let by_email = plan_rows(&[row("7", "alee", "b@acme.test")], &users);
    assert_eq!(mismatch(&by_email), ("bob".into(), vec!["email".into()]));
}

#[test]
fn row3_no_id_and_coupa_username_of_a_user_with_another_id_is_a_mismatch() {
    let users = [synced("acme-9", "9", "bking", "bk@acme.test")];
    let plan = plan_rows(&[row("10", "bking", "brian@acme.test")], &users);
    assert_eq!(
        mismatch(&plan),
        ("bking".into(), vec!["coupaUsername".into()])
    );
    assert!(plan.problem[0].message.contains("Coupa User ID 9"));
}

#[test]
fn row4_coupa_username_of_an_unlinked_user_but_email_of_another_is_a_mismatch() {
    let users = [
        unlinked("erin", "egreen", Some("egreen"), "egreen@acme.test"),
        unlinked("frank", "frank", None, "frank@acme.test"),
    ];
    let plan = plan_rows(&[row("6", "egreen", "frank@acme.test")], &users);
    assert_eq!(mismatch(&plan), ("frank".into(), vec!["email".into()]));
}

#[test]
fn row5_coupa_username_of_an_unlinked_user_links_it() {
    let users = [unlinked(
        "erin",
        "egreen",
        Some("egreen"),
        "egreen@acme.test",
    )];
    for email in ["egreen@acme.test", "erin.new@acme.test"] {
        let plan = plan_rows(&[row("6", "egreen", email)], &users);
        assert_eq!(plan.counts.update, 1, "{plan:#?}");
        let write = &plan.writes[0];
        assert_eq!(write.name, "erin");
        assert_eq!(write.spec().coupa_user_id.as_deref(), Some("6"));
        assert!(write.changed_fields.contains(&"coupaUserId"));
    }
}

#[test]
fn row6_only_email_of_a_user_with_a_coupa_key_is_a_mismatch() {
    let with_id = [synced("acme-9", "9", "", "bk@acme.test")];
    let plan = plan_rows(&[row("10", "brian", "bk@acme.test")], &with_id);
    assert_eq!(mismatch(&plan).1, ["email"]);
    let with_cu = [unlinked("bk", "bk", Some("bking"), "bk@acme.test")];
    let plan = plan_rows(&[row("10", "brian", "bk@acme.test")], &with_cu);
    assert_eq!(mismatch(&plan), ("bk".into(), vec!["email".into()]));
}

#[test]
fn row7_only_email_of_a_user_without_coupa_keys_links_both() {
    let users = [unlinked("frank", "frank", None, "frank@acme.test")];
    let plan = plan_rows(&[row("7", "fblack", "FRANK@acme.test")], &users);
    assert_eq!(plan.counts.update, 1);
    let spec = &plan.writes[0].spec();
    assert_eq!(spec.coupa_user_id.as_deref(), Some("7"));
    assert_eq!(spec.coupa_username.as_deref(), Some("fblack"));
    assert_eq!(
        plan.update[0].changed_fields,
        ["coupaUsername", "coupaUserId", "ssoSynced"]
    );
}

#[test]
fn row8_no_user_by_any_key_is_new() {
    let users = [synced("acme-9", "9", "bking", "bk@acme.test")];
    let plan = plan_rows(&[row("7", "alee", "a@acme.test")], &users);
    assert_eq!(plan.counts.new, 1);
    assert_eq!(plan.writes[0].name, "acme-7");
    assert!(plan.writes[0].create);
}

#[test]
fn row9_a_username_another_user_holds_is_a_mismatch_for_new_and_update() {
    let users = [
        synced("acme-9", "9", "bking", "bk@acme.test"),
        unlinked("bob", "bob", Some("bob"), "bob@acme.test"),
    ];
    // New: the Coupa Username is the username and "BKING" is taken.
    let new = plan_rows(
        &[["Bo", "Ko", "bo@acme.test", "bo", "10", "BKING", ""]],
        &users,
    );
    assert_eq!(mismatch(&new), ("bking".into(), vec!["username".into()]));
    // Update of a user that is not SSO-synced, whose username would change to a taken one.
    let update = plan_rows(
        &[["Ann", "Lee", "bob@acme.test", "bob", "11", "bking", ""]],
        &users,
    );
    assert_eq!(mismatch(&update), ("bking".into(), vec!["username".into()]));
}

#[test]
fn keys_are_compared_ignoring_case_and_surrounding_spaces() {
    let users = [synced("acme-7", "7", "ALee", "Ann.Lee@Acme.test")];
    let plan = plan_rows(
        &[[" Ann ", "Lee", " ann.lee@acme.TEST ", "alee", " 7 ", "", ""]],
        &users,
    );
    assert_eq!(plan.counts.unchanged, 1, "{plan:#?}");
}

#[test]
fn two_new_rows_may_not_take_one_username() {
    let plan = plan_rows(
        &[
            ["Ann", "Lee", "a@acme.test", "alee", "7", "sam", ""],
            ["Sam", "Ray", "s@acme.test", "sam", "8", "", ""],
        ],
        &[],
    );
    assert_eq!(plan.counts.problem, 2);
    assert!(plan.problem.iter().all(|p| p.fields == ["username"]));
    assert!(plan.writes.is_empty());
}

/// A tenant large enough that its index is built on two threads finds every user by each key,
/// the first record winning a shared key, as a small one does.
#[test]
fn a_large_tenants_index_finds_each_user_by_every_key() {
    let users: Vec<ExistingUser> = (0..12_000)
        .map(|i| {
            // Every thousandth user repeats the keys of the one before it.
            let n = if i % 1000 == 999 { i - 1 } else { i };
            user(
                &format!("acme-{i}"),
                json!({"username": format!("U{n}"), "email": format!("U{n}@Acme.test"),
                       "coupaUsername": format!("cu{n}"), "coupaUserId": n.to_string()}),
            )
        })
        .collect();
    let index = UserIndex::new(users.as_slice());
    for i in [0, 1, 998, 999, 5_000, 11_998, 11_999] {
        let first = if i % 1000 == 999 { i - 1 } else { i };
        let keys = RowKeys {
            id: &first.to_string(),
            coupa_username: &format!("CU{first}"),
            email: &format!("u{first}@acme.test"),
        };
        let target = index.match_row(keys);
        assert_eq!(
            target,
            Match::Update {
                target: first,
                link: false
            },
            "user {i}"
        );
        assert_eq!(index.by_username(&format!("u{first}")), Some(first));
        assert_eq!(index.by_name(&format!("acme-{i}")), Some(i));
    }
    assert_eq!(index.by_username("nobody"), None);
}
