//! Data shared by the benchmarks: the template header and the synthetic users they plan against.

#![allow(dead_code)] // Each bench uses a different part of this module.

use user_import_engine::matching::ExistingUser;
use user_import_resources::{Tenant, TenantUserSpec, UserStatus};

/// The header of every generated template.
pub const HEADER: &str =
    "First Name,Last Name,Email,Coupa Username,Coupa User ID,Status,Title,City,Department\n";

/// Existing user number `i` of tenant `tenant`: the row `Ann,Lee{i},user{i}@acme.test,user{i},{i},
/// Active,Analyst,Boston` matches it exactly.
pub fn synthetic_user(tenant: &str, i: usize, sso_synced: bool) -> ExistingUser {
    ExistingUser {
        name: format!("{tenant}-{i}"),
        spec: TenantUserSpec {
            username: Some(format!("user{i}")),
            first_name: Some("Ann".into()),
            last_name: Some(format!("Lee{i}")),
            email: Some(format!("user{i}@acme.test")),
            coupa_username: Some(format!("user{i}")),
            coupa_user_id: Some(i.to_string()),
            status: Some(UserStatus::Active),
            title: Some("Analyst".into()),
            city: Some("Boston".into()),
            sso_synced,
            ..TenantUserSpec::default()
        },
    }
}

/// The tenant `name` of every bench: SSO sync on, a default site administrator to mail.
pub fn tenant(name: &str) -> Tenant {
    user_import_test_support::objects::tenant(name, true)
}
