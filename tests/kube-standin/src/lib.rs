//! kube-standin: a Kubernetes API server stand-in for tests (plain HTTP on 127.0.0.1).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kube_standin::{Options, Server, load_crds, repo_crds_dir};
//! let server = Server::start(Options { crds: load_crds(repo_crds_dir())?, ..Options::default() }).await?;
//! let client: kube::Client = server.client();
//! # let _ = client;
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod apply;
mod crds;
mod discovery;
mod errors;
mod faults;
mod http;
mod kubeconfig;
mod openapi;
mod ops;
mod patch;
mod protobuf;
mod regexes;
mod resources;
mod schema;
mod selectors;
mod state;
mod store;
mod table;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crds::{load_crds, repo_crds_dir};
pub use faults::{Counters, Fault, Matcher};

use crate::ops::{Params, Target};
use crate::resources::Registry;
use crate::state::AppState;

/// How to start a [`Server`].
#[derive(Debug, Clone)]
pub struct Options {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// CRDs served from the start (also stored as `customresourcedefinitions`).
    pub crds: Vec<CustomResourceDefinition>,
    /// Namespaces that exist from the start.
    pub namespaces: Vec<String>,
    /// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches to resume from; older versions get 410 Gone.
    pub history_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            crds: vec![],
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(String::from)
                .to_vec(),
            bookmark_interval: Duration::from_secs(1),
            history_limit: 10_000,
        }
    }
}

/// A running stand-in. Dropping it stops serving (abruptly); prefer [`Server::shutdown`].
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1:`port`, loads the CRDs and namespaces, and serves on the current runtime.
    pub async fn start(options: Options) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState::new(
            Registry::with_builtins(),
            options.history_limit.max(1),
            options.bookmark_interval,
            addr,
        ));
        for ns in &options.namespaces {
            ops::ensure_namespace(&state, ns)
                .map_err(|e| anyhow::anyhow!("namespace {ns}: {}", e.message))?;
        }
        let crd_type = state
            .registry()
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .cloned()
            .expect("built in");
        for crd in &options.crds {
            let t = Target {
                rt: crd_type.clone(),
                namespace: None,
                name: None,
                subresource: None,
            };
            let body = serde_json::to_vec(crd)?;
            ops::create(
                &state,
                &t,
                &body,
                "application/json",
                &Params::new(),
                "kube-standin",
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "CRD {}: {}",
                    crd.metadata.name.clone().unwrap_or_default(),
                    e.message
                )
            })?;
        }
        let app = http::router(state.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        Ok(Server {
            addr,
            state,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube config for this server (default namespace `default`).
    pub fn kube_config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("valid url"));
        config.default_namespace = "default".into();
        config.read_timeout = Some(Duration::from_secs(300));
        config
    }

    /// A client for this server.
    pub fn client(&self) -> kube::Client {
        install_crypto_provider();
        kube::Client::try_from(self.kube_config()).expect("a client for a plain HTTP server")
    }

    /// The kubeconfig YAML pointing at this server.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::render(&self.url())
    }

    /// Writes the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        self.state.faults.counters()
    }

    pub fn reset_counters(&self) {
        self.state.faults.reset_counters()
    }

    /// The next `n` requests matching `matcher` fail with `fault` (they are still counted).
    pub fn fail_next(&self, n: usize, matcher: Matcher, fault: Fault) {
        self.state.faults.fail_next(n, matcher, fault)
    }

    /// Delays every request (`None`: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.state
            .faults
            .set_delay(delay.map(|d| (Matcher::any(), d)))
    }

    /// Delays the requests that match.
    pub fn set_delay_for(&self, matcher: Matcher, delay: Duration) {
        self.state.faults.set_delay(Some((matcher, delay)))
    }

    /// Removes pending faults and the delay.
    pub fn clear_faults(&self) {
        self.state.faults.clear()
    }

    /// Ends every open watch stream (clients see the stream close and re-watch).
    pub fn drop_watches(&self) {
        self.state.watch_epoch.send_modify(|e| *e += 1);
    }

    /// Forgets the change history: watches from any older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.state.store().compact()
    }

    /// The latest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.state.store().current_rv()
    }

    /// Reads a stored object as JSON, bypassing HTTP (not counted). `group` is "" for core.
    pub fn object(
        &self,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let key = store::ObjKey {
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        self.state.store().get(&key).cloned()
    }

    /// Creates a namespace (no-op when it exists), bypassing HTTP.
    pub fn ensure_namespace(&self, name: &str) -> anyhow::Result<()> {
        ops::ensure_namespace(&self.state, name)
            .map_err(|e| anyhow::anyhow!("{}", json!(e.to_status())))
    }

    /// Stops accepting, ends watches, and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        self.drop_watches();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.drop_watches();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Makes `ring` rustls's crypto back-end. A workspace build may enable both `ring` (kube) and
/// `aws-lc-rs` (other crates' dev-dependencies), and rustls then refuses to pick one by itself.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
