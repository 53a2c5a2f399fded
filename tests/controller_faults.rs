//! The controller under faults and hostile input (issue 13): a panicking reconcile, names that
//! are not object names, a retried or restarted import, and a UserImport deleted mid-import.
//! Against a real kube-apiserver, through each test's proxy (which counts the requests and
//! injects the faults and delays).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use user_import_operator::controller::{self, Context, Metrics, Settings, reconcile};
use user_import_operator::mail::MailSettings;
use user_import_resources::{
    ErrorReportState, ImportPhase, KeyRef, SecretName, TemplateSource, Tenant, TenantRef,
    UserImport, UserImportSpec,
};
use user_import_test_support::{
    Env, Fault, InProcess, Matcher, condition, eventually, spec, wait_crds_established,
};

const HEADER: &str = "First Name,Last Name,Email,Coupa Username,Coupa User ID\n";

/// A template of `count` new users with ids from `first`, and an invalid e-mail row when
/// `with_problem` (so that an error report is mailed).
fn template(first: usize, count: usize, with_problem: bool) -> String {
    let mut csv = String::from(HEADER);
    for id in first..first + count {
        csv.push_str(&format!("F{id},L{id},u{id}@acme.test,cu{id},{id}\n"));
    }
    if with_problem {
        csv.push_str("Bad,Row,not-an-email,bad,99999\n");
    }
    csv
}

/// Settings of an in-process controller that mails into the test's outbox.
fn settings(env: &Env) -> Settings {
    let from = "user-import@acme.test".parse().unwrap();
    Settings {
        concurrency: 4,
        mail: Some(MailSettings::outbox(&env.outbox, from)),
        ..Settings::default()
    }
}

/// The controller in-process with a reconcile function of the test's choosing; aborted on drop.
struct Injected {
    task: tokio::task::JoinHandle<()>,
}

impl Injected {
    fn start<R, F>(env: &Env, settings: Settings, metrics: Metrics, reconcile: R) -> Injected
    where
        R: Fn(Arc<UserImport>, Arc<Context>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Action, controller::error::Error>> + Send + 'static,
    {
        let task = tokio::spawn(controller::run_with(
            reconcile,
            env.client.clone(),
            Some(env.namespace.clone()),
            settings,
            metrics,
            || {},
            futures::future::pending(),
        ));
        Injected { task }
    }
}

impl Drop for Injected {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The value of a metric of `metrics` as `/metrics` shows it (0 when it is not there).
fn metric(metrics: &Metrics, name: &str) -> f64 {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text.lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// The message of the condition `type_`.
fn message(import: &UserImport, type_: &str) -> String {
    let status = import.status.as_ref().expect("a status");
    let found = status.conditions.iter().find(|c| c.type_ == type_);
    found.map(|c| c.message.clone()).unwrap_or_default()
}

fn stalled_on(reason: &'static str) -> impl Fn(&UserImport) -> bool {
    move |import| condition(import, "Stalled") == Some(("True".into(), reason.into()))
}

/// A reconcile that panics is caught: its import is `Failed` with the panic in its status, the
/// panic is counted, and the controller goes on with the other imports.
///
/// The panic comes from a reconcile function given to `controller::run_with`: the one input
/// known to panic (a line break in an administrator's name, next test) is being made harmless
/// in the mail builder, and this test must keep proving the guard after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reconcile_fails_its_import_and_the_others_go_on() {
    let env = Env::start("panic").await;
    env.create_tenant("acme", true).await;
    env.create_tenant("globex", true).await;
    env.put_template("tpl", &template(2000, 3, false)).await;
    let metrics = Metrics::default();
    // A long back-off: the panicking import is not retried during the test.
    let settings = Settings {
        error_backoff: Duration::from_secs(300),
        ..settings(&env)
    };
    let _controller = Injected::start(&env, settings, metrics.clone(), |import, ctx| async move {
        if import.spec.tenant_ref.name == "acme" {
            panic!("injected panic in the reconcile of an acme import");
        }
        reconcile::reconcile(import, ctx).await
    });
    env.create_import("boom", spec("acme", "tpl")).await;
    let boom = env
        .wait_import(
            "boom",
            "the panic in the status",
            stalled_on("ReconcilePanicked"),
        )
        .await;
    let status = boom.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(ImportPhase::Failed));
    assert_eq!(status.observed_generation, boom.metadata.generation);
    assert_eq!(
        condition(&boom, "Ready"),
        Some(("False".into(), "ReconcilePanicked".into()))
    );
    assert_eq!(condition(&boom, "Reconciling").unwrap().0, "False");
    let said = message(&boom, "Stalled");
    assert!(
        said.contains("injected panic in the reconcile of an acme import"),
        "{said}"
    );

    // Another tenant's import, started after the panic, runs to its end.
    env.create_import("fine", spec("globex", "tpl")).await;
    let fine = env.wait_finished("fine").await;
    assert_eq!(fine.status.unwrap().counts.unwrap().new, 3);
    assert_eq!(
        metric(&metrics, "user_import_reconcile_panics_total"),
        1.0,
        "one panic, counted once (the status write it caused is not a second try)"
    );
}

/// The input that crashed the operator for good: a line break in the Tenant's administrator
/// name reaches the mail headers. Whatever the mail builder does with it (it panicked; it is
/// being made to refuse or replace it), the controller goes on serving other tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_break_in_an_administrator_name_does_not_stop_the_controller() {
    let env = Env::start("crlf").await;
    env.create_tenant("acme", true).await;
    let patch = json!({"spec": {"defaultSiteAdministrator": {
        "name": "Ada\r\nBcc: x@example.test", "email": "admin@acme.test"}}});
    env.api::<Tenant>()
        .patch("acme", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    env.put_template("tpl", &template(2000, 2, true)).await;
    let controller = InProcess::start_with(&env, settings(&env));
    env.create_import("crlf", spec("acme", "tpl")).await;
    // The report goes out, with the line break replaced, and the status says what changed.
    let sent = env
        .wait_import("crlf", "the report sent", |import| {
            import
                .status
                .as_ref()
                .and_then(|s| s.error_report.as_ref())
                .is_some_and(|report| report.state == ErrorReportState::Sent)
        })
        .await;
    let delivered = sent
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "ReportDelivered")
        .unwrap()
        .message
        .clone();
    assert!(
        delivered.contains("recipient name: line breaks replaced by spaces"),
        "{delivered}"
    );
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .expect("a message");
    assert!(parsed.bcc().is_none(), "no Bcc header: {}", mails[0]);
    let to = parsed.to().and_then(|to| to.first()).expect("one To");
    assert_eq!(to.name(), Some("Ada Bcc: x@example.test"));
    assert_eq!(to.address(), Some("admin@acme.test"));

    env.create_tenant("globex", true).await;
    env.put_template("other", &template(3000, 2, false)).await;
    env.create_import("other", spec("globex", "other")).await;
    let other = env.wait_finished("other").await;
    assert_eq!(other.status.unwrap().counts.unwrap().new, 2);
    controller.stop().await;
}

/// The CRDs of before the name rule: the same, without `pattern`/`maxLength` on names.
fn without_name_rules(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(object) => {
                let is_name_rule = object
                    .get("pattern")
                    .and_then(Value::as_str)
                    .is_some_and(|pattern| pattern.starts_with("^[a-z0-9]"));
                if is_name_rule {
                    object.remove("pattern");
                    object.remove("maxLength");
                }
                object.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(crd).unwrap();
    strip(&mut value);
    serde_json::from_value(value).unwrap()
}

/// Applies `crds` to the API server behind the proxy (as its admin) and waits until they are
/// served: an operator's upgrade applies the CRDs of the new version over the old ones, and the
/// objects stored meanwhile stay as they were.
async fn apply_crds(env: &Env, crds: Vec<CustomResourceDefinition>) {
    let admin = env.admin_client().await;
    let api: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap();
        let params = PatchParams::apply("tests").force();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap();
    }
    wait_crds_established(&admin).await;
}

fn secret_source(name: &str) -> TemplateSource {
    TemplateSource {
        config_map_key_ref: None,
        secret_key_ref: Some(KeyRef {
            name: name.into(),
            key: "template.csv".into(),
        }),
        ..Default::default()
    }
}

/// UserImports and a Tenant stored before the CRDs had the name rule: every name that is not
/// an object name stalls the import with `InvalidReference` and the field, before any request
/// uses it.
///
/// On a control plane of the test's own, since the CRDs are the cluster's: the CRDs of before
/// the rule are applied, the objects created, then today's CRDs applied over them (what an
/// upgrade does; kube-apiserver keeps what is stored), and only then the controller starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_are_not_object_names_stall_the_import() {
    let env = Env::start_alone("names").await;
    let server = &env.proxy;
    apply_crds(
        &env,
        vec![
            without_name_rules(Tenant::crd()),
            without_name_rules(UserImport::crd()),
        ],
    )
    .await;
    env.create_tenant("acme", true).await;
    let bad_smtp = Tenant::new(
        "smtp-bad",
        user_import_resources::TenantSpec {
            display_name: "Bad SMTP".into(),
            smtp_secret_ref: Some(SecretName {
                name: "../kube-system/smtp".into(),
            }),
            ..Default::default()
        },
    );
    env.api::<Tenant>()
        .create(&PostParams::default(), &bad_smtp)
        .await
        .unwrap();
    env.put_template("tpl", &template(2000, 2, false)).await;
    env.put_secret_template("tpl", template(2000, 2, false).as_bytes())
        .await;

    let cases = [
        (
            "tenant",
            spec("../../team-b/tenants/acme", "tpl"),
            "spec.tenantRef.name",
        ),
        (
            "config-map",
            spec("acme", "../tpl"),
            "spec.template.configMapKeyRef.name",
        ),
        (
            "secret",
            UserImportSpec {
                template: secret_source("Tpl"),
                ..spec("acme", "tpl")
            },
            "spec.template.secretKeyRef.name",
        ),
        ("smtp", spec("smtp-bad", "tpl"), "spec.smtpSecretRef.name"),
    ];
    for (name, spec, _) in &cases {
        env.create_import(name, spec.clone()).await;
    }
    apply_crds(&env, vec![Tenant::crd(), UserImport::crd()]).await;
    // Today's CRDs refuse such a name; the stored objects are served as they are.
    let refused = env
        .api::<UserImport>()
        .create(
            &PostParams::default(),
            &UserImport::new("refused", cases[0].1.clone()),
        )
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(status)) if status.code == 422),
        "{refused:?}"
    );
    server.reset_counters();
    let controller = InProcess::start_with(&env, settings(&env));
    for (name, _, field) in &cases {
        let import = env
            .wait_import(name, "InvalidReference", stalled_on("InvalidReference"))
            .await;
        assert_eq!(
            import.status.as_ref().unwrap().phase,
            Some(ImportPhase::Pending)
        );
        assert_eq!(condition(&import, "Reconciling").unwrap().0, "False");
        let said = message(&import, "Stalled");
        assert!(said.contains(field), "{name}: {said}");
    }
    // No template source was read: each import stopped at its bad name.
    let counters = server.counters();
    assert_eq!(
        counters.count("get", "configmaps"),
        0,
        "{:?}",
        counters.entries()
    );
    assert_eq!(
        counters.count("get", "secrets"),
        0,
        "{:?}",
        counters.entries()
    );
    assert_eq!(env.user_writes(), 0);
    controller.stop().await;
}

/// The CRDs refuse a name that is not an object name when it is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crds_refuse_names_that_are_not_object_names() {
    let env = Env::start("crd-names").await;
    let refused = |result: Result<UserImport, kube::Error>, field: &str| match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains(field), "{}", status.message);
        }
        other => panic!("{field}: accepted: {other:?}"),
    };
    let imports = env.api::<UserImport>();
    let create = |name: &str, spec: UserImportSpec| {
        let import = UserImport::new(name, spec);
        let imports = imports.clone();
        async move { imports.create(&PostParams::default(), &import).await }
    };
    let mut bad_tenant = spec("acme", "tpl");
    bad_tenant.tenant_ref = TenantRef {
        name: "../../team-b/tenants/acme".into(),
    };
    refused(create("a", bad_tenant).await, "spec.tenantRef.name");
    refused(
        create("b", spec("acme", &"a".repeat(254))).await,
        "spec.template.configMapKeyRef.name",
    );
    let secret = UserImportSpec {
        template: secret_source("Tpl"),
        ..spec("acme", "tpl")
    };
    refused(create("c", secret).await, "spec.template.secretKeyRef.name");
    let tenant = Tenant::new(
        "acme",
        user_import_resources::TenantSpec {
            display_name: "Acme".into(),
            smtp_secret_ref: Some(SecretName {
                name: "smtp/../x".into(),
            }),
            ..Default::default()
        },
    );
    match env
        .api::<Tenant>()
        .create(&PostParams::default(), &tenant)
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("spec.smtpSecretRef.name"),
                "{}",
                status.message
            );
        }
        other => panic!("a Tenant with a bad smtpSecretRef was accepted: {other:?}"),
    }
}

/// 500s on the status writes after the users were written: the retry reports the import as
/// first planned (all new), not as it finds the users its own first pass wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_import_reports_its_first_plan() {
    let env = Env::start("retried").await;
    let server = &env.proxy;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", &template(5000, 40, true)).await;
    server.set_delay_for(
        Matcher::any().verb("patch").resource("tenantusers"),
        Duration::from_millis(100),
    );
    let settings = Settings {
        error_backoff: Duration::from_millis(200),
        ..settings(&env)
    };
    let controller = InProcess::start_with(&env, settings);
    env.create_import("imp", spec("acme", "tpl")).await;
    eventually("the first users written", || async {
        !env.users("acme").await.is_empty()
    })
    .await;
    // The final status write, the Failed status after it and the first retry's first write.
    let status_writes = || Matcher::any().verb("patch").resource("userimports/status");
    server.fail_next(3, status_writes(), Fault::InternalError);
    let import = env.wait_finished("imp").await;
    let status = import.status.unwrap();
    let counts = status.counts.unwrap();
    assert_eq!(
        (counts.new, counts.update, counts.unchanged, counts.problem),
        (40, 0, 0, 1),
        "the counts of the first plan"
    );
    assert_eq!(status.new.len(), 40);
    assert_eq!(status.new[0].coupa_user_id, "5000");
    assert_eq!(status.problem.len(), 1);
    assert_eq!(env.users("acme").await.len(), 40);
    assert!(
        server.counters().count("patch", "userimports/status") >= 5,
        "the faults were hit: {:?}",
        server.counters().entries()
    );
    // The report mailed says the same.
    eventually("the report mailed", || async { env.mails().len() == 1 }).await;
    let mail = &env.mails()[0];
    assert!(mail.contains("New:       40"), "{mail}");
    controller.stop().await;
}

/// A controller stopped in the middle of an import, and a new one (nothing in memory): the
/// final status still describes the import as first planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_import_reports_its_first_plan() {
    let env = Env::start("restarted").await;
    // Slow writes, so that the stop lands in the middle of the import.
    let server = &env.proxy;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", &template(6000, 60, false)).await;
    server.set_delay_for(
        Matcher::any().verb("patch").resource("tenantusers"),
        Duration::from_millis(100),
    );
    let first = InProcess::start_with(&env, settings(&env));
    env.create_import("imp", spec("acme", "tpl")).await;
    eventually("some users written", || async {
        env.users("acme").await.len() >= 8
    })
    .await;
    drop(first); // aborted, like a killed process: no graceful end
    let written = env.users("acme").await.len();
    assert!(written < 60, "the stop landed after the import finished");
    server.clear_faults();
    let second = InProcess::start_with(&env, settings(&env));
    let import = env.wait_finished("imp").await;
    let counts = import.status.unwrap().counts.unwrap();
    assert_eq!(
        (counts.new, counts.unchanged),
        (60, 0),
        "the counts of the first plan ({written} users were written before the stop)"
    );
    assert_eq!(env.users("acme").await.len(), 60);
    second.stop().await;
}

/// A UserImport deleted in the middle of its import: no TenantUser write starts once the
/// controller has seen the deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_import_stops_its_writes() {
    let env = Env::start("deleted").await;
    // Slow writes, so that the deletion lands in the middle of the import.
    let server = &env.proxy;
    const ROWS: usize = 200;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", &template(7000, ROWS, false)).await;
    let writes = || server.counters().count("patch", "tenantusers");
    server.set_delay_for(
        Matcher::any().verb("patch").resource("tenantusers"),
        Duration::from_millis(100),
    );
    let controller = InProcess::start_with(&env, settings(&env));
    env.create_import("imp", spec("acme", "tpl")).await;
    eventually("some users written", || async { writes() >= 8 }).await;
    env.delete_import("imp").await;
    let at_delete = writes();
    // The watch event arrives within milliseconds; the writes in flight (4) then end. The
    // bound leaves room for a loaded machine; without the stop, 2 s are some 80 writes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = writes();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let last = writes();
    eprintln!(
        "TenantUser writes: {at_delete} at the deletion, {settled} 2 s later, {last} 4 s later, of {ROWS}"
    );
    assert_eq!(last, settled, "writes went on after the deletion was seen");
    assert!(
        settled - at_delete <= 20,
        "{} writes after the deletion ({at_delete} before it)",
        settled - at_delete
    );
    assert!(last < ROWS as u64 / 2, "{last} of {ROWS} written");
    controller.stop().await;
}

/// A TenantUser write that fails half-way through an import (the 30th of 60 answers 500): the
/// import is retried to its end, every user is written under its own name, and the status
/// reports the import as first planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_half_way_is_retried_to_the_end() {
    let env = Env::start("half-way").await;
    env.create_tenant("acme", true).await;
    env.put_template("tpl", &template(8000, 60, false)).await;
    let writes = Matcher::any().verb("patch").resource("tenantusers");
    env.proxy.fail_after(29, 1, writes, Fault::InternalError);
    let settings = Settings {
        error_backoff: Duration::from_millis(200),
        ..settings(&env)
    };
    let controller = InProcess::start_with(&env, settings);
    env.create_import("imp", spec("acme", "tpl")).await;
    let import = env.wait_finished("imp").await;
    assert_eq!(env.proxy.pending_faults(), 0, "the 30th write failed");
    let counts = import.status.unwrap().counts.unwrap();
    assert_eq!(
        (counts.new, counts.update, counts.unchanged, counts.problem),
        (60, 0, 0, 0),
        "the counts of the first plan"
    );
    let users = env.users("acme").await;
    assert_eq!(users.len(), 60);
    for user in &users {
        let id = user.spec.coupa_user_id.as_deref().unwrap();
        assert_eq!(user.metadata.name, Some(format!("acme-{id}")));
    }
    let patches = env.proxy.counters().count("patch", "tenantusers");
    assert!(patches >= 61, "the failed write and its retry: {patches}");
    controller.stop().await;
}
