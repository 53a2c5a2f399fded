//! Matching a row to the tenant's existing users (spec section 4).

use std::borrow::Cow;

use foldhash::{HashMap, HashMapExt};

use super::fields::{Field, trim};
use crate::resources::TenantUserSpec;

/// An existing user record of the tenant: its object name and its spec.
#[derive(Clone, Debug, PartialEq)]
pub struct ExistingUser {
    pub name: String,
    pub spec: TenantUserSpec,
}

/// Case-insensitive look-ups of the tenant's users by each key. Built once per plan: O(users).
pub struct UserIndex<'a> {
    pub users: &'a [ExistingUser],
    by_id: HashMap<Cow<'a, str>, usize>,
    by_coupa_username: HashMap<Cow<'a, str>, usize>,
    by_email: HashMap<Cow<'a, str>, usize>,
    by_username: HashMap<Cow<'a, str>, usize>,
    by_name: HashMap<&'a str, usize>,
}

/// The keys a row is matched by (trimmed cells).
#[derive(Clone, Copy, Debug)]
pub struct RowKeys<'a> {
    pub id: &'a str,
    pub coupa_username: &'a str,
    pub email: &'a str,
}

/// What the keys of a row point at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// No user by any key.
    New,
    /// The row updates user `target`; `link` when it sets a Coupa User ID that was empty.
    Update { target: usize, link: bool },
    /// The keys point at another user, or at a user whose other key disagrees.
    Mismatch { with: usize, fields: Vec<Field> },
}

/// The fewest users worth building half of the index on a thread of its own.
const USERS_PER_THREAD: usize = 10_000;

/// Keys to positions; the first record wins when hand-made records break uniqueness.
type KeyMap<'a> = HashMap<Cow<'a, str>, usize>;

impl<'a> UserIndex<'a> {
    /// Indexes the users. A large tenant's five maps are filled on two threads: the three keys
    /// rows are matched by on one, the username and name on the other.
    pub fn new(users: &'a [ExistingUser]) -> UserIndex<'a> {
        let keys = || {
            let mut maps = (
                KeyMap::with_capacity(users.len()),
                KeyMap::with_capacity(users.len()),
                KeyMap::with_capacity(users.len()),
            );
            for (position, user) in users.iter().enumerate() {
                insert(&mut maps.0, &user.spec, Field::CoupaUserId, position);
                insert(&mut maps.1, &user.spec, Field::CoupaUsername, position);
                insert(&mut maps.2, &user.spec, Field::Email, position);
            }
            maps
        };
        let names = || {
            let mut by_username = KeyMap::with_capacity(users.len());
            let mut by_name = HashMap::with_capacity(users.len());
            for (position, user) in users.iter().enumerate() {
                insert(&mut by_username, &user.spec, Field::Username, position);
                by_name.entry(user.name.as_str()).or_insert(position);
            }
            (by_username, by_name)
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let ((by_id, by_coupa_username, by_email), (by_username, by_name)) =
            if cores > 1 && users.len() >= USERS_PER_THREAD {
                std::thread::scope(|scope| {
                    let names = scope.spawn(names);
                    let keys = keys();
                    let names = names
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (keys, names)
                })
            } else {
                (keys(), names())
            };
        UserIndex {
            users,
            by_id,
            by_coupa_username,
            by_email,
            by_username,
            by_name,
        }
    }

    /// The user holding `username` (case-insensitive), if any.
    pub fn by_username(&self, username: &str) -> Option<usize> {
        self.by_username.get(&fold_key(username)).copied()
    }

    /// The user whose object is called `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Applies the table of spec section 4 (all but the username row, see `planner`).
    pub fn match_row(&self, keys: RowKeys) -> Match {
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
        field.get(&self.users[user].spec).is_some()
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
fn insert<'a>(map: &mut KeyMap<'a>, spec: &'a TenantUserSpec, field: Field, position: usize) {
    if let Some(value) = field.get(spec) {
        map.entry(fold_key(value)).or_insert(position);
    }
}

fn lookup(map: &HashMap<Cow<str>, usize>, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    map.get(&fold_key(key)).copied()
}

/// The case-folded form of a key, borrowed when the key already is in that form (as most are),
/// so that indexing a large tenant does not allocate a string per key.
pub fn fold_key(value: &str) -> Cow<'_, str> {
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
pub fn fold(value: &str) -> String {
    let value = trim(value);
    if value.is_ascii() {
        value.to_ascii_lowercase()
    } else {
        value.to_lowercase()
    }
}
