//! The pure core: reading templates, planning an import, writing the error report.
//!
//! Plain functions over plain data: no Kubernetes client, no async, no I/O. The controller,
//! the command line and the mailer are adapters around this module. A large plan uses every
//! core (scoped threads over runs of rows and halves of the index); its result is the same as
//! on one.
//!
//! Packed templates (gzip, a file in a `.tar.gz`) are unpacked by [`archive`] first.
//!
//! The flow: [`template::read_template`] → [`planner::plan`] (using [`validation`],
//! [`matching`] and [`changes`]) → [`report::build_report`] and
//! [`error_report::write_error_report`].

pub(crate) mod archive;
pub(crate) mod changes;
pub mod error_report;
pub(crate) mod fields;
pub mod matching;
pub(crate) mod naming;
pub mod planner;
pub mod report;
pub mod template;
pub(crate) mod users;
pub(crate) mod validation;

#[cfg(test)]
mod tests;
