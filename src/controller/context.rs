//! What every reconcile shares: the client, the event recorder, metrics and settings.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};

use super::metrics::Metrics;
use super::report_mail::Prepared;
use crate::core::archive::ArchiveLimits;
use crate::core::template::TemplateLimits;
use crate::mail::MailSettings;
use crate::resources::{UserImport, UserImportStatus};

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// TenantUser writes in flight at once per import.
    pub concurrency: usize,
    pub limits: TemplateLimits,
    /// How long to wait before looking again at an import that cannot start.
    pub stalled_requeue: Duration,
    /// A safety-net resync of finished imports (changes arrive through watches).
    pub resync: Duration,
    /// The first delay after a controller error; doubled per consecutive failure.
    pub error_backoff: Duration,
    /// Operator-wide mail settings (a Tenant's `smtpSecretRef` overrides them).
    pub mail: Option<MailSettings>,
    /// The first delay before retrying a failed report delivery; doubled per attempt.
    pub mail_backoff: Duration,
    /// Whether templates may come from Flux sources (`spec.template.sourceRef`): their kinds are
    /// then watched once the API server serves them. Off, no request about them is made.
    pub flux_sources: bool,
    /// How often the API server's discovery is asked whether it serves the Flux source kinds,
    /// until it serves them all.
    pub flux_discovery: Duration,
    /// The most bytes of a Flux artifact read (compressed and decompressed alike).
    pub max_archive_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 8,
            limits: TemplateLimits::default(),
            stalled_requeue: Duration::from_secs(60),
            resync: Duration::from_secs(600),
            error_backoff: Duration::from_secs(2),
            mail: None,
            mail_backoff: Duration::from_secs(30),
            flux_sources: true,
            flux_discovery: Duration::from_secs(30),
            max_archive_bytes: ArchiveLimits::default().max_archive_bytes,
        }
    }
}

/// (generation, template digest) of an import.
pub type ImportKey = (Option<i64>, String);

pub struct Context {
    pub client: Client,
    /// The controller's cache of UserImports: where a deletion is seen first.
    pub imports: Store<UserImport>,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub settings: Settings,
    /// By UserImport uid: the last import this process finished. The watch cache can still
    /// show the `Running` status this process wrote a moment ago; this memory keeps such a
    /// stale view from starting the same import again.
    pub finished: Mutex<HashMap<String, ImportKey>>,
    /// By UserImport uid: consecutive failed reconciles, for the back-off.
    pub failures: Mutex<HashMap<String, u32>>,
    /// By UserImport uid: the error report of the last import, kept for delivery retries
    /// (after a restart it is rebuilt from the template).
    pub reports: Mutex<HashMap<String, (ImportKey, Arc<Prepared>)>>,
    /// By UserImport uid: the planned result of the last import started (see
    /// `status::planned`). The status holds it too, for a restart; this copy serves a retry
    /// while the cache may not show that status yet.
    pub plans: Mutex<HashMap<String, (ImportKey, Arc<UserImportStatus>)>>,
    /// By UserImport uid: when the next report delivery is due after a failed one.
    pub mail_due: Mutex<HashMap<String, Instant>>,
    /// By UserImport uid: the generation whose reconcile panicked, and when to try it again.
    pub panicked: Mutex<HashMap<String, (Option<i64>, Instant)>>,
    /// By UserImport uid: the source version (a Flux revision, an ETag) last fetched, with its
    /// generation and template digest. A new revision whose template did not change is then
    /// not downloaded again at each reconcile (the status keeps the version it imported).
    pub versions: Mutex<HashMap<String, SourceVersion>>,
    /// By UserImport uid: consecutive failed downloads of the template at a generation, and
    /// when the next may start. A reconcile before then (our own status write triggers one)
    /// waits: the back-off holds whatever triggers the reconcile.
    pub fetch_failures: Mutex<HashMap<String, FetchFailures>>,
}

/// Consecutive failed downloads: the generation they were for, how many, and when the next may
/// start.
pub type FetchFailures = (Option<i64>, u32, Instant);

/// A source version (a Flux artifact revision, an ETag) and the template digest it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceVersion {
    pub generation: Option<i64>,
    pub revision: Option<String>,
    pub etag: Option<String>,
    pub digest: String,
    /// When the source was last asked for this version.
    pub checked_at: Instant,
}

/// One UserImport's presence in the controller's cache, checked before each write of its
/// import: once the watch has seen it deleted, no write starts.
#[derive(Clone)]
pub struct Presence {
    imports: Store<UserImport>,
    reference: ObjectRef<UserImport>,
    uid: Option<String>,
}

impl Presence {
    /// True once the UserImport is gone from the cache, replaced by another object of the same
    /// name, or marked for deletion (a finalizer of someone else's may keep it a while).
    pub fn deleted(&self) -> bool {
        match self.imports.get(&self.reference) {
            None => true,
            Some(current) => {
                current.metadata.uid != self.uid || current.metadata.deletion_timestamp.is_some()
            }
        }
    }
}

/// Locks `mutex` even when a panic poisoned it: every map here stays consistent between
/// statements, and a reconcile that panicked must not make every later one panic too.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Context {
    pub fn new(
        client: Client,
        imports: Store<UserImport>,
        recorder: Recorder,
        metrics: Metrics,
        settings: Settings,
    ) -> Self {
        Context {
            client,
            imports,
            recorder,
            metrics,
            settings,
            finished: Mutex::default(),
            failures: Mutex::default(),
            reports: Mutex::default(),
            plans: Mutex::default(),
            mail_due: Mutex::default(),
            panicked: Mutex::default(),
            versions: Mutex::default(),
            fetch_failures: Mutex::default(),
        }
    }

    /// Records a failed download and returns the delay before the next: `error_backoff`,
    /// doubled per consecutive failure, at most 5 minutes.
    pub fn fetch_failed(&self, uid: &str, generation: Option<i64>) -> Duration {
        let mut failures = lock(&self.fetch_failures);
        let count = match failures.get(uid) {
            Some((same, count, _)) if *same == generation => count.saturating_add(1),
            _ => 1,
        };
        let factor = 2u32.saturating_pow((count - 1).min(8));
        let wait = (self.settings.error_backoff * factor).min(Duration::from_secs(300));
        failures.insert(uid.to_string(), (generation, count, Instant::now() + wait));
        wait
    }

    /// How long until the template of this import may be downloaded again after a failure.
    /// None when it did not fail, the wait is over, or the spec changed since.
    pub fn fetch_wait(&self, uid: &str, generation: Option<i64>) -> Option<Duration> {
        let failures = lock(&self.fetch_failures);
        let (failed_generation, _, due) = failures.get(uid)?;
        if *failed_generation != generation {
            return None;
        }
        let left = due.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }

    /// The template was fetched (or found to be unchanged): the back-off starts afresh.
    pub fn fetch_succeeded(&self, uid: &str) {
        lock(&self.fetch_failures).remove(uid);
    }

    pub fn remember_version(&self, uid: &str, version: SourceVersion) {
        lock(&self.versions).insert(uid.to_string(), version);
    }

    /// The source version last fetched for this import, if it gave `digest` at `generation`.
    pub fn version_of(
        &self,
        uid: &str,
        generation: Option<i64>,
        digest: &str,
    ) -> Option<SourceVersion> {
        let versions = lock(&self.versions);
        versions
            .get(uid)
            .filter(|version| version.generation == generation && version.digest == digest)
            .cloned()
    }

    /// Whether `import` is still there, as the controller's cache sees it.
    pub fn presence(&self, import: &UserImport) -> Presence {
        Presence {
            imports: self.imports.clone(),
            reference: ObjectRef::from_obj(import),
            uid: import.metadata.uid.clone(),
        }
    }

    pub fn remember_finished(&self, uid: &str, key: ImportKey) {
        lock(&self.finished).insert(uid.to_string(), key);
    }

    pub fn has_finished(&self, uid: &str, key: &ImportKey) -> bool {
        lock(&self.finished).get(uid) == Some(key)
    }

    /// Records a failure and returns the delay before the next try: doubling, at most 5 minutes.
    pub fn next_backoff(&self, uid: &str) -> Duration {
        let mut failures = lock(&self.failures);
        let count = failures.entry(uid.to_string()).or_insert(0);
        *count = count.saturating_add(1);
        let factor = 2u32.saturating_pow((*count - 1).min(8));
        (self.settings.error_backoff * factor).min(Duration::from_secs(300))
    }

    pub fn keep_report(&self, uid: &str, key: ImportKey, prepared: Arc<Prepared>) {
        lock(&self.reports).insert(uid.to_string(), (key, prepared));
    }

    pub fn kept_report(&self, uid: &str, key: &ImportKey) -> Option<Arc<Prepared>> {
        let reports = lock(&self.reports);
        reports
            .get(uid)
            .filter(|(kept, _)| kept == key)
            .map(|(_, prepared)| prepared.clone())
    }

    pub fn keep_plan(&self, uid: &str, key: ImportKey, planned: Arc<UserImportStatus>) {
        lock(&self.plans).insert(uid.to_string(), (key, planned));
    }

    /// The planned result of this import's `key`, when this process planned it.
    pub fn kept_plan(&self, uid: &str, key: &ImportKey) -> Option<Arc<UserImportStatus>> {
        let plans = lock(&self.plans);
        plans
            .get(uid)
            .filter(|(kept, _)| kept == key)
            .map(|(_, planned)| planned.clone())
    }

    /// Delays the next delivery of this import's report by `wait` (None: no delay).
    pub fn delay_mail(&self, uid: &str, wait: Option<Duration>) {
        let mut due = lock(&self.mail_due);
        match wait {
            Some(wait) => due.insert(uid.to_string(), Instant::now() + wait),
            None => due.remove(uid),
        };
    }

    /// How long until this import's report may be sent again, if it must wait.
    pub fn mail_wait(&self, uid: &str) -> Option<Duration> {
        let due = lock(&self.mail_due);
        let left = due.get(uid)?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }

    /// After a panic in a reconcile of `generation`: no new try before `wait` has passed. A panic
    /// usually comes back with the same input, and the status write that reports it triggers
    /// a reconcile at once; this keeps that from becoming a loop.
    pub fn delay_after_panic(&self, uid: &str, generation: Option<i64>, wait: Duration) {
        lock(&self.panicked).insert(uid.to_string(), (generation, Instant::now() + wait));
    }

    /// How long until an import whose reconcile panicked may be tried again. None when it did
    /// not panic, the wait is over, or its spec changed since (a new generation).
    pub fn panic_wait(&self, uid: &str, generation: Option<i64>) -> Option<Duration> {
        let panicked = lock(&self.panicked);
        let (panicked_generation, due) = panicked.get(uid)?;
        if *panicked_generation != generation {
            return None;
        }
        let left = due.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }

    /// A reconcile of this import ended without a panic.
    pub fn forget_panic(&self, uid: &str) {
        lock(&self.panicked).remove(uid);
    }

    pub fn reset_backoff(&self, uid: &str) {
        lock(&self.failures).remove(uid);
    }

    /// Drops everything this process remembers about the UserImport `uid`, once it is gone:
    /// without this, each import ever seen (its error report's CSV among it) would stay in
    /// memory until the process ends.
    pub fn forget(&self, uid: &str) {
        self.retain(|kept| kept != uid);
    }

    /// Forgets `import` when the controller's cache no longer holds it (or holds another
    /// object of its name). One marked for deletion is still there, and kept.
    pub fn forget_if_gone(&self, import: &UserImport) {
        let Some(uid) = import.metadata.uid.as_deref() else {
            return;
        };
        let current = self.imports.get(&ObjectRef::from_obj(import));
        if current.is_none_or(|current| current.metadata.uid.as_deref() != Some(uid)) {
            self.forget(uid);
        }
    }

    /// Forgets every UserImport that the controller's cache no longer holds, and returns how
    /// many were forgotten. Call it only once the cache has synced: an empty cache before the
    /// first list would forget every import.
    pub fn sweep(&self) -> usize {
        let present: HashSet<String> = self
            .imports
            .state()
            .iter()
            .filter_map(|import| import.metadata.uid.clone())
            .collect();
        let before = self.remembered();
        self.retain(|uid| present.contains(uid));
        before.difference(&self.remembered()).count()
    }

    /// The uids of which any map holds something.
    pub fn remembered(&self) -> HashSet<String> {
        let mut uids = HashSet::new();
        uids.extend(lock(&self.finished).keys().cloned());
        uids.extend(lock(&self.failures).keys().cloned());
        uids.extend(lock(&self.reports).keys().cloned());
        uids.extend(lock(&self.plans).keys().cloned());
        uids.extend(lock(&self.mail_due).keys().cloned());
        uids.extend(lock(&self.panicked).keys().cloned());
        uids.extend(lock(&self.versions).keys().cloned());
        uids.extend(lock(&self.fetch_failures).keys().cloned());
        uids
    }

    /// Keeps in every per-import map only the uids for which `keep` holds. A map added to the
    /// Context must be added here too, or it is never pruned.
    fn retain(&self, keep: impl Fn(&str) -> bool) {
        lock(&self.finished).retain(|uid, _| keep(uid));
        lock(&self.failures).retain(|uid, _| keep(uid));
        lock(&self.reports).retain(|uid, _| keep(uid));
        lock(&self.plans).retain(|uid, _| keep(uid));
        lock(&self.mail_due).retain(|uid, _| keep(uid));
        lock(&self.panicked).retain(|uid, _| keep(uid));
        lock(&self.versions).retain(|uid, _| keep(uid));
        lock(&self.fetch_failures).retain(|uid, _| keep(uid));
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::events::Reporter;
    use kube::runtime::{reflector, watcher};

    use super::*;
    use crate::resources::{KeyRef, TemplateSource, TenantRef, UserImportSpec};

    fn import(index: usize) -> UserImport {
        let mut import = UserImport::new(
            &format!("import-{index}"),
            UserImportSpec {
                tenant_ref: TenantRef {
                    name: "acme".into(),
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
            },
        );
        import.metadata.namespace = Some("acme".into());
        import.metadata.uid = Some(format!("uid-{index}"));
        import.metadata.generation = Some(1);
        import
    }

    /// A Context over `imports`; its client is never called.
    fn context(imports: Store<UserImport>) -> Context {
        // The client is built with TLS support, whose provider must be chosen first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let reporter = Reporter {
            controller: "test".into(),
            instance: None,
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Context::new(
            client,
            imports,
            recorder,
            Metrics::default(),
            Settings::default(),
        )
    }

    /// Puts something for `uid` in every map the Context fills without a report (a report
    /// needs a whole import to build).
    fn remember(ctx: &Context, uid: &str) {
        let key: ImportKey = (Some(1), "sha256:a".into());
        ctx.remember_finished(uid, key.clone());
        ctx.next_backoff(uid);
        ctx.keep_plan(uid, key, Arc::new(UserImportStatus::default()));
        ctx.delay_mail(uid, Some(Duration::from_secs(60)));
        ctx.delay_after_panic(uid, Some(1), Duration::from_secs(60));
        ctx.fetch_failed(uid, Some(1));
        ctx.remember_version(
            uid,
            SourceVersion {
                generation: Some(1),
                revision: None,
                etag: Some("\"e\"".into()),
                digest: "sha256:a".into(),
                checked_at: Instant::now(),
            },
        );
    }

    #[tokio::test]
    async fn a_sweep_forgets_every_deleted_import_and_keeps_the_others() {
        let (store, mut writer) = reflector::store::<UserImport>();
        let ctx = context(store);
        let imports: Vec<UserImport> = (0..1000).map(import).collect();
        for import in &imports {
            writer.apply_watcher_event(&watcher::Event::Apply(import.clone()));
            remember(&ctx, import.metadata.uid.as_deref().unwrap());
        }
        assert_eq!(ctx.sweep(), 0);
        assert_eq!(ctx.remembered().len(), 1000);
        assert_eq!(lock(&ctx.versions).len(), 1000);

        for import in &imports[1..] {
            writer.apply_watcher_event(&watcher::Event::Delete(import.clone()));
        }
        assert_eq!(ctx.sweep(), 999);
        assert_eq!(ctx.remembered(), HashSet::from(["uid-0".to_string()]));

        writer.apply_watcher_event(&watcher::Event::Delete(imports[0].clone()));
        assert_eq!(ctx.sweep(), 1);
        assert!(ctx.remembered().is_empty(), "{:?}", ctx.remembered());
        assert!(lock(&ctx.finished).is_empty());
        assert!(lock(&ctx.failures).is_empty());
        assert!(lock(&ctx.reports).is_empty());
        assert!(lock(&ctx.plans).is_empty());
        assert!(lock(&ctx.mail_due).is_empty());
        assert!(lock(&ctx.panicked).is_empty());
        assert!(lock(&ctx.versions).is_empty());
        assert!(lock(&ctx.fetch_failures).is_empty());
    }

    #[tokio::test]
    async fn forget_drops_one_import_only() {
        let (store, _writer) = reflector::store::<UserImport>();
        let ctx = context(store);
        remember(&ctx, "a");
        remember(&ctx, "b");
        ctx.forget("a");
        assert_eq!(ctx.remembered(), HashSet::from(["b".to_string()]));
    }
}
