//! The Helm chart installed for real into an API server, and the real binary run the way the
//! chart's Deployment runs it. The API server is a real kube-apiserver of the test's own (Helm
//! installs cluster-scoped objects), started with scripts/control-plane with an audit log; the
//! operator runs as the chart's ServiceAccount (a token from the TokenRequest API) so that its
//! RBAC is enforced, and its requests are read from the audit log.
//!
//! 1. `helm install` through Helm's Go library (tests/chart/helm_install.py, helm-python-sdk):
//!    the chart's CRDs, the release Secret and every object, then `helm upgrade
//!    --reuse-values`; read back with `kubectl get -o yaml` and validated with
//!    `kubernetes-validate --strict`. At the end `helm uninstall`, which leaves the CRDs.
//! 2. `user-import-operator run` started with exactly the installed Deployment's `args` and `env`
//!    (the downward API resolved as the kubelet would, paths under the pod's volume mounts mapped
//!    into a temporary folder; only the metrics address is moved to a free local port, because a
//!    pod has its own network namespace), an environment otherwise empty but for `KUBECONFIG`.
//! 3. The examples imported (5 new, 5 updates, 1 unchanged, 10 problems, report mailed into the
//!    outbox), then a template change re-imported; leader election on.
//! 4. RBAC: the (apiGroup, resource, verb) set the controller used, from the audit log, against
//!    the installed ClusterRole (or, with `watchNamespace`, Role) and the
//!    leader-election Role: everything used is granted, and everything granted is used or
//!    justified in `JUSTIFIED`.
//!
//! Needs `python3` with helm-python-sdk and kubernetes-validate, and `kubectl`, on PATH
//! (tests/chart/requirements.txt; `scripts/test` puts `.ci/.venv/bin` first). It fails, rather
//! than skips, without them.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use user_import_resources::Tenant;
use user_import_test_support::{ControlPlane, WAIT, example};

const RELEASE: &str = "uio";
const RELEASE_NS: &str = "user-import-operator";
const FULLNAME: &str = "uio-user-import-operator";
const TENANT_NS: &str = "acme";
const IMPORT: &str = "acme-2026-11";
const BETA: &str = "beta-users";

/// Granted by the chart although a run of the test does not show the request.
const JUSTIFIED: &[(&str, &str, &str, &str)] = &[
    (
        "riskassess.io",
        "tenantusers",
        "create",
        "server-side apply of a TenantUser that does not exist yet is a PATCH, but the real API \
         server also authorizes it as `create`",
    ),
    (
        "riskassess.io",
        "userimports",
        "patch",
        "the managedFields of an import whose status an operator version before server-side \
         apply wrote (src/controller/status_owner.rs): none in a fresh install",
    ),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command to completion; panics with its standard error unless it succeeds.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (install tests/chart/requirements.txt and put its venv on PATH)"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    run(Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(repo()))
}

/// (apiGroup, resource, verb) rows of a Role's or ClusterRole's rules.
fn rule_rows(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut rows = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                for verb in strings("verbs") {
                    rows.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    rows
}

/// The installed Deployment's container as a process: args, env (downward API resolved),
/// paths under the volume mounts moved below `root`.
fn operator_command(deployment: &Value, root: &Path, kubeconfig: &Path) -> Command {
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let mounts: Vec<String> = container["volumeMounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["mountPath"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    // A path under a mount, alone or as `--flag=PATH`, moves below `root`.
    let map_path = |value: &str| -> String {
        let (flag, path) = match value.split_once('=') {
            Some((flag, path)) if flag.starts_with("--") => (Some(flag), path),
            _ => (None, value),
        };
        let local = mounts.iter().find_map(|mount| {
            let tail = path.strip_prefix(mount.as_str())?;
            (tail.is_empty() || tail.starts_with('/')).then(|| {
                root.join(mount.trim_start_matches('/'))
                    .join(tail.trim_start_matches('/'))
                    .to_string_lossy()
                    .into_owned()
            })
        });
        match (flag, local) {
            (Some(flag), Some(local)) => format!("{flag}={local}"),
            (None, Some(local)) => local,
            _ => value.to_string(),
        }
    };
    for mount in &mounts {
        std::fs::create_dir_all(root.join(mount.trim_start_matches('/'))).unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_user-import-operator"));
    // The image's ENTRYPOINT is the binary; the container's args replace its CMD.
    for arg in container["args"].as_array().expect("args") {
        command.arg(map_path(arg.as_str().unwrap()));
    }
    command
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .current_dir(root);
    for var in container["env"].as_array().expect("env") {
        let name = var["name"].as_str().unwrap();
        let value = if let Some(value) = var.get("value") {
            map_path(value.as_str().unwrap())
        } else {
            match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => format!("{FULLNAME}-7d4b9c-x2x9z"),
                Some("metadata.namespace") => RELEASE_NS.to_string(),
                _ => panic!("no stand-in for the env source of {var}"),
            }
        };
        command.env(name, value);
    }
    // A pod has its own network namespace; here port 8080 may be taken.
    command.env("USER_IMPORT_METRICS_ADDR", "127.0.0.1:0");
    command
}

/// The API server the chart goes into: a control plane of the test's own, with its audit log,
/// and its admin's client.
struct Cluster {
    plane: ControlPlane,
    client: kube::Client,
}

impl Cluster {
    async fn start(dir: &Path) -> Cluster {
        let dir = dir.to_path_buf();
        let plane = tokio::task::spawn_blocking(move || ControlPlane::start(&dir, true))
            .await
            .unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&plane.kubeconfig).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        Cluster { plane, client }
    }

    fn kubeconfig(&self) -> std::path::PathBuf {
        self.plane.kubeconfig.clone()
    }

    fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// One stored object as JSON, read as the admin.
    async fn object(&self, group: &str, resource: &str, ns: &str, name: &str) -> Option<Value> {
        let version = match group {
            "riskassess.io" => "v1alpha1",
            _ => "v1",
        };
        let resource = kube::api::ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: format!("{group}/{version}"),
            kind: String::new(), // a GET by name needs the plural only
            plural: resource.into(),
        };
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &resource);
        let object = api.get_opt(name).await.expect("a GET as the admin")?;
        Some(serde_json::to_value(object).unwrap())
    }

    /// The kubeconfig the operator runs with: the chart's ServiceAccount, so that only the
    /// chart's RBAC lets it do anything.
    fn operator_kubeconfig(&self, dir: &Path) -> std::path::PathBuf {
        let admin = self.kubeconfig();
        let token = kubectl(
            &admin,
            &[
                "-n",
                RELEASE_NS,
                "create",
                "token",
                FULLNAME,
                "--duration=2h",
            ],
        );
        let mut config: Value =
            serde_norway::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
        config["users"] = json!([{"name": FULLNAME, "user": {"token": token.trim()}}]);
        config["contexts"][0]["context"]["user"] = json!(FULLNAME);
        let path = dir.join("operator.kubeconfig");
        std::fs::write(&path, serde_norway::to_string(&config).unwrap()).unwrap();
        path
    }
}

/// Polls the stored UserImport until `done`; panics with its status after `WAIT`.
async fn wait_import(
    cluster: &Cluster,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let object = cluster
            .object("riskassess.io", "userimports", TENANT_NS, name)
            .await;
        if let Some(object) = object.as_ref().filter(|o| done(o)) {
            return object.clone();
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}; last: {:#}",
            object.map(|o| o["status"].clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn finished_with_report_sent(import: &Value) -> bool {
    let status = &import["status"];
    status["phase"] == "SucceededWithProblems"
        && status["observedGeneration"] == import["metadata"]["generation"]
        && status["errorReport"]["state"] == "Sent"
}

fn emls(outbox: &Path) -> usize {
    std::fs::read_dir(outbox)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// All namespaces (the default values): a ClusterRole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_all_namespaces_runs_the_binary_and_rbac_matches_its_requests() {
    install_run_and_compare("{}", "ClusterRole").await;
}

/// `watchNamespace: acme`: a Role in that namespace, `USER_IMPORT_NAMESPACE=acme`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_one_namespace_runs_the_binary_and_rbac_matches_its_requests() {
    install_run_and_compare(&json!({"watchNamespace": TENANT_NS}).to_string(), "Role").await;
}

async fn install_run_and_compare(values: &str, watch_role_kind: &str) {
    user_import_operator::ops::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path()).await;
    let kubeconfig = cluster.kubeconfig();
    // The tenant's namespace exists before the release (a Role may go into it).
    kubectl(&kubeconfig, &["create", "namespace", TENANT_NS]);

    // 1. helm install, read back, kubernetes-validate --strict.
    let script = repo().join("tests/chart/helm_install.py");
    let (kc, values) = (kubeconfig.clone(), values.to_string());
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new("python3")
            .arg(&script)
            .arg(&kc)
            .args([RELEASE, RELEASE_NS, &values]))
    })
    .await
    .unwrap();
    let release: Value = serde_json::from_str(&out).expect("helm_install.py JSON");
    let key = |o: &Value| {
        (
            o["kind"].as_str().unwrap().to_string(),
            o["metadata"]["name"].as_str().unwrap().to_string(),
            o["metadata"]["namespace"].as_str().map(String::from),
        )
    };
    let manifest: BTreeSet<_> = release["manifest"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let installed = release["installed"].as_array().unwrap().clone();
    assert_eq!(installed.iter().map(key).collect::<BTreeSet<_>>(), manifest);
    let find = |kind: &str, name: &str| -> Value {
        installed
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} installed"))
            .clone()
    };
    let deployment = find("Deployment", FULLNAME);
    let watch_role = find(watch_role_kind, FULLNAME);
    if watch_role_kind == "Role" {
        assert_eq!(watch_role["metadata"]["namespace"], TENANT_NS);
        // No ClusterRole for the operator; the users' roles (aggregated into view, edit and
        // admin) are cluster-scoped whatever the operator watches.
        assert!(!installed.iter().any(|o| o["kind"] == "ClusterRole"
            && o["metadata"]["labels"].as_object().is_none_or(|labels| {
                !labels
                    .keys()
                    .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
            })));
    }
    let lease_role = find("Role", &format!("{FULLNAME}-leader-election"));

    // 2. The tenant's data, before the operator starts.
    let template = dir.path().join("template.csv");
    std::fs::write(&template, example("template.csv")).unwrap();
    let from_file = format!("--from-file=template.csv={}", template.display());
    // A `kind: List`, which kubectl validates against the server's /openapi/v2.
    kubectl(
        &kubeconfig,
        &["apply", "--validate=strict", "-f", "examples/records.yaml"],
    );
    kubectl(
        &kubeconfig,
        &[
            "-n",
            TENANT_NS,
            "create",
            "configmap",
            "acme-user-import",
            &from_file,
        ],
    );
    kubectl(
        &kubeconfig,
        &[
            "apply",
            "-f",
            "examples/tenant.yaml",
            "-f",
            "examples/userimport.yaml",
        ],
    );

    // A second tenant whose template is in a Secret and who has no administrator yet: its
    // report waits (NoRecipient) until the Tenant gets one, then goes out from a status read
    // afresh (`get userimports/status`).
    let beta_csv = dir.path().join("beta.csv");
    std::fs::write(
        &beta_csv,
        "First Name,Last Name,Email,Coupa Username,Coupa User ID\n\
         Bea,Lin,bea@beta.test,blin,3001\n\
         Bad,Row,not-an-email,brow,3002\n",
    )
    .unwrap();
    let beta_yaml = dir.path().join("beta.yaml");
    std::fs::write(
        &beta_yaml,
        format!(
            "apiVersion: riskassess.io/v1alpha1\nkind: Tenant\nmetadata: {{name: beta, namespace: {TENANT_NS}}}\n\
             spec: {{displayName: Beta Ltd}}\n---\n\
             apiVersion: riskassess.io/v1alpha1\nkind: UserImport\nmetadata: {{name: {BETA}, namespace: {TENANT_NS}}}\n\
             spec:\n  tenantRef: {{name: beta}}\n  template:\n    secretKeyRef: {{name: beta-template, key: template.csv}}\n"
        ),
    )
    .unwrap();
    let beta_from_file = format!("--from-file=template.csv={}", beta_csv.display());
    kubectl(
        &kubeconfig,
        &[
            "-n",
            TENANT_NS,
            "create",
            "secret",
            "generic",
            "beta-template",
            &beta_from_file,
        ],
    );
    kubectl(&kubeconfig, &["apply", "-f", beta_yaml.to_str().unwrap()]);

    // 3. The binary as the Deployment runs it.
    let root = dir.path().join("pod");
    let log_path = dir.path().join("operator.log");
    let operator_kubeconfig = cluster.operator_kubeconfig(dir.path());
    let mut command = operator_command(&deployment, &root, &operator_kubeconfig);
    command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let operator = Killed(command.spawn().expect("start the operator"));

    let first = wait_import(
        &cluster,
        IMPORT,
        "the examples' import",
        finished_with_report_sent,
    )
    .await;
    let counts = &first["status"]["counts"];
    assert_eq!(
        [
            &counts["new"],
            &counts["update"],
            &counts["unchanged"],
            &counts["problem"]
        ],
        [5, 5, 1, 10],
        "{:#}",
        first["status"]
    );
    // The chart's settings took effect: its Lease, its outbox, its log format.
    let env: Vec<Value> = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    let env_value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("env {name} in the Deployment"))
            .to_string()
    };
    let lease_name = env_value("USER_IMPORT_LEASE_NAME");
    assert_eq!(
        lease_role["rules"][1]["resourceNames"][0].as_str(),
        Some(lease_name.as_str())
    );
    let lease = cluster
        .object("coordination.k8s.io", "leases", RELEASE_NS, &lease_name)
        .await
        .expect("the chart's Lease, in the release namespace");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap()
            .starts_with(FULLNAME)
    );
    let outbox = root.join("tmp/outbox");
    assert_eq!(
        emls(&outbox),
        1,
        "one report in the chart's outbox {outbox:?}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.lines().all(|l| l.trim_start().starts_with('{')),
        "json logs (logging.format): {log}"
    );

    let starting = log
        .lines()
        .find(|l| l.contains("controller starting"))
        .expect("a start line");
    assert_eq!(
        starting.contains(&format!("\\\"{TENANT_NS}\\\"")),
        watch_role_kind == "Role",
        "the watched namespace (USER_IMPORT_NAMESPACE): {starting}"
    );

    // 4. A template change re-imports.
    let digest = first["status"]["templateDigest"].clone();
    let configmaps: Api<ConfigMap> = Api::namespaced(cluster.client(), TENANT_NS);
    let mut config_map = configmaps.get("acme-user-import").await.unwrap();
    let csv = example("template.csv")
        + "Zoe,,Quinn,zquinn@acme.test,,zquinn,1099,,Buyer,,,Denver,United States,Procurement\n";
    config_map.data = Some([("template.csv".to_string(), csv)].into());
    configmaps
        .replace("acme-user-import", &PostParams::default(), &config_map)
        .await
        .unwrap();
    let second = wait_import(&cluster, IMPORT, "the re-import", |i| {
        finished_with_report_sent(i) && i["status"]["templateDigest"] != digest
    })
    .await;
    // The first import's new users exist now: only the added row is new.
    assert_eq!(
        second["status"]["counts"]["new"], 1,
        "{:#}",
        second["status"]
    );
    assert_eq!(emls(&outbox), 2);

    // The second tenant's report: held for want of a recipient, sent once there is one.
    wait_import(
        &cluster,
        BETA,
        "the beta import, its report waiting for a recipient",
        |i| {
            i["status"]["phase"] == "SucceededWithProblems"
                && i["status"]["errorReport"]["state"] == "Failed"
        },
    )
    .await;
    let tenants: Api<Tenant> = Api::namespaced(cluster.client(), TENANT_NS);
    let admin = json!({"spec": {"defaultSiteAdministrator": {"name": "Bo Admin", "email": "bo@beta.test"}}});
    tenants
        .patch("beta", &PatchParams::default(), &Patch::Merge(&admin))
        .await
        .unwrap();
    wait_import(&cluster, BETA, "the beta report sent", |i| {
        i["status"]["errorReport"]["state"] == "Sent"
    })
    .await;
    assert_eq!(emls(&outbox), 3);

    // A graceful stop releases the Lease.
    let pid = operator.0.id().to_string();
    run(Command::new("kill").args(["-TERM", &pid]));
    let mut operator = operator;
    let start = Instant::now();
    loop {
        if let Some(status) = operator.0.try_wait().unwrap() {
            assert!(
                status.success(),
                "{status}: {}",
                std::fs::read_to_string(&log_path).unwrap()
            );
            break;
        }
        assert!(start.elapsed() < WAIT, "the operator stops on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }

    // 5. RBAC: what it used against what the chart grants (read before `helm uninstall`).
    let used = used_by_the_operator(&cluster.plane);

    let granted: BTreeSet<_> = rule_rows(&watch_role)
        .union(&rule_rows(&lease_role))
        .cloned()
        .collect();
    let not_granted: Vec<_> = used.difference(&granted).collect();
    assert!(
        not_granted.is_empty(),
        "the controller used what the chart does not grant: {not_granted:?}"
    );
    let justified: BTreeSet<_> = JUSTIFIED
        .iter()
        .map(|(g, r, v, _)| (g.to_string(), r.to_string(), v.to_string()))
        .collect();
    let unused: Vec<_> = granted
        .difference(&used)
        .filter(|row| !justified.contains(*row))
        .collect();
    assert!(
        unused.is_empty(),
        "the chart grants what the controller never used: {unused:?}\n(used: {used:?})"
    );
    let stale: Vec<_> = justified.difference(&granted).collect();
    assert!(stale.is_empty(), "justified but not granted: {stale:?}");
    assert!(
        release["notes"]
            .as_str()
            .unwrap()
            .contains("get userimports")
    );

    // 6. helm uninstall: the operator's objects go, the CRDs and the tenant's data stay.
    let script = repo().join("tests/chart/helm_install.py");
    let kc = kubeconfig.clone();
    tokio::task::spawn_blocking(move || {
        run(Command::new("python3").arg(&script).arg(&kc).args([
            RELEASE,
            RELEASE_NS,
            "--uninstall",
        ]))
    })
    .await
    .unwrap();
    assert!(
        cluster
            .object("apps", "deployments", RELEASE_NS, FULLNAME)
            .await
            .is_none()
    );
    assert!(
        cluster
            .object("riskassess.io", "userimports", TENANT_NS, IMPORT)
            .await
            .is_some()
    );
    eprintln!("controller used: {used:?}");
}

/// What the chart's ServiceAccount did, from the real API server's audit log; none of it was
/// refused (RBAC is enforced there: a missing grant shows as a 403).
fn used_by_the_operator(plane: &ControlPlane) -> BTreeSet<(String, String, String)> {
    let account = format!("system:serviceaccount:{RELEASE_NS}:{FULLNAME}");
    let mut used = BTreeSet::new();
    let mut refused = Vec::new();
    for event in plane.audit_events() {
        if event["user"]["username"] != account.as_str() || event["stage"] != "ResponseComplete" {
            continue;
        }
        let object = &event["objectRef"];
        if object["resource"].is_null() {
            continue; // /version, discovery: not resources, not in any Role.
        }
        let mut resource = object["resource"].as_str().unwrap_or_default().to_string();
        if let Some(sub) = object["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        let row = (
            object["apiGroup"].as_str().unwrap_or_default().to_string(),
            resource,
            event["verb"].as_str().unwrap_or_default().to_string(),
        );
        if event["responseStatus"]["code"] == 403 {
            refused.push(row.clone());
        }
        used.insert(row);
    }
    assert!(refused.is_empty(), "refused by RBAC: {refused:?}");
    assert!(!used.is_empty(), "no request of {account} in the audit log");
    used
}
