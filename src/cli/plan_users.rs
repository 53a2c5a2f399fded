//! The users of a records file as `plan` keeps them: their texts one after another in one
//! buffer, and each user's name and fields as spans of it, not as strings of their own.
//!
//! At 100,000 users a records file holds about a million texts. As strings of their own they
//! cost a million allocations and twice the memory of the file; as spans they cost 8 bytes
//! each, and the buffer holds only the texts, not the rest of the file. The planner reads them
//! through [`StoredUsers`](user_import_engine::users::StoredUsers), as it reads whole records.
//! The form is the engine's ([`user_import_engine::users::CompactUsers`]): the controller keeps
//! the pages of its list of a tenant's users in it too.

pub use user_import_engine::users::CompactUsers as PlanUsers;
pub(crate) use user_import_engine::users::{CompactUser as PlanUser, MAX_TEXT_BYTES, Span, Texts};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use user_import_engine::matching::{ExistingUser, UserIndex};
    use user_import_engine::planner::{PlanOptions, Writes, plan_checked};
    use user_import_engine::users::StoredUsers;
    use user_import_engine::validation::validate_rows;
    use user_import_resources::TenantUserSpec;
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
