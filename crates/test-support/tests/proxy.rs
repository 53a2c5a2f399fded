//! The test proxy against the real control plane: what it counts for each verb, each fault it
//! answers (and that the API server never saw the request), watches streamed through it, ended
//! by `drop_watches` and refused with 410, delays, and kubectl going through it.

use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Api, ResourceExt as _};
use serde_json::json;
use user_import_test_support::{Env, Fault, Matcher, http_request, repo_root};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

/// The status code of a failed request.
fn code<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_is_counted_as_kube_apiserver_names_it() {
    let env = Env::start("proxy-verbs").await;
    env.proxy.reset_counters();
    let api: Api<ConfigMap> = env.api();
    api.create(&PostParams::default(), &config_map("a"))
        .await
        .unwrap();
    let mut a = api.get("a").await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    a.data = Some([("k".to_string(), "w".to_string())].into());
    api.replace("a", &PostParams::default(), &a).await.unwrap();
    let merge = json!({"data": {"x": "y"}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    let apply = PatchParams::apply("proxy-test").force();
    api.patch("b", &apply, &Patch::Apply(&config_map("b")))
        .await
        .unwrap();
    let watch = WatchParams::default().timeout(1);
    let events: Vec<_> = api.watch(&watch, "0").await.unwrap().collect().await;
    assert!(!events.is_empty(), "the watch streamed the two ConfigMaps");
    api.delete("a", &DeleteParams::default()).await.unwrap();
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    // A status subresource and a name in a path of its own.
    let imports: Api<user_import_resources::UserImport> = env.api();
    let missing = imports
        .patch_status("none", &PatchParams::default(), &Patch::Merge(&json!({})))
        .await;
    assert_eq!(code(missing), 404, "forwarded: the server answered");
    // Discovery is not a resource: not counted.
    env.client.apiserver_version().await.unwrap();

    let counters = env.proxy.counters();
    let entries = counters.entries();
    let expected = [
        ("create", "configmaps", 1),
        ("delete", "configmaps", 1),
        ("deletecollection", "configmaps", 1),
        ("get", "configmaps", 1),
        ("list", "configmaps", 1),
        ("patch", "configmaps", 2),
        ("patch", "userimports/status", 1),
        ("update", "configmaps", 1),
        ("watch", "configmaps", 1),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .iter()
        .map(|(v, r, n)| (v.to_string(), r.to_string(), *n))
        .collect();
    assert_eq!(entries, expected);
    assert_eq!(counters.writes("configmaps"), 6);
    assert_eq!(counters.verb_total("patch"), 3);
    assert_eq!(counters.total(), 10);
    env.proxy.reset_counters();
    assert_eq!(env.proxy.counters().total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_answered_by_the_proxy_and_never_reach_the_server() {
    let env = Env::start("proxy-faults").await;
    let api: Api<ConfigMap> = env.api();
    let creates = || Matcher::any().verb("create").resource("configmaps");
    // Raw requests: kube's client retries 429, 503 and 504 by itself.
    let list = format!("/api/v1/namespaces/{}/configmaps", env.namespace);
    for (fault, expected) in [
        (Fault::Conflict, "409"),
        (Fault::TooManyRequests { retry_after: 7 }, "429"),
        (Fault::InternalError, "500"),
        (Fault::Timeout, "504"),
        (Fault::Gone, "410"),
        (
            Fault::Status {
                code: 503,
                reason: "ServiceUnavailable".into(),
            },
            "503",
        ),
    ] {
        env.proxy
            .fail_next(1, Matcher::any().verb("list"), fault.clone());
        let response = get_through(&env, &list).await;
        let body = String::from_utf8_lossy(response.body()).into_owned();
        assert_eq!(
            response.status().to_string()[..3],
            *expected,
            "{fault:?}: {body}"
        );
        let status: serde_json::Value = serde_json::from_str(&body).expect("a Status");
        assert_eq!(status["kind"], "Status", "{body}");
        assert_eq!(status["code"].to_string(), expected, "{body}");
        if let Fault::TooManyRequests { .. } = fault {
            // As API Priority and Fairness sends it.
            assert!(
                response.headers().get("retry-after").map(|v| v.as_bytes()) == Some(b"7"),
                "{:?}",
                response.headers()
            );
        }
    }
    assert_eq!(env.proxy.counters().count("list", "configmaps"), 6);
    // A refused write never reaches the server.
    for fault in [Fault::Conflict, Fault::InternalError] {
        env.proxy.fail_next(1, creates(), fault.clone());
        let refused = api.create(&PostParams::default(), &config_map("c")).await;
        assert_eq!(
            code(refused),
            if fault == Fault::Conflict { 409 } else { 500 }
        );
        assert!(api.get_opt("c").await.unwrap().is_none(), "{fault:?}");
    }

    // The third matching write fails, the others go through; by name, too.
    env.proxy.fail_after(2, 1, creates(), Fault::InternalError);
    let mut codes = Vec::new();
    for name in ["w1", "w2", "w3", "w4"] {
        let created = api.create(&PostParams::default(), &config_map(name)).await;
        codes.push(created.map(|_| 201).unwrap_or_else(|e| code::<()>(Err(e))));
    }
    assert_eq!(codes, [201, 201, 500, 201]);
    assert_eq!(env.proxy.pending_faults(), 0);
    env.proxy
        .fail_next(1, Matcher::any().name("w4"), Fault::Conflict);
    assert_eq!(code(api.get("w4").await), 409);
    assert!(api.get("w1").await.is_ok(), "other names pass");

    // A delay holds the matching requests only; clear_faults takes it away.
    env.proxy
        .set_delay_for(Matcher::any().verb("get"), Duration::from_millis(600));
    let started = Instant::now();
    api.get("w1").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    let started = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(600));
    env.proxy.clear_faults();
    let started = Instant::now();
    api.get("w1").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_stream_through_end_when_dropped_and_can_be_refused_with_410() {
    let env = Env::start("proxy-watch").await;
    let api: Api<ConfigMap> = env.api();
    let version = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(290), &version)
        .await
        .unwrap()
        .boxed();
    // Streamed as it happens, not when the response ends.
    api.create(&PostParams::default(), &config_map("one"))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("the event within seconds")
        .unwrap();
    assert!(
        matches!(&event, Some(WatchEvent::Added(cm)) if cm.name_any() == "one"),
        "{event:?}"
    );
    // drop_watches ends the response: the stream ends, well before its 290 s.
    env.proxy.drop_watches();
    let end = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("the stream ends at once");
    assert!(matches!(end, Ok(None)), "{end:?}");

    // A watch refused as from a compacted resourceVersion: the ERROR event of a 410 Status.
    env.proxy
        .fail_next(1, Matcher::any().verb("watch"), Fault::Gone);
    let events: Vec<_> = api
        .watch(&WatchParams::default().timeout(290), &version)
        .await
        .unwrap()
        .collect()
        .await;
    match events.as_slice() {
        [Ok(WatchEvent::Error(status))] => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_goes_through_the_proxy() {
    let env = Env::start("proxy-kubectl").await;
    env.proxy.reset_counters();
    let kubectl = |args: &[&str]| {
        let venv = repo_root().join(".ci/.venv/bin/kubectl");
        let program = if venv.is_file() {
            venv
        } else {
            "kubectl".into()
        };
        let output = std::process::Command::new(program)
            .arg("--kubeconfig")
            .arg(&env.kubeconfig)
            .args(["-n", &env.namespace])
            .args(args)
            .output()
            .expect("run kubectl (tests/chart/requirements.txt)");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let manifest = std::env::temp_dir().join(format!("proxy-kubectl-{}.yaml", std::process::id()));
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-kubectl}\ndata: {k: v}\n",
    )
    .unwrap();
    kubectl(&["apply", "--server-side", "-f", manifest.to_str().unwrap()]);
    std::fs::remove_file(&manifest).unwrap();
    let names = kubectl(&["get", "configmaps", "-o", "name"]);
    assert!(names.contains("configmap/from-kubectl"), "{names}");
    let counters = env.proxy.counters();
    assert_eq!(
        counters.count("patch", "configmaps"),
        1,
        "{:?}",
        counters.entries()
    );
    assert_eq!(
        counters.count("list", "configmaps"),
        1,
        "{:?}",
        counters.entries()
    );
}

/// A GET of `path` through the proxy, past kube's client (which keeps the headers to itself and
/// retries some statuses on its own).
async fn get_through(env: &Env, path: &str) -> hyper::Response<Vec<u8>> {
    let addr = env
        .proxy
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the proxy's address");
    let request = hyper::Request::get(path)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("a valid request");
    http_request(addr, request).await
}
