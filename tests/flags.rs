//! The flags of the binary and the tables that document them agree, both ways: a flag missing
//! from its table, a row for a flag that no longer exists, or a wrong environment variable
//! fails here.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Flag name (without `--`) → its environment variable, if any.
type Flags = BTreeMap<String, Option<String>>;

#[test]
fn the_run_table_of_the_cluster_guide_is_run_help() {
    let help = help_flags("run");
    let table = doc_table("docs/cluster.md", "| flag | env | default |");
    assert_same("docs/cluster.md's table of `run` flags", &table, &help);
}

#[test]
fn every_flag_of_run_has_its_prefixed_environment_variable() {
    for (flag, env) in help_flags("run") {
        let expected = format!("USER_IMPORT_{}", flag.replace('-', "_").to_uppercase());
        assert_eq!(env, Some(expected), "--{flag}");
    }
}

#[test]
fn the_mail_options_table_is_what_import_reads_from_the_environment() {
    // Of `import`'s options, exactly the mail options have a variable (docs/decisions.md).
    let with_env: Flags = help_flags("import")
        .into_iter()
        .filter(|(_, env)| env.is_some())
        .collect();
    let table = doc_table("docs/cli.md", "| option | environment | meaning |");
    assert_same("docs/cli.md's table of mail options", &table, &with_env);
}

/// Fails naming each flag the table lacks, each row for a flag `help` does not have, and each
/// variable the table gets wrong.
fn assert_same(table_name: &str, table: &Flags, help: &Flags) {
    let mut wrong = Vec::new();
    for (flag, env) in help {
        match table.get(flag) {
            None => wrong.push(format!("--{flag} ({env:?}) is missing")),
            Some(documented) if documented != env => wrong.push(format!(
                "--{flag}: documented {documented:?}, reads {env:?}"
            )),
            Some(_) => {}
        }
    }
    for flag in table.keys().filter(|flag| !help.contains_key(*flag)) {
        wrong.push(format!("--{flag} has a row but is no flag"));
    }
    assert!(
        wrong.is_empty(),
        "{table_name} differs from --help:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_chart_sets_only_variables_that_run_reads() {
    let known: Vec<String> = help_flags("run").into_values().flatten().collect();
    let deployment = read("charts/user-import-operator/templates/deployment.yaml");
    let set: Vec<&str> = deployment
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- name: "))
        .filter(|name| name.starts_with("USER_IMPORT_"))
        .collect();
    assert!(set.contains(&"USER_IMPORT_SMTP_URL"), "{set:?}");
    for name in set {
        assert!(known.iter().any(|k| k == name), "{name} is read by no flag");
    }
}

/// The long flags of `user-import-operator <command> --help` (without `--help`) and the
/// variable clap names beside each, as `[env: NAME=value]` or `[env: NAME]`.
fn help_flags(command: &str) -> Flags {
    let mut child = Command::new(env!("CARGO_BIN_EXE_user-import-operator"));
    child.args([command, "--help"]);
    // A variable that is set shows its value in the help; keep the text plain.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("USER_IMPORT_") {
            child.env_remove(name);
        }
    }
    let out = child.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    // An option's entry runs from its line (`  -h, --help`, `      --flag <V>`) to the next.
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if line.starts_with("  ") && trimmed.starts_with('-') && line.len() - trimmed.len() <= 6 {
            entries.push(String::new());
        }
        if let Some(entry) = entries.last_mut() {
            entry.push_str(line);
            entry.push(' ');
        }
    }
    let flags: Flags = entries
        .iter()
        .filter_map(|entry| {
            let flag = entry
                .split_whitespace()
                .find_map(|w| w.strip_prefix("--"))?;
            let flag = flag.trim_end_matches(',');
            let env = entry
                .split_once("[env: ")
                .map(|(_, rest)| rest.split(['=', ']']).next().unwrap().trim().to_string());
            (flag != "help").then(|| (flag.to_string(), env))
        })
        .collect();
    assert!(flags.len() > 3, "no flags found in:\n{help}");
    flags
}

/// The rows of the Markdown table under `header` in `doc`: the flag named in the first cell
/// (`` `--flag VALUE` ``) → the variable in the second (`` `NAME` ``, or nothing).
fn doc_table(doc: &str, header: &str) -> Flags {
    let text = read(doc);
    let start = text
        .lines()
        .position(|line| line.trim() == header)
        .unwrap_or_else(|| panic!("{doc} has no table headed {header}"));
    let mut flags = Flags::new();
    for line in text.lines().skip(start + 2) {
        if !line.starts_with('|') {
            break;
        }
        // `\|` inside a cell (`true\|false`) is not a column border.
        let line = line.replace("\\|", "/");
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let flag = code_spans(cells[1])
            .into_iter()
            .next()
            .and_then(|code| code.strip_prefix("--").map(str::to_owned))
            .unwrap_or_else(|| panic!("{doc}: no `--flag` first in {line}"));
        let flag = flag.split_whitespace().next().unwrap().to_string();
        let env = code_spans(cells[2]).into_iter().next().map(str::to_owned);
        assert!(
            flags.insert(flag.clone(), env).is_none(),
            "{doc}: --{flag} has two rows"
        );
    }
    flags
}

/// The texts between backticks in a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}
