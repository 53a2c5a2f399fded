//! `user-import-operator`: imports a tenant's users from a Coupa User Import Template.
//!
//! - [`core`]: the pure engine (template reading, planning, error report).
//! - [`resources`]: the custom resources `Tenant`, `TenantUser`, `UserImport`.

pub mod cli;
pub mod core;
pub mod mail;
pub mod resources;
