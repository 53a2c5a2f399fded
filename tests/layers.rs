//! The layers point one way (docs/architecture.md). Most of it the compiler keeps: the engine
//! crate cannot name an adapter it does not depend on, and `clippy.toml` beside the engine's and
//! the resources' manifests forbids std's file, network and process calls. Two things remain
//! for a test:
//!
//! - what the lower crates depend on, through every level: no Kubernetes client, no async
//!   runtime, no HTTP or mail crate may come in, not even by a feature of a shared dependency
//!   (`kube` brings its client only with the `client` feature);
//! - the mail module, an adapter the others call, uses none of the other adapters.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Crates that do I/O or need a runtime: none may be under the engine or the resources.
const IO_CRATES: &[&str] = &[
    "kube-client",
    "kube-runtime",
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "hyper-util",
    "lettre",
    "rustls",
    "tower",
];

/// Every package in the normal (and build) dependency tree of `package`, with the features
/// that building `package` alone turns on.
fn dependencies(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--locked", "-p", package])
        .args(["-e", "normal,build", "--prefix", "none", "--format", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_engine_and_the_resources_depend_on_no_io_crate() {
    for package in ["user-import-engine", "user-import-resources"] {
        let dependencies = dependencies(package);
        let found: Vec<&str> = IO_CRATES
            .iter()
            .copied()
            .filter(|name| dependencies.contains(*name))
            .collect();
        assert!(found.is_empty(), "{package} depends on {found:?}");
    }
}

/// Without this, a `cargo tree` that printed nothing would pass the test above forever.
#[test]
fn the_operator_crate_does_have_them() {
    let dependencies = dependencies("user-import-operator");
    for name in ["kube-client", "tokio", "lettre", "user-import-engine"] {
        assert!(
            dependencies.contains(name),
            "{name} missing in {dependencies:?}"
        );
    }
}

/// The resources are the bottom layer: no other crate of the workspace is under them.
#[test]
fn the_resources_depend_on_no_crate_of_the_workspace() {
    let dependencies = dependencies("user-import-resources");
    let ours: Vec<&String> = dependencies
        .iter()
        .filter(|name| name.starts_with("user-import-") && *name != "user-import-resources")
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
}

#[test]
fn mail_uses_no_other_adapter() {
    let mail = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/mail");
    let mut files: Vec<_> = std::fs::read_dir(&mail)
        .expect("src/mail")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    files.sort();
    assert!(files.len() > 3, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for adapter in ["controller", "cli", "ops", "plugin"] {
            let path = format!("crate::{adapter}");
            assert!(!text.contains(&path), "{} uses {path}", file.display());
        }
    }
}
