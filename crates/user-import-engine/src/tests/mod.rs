//! Tests of the core, one module per page of the rules in `docs/` (validation, matching,
//! changes, results, the error report), and property tests.

mod changes;
mod error_report;
mod matching;
mod properties;
mod results;
mod validation;

use serde_json::json;

use super::fields::Field;
use super::matching::ExistingUser;
use super::planner::{Plan, PlanOptions, plan};
use super::template::{Cells, Encoding, Template};
use user_import_resources::TenantUserSpec;

/// The mandatory headers plus Username and Status, the columns most tests use.
pub(crate) const HEADERS: [&str; 7] = [
    "First Name",
    "Last Name",
    "Email",
    "Coupa Username",
    "Coupa User ID",
    "Username",
    "Status",
];

/// A template made directly (no CSV parsing): `headers`, then rows numbered from 2.
pub(crate) fn template(headers: &[&str], rows: &[&[&str]]) -> Template {
    let mut cells = Cells::default();
    let rows = rows
        .iter()
        .enumerate()
        .map(|(index, row)| cells.row(index + 2, row.iter().copied()))
        .collect();
    Template {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        columns: headers.iter().map(|h| Field::from_header(h)).collect(),
        rows,
        cells,
        encoding: Encoding::Utf8,
        delimiter: b',',
        digest: "sha256:test".into(),
    }
}

/// A row of `HEADERS`: first, last, email, coupa username, id, username, status.
pub(crate) fn row<'a>(id: &'a str, cu: &'a str, email: &'a str) -> [&'a str; 7] {
    ["Ann", "Lee", email, cu, id, "", ""]
}

/// An existing user from a JSON spec.
pub(crate) fn user(name: &str, spec: serde_json::Value) -> ExistingUser {
    ExistingUser {
        name: name.into(),
        spec: serde_json::from_value::<TenantUserSpec>(spec).expect("a valid spec"),
    }
}

/// A synced user with all three keys and first/last names matching `row`.
pub(crate) fn synced(name: &str, id: &str, cu: &str, email: &str) -> ExistingUser {
    user(
        name,
        json!({"username": cu, "firstName": "Ann", "lastName": "Lee", "email": email,
               "coupaUsername": cu, "coupaUserId": id, "status": "Active", "ssoSynced": true}),
    )
}

pub(crate) fn options() -> PlanOptions {
    PlanOptions {
        tenant: "acme".into(),
        sso_sync: true,
    }
}

/// Plans rows of `HEADERS` against `users`.
pub(crate) fn plan_rows(rows: &[[&str; 7]], users: &[ExistingUser]) -> Plan {
    let rows: Vec<&[&str]> = rows.iter().map(|r| &r[..]).collect();
    plan(&template(&HEADERS, &rows), users, &options())
}
