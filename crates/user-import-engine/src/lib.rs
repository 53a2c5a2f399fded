//! The pure engine of user-import-operator: reading templates, planning an import, writing the
//! error report.
//!
//! Plain functions over plain data: no Kubernetes client, no async, no I/O. The crate depends on
//! `user_import_resources` and on no client or runtime crate; `clippy.toml` beside its manifest
//! forbids std's file, network and process calls. The controller, the command line and the
//! mailer (the `user-import-operator` crate) are adapters around it. A large plan uses every
//! core (scoped threads over runs of rows and halves of the index); its result is the same as
//! on one.
//!
//! Packed templates (gzip, a file in a `.tar.gz`) are unpacked by [`archive`] first.
//!
//! The flow: [`template::read_template`] → [`planner::plan`] (using [`validation`],
//! [`matching`] and [`changes`]) → [`results::build_results`] and
//! [`error_report::write_error_report`].

#![warn(missing_docs, unreachable_pub)]

pub mod archive;
pub(crate) mod changes;
pub mod error_report;
pub mod fields;
pub mod matching;
pub mod naming;
pub mod planner;
pub mod results;
pub mod template;
pub mod users;
pub mod validation;

#[cfg(test)]
mod tests;
