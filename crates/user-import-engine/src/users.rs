//! The tenant's stored users, as the planner reads them: by position, field by field.
//!
//! The controller and `import` hand the planner whole records ([`ExistingUser`]). `plan` on a
//! large records file hands it users whose texts stay in the file's own text, which spares a
//! million small strings at 100,000 users. Both are read through [`StoredUsers`].

use super::fields::{Field, trim};
use super::matching::ExistingUser;
use user_import_resources::TenantUserSpec;

/// Users stored in some form, read by position (0 to `count() - 1`).
pub trait StoredUsers: Sync {
    /// How many users there are.
    fn count(&self) -> usize;
    /// The object name of the user at `at`.
    fn name(&self, at: usize) -> &str;
    /// The stored text of `field` (for Status, the status's name) as stored: untrimmed, and
    /// None when the field is absent.
    fn text(&self, at: usize, field: Field) -> Option<&str>;
    /// Whether the user at `at` is SSO-synced with Coupa.
    fn sso_synced(&self, at: usize) -> bool;
    /// A copy of the stored spec of the user at `at`, to be changed and written.
    fn spec(&self, at: usize) -> TenantUserSpec;
}

impl StoredUsers for [ExistingUser] {
    fn count(&self) -> usize {
        self.len()
    }

    fn name(&self, at: usize) -> &str {
        &self[at].name
    }

    fn text(&self, at: usize, field: Field) -> Option<&str> {
        field.text(&self[at].spec)
    }

    fn sso_synced(&self, at: usize) -> bool {
        self[at].spec.sso_synced
    }

    fn spec(&self, at: usize) -> TenantUserSpec {
        self[at].spec.clone()
    }
}

/// One stored user: a position among `users`.
pub(crate) struct Stored<'a, U: StoredUsers + ?Sized> {
    users: &'a U,
    at: usize,
}

// Derived, these would ask `U: Clone`, which a slice is not.
impl<U: StoredUsers + ?Sized> Clone for Stored<'_, U> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<U: StoredUsers + ?Sized> Copy for Stored<'_, U> {}

impl<'a, U: StoredUsers + ?Sized> Stored<'a, U> {
    pub(crate) fn new(users: &'a U, at: usize) -> Self {
        Stored { users, at }
    }

    /// The stored value of `field`, if any: blank counts as none, as [`Field::get`] has it.
    pub(crate) fn get(self, field: Field) -> Option<&'a str> {
        self.users
            .text(self.at, field)
            .filter(|text| !trim(text).is_empty())
    }

    /// The stored text of `field`, blank or not (see [`StoredUsers::text`]).
    pub(crate) fn text(self, field: Field) -> Option<&'a str> {
        self.users.text(self.at, field)
    }

    /// The stored username, "" when there is none.
    pub(crate) fn username(self) -> &'a str {
        self.users.text(self.at, Field::Username).unwrap_or("")
    }

    /// The object name.
    pub(crate) fn name(self) -> &'a str {
        self.users.name(self.at)
    }

    pub(crate) fn sso_synced(self) -> bool {
        self.users.sso_synced(self.at)
    }

    /// A copy of the stored spec.
    pub(crate) fn spec(self) -> TenantUserSpec {
        self.users.spec(self.at)
    }
}
