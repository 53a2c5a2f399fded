//! The operator-wide policies for where data may go (docs/security.md#where-data-may-go), on a
//! real kube-apiserver: a report is never mailed outside `--allowed-recipient-domains`, and a
//! template is never requested from a host `--allowed-template-hosts` refuses (loopback,
//! link-local and the API server by default). Each refusal shows in the status and as a Warning
//! event, and nothing is sent or requested; an allowed domain or host still works.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use user_import_operator::controller::Settings;
use user_import_operator::mail::{MailSettings, RetryPolicy};
use user_import_operator::policy::{RecipientDomains, TemplateHosts};
use user_import_resources::{
    ErrorReportState, ImportPhase, SecretName, TemplateSource, Tenant, UrlSource, UserImport,
    UserImportSpec,
};
use user_import_test_support::sites::Site;
use user_import_test_support::{
    Binary, Env, InProcess, TestPki, condition, eventually, example, finished, objects, spec,
};

const OPERATOR: &str = env!("CARGO_BIN_EXE_user-import-operator");

/// Two users and a problem row: every import of it has an error report.
const WITH_A_PROBLEM: &str = "First Name,Last Name,Email,Coupa Username,Coupa User ID\n\
                              Ann,Lee,ann@acme.test,alee,2001\n\
                              Bad,Row,not-an-email,bad,2009\n";

// ------------------------------------------------------------------------------- helpers

/// The message of the condition `type_`.
fn message(import: &UserImport, type_: &str) -> String {
    let status = import.status.as_ref();
    let found = status.and_then(|status| status.conditions.iter().find(|c| c.type_ == type_));
    found.map(|c| c.message.clone()).unwrap_or_default()
}

/// Waits until the condition `type_` of `name` has `status` and `reason`.
async fn wait_condition(
    env: &Env,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> UserImport {
    let what = format!("{name}: {type_}={status} ({reason})");
    env.wait_import(name, &what, |i| {
        condition(i, type_) == Some((status.to_string(), reason.to_string()))
    })
    .await
}

/// Waits until the report of `name` is refused (`ReportDelivered=False`,
/// `RecipientNotAllowed`): the import and the condition's message.
async fn wait_refused(env: &Env, name: &str) -> (UserImport, String) {
    let refused =
        wait_condition(env, name, "ReportDelivered", "False", "RecipientNotAllowed").await;
    let said = message(&refused, "ReportDelivered");
    (refused, said)
}

/// The Warning events of the namespace: (reason, note).
async fn warnings(env: &Env) -> Vec<(String, String)> {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = env.api();
    let list = events.list(&Default::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|event| event.type_.as_deref() == Some("Warning"))
        .map(|event| {
            (
                event.reason.unwrap_or_default(),
                event.note.unwrap_or_default(),
            )
        })
        .collect()
}

/// Waits for a Warning event with `reason`, and returns its note.
async fn wait_warning(env: &Env, reason: &str) -> String {
    eventually(&format!("a {reason} Warning event"), || async {
        warnings(env).await.iter().any(|(r, _)| r == reason)
    })
    .await;
    let found = warnings(env).await.into_iter().find(|(r, _)| r == reason);
    found.map(|(_, note)| note).unwrap()
}

/// A Tenant named `name` whose administrator is `email`.
async fn create_tenant(env: &Env, name: &str, email: &str) {
    let mut tenant = objects::tenant(name, true);
    tenant
        .spec
        .default_site_administrator
        .as_mut()
        .unwrap()
        .email = email.into();
    env.api::<Tenant>()
        .create(&Default::default(), &tenant)
        .await
        .expect("create the Tenant");
}

fn report_state(import: &UserImport) -> Option<ErrorReportState> {
    Some(import.status.as_ref()?.error_report.as_ref()?.state)
}

/// An import of the Tenant `tenant` from the URL `url`, with the Secret of the test CA.
fn url_import(tenant: &str, url: &str) -> UserImportSpec {
    UserImportSpec {
        template: TemplateSource {
            url: Some(UrlSource {
                url: url.into(),
                digest: None,
                secret_ref: Some(SecretName {
                    name: "template-ca".into(),
                }),
                interval: "10m".into(),
            }),
            ..Default::default()
        },
        ..spec(tenant, "unused")
    }
}

/// The Secret `template-ca` with the test CA (`ca.crt`).
async fn put_ca(env: &Env, pki: &TestPki) {
    env.put_url_secret("template-ca", None, pki).await;
}

/// Settings of an in-process controller with short delays, mail into the test's outbox.
fn settings(env: &Env) -> Settings {
    let from = "user-import@acme.test".parse().unwrap();
    Settings {
        concurrency: 4,
        mail: Some(MailSettings::outbox(&env.outbox, from)),
        error_backoff: Duration::from_millis(100),
        mail_backoff: Duration::from_millis(100),
        stalled_requeue: Duration::from_millis(500),
        ..Settings::default()
    }
}

fn acme_only() -> RecipientDomains {
    RecipientDomains::new(["acme.test".parse().unwrap()])
}

// ------------------------------------------------------------------- recipient domains

/// A report for an administrator outside the list is not mailed: the relay is never
/// contacted for it, and it is not retried; the status and a Warning event name the domain and
/// the flag. A report within the list goes to the relay as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_reaches_the_relay_for_a_refused_recipient() {
    let env = Env::start("recipients").await;
    let (port, connections) = relay().await;
    create_tenant(&env, "acme", "admin@acme.test").await;
    create_tenant(&env, "evil", "Admin@Evil.TEST").await;
    env.put_template("tpl", WITH_A_PROBLEM).await;
    let from = "user-import@acme.test".parse().unwrap();
    let relay = MailSettings::from_url(&format!("smtp://127.0.0.1:{port}?tls=none"), from)
        .unwrap()
        .with_retry(RetryPolicy::default().with_max_attempts(1));
    let controller = InProcess::start_with(
        &env,
        Settings {
            mail: Some(relay),
            recipient_domains: acme_only(),
            ..settings(&env)
        },
    );
    env.create_import("refused", spec("evil", "tpl")).await;
    let (refused, said) = wait_refused(&env, "refused").await;
    assert!(
        said.contains("\"Evil.TEST\"") && said.contains("--allowed-recipient-domains (acme.test)"),
        "{said}"
    );
    assert!(!said.contains("outbox"), "no outbox with a relay: {said}");
    let status = refused.status.clone().unwrap();
    // The import itself stands: its users were written, its problem rows are in the status.
    assert_eq!(status.phase, Some(ImportPhase::SucceededWithProblems));
    assert_eq!(condition(&refused, "Ready").unwrap().0, "True");
    assert_eq!(status.problem.len(), 1);
    let report = status.error_report.unwrap();
    assert_eq!(report.state, ErrorReportState::Failed);
    assert_eq!(report.recipient.as_deref(), Some("Admin@Evil.TEST"));
    assert_eq!(report.attempts, 0, "no delivery was attempted");
    let note = wait_warning(&env, "RecipientNotAllowed").await;
    assert!(note.contains("Evil.TEST") && note.contains("--allowed-recipient-domains"));
    // Not retried: the status stays, no second event, and the relay never saw a connection.
    let version = env.import("refused").await.metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.import("refused").await.metadata.resource_version,
        version
    );
    let events = warnings(&env).await;
    let refusals = events.iter().filter(|(r, _)| r == "RecipientNotAllowed");
    assert_eq!(refusals.count(), 1, "{events:?}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the relay was contacted"
    );
    assert!(env.mails().is_empty());

    // An allowed recipient: the report goes to the relay (which here only counts).
    env.create_import("allowed", spec("acme", "tpl")).await;
    eventually("the relay contacted for the allowed report", || async {
        connections.load(Ordering::SeqCst) > 0
    })
    .await;
    controller.stop().await;
}

/// Without a relay, the outbox keeps a refused report (nothing leaves the pod); the status
/// still says it was not mailed, and why. Once the Tenant's address is fixed, the report goes
/// out, once, to the new address; a report within the list is delivered as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_keeps_a_refused_report_until_the_tenant_is_fixed() {
    let env = Env::start("recipient-outbox").await;
    create_tenant(&env, "acme", "admin@acme.test").await;
    create_tenant(&env, "evil", "admin@eu.acme.test").await;
    env.put_template("tpl", WITH_A_PROBLEM).await;
    let controller = InProcess::start_with(
        &env,
        Settings {
            recipient_domains: acme_only(),
            ..settings(&env)
        },
    );
    env.create_import("allowed", spec("acme", "tpl")).await;
    env.wait_import("allowed", "the report sent", |i| {
        report_state(i) == Some(ErrorReportState::Sent)
    })
    .await;
    env.create_import("refused", spec("evil", "tpl")).await;
    let (refused, said) = wait_refused(&env, "refused").await;
    // Subdomains are other domains.
    assert!(said.contains("\"eu.acme.test\""), "{said}");
    assert!(said.contains("written to the outbox only"), "{said}");
    let to = |mails: &[String]| -> Vec<bool> {
        let addresses = ["admin@acme.test", "admin@eu.acme.test", "ops@acme.test"];
        let to_address = |address: &str| {
            let header = format!("<{address}>");
            mails.iter().any(|mail| mail.contains(&header))
        };
        addresses.into_iter().map(to_address).collect()
    };
    assert_eq!(env.mails().len(), 2);
    assert_eq!(to(&env.mails()), [true, true, false]);
    assert_eq!(report_state(&refused), Some(ErrorReportState::Failed));
    wait_warning(&env, "RecipientNotAllowed").await;

    let fixed = json!({"spec": {"defaultSiteAdministrator": {"email": "ops@acme.test"}}});
    env.api::<Tenant>()
        .patch("evil", &PatchParams::default(), &Patch::Merge(&fixed))
        .await
        .unwrap();
    let sent = env
        .wait_import("refused", "the report sent after the fix", |i| {
            report_state(i) == Some(ErrorReportState::Sent)
        })
        .await;
    let report = sent.status.unwrap().error_report.unwrap();
    assert_eq!(report.recipient.as_deref(), Some("ops@acme.test"));
    assert_eq!(report.attempts, 1);
    assert_eq!(env.mails().len(), 3);
    assert_eq!(to(&env.mails()), [true, true, true]);
    controller.stop().await;
}

/// A stand-in relay that counts the connections it gets and closes each at once.
async fn relay() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, connections)
}

/// `import` refuses a `--to` outside the list as a usage error, before anything is written;
/// the variable sets the list as the flag does, and an allowed address is mailed.
#[test]
fn the_cli_refuses_a_recipient_outside_the_allowed_domains() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["template.csv", "records.yaml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    let records_before = std::fs::read(dir.path().join("records.yaml")).unwrap();
    let import = |to: &str, env: Option<&str>, flag: Option<&str>| -> Output {
        let mut command = Command::new(OPERATOR);
        command.current_dir(dir.path()).args([
            "import",
            "--template",
            "template.csv",
            "--records",
            "records.yaml",
            "--to",
            to,
        ]);
        command.env_remove("USER_IMPORT_ALLOWED_RECIPIENT_DOMAINS");
        if let Some(list) = env {
            command.env("USER_IMPORT_ALLOWED_RECIPIENT_DOMAINS", list);
        }
        if let Some(list) = flag {
            command.args(["--allowed-recipient-domains", list]);
        }
        command.output().unwrap()
    };
    for (env, flag) in [
        (None, Some("acme.test,example.com")),
        (Some("acme.test"), None),
    ] {
        let out = import("admin@evil.test", env, flag);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("\"evil.test\"") && stderr.contains("--allowed-recipient-domains"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("records.yaml")).unwrap(),
            records_before
        );
        assert!(!dir.path().join("outbox").exists(), "nothing mailed");
    }
    let bad = import("admin@acme.test", None, Some("*.acme.test"));
    assert_eq!(bad.status.code(), Some(2));
    let out = import("Admin@ACME.test", Some("acme.test"), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        1
    );
}

// ------------------------------------------------------------------------ template hosts

/// A host outside the list: Stalled, with the host and the flag named, a Warning event, and no
/// request to it. The same site, listed, imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_host_outside_the_list_is_never_requested() {
    let env = Env::start("hosts").await;
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let url = site.put("/users.csv", example("template.csv").as_bytes());
    put_ca(&env, &pki).await;
    env.create_tenant("acme", true).await;
    let only_files = TemplateHosts::new(["files.acme.test".parse().unwrap()]);
    let controller = InProcess::start_with(
        &env,
        Settings {
            template_hosts: only_files,
            ..settings(&env)
        },
    );
    env.create_import("imp", url_import("acme", &url)).await;
    let stalled = wait_condition(&env, "imp", "Stalled", "True", "TemplateHostNotAllowed").await;
    let said = message(&stalled, "Stalled");
    assert!(
        said.contains("the host \"127.0.0.1\" is not in the operator's --allowed-template-hosts (files.acme.test)"),
        "{said}"
    );
    assert!(
        said.contains(&url) && said.contains("nothing was requested"),
        "{said}"
    );
    assert_eq!(
        stalled.status.as_ref().unwrap().phase,
        Some(ImportPhase::Pending)
    );
    let note = wait_warning(&env, "TemplateHostNotAllowed").await;
    assert!(note.contains("--allowed-template-hosts"), "{note}");
    // Looked at again (every 500 ms here): still nothing requested, nothing written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(site.hits().len(), 0, "no request to the refused host");
    assert_eq!(env.user_writes(), 0);
    assert!(env.mails().is_empty());
    controller.stop().await;

    // Listed (exactly: it is a loopback address), the same import goes through.
    let listed = TemplateHosts::new(["127.0.0.1".parse().unwrap()]);
    let controller = InProcess::start_with(
        &env,
        Settings {
            template_hosts: listed,
            ..settings(&env)
        },
    );
    let done = env.wait_finished("imp").await;
    assert_eq!(condition(&done, "Stalled").unwrap().0, "False");
    assert_eq!(site.downloads(), 1);
    assert!(!env.users("acme").await.is_empty());
    controller.stop().await;
}

/// The binary with no list: loopback and the API server (by its in-cluster names and by the
/// address its client uses) are refused; `--allowed-template-hosts=127.0.0.1` allows the site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_the_api_server_are_refused_by_default() {
    let env = Env::start("default-hosts").await;
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let url = site.put("/users.csv", example("template.csv").as_bytes());
    let by_name = url.replace("127.0.0.1", "localhost");
    put_ca(&env, &pki).await;
    env.create_tenant("acme", true).await;
    // The proxy in front of the API server is what the binary's kubeconfig names.
    let api_server = env.proxy.url();
    let api_port = api_server.rsplit(':').next().unwrap().trim_end_matches('/');
    let imports = [
        ("site", url.clone()),
        ("localhost", by_name),
        (
            "api-name",
            "https://kubernetes.default.svc.cluster.local/version".to_string(),
        ),
        (
            "api-address",
            format!("https://127.0.0.1:{api_port}/version"),
        ),
        (
            "metadata",
            "https://169.254.169.254/latest/meta-data/".to_string(),
        ),
    ];
    for (name, url) in &imports {
        env.create_import(name, url_import("acme", url)).await;
    }
    let operator = Binary::start(&env, OPERATOR, &["--leader-election", "false"]).await;
    let mut said = BTreeMap::new();
    for (name, _) in &imports {
        let stalled = wait_condition(&env, name, "Stalled", "True", "TemplateHostNotAllowed").await;
        said.insert(*name, message(&stalled, "Stalled"));
    }
    // 127.0.0.1 is the API server's address here as well as a loopback address.
    assert!(
        said["site"].contains("the host \"127.0.0.1\" is an address of the cluster's API server"),
        "{said:?}"
    );
    assert!(
        said["localhost"].contains("the host \"localhost\" resolves to "),
        "{said:?}"
    );
    assert!(
        said["api-name"]
            .contains("\"kubernetes.default.svc.cluster.local\" is the cluster's API server"),
        "{said:?}"
    );
    assert!(
        said["api-address"].contains("an address of the cluster's API server"),
        "{said:?}"
    );
    assert!(
        said["metadata"].contains("\"169.254.169.254\" is a link-local address"),
        "{said:?}"
    );
    for message in said.values() {
        assert!(message.contains("--allowed-template-hosts"), "{message}");
    }
    let reasons: BTreeSet<String> = warnings(&env).await.into_iter().map(|(r, _)| r).collect();
    assert!(reasons.contains("TemplateHostNotAllowed"), "{reasons:?}");
    assert!(
        !reasons.contains("TemplateFetchFailed"),
        "nothing was tried: {reasons:?}"
    );
    assert_eq!(site.hits().len(), 0, "no request to the site");
    assert!(operator.terminate().await.success());

    // The site named exactly (by its address): imported. The import of the API server's
    // address, which the same entry would allow, is gone first.
    for name in ["api-address", "localhost", "api-name", "metadata"] {
        env.delete_import(name).await;
    }
    let operator = Binary::start(
        &env,
        OPERATOR,
        &[
            "--leader-election",
            "false",
            "--allowed-template-hosts",
            "127.0.0.1",
        ],
    )
    .await;
    let done = env.wait_finished("site").await;
    assert!(finished(&done));
    assert_eq!(site.downloads(), 1);
    assert!(operator.terminate().await.success());
}

/// A body that is no template (an API server's /version answer) is rejected by its missing
/// columns: nothing of it reaches the status or the events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_no_template_is_not_echoed() {
    let env = Env::start("not-a-template").await;
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let body = "{\n  \"major\": \"1\",\n  \"gitVersion\": \"v1.34.1-internal-build\",\n  \"platform\": \"linux/amd64\"\n}\n";
    let url = site.put("/version", body.as_bytes());
    put_ca(&env, &pki).await;
    env.create_tenant("acme", true).await;
    let controller = InProcess::start_with(
        &env,
        Settings {
            template_hosts: TemplateHosts::new(["127.0.0.1".parse().unwrap()]),
            ..settings(&env)
        },
    );
    env.create_import("imp", url_import("acme", &url)).await;
    let rejected = wait_condition(&env, "imp", "Stalled", "True", "TemplateRejected").await;
    let status = serde_json::to_string(&rejected.status).unwrap();
    let note = wait_warning(&env, "TemplateRejected").await;
    for text in [&status, &note] {
        assert!(
            text.contains("lacks mandatory column(s): First Name"),
            "{text}"
        );
        for leaked in ["gitVersion", "internal-build", "major", "linux/amd64"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
    }
    controller.stop().await;
}
