//! `kubectl-user_import`: the kubectl plugin `kubectl user-import` (kubectl finds it on the PATH
//! and runs it with the words after `user-import`). Everything is in `user_import_operator::plugin`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The API server is reached over TLS: rustls needs its crypto provider chosen once.
    user_import_operator::ops::install_crypto_provider();
    user_import_operator::plugin::main()
}
