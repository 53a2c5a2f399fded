//! Any bytes as a User Import Template: read within the size limit, planned against no users
//! and the example users, error report and JSON report written (checks in `../checks.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::template(bytes));
