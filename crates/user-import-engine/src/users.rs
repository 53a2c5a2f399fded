//! The tenant's stored users, as the planner reads them: by position, field by field.
//!
//! `import` hands the planner whole records ([`ExistingUser`]). The controller (from the pages
//! of its list) and `plan` (from a records file) hand it [`CompactUsers`]: every text one after
//! another in one buffer, each user's name and fields as spans of it, which spares a million
//! small strings at 100,000 users. Both are read through [`StoredUsers`].

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

/// Where a text lies in a [`Texts`] buffer (or, while the command line's scanner reads a unit
/// of a records file, in its window of the file and the texts it decoded, which follow it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// No text: the field is absent.
    pub const ABSENT: Span = Span {
        start: u32::MAX,
        len: 0,
    };

    /// The span of `len` bytes from `start`; both must be under [`MAX_TEXT_BYTES`].
    pub fn new(start: usize, len: usize) -> Span {
        debug_assert!(start + len <= MAX_TEXT_BYTES);
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    /// Where the span lies in a text.
    pub fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// One user: the spans of its name and of its fields' texts, and whether it is SSO-synced.
#[derive(Clone, Debug)]
pub struct CompactUser {
    /// The object name.
    pub name: Span,
    /// By [`Field`] (`field as usize`); Status as its name.
    pub texts: [Span; Field::ALL.len()],
    /// Whether the user is SSO-synced with Coupa.
    pub sso_synced: bool,
}

/// The most bytes of text a span can point into.
pub const MAX_TEXT_BYTES: usize = u32::MAX as usize - 1;

/// The users' texts, one after another.
#[derive(Clone, Debug, Default)]
pub struct Texts(String);

impl Texts {
    /// Adds `text`, and gives its span; None when the buffer would be longer than
    /// [`MAX_TEXT_BYTES`], more than a span can point into.
    pub fn add(&mut self, text: &str) -> Option<Span> {
        if self.0.len() + text.len() > MAX_TEXT_BYTES {
            return None;
        }
        let span = Span::new(self.0.len(), text.len());
        self.0.push_str(text);
        Some(span)
    }

    /// The text a span points at; None for [`Span::ABSENT`].
    #[inline]
    pub fn get(&self, span: Span) -> Option<&str> {
        (span != Span::ABSENT).then(|| &self.0[span.range()])
    }

    /// How long the buffer is: where it is cut back to by [`Texts::truncate`].
    pub fn mark(&self) -> usize {
        self.0.len()
    }

    /// Drops the texts added since `mark`.
    pub fn truncate(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    /// Gives back the room reserved beyond the texts.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

/// The users' texts would be more than the 4 GiB ([`MAX_TEXT_BYTES`]) that spans point into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the users hold more than the 4 GiB of text that spans point into")]
pub struct TextsFull;

/// The texts, and the users whose spans point into them: about 180 bytes a user besides its
/// texts, against about 860 in a [`TenantUserSpec`] and its strings.
#[derive(Clone, Debug, Default)]
pub struct CompactUsers {
    texts: Texts,
    users: Vec<CompactUser>,
}

impl CompactUsers {
    /// The users of a scan, their spans pointing into `texts`.
    pub fn from_parts(texts: Texts, users: Vec<CompactUser>) -> CompactUsers {
        CompactUsers { texts, users }
    }

    /// Adds a user: its name, each field's text (`text`), and whether it is SSO-synced.
    pub fn push<'t>(
        &mut self,
        name: &str,
        text: impl Fn(Field) -> Option<&'t str>,
        sso_synced: bool,
    ) -> Result<(), TextsFull> {
        let texts = &mut self.texts;
        let mut add = |text: &str| texts.add(text).ok_or(TextsFull);
        let name = add(name)?;
        let mut spans = [Span::ABSENT; Field::ALL.len()];
        for field in Field::ALL {
            if let Some(text) = text(field) {
                spans[field as usize] = add(text)?;
            }
        }
        self.users.push(CompactUser {
            name,
            texts: spans,
            sso_synced,
        });
        Ok(())
    }

    /// Adds a whole record.
    pub fn push_existing(&mut self, name: &str, spec: &TenantUserSpec) -> Result<(), TextsFull> {
        self.push(name, |field| field.text(spec), spec.sso_synced)
    }

    /// Whole records, their texts copied into one buffer.
    pub fn from_existing(users: &[ExistingUser]) -> Result<CompactUsers, TextsFull> {
        let mut compact = CompactUsers::default();
        for user in users {
            compact.push_existing(&user.name, &user.spec)?;
        }
        Ok(compact)
    }

    /// Gives back the room reserved beyond the users and their texts.
    pub fn shrink_to_fit(&mut self) {
        self.texts.shrink_to_fit();
        self.users.shrink_to_fit();
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The users as whole records.
    pub fn to_existing(&self) -> Vec<ExistingUser> {
        (0..self.len())
            .map(|at| ExistingUser {
                name: self.name(at).to_string(),
                spec: self.spec(at),
            })
            .collect()
    }
}

impl StoredUsers for CompactUsers {
    fn count(&self) -> usize {
        self.users.len()
    }

    fn name(&self, at: usize) -> &str {
        self.texts.get(self.users[at].name).unwrap_or("")
    }

    fn text(&self, at: usize, field: Field) -> Option<&str> {
        self.texts.get(self.users[at].texts[field as usize])
    }

    fn sso_synced(&self, at: usize) -> bool {
        self.users[at].sso_synced
    }

    fn spec(&self, at: usize) -> TenantUserSpec {
        spec_of(|field| self.text(at, field), self.sso_synced(at))
    }
}

/// The spec whose fields have the texts `text` gives (for Status, its name).
fn spec_of<'t>(text: impl Fn(Field) -> Option<&'t str>, sso_synced: bool) -> TenantUserSpec {
    let mut spec = TenantUserSpec {
        sso_synced,
        ..TenantUserSpec::default()
    };
    for field in Field::ALL {
        // A stored status is one of the three names, which parse back to themselves.
        if let Some(text) = text(field) {
            field.set(&mut spec, text);
        }
    }
    spec
}

/// One user's spec, kept compactly: its texts one after another in one allocation, and where
/// each field's text ends. About 100 bytes and one allocation besides its texts, against the
/// 512 bytes and a string per field of a [`TenantUserSpec`]: a plan keeps one per write, 200,000
/// at the largest template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactSpec {
    texts: Box<str>,
    /// By [`Field`] (`field as usize`), where its text ends in `texts` (it starts where the
    /// field before it ends).
    ends: [u32; Field::ALL.len()],
    /// Bit `field as usize` set when the field is present (blank or not).
    present: u32,
    sso_synced: bool,
}

impl CompactSpec {
    /// `spec`, kept compactly.
    pub fn of(spec: &TenantUserSpec) -> CompactSpec {
        let mut texts = String::new();
        let mut ends = [0; Field::ALL.len()];
        let mut present = 0;
        for field in Field::ALL {
            if let Some(text) = field.text(spec) {
                texts.push_str(text);
                present |= 1 << field as usize;
            }
            // A template's cells and a stored user's texts are far under 4 GiB.
            ends[field as usize] = texts.len() as u32;
        }
        CompactSpec {
            texts: texts.into_boxed_str(),
            ends,
            present,
            sso_synced: spec.sso_synced,
        }
    }

    /// The text of `field` (for Status, its name), blank or not; None when absent.
    pub fn text(&self, field: Field) -> Option<&str> {
        if self.present & (1 << field as usize) == 0 {
            return None;
        }
        let at = field as usize;
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        Some(&self.texts[start as usize..self.ends[at] as usize])
    }

    /// Whether the user is SSO-synced with Coupa.
    pub fn sso_synced(&self) -> bool {
        self.sso_synced
    }

    /// The spec as the API takes it.
    pub fn to_spec(&self) -> TenantUserSpec {
        spec_of(|field| self.text(field), self.sso_synced)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use user_import_resources::UserStatus;

    fn text() -> impl Strategy<Value = Option<String>> {
        prop::option::of("[ a-zé@.]{0,6}")
    }

    proptest! {
        /// Kept compactly, a spec reads back as it was: every field absent, blank or not.
        #[test]
        fn a_compact_spec_reads_back_as_it_was(
            (username, first_name, email, city, country) in (text(), text(), text(), text(), text()),
            status in prop::option::of(prop::sample::select(vec![
                UserStatus::Active,
                UserStatus::Inactive,
                UserStatus::Deleted,
            ])),
            sso_synced in any::<bool>(),
        ) {
            let spec = TenantUserSpec {
                username,
                first_name,
                email,
                city,
                country,
                status,
                sso_synced,
                ..TenantUserSpec::default()
            };
            let compact = CompactSpec::of(&spec);
            for field in Field::ALL {
                prop_assert_eq!(compact.text(field), field.text(&spec));
            }
            prop_assert_eq!(compact.to_spec(), spec);
        }
    }
}
