//! `user-import-operator`: imports a tenant's users from a Coupa User Import Template.
//!
//! The adapters around the pure engine (docs/architecture.md):
//!
//! - [`cli`], [`controller`], [`plugin`]: the command line, the controller, the kubectl plugin
//!   `kubectl user-import`.
//! - [`mail`]: the error report's mail; [`ops`]: the process (signals, HTTP probes, leader
//!   election, logs); [`policy`]: where data may go (recipient domains, template hosts).
//! - `sections`: the three sections of an import as plain data, which the command line's
//!   table, the mail's HTML and the kubectl plugin draw.
//! - [`backoff`]: the one back-off every retry uses; `task`: the one task that ends with its
//!   owner.
//!
//! The layers below are crates of their own, so that the compiler keeps them apart:
//! `user_import_resources` (the custom resources) and `user_import_engine` (template reading,
//! planning, the error report; no client, no async, no I/O).

#![warn(missing_docs, unreachable_pub)]

pub mod backoff;
pub mod cli;
pub mod controller;
pub mod mail;
pub mod ops;
pub mod plugin;
pub mod policy;
mod sections;
mod task;
