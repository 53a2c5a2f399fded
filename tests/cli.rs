//! The command line (docs/cli.md), run as a real process on files in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_user-import-operator");

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A scratch folder holding copies of the example template and records.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["template.csv", "records.yaml"] {
        std::fs::copy(examples().join(file), dir.path().join(file)).unwrap();
    }
    dir
}

/// Runs the binary in `dir`. `import` gets `--to admin@acme.test` unless the arguments name a
/// recipient, or say `--no-to` (removed before running) to test the missing recipient.
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut args = args.to_vec();
    if args[0] == "import" && !args.contains(&"--to") && !args.contains(&"--no-to") {
        args.extend(["--to", "admin@acme.test"]);
    }
    args.retain(|arg| *arg != "--no-to");
    let output = Command::new(BIN)
        .current_dir(dir)
        .args(&args)
        .output()
        .unwrap();
    assert_ne!(
        output.status.code(),
        Some(101),
        "panicked: {}",
        stderr(&output)
    );
    output
}

/// The words of a command line without quoting (for arguments without spaces).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `plan` of the examples for the Acme Corp tenant, as JSON.
fn plan_json() -> Vec<&'static str> {
    plan_json_of("records.yaml")
}

/// [`plan_json`], the users read from `records`.
fn plan_json_of(records: &str) -> Vec<&str> {
    [
        words("plan --template template.csv --records"),
        vec![records, "--tenant", "Acme Corp"],
        words("--output json"),
    ]
    .concat()
}

#[test]
fn plan_on_the_examples_sorts_every_row() {
    let dir = scratch();
    let report = json(&run(dir.path(), &plan_json()));
    assert_eq!(
        report["counts"],
        serde_json::json!({"new": 5, "update": 5, "unchanged": 1, "problem": 10})
    );
    let rows = |section: &str| -> Vec<u64> {
        report[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["row"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(rows("new"), [2, 9, 21, 22, 23]);
    assert_eq!(rows("update"), [3, 4, 6, 7, 8]);
    assert_eq!(rows("problem"), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    let reasons: Vec<&str> = report["problem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    for reason in [
        "MissingMandatoryField",
        "InvalidEmail",
        "InvalidCoupaUserId",
        "InvalidStatus",
        "DuplicateInTemplate",
        "Mismatch",
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason} not covered by the examples"
        );
    }
    assert_eq!(
        report["update"][0]["highlightedFields"],
        serde_json::json!(["lastName", "city"])
    );
    assert!(
        report["highlightMessage"]
            .as_str()
            .unwrap()
            .starts_with("Any field highlighted in yellow")
    );
    // The report names the error report and counts its rows, though `plan` writes it only
    // when asked to.
    assert_eq!(report["errorReport"]["rows"], 10);
    assert!(
        report["errorReport"]["fileName"]
            .as_str()
            .unwrap()
            .starts_with("User Sync Error Report - Acme Corp - ")
    );
    assert_eq!(
        files(dir.path()),
        ["records.yaml", "template.csv"],
        "plan writes nothing"
    );
}

/// `plan --error-report` writes the error report `import` writes, byte for byte.
#[test]
fn plan_writes_the_error_report_import_writes_when_asked() {
    let report_of = |command: &str| {
        let dir = scratch();
        std::fs::create_dir(dir.path().join("reports")).unwrap();
        let args = [
            words(command),
            words("--template template.csv --records records.yaml --tenant"),
            vec!["Acme Corp"],
            words("--date 2026-11-24 --error-report reports/ --output json"),
        ]
        .concat();
        let report = json(&run(dir.path(), &args));
        assert_eq!(report["errorReport"]["rows"], 10, "{command}");
        let path = "reports/User Sync Error Report - Acme Corp - 2026-11-24.csv";
        std::fs::read(dir.path().join(path)).unwrap()
    };
    let planned = report_of("plan");
    assert!(planned.starts_with(b"\xEF\xBB\xBFSync Failed Date,First Name,"));
    assert_eq!(planned, report_of("import"));
}

#[test]
fn the_table_shows_three_sections_and_the_sentence_under_new_data() {
    let dir = scratch();
    let output = run(
        dir.path(),
        &words("plan --template template.csv --records records.yaml"),
    );
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let new = text.find("New Data (5)").expect("New Data");
    let sentence = text
        .find("Any field highlighted in yellow above")
        .expect("sentence");
    let update = text.find("Update Data (5)").expect("Update Data");
    let problem = text.find("Problem Data (10)").expect("Problem Data");
    assert!(new < sentence && sentence < update && update < problem);
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn import_rewrites_the_records_writes_the_report_and_converges() {
    let dir = scratch();
    let args = [
        words("import --template template.csv --records records.yaml --tenant"),
        vec!["Acme Corp"],
        words("--date 2026-11-24 --error-report reports/ --output json"),
    ]
    .concat();
    std::fs::create_dir(dir.path().join("reports")).unwrap();
    let report = json(&run(dir.path(), &args));
    assert_eq!(
        report["errorReport"]["fileName"],
        "User Sync Error Report - Acme Corp - 2026-11-24.csv"
    );
    let csv = std::fs::read(
        dir.path()
            .join("reports/User Sync Error Report - Acme Corp - 2026-11-24.csv"),
    )
    .unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBFSync Failed Date,First Name,"));
    assert_eq!(
        files(dir.path()),
        ["outbox", "records.yaml", "reports", "template.csv"],
        "no temporary file left"
    );
    let records = std::fs::read_to_string(dir.path().join("records.yaml")).unwrap();
    assert!(
        records.starts_with("apiVersion: v1\nkind: List\n"),
        "same form: a YAML List"
    );
    assert!(
        records.contains("name: acme-1001"),
        "new record named <tenant label>-<id>"
    );
    let again = json(&run(dir.path(), &plan_json()));
    assert_eq!(again["counts"]["new"], 0);
    assert!(
        again["update"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["changedFields"] == serde_json::json!([]))
    );
}

#[test]
fn a_json_records_file_stays_json_and_documents_stay_documents() {
    let dir = scratch();
    let users = [
        r#"{"apiVersion":"riskassess.io/v1alpha1","kind":"TenantUser","metadata":{"name":"acme-1004","labels":{"riskassess.io/tenant":"acme"}},"spec":{"username":"cwhite","firstName":"Carol","lastName":"White","email":"cwhite@acme.test","coupaUsername":"cwhite","coupaUserId":"1004","status":"Active","ssoSynced":true}}"#,
    ];
    std::fs::write(
        dir.path().join("users.json"),
        format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
            users[0]
        ),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &words("import --template template.csv --records users.json --output json"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("users.json")).unwrap()).unwrap();
    assert_eq!(written["kind"], "List");
    assert!(written["items"].as_array().unwrap().len() > 1);

    let docs = "---\napiVersion: riskassess.io/v1alpha1\nkind: TenantUser\nmetadata:\n  name: a\nspec:\n  username: x\n---\napiVersion: riskassess.io/v1alpha1\nkind: TenantUser\nmetadata:\n  name: b\nspec:\n  username: y\n";
    std::fs::write(dir.path().join("docs.yaml"), docs).unwrap();
    let out = run(
        dir.path(),
        &words("import --template template.csv --records docs.yaml"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("docs.yaml")).unwrap();
    assert!(
        written.starts_with("---\n") && !written.contains("kind: List"),
        "{written}"
    );
}

/// `plan` reads a JSON records file with a scanner of its own: the example records as
/// `kubectl get -o json` prints them plan exactly as the YAML ones do.
#[test]
fn plan_reads_the_records_alike_as_json_and_as_yaml() {
    let dir = scratch();
    let records: Value =
        serde_norway::from_slice(&std::fs::read(dir.path().join("records.yaml")).unwrap()).unwrap();
    let json_records = serde_json::to_string_pretty(&records).unwrap();
    std::fs::write(dir.path().join("records.json"), json_records).unwrap();
    let yaml = json(&run(dir.path(), &plan_json()));
    let from_json = json(&run(dir.path(), &plan_json_of("records.json")));
    assert!(yaml["counts"]["update"].as_u64().unwrap() > 0, "{yaml}");
    assert_eq!(from_json, yaml);
    // From a pipe, which can be read only once (`--records /dev/stdin`, or `<(kubectl ...)`),
    // either form plans the same.
    for records in ["records.json", "records.yaml"] {
        let mut child = Command::new(BIN)
            .current_dir(dir.path())
            .args(plan_json_of("/dev/stdin"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let bytes = std::fs::read(dir.path().join(records)).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(json(&output), yaml, "{records} through a pipe");
    }
}

#[test]
fn a_missing_records_file_means_no_users_and_sso_sync_false_is_honoured() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &words("import --template template.csv --records new.yaml --sso-sync false --output json"),
    );
    let report = json(&out);
    assert_eq!(report["counts"]["update"], 0);
    let written = std::fs::read_to_string(dir.path().join("new.yaml")).unwrap();
    assert!(written.contains("ssoSynced: false") && !written.contains("ssoSynced: true"));
}

#[test]
fn on_problem_abort_applies_nothing() {
    let dir = scratch();
    let before = std::fs::read(dir.path().join("records.yaml")).unwrap();
    let out = run(
        dir.path(),
        &words(
            "import --template template.csv --records records.yaml --on-problem abort --output json",
        ),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("nothing applied"));
    let after = run(dir.path(), &plan_json());
    let report = json(&after);
    assert_eq!(report["counts"]["new"], 5, "nothing was created");
    assert_ne!(before.len(), 0);
}

/// Runs `import` on a template text and expects rejection: exit 3, one line, nothing written.
fn rejected(template: &[u8], extra: &[&str]) -> String {
    let dir = scratch();
    std::fs::write(dir.path().join("bad.csv"), template).unwrap();
    let before = std::fs::read(dir.path().join("records.yaml")).unwrap();
    let mut args = vec![
        "import",
        "--template",
        "bad.csv",
        "--records",
        "records.yaml",
    ];
    args.extend_from_slice(extra);
    let out = run(dir.path(), &args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read(dir.path().join("records.yaml")).unwrap(),
        before,
        "records untouched"
    );
    assert_eq!(
        files(dir.path()),
        ["bad.csv", "records.yaml", "template.csv"],
        "no report, no temp file"
    );
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    message
}

#[test]
fn a_template_lacking_mandatory_columns_is_rejected_naming_every_one() {
    let message = rejected(b"First Name,Email,Status\nAnn,a@acme.test,Active\n", &[]);
    for column in ["Last Name", "Coupa Username", "Coupa User ID"] {
        assert!(message.contains(column), "{column} not named: {message}");
    }
}

#[test]
fn duplicate_headers_limits_and_unreadable_files_are_rejected() {
    let header = "First Name,Last Name,Email,Coupa Username,Coupa User ID";
    let message = rejected(format!("{header},E-mail\n").as_bytes(), &[]);
    assert!(
        message.contains("E-mail") && message.contains("email"),
        "{message}"
    );
    let rows = format!("{header}\nA,B,a@x.io,a,1\nC,D,c@x.io,c,2\nE,F,e@x.io,e,3\n");
    assert!(rejected(rows.as_bytes(), &["--max-rows", "2"]).contains("limit of 2 rows"));
    assert!(
        rejected(rows.as_bytes(), &["--max-template-bytes", "10"]).contains("limit of 10 bytes")
    );
    assert!(rejected(b"", &[]).contains("empty"));
    let dir = scratch();
    let out = run(
        dir.path(),
        &words("plan --template nope.csv --records records.yaml"),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("nope.csv"));
}

#[test]
fn malformed_input_never_panics() {
    let dir = scratch();
    let header = b"First Name,Last Name,Email,Coupa Username,Coupa User ID\n".to_vec();
    let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut bad_quotes = header.clone();
    bad_quotes.extend_from_slice(b"\"Ann,Lee,\"a@x.io\nBo\"b,\n");
    for (name, bytes) in [
        ("junk.csv", junk),
        ("header.csv", header),
        ("quotes.csv", bad_quotes),
    ] {
        std::fs::write(dir.path().join(name), &bytes).unwrap();
        let out = run(
            dir.path(),
            &["plan", "--template", name, "--records", "records.yaml"],
        );
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "{name}: {}",
            stderr(&out)
        );
    }
    let out = run(
        dir.path(),
        &words("plan --template header.csv --records records.yaml --output json"),
    );
    assert_eq!(
        json(&out)["template"]["rows"],
        0,
        "a header-only template is a clean, empty plan"
    );
}

#[test]
fn usage_errors_exit_2_and_bad_records_exit_1_writing_nothing() {
    let dir = scratch();
    assert_eq!(
        run(dir.path(), &words("plan --template template.csv"))
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(
            dir.path(),
            &words("plan --template t --records r --date 2026-13-01")
        )
        .status
        .code(),
        Some(2)
    );
    std::fs::write(dir.path().join("bad.yaml"), "items: [ {kind: ConfigMap} ]").unwrap();
    let out = run(
        dir.path(),
        &words("import --template template.csv --records bad.yaml"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ConfigMap"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("bad.yaml")).unwrap(),
        "items: [ {kind: ConfigMap} ]"
    );
}

#[test]
fn a_windows_1252_template_is_read_and_the_report_says_so() {
    let dir = scratch();
    let bytes = b"First Name;Last Name;Email;Coupa Username;Coupa User ID\r\nJos\xe9;M\xfcller;jose@acme.test;jose;77\r\n";
    std::fs::write(dir.path().join("cp1252.csv"), bytes).unwrap();
    let out = run(
        dir.path(),
        &words("plan --template cp1252.csv --records none.yaml --output json"),
    );
    let report = json(&out);
    assert_eq!(report["template"]["encoding"], "windows-1252");
    assert_eq!(report["template"]["delimiter"], ";");
    assert_eq!(report["counts"]["new"], 1);
}

#[test]
fn import_mails_the_report_to_the_outbox_with_the_exact_csv() {
    let dir = scratch();
    let args = [
        words("import --template template.csv --records records.yaml --tenant"),
        vec!["Acme Corp"],
        words("--date 2026-11-24 --to admin@acme.test --output json"),
    ]
    .concat();
    json(&run(dir.path(), &args));
    let outbox: Vec<PathBuf> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(outbox.len(), 1, "one message");
    let raw = std::fs::read(&outbox[0]).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        message.subject(),
        Some("User Sync Error Report - Acme Corp - 2026-11-24")
    );
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("admin@acme.test")
    );
    let attachment = message.attachments().next().expect("the CSV is attached");
    let report = std::fs::read(
        dir.path()
            .join("User Sync Error Report - Acme Corp - 2026-11-24.csv"),
    )
    .unwrap();
    assert_eq!(
        attachment.contents(),
        &report[..],
        "attachment = report file, byte for byte"
    );
}

/// `--outbox-retention-hours`: the outbox's older messages go when a report is written; the new
/// one, a recent one and files that are no messages stay.
#[test]
fn the_outbox_keeps_messages_for_the_retention_only() {
    let dir = scratch();
    let outbox_dir = dir.path().join("outbox");
    std::fs::create_dir(&outbox_dir).unwrap();
    let aged = |name: &str, hours: u64| {
        let file = std::fs::File::create(outbox_dir.join(name)).unwrap();
        let modified = std::time::SystemTime::now() - std::time::Duration::from_secs(hours * 3600);
        file.set_times(std::fs::FileTimes::new().set_modified(modified))
            .unwrap();
    };
    aged("two-days-old.eml", 48);
    aged("one-hour-old.eml", 1);
    aged("two-days-old.txt", 48);
    let args = words(
        "import --template template.csv --records records.yaml --tenant Acme --date 2026-11-24 \
         --outbox-retention-hours 24",
    );
    let output = run(dir.path(), &args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let left = outbox(dir.path());
    assert!(!left.contains(&"two-days-old.eml".to_string()), "{left:?}");
    assert!(left.contains(&"one-hour-old.eml".to_string()), "{left:?}");
    assert!(left.contains(&"two-days-old.txt".to_string()), "{left:?}");
    let written: Vec<&String> = left
        .iter()
        .filter(|name| name.ends_with(".eml") && *name != "one-hour-old.eml")
        .collect();
    assert_eq!(written.len(), 1, "the new report's message: {left:?}");
}

#[test]
fn a_report_without_recipient_or_an_unreachable_relay_writes_nothing() {
    let dir = scratch();
    let before = std::fs::read(dir.path().join("records.yaml")).unwrap();
    let out = run(
        dir.path(),
        &words("import --template template.csv --records records.yaml --no-to"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--to"));
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://127.0.0.1:{port}");
    let out = run(
        dir.path(),
        &[
            "import",
            "--template",
            "template.csv",
            "--records",
            "records.yaml",
            "--smtp-url",
            &url,
            "--smtp-attempts",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("records.yaml")).unwrap(),
        before
    );
    assert_eq!(
        files(dir.path()),
        ["records.yaml", "template.csv"],
        "no report, no temp file"
    );
}

/// Counts the objects of a records file by name, to see that no two share one.
fn record_names(records: &str) -> Vec<String> {
    let mut names: Vec<String> = records
        .lines()
        .filter_map(|line| line.trim().strip_prefix("name: "))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

#[test]
fn two_long_coupa_user_ids_never_share_one_record() {
    let dir = scratch();
    let header = "First Name,Last Name,Email,Coupa Username,Coupa User ID";
    let (id1, id2) = (
        format!("{}1", "7".repeat(299)),
        format!("{}2", "7".repeat(299)),
    );
    let text = format!("{header}\nAnn,Lee,a@acme.test,alee,{id1}\nBo,Ko,b@acme.test,bko,{id2}\n");
    std::fs::write(dir.path().join("long.csv"), text).unwrap();
    let out = run(
        dir.path(),
        &words("import --template long.csv --records new.yaml --output json"),
    );
    let report = json(&out);
    assert_eq!(report["counts"]["new"], 0, "{report:#}");
    assert_eq!(report["counts"]["problem"], 2);
    for problem in report["problem"].as_array().unwrap() {
        assert_eq!(problem["reason"], "InvalidCoupaUserId");
        assert!(
            problem["message"].as_str().unwrap().contains("300 digits"),
            "{problem:#}"
        );
    }
    let written = std::fs::read_to_string(dir.path().join("new.yaml")).unwrap();
    assert!(record_names(&written).is_empty(), "{written}");

    // Ids of a normal length, under a tenant name long enough that the record names are cut:
    // the second row would land in the first row's record, so it is a problem naming row 2.
    let tenant = "t".repeat(250);
    let text =
        format!("{header}\nAnn,Lee,a@acme.test,alee,1234567\nBo,Ko,b@acme.test,bko,1234568\n");
    std::fs::write(dir.path().join("cut.csv"), text).unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "--template",
            "cut.csv",
            "--records",
            "cut.yaml",
            "--tenant",
            &tenant,
            "--error-report",
            "cut-report.csv",
            "--output",
            "json",
        ],
    );
    let report = json(&out);
    assert_eq!(report["counts"]["new"], 1, "{report:#}");
    assert_eq!(report["problem"][0]["row"], 3);
    assert_eq!(report["problem"][0]["reason"], "InvalidCoupaUserId");
    assert!(
        report["problem"][0]["message"]
            .as_str()
            .unwrap()
            .contains("row 2"),
        "{report:#}"
    );
    let written = std::fs::read_to_string(dir.path().join("cut.yaml")).unwrap();
    let names = record_names(&written);
    assert_eq!(names, [format!("{tenant}-12")], "{written}");
}

/// The files of the outbox folder (none when it does not exist).
fn outbox(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("outbox")) {
        Ok(_) => files(&dir.join("outbox")),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_300_character_tenant_name_gives_a_report_file_name_of_at_most_255_bytes() {
    let dir = scratch();
    let tenant: String = "Ünïcödé Tenant/".repeat(20);
    assert_eq!(tenant.chars().count(), 300);
    let out = run(
        dir.path(),
        &[
            "import",
            "--template",
            "template.csv",
            "--records",
            "records.yaml",
            "--tenant",
            &tenant,
            "--date",
            "2026-11-24",
            "--output",
            "json",
        ],
    );
    let report = json(&out);
    let file_name = report["errorReport"]["fileName"].as_str().unwrap();
    assert!(file_name.len() <= 255, "{} bytes", file_name.len());
    assert!(file_name.ends_with(" - 2026-11-24.csv"), "{file_name}");
    assert!(file_name.starts_with("User Sync Error Report - Ünïcödé Tenant_Ü"));
    assert!(
        dir.path().join(file_name).is_file(),
        "{:?}",
        files(dir.path())
    );
    assert_eq!(outbox(dir.path()).len(), 1, "the report was mailed once");
}

#[test]
fn when_preparing_a_file_fails_nothing_is_written_and_nothing_mailed() {
    let long_name = format!("{}.csv", "r".repeat(300));
    for error_report in ["missing/", "missing/report.csv", long_name.as_str()] {
        let dir = scratch();
        let before = std::fs::read(dir.path().join("records.yaml")).unwrap();
        let out = run(
            dir.path(),
            &[
                "import",
                "--template",
                "template.csv",
                "--records",
                "records.yaml",
                "--error-report",
                error_report,
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{error_report}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{error_report}");
        assert!(
            std::fs::read(dir.path().join("records.yaml")).unwrap() == before,
            "{error_report}: records untouched"
        );
        assert!(
            outbox(dir.path()).is_empty(),
            "{error_report}: nothing mailed"
        );
        assert_eq!(
            files(dir.path()),
            ["records.yaml", "template.csv"],
            "{error_report}: no report, no temp file, no outbox"
        );
    }
}

#[test]
fn an_invalid_to_address_is_a_usage_error() {
    for to in [
        "not-an-address",
        "admin@",
        "a b@acme.test",
        "admin@acme.test\r\nBcc: x@evil.test",
    ] {
        let dir = scratch();
        let before = std::fs::read(dir.path().join("records.yaml")).unwrap();
        let out = run(
            dir.path(),
            &[
                "import",
                "--template",
                "template.csv",
                "--records",
                "records.yaml",
                "--to",
                to,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{to:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--to"), "{to:?}: {}", stderr(&out));
        assert!(
            std::fs::read(dir.path().join("records.yaml")).unwrap() == before,
            "{to:?}: records untouched"
        );
        assert_eq!(
            files(dir.path()),
            ["records.yaml", "template.csv"],
            "{to:?}"
        );
    }
    // The other mail options too: a value that is not valid is a usage error.
    for (option, value) in [
        ("--smtp-url", "ftp://relay"),
        ("--mail-from", "not-an-address"),
    ] {
        let dir = scratch();
        let out = run(
            dir.path(),
            &[
                "import",
                "--template",
                "template.csv",
                "--records",
                "records.yaml",
                option,
                value,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{option}: {}", stderr(&out));
        assert_eq!(
            files(dir.path()),
            ["records.yaml", "template.csv"],
            "{option}"
        );
    }
}

/// Runs `plan` on an endless template (`/dev/zero`), killing it if it has not stopped by
/// itself within `seconds`: it must stop at the size limit, not read on.
fn plan_endless(extra: &[&str], seconds: u64) -> Output {
    let dir = scratch();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(words("plan --template /dev/zero --records records.yaml"))
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still reading /dev/zero after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn an_endless_template_stops_at_the_size_limit_and_names_it() {
    for (extra, limit) in [
        (&["--max-template-bytes", "1000"][..], "1000"),
        (&[][..], "52428800"),
    ] {
        let out = plan_endless(extra, 60);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains(&format!("limit of {limit} bytes")),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }
}

/// A TenantUser document of a records file, named `name` (no name when `None`).
fn user_doc(name: Option<&str>, id: &str) -> String {
    let name = name.map(|n| format!("\n  name: {n}")).unwrap_or_default();
    format!(
        "apiVersion: riskassess.io/v1alpha1\nkind: TenantUser\nmetadata:\n  labels:\n    riskassess.io/tenant: acme{name}\nspec:\n  username: u{id}\n  email: u{id}@acme.test\n  coupaUsername: u{id}\n  coupaUserId: '{id}'\n"
    )
}

/// A YAML List of the documents, as `kubectl get -o yaml` prints it.
fn yaml_list(docs: &[String]) -> String {
    let items: String = docs
        .iter()
        .map(|doc| {
            let mut lines = doc.lines();
            let first = format!("- {}\n", lines.next().unwrap());
            first + &lines.map(|line| format!("  {line}\n")).collect::<String>()
        })
        .collect();
    format!("apiVersion: v1\nkind: List\nitems:\n{items}")
}

/// Runs `import` on a records file and expects exit 1 with nothing written; the message.
fn bad_records(records: &str) -> String {
    let dir = scratch();
    std::fs::write(dir.path().join("users.yaml"), records).unwrap();
    let out = run(
        dir.path(),
        &words("import --template template.csv --records users.yaml"),
    );
    assert_eq!(out.status.code(), Some(1), "{records}\n{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("users.yaml")).unwrap(),
        records,
        "records untouched"
    );
    assert_eq!(
        files(dir.path()),
        ["records.yaml", "template.csv", "users.yaml"],
        "no report, no mail, no temp file"
    );
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    message
}

#[test]
fn a_records_file_with_two_objects_of_one_name_is_refused() {
    let docs = [
        user_doc(Some("acme-1"), "1"),
        user_doc(Some("acme-2"), "2"),
        user_doc(Some("acme-1"), "3"),
    ];
    let message = bad_records(&yaml_list(&docs));
    assert!(
        message.contains("\"acme-1\"") && message.contains("item 1") && message.contains("item 3"),
        "{message}"
    );
    let documents: String = docs.iter().map(|doc| format!("---\n{doc}")).collect();
    let message = bad_records(&documents);
    assert!(
        message.contains("\"acme-1\"")
            && message.contains("document 1")
            && message.contains("document 3"),
        "{message}"
    );
}

/// `plan` reads a JSON List with its own scanner, and leaves two objects of one name to the
/// index of the users: the file is refused all the same, in the same words.
#[test]
fn plan_refuses_a_json_records_file_with_two_objects_of_one_name() {
    let user = |name: &str, id: u32| {
        format!(
            r#"{{"apiVersion": "riskassess.io/v1alpha1", "kind": "TenantUser", "metadata": {{"name": "{name}"}}, "spec": {{"username": "u{id}", "coupaUserId": "{id}"}}}}"#
        )
    };
    let list = |names: &[&str]| {
        let items: Vec<String> = (1..).zip(names).map(|(id, name)| user(name, id)).collect();
        format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#,
            items.join(",\n")
        )
    };
    let dir = scratch();
    let plan = |records: &str| {
        std::fs::write(dir.path().join("users.json"), records).unwrap();
        run(
            dir.path(),
            &words("plan --template template.csv --records users.json --output json"),
        )
    };
    let out = plan(&list(&["acme-1", "acme-2", "acme-1", "acme-2"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("\"acme-1\"") && message.contains("item 1") && message.contains("item 3"),
        "{message}"
    );
    assert!(out.stdout.is_empty(), "no report");
    let out = plan(&list(&["acme-1", "acme-2", "acme-3"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_records_file_with_an_object_without_a_name_is_refused() {
    let docs = [user_doc(Some("acme-1"), "1"), user_doc(None, "2")];
    let message = bad_records(&yaml_list(&docs));
    assert!(
        message.contains("item 2") && message.contains("name"),
        "{message}"
    );
    let docs = [user_doc(Some("acme-1"), "1"), user_doc(Some("''"), "2")];
    let message = bad_records(&yaml_list(&docs));
    assert!(
        message.contains("item 2") && message.contains("name"),
        "{message}"
    );
}

#[test]
fn errors_in_a_multi_document_records_file_name_the_right_document() {
    let good = |id: &str| user_doc(Some(&format!("acme-{id}")), id);
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n".to_string();
    let no_spec =
        "apiVersion: riskassess.io/v1alpha1\nkind: TenantUser\nmetadata:\n  name: x\n".to_string();
    let cases = [
        (
            vec![good("1"), good("2"), config_map.clone()],
            "document 3",
            "ConfigMap",
        ),
        (vec![good("1"), no_spec, good("3")], "document 2", "spec"),
        (
            vec![good("1"), yaml_list(&[good("2"), config_map.clone()])],
            "document 2, item 2",
            "ConfigMap",
        ),
        (
            vec![good("1"), good("2"), "spec: [unclosed\n".to_string()],
            "document 3",
            "",
        ),
    ];
    for (docs, place, what) in cases {
        let text: String = docs.iter().map(|doc| format!("---\n{doc}")).collect();
        let message = bad_records(&text);
        assert!(
            message.contains(place) && message.contains(what),
            "{place}: {message}"
        );
        assert!(
            place.contains("document 1") || !message.contains("item 1"),
            "{place}: {message}"
        );
    }
}

/// A spec field that the CRD has as a string but the file holds as a number (or a boolean, a
/// list) is refused, as the API server refuses such an object, in YAML (where `1` would
/// otherwise read as the text "1") and in JSON alike, by `plan` and `import`: exit 1, naming
/// the object and the field, and nothing planned.
#[test]
fn a_records_file_with_a_number_where_the_crd_has_a_string_is_refused() {
    let spec = |username: &str, id: &str| {
        format!(
            "apiVersion: riskassess.io/v1alpha1\nkind: TenantUser\nmetadata: {{name: {username}}}\nspec: {{username: {username}, coupaUserId: {id}}}\n"
        )
    };
    let json_user = |username: &str, id: &str| {
        format!(
            r#"{{"apiVersion": "riskassess.io/v1alpha1", "kind": "TenantUser", "metadata": {{"name": "{username}"}}, "spec": {{"username": "{username}", "coupaUserId": {id}}}}}"#
        )
    };
    let json_list = |items: &[String]| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#,
            items.join(",\n")
        )
    };
    let cases = [
        (
            "users.yaml",
            spec("a", "1"),
            "document 1",
            "spec.coupaUserId",
        ),
        (
            "users.yaml",
            yaml_list(&[spec("b", "'2'"), spec("a", "1")]),
            "item 2",
            "spec.coupaUserId",
        ),
        (
            "users.yaml",
            format!("---\n{}---\n{}", spec("b", "'2'"), spec("a", "true")),
            "document 2",
            "spec.coupaUserId",
        ),
        (
            "users.json",
            json_list(&[json_user("b", r#""2""#), json_user("a", "1")]),
            "item 2",
            "spec.coupaUserId",
        ),
        (
            "users.json",
            json_list(&[json_user("a", "[1]")]),
            "item 1",
            "spec.coupaUserId",
        ),
    ];
    let dir = scratch();
    for (name, records, place, field) in cases {
        std::fs::write(dir.path().join(name), &records).unwrap();
        for command in ["plan", "import"] {
            let out = run(
                dir.path(),
                &[
                    words(command),
                    words("--template template.csv --records"),
                    vec![name],
                    words("--output json"),
                ]
                .concat(),
            );
            let message = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{command} {records}\n{message}");
            assert!(
                message.contains(place) && message.contains(field) && message.contains("a string"),
                "{command} {records}\n{message}"
            );
            assert!(out.stdout.is_empty(), "no report");
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            records,
            "records untouched"
        );
    }
    // The same files with the numbers quoted are read.
    std::fs::write(dir.path().join("users.yaml"), spec("a", "'1'")).unwrap();
    json(&run(dir.path(), &plan_json_of("users.yaml")));
    std::fs::write(
        dir.path().join("users.json"),
        json_list(&[json_user("a", r#""1""#)]),
    )
    .unwrap();
    json(&run(dir.path(), &plan_json_of("users.json")));
}

/// gzip of `bytes` (flate2, the operator's own decompressor's crate).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_gzip_template_plans_as_the_plain_one_and_a_gzip_bomb_is_over_the_limit() {
    let dir = scratch();
    let csv = std::fs::read(dir.path().join("template.csv")).unwrap();
    std::fs::write(dir.path().join("template.csv.gz"), gzip(&csv)).unwrap();
    // Recognised by its first bytes, not its name.
    std::fs::write(dir.path().join("packed.txt"), gzip(&csv)).unwrap();
    let plain = json(&run(dir.path(), &plan_json()));
    for name in ["template.csv.gz", "packed.txt"] {
        let args: Vec<&str> = plan_json()
            .into_iter()
            .map(|arg| if arg == "template.csv" { name } else { arg })
            .collect();
        let packed = json(&run(dir.path(), &args));
        // The same report, digest included: the digest is the CSV's, not the gzip file's.
        assert_eq!(packed, plain, "{name}");
    }

    // 64 MiB of zeros in about 64 KiB: stopped at the limit of the decompressed size.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        std::io::Write::write_all(&mut encoder, &zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let message = rejected(&bomb, &["--max-template-bytes", "1000000"]);
    assert!(
        message.contains("decompressed") && message.contains("limit of 1000000 bytes"),
        "{message}"
    );
}

#[test]
fn mail_options_are_read_from_their_prefixed_variables_and_the_old_names_only_warned_about() {
    let dir = scratch();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(words(
            "import --template template.csv --records records.yaml --to admin@acme.test",
        ))
        .env("USER_IMPORT_OUTBOX", "mail-from-env")
        .env("USER_IMPORT_MAIL_FROM", "Env Sender <env@acme.test>")
        // The name `--smtp-url` had before: no longer read, so no relay is tried.
        .env("SMTP_URL", "smtp://127.0.0.1:1")
        .env_remove("USER_IMPORT_SMTP_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SMTP_URL is set but no longer read: rename it USER_IMPORT_SMTP_URL"),
        "{}",
        stderr(&out)
    );
    let outbox = files(&dir.path().join("mail-from-env"));
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert!(!dir.path().join("outbox").exists());
    let raw = std::fs::read(dir.path().join("mail-from-env").join(&outbox[0])).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("env@acme.test")
    );
}

#[test]
fn credentials_without_tls_are_refused_at_start_by_run_and_import() {
    let dir = scratch();
    let url = "smtp://reports:hunter2@127.0.0.1:1?tls=none";
    // `run` stops before it connects to Kubernetes: no kubeconfig is needed to see it.
    let run = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "--metrics-addr", "127.0.0.1:0"])
        .env("USER_IMPORT_SMTP_URL", url)
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let import = Command::new(BIN)
        .current_dir(dir.path())
        .args(words(
            "import --template template.csv --records records.yaml --to admin@acme.test",
        ))
        .env("USER_IMPORT_SMTP_URL", url)
        .output()
        .unwrap();
    assert_eq!(import.status.code(), Some(2), "{}", stderr(&import));
    for out in [&run, &import] {
        let text = stderr(out);
        assert!(
            text.contains("tls=none") && text.contains("in clear"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(!dir.path().join("outbox").exists());
}

#[test]
fn a_relay_without_tls_is_warned_about() {
    let dir = scratch();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(words(
            "import --template template.csv --records records.yaml --to admin@acme.test --smtp-attempts 1",
        ))
        .env("USER_IMPORT_SMTP_URL", "smtp://127.0.0.1:1?tls=none")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("warning: the SMTP relay is reached without TLS (tls=none)"),
        "{}",
        stderr(&out)
    );
}
