//! `crds/` is generated from the Rust types: this fails when it is out of date.
//! Regenerate with `cargo run -- crd > crds/riskassess.io.yaml` (and copy it into the chart).

#[test]
fn crds_directory_matches_the_rust_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/riskassess.io.yaml");
    let checked_in = std::fs::read_to_string(path).unwrap();
    let generated = user_import_resources::crds_yaml();
    assert!(
        checked_in == generated,
        "crds/riskassess.io.yaml is out of date: run `cargo run -- crd > crds/riskassess.io.yaml`"
    );
}

#[test]
fn the_crds_name_the_three_kinds_with_status_and_printer_columns() {
    let yaml = user_import_resources::crds_yaml();
    for kind in ["kind: Tenant\n", "kind: TenantUser\n", "kind: UserImport\n"] {
        assert!(yaml.contains(kind), "{kind} missing");
    }
    assert!(
        yaml.contains("status: {}"),
        "UserImport has a status subresource"
    );
    for column in [
        "name: Tenant",
        "name: Phase",
        "name: New",
        "name: Update",
        "name: Problem",
        "name: Age",
    ] {
        assert!(yaml.contains(column), "printer column {column} missing");
    }
}
