//! The largest import the rules accept, under the chart's default memory limit.
//!
//! The real `user-import-operator run` binary runs in a memory cgroup of its own whose limit is
//! the chart's `resources.limits.memory` (charts/user-import-operator/values.yaml), as the
//! kubelet would run it in the chart's pod: cgroup v2 `memory.max`, or cgroup v1
//! `memory.limit_in_bytes` where the memory controller is still on v1 (as on the project's
//! machines). It imports a template of the most rows a template may have (200,000,
//! `TemplateLimits::default().max_rows`) into a tenant of as many users, every row changing its
//! user: the largest plan there is, its list of users, its writes' specs and its status. The
//! import runs as `DryRun`, so that the test takes a minute and not the half hour of 200,000
//! writes; the writes are made a few at a time from the plan, and their memory is measured with
//! them by `cargo bench --bench scale -- memory 200000` (docs/performance.md).
//!
//! The users are put straight into the control plane's etcd (as the API server stores them:
//! JSON under `/registry/riskassess.io/tenantusers/NAMESPACE/NAME`), 128 to a transaction:
//! written through the API server they would take minutes. The operator reads them through the
//! API server as it reads any tenant's users.
//!
//! Asserts: the import finishes (`SucceededWithProblems` is not expected: every row is an
//! Update), its counts, the tenant read with one paginated list, no OOM kill, and the cgroup's
//! peak under the limit. Needs root (to make the cgroup), as the test machines have.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use user_import_engine::template::TemplateLimits;
use user_import_resources::{ImportMode, ImportPhase, UserImportSpec};
use user_import_test_support::sites::Site;
use user_import_test_support::{Env, TestPki, http_request, repo_root, spec};

const OPERATOR: &str = env!("CARGO_BIN_EXE_user-import-operator");
const TENANT: &str = "acme";
const HEADER: &str =
    "First Name,Last Name,Email,Coupa Username,Coupa User ID,Status,Title,City,Department\n";
/// The longest the import may take (a debug build, on 2 busy cores).
const WAIT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_import_completes_under_the_charts_memory_limit() {
    let rows = TemplateLimits::default().max_rows;
    let limit = chart_memory_limit();
    let env = Env::start_alone("memory-limit").await;
    env.create_tenant(TENANT, true).await;
    let started = Instant::now();
    let etcd = env.etcd().expect("the control plane's etcd");
    put_users(etcd, &env.namespace, rows).await;
    println!(
        "{rows} users put into etcd in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Every row changes its user's title and city: an Update with a write for every row.
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str(HEADER);
    for i in 0..rows {
        csv.push_str(&format!(
            "Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Lead,Austin,Ops\n"
        ));
    }
    let pki = TestPki::new();
    let site = Site::https(&pki).await;
    let url = site.put("/users.csv", csv.as_bytes());
    drop(csv);
    env.put_url_secret("template-ca", None, &pki).await;

    let cgroup = MemoryCgroup::create(&format!("user-import-memory-{}", std::process::id()), limit);
    let mut operator = cgroup.spawn(
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {} && exec \"$0\" \"$@\"",
                cgroup.procs().display()
            ))
            .arg(OPERATOR)
            .args(["run", "--namespace", &env.namespace])
            .args([
                "--leader-election",
                "false",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(["--allowed-template-hosts", "127.0.0.1", "--outbox"])
            .arg(&env.outbox)
            .env("KUBECONFIG", &env.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true),
    );
    let lists_before = env.proxy.counters().count("list", "tenantusers");
    let template = serde_json::json!({
        "url": {"url": url, "secretRef": {"name": "template-ca"}, "interval": "1h"},
    });
    let spec = UserImportSpec {
        template: serde_json::from_value(template).unwrap(),
        mode: ImportMode::DryRun,
        ..spec(TENANT, "unused")
    };
    let started = Instant::now();
    env.create_import("largest", spec).await;
    let import = loop {
        if let Ok(Some(status)) = operator.try_wait() {
            panic!(
                "the operator exited ({status}) during the import: {}",
                cgroup.report()
            );
        }
        let import = env.import("largest").await;
        let status = import.status.as_ref();
        if status.is_some_and(|s| s.phase == Some(ImportPhase::Succeeded)) {
            break import;
        }
        assert!(
            started.elapsed() < WAIT,
            "the import did not finish: {:?}; {}",
            status.and_then(|s| s.phase),
            cgroup.report()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();
    let peak = cgroup.peak();
    let oom_kills = cgroup.oom_kills();
    let _ = operator.kill().await;
    let counts = import.status.unwrap().counts.unwrap();
    println!(
        "{rows} rows x {rows} users (DryRun, every row an Update): {:.1} s; peak {:.1} MiB of \
         the chart's limit of {:.0} MiB ({})",
        took.as_secs_f64(),
        peak as f64 / MIB,
        limit as f64 / MIB,
        cgroup.version()
    );
    assert_eq!((counts.update, counts.new, counts.problem), (rows, 0, 0));
    let pages = env.proxy.counters().count("list", "tenantusers") - lists_before;
    assert_eq!(pages as usize, rows / 500, "one paginated list");
    assert_eq!(oom_kills, 0, "no OOM kill");
    assert!(peak < limit, "peak {peak} under the limit {limit}");
}

const MIB: f64 = 1024.0 * 1024.0;

/// `resources.limits.memory` of the chart's values.yaml, in bytes (`512Mi`, `1Gi`).
fn chart_memory_limit() -> u64 {
    let values =
        std::fs::read_to_string(repo_root().join("charts/user-import-operator/values.yaml"))
            .expect("the chart's values");
    let resources = values
        .split("\nresources:\n")
        .nth(1)
        .expect("resources in values.yaml");
    let limits = resources.split("\n  limits:\n").nth(1).expect("limits");
    let memory = limits
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("memory:"))
        .expect("limits.memory")
        .trim();
    let (number, unit) = memory.split_at(memory.trim_end_matches(char::is_alphabetic).len());
    let number: u64 = number.parse().expect("a whole number");
    number
        * match unit {
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            other => panic!("a limit in Mi or Gi, not {other:?}"),
        }
}

/// Puts `rows` TenantUsers of the tenant into etcd (its JSON gateway), 128 to a transaction
/// (etcd's default most operations in one), on 4 connections at once. The objects are written as
/// text: as `serde_json` values, 200,000 of them take half a minute in a debug build.
async fn put_users(etcd: &str, namespace: &str, rows: usize) {
    let address: std::net::SocketAddr = etcd
        .trim_start_matches("http://")
        .parse()
        .expect("etcd's address");
    let transactions: Vec<usize> = (0..rows).step_by(128).collect();
    let tasks: Vec<_> = transactions
        .chunks(transactions.len().div_ceil(4).max(1))
        .map(|share| {
            let (share, namespace) = (share.to_vec(), namespace.to_string());
            tokio::spawn(async move {
                for first in share {
                    let body = transaction(&namespace, first, rows.min(first + 128));
                    let request = hyper::Request::post(format!("http://{address}/v3/kv/txn"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .expect("a valid request");
                    let answer = http_request(address, request).await;
                    let text = String::from_utf8_lossy(answer.body());
                    assert_eq!(answer.status(), 200, "etcd: {text}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the puts of a share");
    }
}

/// One etcd transaction (JSON) that puts the users `first..end` as the API server stores them.
fn transaction(namespace: &str, first: usize, end: usize) -> String {
    let base64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let puts: Vec<String> = (first..end)
        .map(|i| {
            let name = format!("{TENANT}-{i}");
            let object = format!(
                r#"{{"apiVersion":"riskassess.io/v1alpha1","kind":"TenantUser","metadata":{{"name":"{name}","namespace":"{namespace}","uid":"00000000-0000-4000-8000-{i:012}","generation":1,"creationTimestamp":"2026-12-05T00:00:00Z","labels":{{"riskassess.io/tenant":"{TENANT}"}}}},"spec":{{"username":"user{i}","firstName":"Ann","lastName":"Lee{i}","email":"user{i}@acme.test","status":"Active","coupaUsername":"user{i}","coupaUserId":"{i}","ssoSynced":false,"title":"Analyst","city":"Boston"}}}}"#
            );
            let key = format!("/registry/riskassess.io/tenantusers/{namespace}/{name}");
            format!(
                r#"{{"requestPut":{{"key":"{}","value":"{}"}}}}"#,
                base64(&key),
                base64(&object)
            )
        })
        .collect();
    format!(r#"{{"success":[{}]}}"#, puts.join(","))
}

/// A memory cgroup of this test's own, with a limit; removed on drop.
struct MemoryCgroup {
    path: PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    /// Under cgroup v2's root (with the memory controller enabled for its children), else
    /// under cgroup v1's memory hierarchy.
    fn create(name: &str, limit: u64) -> MemoryCgroup {
        let v2_root = PathBuf::from("/sys/fs/cgroup");
        let v2 = std::fs::read_to_string(v2_root.join("cgroup.subtree_control"))
            .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory"));
        let (path, limit_file) = if v2 {
            (v2_root.join(name), "memory.max")
        } else {
            (
                PathBuf::from("/sys/fs/cgroup/memory").join(name),
                "memory.limit_in_bytes",
            )
        };
        std::fs::create_dir(&path).unwrap_or_else(|error| {
            panic!(
                "make the memory cgroup {} (the test needs root and a memory controller, v2 or \
                 v1): {error}",
                path.display()
            )
        });
        std::fs::write(path.join(limit_file), limit.to_string()).expect("set the memory limit");
        MemoryCgroup { path, v2 }
    }

    /// The file a process writes its pid to, to move into the cgroup.
    fn procs(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    fn spawn(&self, command: &mut tokio::process::Command) -> tokio::process::Child {
        command.spawn().expect("start the operator")
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap_or_default()
    }

    /// The most memory the cgroup has used, in bytes.
    fn peak(&self) -> u64 {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        self.read(file).trim().parse().expect("the cgroup's peak")
    }

    /// How many processes the kernel killed for want of memory in the cgroup.
    fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.read(file)
            .lines()
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    fn version(&self) -> &'static str {
        if self.v2 { "cgroup v2" } else { "cgroup v1" }
    }

    fn report(&self) -> String {
        format!(
            "peak {} bytes, {} OOM kill(s) ({})",
            self.peak(),
            self.oom_kills(),
            self.version()
        )
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // A cgroup is removed once its processes are gone.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
