//! The operator end to end on a real kube-apiserver and etcd (scripts/control-plane), anchored
//! against the API server itself in the same run.
//!
//! For each size N (default 10,000; `cargo bench --bench scale -- 10000 50000`):
//! 1. **Bare writes** (the baseline): server-side apply of the N TenantUser objects of a template
//!    at the operator's concurrency (8 in flight), with the same client and field manager, no
//!    planning and no status — how fast this API server takes these writes at all.
//! 2. **Import into an empty tenant**: the real `user-import-operator run` binary (release build),
//!    a UserImport of N rows (9 in 10 new, 1 in 10 a problem row): time from the create until the
//!    status is finished for the generation, and the ratio to (1).
//! 3. **Import into a tenant of N/2 existing users**, half of them changed by the template.
//! 4. **The same import again** after a restart of the operator: no write, no second mail.
//!
//! Counted from the API server's audit log (the operator's requests only): TenantUser writes
//! (must equal New + changed rows), TenantUser reads (list pages only, no GET); and the operator's
//! peak memory (VmHWM). The template goes into a ConfigMap, so N is at most about 11,000 rows
//! (ConfigMaps hold 1 MiB); larger sizes take the gzip-compressed `binaryData`.
//!
//! Not a criterion bench: one import per case is the measurement, and the counts are asserted.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use serde_json::{Value, json};

#[path = "../tests/support/control_plane.rs"]
mod control_plane;
mod support;

use control_plane::ControlPlane;
use support::{HEADER, synthetic_user};
use user_import_operator::controller::tenant_users::FIELD_MANAGER;
use user_import_operator::resources::{
    ImportPhase, KeyRef, SiteAdministrator, SsoSync, TENANT_LABEL, TemplateSource, Tenant,
    TenantRef, TenantSpec, TenantUser, UserImport, UserImportSpec,
};

const TENANT: &str = "acme";
/// The operator's default number of TenantUser writes in flight.
const CONCURRENCY: usize = 8;
const WAIT: Duration = Duration::from_secs(1800);

/// A template of `rows` rows; the first `existing` are the existing users (every other one
/// changed: title and city), then new users, every tenth row a problem (an invalid email).
fn template(rows: usize, existing: usize) -> String {
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str(HEADER);
    for i in 0..rows {
        let line = if i < existing {
            if i % 2 == 0 {
                format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Analyst,Boston,Ops\n")
            } else {
                format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Lead,Austin,Ops\n")
            }
        } else if i % 10 == 9 {
            format!("Cy,Ray{i},bad{i} at acme.test,bad{i},{i},Active,,,Eng\n")
        } else {
            format!("Bo,Ko{i},new{i}@acme.test,new{i},{i},Active,Engineer,Oslo,Eng\n")
        };
        csv.push_str(&line);
    }
    csv
}

/// The TenantUser objects the import of `template(rows, 0)` writes: the baseline's payload.
fn new_users(rows: usize) -> Vec<TenantUser> {
    (0..rows)
        .filter(|i| i % 10 != 9)
        .map(|i| {
            let mut user = synthetic_user(TENANT, i, true);
            user.spec.first_name = Some("Bo".into());
            user.spec.last_name = Some(format!("Ko{i}"));
            user.spec.email = Some(format!("new{i}@acme.test"));
            user.spec.coupa_username = Some(format!("new{i}"));
            user.spec.username = Some(format!("new{i}"));
            user.spec.title = Some("Engineer".into());
            user.spec.city = Some("Oslo".into());
            tenant_user(&user.name, user.spec)
        })
        .collect()
}

fn tenant_user(name: &str, spec: user_import_operator::resources::TenantUserSpec) -> TenantUser {
    let mut user = TenantUser::new(name, spec);
    user.metadata.labels = Some([(TENANT_LABEL.to_string(), TENANT.to_string())].into());
    user
}

/// Server-side applies `users` into `namespace`, `CONCURRENCY` in flight; returns the time.
async fn apply_users(client: &Client, namespace: &str, users: Vec<TenantUser>) -> Duration {
    let api: Api<TenantUser> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let start = Instant::now();
    stream::iter(users)
        .map(|user| {
            let (api, params) = (api.clone(), params.clone());
            async move {
                let name = user.metadata.name.clone().unwrap();
                api.patch(&name, &params, &Patch::Apply(&user)).await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await
        .expect("bare server-side apply");
    start.elapsed()
}

struct Cluster {
    plane: ControlPlane,
    client: Client,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        user_import_operator::ops::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let plane = tokio::task::spawn_blocking(move || ControlPlane::start(&path, true))
            .await
            .unwrap();
        let kubeconfig = kube::config::Kubeconfig::read_from(&plane.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = Client::try_from(config).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in [Tenant::crd(), TenantUser::crd(), UserImport::crd()] {
            let name = crd.metadata.name.clone().unwrap();
            crds.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&crd))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(3)).await; // served once established
        Cluster { plane, client, dir }
    }

    async fn namespace(&self, name: &str) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let object: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    async fn tenant_with_template(&self, namespace: &str, csv: &str) {
        let tenants: Api<Tenant> = Api::namespaced(self.client.clone(), namespace);
        let tenant = Tenant::new(
            TENANT,
            TenantSpec {
                display_name: "Acme Corp".into(),
                default_site_administrator: Some(SiteAdministrator {
                    name: "Ada Admin".into(),
                    email: "admin@acme.test".into(),
                }),
                sso_sync: SsoSync { enabled: true },
                smtp_secret_ref: None,
            },
        );
        tenants
            .create(&PostParams::default(), &tenant)
            .await
            .unwrap();
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some("template".into()),
                ..ObjectMeta::default()
            },
            data: Some([("template.csv".to_string(), csv.to_string())].into()),
            ..ConfigMap::default()
        };
        config_maps
            .create(&PostParams::default(), &config_map)
            .await
            .unwrap();
    }

    /// The release binary of the operator for `namespace`, its reports into `outbox`.
    fn operator(&self, namespace: &str, outbox: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_user-import-operator"))
            .args([
                "run",
                "--namespace",
                namespace,
                "--leader-election",
                "false",
            ])
            .args(["--metrics-addr", "127.0.0.1:0", "--outbox"])
            .arg(outbox)
            .env("KUBECONFIG", &self.plane.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the operator starts")
    }

    async fn import(&self, namespace: &str, name: &str) -> (Duration, UserImport) {
        let api: Api<UserImport> = Api::namespaced(self.client.clone(), namespace);
        let spec = UserImportSpec {
            tenant_ref: TenantRef {
                name: TENANT.into(),
            },
            template: TemplateSource {
                config_map_key_ref: Some(KeyRef {
                    name: "template".into(),
                    key: "template.csv".into(),
                }),
                ..TemplateSource::default()
            },
            mode: Default::default(),
            on_problem: Default::default(),
        };
        let start = Instant::now();
        api.create(&PostParams::default(), &UserImport::new(name, spec))
            .await
            .unwrap();
        let import = self.wait_finished(&api, name).await;
        (start.elapsed(), import)
    }

    async fn wait_finished(&self, api: &Api<UserImport>, name: &str) -> UserImport {
        let deadline = Instant::now() + WAIT;
        loop {
            let import = api.get(name).await.unwrap();
            let finished = import.status.as_ref().is_some_and(|s| {
                matches!(
                    s.phase,
                    Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems)
                ) && s.observed_generation == import.metadata.generation
            });
            if finished {
                return import;
            }
            assert!(Instant::now() < deadline, "the import did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many audit events there are so far: requests after this mark are counted.
    fn audit_mark(&self) -> usize {
        self.plane.audit_events().len()
    }

    /// The TenantUser requests in `namespace` since `mark`, by verb, from the audit log. The
    /// bench makes none while the operator runs, so these are the operator's.
    fn requests_since(&self, mark: usize, namespace: &str) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for event in self.plane.audit_events().into_iter().skip(mark) {
            let object = &event["objectRef"];
            if object["namespace"] != namespace || object["resource"] != "tenantusers" {
                continue;
            }
            let verb = event["verb"].as_str().unwrap_or_default().to_string();
            *counts.entry(verb).or_insert(0) += 1;
        }
        counts
    }
}

/// Peak resident memory of a running process, from /proc (VmHWM), in MB.
fn peak_mb(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib / 1024.0
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn emls(outbox: &Path) -> usize {
    std::fs::read_dir(outbox)
        .map(|d| d.filter_map(Result::ok).count())
        .unwrap_or(0)
}

fn counts(import: &UserImport) -> Value {
    serde_json::to_value(import.status.as_ref().unwrap().counts).unwrap()
}

async fn run_size(rows: usize) {
    let cluster = Cluster::start().await;
    let client = cluster.client.clone();
    println!("\n== {rows} rows (kube-apiserver 1.37.2 + etcd 3.7, loopback)");

    // 1. The baseline: the same objects, written bare.
    cluster.namespace("bare").await;
    let users = new_users(rows);
    let written = users.len();
    let bare = apply_users(&client, "bare", users).await;
    println!(
        "bare server-side apply of {written} TenantUsers, {CONCURRENCY} in flight: {:.2} s ({:.0}/s)",
        bare.as_secs_f64(),
        written as f64 / bare.as_secs_f64()
    );

    // 2. Import into an empty tenant.
    cluster.namespace("empty").await;
    cluster
        .tenant_with_template("empty", &template(rows, 0))
        .await;
    let outbox = cluster.dir.path().join("outbox-empty");
    let mark = cluster.audit_mark();
    let operator = cluster.operator("empty", &outbox);
    tokio::time::sleep(Duration::from_secs(2)).await; // caches synced
    let (took, import) = cluster.import("empty", "first").await;
    let peak = peak_mb(&operator);
    let requests = cluster.requests_since(mark, "empty");
    let patches = requests.get("patch").copied().unwrap_or(0);
    let gets = requests.get("get").copied().unwrap_or(0);
    let lists = requests.get("list").copied().unwrap_or(0);
    println!(
        "import into an empty tenant: {:.2} s to Ready, {patches} TenantUser writes, {lists} list(s), {gets} GET(s), peak {peak:.0} MB; counts {}; ratio to bare writes {:.2}",
        took.as_secs_f64(),
        counts(&import),
        took.as_secs_f64() / bare.as_secs_f64()
    );
    assert_eq!(patches as usize, written, "writes = New rows");
    assert_eq!(gets, 0, "no GET per row");

    // 4. The same import again, after a restart: nothing written, nothing mailed.
    stop(operator);
    let mails = emls(&outbox);
    let restarted = cluster.operator("empty", &outbox);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let again = cluster.requests_since(mark, "empty");
    stop(restarted);
    assert_eq!(
        again.get("patch").copied().unwrap_or(0),
        patches,
        "no write"
    );
    assert_eq!(emls(&outbox), mails, "no second mail");
    println!("the same import after a restart: 0 writes, 0 mails");

    // 3. A tenant of rows/2 existing users, half of them changed.
    let existing = rows / 2;
    cluster.namespace("existing").await;
    let users: Vec<TenantUser> = (0..existing)
        .map(|i| {
            let user = synthetic_user(TENANT, i, true);
            tenant_user(&user.name, user.spec)
        })
        .collect();
    apply_users(&client, "existing", users).await;
    cluster
        .tenant_with_template("existing", &template(rows, existing))
        .await;
    let outbox = cluster.dir.path().join("outbox-existing");
    let mark = cluster.audit_mark();
    let operator = cluster.operator("existing", &outbox);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (took, import) = cluster.import("existing", "second").await;
    let peak = peak_mb(&operator);
    stop(operator);
    let requests = cluster.requests_since(mark, "existing");
    let status = import.status.as_ref().unwrap().counts.unwrap();
    let patches = requests.get("patch").copied().unwrap_or(0);
    println!(
        "import into a tenant of {existing} users: {:.2} s to Ready, {patches} TenantUser writes, {} list(s), {} GET(s), peak {peak:.0} MB; counts {}",
        took.as_secs_f64(),
        requests.get("list").copied().unwrap_or(0),
        requests.get("get").copied().unwrap_or(0),
        counts(&import)
    );
    // Changed rows are every other existing user; the unchanged ones are not written.
    assert_eq!(patches as usize, status.new + existing / 2);
    let _ = std::io::stdout().flush();
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for rows in sizes {
        runtime.block_on(run_size(rows));
    }
}
