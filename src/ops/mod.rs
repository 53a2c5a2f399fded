//! `user-import-operator run`: the process around the controller — flags, logging, the
//! operations endpoint, leader election and graceful shutdown.

mod http;
mod leader;
mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use kube::Client;
use prometheus_client::registry::Registry;

use crate::controller::{self, Metrics, Settings};
use crate::mail::MailArgs;
use crate::policy::TemplateHosts;
use http::Health;
use leader::{Election, LeaseSettings};
use shutdown::Shutdown;
use user_import_engine::template::TemplateLimits;

/// Options of `run`. Each has an environment variable, `USER_IMPORT_` and its name, for a
/// Deployment's `env` (`tests/flags.rs` holds `docs/cluster.md`'s table to them).
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Watch UserImports in this namespace only (default: all namespaces).
    #[arg(long, env = "USER_IMPORT_NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// Address of /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(long, env = "USER_IMPORT_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub(crate) metrics_addr: SocketAddr,
    /// TenantUser writes in flight at once per import.
    #[arg(long, env = "USER_IMPORT_CONCURRENCY", default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// Elect a leader through a Lease (default: on inside a pod, off elsewhere).
    #[arg(long, env = "USER_IMPORT_LEADER_ELECTION")]
    pub(crate) leader_election: Option<bool>,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "USER_IMPORT_LEASE_NAME",
        default_value = "user-import-operator"
    )]
    pub(crate) lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "USER_IMPORT_LEASE_NAMESPACE")]
    pub(crate) lease_namespace: Option<String>,
    /// Seconds a Lease holds without renewal (a standby takes over after this).
    #[arg(long, env = "USER_IMPORT_LEASE_DURATION", default_value_t = 15)]
    pub(crate) lease_duration: u64,
    /// Log format.
    #[arg(long, env = "USER_IMPORT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Largest template accepted, in bytes.
    #[arg(long, env = "USER_IMPORT_MAX_TEMPLATE_BYTES", default_value_t = TemplateLimits::default().max_bytes)]
    pub(crate) max_template_bytes: usize,
    /// Most user rows accepted in a template.
    #[arg(long, env = "USER_IMPORT_MAX_ROWS", default_value_t = TemplateLimits::default().max_rows)]
    pub(crate) max_rows: usize,
    /// Longest cell accepted, in characters.
    #[arg(long, env = "USER_IMPORT_MAX_CELL_CHARS", default_value_t = TemplateLimits::default().max_cell_chars)]
    pub(crate) max_cell_chars: usize,
    /// Read templates from Flux sources (`spec.template.sourceRef`), and watch the Flux source
    /// kinds the API server serves. Needs read access to them (the chart grants it with
    /// `fluxSources.enabled`); off, a UserImport with a `sourceRef` stalls and no request
    /// about Flux is made.
    #[arg(long, env = "USER_IMPORT_FLUX_SOURCES", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) flux_sources: bool,
    /// Most bytes of a Flux artifact read (compressed and decompressed alike).
    #[arg(long, env = "USER_IMPORT_MAX_ARCHIVE_BYTES", default_value_t = user_import_engine::archive::ArchiveLimits::default().max_archive_bytes)]
    pub(crate) max_archive_bytes: u64,
    /// Hosts spec.template.url may name, comma-separated: files.acme.test (exactly), or
    /// *.acme.test (its subdomains). Empty: any host. Loopback and link-local addresses and the
    /// cluster's API server are refused unless a host is named exactly.
    #[arg(long, env = "USER_IMPORT_ALLOWED_TEMPLATE_HOSTS", value_name = "HOSTS")]
    pub(crate) allowed_template_hosts: Option<TemplateHosts>,
    /// Where error reports are mailed (a Tenant's `smtpSecretRef` overrides it).
    #[command(flatten)]
    pub(crate) mail: MailArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Json,
    Text,
}

impl RunArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mail = self.mail.settings().context("mail settings")?;
        Ok(Settings {
            concurrency: self.concurrency.max(1),
            limits: TemplateLimits {
                max_bytes: self.max_template_bytes,
                max_rows: self.max_rows,
                max_cell_chars: self.max_cell_chars,
            },
            mail: Some(mail),
            flux_sources: self.flux_sources,
            max_archive_bytes: self.max_archive_bytes,
            recipient_domains: self.mail.recipient_domains(),
            template_hosts: self.allowed_template_hosts.clone().unwrap_or_default(),
            ..Settings::default()
        })
    }

    fn leader_election(&self) -> bool {
        // In a pod the service-account environment is always set.
        self.leader_election
            .unwrap_or_else(|| std::env::var_os("KUBERNETES_SERVICE_HOST").is_some())
    }

    fn lease_settings(&self) -> LeaseSettings {
        let pod_namespace = std::env::var("POD_NAMESPACE").ok();
        LeaseSettings {
            name: self.lease_name.clone(),
            namespace: self
                .lease_namespace
                .clone()
                .or(pod_namespace)
                .unwrap_or_else(|| "default".to_string()),
            identity: identity(),
            duration: self.lease_duration.max(2),
        }
    }
}

/// The pod name when set, else the host name, with the process id: unique per instance.
fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "user-import-operator".to_string());
    format!("{host}-{}", std::process::id())
}

/// Runs the operator until SIGTERM or ctrl-c.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    for warning in MailArgs::retired_variable_warnings() {
        tracing::warn!("{warning}");
    }
    install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run_async(args))
}

/// Makes `ring` rustls's crypto back-end. kube and lettre ask for `ring`, but a test build also
/// enables `aws-lc-rs` (through the SMTP test server), and rustls then refuses to pick one.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a pod's log collector would store the escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run_async(args: RunArgs) -> anyhow::Result<()> {
    // Bad mail settings stop the start-up, not the first report.
    let mut settings = args.settings()?;
    if let Some(mail) = settings.mail.as_ref().filter(|mail| mail.is_plain_text()) {
        tracing::warn!(relay = %mail, "the SMTP relay is reached without TLS (tls=none): reports cross the network in clear; use it only for a relay on the same host or node");
    }
    let shutdown = Shutdown::on_signals();
    let config = kube::Config::infer()
        .await
        .context("connecting to Kubernetes (in-cluster or KUBECONFIG)")?;
    // Templates are never downloaded from the API server this client uses (unless named).
    settings.template_hosts = with_api_server(settings.template_hosts, &config.cluster_url).await;
    let client =
        Client::try_from(config).context("connecting to Kubernetes (in-cluster or KUBECONFIG)")?;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let health = Health::new(registry);
    let (listener, bound) = http::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding {}", args.metrics_addr))?;
    // One line that tests and people can look for.
    tracing::info!("metrics listening on {bound}");
    let server = tokio::spawn(http::serve(
        listener,
        health.clone(),
        shutdown.clone().requested(),
    ));
    let result = if args.leader_election() {
        run_elected(client, &args, settings, metrics, health, shutdown).await
    } else {
        metrics.leader.set(1);
        run_controller(
            client,
            &args,
            settings,
            metrics,
            health,
            shutdown.as_sync_future(),
        )
        .await;
        Ok(())
    };
    // The server stops on the same signal; after a lost lease, stop it here.
    server.abort();
    tracing::info!("stopped");
    result
}

/// `hosts` with the API server at `url`: its host, the addresses that host resolves to now,
/// and in a pod the address of the `kubernetes` Service (`KUBERNETES_SERVICE_HOST`).
async fn with_api_server(hosts: TemplateHosts, url: &hyper::Uri) -> TemplateHosts {
    let host = url.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_u16().unwrap_or(443);
    let mut addresses: Vec<std::net::IpAddr> = match tokio::net::lookup_host((bare, port)).await {
        Ok(resolved) => resolved.map(|address| address.ip()).collect(),
        Err(error) => {
            tracing::warn!(%host, %error, "the API server's host did not resolve: its name is refused as a template host, its addresses are not known");
            Vec::new()
        }
    };
    let service = std::env::var("KUBERNETES_SERVICE_HOST").ok();
    addresses.extend(service.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()));
    hosts.with_api_server(host, addresses)
}

/// Stands by until this instance holds the Lease, then runs the controller while it does.
async fn run_elected(
    client: Client,
    args: &RunArgs,
    settings: Settings,
    metrics: Metrics,
    health: Arc<Health>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let lease = args.lease_settings();
    let mut election = leader::campaign(client.clone(), &lease)
        .await
        .context("starting leader election")?;
    tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "standing by for the lease");
    // A standby is healthy and ready: it has nothing to sync.
    health.set_ready(true);
    tokio::select! {
        leading = election.until_leading() => {
            if !leading {
                anyhow::bail!("leader election ended");
            }
        }
        () = shutdown.clone().requested() => {
            election.resign().await;
            return Ok(());
        }
    }
    tracing::info!(identity = %lease.identity, "became leader");
    health.set_ready(false);
    metrics.leader.set(1);
    let lost = Election::until_lost(election.leading.clone());
    let (stop_sender, stop) = futures::channel::oneshot::channel::<()>();
    let watch_lost = tokio::spawn(async move {
        lost.await;
        let _ = stop_sender.send(());
    });
    let stop_on = shutdown.as_sync_future();
    let trigger = async move {
        futures::future::select(Box::pin(stop_on), stop).await;
    };
    run_controller(client, args, settings, metrics.clone(), health, trigger).await;
    metrics.leader.set(0);
    let lost_lease = watch_lost.is_finished() && !*election.leading.borrow();
    watch_lost.abort();
    election.resign().await;
    if lost_lease {
        // Another instance may lead now: exit, and let the pod restart as a standby.
        anyhow::bail!("lost the leader-election lease");
    }
    Ok(())
}

async fn run_controller(
    client: Client,
    args: &RunArgs,
    settings: Settings,
    metrics: Metrics,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let synced = health.clone();
    let on_synced = move || {
        tracing::info!("caches synced");
        synced.set_ready(true);
    };
    tracing::info!(namespace = ?args.namespace, "controller starting");
    controller::run(
        client,
        args.namespace.clone(),
        settings,
        metrics,
        on_synced,
        shutdown,
    )
    .await;
    // Give in-flight status writes a moment to be acknowledged before the process exits.
    tokio::time::sleep(Duration::from_millis(50)).await;
}
