//! The users of a records file as `plan` keeps them: their texts one after another in one
//! buffer, and each user's name and fields as spans of it, not as strings of their own.
//!
//! At 100,000 users a records file holds about a million texts. As strings of their own they
//! cost a million allocations and twice the memory of the file; as spans they cost 8 bytes
//! each, and the buffer holds only the texts, not the rest of the file. The planner reads them
//! through [`StoredUsers`], as it reads whole records.

use anyhow::{Result, bail};

use user_import_engine::fields::Field;
use user_import_engine::matching::ExistingUser;
use user_import_engine::users::StoredUsers;
use user_import_resources::TenantUserSpec;

/// Where a text lies in a [`Texts`] buffer (or, while the scanner reads a unit, in its window
/// of the file and the texts it decoded, which follow it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// No text: the field is absent.
    pub(crate) const ABSENT: Span = Span {
        start: u32::MAX,
        len: 0,
    };

    /// The span of `len` bytes from `start`; both must be under [`MAX_TEXT_BYTES`].
    pub(crate) fn new(start: usize, len: usize) -> Span {
        debug_assert!(start + len <= MAX_TEXT_BYTES);
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    /// Where the span lies in a text.
    pub(crate) fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// One user: the spans of its name and of its fields' texts, and whether it is SSO-synced.
#[derive(Clone, Debug)]
pub(crate) struct PlanUser {
    pub(crate) name: Span,
    /// By [`Field`] (`field as usize`); Status as its name.
    pub(crate) texts: [Span; Field::ALL.len()],
    pub(crate) sso_synced: bool,
}

/// The most bytes of text a span can point into.
pub(crate) const MAX_TEXT_BYTES: usize = u32::MAX as usize - 1;

/// The users' texts, one after another.
#[derive(Clone, Debug, Default)]
pub(crate) struct Texts(String);

impl Texts {
    /// Adds `text`, and gives its span; None when the buffer would be longer than
    /// [`MAX_TEXT_BYTES`], more than a span can point into.
    pub(crate) fn add(&mut self, text: &str) -> Option<Span> {
        if self.0.len() + text.len() > MAX_TEXT_BYTES {
            return None;
        }
        let span = Span::new(self.0.len(), text.len());
        self.0.push_str(text);
        Some(span)
    }

    /// The text a span points at; None for [`Span::ABSENT`].
    #[inline]
    pub(crate) fn get(&self, span: Span) -> Option<&str> {
        (span != Span::ABSENT).then(|| &self.0[span.range()])
    }

    /// How long the buffer is: where it is cut back to by [`Texts::truncate`].
    pub(crate) fn mark(&self) -> usize {
        self.0.len()
    }

    /// Drops the texts added since `mark`.
    pub(crate) fn truncate(&mut self, mark: usize) {
        self.0.truncate(mark);
    }
}

/// The texts, and the users whose spans point into them.
#[derive(Clone, Debug, Default)]
pub struct PlanUsers {
    texts: Texts,
    users: Vec<PlanUser>,
}

impl PlanUsers {
    /// The users of a scan, their spans pointing into `texts`.
    pub(crate) fn from_parts(texts: Texts, users: Vec<PlanUser>) -> PlanUsers {
        PlanUsers { texts, users }
    }

    /// Adds a user: its name, each field's text (`text`), and whether it is SSO-synced. Fails
    /// when the texts would be more than the 4 GiB that spans point into.
    pub(crate) fn push<'t>(
        &mut self,
        name: &str,
        text: impl Fn(Field) -> Option<&'t str>,
        sso_synced: bool,
    ) -> Result<()> {
        let texts = &mut self.texts;
        let mut add = |text: &str| -> Result<Span> {
            match texts.add(text) {
                Some(span) => Ok(span),
                None => {
                    bail!("the records file holds more than the 4 GiB of text that plan reads")
                }
            }
        };
        let name = add(name)?;
        let mut spans = [Span::ABSENT; Field::ALL.len()];
        for field in Field::ALL {
            if let Some(text) = text(field) {
                spans[field as usize] = add(text)?;
            }
        }
        self.users.push(PlanUser {
            name,
            texts: spans,
            sso_synced,
        });
        Ok(())
    }

    /// The users read whole, their texts copied into one buffer.
    #[cfg(test)]
    pub(crate) fn from_existing(users: &[ExistingUser]) -> Result<PlanUsers> {
        let mut plan_users = PlanUsers::default();
        for user in users {
            plan_users.push(
                &user.name,
                |field| field.text(&user.spec),
                user.spec.sso_synced,
            )?;
        }
        Ok(plan_users)
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The users as whole records: what a full read of the same file gives.
    pub fn to_existing(&self) -> Vec<ExistingUser> {
        (0..self.len())
            .map(|at| ExistingUser {
                name: self.name(at).to_string(),
                spec: self.spec(at),
            })
            .collect()
    }
}

impl StoredUsers for PlanUsers {
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
        let mut spec = TenantUserSpec {
            sso_synced: self.sso_synced(at),
            ..TenantUserSpec::default()
        };
        for field in Field::ALL {
            // A stored status is one of the three names: a read refuses any other.
            if let Some(text) = self.text(at, field) {
                field.set(&mut spec, text);
            }
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use user_import_engine::matching::UserIndex;
    use user_import_engine::planner::{PlanOptions, Writes, plan_checked};
    use user_import_engine::validation::validate_rows;
    use user_import_resources::UserStatus;

    /// The planner reads users kept as spans as it reads whole records: the same plan, writes
    /// and all, for the bundled examples.
    #[test]
    fn users_kept_as_spans_plan_as_whole_records_do() {
        let (template, records) = crate::cli::tests::examples();
        let spans = PlanUsers::from_existing(&records.users).unwrap();
        for sso_sync in [false, true] {
            let options = PlanOptions {
                tenant: "acme".into(),
                sso_sync,
            };
            fn plan<U: StoredUsers + ?Sized>(
                template: &user_import_engine::template::Template,
                users: &U,
                options: &PlanOptions,
            ) -> user_import_engine::planner::Plan {
                let problems = validate_rows(template);
                plan_checked(
                    template,
                    problems,
                    &UserIndex::new(users),
                    options,
                    Writes::Keep,
                )
            }
            let whole = plan(&template, records.users.as_slice(), &options);
            assert!(whole.counts.update > 0 && whole.counts.problem > 0);
            assert_eq!(plan(&template, &spans, &options), whole);
        }
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        prop::option::of("[ a-zé@.]{0,6}")
    }

    proptest! {
        /// Kept as spans, every text reads back as it was: absent, blank or not.
        #[test]
        fn users_read_back_from_their_spans(
            users in prop::collection::vec(
                ("[a-z0-9-]{1,8}", text(), text(), text(), any::<Option<bool>>(), any::<bool>()),
                0..6,
            )
        ) {
            let users: Vec<ExistingUser> = users
                .into_iter()
                .map(|(name, username, email, city, status, sso_synced)| ExistingUser {
                    name,
                    spec: TenantUserSpec {
                        username,
                        email,
                        city,
                        status: status.map(|active| if active { UserStatus::Active } else { UserStatus::Deleted }),
                        sso_synced,
                        ..TenantUserSpec::default()
                    },
                })
                .collect();
            let spans = PlanUsers::from_existing(&users).unwrap();
            prop_assert_eq!(spans.to_existing(), users);
        }
    }
}
