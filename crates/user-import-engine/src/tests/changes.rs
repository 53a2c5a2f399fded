//! Section 5: what an update changes.

use super::*;
use crate::planner::plan;
use user_import_resources::UserStatus;

const WIDE: [&str; 9] = [
    "First Name",
    "Last Name",
    "Email",
    "Coupa Username",
    "Coupa User ID",
    "City",
    "Title",
    "Mobile",
    "Status",
];

fn wide_plan(cells: [&str; 9], users: &[ExistingUser], sso_sync: bool) -> Plan {
    let options = PlanOptions {
        sso_sync,
        ..options()
    };
    plan(&template(&WIDE, &[&cells]), users, &options)
}

fn stored(sso: bool) -> ExistingUser {
    user(
        "acme-7",
        json!({"username": "alee", "firstName": "Ann", "lastName": "Lee", "email": "a@acme.test",
               "coupaUsername": "alee", "coupaUserId": "7", "city": "Boston", "title": "Analyst",
               "mobile": "555", "status": "Active", "ssoSynced": sso}),
    )
}

#[test]
fn a_blank_cell_never_erases_a_stored_value() {
    for sso in [true, false] {
        let plan = wide_plan(
            ["Ann", "Lee", "a@acme.test", "alee", "7", "", "", "", ""],
            &[stored(sso)],
            true,
        );
        assert_eq!(plan.counts.unchanged, 1, "sso {sso}: {plan:#?}");
        assert!(plan.writes.is_empty());
    }
}

#[test]
fn on_an_sso_synced_user_non_editable_changes_are_highlighted_and_not_applied() {
    let cells = [
        "Anne",
        "Lee",
        "a@acme.test",
        "alee",
        "7",
        "Austin",
        "Senior",
        "556",
        "inactive",
    ];
    let plan = wide_plan(cells, &[stored(true)], true);
    let entry = &plan.update[0];
    assert_eq!(
        entry.highlighted_fields,
        ["firstName", "status", "mobile", "city"]
    );
    assert_eq!(entry.changed_fields, ["title"]);
    let spec = &plan.writes[0].spec();
    assert_eq!(spec.title.as_deref(), Some("Senior"));
    assert_eq!(spec.first_name.as_deref(), Some("Ann"));
    assert_eq!(spec.city.as_deref(), Some("Boston"));
    assert_eq!(spec.status, Some(UserStatus::Active));
}

#[test]
fn on_a_user_that_is_not_synced_every_differing_cell_is_applied() {
    let cells = [
        "Anne",
        "Lee",
        "a@acme.test",
        "alee",
        "7",
        "Austin",
        "Senior",
        "556",
        "inactive",
    ];
    let plan = wide_plan(cells, &[stored(false)], true);
    assert!(plan.update[0].highlighted_fields.is_empty());
    assert_eq!(
        plan.update[0].changed_fields,
        ["firstName", "status", "title", "mobile", "city"]
    );
    let spec = &plan.writes[0].spec();
    assert_eq!(
        spec.status,
        Some(UserStatus::Inactive),
        "stored capitalised"
    );
    assert!(
        !spec.sso_synced,
        "an update that links nothing keeps ssoSynced"
    );
}

#[test]
fn a_row_with_only_highlighted_differences_is_an_update_without_a_write() {
    let plan = wide_plan(
        [
            "Ann",
            "Lee",
            "a@acme.test",
            "alee",
            "7",
            "Austin",
            "",
            "",
            "",
        ],
        &[stored(true)],
        true,
    );
    assert_eq!(plan.counts.update, 1);
    assert_eq!(plan.update[0].highlighted_fields, ["city"]);
    assert!(plan.update[0].changed_fields.is_empty());
    assert!(plan.writes.is_empty());
    assert!(plan.has_highlights());
}

#[test]
fn linking_an_sso_user_sets_empty_coupa_keys_without_highlight() {
    let mut linked = stored(true);
    linked.spec.coupa_user_id = None;
    linked.spec.coupa_username = None;
    linked.spec.username = Some("ann".into());
    let plan = wide_plan(
        ["Ann", "Lee", "a@acme.test", "alee", "7", "", "", "", ""],
        &[linked],
        true,
    );
    assert!(plan.update[0].highlighted_fields.is_empty(), "{plan:#?}");
    assert_eq!(
        plan.update[0].changed_fields,
        ["coupaUsername", "coupaUserId"]
    );
}

#[test]
fn after_a_link_sso_synced_follows_the_tenant_setting() {
    for tenant_sso in [true, false] {
        let mut unlinked = stored(!tenant_sso);
        unlinked.spec.coupa_user_id = None;
        let plan = wide_plan(
            ["Ann", "Lee", "a@acme.test", "alee", "7", "", "", "", ""],
            &[unlinked],
            tenant_sso,
        );
        assert_eq!(plan.writes[0].spec().sso_synced, tenant_sso);
        assert!(plan.writes[0].changed_fields.contains(&"ssoSynced"));
    }
}

#[test]
fn a_new_user_takes_defaults_and_the_tenant_sso_setting() {
    for tenant_sso in [true, false] {
        let plan = wide_plan(
            ["Ann", "Lee", "a@acme.test", "alee", "7", "", "", "", ""],
            &[],
            tenant_sso,
        );
        let spec = &plan.writes[0].spec();
        assert_eq!(
            spec.username.as_deref(),
            Some("alee"),
            "username defaults to the Coupa Username"
        );
        assert_eq!(
            spec.status,
            Some(UserStatus::Active),
            "status defaults to Active"
        );
        assert_eq!(spec.sso_synced, tenant_sso);
        assert_eq!(spec.city, None, "blank cells stay absent");
    }
    let given = wide_plan(
        [
            "Ann",
            "Lee",
            "a@acme.test",
            "alee",
            "7",
            "Oslo",
            "",
            "",
            "DELETED",
        ],
        &[],
        true,
    );
    assert_eq!(given.writes[0].spec().status, Some(UserStatus::Deleted));
    assert_eq!(given.writes[0].spec().city.as_deref(), Some("Oslo"));
}

#[test]
fn keys_and_status_compare_ignoring_case_other_fields_exactly() {
    let plan = wide_plan(
        [
            "Ann",
            "Lee",
            "A@ACME.TEST",
            "ALEE",
            "7",
            "boston",
            "",
            "",
            "ACTIVE",
        ],
        &[stored(false)],
        true,
    );
    assert_eq!(plan.update[0].changed_fields, ["city"], "{plan:#?}");
    assert_eq!(plan.writes[0].spec().city.as_deref(), Some("boston"));
}

#[test]
fn the_highlight_sentence_appears_only_when_something_is_highlighted() {
    use crate::results::{HIGHLIGHT_MESSAGE, build_results};
    let tmpl = template(
        &WIDE,
        &[&[
            "Ann",
            "Lee",
            "a@acme.test",
            "alee",
            "7",
            "Austin",
            "",
            "",
            "",
        ]],
    );
    let highlighted = plan(&tmpl, &[stored(true)], &options());
    let report = build_results("Acme", &tmpl, &highlighted, None);
    assert_eq!(report.highlight_message.as_deref(), Some(HIGHLIGHT_MESSAGE));
    assert_eq!(
        HIGHLIGHT_MESSAGE,
        "Any field highlighted in yellow above will not be updated via the user import template due to this user being a SSO synced user with Coupa Enterprise."
    );
    let applied = plan(&tmpl, &[stored(false)], &options());
    assert_eq!(
        build_results("Acme", &tmpl, &applied, None).highlight_message,
        None
    );
}
