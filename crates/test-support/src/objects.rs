//! Objects that the tests and the benches create alike.

use user_import_resources::{SiteAdministrator, SsoSync, Tenant, TenantSpec};

/// The Tenant `name` of the tests and benches: "Acme Corp", a default site administrator to
/// mail (Ada Admin, admin@acme.test), and SSO sync as `sso_sync` says.
pub fn tenant(name: &str, sso_sync: bool) -> Tenant {
    Tenant::new(
        name,
        TenantSpec {
            display_name: "Acme Corp".into(),
            default_site_administrator: Some(SiteAdministrator {
                name: "Ada Admin".into(),
                email: "admin@acme.test".into(),
            }),
            sso_sync: SsoSync { enabled: sso_sync },
            smtp_secret_ref: None,
        },
    )
}
