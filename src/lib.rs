//! `user-import-operator`: imports a tenant's users from a Coupa User Import Template.
//!
//! - [`core`]: the pure engine (template reading, planning, error report).
//! - [`resources`]: the custom resources `Tenant`, `TenantUser`, `UserImport`.
//! - [`backoff`]: the one back-off every retry uses.
//! - [`cli`], [`controller`], [`plugin`]: adapters around the core (the command line, the
//!   controller, the kubectl plugin `kubectl user-import`).

#![warn(missing_docs, unreachable_pub)]

pub mod backoff;
pub mod cli;
pub mod controller;
pub mod core;
pub mod mail;
pub mod ops;
pub mod plugin;
pub mod resources;
