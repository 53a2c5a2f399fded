//! The controller end to end against a real kube-apiserver and etcd (issue 4's performance
//! acceptance): for templates of 1,000, 5,000 and 10,000 rows, the wall time from applying a
//! UserImport until its status says it is finished, and the API requests it took, counted by
//! the test proxy in front of the API server. The control plane is the one named by
//! `USER_IMPORT_E2E_KUBECONFIG`, else one the bench starts (scripts/control-plane).
//!
//! Run: `cargo bench --bench controller` (sizes can be given: `-- 1000 10000`).
//!
//! Not a criterion bench: one import per size is the measurement, and the request counts are
//! asserted, so the bench fails loudly when the controller regresses to a GET per row or writes
//! rows that did not change.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use user_import_test_support::{Counters, Env, InProcess};
mod support;

use support::{HEADER, synthetic_user};
use user_import_engine::matching::ExistingUser;
use user_import_engine::planner::{Plan, PlanOptions, plan};
use user_import_engine::template::{TemplateLimits, read_template};
use user_import_operator::controller::Settings;
use user_import_operator::controller::tenant_users::PAGE_SIZE;
use user_import_operator::mail::MailSettings;
use user_import_resources::{
    ErrorReportState, ImportPhase, KeyRef, TENANT_LABEL, TemplateSource, Tenant, TenantRef,
    TenantUser, UserImport, UserImportSpec,
};

const TENANT: &str = "acme";
const CONFIG_MAP: &str = "users-template";
/// Every wait of the bench is bounded by this.
const WAIT: Duration = Duration::from_secs(600);

/// The existing users and the template of a run of `rows` rows.
///
/// The first `rows / 2` rows are the `rows / 2` existing (SSO-synced) users, by `i % 5`:
/// 0, 1 unchanged; 2, 3 changed (title and city: editable, written); 4 a new last name (not
/// editable for an SSO-synced user: highlighted, Update Data without a write). The other
/// `rows / 2` rows are new users, every tenth of them a problem (an invalid email).
fn data(rows: usize) -> (Vec<ExistingUser>, String) {
    let existing = rows / 2;
    let users = (0..existing)
        .map(|i| synthetic_user(TENANT, i, true))
        .collect();
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str(HEADER);
    for i in 0..rows {
        let line = if i < existing {
            match i % 5 {
                0 | 1 => {
                    format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Analyst,Boston,Ops\n")
                }
                2 | 3 => {
                    format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Lead,Austin,Ops\n")
                }
                _ => {
                    format!("Ann,Ray{i},user{i}@acme.test,user{i},{i},Active,Analyst,Boston,Ops\n")
                }
            }
        } else if i % 10 == 9 {
            format!("Cy,Ray{i},bad{i} at acme.test,bad{i},{i},Active,,,Eng\n")
        } else {
            format!("Bo,Ko{i},new{i}@acme.test,new{i},{i},Active,Engineer,Oslo,Eng\n")
        };
        csv.push_str(&line);
    }
    (users, csv)
}

/// What the core plans for the same inputs: the numbers the controller must match.
fn expected_plan(users: &[ExistingUser], csv: &str) -> Plan {
    let template = read_template(csv.as_bytes(), &TemplateLimits::default()).expect("a template");
    let options = PlanOptions {
        tenant: TENANT.into(),
        sso_sync: true,
    };
    plan(&template, users, &options)
}

/// Writes the plan makes: every New row and every Update row with changed fields.
fn expected_writes(plan: &Plan) -> usize {
    let changed = plan
        .update
        .iter()
        .filter(|entry| !entry.changed_fields.is_empty())
        .count();
    let writes = plan.counts.new + changed;
    assert_eq!(
        writes,
        plan.writes.len(),
        "the core's writes are not New + changed rows"
    );
    writes
}

/// TenantUser list requests a reconcile may make: the pages of one paginated list.
fn pages(users: usize) -> u64 {
    (users.div_ceil(PAGE_SIZE as usize)).max(1) as u64
}

/// One import's measurement.
struct Measured {
    wall: Duration,
    counters: Counters,
}

impl Measured {
    fn user_writes(&self) -> u64 {
        self.counters.writes("tenantusers")
    }
    fn user_lists(&self) -> u64 {
        self.counters.count("list", "tenantusers")
    }
    fn user_reads_other(&self) -> u64 {
        self.counters.count("get", "tenantusers") + self.counters.count("watch", "tenantusers")
    }
    fn status_writes(&self) -> u64 {
        self.counters.writes("userimports/status")
    }
}

/// A namespace of the control plane behind a proxy, the controller in-process, and an admin
/// client (its reads are not counted) for one size.
struct Rig {
    env: Env,
    controller: InProcess,
    admin: Client,
}

impl Rig {
    async fn start() -> Rig {
        let env = Env::start("bench").await;
        let from = "user-import@acme.test".parse().expect("an address");
        let settings = Settings {
            mail: Some(MailSettings::outbox(&env.outbox, from)),
            // The production defaults otherwise (8 writes in flight).
            ..Settings::default()
        };
        // The library's controller loop, as `run` starts it, without leader election.
        let controller = InProcess::start_with(&env, settings);
        let admin = env.admin_client().await;
        Rig {
            env,
            controller,
            admin,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        self.env.api()
    }

    async fn setup(&self, users: &[ExistingUser], csv: &str) {
        let tenant = support::tenant(TENANT);
        self.api::<Tenant>()
            .create(&PostParams::default(), &tenant)
            .await
            .expect("create the Tenant");
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("template.csv".into(), csv.into())])),
            ..Default::default()
        };
        self.api::<ConfigMap>()
            .patch(
                CONFIG_MAP,
                &PatchParams::apply("bench").force(),
                &Patch::Apply(&config_map),
            )
            .await
            .expect("apply the ConfigMap");
        let api = self.api::<TenantUser>();
        stream::iter(users)
            .map(|user| {
                let api = api.clone();
                async move {
                    let mut object = TenantUser::new(&user.name, user.spec.clone());
                    object.metadata.labels =
                        Some(BTreeMap::from([(TENANT_LABEL.into(), TENANT.into())]));
                    api.create(&PostParams::default(), &object).await
                }
            })
            .buffer_unordered(16)
            .try_for_each(|_| async { Ok(()) })
            .await
            .expect("create the existing TenantUsers");
    }

    /// The UserImport as stored, read as the admin past the proxy (so the polling is not
    /// counted).
    async fn import(&self, name: &str) -> Option<UserImport> {
        let api: Api<UserImport> = Api::namespaced(self.admin.clone(), &self.env.namespace);
        api.get_opt(name).await.expect("get the UserImport")
    }

    /// Polls (uncounted) until `done` holds for the UserImport; panics with its status after
    /// `WAIT`.
    async fn wait(&self, name: &str, what: &str, done: impl Fn(&UserImport) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let import = self.import(name).await;
            if import.as_ref().is_some_and(&done) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} of {name}; last status: {:#?}",
                import.and_then(|i| i.status)
            );
            // A GET of the real server each time: often enough for the wall time, and light.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the controller has been idle (no reconcile started) for half a second.
    async fn wait_idle(&self) {
        let deadline = Instant::now() + WAIT;
        let mut last = self.controller.metrics().reconciles.get();
        let mut since = Instant::now();
        while since.elapsed() < Duration::from_millis(500) {
            assert!(Instant::now() < deadline, "the controller never went idle");
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.controller.metrics().reconciles.get();
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
    }

    /// Creates a UserImport of the template and measures it until its error report is sent.
    /// The request counters start at the create (which they include).
    async fn import_once(&self, name: &str) -> Measured {
        let spec = UserImportSpec {
            tenant_ref: TenantRef {
                name: TENANT.into(),
            },
            template: TemplateSource {
                config_map_key_ref: Some(KeyRef {
                    name: CONFIG_MAP.into(),
                    key: "template.csv".into(),
                }),
                secret_key_ref: None,
                ..Default::default()
            },
            mode: Default::default(),
            on_problem: Default::default(),
        };
        self.wait_idle().await;
        self.env.proxy.reset_counters();
        let started = Instant::now();
        self.api::<UserImport>()
            .create(&PostParams::default(), &UserImport::new(name, spec))
            .await
            .expect("create the UserImport");
        self.wait(name, "a finished import", finished).await;
        let wall = started.elapsed();
        // The error report is mailed after the final status: let that settle before counting.
        self.wait(name, "the error report sent", report_sent).await;
        self.wait_idle().await;
        Measured {
            wall,
            counters: self.env.proxy.counters(),
        }
    }

    /// Annotates a finished UserImport (a reconcile of the same generation and template) and
    /// returns the requests made until the controller is idle again.
    async fn annotate(&self, name: &str) -> Counters {
        self.wait_idle().await;
        self.env.proxy.reset_counters();
        let before = self.controller.metrics().reconciles.get();
        let patch = json!({"metadata": {"annotations": {"bench/poke": "1"}}});
        self.api::<UserImport>()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotate the UserImport");
        let deadline = Instant::now() + WAIT;
        while self.controller.metrics().reconciles.get() == before {
            assert!(
                Instant::now() < deadline,
                "the annotation caused no reconcile"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.wait_idle().await;
        self.env.proxy.counters()
    }

    async fn stop(self) {
        self.controller.stop().await;
    }
}

/// Finished for the current generation.
fn finished(import: &UserImport) -> bool {
    import.status.as_ref().is_some_and(|status| {
        matches!(
            status.phase,
            Some(ImportPhase::Succeeded | ImportPhase::SucceededWithProblems)
        ) && status.observed_generation == import.metadata.generation
    })
}

fn report_sent(import: &UserImport) -> bool {
    finished(import)
        && import
            .status
            .as_ref()
            .and_then(|status| status.error_report.as_ref())
            .is_none_or(|report| report.state == ErrorReportState::Sent)
}

/// One row of the printed table.
struct Line {
    rows: usize,
    existing: usize,
    counts: String,
    first: Measured,
    expected: usize,
    again: Measured,
    again_users: usize,
    annotated: Counters,
}

async fn run_size(rows: usize) -> Line {
    let (users, csv) = data(rows);
    let plan = expected_plan(&users, &csv);
    let expected = expected_writes(&plan);
    let rig = Rig::start().await;
    rig.setup(&users, &csv).await;

    let first = rig.import_once("import").await;
    let status = rig
        .import("import")
        .await
        .and_then(|i| i.status)
        .expect("a status");
    assert_eq!(
        status.counts,
        Some(plan.counts),
        "{rows} rows: the controller's counts differ from the core's plan"
    );
    let counts = plan.counts;
    let line_counts = format!(
        "new {} / update {} (changed {}) / unchanged {} / problem {}",
        counts.new,
        counts.update,
        expected - counts.new,
        counts.unchanged,
        counts.problem
    );
    check(rows, "first import", &first, expected as u64, users.len());

    // The same template again: annotating the finished import (same generation and template)
    // must write nothing and list nothing ...
    let annotated = rig.annotate("import").await;
    assert_eq!(
        annotated.writes("tenantusers"),
        0,
        "{rows} rows: a reconcile of a finished import wrote TenantUsers: {:?}",
        annotated.entries()
    );
    assert_eq!(
        annotated.count("list", "tenantusers") + annotated.count("get", "tenantusers"),
        0,
        "{rows} rows: a reconcile of a finished import read TenantUsers: {:?}",
        annotated.entries()
    );
    // ... and a second UserImport of the same template plans every row afresh: every user is
    // now as the template says, so nothing is written.
    let again_users = users.len() + counts.new;
    let again = rig.import_once("import-again").await;
    check(rows, "second import", &again, 0, again_users);

    rig.stop().await;
    Line {
        rows,
        existing: users.len(),
        counts: line_counts,
        first,
        expected,
        again,
        again_users,
        annotated,
    }
}

/// The acceptance: writes are exactly New + changed rows; TenantUsers are read only through the
/// paginated list (no GET per row).
fn check(rows: usize, what: &str, measured: &Measured, expected: u64, users: usize) {
    let entries = measured.counters.entries();
    assert_eq!(
        measured.user_writes(),
        expected,
        "{rows} rows, {what}: TenantUser writes must equal New + changed rows; requests: {entries:?}"
    );
    assert_eq!(
        measured.user_reads_other(),
        0,
        "{rows} rows, {what}: TenantUsers must be read by the paginated list only (no GET per \
         row, no watch); requests: {entries:?}"
    );
    assert_eq!(
        measured.user_lists(),
        pages(users),
        "{rows} rows, {what}: one paginated list of {users} users is {} page(s) of {PAGE_SIZE}; \
         requests: {entries:?}",
        pages(users)
    );
}

fn print_table(lines: &[Line]) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "Controller benchmark: kube-apiserver 1.37 and etcd (scripts/control-plane) through the \
         test proxy, {cpus} CPU(s), concurrency {} \
         (default), list page {PAGE_SIZE}",
        Settings::default().concurrency
    );
    for line in lines {
        println!(
            "  {} rows against {} existing users: {}",
            line.rows, line.existing, line.counts
        );
    }
    println!();
    println!(
        "| rows | import | wall time to Succeeded | rows/s | TenantUser writes | expected (New + changed) | TenantUser lists (pages) | TenantUser GETs | status writes | requests in all (incl. the bench's create) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for line in lines {
        for (what, measured, expected, users) in [
            ("first", &line.first, line.expected, line.existing),
            ("same template again", &line.again, 0, line.again_users),
        ] {
            let seconds = measured.wall.as_secs_f64();
            println!(
                "| {} | {what} | {:.2} s | {:.0} | {} | {expected} | {} ({} users) | {} | {} | {} |",
                line.rows,
                seconds,
                line.rows as f64 / seconds,
                measured.user_writes(),
                measured.user_lists(),
                users,
                measured.counters.count("get", "tenantusers"),
                measured.status_writes(),
                measured.counters.total(),
            );
        }
    }
    println!();
    for line in lines {
        let mut others: Vec<String> = line
            .first
            .counters
            .entries()
            .into_iter()
            .filter(|(_, resource, _)| resource != "tenantusers")
            .map(|(verb, resource, count)| format!("{verb} {resource} {count}"))
            .collect();
        others.sort();
        println!(
            "{} rows, first import, requests other than TenantUsers (incl. the bench's create): {}",
            line.rows,
            others.join(", ")
        );
    }
    println!();
    for line in lines {
        println!(
            "{} rows, annotated finished import: {} TenantUser write(s), {} TenantUser read(s), \
             {} request(s) in all",
            line.rows,
            line.annotated.writes("tenantusers"),
            line.annotated.count("list", "tenantusers")
                + line.annotated.count("get", "tenantusers"),
            line.annotated.total()
        );
    }
}

fn sizes() -> Vec<usize> {
    // `cargo bench` passes `--bench`; numbers are sizes.
    let given: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    if given.is_empty() {
        vec![1_000, 5_000, 10_000]
    } else {
        given
    }
}

fn main() {
    user_import_operator::ops::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let lines = runtime.block_on(async {
        let mut lines = Vec::new();
        for rows in sizes() {
            eprintln!("controller bench: {rows} rows ...");
            lines.push(run_size(rows).await);
        }
        lines
    });
    print_table(&lines);
}
