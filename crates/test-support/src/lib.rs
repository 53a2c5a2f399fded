//! What the operator's tests and benches share: a real control plane (the one named by
//! `USER_IMPORT_E2E_KUBECONFIG`, else one started for the test process), a fault-injecting,
//! request-counting [`Proxy`] in front of it for each test, a namespace per test, object
//! builders, the controller in-process or as the real binary, template sites, a test PKI, and
//! bounded waits.
//!
//! The real binaries' paths come from the test (`env!("CARGO_BIN_EXE_user-import-operator")`):
//! Cargo sets those variables only when it compiles an integration test or bench of the package
//! that has the binaries, never for a library such as this one, and a path found by searching
//! the target folder could be a stale binary of another profile.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod control_plane;
pub mod objects;
mod pki;
pub mod proxy;
pub mod sites;

pub use control_plane::{AuditLog, ControlPlane, E2E_KUBECONFIG};
pub use pki::TestPki;
pub use proxy::{Counters, Fault, Matcher, Proxy};

use user_import_operator::controller::{self, Metrics, Settings};
use user_import_operator::mail::MailSettings;
use user_import_resources::{
    ImportPhase, KeyRef, TENANT_LABEL, TemplateSource, Tenant, TenantRef, TenantUser, UserImport,
    UserImportSpec,
};

/// Every wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(60);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One test's namespace on the real control plane, seen through a proxy of its own.
pub struct Env {
    /// The test's proxy in front of the API server: its counters and faults are the test's.
    pub proxy: Proxy,
    /// A client that goes through the proxy.
    pub client: Client,
    /// The test's namespace (created by [`Env::start`]).
    pub namespace: String,
    /// A kubeconfig naming the proxy (no credentials), for kubectl and the real binaries.
    pub kubeconfig: PathBuf,
    /// Where the controller writes mailed reports as `.eml` files.
    pub outbox: PathBuf,
    /// The admin kubeconfig of the API server behind the proxy (YAML).
    admin_kubeconfig: String,
    /// A control plane of the test's own ([`Env::start_alone`]), stopped with the Env.
    own_plane: Option<ControlPlane>,
    _dir: tempfile::TempDir,
}

impl Env {
    /// The CRDs applied to the shared control plane, a proxy in front of it, and a fresh
    /// namespace.
    pub async fn start(test: &str) -> Env {
        let admin = tokio::task::spawn_blocking(control_plane::shared_admin_kubeconfig)
            .await
            .expect("the control plane");
        Env::start_on(test, admin, None).await
    }

    /// Like [`Env::start`], on a control plane of the test's own: for a test that changes what
    /// every test of the process sees (the CRDs' schemas, say). Some seconds more.
    pub async fn start_alone(test: &str) -> Env {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().to_path_buf();
        let plane = tokio::task::spawn_blocking(move || ControlPlane::start(&path, false))
            .await
            .expect("a control plane");
        let admin = std::fs::read_to_string(&plane.kubeconfig).expect("the admin kubeconfig");
        Env::start_on(test, admin, Some(plane)).await
    }

    async fn start_on(test: &str, admin: String, own_plane: Option<ControlPlane>) -> Env {
        install_crypto_provider();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let admin_config = kube_config(&admin).await;
        let admin_client = Client::try_from(admin_config.clone()).expect("an admin client");
        apply_crds(&admin_client).await;
        let proxy = Proxy::start(admin_config).await;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, proxy.kubeconfig_yaml()).expect("write the kubeconfig");
        let client = proxy.client();
        let namespace = format!(
            "{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let namespaces: Api<Namespace> = Api::all(admin_client);
        let object: Namespace =
            serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .expect("create the namespace");
        let outbox = dir.path().join("outbox");
        Env {
            proxy,
            client,
            namespace,
            kubeconfig,
            outbox,
            admin_kubeconfig: admin,
            own_plane,
            _dir: dir,
        }
    }

    /// The etcd behind a control plane of the test's own ([`Env::start_alone`]): its client URL.
    pub fn etcd(&self) -> Option<&str> {
        self.own_plane.as_ref()?.etcd.as_deref()
    }

    /// A client of the API server itself, as its admin: requests that the proxy does not see
    /// (and does not count).
    pub async fn admin_client(&self) -> Client {
        Client::try_from(kube_config(&self.admin_kubeconfig).await).expect("an admin client")
    }

    /// An Api of the test's namespace, through the proxy.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates the Tenant `name` of [`objects::tenant`].
    pub async fn create_tenant(&self, name: &str, sso_sync: bool) {
        self.api::<Tenant>()
            .create(&PostParams::default(), &objects::tenant(name, sso_sync))
            .await
            .expect("create the Tenant");
    }

    /// Creates or replaces the Secret `name` with `pki`'s CA (`ca.crt`) and, when given, a
    /// bearer `token`: the credentials of a template URL on a [`sites::Site::https`].
    pub async fn put_url_secret(&self, name: &str, token: Option<&str>, pki: &TestPki) {
        let mut data = BTreeMap::from([(
            "ca.crt".to_string(),
            ByteString(pki.ca_pem.as_bytes().to_vec()),
        )]);
        if let Some(token) = token {
            data.insert("token".into(), ByteString(token.as_bytes().to_vec()));
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        let params = PatchParams::apply("tests").force();
        self.api::<Secret>()
            .patch(name, &params, &Patch::Apply(&secret))
            .await
            .expect("apply the Secret");
    }

    /// Creates or replaces the template ConfigMap (text in `data`).
    pub async fn put_template(&self, name: &str, csv: &str) {
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "template.csv".to_string(),
                csv.to_string(),
            )])),
            ..Default::default()
        };
        let params = PatchParams::apply("tests").force();
        self.api::<ConfigMap>()
            .patch(name, &params, &Patch::Apply(&config_map))
            .await
            .expect("apply the ConfigMap");
    }

    /// Creates or replaces a Secret holding the template under `template.csv`.
    pub async fn put_secret_template(&self, name: &str, bytes: &[u8]) {
        let secret = k8s_openapi::api::core::v1::Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "template.csv".to_string(),
                ByteString(bytes.to_vec()),
            )])),
            ..Default::default()
        };
        let params = PatchParams::apply("tests").force();
        self.api::<k8s_openapi::api::core::v1::Secret>()
            .patch(name, &params, &Patch::Apply(&secret))
            .await
            .expect("apply the Secret");
    }

    /// Creates or replaces the template ConfigMap with bytes in `binaryData`.
    pub async fn put_binary_template(&self, name: &str, bytes: &[u8]) {
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(
                "template.csv".to_string(),
                ByteString(bytes.to_vec()),
            )])),
            ..Default::default()
        };
        let params = PatchParams::apply("tests").force();
        self.api::<ConfigMap>()
            .patch(name, &params, &Patch::Apply(&config_map))
            .await
            .expect("apply the ConfigMap");
    }

    /// Creates the UserImport `name`.
    pub async fn create_import(&self, name: &str, spec: UserImportSpec) {
        let import = UserImport::new(name, spec);
        self.api::<UserImport>()
            .create(&PostParams::default(), &import)
            .await
            .expect("create the UserImport");
    }

    /// Creates the users of a `kubectl get -o yaml` list (such as examples/records.yaml).
    pub async fn create_users_from_yaml(&self, yaml: &str) {
        let list: Value = serde_norway::from_str(yaml).expect("records YAML");
        for item in list["items"].as_array().expect("a List").clone() {
            let mut item = item;
            item["metadata"]["namespace"] = json!(self.namespace);
            // The example file writes ids unquoted (YAML integers); the schema wants strings.
            if let Some(id) = item["spec"]["coupaUserId"].as_i64() {
                item["spec"]["coupaUserId"] = json!(id.to_string());
            }
            let user: TenantUser = serde_json::from_value(item).expect("a TenantUser");
            self.api::<TenantUser>()
                .create(&PostParams::default(), &user)
                .await
                .expect("create a TenantUser");
        }
    }

    /// The TenantUsers labelled with the tenant.
    pub async fn users(&self, tenant: &str) -> Vec<TenantUser> {
        let params = ListParams::default().labels(&format!("{TENANT_LABEL}={tenant}"));
        self.api::<TenantUser>()
            .list(&params)
            .await
            .expect("list TenantUsers")
            .items
    }

    /// The TenantUser `name`.
    pub async fn user(&self, name: &str) -> TenantUser {
        self.api::<TenantUser>()
            .get(name)
            .await
            .expect("get a TenantUser")
    }

    /// The UserImport `name`.
    pub async fn import(&self, name: &str) -> UserImport {
        self.api::<UserImport>()
            .get(name)
            .await
            .expect("get the UserImport")
    }

    /// Waits until the UserImport satisfies `done`; panics with its last status after `WAIT`.
    pub async fn wait_import(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&UserImport) -> bool,
    ) -> UserImport {
        let api = self.api::<UserImport>();
        let mut last = None;
        let outcome = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(Some(import)) = api.get_opt(name).await {
                    if done(&import) {
                        return import;
                    }
                    last = Some(import);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        match outcome {
            Ok(import) => import,
            Err(_) => panic!(
                "timed out waiting for {what}; last status: {:#?}",
                last.map(|i| i.status)
            ),
        }
    }

    /// Waits until the import is finished for its current generation and `digest` (any digest
    /// when None).
    pub async fn wait_finished(&self, name: &str) -> UserImport {
        self.wait_import(name, "a finished import", finished).await
    }

    /// The `.eml` files in the outbox.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.outbox) else {
            return vec![];
        };
        entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "eml"))
            .map(|entry| std::fs::read_to_string(entry.path()).expect("an .eml file"))
            .collect()
    }

    /// Deletes the UserImport `name` (gone already is fine).
    pub async fn delete_import(&self, name: &str) {
        let _ = self
            .api::<UserImport>()
            .delete(name, &DeleteParams::default())
            .await;
    }

    /// TenantUser writes counted by the proxy (create, update, patch, delete).
    pub fn user_writes(&self) -> u64 {
        self.proxy.counters().writes("tenantusers")
    }
}

impl Drop for Env {
    /// Deletes the test's namespace on the shared control plane (one of the test's own simply
    /// stops). A thread with its own runtime and client: the test's runtime may be shutting down
    /// already.
    fn drop(&mut self) {
        if self.own_plane.is_some() {
            return;
        }
        let (admin, namespace) = (self.admin_kubeconfig.clone(), self.namespace.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = Client::try_from(kube_config(&admin).await).ok()?;
                let namespaces: Api<Namespace> = Api::all(client);
                namespaces
                    .delete(&namespace, &DeleteParams::default())
                    .await
                    .ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// True when the status is a finished import of the current generation.
pub fn finished(import: &UserImport) -> bool {
    let Some(status) = &import.status else {
        return false;
    };
    matches!(
        status.phase,
        Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems)
    ) && status.observed_generation == import.metadata.generation
}

/// The condition `type_` of the import: (status, reason).
pub fn condition(import: &UserImport, type_: &str) -> Option<(String, String)> {
    import
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The spec of an import of `tenant` from the `template.csv` key of the ConfigMap `config_map`.
pub fn spec(tenant: &str, config_map: &str) -> UserImportSpec {
    UserImportSpec {
        tenant_ref: TenantRef {
            name: tenant.into(),
        },
        template: TemplateSource {
            config_map_key_ref: Some(KeyRef {
                name: config_map.into(),
                key: "template.csv".into(),
            }),
            secret_key_ref: None,
            ..Default::default()
        },
        mode: Default::default(),
        on_problem: Default::default(),
    }
}

/// A kube config from a kubeconfig's YAML.
pub async fn kube_config(yaml: &str) -> kube::Config {
    let config = kube::config::Kubeconfig::from_yaml(yaml).expect("a kubeconfig");
    let options = kube::config::KubeConfigOptions::default();
    kube::Config::from_custom_kubeconfig(config, &options)
        .await
        .expect("a usable kubeconfig")
}

/// The CRDs, applied as the chart would, and waited for.
async fn apply_crds(client: &Client) {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in [Tenant::crd(), TenantUser::crd(), UserImport::crd()] {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(
            &name,
            &PatchParams::apply("tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply a CRD");
    }
    wait_crds_established(client).await;
}

/// Waits until the API server serves the three CRDs (condition `Established`).
pub async fn wait_crds_established(client: &Client) {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    eventually("the CRDs established", || async {
        let mut established = 0;
        for crd in [Tenant::crd(), TenantUser::crd(), UserImport::crd()] {
            let name = crd.metadata.name.unwrap();
            let Ok(Some(current)) = crds.get_opt(&name).await else {
                return false;
            };
            let conditions = current
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                established += 1;
            }
        }
        established == 3
    })
    .await;
}

/// The controller running in-process for one namespace; stopped on drop of the handle.
pub struct InProcess {
    stop: Option<futures::channel::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    metrics: Metrics,
}

impl InProcess {
    /// Starts the controller for `env`'s namespace: 4 in flight, reports into the outbox.
    pub fn start(env: &Env) -> InProcess {
        let from = "user-import@acme.test".parse().unwrap();
        let mail = Some(MailSettings::outbox(&env.outbox, from));
        Self::start_with(
            env,
            Settings {
                concurrency: 4,
                mail,
                ..Settings::default()
            },
        )
    }

    /// Starts the controller for `env`'s namespace with these settings.
    pub fn start_with(env: &Env, settings: Settings) -> InProcess {
        let (stop, stopped) = futures::channel::oneshot::channel::<()>();
        let metrics = Metrics::default();
        let task = tokio::spawn(controller::run(
            env.client.clone(),
            Some(env.namespace.clone()),
            settings,
            metrics.clone(),
            || {},
            async move {
                let _ = stopped.await;
            },
        ));
        InProcess {
            stop: Some(stop),
            task,
            metrics,
        }
    }

    /// The controller's metrics (reconciles started, imports remembered, ...).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How many UserImports the controller remembers anything of.
    pub fn remembered(&self) -> i64 {
        self.metrics.remembered_imports.get()
    }

    /// Graceful stop: waits for reconciles in flight.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(WAIT, &mut self.task).await;
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real `user-import-operator run` binary, its log lines and its metrics address.
pub struct Binary {
    /// The process.
    pub child: Child,
    /// Where it serves /healthz, /readyz and /metrics.
    pub metrics: std::net::SocketAddr,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts `binary run` (the test's `env!("CARGO_BIN_EXE_user-import-operator")`) against
    /// `env`'s proxy with extra flags; waits for its metrics address.
    pub async fn start(env: &Env, binary: &str, extra: &[&str]) -> Binary {
        let mut child = Command::new(binary)
            .arg("run")
            .args([
                "--namespace",
                &env.namespace,
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .arg("--outbox")
            .arg(&env.outbox)
            .env("KUBECONFIG", &env.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the binary");
        let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel();
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("[operator] {line}");
                kept.lock().unwrap().push(line.clone());
                let _ = sender.send(line);
            }
        });
        let metrics = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.recv().await {
                if let Some(rest) = line.split("metrics listening on ").nth(1) {
                    // Text or JSON logs: the address is what follows, up to a quote or space.
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    return addr.parse().expect("an address");
                }
            }
            panic!("the binary exited before listening");
        })
        .await
        .expect("the binary logs its metrics address");
        Binary {
            child,
            metrics,
            lines,
            log,
        }
    }

    /// Every line logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a log line containing `text`.
    pub async fn wait_log(&mut self, text: &str) {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(text) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "log line {text:?}");
    }

    /// GET on the ops endpoint: (status code, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.metrics, path).await
    }

    /// The value of an unlabelled metric, e.g. `user_import_leader`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
    }

    /// SIGTERM, then waits for the exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY-free: `kill` through the shell utility keeps the tests free of libc.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("status")
    }

    /// SIGKILL: the crash case.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// One HTTP/1.1 GET of `path` at `addr` (hyper's client): the status and the body as text.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let request = hyper::Request::get(format!("http://{addr}{path}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("a valid request");
    let response = http_request(addr, request).await;
    let status = response.status().as_u16();
    (
        status,
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// Sends `request` to `addr` over one HTTP/1.1 connection; the response, with its whole body. hyper's
/// connection-level client sends the request as given, so the target is made origin-form
/// (`/path?query`) with a `Host` header, as HTTP/1.1 servers (Go's among them) require.
pub async fn http_request<B>(
    addr: std::net::SocketAddr,
    mut request: hyper::Request<B>,
) -> hyper::Response<Vec<u8>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt as _;
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .parse()
        .expect("an origin-form target");
    *request.uri_mut() = target;
    let host = addr.to_string().parse().expect("a Host header");
    request.headers_mut().entry("host").or_insert(host);
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 connection");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("an answer");
    let (head, body) = response.into_parts();
    let body = body.collect().await.expect("the body").to_bytes();
    hyper::Response::from_parts(head, body.to_vec())
}

/// Polls `check` every 100 ms until it holds; panics after `WAIT`.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(WAIT, what, check).await;
}

/// [`eventually`] with a wait of its own.
pub async fn eventually_within<F, Fut>(wait: Duration, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let result = tokio::time::timeout(wait, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "timed out waiting for {what}");
}

/// The repository's root folder (this crate is `crates/test-support` in it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example files of the repository.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("examples").join(name)).expect("an example file")
}

/// Makes `ring` rustls's crypto back-end, once per process: a workspace build may enable both
/// `ring` (kube) and `aws-lc-rs` (other crates' dependencies), and rustls then refuses to pick
/// one by itself.
pub fn install_crypto_provider() {
    user_import_operator::ops::install_crypto_provider();
}

/// A spawned task that is aborted when this is dropped: servers of a test (a site, a proxy)
/// go with the value that owns them.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
