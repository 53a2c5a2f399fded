//! What only a real kube-apiserver checks: its version, and the CRDs' validation rules (CEL,
//! patterns) refusing a bad object at `kubectl apply` time, with the rule's message.
//!
//! Runs against the control plane named by `USER_IMPORT_E2E_KUBECONFIG` (scripts/test starts
//! one with scripts/control-plane), else one the test process starts.

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use user_import_resources::UserImport;
use user_import_test_support::Env;

fn import(name: &str, spec: Value) -> UserImport {
    serde_json::from_value(json!({
        "apiVersion": "riskassess.io/v1alpha1",
        "kind": "UserImport",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a UserImport")
}

/// Creates the object and returns the server's refusal message, or None when it was accepted.
async fn refusal(api: &Api<UserImport>, object: &UserImport) -> Option<String> {
    match api.create(&PostParams::default(), object).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            Some(status.message)
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The control plane is the release the run asked for: 1.37.2, or the older one of
/// `scripts/test --all-versions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_the_release_under_test() {
    let env = Env::start("version").await;
    let version = env.client.apiserver_version().await.expect("/version");
    let wanted = std::env::var("USER_IMPORT_CONTROL_PLANE_KUBERNETES_VERSION")
        .unwrap_or_else(|_| "v1.37.2".to_string());
    assert_eq!(version.git_version, wanted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_needs_exactly_one_source() {
    let env = Env::start("cel-sources").await;
    let api: Api<UserImport> = env.api();
    let both = import(
        "both",
        json!({
            "tenantRef": {"name": "acme"},
            "template": {
                "configMapKeyRef": {"name": "a", "key": "t.csv"},
                "secretKeyRef": {"name": "b", "key": "t.csv"},
            },
        }),
    );
    let message = refusal(&api, &both).await.expect("two sources are refused");
    assert!(message.contains("exactly one"), "{message}");

    let none = import(
        "none",
        json!({"tenantRef": {"name": "acme"}, "template": {}}),
    );
    let message = refusal(&api, &none).await.expect("no source is refused");
    assert!(message.contains("exactly one"), "{message}");

    let one = import(
        "one",
        json!({
            "tenantRef": {"name": "acme"},
            "template": {"configMapKeyRef": {"name": "a", "key": "t.csv"}},
        }),
    );
    assert_eq!(refusal(&api, &one).await, None, "one source is accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_names_must_be_object_names() {
    let env = Env::start("names").await;
    let api: Api<UserImport> = env.api();
    let escaping = import(
        "escaping",
        json!({
            "tenantRef": {"name": "../../team-b/tenants/acme"},
            "template": {"configMapKeyRef": {"name": "a", "key": "t.csv"}},
        }),
    );
    let message = refusal(&api, &escaping)
        .await
        .expect("a path in tenantRef.name is refused");
    assert!(message.contains("spec.tenantRef.name"), "{message}");

    let bad_config_map = import(
        "bad-cm",
        json!({
            "tenantRef": {"name": "acme"},
            "template": {"configMapKeyRef": {"name": "Not_A_Name", "key": "t.csv"}},
        }),
    );
    let message = refusal(&api, &bad_config_map)
        .await
        .expect("an invalid ConfigMap name is refused");
    assert!(message.contains("configMapKeyRef.name"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_of_an_import_cannot_change() {
    let env = Env::start("immutable").await;
    let api: Api<UserImport> = env.api();
    let object = import(
        "imp",
        json!({
            "tenantRef": {"name": "acme"},
            "template": {"configMapKeyRef": {"name": "a", "key": "t.csv"}},
        }),
    );
    api.create(&PostParams::default(), &object)
        .await
        .expect("created");
    let moved = json!({"spec": {"tenantRef": {"name": "beta"}}});
    let error = api
        .patch("imp", &PatchParams::default(), &Patch::Merge(&moved))
        .await
        .expect_err("tenantRef is immutable");
    let kube::Error::Api(status) = error else {
        panic!("unexpected error: {error}");
    };
    assert_eq!(status.code, 422, "{status:?}");
    assert!(status.message.contains("immutable"), "{}", status.message);
    // Other fields still change.
    let mode = json!({"spec": {"mode": "DryRun"}});
    api.patch("imp", &PatchParams::default(), &Patch::Merge(&mode))
        .await
        .expect("mode can change");
}
