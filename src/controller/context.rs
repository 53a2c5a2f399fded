//! What every reconcile shares: the client, the event recorder, metrics and settings.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};

use super::metrics::{ImportsWatch, Metrics};
use super::report_delivery::Prepared;
use super::watches::TemplateObjects;
use crate::backoff::Backoff;
use crate::mail::MailSettings;
use crate::policy::{RecipientDomains, TemplateHosts};
use user_import_engine::archive::ArchiveLimits;
use user_import_engine::template::TemplateLimits;
use user_import_resources::{UserImport, UserImportStatus};

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// TenantUser writes in flight at once per import.
    pub concurrency: usize,
    /// Limits past which a template is rejected whole.
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
    /// How often what the controller remembers of each import is checked against its cache of
    /// UserImports, and the deleted ones forgotten (see [`Context::sweep`]).
    pub sweep: Duration,
    /// The domains error reports may be mailed to (`--allowed-recipient-domains`; empty: any).
    pub recipient_domains: RecipientDomains,
    /// The hosts `spec.template.url` may name (`--allowed-template-hosts`), and the API server
    /// the operator's client uses, refused unless listed.
    pub template_hosts: TemplateHosts,
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
            sweep: Duration::from_secs(60),
            recipient_domains: RecipientDomains::default(),
            template_hosts: TemplateHosts::default(),
        }
    }
}

/// (generation, template digest) of an import.
pub(crate) type ImportKey = (Option<i64>, String);

/// What every reconcile shares: the client, the settings, the caches, and what the controller
/// remembers of each import between reconciles.
pub struct Context {
    pub(crate) client: Client,
    /// The controller's cache of UserImports: where a deletion is seen first.
    pub(crate) imports: Store<UserImport>,
    pub(crate) recorder: Recorder,
    pub(crate) metrics: Metrics,
    pub(crate) settings: Settings,
    /// What this process remembers of each UserImport, by uid: one entry per import, dropped
    /// once the import is gone from the cache (see [`Context::sweep`]) or has nothing left to
    /// remember.
    memory: Mutex<HashMap<String, ImportMemory>>,
    /// Exposes `imports` on /metrics (`user_import_imports`, `user_import_error_reports`) for as
    /// long as this run of the controller lasts.
    _exposed: ImportsWatch,
    /// The versions of the ConfigMaps and Secrets that imports name, fed by the controller's
    /// metadata watches: a template read before is not read again while its object keeps
    /// the version it was read at.
    pub(crate) template_objects: Arc<TemplateObjects>,
}

/// What this process remembers of one UserImport between reconciles. Empty (the default) is
/// the same as not remembered at all.
#[derive(Default)]
struct ImportMemory {
    /// The last import this process finished. The watch cache can still show the `Running`
    /// status this process wrote a moment ago; this keeps such a stale view from starting the
    /// same import again.
    finished: Option<ImportKey>,
    /// Consecutive failed reconciles, for the back-off.
    failures: u32,
    /// The error report of the last import, kept for delivery retries (after a restart it is
    /// rebuilt from the template).
    report: Option<(ImportKey, Arc<Prepared>)>,
    /// The planned result of the last import started (see `status::planned`). The status holds
    /// it too, for a restart; this copy serves a retry while the cache may not show that
    /// status yet.
    plan: Option<(ImportKey, Arc<UserImportStatus>)>,
    /// When the next report delivery is due after a failed one.
    mail_due: Option<Instant>,
    /// The generation whose reconcile panicked, and when to try it again.
    panicked: Option<(Option<i64>, Instant)>,
    /// The source version (a Flux revision, an ETag) last fetched, with its generation and
    /// template digest. A new revision whose template did not change is then not downloaded
    /// again at each reconcile (the status keeps the version it imported).
    version: Option<SourceVersion>,
    /// Consecutive failed downloads of the template at a generation, and when the next may
    /// start. A reconcile before then (our own status write triggers one) waits: the back-off
    /// holds whatever triggers the reconcile.
    fetch_failures: Option<FetchFailures>,
}

impl ImportMemory {
    fn is_empty(&self) -> bool {
        let ImportMemory {
            finished,
            failures,
            report,
            plan,
            mail_due,
            panicked,
            version,
            fetch_failures,
        } = self;
        finished.is_none()
            && *failures == 0
            && report.is_none()
            && plan.is_none()
            && mail_due.is_none()
            && panicked.is_none()
            && version.is_none()
            && fetch_failures.is_none()
    }
}

/// Consecutive failed downloads: the generation they were for, how many, and when the next may
/// start.
pub(crate) type FetchFailures = (Option<i64>, u32, Instant);

/// A source version (a Flux artifact revision, an ETag) and the template digest it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceVersion {
    pub(crate) generation: Option<i64>,
    pub(crate) revision: Option<String>,
    pub(crate) etag: Option<String>,
    pub(crate) digest: String,
    /// When the source was last asked for this version.
    pub(crate) checked_at: Instant,
}

/// One UserImport's presence in the controller's cache, checked before each write of its
/// import: once the watch has seen it deleted, no write starts.
#[derive(Clone)]
pub(crate) struct Presence {
    imports: Store<UserImport>,
    reference: ObjectRef<UserImport>,
    uid: Option<String>,
}

impl Presence {
    /// True once the UserImport is gone from the cache, replaced by another object of the same
    /// name, or marked for deletion (a finalizer of someone else's may keep it a while).
    pub(crate) fn deleted(&self) -> bool {
        match self.imports.get(&self.reference) {
            None => true,
            Some(current) => {
                current.metadata.uid != self.uid || current.metadata.deletion_timestamp.is_some()
            }
        }
    }
}

/// The time left until `due`, if any.
fn left_until(due: Instant) -> Option<Duration> {
    let left = due.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then_some(left)
}

/// The most a retry of an import (after an error, a panic or a failed download) waits.
const MAX_IMPORT_BACKOFF: Duration = Duration::from_secs(300);

impl Context {
    pub(crate) fn new(
        client: Client,
        imports: Store<UserImport>,
        recorder: Recorder,
        metrics: Metrics,
        settings: Settings,
    ) -> Self {
        let _exposed = metrics.imports.watch(imports.clone());
        Context {
            client,
            imports,
            recorder,
            metrics,
            settings,
            memory: Mutex::default(),
            _exposed,
            template_objects: Arc::default(),
        }
    }

    /// The memory of every import, locked even when a panic poisoned it: it stays consistent
    /// between statements, and a reconcile that panicked must not make every later one panic
    /// too.
    fn memory(&self) -> MutexGuard<'_, HashMap<String, ImportMemory>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes what is remembered of `uid`; an entry left empty is dropped.
    fn change<R>(&self, uid: &str, change: impl FnOnce(&mut ImportMemory) -> R) -> R {
        let mut memory = self.memory();
        let entry = memory.entry(uid.to_string()).or_default();
        let result = change(entry);
        if entry.is_empty() {
            memory.remove(uid);
        }
        self.metrics.remembered_imports.set(memory.len() as i64);
        result
    }

    /// Reads what is remembered of `uid`.
    fn read<R>(&self, uid: &str, read: impl FnOnce(&ImportMemory) -> Option<R>) -> Option<R> {
        self.memory().get(uid).and_then(read)
    }

    /// The back-off of an import's retries: `error_backoff` doubled, at most 5 minutes.
    fn import_backoff(&self) -> Backoff {
        Backoff::new(self.settings.error_backoff, MAX_IMPORT_BACKOFF)
    }

    /// Records a failed download and returns the delay before the next (the import back-off).
    pub(crate) fn fetch_failed(&self, uid: &str, generation: Option<i64>) -> Duration {
        let backoff = self.import_backoff();
        self.change(uid, |memory| {
            let count = match memory.fetch_failures {
                Some((same, count, _)) if same == generation => count.saturating_add(1),
                _ => 1,
            };
            let wait = backoff.delay(count);
            memory.fetch_failures = Some((generation, count, Instant::now() + wait));
            wait
        })
    }

    /// How long until the template of this import may be downloaded again after a failure.
    /// None when it did not fail, the wait is over, or the spec changed since.
    pub(crate) fn fetch_wait(&self, uid: &str, generation: Option<i64>) -> Option<Duration> {
        let (failed_generation, _, due) = self.read(uid, |memory| memory.fetch_failures)?;
        (failed_generation == generation)
            .then(|| left_until(due))
            .flatten()
    }

    /// The template was fetched (or found to be unchanged): the back-off starts afresh.
    pub(crate) fn fetch_succeeded(&self, uid: &str) {
        self.change(uid, |memory| memory.fetch_failures = None);
    }

    pub(crate) fn remember_version(&self, uid: &str, version: SourceVersion) {
        self.change(uid, |memory| memory.version = Some(version));
    }

    /// The source version last fetched for this import, if it gave `digest` at `generation`.
    pub(crate) fn version_of(
        &self,
        uid: &str,
        generation: Option<i64>,
        digest: &str,
    ) -> Option<SourceVersion> {
        self.read(uid, |memory| {
            memory
                .version
                .clone()
                .filter(|version| version.generation == generation && version.digest == digest)
        })
    }

    /// Whether `import` is still there, as the controller's cache sees it.
    pub(crate) fn presence(&self, import: &UserImport) -> Presence {
        Presence {
            imports: self.imports.clone(),
            reference: ObjectRef::from_obj(import),
            uid: import.metadata.uid.clone(),
        }
    }

    pub(crate) fn remember_finished(&self, uid: &str, key: ImportKey) {
        self.change(uid, |memory| memory.finished = Some(key));
    }

    /// The source version of the import this process last finished at `generation`, if it is
    /// the version last fetched: the watch cache may not show that import's status yet, and
    /// its source is not downloaded again meanwhile.
    pub(crate) fn finished_version(
        &self,
        uid: &str,
        generation: Option<i64>,
    ) -> Option<SourceVersion> {
        self.read(uid, |memory| {
            let (finished_generation, digest) = memory.finished.as_ref()?;
            let version = memory.version.as_ref()?;
            let same = *finished_generation == generation
                && version.generation == generation
                && &version.digest == digest;
            same.then(|| version.clone())
        })
    }

    pub(crate) fn has_finished(&self, uid: &str, key: &ImportKey) -> bool {
        self.read(uid, |memory| {
            memory.finished.as_ref().map(|done| done == key)
        })
        .unwrap_or(false)
    }

    /// Records a failure and returns the delay before the next try (the import back-off).
    pub(crate) fn next_backoff(&self, uid: &str) -> Duration {
        let backoff = self.import_backoff();
        self.change(uid, |memory| {
            memory.failures = memory.failures.saturating_add(1);
            backoff.delay(memory.failures)
        })
    }

    pub(crate) fn keep_report(&self, uid: &str, key: ImportKey, prepared: Arc<Prepared>) {
        self.change(uid, |memory| memory.report = Some((key, prepared)));
    }

    pub(crate) fn kept_report(&self, uid: &str, key: &ImportKey) -> Option<Arc<Prepared>> {
        self.read(uid, |memory| {
            let (kept, prepared) = memory.report.as_ref()?;
            (kept == key).then(|| prepared.clone())
        })
    }

    pub(crate) fn keep_plan(&self, uid: &str, key: ImportKey, planned: Arc<UserImportStatus>) {
        self.change(uid, |memory| memory.plan = Some((key, planned)));
    }

    /// The planned result of this import's `key`, when this process planned it.
    pub(crate) fn kept_plan(&self, uid: &str, key: &ImportKey) -> Option<Arc<UserImportStatus>> {
        self.read(uid, |memory| {
            let (kept, planned) = memory.plan.as_ref()?;
            (kept == key).then(|| planned.clone())
        })
    }

    /// Delays the next delivery of this import's report by `wait` (None: no delay).
    pub(crate) fn delay_mail(&self, uid: &str, wait: Option<Duration>) {
        self.change(uid, |memory| {
            memory.mail_due = wait.map(|wait| Instant::now() + wait);
        });
    }

    /// How long until this import's report may be sent again, if it must wait.
    pub(crate) fn mail_wait(&self, uid: &str) -> Option<Duration> {
        self.read(uid, |memory| memory.mail_due.and_then(left_until))
    }

    /// After a panic in a reconcile of `generation`: no new try before `wait` has passed. A panic
    /// usually comes back with the same input, and the status write that reports it triggers
    /// a reconcile at once; this keeps that from becoming a loop.
    pub(crate) fn delay_after_panic(&self, uid: &str, generation: Option<i64>, wait: Duration) {
        self.change(uid, |memory| {
            memory.panicked = Some((generation, Instant::now() + wait));
        });
    }

    /// How long until an import whose reconcile panicked may be tried again. None when it did
    /// not panic, the wait is over, or its spec changed since (a new generation).
    pub(crate) fn panic_wait(&self, uid: &str, generation: Option<i64>) -> Option<Duration> {
        let (panicked_generation, due) = self.read(uid, |memory| memory.panicked)?;
        (panicked_generation == generation)
            .then(|| left_until(due))
            .flatten()
    }

    /// A reconcile of this import ended without a panic.
    pub(crate) fn forget_panic(&self, uid: &str) {
        self.change(uid, |memory| memory.panicked = None);
    }

    pub(crate) fn reset_backoff(&self, uid: &str) {
        self.change(uid, |memory| memory.failures = 0);
    }

    /// Drops everything this process remembers about the UserImport `uid`, once it is gone:
    /// without this, each import ever seen (its error report's CSV among it) would stay in
    /// memory until the process ends.
    pub(crate) fn forget(&self, uid: &str) {
        self.retain(|kept| kept != uid);
    }

    /// Forgets `import` when the controller's cache no longer holds it (or holds another
    /// object of its name). One marked for deletion is still there, and kept.
    pub(crate) fn forget_if_gone(&self, import: &UserImport) {
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
    pub(crate) fn sweep(&self) -> usize {
        let present: HashSet<String> = self
            .imports
            .state()
            .iter()
            .filter_map(|import| import.metadata.uid.clone())
            .collect();
        self.retain(|uid| present.contains(uid))
    }

    /// How many UserImports this process remembers anything of.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.memory().len()
    }

    /// Keeps only the imports for which `keep` holds; returns how many were dropped.
    fn retain(&self, keep: impl Fn(&str) -> bool) -> usize {
        let mut memory = self.memory();
        let before = memory.len();
        memory.retain(|uid, _| keep(uid));
        self.metrics.remembered_imports.set(memory.len() as i64);
        before - memory.len()
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::events::Reporter;
    use kube::runtime::{reflector, watcher};

    use super::*;
    use user_import_resources::{KeyRef, TemplateSource, TenantRef, UserImportSpec};

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
        assert_eq!(ctx.remembered(), 1000);
        assert_eq!(ctx.metrics.remembered_imports.get(), 1000);

        for import in &imports[1..] {
            writer.apply_watcher_event(&watcher::Event::Delete(import.clone()));
        }
        assert_eq!(ctx.sweep(), 999);
        assert_eq!(ctx.remembered(), 1);
        assert!(ctx.has_finished("uid-0", &(Some(1), "sha256:a".into())));

        writer.apply_watcher_event(&watcher::Event::Delete(imports[0].clone()));
        assert_eq!(ctx.sweep(), 1);
        assert_eq!(ctx.remembered(), 0);
        assert_eq!(ctx.metrics.remembered_imports.get(), 0);
    }

    #[tokio::test]
    async fn the_version_of_a_finished_import_is_known_until_another_is_fetched() {
        let (store, _writer) = reflector::store::<UserImport>();
        let ctx = context(store);
        let version = |generation: i64, digest: &str| SourceVersion {
            generation: Some(generation),
            revision: Some("main@sha1:1".into()),
            etag: None,
            digest: digest.into(),
            checked_at: Instant::now(),
        };
        // Fetched, not yet finished: nothing is known.
        ctx.remember_version("a", version(1, "sha256:a"));
        assert_eq!(ctx.finished_version("a", Some(1)), None);
        ctx.remember_finished("a", (Some(1), "sha256:a".into()));
        let known = ctx
            .finished_version("a", Some(1))
            .expect("finished and fetched");
        assert_eq!(known.digest, "sha256:a");
        assert_eq!(known.revision.as_deref(), Some("main@sha1:1"));
        // Another generation, or a newer version fetched since, is not the finished one.
        assert_eq!(ctx.finished_version("a", Some(2)), None);
        ctx.remember_version("a", version(1, "sha256:b"));
        assert_eq!(ctx.finished_version("a", Some(1)), None);
        assert_eq!(ctx.finished_version("b", Some(1)), None);
    }

    #[tokio::test]
    async fn forget_drops_one_import_only() {
        let (store, _writer) = reflector::store::<UserImport>();
        let ctx = context(store);
        remember(&ctx, "a");
        remember(&ctx, "b");
        ctx.forget("a");
        assert_eq!(ctx.remembered(), 1);
        assert!(ctx.has_finished("b", &(Some(1), "sha256:a".into())));
        assert!(!ctx.has_finished("a", &(Some(1), "sha256:a".into())));
    }

    #[tokio::test]
    async fn an_import_with_nothing_left_to_remember_is_dropped() {
        let (store, _writer) = reflector::store::<UserImport>();
        let ctx = context(store);
        ctx.next_backoff("a");
        ctx.delay_after_panic("a", Some(1), Duration::from_secs(60));
        assert_eq!(ctx.remembered(), 1);
        ctx.reset_backoff("a");
        assert_eq!(ctx.remembered(), 1);
        ctx.forget_panic("a");
        assert_eq!(ctx.remembered(), 0);
        // Reading remembers nothing.
        assert_eq!(ctx.mail_wait("b"), None);
        assert_eq!(ctx.remembered(), 0);
    }

    #[tokio::test]
    async fn retries_of_an_import_double_up_to_five_minutes() {
        let (store, _writer) = reflector::store::<UserImport>();
        let ctx = context(store);
        let delays: Vec<u64> = (0..10).map(|_| ctx.next_backoff("a").as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(ctx.fetch_failed("a", Some(1)).as_secs(), 2);
        assert_eq!(ctx.fetch_failed("a", Some(1)).as_secs(), 4);
        assert_eq!(
            ctx.fetch_failed("a", Some(2)).as_secs(),
            2,
            "a new generation"
        );
    }
}
