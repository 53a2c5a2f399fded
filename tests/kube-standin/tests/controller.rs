//! A kube-runtime `Controller` (the operator's main loop) against the stand-in: it reconciles
//! UserImports through the status subresource with server-side apply, publishes Events, and
//! recovers from an injected failure.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use kube_standin::{Fault, Matcher, Options, Server, load_crds, repo_crds_dir};
use serde_json::json;

struct Ctx {
    api: Api<DynamicObject>,
    recorder: Recorder,
    ar: ApiResource,
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
    if obj.data["status"]["completedAt"].is_string() {
        return Ok(Action::await_change());
    }
    let name = obj.name_any();
    let status = json!({
        "apiVersion": "riskassess.io/v1alpha1",
        "kind": "UserImport",
        "status": {"completedAt": "2026-01-01T00:00:00Z", "counts": {"new": 1, "update": 0, "unchanged": 0, "problem": 0}},
    });
    ctx.api
        .patch_status(
            &name,
            &PatchParams::apply("user-import-operator").force(),
            &Patch::Apply(&status),
        )
        .await?;
    let reference = obj.object_ref(&ctx.ar);
    ctx.recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "Imported".into(),
                note: Some("1 new user".into()),
                action: "Import".into(),
                secondary: None,
            },
            &reference,
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<DynamicObject>, _: &kube::Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_reconciles_through_the_status_subresource() {
    let server = Server::start(Options {
        crds: load_crds(repo_crds_dir()).unwrap(),
        ..Options::default()
    })
    .await
    .unwrap();
    let client = server.client();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("riskassess.io", "v1alpha1", "UserImport"),
        "userimports",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "user-import-operator".into(),
                instance: Some("test".into()),
            },
        ),
        ar: ar.clone(),
    });
    // The first status write fails: the controller must retry.
    server.fail_next(
        1,
        Matcher::any().verb("patch").resource("userimports/status"),
        Fault::InternalError,
    );
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let controller = tokio::spawn(
        Controller::new_with(all, watcher::Config::default(), ar.clone())
            .run(reconcile, error_policy, ctx)
            .for_each(|_| async {}),
    );

    for name in ["one", "two"] {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport", "metadata": {"name": name},
            "spec": {"tenantRef": {"name": "acme"}, "template": {"configMapKeyRef": {"name": "t", "key": "users.csv"}}},
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let done = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|o| o.data["status"]["completedAt"].is_string())
            .count();
        if done == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the controller did not reconcile both imports in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let one = api.get("one").await.unwrap();
    assert_eq!(
        one.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );
    let managers: Vec<_> = one
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"user-import-operator".to_string()),
        "{managers:?}"
    );

    let counters = server.counters();
    assert!(
        counters.count("patch", "userimports/status") >= 3,
        "two imports plus the failed attempt: {counters:?}"
    );
    assert_eq!(
        counters.writes("userimports"),
        2,
        "only the two creates touched the main resource"
    );

    // Each Event is published right after its status write: wait for both.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), "default");
    loop {
        let list = events.list(&ListParams::default()).await.unwrap().items;
        if list
            .iter()
            .filter(|e| e.reason.as_deref() == Some("Imported"))
            .count()
            == 2
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "two Imported events expected: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    controller.abort();
    server.shutdown().await;
}
