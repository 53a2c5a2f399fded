//! Matching a row to the tenant's existing users (docs/matching.md).

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::fields::{Field, trim};
use super::users::{Stored, StoredUsers};
use user_import_resources::TenantUserSpec;

/// An existing user record of the tenant: its object name and its spec.
#[derive(Clone, Debug, PartialEq)]
pub struct ExistingUser {
    /// The TenantUser object's name.
    pub name: String,
    /// The stored user.
    pub spec: TenantUserSpec,
}

/// Case-insensitive look-ups of the tenant's users by each key. Built once per plan: O(users).
pub struct UserIndex<'a, U: StoredUsers + ?Sized = [ExistingUser]> {
    users: &'a U,
    by_id: KeyTable,
    by_coupa_username: KeyTable,
    by_email: KeyTable,
    by_username: KeyTable,
    /// By object name, compared exactly.
    by_name: KeyTable,
    /// The first two users, in order, that share an object name, if any.
    shared_name: Option<(usize, usize)>,
}

/// The keys a row is matched by (trimmed cells).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowKeys<'a> {
    pub id: &'a str,
    pub coupa_username: &'a str,
    pub email: &'a str,
}

/// What the keys of a row point at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Match {
    /// No user by any key.
    New,
    /// The row updates user `target`; `link` when it sets a Coupa User ID that was empty.
    Update { target: usize, link: bool },
    /// The keys point at another user, or at a user whose other key disagrees.
    Mismatch { with: usize, fields: Vec<Field> },
}

/// The fewest users worth building half of the index on a thread of its own.
const USERS_PER_THREAD: usize = 10_000;

impl<'a, U: StoredUsers + ?Sized> UserIndex<'a, U> {
    /// Indexes the users. A large tenant's five tables are filled on two threads: the Coupa
    /// keys on one, the email, username and name on the other.
    pub fn new(users: &'a U) -> UserIndex<'a, U> {
        let count = users.count();
        let coupa_keys = || {
            let mut tables = (KeyTable::folded(count), KeyTable::folded(count));
            for position in 0..count {
                let user = Stored::new(users, position);
                insert(&mut tables.0, user, Field::CoupaUserId, position);
                insert(&mut tables.1, user, Field::CoupaUsername, position);
            }
            tables
        };
        let names = || {
            let mut tables = (
                KeyTable::folded(count),
                KeyTable::folded(count),
                KeyTable::exact(count),
                None,
            );
            for position in 0..count {
                let user = Stored::new(users, position);
                insert(&mut tables.0, user, Field::Email, position);
                insert(&mut tables.1, user, Field::Username, position);
                if let Some(first) = tables.2.insert_first(user.name(), position) {
                    tables.3.get_or_insert((first, position));
                }
            }
            tables
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let ((by_id, by_coupa_username), (by_email, by_username, by_name, shared_name)) =
            if cores > 1 && count >= USERS_PER_THREAD {
                std::thread::scope(|scope| {
                    let names = scope.spawn(names);
                    let coupa_keys = coupa_keys();
                    let names = names
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (coupa_keys, names)
                })
            } else {
                (coupa_keys(), names())
            };
        UserIndex {
            users,
            by_id,
            by_coupa_username,
            by_email,
            by_username,
            by_name,
            shared_name,
        }
    }

    /// The first two users, in order, that share an object name, if any: a records file that
    /// has them is refused (an API server never has them). Found by the table of names, which
    /// the index builds anyway.
    pub fn shared_name(&self) -> Option<(usize, usize)> {
        self.shared_name
    }

    /// The user at `position`.
    pub(crate) fn user(&self, position: usize) -> Stored<'a, U> {
        Stored::new(self.users, position)
    }

    /// The user holding `username` (case-insensitive), if any.
    pub(crate) fn by_username(&self, username: &str) -> Option<usize> {
        self.by_username.get(username)
    }

    /// The user whose object is called `name`, if any.
    pub(crate) fn by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name)
    }

    /// Applies the table of docs/matching.md (all but the username row, see `planner`).
    pub(crate) fn match_row(&self, keys: RowKeys) -> Match {
        let by_id = lookup(&self.by_id, keys.id);
        let by_cu = lookup(&self.by_coupa_username, keys.coupa_username);
        let by_email = lookup(&self.by_email, keys.email);
        match (by_id, by_cu, by_email) {
            (Some(x), cu, email) => match_by_id(x, cu, email),
            (None, Some(x), email) => {
                if self.has(x, Field::CoupaUserId) {
                    mismatch(x, &[Field::CoupaUsername])
                } else {
                    match email {
                        Some(y) if y != x => mismatch(y, &[Field::Email]),
                        _ => Match::Update {
                            target: x,
                            link: true,
                        },
                    }
                }
            }
            (None, None, Some(x)) => {
                if self.has(x, Field::CoupaUserId) || self.has(x, Field::CoupaUsername) {
                    mismatch(x, &[Field::Email])
                } else {
                    Match::Update {
                        target: x,
                        link: true,
                    }
                }
            }
            (None, None, None) => Match::New,
        }
    }

    fn has(&self, user: usize, field: Field) -> bool {
        self.user(user).get(field).is_some()
    }
}

/// `byId` = X: an Update of X unless `byCu` or `byEmail` is another user.
fn match_by_id(x: usize, by_cu: Option<usize>, by_email: Option<usize>) -> Match {
    let other_cu = by_cu.filter(|&y| y != x);
    let other_email = by_email.filter(|&y| y != x);
    match (other_cu, other_email) {
        (None, None) => Match::Update {
            target: x,
            link: false,
        },
        (Some(y), email) => {
            let mut fields = vec![Field::CoupaUsername];
            if email == Some(y) {
                fields.push(Field::Email);
            }
            mismatch(y, &fields)
        }
        (None, Some(y)) => mismatch(y, &[Field::Email]),
    }
}

fn mismatch(with: usize, fields: &[Field]) -> Match {
    Match::Mismatch {
        with,
        fields: fields.to_vec(),
    }
}

/// Indexes `position` by its `field`, unless blank or held by an earlier user.
fn insert<U: StoredUsers + ?Sized>(
    table: &mut KeyTable,
    user: Stored<U>,
    field: Field,
    position: usize,
) {
    if let Some(value) = user.get(field) {
        table.insert_first(value, position);
    }
}

fn lookup(table: &KeyTable, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    table.get(key)
}

/// Positions by key: for each key, the first position given it (the first record wins when
/// hand-made records break uniqueness). Keys are compared case-folded ([`fold_key`]) or exactly.
///
/// Each key is copied, folded, into one buffer, and the table holds only where a key lies in it
/// and its position. A look-up then reads a small table and a small buffer instead of the
/// users' own strings, scattered over the whole heap: on a large tenant, where every look-up
/// missed the cache twice, that halves the cost of matching.
struct KeyTable {
    fold: bool,
    keys: String,
    table: HashTable<Slot>,
    hasher: foldhash::fast::RandomState,
}

/// A key of a [`KeyTable`]: its bytes in `keys`, and its position.
#[derive(Clone, Copy)]
struct Slot {
    start: usize,
    len: u32,
    position: u32,
}

impl KeyTable {
    fn folded(capacity: usize) -> KeyTable {
        KeyTable::with_capacity(capacity, true)
    }

    fn exact(capacity: usize) -> KeyTable {
        KeyTable::with_capacity(capacity, false)
    }

    fn with_capacity(capacity: usize, fold: bool) -> KeyTable {
        KeyTable {
            fold,
            keys: String::new(),
            table: HashTable::with_capacity(capacity),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The form `key` is compared in.
    fn compared(fold: bool, key: &str) -> Cow<'_, str> {
        if fold {
            fold_key(key)
        } else {
            Cow::Borrowed(key)
        }
    }

    /// Gives `key` the position, unless an earlier position has it: then gives that one.
    fn insert_first(&mut self, key: &str, position: usize) -> Option<usize> {
        let key = KeyTable::compared(self.fold, key);
        let hash = self.hasher.hash_one(&*key);
        let KeyTable {
            keys,
            table,
            hasher,
            ..
        } = self;
        let text = |slot: &Slot| &keys[slot.start..slot.start + slot.len as usize];
        let entry = table.entry(
            hash,
            |slot| text(slot) == key,
            |slot| hasher.hash_one(text(slot)),
        );
        match entry {
            Entry::Occupied(first) => Some(first.get().position as usize),
            Entry::Vacant(vacant) => {
                // A key of 4 GiB, or a tenant of 4 billion users, cannot be held in memory
                // anyway.
                let slot = Slot {
                    start: keys.len(),
                    len: u32::try_from(key.len()).expect("a key under 4 GiB"),
                    position: u32::try_from(position).expect("under 4 billion users"),
                };
                keys.push_str(&key);
                vacant.insert(slot);
                None
            }
        }
    }

    /// The first position given `key`, if any.
    fn get(&self, key: &str) -> Option<usize> {
        let key = KeyTable::compared(self.fold, key);
        let hash = self.hasher.hash_one(&*key);
        let text = |slot: &Slot| &self.keys[slot.start..slot.start + slot.len as usize];
        self.table
            .find(hash, |slot| text(slot) == key)
            .map(|slot| slot.position as usize)
    }
}

/// The case-folded form of a key, borrowed when the key already is in that form (as most are),
/// so that indexing a large tenant does not allocate a string per key.
pub(crate) fn fold_key(value: &str) -> Cow<'_, str> {
    let is_folded = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    };
    if is_folded(value) && trim(value).len() == value.len() {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(fold(value))
    }
}

/// The case-folded form keys are compared in. Keys are nearly always ASCII, whose lower-casing
/// is a plain byte map; anything else takes Unicode's rules.
pub(crate) fn fold(value: &str) -> String {
    let value = trim(value);
    if value.is_ascii() {
        value.to_ascii_lowercase()
    } else {
        value.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_table_compares_folded_or_exact_keys_and_keeps_the_first_position() {
        let mut folded = KeyTable::folded(4);
        assert_eq!(folded.insert_first(" Élodie@Acme.test", 0), None);
        assert_eq!(folded.insert_first("élodie@acme.test", 1), Some(0));
        assert_eq!(folded.insert_first("bo@acme.test", 2), None);
        assert_eq!(folded.get("ÉLODIE@ACME.TEST "), Some(0));
        assert_eq!(folded.get("Bo@Acme.Test"), Some(2));
        assert_eq!(folded.get("bo@acme"), None);
        let mut exact = KeyTable::exact(4);
        assert_eq!(exact.insert_first("acme-1", 0), None);
        assert_eq!(exact.insert_first("acme-1", 1), Some(0));
        assert_eq!(exact.get("acme-1"), Some(0));
        assert_eq!(exact.get("Acme-1"), None);
        assert_eq!(exact.get(" acme-1"), None);
    }

    #[test]
    fn the_index_finds_the_first_two_users_that_share_a_name() {
        let user = |name: &str| ExistingUser {
            name: name.into(),
            spec: TenantUserSpec::default(),
        };
        let names = |names: &[&str]| names.iter().map(|name| user(name)).collect::<Vec<_>>();
        let users = names(&["a", "b", "c", "b", "a", "c"]);
        assert_eq!(UserIndex::new(users.as_slice()).shared_name(), Some((1, 3)));
        let users = names(&["a", "A", "b"]);
        assert_eq!(UserIndex::new(users.as_slice()).shared_name(), None);
        // On two threads, as for a large tenant.
        let mut users: Vec<_> = (0..USERS_PER_THREAD + 1)
            .map(|at| user(&format!("acme-{at}")))
            .collect();
        assert_eq!(UserIndex::new(users.as_slice()).shared_name(), None);
        users.push(user("acme-7"));
        let last = users.len() - 1;
        assert_eq!(
            UserIndex::new(users.as_slice()).shared_name(),
            Some((7, last))
        );
    }
}
