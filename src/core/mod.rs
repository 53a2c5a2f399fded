//! The pure core: reading templates, planning an import, writing the error report.
//!
//! Plain functions over plain data: no Kubernetes client, no async, no I/O. The controller,
//! the command line and the mailer are adapters around this module.

pub mod fields;
pub mod report;
pub mod template;
