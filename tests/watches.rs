//! The controller watches only what imports use: in cluster-wide mode it watches every
//! ConfigMap, Secret and Flux source of the cluster, as metadata only, and reads the content of
//! none but the one object an import names, with a GET of that object, once per version.
//!
//! Runs the controller in-process for every namespace against a control plane of the test's
//! own (a cluster-wide controller on the shared one would import other tests' UserImports),
//! through the test proxy, which tells metadata-only requests by their `Accept` header
//! (`application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use user_import_operator::controller::{self, Metrics, Settings};
use user_import_operator::mail::MailSettings;
use user_import_resources::{FluxSourceKind, KeyRef, UserImport, UserImportSpec};
use user_import_test_support::sites::{Flux, Site, flux_template, sha256, tarball};
use user_import_test_support::{AbortOnDrop, Counters, Env, eventually, example, finished, spec};

const TENANT: &str = "acme";
/// The objects that imports name.
const TEMPLATE_CONFIG_MAP: &str = "acme-user-import";
const TEMPLATE_SECRET: &str = "acme-user-import-secret";
const FLUX_SOURCE: &str = "users";
/// Where the objects that no import names are.
const UNRELATED: &str = "unrelated";
/// How many unrelated objects of each kind, and their size.
const UNRELATED_COUNT: usize = 20;
const UNRELATED_BYTES: usize = 64 * 1024;

/// The resources the controller watches as metadata only.
fn watched() -> Vec<&'static str> {
    let mut resources = vec!["configmaps", "secrets"];
    resources.extend(FluxSourceKind::ALL.map(|kind| kind.plural()));
    resources
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_objects_content_is_read() {
    let env = Env::start_alone("watches").await;
    let admin = env.admin_client().await;
    let flux = Flux::install(&admin, &env.namespace).await;
    unrelated_objects(&admin).await;
    // The templates: one ConfigMap, one Secret, one Flux source's artifact. The same rows in
    // three tenants would collide on their users; one tenant, three imports of one template,
    // is enough: the second and third plan nothing new.
    let csv = example("template.csv");
    env.create_tenant(TENANT, true).await;
    env.create_users_from_yaml(&example("records.yaml")).await;
    env.put_template(TEMPLATE_CONFIG_MAP, &csv).await;
    env.put_secret_template(TEMPLATE_SECRET, csv.as_bytes())
        .await;
    let site = Site::http().await;
    let artifact = tarball(&[("users.csv", csv.as_bytes())]);
    let kind = FluxSourceKind::GitRepository;
    flux.source_with_artifact(&site, kind, FLUX_SOURCE, &artifact, "main@sha1:1")
        .await;

    env.proxy.reset_counters();
    let controller = cluster_wide(&env);
    env.create_import("from-config-map", spec(TENANT, TEMPLATE_CONFIG_MAP))
        .await;
    env.wait_finished("from-config-map").await;
    env.create_import("from-secret", secret_spec()).await;
    env.create_import("from-flux", flux_spec()).await;
    env.wait_finished("from-secret").await;
    env.wait_finished("from-flux").await;
    // An unrelated object changes meanwhile: the watch hears of it, nothing reads it.
    put_unrelated(&admin, 0, 'z').await;
    settle().await;
    let counters = env.proxy.counters();
    assert_only_named_content_read(&env, &counters);
    let template = format!("{}/{TEMPLATE_CONFIG_MAP}", env.namespace);
    let config_map_reads = counters.gets_of("configmaps")[&template];
    let user_writes = counters.writes("tenantusers");

    // A reconcile of a finished import (an annotation, the resync, its own status writes)
    // does not read its template again while the ConfigMap keeps its version...
    let tenant_reads = counters.count("get", "tenants");
    annotate(&env, "from-config-map").await;
    eventually("a reconcile after the annotation", || async {
        env.proxy.counters().count("get", "tenants") > tenant_reads
    })
    .await;
    settle().await;
    let counters = env.proxy.counters();
    assert_eq!(
        counters.gets_of("configmaps")[&template],
        config_map_reads,
        "an unchanged template is not read again: {:?}",
        counters.entries()
    );
    assert_eq!(
        counters.writes("tenantusers"),
        user_writes,
        "{:?}",
        counters.entries()
    );

    // ... and reads it once it changes: a new template, a new import.
    let changed = csv.replace("Senior Analyst", "Principal Analyst");
    env.put_template(TEMPLATE_CONFIG_MAP, &changed).await;
    env.wait_import("from-config-map", "the changed template imported", |i| {
        finished(i)
            && i.status.as_ref().unwrap().template_digest.as_deref()
                == Some(sha256(changed.as_bytes()).as_str())
    })
    .await;
    settle().await;
    let counters = env.proxy.counters();
    assert_only_named_content_read(&env, &counters);
    assert!(
        counters.gets_of("configmaps")[&template] > config_map_reads,
        "{:?}",
        counters.entries()
    );
    assert_eq!(
        env.user("acme-1002").await.spec.title.as_deref(),
        Some("Principal Analyst")
    );
    eventually("a report mailed for each of the four imports", || async {
        env.mails().len() >= 4
    })
    .await;
    settle().await;
    assert_eq!(env.mails().len(), 4, "one report per import, none twice");
    drop(controller);
}

/// Every list and watch of ConfigMaps, Secrets and Flux sources asked for metadata only, and
/// the only objects of them read are the ones the imports name.
fn assert_only_named_content_read(env: &Env, counters: &Counters) {
    let entries = counters.entries();
    for resource in watched() {
        for verb in ["list", "watch"] {
            let all = counters.count(verb, resource);
            let metadata = counters.metadata_only(verb, resource);
            assert_eq!(
                all, metadata,
                "{verb} {resource}: {all} requests, {metadata} for metadata only: {entries:?}"
            );
        }
        assert!(
            counters.count("list", resource) >= 1,
            "{resource} are watched: {entries:?}"
        );
        assert_eq!(counters.metadata_only("get", resource), 0, "{entries:?}");
    }
    let names = |resource| counters.gets_of(resource).into_keys().collect::<Vec<_>>();
    let named = |name| [format!("{}/{name}", env.namespace)];
    assert_eq!(
        names("configmaps"),
        named(TEMPLATE_CONFIG_MAP),
        "{entries:?}"
    );
    assert_eq!(names("secrets"), named(TEMPLATE_SECRET), "{entries:?}");
    let git_repositories = FluxSourceKind::GitRepository.plural();
    assert_eq!(names(git_repositories), named(FLUX_SOURCE), "{entries:?}");
    for kind in FluxSourceKind::ALL {
        if kind != FluxSourceKind::GitRepository {
            assert!(names(kind.plural()).is_empty(), "{entries:?}");
        }
    }
}

/// The controller for every namespace (as `run` without `--namespace`), mailing into the
/// test's outbox; it stops when the handle is dropped.
fn cluster_wide(env: &Env) -> AbortOnDrop {
    let from = "user-import@acme.test".parse().unwrap();
    let settings = Settings {
        concurrency: 4,
        mail: Some(MailSettings::outbox(&env.outbox, from)),
        flux_discovery: Duration::from_secs(1),
        ..Settings::default()
    };
    AbortOnDrop(tokio::spawn(controller::run(
        env.client.clone(),
        None,
        settings,
        Metrics::default(),
        || {},
        futures::future::pending(),
    )))
}

fn secret_spec() -> UserImportSpec {
    let mut spec = spec(TENANT, TEMPLATE_CONFIG_MAP);
    spec.template.config_map_key_ref = None;
    spec.template.secret_key_ref = Some(KeyRef {
        name: TEMPLATE_SECRET.into(),
        key: "template.csv".into(),
    });
    spec
}

fn flux_spec() -> UserImportSpec {
    let mut spec = spec(TENANT, TEMPLATE_CONFIG_MAP);
    let kind = FluxSourceKind::GitRepository;
    spec.template = flux_template(kind, FLUX_SOURCE, "users.csv");
    spec
}

/// A namespace of ConfigMaps, Secrets and Flux sources that no import names, created by the
/// admin (past the proxy). Some are named as the templates are, in another namespace.
async fn unrelated_objects(admin: &Client) {
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": UNRELATED}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create the namespace of unrelated objects");
    for index in 0..UNRELATED_COUNT {
        put_unrelated(admin, index, 'a').await;
    }
    let flux = Flux::install(admin, UNRELATED).await;
    for kind in FluxSourceKind::ALL {
        flux.create_source(kind, FLUX_SOURCE).await;
        flux.create_source(kind, "other").await;
    }
}

/// Creates or replaces the unrelated ConfigMap and Secret `index`, filled with `fill`. The
/// first pair has the templates' names.
async fn put_unrelated(admin: &Client, index: usize, fill: char) {
    let (config_map_name, secret_name) = match index {
        0 => (TEMPLATE_CONFIG_MAP.to_string(), TEMPLATE_SECRET.to_string()),
        _ => (format!("unrelated-{index}"), format!("unrelated-{index}")),
    };
    let content = fill.to_string().repeat(UNRELATED_BYTES);
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        ..ObjectMeta::default()
    };
    let config_map = ConfigMap {
        metadata: meta(&config_map_name),
        data: Some(BTreeMap::from([("template.csv".into(), content.clone())])),
        ..ConfigMap::default()
    };
    let secret = Secret {
        metadata: meta(&secret_name),
        data: Some(BTreeMap::from([(
            "template.csv".into(),
            ByteString(content.into_bytes()),
        )])),
        ..Secret::default()
    };
    let params = PatchParams::apply("tests").force();
    Api::<ConfigMap>::namespaced(admin.clone(), UNRELATED)
        .patch(&config_map_name, &params, &Patch::Apply(&config_map))
        .await
        .expect("apply an unrelated ConfigMap");
    Api::<Secret>::namespaced(admin.clone(), UNRELATED)
        .patch(&secret_name, &params, &Patch::Apply(&secret))
        .await
        .expect("apply an unrelated Secret");
}

async fn annotate(env: &Env, name: &str) {
    let patch = json!({"metadata": {"annotations": {"touched": "yes"}}});
    env.api::<UserImport>()
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate the UserImport");
}

/// Time for the reconciles that the last writes trigger (and for a wrong read to show).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}
