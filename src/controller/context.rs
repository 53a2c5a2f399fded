//! What every reconcile shares: the client, the event recorder, metrics and settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::events::Recorder;

use super::metrics::Metrics;
use super::report_mail::Prepared;
use crate::core::template::TemplateLimits;
use crate::mail::MailSettings;

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
        }
    }
}

/// (generation, template digest) of an import.
pub type ImportKey = (Option<i64>, String);

pub struct Context {
    pub client: Client,
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
    /// By UserImport uid: when the next report delivery is due after a failed one.
    pub mail_due: Mutex<HashMap<String, Instant>>,
}

impl Context {
    pub fn new(client: Client, recorder: Recorder, metrics: Metrics, settings: Settings) -> Self {
        Context {
            client,
            recorder,
            metrics,
            settings,
            finished: Mutex::default(),
            failures: Mutex::default(),
            reports: Mutex::default(),
            mail_due: Mutex::default(),
        }
    }

    pub fn remember_finished(&self, uid: &str, key: ImportKey) {
        self.finished
            .lock()
            .expect("no panics while held")
            .insert(uid.to_string(), key);
    }

    pub fn has_finished(&self, uid: &str, key: &ImportKey) -> bool {
        self.finished.lock().expect("no panics while held").get(uid) == Some(key)
    }

    /// Records a failure and returns the delay before the next try: doubling, at most 5 minutes.
    pub fn next_backoff(&self, uid: &str) -> Duration {
        let mut failures = self.failures.lock().expect("no panics while held");
        let count = failures.entry(uid.to_string()).or_insert(0);
        *count = count.saturating_add(1);
        let factor = 2u32.saturating_pow((*count - 1).min(8));
        (self.settings.error_backoff * factor).min(Duration::from_secs(300))
    }

    pub fn keep_report(&self, uid: &str, key: ImportKey, prepared: Arc<Prepared>) {
        self.reports
            .lock()
            .expect("no panics while held")
            .insert(uid.to_string(), (key, prepared));
    }

    pub fn kept_report(&self, uid: &str, key: &ImportKey) -> Option<Arc<Prepared>> {
        let reports = self.reports.lock().expect("no panics while held");
        reports
            .get(uid)
            .filter(|(kept, _)| kept == key)
            .map(|(_, prepared)| prepared.clone())
    }

    /// Delays the next delivery of this import's report by `wait` (None: no delay).
    pub fn delay_mail(&self, uid: &str, wait: Option<Duration>) {
        let mut due = self.mail_due.lock().expect("no panics while held");
        match wait {
            Some(wait) => due.insert(uid.to_string(), Instant::now() + wait),
            None => due.remove(uid),
        };
    }

    /// How long until this import's report may be sent again, if it must wait.
    pub fn mail_wait(&self, uid: &str) -> Option<Duration> {
        let due = self.mail_due.lock().expect("no panics while held");
        let left = due.get(uid)?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }

    pub fn reset_backoff(&self, uid: &str) {
        self.failures
            .lock()
            .expect("no panics while held")
            .remove(uid);
    }
}
