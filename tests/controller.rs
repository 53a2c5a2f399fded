//! Integration tests of `user-import-operator run` against a real kube-apiserver, through each
//! test's proxy (which counts the requests and injects the faults).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use user_import_test_support::{
    Binary, Env, Fault, InProcess, Matcher, condition, eventually, eventually_within, example,
    finished, spec,
};

/// The real binary, which the proxy's kubeconfig points at the test's API server.
const OPERATOR: &str = env!("CARGO_BIN_EXE_user-import-operator");
use user_import_engine::results::{HIGHLIGHT_MESSAGE, ProblemReason};
use user_import_operator::controller::Settings;
use user_import_resources::{
    ErrorReportState, ImportMode, ImportPhase, OnProblem, TENANT_LABEL, UserImport, UserStatus,
};

const SMALL: &str = "First Name,Last Name,Email,Coupa Username,Coupa User ID\n\
                     Ann,Lee,ann@acme.test,alee,2001\n\
                     Ben,Ray,ben@acme.test,bray,2002\n";

fn report_state(import: &UserImport) -> Option<ErrorReportState> {
    Some(import.status.as_ref()?.error_report.as_ref()?.state)
}

/// The examples' import through the real binary: status, users, and no second write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_import_through_the_binary() {
    let env = Env::start("examples").await;
    env.create_tenant("acme", true).await;
    env.create_users_from_yaml(&example("records.yaml")).await;
    env.put_template("acme-user-import", &example("template.csv"))
        .await;
    let operator = Binary::start(&env, OPERATOR, &["--leader-election", "false"]).await;
    env.proxy.reset_counters();
    env.create_import("acme-2026-11", spec("acme", "acme-user-import"))
        .await;
    let import = env
        .wait_import("acme-2026-11", "the import and its report mailed", |i| {
            finished(i) && report_state(i) == Some(ErrorReportState::Sent)
        })
        .await;
    // One list of the tenant's users, no GET per row, one apply per changed or new user, and
    // status writes: Running, the result, the attempt, Sent.
    let counters = env.proxy.counters();
    let entries = counters.entries();
    assert_eq!(counters.count("list", "tenantusers"), 1, "{entries:?}");
    assert_eq!(counters.count("get", "tenantusers"), 0, "{entries:?}");
    assert_eq!(counters.count("patch", "tenantusers"), 9, "{entries:?}");
    assert_eq!(counters.writes("tenantusers"), 9, "{entries:?}");
    assert_eq!(
        counters.count("patch", "userimports/status"),
        4,
        "{entries:?}"
    );

    let status = import.status.clone().unwrap();
    assert_eq!(status.phase, Some(ImportPhase::SucceededWithProblems));
    let counts = status.counts.unwrap();
    assert_eq!(
        (counts.new, counts.update, counts.unchanged, counts.problem),
        (5, 5, 1, 10)
    );
    let rows = |list: Vec<usize>| list;
    assert_eq!(
        rows(status.new.iter().map(|e| e.row).collect()),
        [2, 9, 21, 22, 23]
    );
    assert_eq!(
        rows(status.update.iter().map(|e| e.row).collect()),
        [3, 4, 6, 7, 8]
    );
    assert_eq!(status.problem.len(), 10);
    assert_eq!(status.problem[0].reason, ProblemReason::InvalidEmail);
    assert_eq!(status.ignored_columns, ["Department"]);
    assert_eq!(status.highlight_message.as_deref(), Some(HIGHLIGHT_MESSAGE));
    assert_eq!(status.template_encoding.as_deref(), Some("utf-8"));
    assert!(status.template_digest.unwrap().starts_with("sha256:"));
    let report = status.error_report.unwrap();
    assert_eq!(report.rows, 10);
    assert!(
        report
            .file_name
            .unwrap()
            .starts_with("User Sync Error Report - Acme Corp - ")
    );
    assert_eq!(report.recipient.as_deref(), Some("admin@acme.test"));
    assert_eq!(report.attempts, 1);
    assert!(report.sent_at.is_some());
    assert_eq!(
        condition(&import, "ReportDelivered"),
        Some(("True".into(), "Sent".into()))
    );
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Subject: User Sync Error Report - Acme Corp - "),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("admin@acme.test"));
    assert_eq!(
        condition(&import, "Ready"),
        Some(("True".into(), "Imported".into()))
    );
    assert_eq!(condition(&import, "Reconciling").unwrap().0, "False");
    assert_eq!(condition(&import, "Stalled").unwrap().0, "False");
    assert_eq!(condition(&import, "TemplateValid").unwrap().0, "True");

    // New user: named <tenant>-<id>, labelled, username from the Coupa Username, SSO-synced.
    let new = env.user("acme-1001").await;
    assert_eq!(new.metadata.labels.unwrap()[TENANT_LABEL], "acme");
    assert_eq!(new.spec.username.as_deref(), Some("jdoe"));
    assert_eq!(new.spec.email.as_deref(), Some("jdoe@acme.test"));
    assert_eq!(new.spec.status, Some(UserStatus::Active));
    assert!(new.spec.sso_synced);
    // SSO-synced user: editable title applied, highlighted lastName and city untouched.
    let asmith = env.user("acme-1002").await;
    assert_eq!(asmith.spec.title.as_deref(), Some("Senior Analyst"));
    assert_eq!(asmith.spec.last_name.as_deref(), Some("Smith"));
    assert_eq!(asmith.spec.city.as_deref(), Some("Boston"));
    // Not SSO-synced: every differing cell applied.
    let bjones = env.user("acme-1003").await;
    assert_eq!(bjones.spec.city.as_deref(), Some("Austin"));
    assert_eq!(bjones.spec.mobile.as_deref(), Some("+1 555 0103"));
    // Linked by Coupa Username: id set, SSO-synced now.
    let egreen = env.user("erin-green").await;
    assert_eq!(egreen.spec.coupa_user_id.as_deref(), Some("1006"));
    assert!(egreen.spec.sso_synced);
    assert_eq!(env.users("acme").await.len(), 15);

    // The ops endpoint.
    assert_eq!(operator.get("/healthz").await.0, 200);
    eventually("ready", || async { operator.get("/readyz").await.0 == 200 }).await;
    let (_, metrics) = operator.get("/metrics").await;
    assert!(
        metrics.contains("user_import_reconciles_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("user_import_rows_total{result=\"new\"} 5"),
        "{metrics}"
    );
    // The UserImports by state, counted from the controller's cache at each scrape, and the
    // report's delivery, counted once.
    let ns = &env.namespace;
    let imported = format!(
        "user_import_imports{{namespace=\"{ns}\",phase=\"SucceededWithProblems\",stalled_reason=\"\"}}"
    );
    let sent =
        format!("user_import_error_reports{{namespace=\"{ns}\",state=\"Sent\",reason=\"Sent\"}}");
    let delivered = "user_import_report_deliveries_total{result=\"Sent\"}";
    let failed = "user_import_report_deliveries_total{result=\"DeliveryFailed\"}";
    eventually("the import and its report in the metrics", || async {
        operator.metric(&imported).await == Some(1.0)
            && operator.metric(&sent).await == Some(1.0)
            && operator.metric(delivered).await == Some(1.0)
    })
    .await;
    assert_eq!(operator.metric(failed).await, Some(0.0));

    // The same UserImport annotated: a reconcile, and no write at all.
    env.proxy.reset_counters();
    annotate_and_expect_no_write(&env, "touched").await;
    let reasons = event_reasons(&env).await;
    for reason in ["Imported", "ProblemRows", "ReportSent"] {
        assert!(reasons.contains(reason), "{reasons:?}");
    }
    // Logs carry row numbers and ids, never names or e-mail addresses.
    let log = operator.log();
    assert!(log.iter().any(|line| line.contains("problem rows")));
    for line in &log {
        assert!(
            !line.contains("@acme.test") && !line.contains("Smith"),
            "{line}"
        );
    }
    assert!(operator.terminate().await.success());

    // A fresh process knows the import is done from the status alone: no write at its start-up
    // nor after another annotation.
    env.proxy.reset_counters();
    let restarted = Binary::start(&env, OPERATOR, &["--leader-election", "false"]).await;
    eventually("ready", || async {
        restarted.get("/readyz").await.0 == 200
    })
    .await;
    eventually("the start-up reconcile", || async {
        env.proxy.counters().count("get", "configmaps") >= 1
    })
    .await;
    annotate_and_expect_no_write(&env, "touched-again").await;
    // A new process shows the import from its cache at once, and has delivered nothing.
    eventually("the import in the new process's metrics", || async {
        restarted.metric(&imported).await == Some(1.0) && restarted.metric(&sent).await == Some(1.0)
    })
    .await;
    assert_eq!(restarted.metric(delivered).await, Some(0.0));

    // A changed template is a new import: its report is mailed once more, as a new message.
    let first_digest = import.status.as_ref().unwrap().template_digest.clone();
    let changed = format!(
        "{}Zoe,,Young,zoe at acme.test,,zyoung,1099,,,,,,,Sales\r\n",
        example("template.csv")
    );
    env.put_template("acme-user-import", &changed).await;
    let reimported = env
        .wait_import(
            "acme-2026-11",
            "the changed template's report mailed",
            |i| {
                finished(i)
                    && i.status.as_ref().unwrap().template_digest != first_digest
                    && report_state(i) == Some(ErrorReportState::Sent)
            },
        )
        .await;
    assert_eq!(reimported.status.unwrap().counts.unwrap().problem, 11);
    eventually("the second report counted", || async {
        restarted.metric(delivered).await == Some(1.0)
    })
    .await;
    let mails = env.mails();
    assert_eq!(mails.len(), 2, "one more message for the changed template");
    let message_id = |mail: &str| {
        mail.lines()
            .find(|line| line.to_ascii_lowercase().starts_with("message-id:"))
            .map(str::to_string)
    };
    assert_ne!(
        message_id(&mails[0]),
        message_id(&mails[1]),
        "a new Message-ID"
    );
    assert!(restarted.terminate().await.success());
}

/// Annotates the examples' UserImport, waits for the reconcile that follows (it reads the
/// Tenant; not the template, whose ConfigMap keeps the version it was read at), and checks
/// that nothing was written since the counters were reset: no TenantUser, no status, no second
/// mail.
async fn annotate_and_expect_no_write(env: &Env, annotation: &str) {
    let server = &env.proxy;
    let before = server.counters().count("get", "tenants");
    let patch = json!({"metadata": {"annotations": {annotation: "yes"}}});
    env.api::<UserImport>()
        .patch(
            "acme-2026-11",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    eventually("a reconcile after the annotation", || async {
        server.counters().count("get", "tenants") > before
    })
    .await;
    // Give a wrongly started import time to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counters = server.counters();
    let entries = counters.entries();
    assert_eq!(counters.writes("tenantusers"), 0, "{entries:?}");
    assert_eq!(counters.writes("userimports/status"), 0, "{entries:?}");
    assert_eq!(env.mails().len(), 1, "the report is mailed once");
}

/// The in-process controller's metrics as `/metrics` shows them.
fn text_of(metrics: &user_import_operator::controller::Metrics) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

/// The value of one series (`name{labels}`) of the in-process controller's metrics, if shown.
fn exposed(metrics: &user_import_operator::controller::Metrics, series: &str) -> Option<f64> {
    text_of(metrics)
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The reasons of the Events recorded in the test's namespace.
async fn event_reasons(env: &Env) -> BTreeSet<String> {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = env.api();
    let list = events.list(&Default::default()).await.unwrap();
    list.items
        .into_iter()
        .filter_map(|event| event.reason)
        .collect()
}

/// A template edit imports again; a dropped watch is survived; re-applying the same spec is
/// a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_edit_reimports_after_a_dropped_watch() {
    let env = Env::start("edit").await;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", SMALL).await;
    let controller = InProcess::start(&env);
    env.create_import("imp", spec("acme", "tpl")).await;
    let first = env.wait_finished("imp").await;
    assert_eq!(first.status.as_ref().unwrap().counts.unwrap().new, 2);
    let first_digest = first.status.unwrap().template_digest.unwrap();

    let writes_before = env.user_writes();
    // Re-applying the identical spec changes nothing: no generation, no digest change.
    let same = UserImport::new("imp", spec("acme", "tpl"));
    let params = PatchParams::apply("tests").force();
    env.api::<UserImport>()
        .patch("imp", &params, &Patch::Apply(&same))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(env.user_writes(), writes_before);

    // The watches end, and resuming them finds the history compacted away (410 Gone, the
    // ERROR event kube-apiserver sends): the controller must list again.
    let lists_before = env.proxy.counters().count("list", "userimports");
    env.proxy.fail_next(
        2,
        Matcher::any().verb("watch").resource("userimports"),
        Fault::Gone,
    );
    env.proxy.drop_watches();
    eventually(
        "the watch resumed, refused with 410 and listed again",
        || async {
            env.proxy.pending_faults() == 0
                && env.proxy.counters().count("list", "userimports") > lists_before
        },
    )
    .await;
    env.put_template("tpl", &format!("{SMALL}Cy,Day,cy@acme.test,cday,2003\n"))
        .await;
    let second = env
        .wait_import("imp", "the re-import", |import| {
            finished(import)
                && import.status.as_ref().unwrap().template_digest.as_deref() != Some(&first_digest)
        })
        .await;
    let counts = second.status.unwrap().counts.unwrap();
    assert_eq!((counts.new, counts.unchanged), (1, 2));
    assert_eq!(
        env.user("acme-2003").await.spec.email.as_deref(),
        Some("cy@acme.test")
    );
    controller.stop().await;
}

/// A template without mandatory columns: Stalled, TemplateRejected, nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_template_is_stalled_and_writes_nothing() {
    let env = Env::start("rejected").await;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", "First Name,Last Name,Coupa Username\nAnn,Lee,alee\n")
        .await;
    let controller = InProcess::start(&env);
    env.create_import("imp", spec("acme", "tpl")).await;
    let import = env
        .wait_import("imp", "the rejection", |i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.phase == Some(ImportPhase::Failed))
        })
        .await;
    assert_eq!(
        condition(&import, "Stalled"),
        Some(("True".into(), "TemplateRejected".into()))
    );
    assert_eq!(condition(&import, "TemplateValid").unwrap().0, "False");
    assert_eq!(condition(&import, "Ready").unwrap().0, "False");
    assert_eq!(condition(&import, "Reconciling").unwrap().0, "False");
    let stalled = import
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert!(stalled.message.contains("Email"), "{}", stalled.message);
    assert!(
        stalled.message.contains("Coupa User ID"),
        "{}",
        stalled.message
    );
    assert!(env.users("acme").await.is_empty());
    assert_eq!(env.user_writes(), 0);
    controller.stop().await;
}

/// DryRun and onProblem Abort: the status is written, no TenantUser is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_abort_write_no_user() {
    let env = Env::start("dryrun").await;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", SMALL).await;
    env.put_template("bad", &format!("{SMALL}Bad,Row,not-an-email,bad,2009\n"))
        .await;
    let controller = InProcess::start(&env);
    let mut dry = spec("acme", "tpl");
    dry.mode = ImportMode::DryRun;
    env.create_import("dry", dry).await;
    let mut abort = spec("acme", "bad");
    abort.on_problem = OnProblem::Abort;
    env.create_import("abort", abort).await;
    let dry = env.wait_finished("dry").await;
    let ready = dry
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready");
    assert!(ready.unwrap().message.contains("DryRun"), "{ready:?}");
    assert_eq!(dry.status.unwrap().counts.unwrap().new, 2);
    let abort = env.wait_finished("abort").await;
    let status = abort.status.unwrap();
    assert_eq!(status.phase, Some(ImportPhase::SucceededWithProblems));
    assert_eq!(status.counts.unwrap().problem, 1);
    assert!(env.users("acme").await.is_empty());
    assert_eq!(env.user_writes(), 0);
    controller.stop().await;
}

/// 409s and 500s on TenantUser writes, and a 500 on the status, are retried through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_conflicts_and_server_errors_are_survived() {
    let env = Env::start("faults").await;
    let server = &env.proxy;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", SMALL).await;
    let users = || Matcher::any().verb("patch").resource("tenantusers");
    server.fail_next(2, users(), Fault::Conflict);
    server.fail_next(2, users(), Fault::InternalError);
    server.fail_next(1, users(), Fault::Timeout);
    server.fail_next(1, users(), Fault::TooManyRequests { retry_after: 1 });
    server.fail_next(
        1,
        Matcher::any().verb("list").resource("tenantusers"),
        Fault::InternalError,
    );
    server.fail_next(
        1,
        Matcher::any().verb("patch").resource("userimports/status"),
        Fault::InternalError,
    );
    let controller = InProcess::start(&env);
    env.create_import("imp", spec("acme", "tpl")).await;
    let import = env.wait_finished("imp").await;
    assert_eq!(import.status.unwrap().counts.unwrap().new, 2);
    let names: BTreeSet<String> = env
        .users("acme")
        .await
        .into_iter()
        .map(|u| u.metadata.name.unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["acme-2001".to_string(), "acme-2002".to_string()])
    );
    assert_eq!(server.pending_faults(), 0, "every fault was answered");
    assert!(server.counters().count("patch", "tenantusers") >= 8);
    controller.stop().await;
}

/// A missing Tenant, then a missing template: Stalled with the reason; each fixed in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tenant_and_template_stall_until_created() {
    let env = Env::start("missing").await;
    let controller = InProcess::start(&env);
    env.create_import("imp", spec("acme", "tpl")).await;
    let stalled_on = |reason: &'static str| {
        move |i: &UserImport| condition(i, "Stalled") == Some(("True".into(), reason.into()))
    };
    let import = env
        .wait_import("imp", "TenantNotFound", stalled_on("TenantNotFound"))
        .await;
    let ns = &env.namespace;
    let stalled = |reason: &str| {
        format!(
            "user_import_imports{{namespace=\"{ns}\",phase=\"Pending\",stalled_reason=\"{reason}\"}}"
        )
    };
    eventually("the stalled import in the metrics", || async {
        exposed(controller.metrics(), &stalled("TenantNotFound")) == Some(1.0)
    })
    .await;
    assert_eq!(
        import.status.as_ref().unwrap().phase,
        Some(ImportPhase::Pending)
    );
    assert_eq!(condition(&import, "Reconciling").unwrap().0, "False");
    env.create_tenant("acme", false).await;
    env.wait_import(
        "imp",
        "TemplateSourceNotFound",
        stalled_on("TemplateSourceNotFound"),
    )
    .await;
    env.put_template("tpl", SMALL).await;
    let import = env.wait_finished("imp").await;
    assert_eq!(condition(&import, "Stalled").unwrap().0, "False");
    // The tenant has SSO sync off: new users are not SSO-synced.
    assert!(!env.user("acme-2001").await.spec.sso_synced);
    let succeeded = format!(
        "user_import_imports{{namespace=\"{ns}\",phase=\"Succeeded\",stalled_reason=\"\"}}"
    );
    eventually("the import's new state in the metrics", || async {
        exposed(controller.metrics(), &succeeded) == Some(1.0)
            && exposed(controller.metrics(), &stalled("TemplateSourceNotFound")).is_none()
    })
    .await;
    // A deleted import leaves no series behind.
    env.delete_import("imp").await;
    eventually("no series of the deleted import", || async {
        exposed(controller.metrics(), &succeeded).is_none()
    })
    .await;
    controller.stop().await;
}

/// A kill (SIGKILL) in the middle of an import, then a restart: no duplicate, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_import_and_restart_converges() {
    let env = Env::start("kill").await;
    env.create_tenant("acme", true).await;
    let mut csv = String::from("First Name,Last Name,Email,Coupa Username,Coupa User ID\n");
    for id in 3000..3060 {
        csv.push_str(&format!("F{id},L{id},u{id}@acme.test,cu{id},{id}\n"));
    }
    env.put_template("tpl", &csv).await;
    // Slow writes, so that the kill lands in the middle of the import.
    let slow = Matcher::any().verb("patch").resource("tenantusers");
    env.proxy.set_delay_for(slow, Duration::from_millis(200));
    let first = Binary::start(
        &env,
        OPERATOR,
        &["--leader-election", "false", "--concurrency", "2"],
    )
    .await;
    env.create_import("imp", spec("acme", "tpl")).await;
    eventually("some users written", || async {
        env.users("acme").await.len() >= 5
    })
    .await;
    first.kill().await;
    let written_at_kill = env.users("acme").await.len();
    assert!(
        written_at_kill < 60,
        "the kill landed after the import finished"
    );
    env.proxy.clear_faults();
    let second = Binary::start(&env, OPERATOR, &["--leader-election", "false"]).await;
    env.wait_finished("imp").await;
    let users = env.users("acme").await;
    assert_eq!(users.len(), 60);
    let ids: BTreeSet<String> = users
        .iter()
        .map(|u| u.spec.coupa_user_id.clone().unwrap())
        .collect();
    assert_eq!(ids.len(), 60);
    for user in &users {
        let id = user.spec.coupa_user_id.as_deref().unwrap();
        assert_eq!(
            user.metadata.name.as_deref(),
            Some(format!("acme-{id}").as_str())
        );
    }
    assert!(second.terminate().await.success());
}

/// Two instances with leader election: one leads, the other stands by and takes over when the
/// leader stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_elect_one_leader() {
    let env = Env::start("leader").await;
    let flags = [
        "--leader-election",
        "true",
        "--lease-namespace",
        &env.namespace,
        "--lease-name",
        "uio-test",
        "--lease-duration",
        "4",
    ];
    let a = Binary::start(&env, OPERATOR, &flags).await;
    let json: Vec<&str> = flags
        .iter()
        .copied()
        .chain(["--log-format", "json"])
        .collect();
    let b = Binary::start(&env, OPERATOR, &json).await;
    let leaders = || async {
        let (x, y) = (
            a.metric("user_import_leader").await,
            b.metric("user_import_leader").await,
        );
        (x.unwrap_or(0.0), y.unwrap_or(0.0))
    };
    eventually("exactly one leader", || async {
        matches!(leaders().await, (1.0, 0.0) | (0.0, 1.0))
    })
    .await;
    // Stable: still one leader a moment later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (first_a, first_b) = leaders().await;
    assert_eq!(first_a + first_b, 1.0);
    eventually("both ready", || async {
        a.get("/readyz").await.0 == 200 && b.get("/readyz").await.0 == 200
    })
    .await;
    let (leader, standby) = if first_a == 1.0 { (a, b) } else { (b, a) };
    assert!(leader.terminate().await.success());
    eventually("the standby takes over", || async {
        standby.metric("user_import_leader").await == Some(1.0)
    })
    .await;
    // The new leader runs the controller.
    env.create_tenant("acme", true).await;
    env.put_template("tpl", SMALL).await;
    env.create_import("imp", spec("acme", "tpl")).await;
    env.wait_finished("imp").await;
    assert!(standby.terminate().await.success());
}

/// Reports: no problem rows → NotNeeded; no recipient → NoRecipient, import still succeeds;
/// an unreachable relay → Failed after bounded retries, with attempts and the last error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_delivery_states() {
    let env = Env::start("mail").await;
    let bad = format!("{SMALL}Bad,Row,not-an-email,bad,2009\n");
    env.put_template("good", SMALL).await;
    env.put_template("bad", &bad).await;
    // A tenant without a default site administrator.
    let tenant = user_import_resources::Tenant::new(
        "nobody",
        user_import_resources::TenantSpec {
            display_name: "Nobody".into(),
            ..Default::default()
        },
    );
    env.api()
        .create(&Default::default(), &tenant)
        .await
        .unwrap();
    env.create_tenant("acme", true).await;

    let controller = InProcess::start(&env);
    env.create_import("clean", spec("acme", "good")).await;
    env.create_import("orphan", spec("nobody", "bad")).await;
    let clean = env.wait_finished("clean").await;
    assert_eq!(report_state(&clean), Some(ErrorReportState::NotNeeded));
    let orphan = env
        .wait_import("orphan", "NoRecipient", |i| {
            condition(i, "ReportDelivered") == Some(("False".into(), "NoRecipient".into()))
        })
        .await;
    assert_eq!(
        orphan.status.as_ref().unwrap().phase,
        Some(ImportPhase::SucceededWithProblems)
    );
    assert_eq!(condition(&orphan, "Ready").unwrap().0, "True");
    assert_eq!(report_state(&orphan), Some(ErrorReportState::Failed));
    let ns = &env.namespace;
    let reports = |state: &str, reason: &str| {
        format!(
            "user_import_error_reports{{namespace=\"{ns}\",state=\"{state}\",reason=\"{reason}\"}}"
        )
    };
    let deliveries =
        |result: &str| format!("user_import_report_deliveries_total{{result=\"{result}\"}}");
    let metrics = controller.metrics().clone();
    eventually("the reports in the metrics", || async {
        exposed(&metrics, &reports("Failed", "NoRecipient")) == Some(1.0)
            && exposed(&metrics, &reports("NotNeeded", "")) == Some(1.0)
            && exposed(&metrics, &deliveries("NoRecipient")) == Some(1.0)
    })
    .await;
    assert_eq!(exposed(&metrics, &deliveries("Sent")), Some(0.0));
    controller.stop().await;
    // The controller's run ended: its cache is no longer exposed.
    eventually("no gauges once the controller stopped", || async {
        !text_of(&metrics).contains("user_import_imports{")
    })
    .await;

    // A relay that refuses connections: retried by requeue, then left Failed.
    let from = "user-import@acme.test".parse().unwrap();
    let retry = user_import_operator::mail::RetryPolicy::default().with_max_attempts(1);
    let relay = user_import_operator::mail::MailSettings::from_url("smtp://127.0.0.1:9", from)
        .unwrap()
        .with_retry(retry);
    let settings = user_import_operator::controller::Settings {
        mail: Some(relay),
        mail_backoff: Duration::from_millis(100),
        ..Default::default()
    };
    let controller = InProcess::start_with(&env, settings);
    env.create_import("unreachable", spec("acme", "bad")).await;
    let failed = env
        .wait_import("unreachable", "the delivery to give up", |i| {
            let report = i.status.as_ref().and_then(|s| s.error_report.as_ref());
            report.is_some_and(|r| r.state == ErrorReportState::Failed && r.attempts >= 5)
                && condition(i, "ReportDelivered").is_some_and(|c| c.1 == "RetriesExhausted")
        })
        .await;
    let report = failed.status.unwrap().error_report.unwrap();
    assert_eq!(report.attempts, 5);
    assert!(report.last_error.unwrap().contains("127.0.0.1"));
    assert!(env.mails().is_empty());
    // Each attempt's outcome counted once: four retried failures, then the last; the report
    // that has no recipient is not tried again.
    let metrics = controller.metrics().clone();
    eventually("every attempt counted", || async {
        exposed(&metrics, &deliveries("RetriesExhausted")) == Some(1.0)
            && exposed(&metrics, &reports("Failed", "RetriesExhausted")) == Some(1.0)
    })
    .await;
    assert_eq!(exposed(&metrics, &deliveries("DeliveryFailed")), Some(4.0));
    assert_eq!(exposed(&metrics, &deliveries("NoRecipient")), Some(0.0));
    assert_eq!(exposed(&metrics, &deliveries("Sent")), Some(0.0));
    controller.stop().await;
}

/// A Secret source holding a Windows-1252 file, and more than 100 rows: the encoding is
/// reported, the lists are capped at 100 with `truncated`, the counts are whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_source_windows_1252_and_capped_lists() {
    let env = Env::start("capped").await;
    env.create_tenant("acme", true).await;
    let mut csv = b"First Name,Last Name,Email,Coupa Username,Coupa User ID\n".to_vec();
    // "Jos\xe9": an e-acute in Windows-1252, invalid as UTF-8.
    csv.extend_from_slice(b"Jos\xe9,Lee,jose@acme.test,jlee,4000\n");
    for id in 4001..4150 {
        csv.extend_from_slice(format!("F{id},L{id},u{id}@acme.test,cu{id},{id}\n").as_bytes());
    }
    env.put_secret_template("tpl", &csv).await;
    let controller = InProcess::start(&env);
    let mut import = spec("acme", "unused");
    import.template = user_import_resources::TemplateSource {
        config_map_key_ref: None,
        secret_key_ref: Some(user_import_resources::KeyRef {
            name: "tpl".into(),
            key: "template.csv".into(),
        }),
        ..Default::default()
    };
    env.create_import("imp", import).await;
    let status = env.wait_finished("imp").await.status.unwrap();
    assert_eq!(status.template_encoding.as_deref(), Some("windows-1252"));
    assert_eq!(status.counts.unwrap().new, 150);
    assert_eq!(status.new.len(), 100);
    assert!(status.truncated);
    assert_eq!(
        status.error_report.unwrap().state,
        ErrorReportState::NotNeeded
    );
    assert_eq!(
        env.user("acme-4000").await.spec.first_name.as_deref(),
        Some("José")
    );
    assert_eq!(env.users("acme").await.len(), 150);
    controller.stop().await;
}

/// A Tenant's `smtpSecretRef` overrides the operator's mail settings: the report goes to a
/// real SMTP server (mailin-embedded) from the Secret's sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_smtp_secret_sends_through_its_relay() {
    let env = Env::start("smtp").await;
    let (port, received) = smtp::start();
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("acme-smtp".into()),
            ..Default::default()
        },
        string_data: None,
        data: Some(
            [
                ("url", format!("smtp://127.0.0.1:{port}")),
                ("from", "Acme Reports <reports@acme.test>".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.into_bytes())))
            .collect(),
        ),
        ..Default::default()
    };
    env.api()
        .create(&Default::default(), &secret)
        .await
        .unwrap();
    env.create_tenant("acme", true).await;
    let patch = json!({"spec": {"smtpSecretRef": {"name": "acme-smtp"}}});
    env.api::<user_import_resources::Tenant>()
        .patch("acme", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    env.put_template("tpl", &format!("{SMALL}Bad,Row,not-an-email,bad,2009\n"))
        .await;
    let controller = InProcess::start(&env);
    env.create_import("imp", spec("acme", "tpl")).await;
    let import = env
        .wait_import("imp", "the report sent", |i| {
            report_state(i) == Some(ErrorReportState::Sent)
        })
        .await;
    assert_eq!(import.status.unwrap().error_report.unwrap().attempts, 1);
    let mails = received.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, ["admin@acme.test"]);
    let text = String::from_utf8_lossy(&mails[0].1);
    assert!(text.contains("reports@acme.test"), "{text}");
    assert!(
        text.contains("User Sync Error Report - Acme Corp - "),
        "{text}"
    );
    assert!(
        env.mails().is_empty(),
        "the operator-wide outbox is not used"
    );
    controller.stop().await;
}

/// A minimal SMTP server that keeps what it receives.
mod smtp {
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use mailin_embedded::response::OK;
    use mailin_embedded::{Handler, Response, Server};

    pub type Received = Arc<Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

    #[derive(Clone)]
    struct Keep {
        received: Received,
        to: Vec<String>,
        data: Vec<u8>,
    }

    impl Handler for Keep {
        fn data_start(&mut self, _: &str, _: &str, _: bool, to: &[String]) -> Response {
            self.to = to.to_vec();
            self.data.clear();
            OK
        }

        fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
            self.data.extend_from_slice(buf);
            Ok(())
        }

        fn data_end(&mut self) -> Response {
            let mail = (std::mem::take(&mut self.to), std::mem::take(&mut self.data));
            self.received.lock().unwrap().push(mail);
            OK
        }
    }

    /// Serves on a free port in a thread of its own (mailin has no shutdown; the thread ends
    /// with the test process).
    pub fn start() -> (u16, Received) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Received::default();
        let handler = Keep {
            received: received.clone(),
            to: vec![],
            data: vec![],
        };
        let mut server = Server::new(handler);
        server.with_name("localhost").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        (port, received)
    }
}

/// The status is written by server-side apply: a field that one run set and the next leaves
/// out (the counts, the lists, the error report, the digest) is gone, removed by the server,
/// and the operator's field manager owns the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_left_out_of_the_next_status_is_removed() {
    let env = Env::start("ssa").await;
    env.create_tenant("acme", true).await;
    env.put_template("bad", &format!("{SMALL}Bad,Row,not-an-email,bad,2009\n"))
        .await;
    let controller = InProcess::start(&env);
    let mut first = spec("acme", "bad");
    first.mode = ImportMode::DryRun;
    env.create_import("imp", first).await;
    let done = env
        .wait_import("imp", "the report sent", |i| {
            finished(i) && report_state(i) == Some(ErrorReportState::Sent)
        })
        .await;
    let status = done.status.unwrap();
    assert_eq!(status.counts.unwrap().problem, 1);
    assert_eq!(status.problem.len(), 1);
    assert!(status.template_digest.is_some() && status.completed_at.is_some());
    // A new generation whose template is missing: the Stalled status has none of the result.
    let patch = json!({"spec": {"template": {"configMapKeyRef": {"name": "gone"}}}});
    env.api::<UserImport>()
        .patch("imp", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let stalled = env
        .wait_import("imp", "TemplateSourceNotFound", |i| {
            condition(i, "Stalled") == Some(("True".into(), "TemplateSourceNotFound".into()))
        })
        .await;
    let status = stalled.status.clone().unwrap();
    assert_eq!(status.phase, Some(ImportPhase::Pending));
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.counts, None);
    assert!(status.new.is_empty() && status.update.is_empty() && status.problem.is_empty());
    assert_eq!(status.error_report, None);
    assert_eq!(status.template_digest, None);
    assert_eq!(status.template_encoding, None);
    assert_eq!((status.started_at, status.completed_at), (None, None));
    assert_eq!(status.highlight_message, None);
    // Every condition is still there (ReportDelivered among them): the list is the operator's.
    let types: BTreeSet<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert!(types.contains("ReportDelivered"), "{types:?}");
    let managers: Vec<(String, String)> = stalled
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry.subresource.as_deref() == Some("status"))
        .map(|entry| {
            (
                entry.manager.unwrap_or_default(),
                entry.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        vec![("user-import-operator".to_string(), "Apply".to_string())]
    );
    controller.stop().await;
}

/// A status written by the operator before it wrote by server-side apply (a JSON merge patch by
/// the same field manager, so owned by an `Update` entry for the status) is taken over at the
/// first status write: the fields the new status leaves out are removed, and no `Update` entry
/// of the manager is left. Two imports: one whose status only the merge patch wrote, one that an
/// apply of the new version (before the takeover existed) wrote over as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_written_by_merge_patch_is_taken_over_by_the_apply() {
    let env = Env::start("takeover").await;
    env.create_tenant("acme", true).await;
    let api = env.api::<UserImport>();
    let manager = PatchParams {
        field_manager: Some("user-import-operator".into()),
        ..PatchParams::default()
    };
    for name in ["merged", "merged-then-applied"] {
        env.create_import(name, spec("acme", "tpl")).await;
        let old = json!({"status": {
            "phase": "Succeeded",
            "observedGeneration": 1,
            "templateDigest": "sha256:old",
            "counts": {"new": 5, "update": 5, "unchanged": 1, "problem": 10},
            "highlightMessage": "old highlight",
            "completedAt": "2026-01-01T00:00:00Z",
        }});
        api.patch_status(name, &manager, &Patch::Merge(&old))
            .await
            .unwrap();
        // A new generation whose template is missing: the controller's status is a Stalled
        // one, without the old result.
        let gone = json!({"spec": {"template": {"configMapKeyRef": {"name": "gone"}}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&gone))
            .await
            .unwrap();
    }
    let applied = json!({
        "apiVersion": "riskassess.io/v1alpha1",
        "kind": "UserImport",
        "status": {"phase": "Running", "observedGeneration": 1, "templateDigest": "sha256:new"},
    });
    api.patch_status(
        "merged-then-applied",
        &PatchParams::apply("user-import-operator").force(),
        &Patch::Apply(&applied),
    )
    .await
    .unwrap();
    let status_managers = |import: &UserImport| -> Vec<(String, String)> {
        let entries = import.metadata.managed_fields.clone().unwrap_or_default();
        entries
            .into_iter()
            .filter(|entry| entry.subresource.as_deref() == Some("status"))
            .map(|entry| {
                let manager = entry.manager.unwrap_or_default();
                (manager, entry.operation.unwrap_or_default())
            })
            .collect()
    };
    let both = api.get("merged-then-applied").await.unwrap();
    let operations: BTreeSet<String> = status_managers(&both).into_iter().map(|m| m.1).collect();
    assert_eq!(
        operations,
        BTreeSet::from(["Apply".into(), "Update".into()])
    );
    assert!(
        both.status.unwrap().counts.is_some(),
        "kept by the Update entry"
    );

    let controller = InProcess::start(&env);
    for name in ["merged", "merged-then-applied"] {
        let stalled = env
            .wait_import(name, "TemplateSourceNotFound", |i| {
                condition(i, "Stalled") == Some(("True".into(), "TemplateSourceNotFound".into()))
            })
            .await;
        let status = stalled.status.clone().unwrap();
        assert_eq!(status.phase, Some(ImportPhase::Pending), "{name}");
        assert_eq!(status.observed_generation, Some(2), "{name}");
        assert_eq!(status.counts, None, "{name}");
        assert_eq!(status.highlight_message, None, "{name}");
        assert_eq!(status.template_digest, None, "{name}");
        assert_eq!(status.completed_at, None, "{name}");
        assert_eq!(
            status_managers(&stalled),
            vec![("user-import-operator".to_string(), "Apply".to_string())],
            "{name}"
        );
    }
    controller.stop().await;
}

/// What the controller remembers of an import goes with the import: 1,000 UserImports are
/// imported (DryRun: nothing is written), each remembered, then deleted, and the controller
/// remembers none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_deleted_imports_are_forgotten() {
    const IMPORTS: i64 = 1000;
    let env = Env::start("memory").await;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", SMALL).await;
    let settings = Settings {
        sweep: Duration::from_millis(200),
        ..Settings::default()
    };
    let controller = InProcess::start_with(&env, settings);
    let env = &env;
    futures::stream::iter(0..IMPORTS)
        .for_each_concurrent(16, |index| async move {
            let mut dry = spec("acme", "tpl");
            dry.mode = ImportMode::DryRun;
            env.create_import(&format!("imp-{index}"), dry).await;
        })
        .await;
    let long = Duration::from_secs(300);
    let all_finished = || async {
        let imports = env.api::<UserImport>().list(&Default::default()).await;
        imports
            .is_ok_and(|list| list.items.iter().filter(|i| finished(i)).count() == IMPORTS as usize)
    };
    eventually_within(long, "every import finished", all_finished).await;
    assert_eq!(controller.remembered(), IMPORTS);
    env.api::<UserImport>()
        .delete_collection(&Default::default(), &Default::default())
        .await
        .unwrap();
    eventually_within(long, "every import forgotten", || async {
        controller.remembered() == 0
    })
    .await;
    assert!(env.users("acme").await.is_empty());
    controller.stop().await;
}
