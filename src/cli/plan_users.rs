//! The users of a records file as `plan` keeps them: each text a span of the file's own text,
//! not a string of its own.
//!
//! At 100,000 users a records file holds about a million texts. As strings of their own they
//! cost a million allocations and twice the memory of the file; as spans they cost 8 bytes
//! each. The planner reads them through [`StoredUsers`], as it reads whole records.

use anyhow::{Result, bail};

use crate::core::fields::Field;
use crate::core::matching::ExistingUser;
use crate::core::users::StoredUsers;
use crate::resources::TenantUserSpec;

/// Where a text lies: in the file's text, or (from `text.len()` on) in the texts that had to
/// be decoded, which follow it.
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
}

/// One user: the spans of its name and of its fields' texts, and whether it is SSO-synced.
#[derive(Clone, Debug)]
pub(crate) struct PlanUser {
    pub(crate) name: Span,
    /// By [`Field`] (`field as usize`); Status as its name.
    pub(crate) texts: [Span; Field::ALL.len()],
    pub(crate) sso_synced: bool,
}

/// The texts, and the users whose spans point into them.
#[derive(Clone, Debug, Default)]
pub struct PlanUsers {
    /// The records file's text, where most texts lie as they are.
    text: String,
    /// The texts that are not in `text` as such: strings with escapes, decoded.
    decoded: String,
    users: Vec<PlanUser>,
}

/// The most bytes of text a span can point into: the file's and the decoded texts together.
pub(crate) const MAX_TEXT_BYTES: usize = u32::MAX as usize - 1;

impl PlanUsers {
    /// The users of a scan: their spans point into `text`, the file's, and after it into
    /// `decoded`.
    pub(crate) fn from_parts(text: String, decoded: String, users: Vec<PlanUser>) -> PlanUsers {
        PlanUsers {
            text,
            decoded,
            users,
        }
    }

    /// The users read the slow way, whole, their texts copied into one buffer.
    pub(crate) fn from_existing(users: &[ExistingUser]) -> Result<PlanUsers> {
        let mut plan_users = PlanUsers::default();
        plan_users.users.reserve(users.len());
        for user in users {
            let decoded = &mut plan_users.decoded;
            let mut add = |text: &str| -> Result<Span> {
                if decoded.len() + text.len() > MAX_TEXT_BYTES {
                    bail!("the records file holds more than the 4 GiB of text that plan reads");
                }
                let span = Span::new(decoded.len(), text.len());
                decoded.push_str(text);
                Ok(span)
            };
            let name = add(&user.name)?;
            let mut texts = [Span::ABSENT; Field::ALL.len()];
            for field in Field::ALL {
                if let Some(text) = field.text(&user.spec) {
                    texts[field as usize] = add(text)?;
                }
            }
            plan_users.users.push(PlanUser {
                name,
                texts,
                sso_synced: user.spec.sso_synced,
            });
        }
        Ok(plan_users)
    }

    /// The text a span points at; None for [`Span::ABSENT`].
    pub(crate) fn get(&self, span: Span) -> Option<&str> {
        PlanUsers::resolve(&self.text, &self.decoded, span)
    }

    /// The text `span` points at in a file's `text` followed by the `decoded` texts.
    pub(crate) fn resolve<'a>(text: &'a str, decoded: &'a str, span: Span) -> Option<&'a str> {
        if span == Span::ABSENT {
            return None;
        }
        let (start, len) = (span.start as usize, span.len as usize);
        Some(match start.checked_sub(text.len()) {
            None => &text[start..start + len],
            Some(start) => &decoded[start..start + len],
        })
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
        self.get(self.users[at].name).unwrap_or("")
    }

    fn text(&self, at: usize, field: Field) -> Option<&str> {
        self.get(self.users[at].texts[field as usize])
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
    use crate::core::matching::UserIndex;
    use crate::core::planner::{PlanOptions, Writes, plan_checked};
    use crate::core::validation::validate_rows;
    use crate::resources::UserStatus;

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
                template: &crate::core::template::Template,
                users: &U,
                options: &PlanOptions,
            ) -> crate::core::planner::Plan {
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
