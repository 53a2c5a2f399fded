//! The `UserImport` controller: kube-runtime's `Controller` around the pure core.
//!
//! - [`reconcile`]: one reconcile (resolve, read, plan, apply, report) of a [`subject`], the
//!   import being reconciled.
//! - [`read`]: the one read path of an import (its names, Tenant, template and users, then
//!   the plan), which `kubectl user-import plan` shares.
//! - [`references`]: the names a spec refers to, checked before any request uses them.
//! - [`template_source`]: the template from a ConfigMap or Secret (plain or gzip), a Flux
//!   source's artifact ([`flux`]) or an HTTPS URL, downloaded by [`download`].
//! - [`tenant_users`]: the tenant's users (one list) and the applies.
//! - [`status`], [`conditions`]: the status and its kstatus conditions; [`reasons`]: their names.
//! - [`watches`]: the ConfigMaps, Secrets and Flux sources watched as metadata only, and a
//!   change mapped to the imports that use it.
//! - [`events`], [`metrics`]: what the controller tells.
//! - [`guard`]: a panic in one reconcile fails that import, not the operator.

pub(crate) mod conditions;
pub(crate) mod context;
pub(crate) mod download;
pub mod error;
pub(crate) mod events;
pub mod flux;
pub(crate) mod guard;
pub(crate) mod metrics;
pub(crate) mod read;
pub(crate) mod reasons;
pub mod reconcile;
pub(crate) mod references;
pub(crate) mod report_delivery;
pub(crate) mod status;
pub(crate) mod status_owner;
pub(crate) mod subject;
pub(crate) mod template_source;
pub mod tenant_users;
mod watches;

// The controller's helper tasks (the Flux watch, the sweep) end with the run that owns them.
pub(crate) use crate::task::AbortOnDrop;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};

pub use context::{Context, Settings};
pub use metrics::Metrics;

use user_import_resources::{Tenant, UserImport};

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
    run_with(
        reconcile::reconcile,
        client,
        namespace,
        settings,
        metrics,
        on_synced,
        shutdown,
    )
    .await;
}

/// [`run`] with another reconcile function in place of [`reconcile::reconcile`].
///
/// This is an injectable failure point, and it exists for one test: proving that a panicking
/// reconcile is contained needs a reconcile that panics, and the one known input that made the
/// real one panic (a line break in a Tenant's administrator name) is being made harmless.
#[doc(hidden)]
pub async fn run_with<R, F>(
    reconcile: R,
    client: Client,
    namespace: Option<String>,
    settings: Settings,
    metrics: Metrics,
    on_synced: impl FnOnce() + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) where
    R: Fn(Arc<UserImport>, Arc<Context>) -> F + Send + Sync + 'static,
    F: Future<Output = error::Result<Action>> + Send + 'static,
{
    let reconcile = Arc::new(reconcile);
    let shutdown = shutdown.boxed().shared();
    let on_synced: OnSynced = Arc::new(Mutex::new(Some(Box::new(on_synced))));
    loop {
        let run = run_once(
            reconcile.clone(),
            client.clone(),
            namespace.clone(),
            settings.clone(),
            metrics.clone(),
            on_synced.clone(),
            shutdown.clone(),
        );
        // In a task of its own, so that a panic in it is a `JoinError` here rather than the
        // end of the caller (the process's main task). A reconcile's own panic never gets
        // here (see `guard`); this is the net under kube-runtime and the watch mappers.
        let mut task = AbortOnDrop(tokio::spawn(run));
        match (&mut task.0).await {
            Ok(()) => return,
            Err(error) if error.is_panic() => {
                metrics.controller_restarts.inc();
                tracing::error!(%error, "the controller panicked; starting it again");
            }
            Err(_) => return,
        }
        tokio::select! {
            () = shutdown.clone() => return,
            () = tokio::time::sleep(RESTART_DELAY) => {}
        }
    }
}

/// How long to wait before starting the controller again after it panicked.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Forgets, every `settings.sweep`, the UserImports deleted since (see [`Context::sweep`]).
/// A reconcile that sees its import deleted forgets it at once; this catches the rest, such as
/// an import deleted while no reconcile of it was due.
async fn sweep_forgotten(ctx: Arc<Context>) {
    // Before the first list the cache is empty, and a sweep would forget every import.
    // Re-polled on a short timer, like the readiness callback: the store wakes only its last
    // poller.
    loop {
        match tokio::time::timeout(Duration::from_millis(50), ctx.imports.wait_until_ready()).await
        {
            Ok(Ok(())) => break,
            // The controller's watch ended: so does this run, and its Context with it.
            Ok(Err(_)) => return,
            Err(_) => {}
        }
    }
    let mut every = tokio::time::interval(ctx.settings.sweep);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let forgotten = ctx.sweep();
        if forgotten > 0 {
            tracing::debug!(forgotten, "forgot deleted UserImports");
        }
    }
}

/// The readiness callback, called on the first full list of the first run only.
type OnSynced = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// One run of the kube-runtime `Controller`, until `shutdown` resolves.
async fn run_once<R, F>(
    reconcile: Arc<R>,
    client: Client,
    namespace: Option<String>,
    settings: Settings,
    metrics: Metrics,
    on_synced: OnSynced,
    shutdown: Shared<BoxFuture<'static, ()>>,
) where
    R: Fn(Arc<UserImport>, Arc<Context>) -> F + Send + Sync + 'static,
    F: Future<Output = error::Result<Action>> + Send + 'static,
{
    let namespace = namespace.as_deref();
    let reporter = Reporter {
        controller: "user-import-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let controller = Controller::new(
        api::<UserImport>(&client, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    let context = Context::new(client.clone(), store.clone(), recorder, metrics, settings);
    let context = Arc::new(context);
    let synced = store.clone();
    tokio::spawn(async move {
        // The store's readiness is a oneshot that wakes only its last poller, and the
        // controller's own runner polls it too: re-poll on a short timer rather than wait for
        // a wake-up that may never come to us.
        loop {
            let wait = tokio::time::timeout(Duration::from_millis(50), synced.wait_until_ready());
            if let Ok(result) = wait.await {
                let on_synced = on_synced.lock().ok().and_then(|mut once| once.take());
                if let (Ok(()), Some(on_synced)) = (result, on_synced) {
                    on_synced();
                }
                return;
            }
        }
    });
    let (by_config_map, by_secret, by_tenant) = (store.clone(), store.clone(), store.clone());
    // ConfigMaps and Secrets as metadata only: in cluster-wide mode these are every one of
    // the cluster, and only the few that imports name are read, each with a GET (see
    // `watches`).
    let config_maps = watches::template_objects(
        api::<PartialObjectMeta<ConfigMap>>(&client, namespace),
        watches::ObjectKind::ConfigMap,
        store.clone(),
        context.template_objects.clone(),
        watches::names_config_map,
    );
    let secrets = watches::template_objects(
        api::<PartialObjectMeta<Secret>>(&client, namespace),
        watches::ObjectKind::Secret,
        store.clone(),
        context.template_objects.clone(),
        watches::names_secret,
    );
    // The Flux source kinds are watched once the API server serves them (Flux may come later,
    // or never): their changes arrive as reconcile requests on this channel.
    let (flux_triggers, flux_requests) = futures::channel::mpsc::unbounded();
    let _flux_watch = context.settings.flux_sources.then(|| {
        let watch = flux::watch_sources(
            client.clone(),
            namespace.map(str::to_string),
            store,
            flux_triggers,
            context.settings.flux_discovery,
        );
        AbortOnDrop(tokio::spawn(watch))
    });
    // What the controller remembers of an import is dropped once the import is gone.
    let _sweep = AbortOnDrop(tokio::spawn(sweep_forgotten(context.clone())));
    let guarded = move |import: Arc<UserImport>, ctx: Arc<Context>| {
        let reconcile = reconcile(import.clone(), ctx.clone());
        guard::contained(import, ctx, reconcile)
    };
    controller
        .watches_stream(config_maps, move |config_map| {
            watches::imports_naming(&by_config_map, &config_map, watches::names_config_map)
        })
        .watches_stream(secrets, move |secret| {
            watches::imports_naming(&by_secret, &secret, watches::names_secret)
        })
        .watches(
            api::<Tenant>(&client, namespace),
            watcher::Config::default(),
            move |tenant| watches::imports_of_tenant(&by_tenant, &tenant),
        )
        .reconcile_on(flux_requests)
        .graceful_shutdown_on(shutdown)
        .run(guarded, reconcile::error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile ended in an error");
            }
        })
        .await;
}
