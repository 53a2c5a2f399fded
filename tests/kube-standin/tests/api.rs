//! Round trips against the stand-in with a real `kube::Client`.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use kube_standin::{Fault, Matcher, Options, Server, load_crds, repo_crds_dir};
use serde_json::{Value, json};

async fn start() -> Server {
    let crds = load_crds(repo_crds_dir()).expect("crds/ loads");
    Server::start(Options {
        crds,
        ..Options::default()
    })
    .await
    .expect("server starts")
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("riskassess.io", "v1alpha1", kind),
        plural,
    )
}

fn api(server: &Server, kind: &str, plural: &str) -> Api<DynamicObject> {
    Api::namespaced_with(server.client(), "default", &resource(kind, plural))
}

fn dynamic(kind: &str, name: &str, body: Value) -> DynamicObject {
    let mut v =
        json!({"apiVersion": "riskassess.io/v1alpha1", "kind": kind, "metadata": {"name": name}});
    v.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    }))
    .unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn configmap_round_trip_every_verb() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", &[("k", "1")]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    let again = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap_err();
    let s = api_error(again);
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));

    let got = cms.get("a").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "1");

    let mut replaced = cms.get("a").await.unwrap();
    replaced.data = Some([("k".to_string(), "2".to_string())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert!(
        replaced.metadata.resource_version > created.metadata.resource_version
            || replaced
                .metadata
                .resource_version
                .as_deref()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > created
                    .metadata
                    .resource_version
                    .as_deref()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
    );

    let merged = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.as_ref().unwrap()["m"], "x");
    let jp: json_patch_ops::Ops =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "y"}])).unwrap();
    let jsoned = cms
        .patch("a", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(jsoned.data.as_ref().unwrap()["j"], "y");
    let strategic = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"s": "z", "m": null}})),
        )
        .await
        .unwrap();
    let data = strategic.data.unwrap();
    assert_eq!(
        (data.get("s").map(String::as_str), data.contains_key("m")),
        (Some("z"), false)
    );

    let generated = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap(),
        )
        .await
        .unwrap();
    let gen_name = generated.metadata.name.unwrap();
    assert!(
        gen_name.starts_with("gen-") && gen_name.len() == 9,
        "{gen_name}"
    );

    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    assert!(list.metadata.resource_version.is_some());

    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let s = api_error(cms.get("a").await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    let s = api_error(cms.delete("a", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(s.code, 404);
    server.shutdown().await;
}

/// `Patch::Json` takes a `json_patch::Patch` (the same crate version as kube's).
mod json_patch_ops {
    pub type Ops = json_patch::Patch;
}

#[tokio::test]
async fn stale_update_is_a_conflict() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("c", &[("k", "1")]))
        .await
        .unwrap();
    let mut newer = first.clone();
    newer.data = Some([("k".to_string(), "2".to_string())].into());
    cms.replace("c", &PostParams::default(), &newer)
        .await
        .unwrap();
    let mut stale = first;
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let s = api_error(
        cms.replace("c", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn create_needs_an_existing_namespace_and_namespaces_cascade() {
    let server = start().await;
    let in_nowhere: Api<ConfigMap> = Api::namespaced(server.client(), "nowhere");
    let s = api_error(
        in_nowhere
            .create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 404);
    assert!(
        s.message.contains("namespaces \"nowhere\" not found"),
        "{}",
        s.message
    );

    let nss: Api<Namespace> = Api::all(server.client());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
    )
    .await
    .unwrap();
    let team: Api<ConfigMap> = Api::namespaced(server.client(), "team");
    team.create(&PostParams::default(), &cm("x", &[]))
        .await
        .unwrap();
    nss.delete("team", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(nss.get("team").await.unwrap_err()).code, 404);
    assert!(server.object("", "configmaps", "team", "x").is_none());
}

#[tokio::test]
async fn watcher_sees_create_update_delete_and_resumes_after_drop() {
    let server = start().await;
    let users = api(&server, "TenantUser", "tenantusers");
    let mut events = watcher(users.clone(), watcher::Config::default()).boxed();
    // The initial list completes first.
    loop {
        if let watcher::Event::InitDone = events.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    let next_apply = async |events: &mut futures::stream::BoxStream<
        '_,
        watcher::Result<watcher::Event<DynamicObject>>,
    >| loop {
        match tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap()
        {
            watcher::Event::Apply(o) => return ("apply", o),
            watcher::Event::Delete(o) => return ("delete", o),
            _ => continue,
        }
    };
    users
        .create(
            &PostParams::default(),
            &dynamic("TenantUser", "u1", json!({"spec": {"email": "a@x"}})),
        )
        .await
        .unwrap();
    let (kind, o) = next_apply(&mut events).await;
    assert_eq!((kind, o.metadata.name.as_deref()), ("apply", Some("u1")));
    users
        .patch(
            "u1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"email": "b@x"}})),
        )
        .await
        .unwrap();
    let (kind, o) = next_apply(&mut events).await;
    assert_eq!(
        (kind, o.data["spec"]["email"].as_str()),
        ("apply", Some("b@x"))
    );
    users.delete("u1", &DeleteParams::default()).await.unwrap();
    let (kind, _) = next_apply(&mut events).await;
    assert_eq!(kind, "delete");

    let watches_before = server.counters().count("watch", "tenantusers");
    server.drop_watches();
    users
        .create(
            &PostParams::default(),
            &dynamic("TenantUser", "u2", json!({"spec": {}})),
        )
        .await
        .unwrap();
    let (kind, o) = next_apply(&mut events).await;
    assert_eq!((kind, o.metadata.name.as_deref()), ("apply", Some("u2")));
    assert!(
        server.counters().count("watch", "tenantusers") > watches_before,
        "the watcher re-watched"
    );
}

#[tokio::test]
async fn watch_resumes_from_a_version_sends_bookmarks_and_expires() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let a = cms
        .create(&PostParams::default(), &cm("w1", &[]))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("w2", &[]))
        .await
        .unwrap();
    let rv = a.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("w2")),
        other => panic!("expected w2 added, got {other:?}"),
    }
    let mut saw_bookmark = false;
    while let Some(ev) = stream.try_next().await.unwrap() {
        if let WatchEvent::Bookmark(_) = ev {
            saw_bookmark = true;
            break;
        }
    }
    assert!(
        saw_bookmark,
        "a bookmark within the 5 s timeout (interval 1 s)"
    );

    server.compact();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(s) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn server_side_apply_creates_merges_and_conflicts() {
    let server = start().await;
    let tenants = api(&server, "Tenant", "tenants");
    let pp = |m: &str| PatchParams::apply(m);
    let body = |v: Value| dynamic("Tenant", "t", v);
    let created = tenants
        .patch(
            "t",
            &pp("alice"),
            &Patch::Apply(body(json!({"spec": {"displayName": "T"}}))),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["displayName"], "T");
    assert_eq!(created.metadata.generation, Some(1));
    let merged = tenants
        .patch(
            "t",
            &pp("bob"),
            &Patch::Apply(body(
                json!({"spec": {"displayName": "T", "defaultSiteAdministrator": {"email": "b@x"}}}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(merged.data["spec"]["displayName"], "T");
    assert_eq!(
        merged.data["spec"]["defaultSiteAdministrator"]["email"],
        "b@x"
    );
    let managers: Vec<String> = merged
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"alice".into()) && managers.contains(&"bob".into()),
        "{managers:?}"
    );

    let s = api_error(
        tenants
            .patch(
                "t",
                &pp("bob"),
                &Patch::Apply(body(json!({"spec": {"displayName": "B"}}))),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("conflict with \"alice\""),
        "{}",
        s.message
    );
    let forced = tenants
        .patch(
            "t",
            &pp("bob").force(),
            &Patch::Apply(body(json!({"spec": {"displayName": "B"}}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["displayName"], "B");
    // bob dropped defaultSiteAdministrator from his configuration: it is removed.
    assert!(
        forced.data["spec"]
            .get("defaultSiteAdministrator")
            .is_none(),
        "{}",
        forced.data
    );
    // Same apply again: a no-op keeps the resourceVersion.
    let same = tenants
        .patch(
            "t",
            &pp("bob").force(),
            &Patch::Apply(body(json!({"spec": {"displayName": "B"}}))),
        )
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        forced.metadata.resource_version
    );
}

#[tokio::test]
async fn status_subresource_is_separate_and_generation_follows_spec() {
    let server = start().await;
    let imports = api(&server, "UserImport", "userimports");
    let spec = json!({"tenantRef": {"name": "t"}, "template": {"configMapKeyRef": {"name": "cm", "key": "csv"}}});
    let created = imports
        .create(
            &PostParams::default(),
            &dynamic(
                "UserImport",
                "i",
                json!({"spec": spec, "status": {"phase": "Done"}}),
            ),
        )
        .await
        .unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create: {}",
        created.data
    );
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.data["spec"]["mode"], "Apply", "defaults applied");

    let with_status = imports
        .patch_status(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"completedAt": "now"}, "spec": {"mode": "DryRun"}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.data["status"]["completedAt"], "now");
    assert_eq!(
        with_status.data["spec"]["mode"], "Apply",
        "status writes ignore spec"
    );
    assert_eq!(with_status.metadata.generation, Some(1));

    let main = imports
        .patch(
            "i",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"completedAt": "later"}, "metadata": {"labels": {"a": "b"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        main.data["status"]["completedAt"], "now",
        "main writes ignore status"
    );
    assert_eq!(
        main.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );

    let spec_changed = imports
        .patch(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "DryRun"}})),
        )
        .await
        .unwrap();
    assert_eq!(spec_changed.metadata.generation, Some(2));

    let applied_status = imports
        .patch_status(
            "i",
            &PatchParams::apply("ctl").force(),
            &Patch::Apply(dynamic(
                "UserImport",
                "i",
                json!({"status": {"completedAt": "ssa"}}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(applied_status.data["status"]["completedAt"], "ssa");
    assert_eq!(applied_status.metadata.generation, Some(2));
}

#[tokio::test]
async fn list_paginates_and_selects() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for i in 0..7 {
        let mut c = cm(&format!("p{i}"), &[]);
        c.metadata.labels = Some(
            [(
                "parity".to_string(),
                if i % 2 == 0 { "even" } else { "odd" }.to_string(),
            )]
            .into(),
        );
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let mut names = vec![];
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());

    let count = async |sel: &str| {
        cms.list(&ListParams::default().labels(sel))
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(count("parity=even").await, 4);
    assert_eq!(count("parity==odd").await, 3);
    assert_eq!(count("parity!=odd").await, 4);
    assert_eq!(count("parity in (odd,even)").await, 7);
    assert_eq!(count("parity notin (odd)").await, 4);
    assert_eq!(count("parity").await, 7);
    assert_eq!(count("!parity").await, 0);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=p3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    // All-namespace list of a custom resource.
    server.ensure_namespace("other").unwrap();
    for ns in ["default", "other"] {
        Api::<DynamicObject>::namespaced_with(
            server.client(),
            ns,
            &resource("TenantUser", "tenantusers"),
        )
        .create(
            &PostParams::default(),
            &dynamic("TenantUser", "u", json!({"spec": {}})),
        )
        .await
        .unwrap();
    }
    let all: Api<DynamicObject> =
        Api::all_with(server.client(), &resource("TenantUser", "tenantusers"));
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
}

#[tokio::test]
async fn schema_validation_rejects_bad_tenant_users() {
    let server = start().await;
    let users = api(&server, "TenantUser", "tenantusers");
    let s = api_error(
        users
            .create(
                &PostParams::default(),
                &dynamic(
                    "TenantUser",
                    "bad",
                    json!({"spec": {"coupaUserId": "12ab"}}),
                ),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(s.message.contains("spec.coupaUserId"), "{}", s.message);
    assert!(
        s.message.contains("should match '^[0-9]*$'"),
        "{}",
        s.message
    );
    let s = api_error(
        users
            .create(
                &PostParams::default(),
                &dynamic("TenantUser", "bad", json!({"spec": {"ssoSynced": "yes"}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert!(
        s.message.contains("must be of type boolean"),
        "{}",
        s.message
    );
    let s = api_error(
        users
            .create(
                &PostParams::default(),
                &dynamic("TenantUser", "bad", json!({"spec": {"status": "Gone"}})),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        s.message.contains("Unsupported value: \"Gone\""),
        "{}",
        s.message
    );
    let s = api_error(
        users
            .create(
                &PostParams::default(),
                &dynamic("TenantUser", "bad", json!({})),
            )
            .await
            .unwrap_err(),
    );
    assert!(s.message.contains("spec: Required value"), "{}", s.message);

    let ok = users
        .create(
            &PostParams::default(),
            &dynamic(
                "TenantUser",
                "good",
                json!({"spec": {"coupaUserId": "123", "email": null, "junk": 1}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(ok.data["spec"]["ssoSynced"], false, "default applied");
    assert!(
        ok.data["spec"].get("junk").is_none(),
        "unknown field pruned"
    );
    let s = api_error(
        users
            .patch(
                "good",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"coupaUserId": "x"}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422, "updates are validated too");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let server = start().await;
    let tenants = api(&server, "Tenant", "tenants");
    let mut t = dynamic("Tenant", "f", json!({"spec": {"displayName": "F"}}));
    t.metadata.finalizers = Some(vec!["riskassess.io/cleanup".into()]);
    tenants.create(&PostParams::default(), &t).await.unwrap();
    tenants.delete("f", &DeleteParams::default()).await.unwrap();
    let terminating = tenants.get("f").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    tenants
        .patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert_eq!(api_error(tenants.get("f").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn owner_references_are_garbage_collected() {
    let server = start().await;
    let imports = api(&server, "UserImport", "userimports");
    let spec = json!({"tenantRef": {"name": "t"}, "template": {}});
    let owner = imports
        .create(
            &PostParams::default(),
            &dynamic("UserImport", "o", json!({"spec": spec})),
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut child = cm("child", &[]);
    child.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport", "name": "o", "uid": owner.metadata.uid.unwrap(),
    }))
    .unwrap()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    imports.delete("o", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(cms.get("child").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn injected_faults_fail_the_next_matching_writes() {
    let server = start().await;
    let users = api(&server, "TenantUser", "tenantusers");
    let u = |n: &str| dynamic("TenantUser", n, json!({"spec": {}}));
    server.fail_next(
        1,
        Matcher::any().verb("create").resource("tenantusers"),
        Fault::Conflict,
    );
    let s = api_error(
        users
            .create(&PostParams::default(), &u("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 409);
    users.create(&PostParams::default(), &u("a")).await.unwrap();

    server.fail_next(
        2,
        Matcher::any().resource("tenantusers").name("a"),
        Fault::InternalError,
    );
    assert_eq!(api_error(users.get("a").await.unwrap_err()).code, 500);
    assert_eq!(api_error(users.get("a").await.unwrap_err()).code, 500);
    users.get("a").await.unwrap();

    // kube's default client retries 429/503/504: one Timeout is retried transparently.
    server.fail_next(1, Matcher::any().verb("patch"), Fault::Timeout);
    let patches = server.counters().count("patch", "tenantusers");
    users
        .patch("a", &PatchParams::default(), &Patch::Merge(json!({})))
        .await
        .unwrap();
    assert_eq!(server.counters().count("patch", "tenantusers"), patches + 2);
    // Without retries the 504 reaches the caller.
    let mut config = server.kube_config();
    config.default_retry = false;
    let no_retry: Api<DynamicObject> = Api::namespaced_with(
        kube::Client::try_from(config).unwrap(),
        "default",
        &resource("TenantUser", "tenantusers"),
    );
    server.fail_next(1, Matcher::any().verb("patch"), Fault::Timeout);
    let s = api_error(
        no_retry
            .patch("a", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (504, "Timeout"));

    server.set_delay(Some(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    users.get("a").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.clear_faults();
    let started = std::time::Instant::now();
    users.get("a").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn counters_count_requests_per_verb_and_resource() {
    let server = start().await;
    let users = api(&server, "TenantUser", "tenantusers");
    let imports = api(&server, "UserImport", "userimports");
    for n in ["a", "b"] {
        users
            .create(
                &PostParams::default(),
                &dynamic("TenantUser", n, json!({"spec": {}})),
            )
            .await
            .unwrap();
    }
    users
        .patch(
            "a",
            &PatchParams::apply("m"),
            &Patch::Apply(dynamic("TenantUser", "a", json!({"spec": {"city": "X"}}))),
        )
        .await
        .unwrap();
    users.delete("b", &DeleteParams::default()).await.unwrap();
    users.list(&ListParams::default()).await.unwrap();
    imports
        .create(
            &PostParams::default(),
            &dynamic(
                "UserImport",
                "i",
                json!({"spec": {"tenantRef": {"name": "t"}, "template": {}}}),
            ),
        )
        .await
        .unwrap();
    imports
        .patch_status(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {}})),
        )
        .await
        .unwrap();
    let c = server.counters();
    assert_eq!(c.count("create", "tenantusers"), 2);
    assert_eq!(c.count("patch", "tenantusers"), 1);
    assert_eq!(c.count("delete", "tenantusers"), 1);
    assert_eq!(c.count("list", "tenantusers"), 1);
    assert_eq!(c.writes("tenantusers"), 4);
    assert_eq!(c.writes("userimports"), 1);
    assert_eq!(c.count("patch", "userimports/status"), 1);
    server.reset_counters();
    assert_eq!(server.counters().total(), 0);
}

#[tokio::test]
async fn leases_and_events_are_served() {
    let server = start().await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "default");
    let lease = leases
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "me"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("me"));
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(server.client(), "default");
    let ev = serde_json::from_value(json!({
        "metadata": {"generateName": "x-"}, "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "c",
        "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal",
    }))
    .unwrap();
    events.create(&PostParams::default(), &ev).await.unwrap();
    assert_eq!(
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn delete_collection_and_orphan_propagation() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for (name, tier) in [("d1", "x"), ("d2", "x"), ("d3", "y")] {
        let mut c = cm(name, &[]);
        c.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, vec!["d3".to_string()]);

    let owner = cms.get("d3").await.unwrap();
    let mut child = cm("kept", &[]);
    child.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "d3", "uid": owner.metadata.uid.unwrap(),
    }))
    .unwrap()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    cms.delete("d3", &DeleteParams::orphan()).await.unwrap();
    let kept = cms.get("kept").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "the reference to the deleted owner is dropped"
    );
}

#[tokio::test]
async fn a_crd_created_through_the_api_is_served_and_discovered() {
    let server = Server::start(Options::default()).await.unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(server.client());
    for crd in load_crds(repo_crds_dir()).unwrap() {
        let created = crds.create(&PostParams::default(), &crd).await.unwrap();
        let established = created
            .status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established);
    }
    let discovery = kube::discovery::Discovery::new(server.client())
        .run()
        .await
        .unwrap();
    let group = discovery
        .get("riskassess.io")
        .expect("the group is discovered");
    let (ar, caps) = group
        .recommended_kind("UserImport")
        .expect("UserImport is discovered");
    assert_eq!(ar.plural, "userimports");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "userimports/status" || s.plural == "status"),
        "{:?}",
        caps.subresources
    );
    let aggregated = kube::discovery::Discovery::new(server.client())
        .run_aggregated()
        .await
        .unwrap();
    let (ar, caps) = aggregated
        .get("riskassess.io")
        .and_then(|g| g.recommended_kind("TenantUser"))
        .expect("aggregated discovery has TenantUser");
    assert_eq!(ar.plural, "tenantusers");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        aggregated
            .get("")
            .and_then(|core| core.recommended_kind("ConfigMap"))
            .is_some()
    );
    let users = api(&server, "TenantUser", "tenantusers");
    users
        .create(
            &PostParams::default(),
            &dynamic("TenantUser", "u", json!({"spec": {}})),
        )
        .await
        .unwrap();
    crds.delete("tenantusers.riskassess.io", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(users.get("u").await.unwrap_err()).code,
        404,
        "the resource is no longer served"
    );
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events() {
    let server = start().await;
    let users = api(&server, "TenantUser", "tenantusers");
    for n in ["s1", "s2"] {
        users
            .create(
                &PostParams::default(),
                &dynamic("TenantUser", n, json!({"spec": {}})),
            )
            .await
            .unwrap();
    }
    let mut events = watcher(users.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = vec![];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    initial.sort();
    assert_eq!(initial, vec!["s1".to_string(), "s2".to_string()]);
    assert_eq!(
        server.counters().count("list", "tenantusers"),
        0,
        "no list request: the watch carried the state"
    );
}

#[tokio::test]
async fn shutdown_ends_open_watches() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut stream = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = stream.try_next().await {} });
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown does not hang");
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the watch stream ended")
        .unwrap();
}

#[tokio::test]
async fn custom_resources_refuse_unconditional_updates() {
    let server = start().await;
    let tenants = api(&server, "Tenant", "tenants");
    let mut t = tenants
        .create(
            &PostParams::default(),
            &dynamic("Tenant", "u", json!({"spec": {"displayName": "U"}})),
        )
        .await
        .unwrap();
    t.metadata.resource_version = None;
    t.data["spec"]["displayName"] = json!("V");
    let s = api_error(
        tenants
            .replace("u", &PostParams::default(), &t)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message.contains("metadata.resourceVersion"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn a_selector_watch_sees_objects_leave_and_enter_the_selection() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut c = cm("sel", &[]);
    c.metadata.labels = Some([("app".to_string(), "a".to_string())].into());
    let created = cms.create(&PostParams::default(), &c).await.unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().labels("app=a").timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "b"}}})),
    )
    .await
    .unwrap();
    cms.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "a"}}})),
    )
    .await
    .unwrap();
    let mut kinds = vec![];
    while kinds.len() < 2 {
        match stream
            .try_next()
            .await
            .unwrap()
            .expect("events before the timeout")
        {
            WatchEvent::Deleted(_) => kinds.push("deleted"),
            WatchEvent::Added(_) => kinds.push("added"),
            WatchEvent::Modified(_) => kinds.push("modified"),
            _ => {}
        }
    }
    assert_eq!(kinds, vec!["deleted", "added"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_modify_write_loses_no_update() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    cms.create(&PostParams::default(), &cm("counter", &[("n", "0")]))
        .await
        .unwrap();
    let mut tasks = vec![];
    for _ in 0..8 {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let mut c = cms.get("counter").await.unwrap();
                let data = c.data.get_or_insert_with(Default::default);
                let n: u32 = data["n"].parse().unwrap();
                data.insert("n".into(), (n + 1).to_string());
                match cms.replace("counter", &PostParams::default(), &c).await {
                    Ok(_) => return,
                    Err(e) => assert_eq!(api_error(e).code, 409),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(cms.get("counter").await.unwrap().data.unwrap()["n"], "8");
}

#[tokio::test]
async fn watch_ends_after_timeout_seconds() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let started = std::time::Instant::now();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("ends in time")
        .unwrap()
    {
        assert!(matches!(ev, WatchEvent::Bookmark(_)), "{ev:?}");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

async fn raw(
    server: &Server,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap();
    match server.client().request::<Value>(request).await {
        Ok(v) => (200, v),
        Err(e) => {
            let s = api_error(e);
            (s.code, serde_json::to_value(&s).unwrap())
        }
    }
}

#[tokio::test]
async fn raw_requests_yaml_apply_and_status_errors() {
    let server = start().await;
    let path = "/api/v1/namespaces/default/configmaps/y?fieldManager=yaml-user";
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: '1'\n";
    let (code, obj) = raw(&server, "PATCH", path, "application/apply-patch+yaml", yaml).await;
    assert_eq!((code, obj["data"]["a"].as_str()), (200, Some("1")));

    let (code, status) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps/y",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let (code, _) = raw(
        &server,
        "GET",
        "/apis/riskassess.io/v1alpha1/nothings",
        "application/json",
        "",
    )
    .await;
    assert_eq!(code, 404);
    let (code, status) = raw(
        &server,
        "PATCH",
        path,
        "application/apply-patch+yaml",
        "kind: ConfigMap\n",
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (400, Some("BadRequest")),
        "apply needs apiVersion and kind"
    );
    let (code, status) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/y",
        "text/plain",
        "x",
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, status) = raw(
        &server,
        "GET",
        "/api/v1/configmaps?labelSelector=a+in+(",
        "application/json",
        "",
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
}
