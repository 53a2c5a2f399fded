//! The operator end to end on a real kube-apiserver and etcd (scripts/control-plane), from each
//! kind of template source that holds a large template, anchored against the API server itself
//! in the same run.
//!
//! For each size N (default 10,000; `cargo bench --bench scale -- 100000`):
//! 1. For each source (a gzip-compressed ConfigMap `binaryData`, an HTTPS URL, a file in a Flux
//!    GitRepository's artifact):
//!    - **bare writes** (the baseline), right before the import: server-side apply of the
//!      TenantUser objects the import will write (9 in 10 of the template's rows; 1 in 10 is a
//!      problem row) into a namespace of their own, at the operator's concurrency (8 in flight),
//!      with the same client and field manager, no planning and no status: how fast this API
//!      server takes these writes at that moment;
//!    - the real `user-import-operator run` binary (release build) imports the template into an
//!      empty tenant of its own. Time from the create until the status is finished for the
//!      generation, and the ratio to the bare writes just before. Then the operator restarts:
//!      the same import again writes nothing and mails nothing.
//! 2. A tenant of N existing users (written bare first), into which each source in turn imports
//!    a template of N rows that matches every user and changes every other one; right after
//!    each import, the bare writes of the same number of changes to the same users (the
//!    baseline of updates), and the ratio.
//!
//! The baseline is timed next to each import, not once per run: on a shared machine the load
//! changes over the hour that 100,000 rows take, and a ratio is only fair between neighbours.
//!
//! Counted from the API server's audit log (the operator's requests only): TenantUser writes
//! (must equal New + changed rows), TenantUser reads (list pages only, no GET); and the operator's
//! peak memory (VmHWM), which must stay under 400 MB.
//!
//! Not a criterion bench: one import per case is the measurement, and the counts are asserted.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use serde_json::{Value, json};

mod support;

use support::{HEADER, synthetic_user};
use user_import_operator::controller::tenant_users::{self, FIELD_MANAGER};
use user_import_resources::{
    FluxSourceKind, ImportPhase, KeyRef, SecretName, TENANT_LABEL, TemplateSource, Tenant,
    TenantRef, TenantUser, UrlSource, UserImport, UserImportSpec,
};
use user_import_test_support::sites::{Flux, Site, flux_template, tarball};
use user_import_test_support::{AuditLog, ControlPlane, E2E_KUBECONFIG, TestPki};

const TENANT: &str = "acme";
/// The operator's default number of TenantUser writes in flight.
const CONCURRENCY: usize = 8;
const WAIT: Duration = Duration::from_secs(3600);
/// The operator's peak memory must stay under this (MB), at 100,000 users too.
const MEMORY_LIMIT_MB: f64 = 400.0;

/// Where a case's template comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// A gzip-compressed template in a ConfigMap's `binaryData`.
    GzipConfigMap,
    /// An HTTPS URL, with the CA bundle in a Secret.
    Url,
    /// A file in a Flux GitRepository's artifact (a tar.gz served over HTTP).
    Flux,
}

impl Source {
    const ALL: [Source; 3] = [Source::GzipConfigMap, Source::Url, Source::Flux];

    fn label(self) -> &'static str {
        match self {
            Source::GzipConfigMap => "gzip",
            Source::Url => "url",
            Source::Flux => "flux",
        }
    }
}

/// A template of `rows` rows, row `i` written by `line(i)`.
fn csv(rows: usize, line: impl Fn(usize) -> String) -> String {
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str(HEADER);
    for i in 0..rows {
        csv.push_str(&line(i));
    }
    csv
}

/// A template of `rows` rows, all new users, every tenth row a problem (an invalid email).
fn template(rows: usize) -> String {
    csv(rows, |i| {
        if i % 10 == 9 {
            format!("Cy,Ray{i},bad{i} at acme.test,bad{i},{i},Active,,,Eng\n")
        } else {
            format!("Bo,Ko{i},new{i}@acme.test,new{i},{i},Active,Engineer,Oslo,Eng\n")
        }
    })
}

/// A template of `rows` rows matching the `rows` existing users one to one: even rows as the
/// users are, odd rows with another title and city (`Lead{round}`, so that each round changes
/// them again).
fn existing_template(rows: usize, round: usize) -> String {
    csv(rows, |i| {
        let (title, city) = if i % 2 == 0 {
            ("Analyst".to_string(), "Boston")
        } else {
            (format!("Lead{round}"), "Austin")
        };
        format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,{title},{city},Ops\n")
    })
}

/// The users of `existing_template(rows, round)`'s changed (odd) rows, changed once more as bare
/// writes would change them: another title and city, so that the next round changes them again.
fn bare_changes(rows: usize, round: usize) -> Vec<TenantUser> {
    (0..rows)
        .filter(|i| i % 2 == 1)
        .map(|i| {
            let mut user = synthetic_user(TENANT, i, true);
            user.spec.title = Some(format!("Bare{round}"));
            user.spec.city = Some("Boston".into());
            tenant_user(&user.name, user.spec)
        })
        .collect()
}

/// The TenantUser objects the import of `template(rows)` writes: the baseline's payload.
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

fn tenant_user(name: &str, spec: user_import_resources::TenantUserSpec) -> TenantUser {
    let mut user = TenantUser::new(name, spec);
    user.metadata.labels = Some([(TENANT_LABEL.to_string(), TENANT.to_string())].into());
    user
}

/// Server-side applies `users` into `namespace`, `CONCURRENCY` in flight; returns the time.
async fn apply_users(client: &Client, namespace: &str, users: Vec<TenantUser>) -> Duration {
    apply_users_with(client, namespace, users, CONCURRENCY).await
}

/// [`apply_users`], `concurrency` in flight.
async fn apply_users_with(
    client: &Client,
    namespace: &str,
    users: Vec<TenantUser>,
    concurrency: usize,
) -> Duration {
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
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await
        .expect("bare server-side apply");
    start.elapsed()
}

struct Cluster {
    /// The control plane this run started; None when it runs against one started by hand
    /// (`USER_IMPORT_E2E_KUBECONFIG` and `USER_IMPORT_CONTROL_PLANE_AUDIT_LOG`).
    _plane: Option<ControlPlane>,
    /// Its admin kubeconfig.
    kubeconfig: PathBuf,
    /// Its audit log: every request's metadata.
    audit: AuditLog,
    /// The operator measured: the release build, or `USER_IMPORT_BENCH_OPERATOR`.
    operator_bin: PathBuf,
    client: Client,
    dir: tempfile::TempDir,
    /// Serves Flux artifacts over plain HTTP, as source-controller does inside a cluster.
    artifacts: Site,
    /// Serves the URL source's files over HTTPS, with a certificate of `pki`'s CA.
    files: Site,
    pki: TestPki,
}

/// What one import took and did.
struct Measured {
    took: Duration,
    import: UserImport,
    /// TenantUser requests by verb, from the audit log.
    requests: BTreeMap<String, u64>,
    peak_mb: f64,
    /// When the sampled resident memory was highest (seconds from the create), and how high.
    highest: (f64, f64),
}

impl Measured {
    fn count(&self, verb: &str) -> u64 {
        self.requests.get(verb).copied().unwrap_or(0)
    }

    /// Exactly `writes` TenantUser writes, no GET, and memory under the limit.
    fn assert_within(&self, writes: usize, what: &str) {
        assert_eq!(self.count("patch") as usize, writes, "{what}");
        assert_eq!(self.count("get"), 0, "no GET per row");
        assert!(self.peak_mb < MEMORY_LIMIT_MB, "peak {} MB", self.peak_mb);
    }

    fn summary(&self) -> String {
        format!(
            "{:.2} s to Ready, {} TenantUser writes, {} list page(s), {} GET(s), peak {:.0} MB (sampled: {:.0} MB at {:.1} s); counts {}",
            self.took.as_secs_f64(),
            self.count("patch"),
            self.count("list"),
            self.count("get"),
            self.peak_mb,
            self.highest.1,
            self.highest.0,
            counts(&self.import)
        )
    }
}

impl Cluster {
    async fn start() -> Cluster {
        user_import_operator::ops::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let shared = (
            std::env::var_os(E2E_KUBECONFIG),
            std::env::var_os("USER_IMPORT_CONTROL_PLANE_AUDIT_LOG"),
        );
        let (plane, kubeconfig_path, audit) = match shared {
            (Some(kubeconfig), Some(audit_log)) => {
                let audit = AuditLog {
                    path: audit_log.into(),
                };
                (None, PathBuf::from(kubeconfig), audit)
            }
            _ => {
                let plane = tokio::task::spawn_blocking(move || ControlPlane::start(&path, true))
                    .await
                    .unwrap();
                let (kubeconfig, audit) = (plane.kubeconfig.clone(), plane.audit());
                (Some(plane), kubeconfig, audit)
            }
        };
        let operator_bin = std::env::var_os("USER_IMPORT_BENCH_OPERATOR").map_or_else(
            || env!("CARGO_BIN_EXE_user-import-operator").into(),
            Into::into,
        );
        let kubeconfig = kube::config::Kubeconfig::read_from(&kubeconfig_path).unwrap();
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
        // Served once established: wait until each kind can be listed.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Api::<UserImport>::all(client.clone())
            .list(&Default::default())
            .await
            .is_err()
            || Api::<TenantUser>::all(client.clone())
                .list(&Default::default())
                .await
                .is_err()
            || Api::<Tenant>::all(client.clone())
                .list(&Default::default())
                .await
                .is_err()
        {
            assert!(Instant::now() < deadline, "the CRDs are not served");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Flux's source kinds, before any operator starts, so that its discovery finds them.
        Flux::install(&client, "default").await;
        let pki = TestPki::new();
        Cluster {
            artifacts: Site::http().await,
            files: Site::https(&pki).await,
            pki,
            _plane: plane,
            kubeconfig: kubeconfig_path,
            audit,
            operator_bin,
            client,
            dir,
        }
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

    async fn tenant(&self, namespace: &str) {
        let tenants: Api<Tenant> = Api::namespaced(self.client.clone(), namespace);
        let tenant = support::tenant(TENANT);
        tenants
            .create(&PostParams::default(), &tenant)
            .await
            .unwrap();
    }

    /// Puts `csv` where `source` takes it from, under `name`, and returns the UserImport's
    /// template source.
    async fn publish(
        &self,
        namespace: &str,
        source: Source,
        name: &str,
        csv: &str,
    ) -> TemplateSource {
        match source {
            Source::GzipConfigMap => {
                let packed = user_import_test_support::sites::gzip_best(csv.as_bytes());
                println!(
                    "  ({name}: {:.1} MB of CSV, {:.2} MB gzip-compressed in binaryData)",
                    csv.len() as f64 / 1e6,
                    packed.len() as f64 / 1e6
                );
                let config_map = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        ..ObjectMeta::default()
                    },
                    binary_data: Some([("template.csv.gz".to_string(), ByteString(packed))].into()),
                    ..ConfigMap::default()
                };
                Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
                    .create(&PostParams::default(), &config_map)
                    .await
                    .expect("the gzip-compressed template fits in a ConfigMap");
                TemplateSource {
                    config_map_key_ref: Some(KeyRef {
                        name: name.into(),
                        key: "template.csv.gz".into(),
                    }),
                    ..TemplateSource::default()
                }
            }
            Source::Url => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some("template-ca".into()),
                        ..ObjectMeta::default()
                    },
                    data: Some(
                        [(
                            "ca.crt".to_string(),
                            ByteString(self.pki.ca_pem.as_bytes().to_vec()),
                        )]
                        .into(),
                    ),
                    ..Secret::default()
                };
                Api::<Secret>::namespaced(self.client.clone(), namespace)
                    .patch(
                        "template-ca",
                        &PatchParams::apply("bench").force(),
                        &Patch::Apply(&secret),
                    )
                    .await
                    .unwrap();
                let url = self
                    .files
                    .put(&format!("/{namespace}/{name}.csv"), csv.as_bytes());
                TemplateSource {
                    url: Some(UrlSource {
                        url,
                        digest: None,
                        secret_ref: Some(SecretName {
                            name: "template-ca".into(),
                        }),
                        interval: "1h".into(),
                    }),
                    ..TemplateSource::default()
                }
            }
            Source::Flux => {
                let flux = Flux::install(&self.client, namespace).await;
                let kind = FluxSourceKind::GitRepository;
                let artifact = tarball(&[("imports/users.csv", csv.as_bytes())]);
                flux.source_with_artifact(&self.artifacts, kind, name, &artifact, "main@sha1:1")
                    .await;
                flux_template(kind, name, "imports/users.csv")
            }
        }
    }

    /// The release binary of the operator for `namespace`, its reports into `outbox`.
    fn operator(&self, namespace: &str, outbox: &Path) -> Child {
        Command::new(&self.operator_bin)
            .args([
                "run",
                "--namespace",
                namespace,
                "--leader-election",
                "false",
            ])
            // The template site is on 127.0.0.1, refused unless named.
            .args(["--allowed-template-hosts", "127.0.0.1"])
            .args(["--metrics-addr", "127.0.0.1:0", "--outbox"])
            .arg(outbox)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the operator starts")
    }

    /// Starts an operator for `namespace`, creates the UserImport `name` and measures it until
    /// finished; the operator is returned still running.
    async fn import(
        &self,
        namespace: &str,
        name: &str,
        template: TemplateSource,
        outbox: &Path,
    ) -> (Measured, Child) {
        let mark = self.audit.mark();
        let operator = self.operator(namespace, outbox);
        tokio::time::sleep(Duration::from_secs(2)).await; // caches synced
        let api: Api<UserImport> = Api::namespaced(self.client.clone(), namespace);
        let spec = UserImportSpec {
            tenant_ref: TenantRef {
                name: TENANT.into(),
            },
            template,
            mode: Default::default(),
            on_problem: Default::default(),
        };
        let start = Instant::now();
        api.create(&PostParams::default(), &UserImport::new(name, spec))
            .await
            .unwrap();
        let (import, highest) = self.wait_finished(&api, name, operator.id()).await;
        let took = start.elapsed();
        let measured = Measured {
            took,
            import,
            requests: self.requests_since(mark, namespace),
            peak_mb: peak_mb(&operator),
            highest,
        };
        (measured, operator)
    }

    /// Waits until the import `name` is finished; returns it, and when (seconds from the start)
    /// the resident memory of the operator `pid` was highest among the samples taken meanwhile.
    async fn wait_finished(
        &self,
        api: &Api<UserImport>,
        name: &str,
        pid: u32,
    ) -> (UserImport, (f64, f64)) {
        let start = Instant::now();
        let deadline = start + WAIT;
        let mut highest = (0.0, 0.0);
        loop {
            let rss = proc_status_mb(pid, "VmRSS:");
            if rss > highest.1 {
                highest = (start.elapsed().as_secs_f64(), rss);
            }
            let import = api.get(name).await.unwrap();
            let finished = import.status.as_ref().is_some_and(|s| {
                matches!(
                    s.phase,
                    Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems)
                ) && s.observed_generation == import.metadata.generation
            });
            if finished {
                return (import, highest);
            }
            assert!(Instant::now() < deadline, "the import did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The TenantUser requests in `namespace` since `mark`, by verb, from the audit log. The
    /// bench makes none while the operator runs, so these are the operator's.
    fn requests_since(&self, mark: u64, namespace: &str) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        self.audit.events_since(mark, |event| {
            let object = &event["objectRef"];
            if object["namespace"] != namespace || object["resource"] != "tenantusers" {
                return;
            }
            let verb = event["verb"].as_str().unwrap_or_default().to_string();
            *counts.entry(verb).or_insert(0) += 1;
        });
        counts
    }
}

/// Peak resident memory of a running process, from /proc (VmHWM), in MB.
fn peak_mb(child: &Child) -> f64 {
    proc_status_mb(child.id(), "VmHWM:")
}

/// A figure of /proc/PID/status in kB (`VmHWM:`, `VmRSS:`), in MB.
fn proc_status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(key))
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

/// One row of the summary table printed at the end (markdown, for docs/performance.md).
fn row(case: &str, measured: &Measured, ratio: Option<f64>) -> String {
    format!(
        "| {case} | {:.1} s | {} | {} | {} list page(s), {} GET | {:.0} MB |",
        measured.took.as_secs_f64(),
        ratio.map_or("—".to_string(), |r| format!("{r:.2}")),
        measured.count("patch"),
        measured.count("list"),
        measured.count("get"),
        measured.peak_mb
    )
}

/// A row of the summary table for bare writes.
fn bare_row(what: &str, written: usize, took: Duration) -> String {
    format!(
        "| bare server-side apply of the same {what} | {:.1} s | 1.00 | {written} | — | — |",
        took.as_secs_f64()
    )
}

async fn run_size(rows: usize) {
    let cluster = Cluster::start().await;
    let client = cluster.client.clone();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\n== {rows} rows (kube-apiserver 1.37.2 + etcd 3.7, loopback); load average {load}");
    let mut table = vec![
        "| case | time | ratio to bare writes | TenantUser writes | reads | operator peak |"
            .to_string(),
        "|---|---:|---:|---:|---|---:|".to_string(),
    ];

    // 1. Each source into an empty tenant, right after the bare writes of the same objects;
    // then the same import again after a restart.
    let csv = template(rows);
    for source in Source::ALL {
        let bare_namespace = format!("bare-{}", source.label());
        cluster.namespace(&bare_namespace).await;
        let users = new_users(rows);
        let written = users.len();
        let bare = apply_users(&client, &bare_namespace, users).await;
        println!(
            "bare server-side apply of {written} TenantUsers, {CONCURRENCY} in flight: {:.2} s ({:.0}/s)",
            bare.as_secs_f64(),
            written as f64 / bare.as_secs_f64()
        );
        table.push(bare_row(&format!("{written} new objects"), written, bare));

        let namespace = format!("{}-empty", source.label());
        cluster.namespace(&namespace).await;
        cluster.tenant(&namespace).await;
        let template = cluster.publish(&namespace, source, "template", &csv).await;
        let outbox = cluster.dir.path().join(format!("outbox-{namespace}"));
        let mark = cluster.audit.mark();
        let (measured, operator) = cluster.import(&namespace, "first", template, &outbox).await;
        let ratio = measured.took.as_secs_f64() / bare.as_secs_f64();
        println!(
            "{source:?} into an empty tenant: {}; ratio to bare writes {ratio:.2}",
            measured.summary()
        );
        measured.assert_within(written, "writes = New rows");
        table.push(row(
            &format!("{source:?}: import into an empty tenant"),
            &measured,
            Some(ratio),
        ));

        stop(operator);
        let mails = emls(&outbox);
        assert_eq!(mails, 1, "one report of the problem rows");
        let downloads = (cluster.files.downloads(), cluster.artifacts.downloads());
        let restarted = cluster.operator(&namespace, &outbox);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let again = cluster.requests_since(mark, &namespace);
        stop(restarted);
        assert_eq!(
            again.get("patch").copied(),
            Some(written as u64),
            "no write"
        );
        assert_eq!(emls(&outbox), mails, "no second mail");
        let fetched_again = (cluster.files.downloads() - downloads.0)
            + (cluster.artifacts.downloads() - downloads.1);
        println!(
            "{source:?}, the same import after a restart: 0 writes, 0 mails, {fetched_again} download(s)"
        );
        table.push(format!(
            "| {source:?}: the same import after a restart | — | — | 0 (and 0 mails) | {fetched_again} download(s) | — |"
        ));
    }

    // 2. A tenant of `rows` existing users; each source in turn changes every other one, and
    // the bare writes of as many changes follow each import.
    cluster.namespace("existing").await;
    cluster.tenant("existing").await;
    let users: Vec<TenantUser> = (0..rows)
        .map(|i| {
            let user = synthetic_user(TENANT, i, true);
            tenant_user(&user.name, user.spec)
        })
        .collect();
    let filled = apply_users(&client, "existing", users).await;
    println!(
        "a tenant of {rows} existing users, written bare: {:.2} s",
        filled.as_secs_f64()
    );
    for (round, source) in Source::ALL.into_iter().enumerate() {
        let name = format!("round-{round}");
        let csv = existing_template(rows, round);
        let template = cluster.publish("existing", source, &name, &csv).await;
        let outbox = cluster.dir.path().join(format!("outbox-existing-{round}"));
        let (measured, operator) = cluster.import("existing", &name, template, &outbox).await;
        stop(operator);
        println!(
            "{source:?} into a tenant of {rows} users: {}",
            measured.summary()
        );
        // The odd rows changed; the even ones are as the users are and are not written.
        measured.assert_within(rows / 2, "writes = changed rows");
        let changes = bare_changes(rows, round);
        let changed = changes.len();
        let bare = apply_users(&client, "existing", changes).await;
        let ratio = measured.took.as_secs_f64() / bare.as_secs_f64();
        println!(
            "bare server-side apply of {changed} changed TenantUsers: {:.2} s; ratio to bare writes {ratio:.2}",
            bare.as_secs_f64()
        );
        table.push(row(
            &format!(
                "{source:?}: import into a tenant of {rows} users ({} changed)",
                rows / 2
            ),
            &measured,
            Some(ratio),
        ));
        table.push(bare_row(
            &format!("{changed} changes, right after"),
            changed,
            bare,
        ));
    }
    println!("\n{}", table.join("\n"));
    let _ = std::io::stdout().flush();
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let memory_only = std::env::args().any(|arg| arg == "memory");
    let sizes = if sizes.is_empty() {
        vec![10_000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if memory_only {
        runtime.block_on(run_memory(&sizes));
        return;
    }
    for rows in sizes {
        runtime.block_on(run_size(rows));
    }
}

/// `memory N…`: the operator's peak memory at N rows × N users, for each N. A tenant of N users
/// (in the namespace `memory-N`, filled by bare writes when it has fewer: against a control
/// plane started by hand they stay from one run to the next), then an import of a template of
/// N rows that matches every user and changes every other one (from an HTTPS URL: 200,000
/// rows are 2 MB gzip-compressed, more than a ConfigMap holds; each run changes them again),
/// the same import after a restart, and the bare writes of as many changes right after (the
/// time's anchor, as in the full run). Asserts the writes (N/2, then none), one paginated list
/// and no GET; prints the peak (`VmHWM`) and the ratio of the import's time to the bare writes'.
async fn run_memory(sizes: &[usize]) {
    let cluster = Cluster::start().await;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n== memory: {} ({sizes:?} rows x users); load average {load}",
        cluster.operator_bin.display()
    );
    let mut table = vec![
        "| rows × users | time (ratio to bare writes) | TenantUser writes | reads | operator peak (VmHWM, MiB) |".to_string(),
        "|---|---:|---:|---|---:|".to_string(),
    ];
    for &rows in sizes {
        let namespace = format!("memory-{rows}");
        let round = cluster.filled(&namespace, rows).await;
        let name = format!("round-{round}");
        let csv = existing_template(rows, round);
        let template = cluster.publish(&namespace, Source::Url, &name, &csv).await;
        drop(csv);
        let outbox = cluster.dir.path().join(format!("outbox-{namespace}"));
        let mark = cluster.audit.mark();
        let (measured, operator) = cluster.import(&namespace, &name, template, &outbox).await;
        stop(operator);
        println!("{rows} rows x {rows} users: {}", measured.summary());
        assert_eq!(
            measured.count("patch") as usize,
            rows / 2,
            "writes = changed rows"
        );
        assert_eq!(measured.count("get"), 0, "no GET per row");
        assert_eq!(
            measured.count("list") as usize,
            rows.div_ceil(tenant_users::PAGE_SIZE as usize),
            "one paginated list"
        );
        let restarted = cluster.operator(&namespace, &outbox);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let again = cluster.requests_since(mark, &namespace);
        stop(restarted);
        assert_eq!(
            again.get("patch").copied(),
            Some(rows as u64 / 2),
            "no write"
        );
        // As many changes to the same users, bare, right after: the time's anchor.
        let bare = apply_users(&cluster.client, &namespace, bare_changes(rows, round)).await;
        let ratio = measured.took.as_secs_f64() / bare.as_secs_f64();
        println!(
            "bare server-side apply of {} changed TenantUsers: {:.1} s; ratio {ratio:.2}",
            rows / 2,
            bare.as_secs_f64()
        );
        table.push(format!(
            "| {rows} × {rows} ({} changed) | {:.1} s (bare writes {:.1} s: {ratio:.2}) | {} | {} list page(s), {} GET | {:.0} MB |",
            rows / 2,
            measured.took.as_secs_f64(),
            bare.as_secs_f64(),
            measured.count("patch"),
            measured.count("list"),
            measured.count("get"),
            measured.peak_mb
        ));
    }
    println!("\n{}", table.join("\n"));
    let _ = std::io::stdout().flush();
}

impl Cluster {
    /// The namespace `namespace` with the tenant and its `rows` users (written bare, 32 in
    /// flight, when it has fewer); returns how many UserImports it has (the next round).
    async fn filled(&self, namespace: &str, rows: usize) -> usize {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        if namespaces.get_opt(namespace).await.unwrap().is_none() {
            self.namespace(namespace).await;
            self.tenant(namespace).await;
        }
        let api: Api<TenantUser> = Api::namespaced(self.client.clone(), namespace);
        let first = api.list(&ListParams::default().limit(1)).await.unwrap();
        let stored = first.items.len() as i64 + first.metadata.remaining_item_count.unwrap_or(0);
        if (stored as usize) < rows {
            let users = (0..rows)
                .map(|i| {
                    let user = synthetic_user(TENANT, i, true);
                    tenant_user(&user.name, user.spec)
                })
                .collect();
            let took = apply_users_with(&self.client, namespace, users, 32).await;
            println!(
                "a tenant of {rows} users in {namespace}, written bare: {:.1} s",
                took.as_secs_f64()
            );
        }
        let imports: Api<UserImport> = Api::namespaced(self.client.clone(), namespace);
        imports
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
    }
}
