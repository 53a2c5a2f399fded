//! Any bytes as a `--records` file: read, rendered, read back, planned against (checks in
//! `../checks.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::records(bytes));
