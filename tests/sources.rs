//! The template sources beyond a plain ConfigMap: gzip-compressed ConfigMap/Secret data, a file
//! in a Flux source's artifact, and an HTTPS URL. Each imports exactly as the same template in a
//! plain ConfigMap does (same status, records and report), and each failure leaves the tenant's
//! users untouched with a reason in the status.
//!
//! Flux is not installed: the tests install CRDs of their own for the Flux source kinds, with
//! the same `status.artifact` shape, and serve the artifacts (and the URL's file, over TLS with
//! a test CA) from a small HTTP server on 127.0.0.1 that counts its requests. They run against a
//! real kube-apiserver, through each test's proxy (which counts the API requests).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use mail_parser::MimeHeaders as _;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use user_import_engine::template::TemplateLimits;
use user_import_operator::controller::Settings;
use user_import_operator::mail::MailSettings;
use user_import_operator::policy::TemplateHosts;
use user_import_resources::{
    ErrorReportState, FluxSourceKind, ImportPhase, SecretName, TemplateSource, UrlSource,
    UserImport, UserImportSpec,
};
use user_import_test_support::sites::{
    Flux, Site, flux_template, gzip, gzip_bomb, sha256, tarball, tarball_bomb,
};
use user_import_test_support::{
    Env, InProcess, TestPki, condition, eventually, example, finished, spec,
};

const TENANT: &str = "acme";
const IMPORT: &str = "acme-2026-11";

// ------------------------------------------------------------------------------- the outcome

/// What an import leaves behind, without what differs from run to run (times, the source's own
/// version): the status, the tenant's users, and the mailed report.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: Value,
    users: BTreeMap<String, Value>,
    /// The mail's subject, the attachment's name and its bytes.
    report: (String, String, Vec<u8>),
}

/// The examples' import, through a plain ConfigMap: what every other source must equal. Made
/// once per test binary.
async fn baseline() -> &'static Outcome {
    static BASELINE: OnceCell<Outcome> = OnceCell::const_new();
    BASELINE
        .get_or_init(|| async {
            let env = Env::start("baseline").await;
            let controller = prepare(&env, settings(&env)).await;
            env.put_template("plain", &example("template.csv")).await;
            env.create_import(IMPORT, spec(TENANT, "plain")).await;
            let outcome = outcome(&env).await;
            controller.stop().await;
            outcome
        })
        .await
}

/// The tenant, its users (examples/records.yaml) and the controller.
async fn prepare(env: &Env, settings: Settings) -> InProcess {
    env.create_tenant(TENANT, true).await;
    env.create_users_from_yaml(&example("records.yaml")).await;
    InProcess::start_with(env, settings)
}

/// Settings of an in-process controller that mails into the test's outbox, with short delays.
fn settings(env: &Env) -> Settings {
    let from = "user-import@acme.test".parse().unwrap();
    Settings {
        concurrency: 4,
        mail: Some(MailSettings::outbox(&env.outbox, from)),
        error_backoff: Duration::from_millis(100),
        flux_discovery: Duration::from_secs(1),
        // The sites are on 127.0.0.1, a loopback address refused unless named.
        template_hosts: TemplateHosts::new(["127.0.0.1".parse().unwrap()]),
        ..Settings::default()
    }
}

/// Waits for the import and its mailed report, and reads back what it left.
async fn outcome(env: &Env) -> Outcome {
    let import = env
        .wait_import(IMPORT, "the import and its report mailed", |i| {
            finished(i) && report_state(i) == Some(ErrorReportState::Sent)
        })
        .await;
    let mut status = serde_json::to_value(import.status.unwrap()).unwrap();
    for volatile in [
        "startedAt",
        "completedAt",
        "templateRevision",
        "templateEtag",
    ] {
        status.as_object_mut().unwrap().remove(volatile);
    }
    status["errorReport"]
        .as_object_mut()
        .unwrap()
        .remove("sentAt");
    for condition in status["conditions"].as_array_mut().unwrap() {
        condition
            .as_object_mut()
            .unwrap()
            .remove("lastTransitionTime");
    }
    let users = env
        .users(TENANT)
        .await
        .into_iter()
        .map(|user| {
            let labels = json!(user.metadata.labels);
            let spec = serde_json::to_value(&user.spec).unwrap();
            (user.name_any(), json!({"labels": labels, "spec": spec}))
        })
        .collect();
    let mails = env.mails();
    assert_eq!(mails.len(), 1, "one report mailed");
    let message = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    let attachment = message.attachments().next().expect("the CSV is attached");
    let report = (
        message.subject().unwrap_or_default().to_string(),
        attachment.attachment_name().unwrap_or_default().to_string(),
        attachment.contents().to_vec(),
    );
    Outcome {
        status,
        users,
        report,
    }
}

fn report_state(import: &UserImport) -> Option<ErrorReportState> {
    Some(import.status.as_ref()?.error_report.as_ref()?.state)
}

/// The message of the condition `type_`.
fn message(import: &UserImport, type_: &str) -> String {
    import
        .status
        .as_ref()
        .and_then(|status| status.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// Waits until the condition `type_` has `status` and `reason`.
async fn wait_condition(env: &Env, type_: &str, status: &str, reason: &str) -> UserImport {
    let what = format!("{type_}={status} ({reason})");
    env.wait_import(IMPORT, &what, |i| {
        condition(i, type_) == Some((status.to_string(), reason.to_string()))
    })
    .await
}

/// Nothing was written: no TenantUser (the tenant had none), and no TenantUser write.
async fn assert_no_user_written(env: &Env) {
    assert!(env.users(TENANT).await.is_empty(), "no TenantUser");
    assert_eq!(env.user_writes(), 0, "no TenantUser write");
    assert!(env.mails().is_empty(), "no report");
}

fn import_spec(template: TemplateSource) -> UserImportSpec {
    UserImportSpec {
        template,
        ..spec(TENANT, "unused")
    }
}

// ------------------------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_config_map_imports_as_the_plain_one() {
    let baseline = baseline().await;
    let env = Env::start("gzip").await;
    let controller = prepare(&env, settings(&env)).await;
    // In binaryData, under a key that says nothing about gzip: recognised by its first bytes.
    let packed = gzip(example("template.csv").as_bytes());
    let name = "packed";
    let config_map: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name},
        "binaryData": {"users.bin": ByteString(packed.clone())},
    }))
    .unwrap();
    env.api::<k8s_openapi::api::core::v1::ConfigMap>()
        .patch(
            name,
            &PatchParams::apply("tests"),
            &Patch::Apply(&config_map),
        )
        .await
        .unwrap();
    let mut import = spec(TENANT, name);
    import.template.config_map_key_ref.as_mut().unwrap().key = "users.bin".into();
    env.create_import(IMPORT, import).await;
    let outcome = outcome(&env).await;
    assert_eq!(&outcome, baseline);
    // The digest is the CSV's, not the gzip data's: the same template, whatever its packing.
    assert_eq!(
        outcome.status["templateDigest"],
        sha256(example("template.csv").as_bytes())
    );
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_source_path_imports_as_the_plain_one_and_a_new_revision_reimports() {
    let baseline = baseline().await;
    let env = Env::start("flux").await;
    let flux = Flux::install(&env.client, &env.namespace).await;
    let site = Site::http().await;
    let csv = example("template.csv");
    let artifact = tarball(&[
        ("README.md", b"# users\n"),
        ("imports/users.csv", csv.as_bytes()),
    ]);
    let kind = FluxSourceKind::GitRepository;
    flux.source_with_artifact(&site, kind, "users", &artifact, "main@sha1:1111")
        .await;
    let controller = prepare(&env, settings(&env)).await;
    env.create_import(
        IMPORT,
        import_spec(flux_template(kind, "users", "./imports/users.csv")),
    )
    .await;
    let outcome = outcome(&env).await;
    assert_eq!(&outcome, baseline);
    let import = env.import(IMPORT).await;
    let status = import.status.unwrap();
    assert_eq!(status.template_revision.as_deref(), Some("main@sha1:1111"));
    assert_eq!(site.downloads(), 1, "{:?}", site.hits());

    // A new revision whose file changed: a new import (the source is watched).
    let changed = csv.replace("Senior Analyst", "Principal Analyst");
    let artifact = tarball(&[("imports/users.csv", changed.as_bytes())]);
    let url = site.put("/gitrepository/acme/users/2.tar.gz", &artifact);
    flux.publish_artifact(kind, "users", &url, &sha256(&artifact), "main@sha1:2222")
        .await;
    let import = env
        .wait_import(IMPORT, "the import of the new revision", |i| {
            finished(i)
                && i.status.as_ref().unwrap().template_revision.as_deref() == Some("main@sha1:2222")
        })
        .await;
    assert_eq!(
        import.status.unwrap().template_digest.as_deref(),
        Some(sha256(changed.as_bytes()).as_str())
    );
    let asmith = env.user("acme-1002").await;
    assert_eq!(asmith.spec.title.as_deref(), Some("Principal Analyst"));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_url_imports_as_the_plain_one() {
    let baseline = baseline().await;
    let env = Env::start("url").await;
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let url = site.put("/exports/users.csv", example("template.csv").as_bytes());
    put_credentials(&env, "template-credentials", Some("s3cr3t"), &pki).await;
    let controller = prepare(&env, settings(&env)).await;
    env.create_import(IMPORT, import_spec(url_template(&url, None, true, "10m")))
        .await;
    let outcome = outcome(&env).await;
    assert_eq!(&outcome, baseline);
    let hits = site.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].authorization.as_deref(), Some("Bearer s3cr3t"));
    let status = env.import(IMPORT).await.status.unwrap();
    assert!(status.template_etag.is_some());
    controller.stop().await;
}

/// A Secret with a bearer token (when given) and the test CA.
async fn put_credentials(env: &Env, name: &str, token: Option<&str>, pki: &TestPki) {
    env.put_url_secret(name, token, pki).await;
}

fn url_template(
    url: &str,
    digest: Option<&str>,
    credentials: bool,
    interval: &str,
) -> TemplateSource {
    TemplateSource {
        url: Some(UrlSource {
            url: url.into(),
            digest: digest.map(str::to_string),
            secret_ref: credentials.then(|| SecretName {
                name: "template-credentials".into(),
            }),
            interval: interval.into(),
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_with_another_digest_is_refused_and_nothing_is_written() {
    let env = Env::start("digest").await;
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let csv = example("template.csv");
    let url = site.put("/users.csv", csv.as_bytes());
    put_credentials(&env, "template-credentials", None, &pki).await;
    env.create_tenant(TENANT, true).await;
    let controller = InProcess::start_with(&env, settings(&env));
    let wanted = sha256(b"another file");
    env.create_import(
        IMPORT,
        import_spec(url_template(&url, Some(&wanted), true, "1m")),
    )
    .await;
    let import = wait_condition(&env, "Stalled", "True", "TemplateDigestMismatch").await;
    let said = message(&import, "Stalled");
    assert!(
        said.contains(&wanted) && said.contains(&sha256(csv.as_bytes())),
        "{said}"
    );
    assert_eq!(import.status.unwrap().phase, Some(ImportPhase::Pending));
    assert_no_user_written(&env).await;

    // The right digest: imported.
    let fixed = json!({"spec": {"template": {"url": {"digest": sha256(csv.as_bytes())}}}});
    env.api::<UserImport>()
        .patch(IMPORT, &PatchParams::default(), &Patch::Merge(&fixed))
        .await
        .unwrap();
    env.wait_finished(IMPORT).await;
    assert!(!env.users(TENANT).await.is_empty());
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_not_in_the_archive_stalls_naming_it() {
    let env = Env::start("nopath").await;
    let flux = Flux::install(&env.client, &env.namespace).await;
    let site = Site::http().await;
    let artifact = tarball(&[("imports/users.csv", example("template.csv").as_bytes())]);
    let kind = FluxSourceKind::Bucket;
    flux.source_with_artifact(&site, kind, "exports", &artifact, "sha256:abcd")
        .await;
    env.create_tenant(TENANT, true).await;
    let controller = InProcess::start_with(&env, settings(&env));
    env.create_import(
        IMPORT,
        import_spec(flux_template(kind, "exports", "users.csv")),
    )
    .await;
    let import = wait_condition(&env, "Stalled", "True", "TemplatePathNotFound").await;
    let said = message(&import, "Stalled");
    assert!(
        said.contains("\"users.csv\"") && said.contains("Bucket \"exports\""),
        "{said}"
    );
    assert_no_user_written(&env).await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_leaves_the_archive_is_refused_before_any_download() {
    let env = Env::start("leave").await;
    let flux = Flux::install(&env.client, &env.namespace).await;
    let site = Site::http().await;
    let artifact = tarball(&[("users.csv", example("template.csv").as_bytes())]);
    let kind = FluxSourceKind::OciRepository;
    flux.source_with_artifact(&site, kind, "exports", &artifact, "v1@sha256:ab")
        .await;
    env.create_tenant(TENANT, true).await;
    let controller = InProcess::start_with(&env, settings(&env));
    for (n, path) in ["../../etc/passwd", "/users.csv", "imports/../../users.csv"]
        .into_iter()
        .enumerate()
    {
        let name = format!("leave-{n}");
        env.create_import(&name, import_spec(flux_template(kind, "exports", path)))
            .await;
        let import = env
            .wait_import(&name, "InvalidTemplatePath", |i| {
                condition(i, "Stalled") == Some(("True".into(), "InvalidTemplatePath".into()))
            })
            .await;
        let said = message(&import, "Stalled");
        assert!(said.contains("spec.template.path"), "{said}");
    }
    assert_eq!(site.hits().len(), 0, "nothing downloaded");
    assert_no_user_written(&env).await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bombs_are_rejected_as_over_the_limit_and_nothing_is_applied() {
    let env = Env::start("bomb").await;
    let flux = Flux::install(&env.client, &env.namespace).await;
    env.create_tenant(TENANT, true).await;
    let limit = 1024 * 1024;
    let settings = Settings {
        limits: TemplateLimits {
            max_bytes: limit,
            ..TemplateLimits::default()
        },
        ..settings(&env)
    };
    let controller = InProcess::start_with(&env, settings);
    // A gzip bomb in a Secret.
    env.put_secret_template("bomb", &gzip_bomb()).await;
    let mut secret_import = spec(TENANT, "unused");
    secret_import.template = TemplateSource {
        secret_key_ref: Some(user_import_resources::KeyRef {
            name: "bomb".into(),
            key: "template.csv".into(),
        }),
        ..Default::default()
    };
    env.create_import("secret-bomb", secret_import).await;
    // A tarball whose template decompresses to 64 MiB.
    let site = Site::http().await;
    let artifact = tarball_bomb("users.csv", 64 * 1024 * 1024);
    assert!(artifact.len() < 1024 * 1024);
    let kind = FluxSourceKind::ExternalArtifact;
    flux.source_with_artifact(&site, kind, "bomb", &artifact, "latest@sha256:01")
        .await;
    env.create_import(
        "artifact-bomb",
        import_spec(flux_template(kind, "bomb", "users.csv")),
    )
    .await;
    for name in ["secret-bomb", "artifact-bomb"] {
        let import = env
            .wait_import(name, "TemplateRejected", |i| {
                condition(i, "Stalled") == Some(("True".into(), "TemplateRejected".into()))
            })
            .await;
        let said = message(&import, "Stalled");
        assert!(
            said.contains(&format!("limit of {limit} bytes")),
            "{name}: {said}"
        );
        assert_eq!(import.status.unwrap().phase, Some(ImportPhase::Failed));
    }
    assert_no_user_written(&env).await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_an_artifact_waits_then_imports_when_it_has_one() {
    let env = Env::start("noartifact").await;
    let flux = Flux::install(&env.client, &env.namespace).await;
    env.create_tenant(TENANT, true).await;
    let kind = FluxSourceKind::GitRepository;
    flux.create_source(kind, "users").await;
    let controller = InProcess::start_with(&env, settings(&env));
    env.create_import(
        IMPORT,
        import_spec(flux_template(kind, "users", "users.csv")),
    )
    .await;
    let import = wait_condition(&env, "Stalled", "True", "ArtifactNotReady").await;
    assert!(
        message(&import, "Stalled").contains("no artifact yet"),
        "{}",
        message(&import, "Stalled")
    );
    assert_eq!(import.status.unwrap().phase, Some(ImportPhase::Pending));
    assert_no_user_written(&env).await;
    // source-controller stores the artifact: the watch of the source starts the import (the
    // stalled re-check is a minute away).
    let site = Site::http().await;
    let artifact = tarball(&[("users.csv", example("template.csv").as_bytes())]);
    let url = site.put("/gitrepository/users.tar.gz", &artifact);
    flux.publish_artifact(kind, "users", &url, &sha256(&artifact), "main@sha1:3333")
        .await;
    let import = env.wait_finished(IMPORT).await;
    assert_eq!(
        import.status.unwrap().template_revision.as_deref(),
        Some("main@sha1:3333")
    );
    assert!(!env.users(TENANT).await.is_empty());
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_url_is_retried_with_back_off_and_the_reason_is_in_the_status() {
    let env = Env::start("unreachable").await;
    let pki = TestPki::new();
    put_credentials(&env, "template-credentials", None, &pki).await;
    env.create_tenant(TENANT, true).await;
    // A port nothing listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}/users.csv");
    let controller = InProcess::start_with(&env, settings(&env));
    env.create_import(IMPORT, import_spec(url_template(&url, None, true, "1m")))
        .await;
    let import = wait_condition(&env, "Reconciling", "True", "TemplateFetchFailed").await;
    let said = message(&import, "Reconciling");
    assert!(said.contains(&url), "{said}");
    assert_eq!(
        import.status.as_ref().unwrap().phase,
        Some(ImportPhase::Failed)
    );
    assert_no_user_written(&env).await;

    // The server comes up, answering 503 twice: each failure waits longer than the one before.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let site = Site::https_on(&pki, listener);
    site.put("/users.csv", example("template.csv").as_bytes());
    site.fail_next("/users.csv", 2);
    env.wait_finished(IMPORT).await;
    let hits = site.hits();
    assert_eq!(
        hits.iter().map(|hit| hit.status).collect::<Vec<_>>(),
        [503, 503, 200],
        "{hits:?}"
    );
    // At least one failure had happened before (connection refused): the back-off of the
    // second 503 is at least 2 × 100 ms, that of the third at least 4 × 100 ms.
    let first_wait = hits[1].at - hits[0].at;
    let second_wait = hits[2].at - hits[1].at;
    assert!(first_wait >= Duration::from_millis(190), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(390), "{second_wait:?}");
    assert!(
        second_wait > first_wait,
        "{first_wait:?} then {second_wait:?}"
    );
    assert!(!env.users(TENANT).await.is_empty());
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_etag_downloads_nothing_and_writes_nothing() {
    let env = Env::start("etag").await;
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let url = site.put("/users.csv", example("template.csv").as_bytes());
    put_credentials(&env, "template-credentials", None, &pki).await;
    let controller = prepare(&env, settings(&env)).await;
    env.create_import(IMPORT, import_spec(url_template(&url, None, true, "1s")))
        .await;
    let import = env
        .wait_import(IMPORT, "the import and its report mailed", |i| {
            finished(i) && report_state(i) == Some(ErrorReportState::Sent)
        })
        .await;
    let etag = import.status.as_ref().unwrap().template_etag.clone();
    assert!(etag.is_some());
    let versions = |users: Vec<user_import_resources::TenantUser>| {
        users
            .into_iter()
            .map(|user| (user.name_any(), user.resource_version()))
            .collect::<BTreeMap<_, _>>()
    };
    let users_before = versions(env.users(TENANT).await);
    let import_before = env.import(IMPORT).await.resource_version();
    env.proxy.reset_counters();
    // Three re-checks at the one-second interval, each answered 304.
    eventually("three conditional re-checks", || async {
        site.hits().iter().filter(|hit| hit.status == 304).count() >= 3
    })
    .await;
    let hits = site.hits();
    assert_eq!(site.downloads(), 1, "downloaded once: {hits:?}");
    for hit in hits.iter().filter(|hit| hit.status == 304) {
        assert_eq!(hit.if_none_match, etag, "{hit:?}");
        assert_eq!(hit.path, "/users.csv");
    }
    assert_eq!(
        versions(env.users(TENANT).await),
        users_before,
        "no user written"
    );
    assert_eq!(
        env.import(IMPORT).await.resource_version(),
        import_before,
        "no status written"
    );
    let counters = env.proxy.counters();
    assert_eq!(
        counters.writes("tenantusers"),
        0,
        "{:?}",
        counters.entries()
    );
    assert_eq!(counters.count("patch", "userimports/status"), 0);
    assert_eq!(env.mails().len(), 1, "one report");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_counts_each_source_and_wants_a_path_with_a_source_ref() {
    let env = Env::start("cel").await;
    let api: Api<UserImport> = env.api();
    let refusal = |template: Value| {
        let api = api.clone();
        async move {
            let object: UserImport = serde_json::from_value(json!({
                "apiVersion": "riskassess.io/v1alpha1",
                "kind": "UserImport",
                "metadata": {"name": "cel"},
                "spec": {"tenantRef": {"name": "acme"}, "template": template},
            }))
            .unwrap();
            let dry_run = kube::api::PostParams {
                dry_run: true,
                ..Default::default()
            };
            match api.create(&dry_run, &object).await {
                Ok(_) => None,
                Err(kube::Error::Api(status)) => {
                    assert_eq!(status.code, 422, "{status:?}");
                    Some(status.message)
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
    };
    let source_ref = json!({"kind": "GitRepository", "name": "users"});
    let url = json!({"url": "https://files.acme.test/users.csv", "interval": "10m"});
    let config_map = json!({"name": "a", "key": "t.csv"});
    for two in [
        json!({"url": url, "configMapKeyRef": config_map}),
        json!({"sourceRef": source_ref, "path": "users.csv", "url": url}),
        json!({"sourceRef": source_ref, "path": "users.csv", "secretKeyRef": config_map}),
    ] {
        let message = refusal(two.clone()).await.expect("two sources are refused");
        assert!(
            message.contains("exactly one of configMapKeyRef, secretKeyRef, sourceRef, url"),
            "{message}"
        );
    }
    let without_path = refusal(json!({"sourceRef": source_ref})).await;
    assert!(
        without_path
            .expect("sourceRef needs a path")
            .contains("path is required")
    );
    let path_alone = refusal(json!({"configMapKeyRef": config_map, "path": "x.csv"})).await;
    assert!(
        path_alone
            .expect("a path needs sourceRef")
            .contains("path is required")
    );
    let plain_http =
        refusal(json!({"url": {"url": "http://files.acme.test/u.csv", "interval": "1m"}})).await;
    assert!(
        plain_http
            .expect("http:// is refused")
            .contains("spec.template.url.url")
    );
    for one in [
        json!({"sourceRef": source_ref, "path": "./imports/users.csv"}),
        json!({"url": url}),
        json!({"configMapKeyRef": config_map}),
    ] {
        assert_eq!(refusal(one.clone()).await, None, "{one}");
    }
}
