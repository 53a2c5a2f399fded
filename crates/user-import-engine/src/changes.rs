//! What a row changes (docs/changes.md): editable and non-editable fields, highlights,
//! blank-never-overwrites, linking, and the record of a new user.

use super::fields::{Field, trim};
use super::matching::fold;
use super::planner::Writes;
use super::users::{CompactSpec, Stored, StoredUsers};
use user_import_resources::{TenantUserSpec, UserStatus};

/// The outcome of comparing a row with the stored user it updates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Changes {
    /// The stored spec with every applicable change made; `None` when nothing is applied, or
    /// when the plan skips its writes ([`Writes::Skip`]).
    /// Kept compactly: a plan keeps one `Changes` per row that matches a user.
    pub desired: Option<CompactSpec>,
    /// Field names written, in TenantUser order (`ssoSynced` last when a link sets it).
    pub changed: Vec<&'static str>,
    /// Non-editable fields of an SSO-synced user that the row would change: not applied.
    pub highlighted: Vec<Field>,
}

impl Changes {
    pub(crate) fn writes_anything(&self) -> bool {
        !self.changed.is_empty()
    }
}

/// Compares the row's non-blank cells with the `stored` user.
///
/// `fields` are the fields the template has columns for; `cell` gives a field's trimmed cell.
/// `link` is true when the row sets the user's Coupa User ID (section 4); `sso_sync` is the
/// tenant's `spec.ssoSync.enabled`, which a link copies into `ssoSynced`. With
/// [`Writes::Skip`] the changes are found but not made: `desired` stays `None`.
pub(crate) fn diff_update<'a, U: StoredUsers + ?Sized>(
    fields: &[Field],
    cell: &dyn Fn(Field) -> &'a str,
    stored: Stored<U>,
    link: bool,
    sso_sync: bool,
    writes: Writes,
) -> Changes {
    // Most rows of a re-import change nothing: the stored spec is copied only on a first change.
    let mut desired: Option<Box<TenantUserSpec>> = None;
    let mut changed = Vec::new();
    let mut highlighted = Vec::new();
    for &field in fields {
        let given = cell(field);
        if given.is_empty() {
            continue; // A blank cell never erases a stored value.
        }
        let current = stored.get(field);
        if current.is_some_and(|value| same_value(field, value, given)) {
            continue;
        }
        if stored.sso_synced() && field.is_non_editable() && !is_link(field, current) {
            highlighted.push(field);
        } else {
            if writes == Writes::Keep {
                field.set(
                    desired.get_or_insert_with(|| Box::new(stored.spec())),
                    given,
                );
            }
            changed.push(field.name());
        }
    }
    // A link that changes anything also sets ssoSynced (the fields above never touch it).
    if !changed.is_empty() && link && stored.sso_synced() != sso_sync {
        if let Some(desired) = desired.as_mut() {
            desired.sso_synced = sso_sync;
        }
        changed.push("ssoSynced");
    }
    Changes {
        desired: desired.map(|desired| CompactSpec::of(&desired)),
        changed,
        highlighted,
    }
}

/// The record of a new user: every non-blank cell, username defaulting to the Coupa Username,
/// status to `Active`, and `ssoSynced` from the tenant.
pub(crate) fn new_user<'a>(
    fields: &[Field],
    cell: &dyn Fn(Field) -> &'a str,
    sso_sync: bool,
) -> TenantUserSpec {
    let mut user = TenantUserSpec {
        sso_synced: sso_sync,
        ..TenantUserSpec::default()
    };
    for &field in fields {
        let given = cell(field);
        if !given.is_empty() {
            field.set(&mut user, given);
        }
    }
    if user.username.is_none() {
        user.username = Some(cell(Field::CoupaUsername).to_string());
    }
    if user.status.is_none() {
        user.status = Some(UserStatus::Active);
    }
    user
}

/// Stored and given values compare exactly after trimming, except the fields that ignore case.
pub(crate) fn same_value(field: Field, stored: &str, given: &str) -> bool {
    if field.ignores_case() {
        let (stored, given) = (trim(stored), trim(given));
        if stored.is_ascii() && given.is_ascii() {
            stored.eq_ignore_ascii_case(given) // no allocation for the common case
        } else {
            fold(stored) == fold(given)
        }
    } else {
        trim(stored) == trim(given)
    }
}

/// Setting a Coupa key where none was stored links the user; it is not an edit.
fn is_link(field: Field, current: Option<&str>) -> bool {
    matches!(field, Field::CoupaUserId | Field::CoupaUsername) && current.is_none()
}
