//! The `UserImport` controller: kube-runtime's `Controller` around the pure core.
//!
//! - [`reconcile`]: one reconcile (resolve, read, plan, apply, report).
//! - [`template_source`]: the template's bytes from a ConfigMap or Secret.
//! - [`tenant_users`]: the tenant's users (one list) and the applies.
//! - [`status`], [`conditions`]: the status and its kstatus conditions.
//! - [`events`], [`metrics`]: what the controller tells.

pub mod conditions;
pub mod context;
pub mod error;
pub mod events;
pub mod metrics;
pub mod reconcile;
pub mod report_mail;
pub mod status;
pub mod template_source;
pub mod tenant_users;
mod watches;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};

pub use context::{Context, Settings};
pub use metrics::Metrics;

use crate::resources::{Tenant, UserImport};

/// Which namespace to watch (`None`: all of them).
fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Runs the controller until `shutdown` resolves. `on_synced` is called once the UserImport
/// cache has its first full list (the readiness probe waits for it).
pub async fn run(
    client: Client,
    namespace: Option<String>,
    settings: Settings,
    metrics: Metrics,
    on_synced: impl FnOnce() + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let namespace = namespace.as_deref();
    let reporter = Reporter {
        controller: "user-import-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let context = Arc::new(Context::new(client.clone(), recorder, metrics, settings));
    let controller = Controller::new(
        api::<UserImport>(&client, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    let synced = store.clone();
    tokio::spawn(async move {
        // The store's readiness is a oneshot that wakes only its last poller, and the
        // controller's own runner polls it too: re-poll on a short timer rather than wait for
        // a wake-up that may never come to us.
        loop {
            let wait = tokio::time::timeout(Duration::from_millis(50), synced.wait_until_ready());
            if let Ok(result) = wait.await {
                if result.is_ok() {
                    on_synced();
                }
                return;
            }
        }
    });
    let (by_config_map, by_secret, by_tenant) = (store.clone(), store.clone(), store);
    controller
        .watches(
            api::<ConfigMap>(&client, namespace),
            watcher::Config::default(),
            move |cm| watches::imports_of_config_map(&by_config_map, &cm),
        )
        .watches(
            api::<Secret>(&client, namespace),
            watcher::Config::default(),
            move |secret| watches::imports_of_secret(&by_secret, &secret),
        )
        .watches(
            api::<Tenant>(&client, namespace),
            watcher::Config::default(),
            move |tenant| watches::imports_of_tenant(&by_tenant, &tenant),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile ended in an error");
            }
        })
        .await;
}
