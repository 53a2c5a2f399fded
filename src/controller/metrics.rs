//! Prometheus metrics of the controller, exposed on `/metrics`.
//!
//! Most are counters and gauges that the reconciles update. Two gauge families describe where
//! the UserImports stand, `user_import_imports` and `user_import_error_reports`: they are
//! computed at each scrape from the controller's cache of UserImports (see [`ImportsCollector`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::conditions;
use super::reasons::{
    DELIVERY_FAILED, DELIVERY_REJECTED, NO_RECIPIENT, RECIPIENT_NOT_ALLOWED, REPORT_DELIVERED,
    RETRIES_EXHAUSTED, SENT, STALLED,
};
use user_import_resources::{Counts, ErrorReportState, ImportPhase, UserImport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabel {
    pub(crate) error: &'static str,
}

/// The outcomes of a report delivery that `user_import_report_deliveries_total` counts: the
/// reasons of the `ReportDelivered` condition that end an attempt (one vocabulary with the
/// status, docs/status.md).
pub(crate) const DELIVERY_RESULTS: [&str; 6] = [
    SENT,
    DELIVERY_FAILED,
    RETRIES_EXHAUSTED,
    DELIVERY_REJECTED,
    NO_RECIPIENT,
    RECIPIENT_NOT_ALLOWED,
];

/// The controller's metrics. Cheap to clone: every metric is shared.
#[derive(Clone)]
pub struct Metrics {
    /// Reconciles started.
    pub reconciles: Counter,
    pub(crate) failures: Family<ErrorLabel, Counter>,
    pub(crate) duration: Histogram,
    pub(crate) rows: Family<ResultLabel, Counter>,
    pub(crate) writes: Counter,
    /// 1 while this instance holds the lease (or runs without leader election).
    pub(crate) leader: Gauge,
    /// Reconciles that panicked: each is caught and reported in that import's status.
    pub(crate) reconcile_panics: Counter,
    /// Restarts of the whole controller after a panic outside any reconcile.
    pub(crate) controller_restarts: Counter,
    /// UserImports the controller remembers anything of (see `Context`): drops back once
    /// deleted imports are forgotten.
    pub remembered_imports: Gauge,
    /// Error report deliveries by outcome (one of [`DELIVERY_RESULTS`]), counted once the
    /// status records the outcome.
    pub(crate) deliveries: Family<ResultLabel, Counter>,
    /// The cache of UserImports of the controller running in this process, if any.
    pub(crate) imports: ImportsSource,
}

impl Default for Metrics {
    fn default() -> Self {
        let deliveries = Family::<ResultLabel, Counter>::default();
        // Every outcome from the start, at 0: a counter that first appears at 1 hides that
        // first increase from `increase()`.
        for result in DELIVERY_RESULTS {
            let _ = deliveries.get_or_create(&ResultLabel { result });
        }
        Metrics {
            reconciles: Counter::default(),
            failures: Family::default(),
            // 10 ms to about 80 s.
            duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            rows: Family::default(),
            writes: Counter::default(),
            leader: Gauge::default(),
            reconcile_panics: Counter::default(),
            controller_restarts: Counter::default(),
            remembered_imports: Gauge::default(),
            deliveries,
            imports: ImportsSource::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `user_import` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("user_import");
        registry.register(
            "reconciles",
            "Reconciles of UserImports",
            self.reconciles.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that ended in an error, by kind",
            self.failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile",
            self.duration.clone(),
        );
        registry.register(
            "rows",
            "Template rows imported, by result",
            self.rows.clone(),
        );
        registry.register(
            "tenant_user_writes",
            "TenantUser creates and changes applied",
            self.writes.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance runs the controller",
            self.leader.clone(),
        );
        registry.register(
            "reconcile_panics",
            "Reconciles that panicked (caught; the import is Failed, reason ReconcilePanicked)",
            self.reconcile_panics.clone(),
        );
        registry.register(
            "controller_restarts",
            "Restarts of the controller after a panic outside any reconcile",
            self.controller_restarts.clone(),
        );
        registry.register(
            "remembered_imports",
            "UserImports the controller keeps state of in memory (deleted ones are forgotten)",
            self.remembered_imports.clone(),
        );
        registry.register(
            "report_deliveries",
            "Error report deliveries by outcome (the ReportDelivered reason recorded)",
            self.deliveries.clone(),
        );
        registry.register_collector(Box::new(ImportsCollector(self.imports.clone())));
    }

    /// Counts the rows of a finished import by section.
    pub(crate) fn count_rows(&self, counts: &Counts) {
        let by_result = [
            ("new", counts.new),
            ("update", counts.update),
            ("unchanged", counts.unchanged),
            ("problem", counts.problem),
        ];
        for (result, count) in by_result {
            self.rows
                .get_or_create(&ResultLabel { result })
                .inc_by(count as u64);
        }
    }

    /// Counts a delivery outcome (a `ReportDelivered` reason of [`DELIVERY_RESULTS`]). Called
    /// once the status write that records it succeeded: a write that failed is retried by a
    /// later reconcile, which records (and counts) its own outcome, so none is counted twice.
    pub(crate) fn count_delivery(&self, result: &'static str) {
        debug_assert!(DELIVERY_RESULTS.contains(&result), "{result}");
        self.deliveries.get_or_create(&ResultLabel { result }).inc();
    }
}

// Why at scrape time from the cache, rather than a gauge family that each reconcile updates:
// the cache is already what the controller knows of every UserImport, deletions included, so a
// deleted import, an import no reconcile has looked at since a restart, or a status another
// process wrote can never leave a stale series or miss one; and a scrape costs one pass over
// the cache (a few thousand objects at most), with no bookkeeping in the reconciles. Only the
// leader runs the controller, so only its /metrics has these series (a standby's has none):
// the alerts take `max` across instances. The series have no import name, to stay few (one per
// namespace, phase and reason); the alerts' runbooks list the imports with kubectl.

/// Where the collector finds the UserImports: the cache of the controller running in this
/// process, set by the controller's `Context` for as long as it lives (see [`ImportsWatch`]).
#[derive(Clone, Default)]
pub(crate) struct ImportsSource(Arc<Mutex<Option<Watched>>>);

/// The store being read, and the id of its [`ImportsWatch`].
type Watched = (u64, Store<UserImport>);

impl ImportsSource {
    /// Reads `store` at each scrape until the returned guard is dropped (or another store
    /// replaces it: the next run of the controller after a panic).
    pub(crate) fn watch(&self, store: Store<UserImport>) -> ImportsWatch {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let id = current.as_ref().map_or(0, |(id, _)| id.wrapping_add(1));
        *current = Some((id, store));
        ImportsWatch {
            source: self.clone(),
            id,
        }
    }

    /// Every UserImport of the current store; none when no controller runs here.
    fn imports(&self) -> Vec<Arc<UserImport>> {
        let current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .map(|(_, store)| store.state())
            .unwrap_or_default()
    }
}

/// Keeps a controller's cache exposed; on drop (the controller's run ended) the series go.
pub(crate) struct ImportsWatch {
    source: ImportsSource,
    id: u64,
}

impl Drop for ImportsWatch {
    fn drop(&mut self) {
        let mut current = self.source.0.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(id, _)| *id == self.id) {
            *current = None;
        }
    }
}

/// `user_import_imports{namespace, phase, stalled_reason}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ImportLabels {
    namespace: String,
    /// `status.phase`, `None` while the import has no status yet.
    phase: &'static str,
    /// The reason of `Stalled=True`; empty when not stalled.
    stalled_reason: String,
}

/// `user_import_error_reports{namespace, state, reason}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ReportLabels {
    namespace: String,
    /// `status.errorReport.state`.
    state: &'static str,
    /// The reason of the `ReportDelivered` condition; empty when there is none (or the report
    /// is `NotNeeded`).
    reason: String,
}

/// Counts the UserImports by phase and stalled reason, and their error reports by state and
/// delivery reason.
fn tally(
    imports: &[Arc<UserImport>],
) -> (BTreeMap<ImportLabels, i64>, BTreeMap<ReportLabels, i64>) {
    let mut by_phase = BTreeMap::new();
    let mut by_report = BTreeMap::new();
    for import in imports {
        let namespace = import.metadata.namespace.clone().unwrap_or_default();
        let status = import.status.as_ref();
        let reason_of = |type_: &str, only_true: bool| {
            status
                .and_then(|status| conditions::find(&status.conditions, type_))
                .filter(|condition| !only_true || condition.status == "True")
                .map(|condition| condition.reason.clone())
                .unwrap_or_default()
        };
        let phase = match status.and_then(|status| status.phase) {
            None => "None",
            Some(ImportPhase::Pending) => "Pending",
            Some(ImportPhase::Running) => "Running",
            Some(ImportPhase::Succeeded) => "Succeeded",
            Some(ImportPhase::SucceededWithProblems) => "SucceededWithProblems",
            Some(ImportPhase::Failed) => "Failed",
        };
        let labels = ImportLabels {
            namespace: namespace.clone(),
            phase,
            stalled_reason: reason_of(STALLED, true),
        };
        *by_phase.entry(labels).or_default() += 1;
        let Some(report) = status.and_then(|status| status.error_report.as_ref()) else {
            continue;
        };
        let (state, reason) = match report.state {
            ErrorReportState::NotNeeded => ("NotNeeded", String::new()),
            ErrorReportState::Pending => ("Pending", reason_of(REPORT_DELIVERED, false)),
            ErrorReportState::Sent => ("Sent", reason_of(REPORT_DELIVERED, false)),
            ErrorReportState::Failed => ("Failed", reason_of(REPORT_DELIVERED, false)),
        };
        let labels = ReportLabels {
            namespace,
            state,
            reason,
        };
        *by_report.entry(labels).or_default() += 1;
    }
    (by_phase, by_report)
}

/// The scrape-time gauges of [`ImportsSource`]'s UserImports.
struct ImportsCollector(ImportsSource);

impl fmt::Debug for ImportsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImportsCollector")
    }
}

impl Collector for ImportsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (by_phase, by_report) = tally(&self.0.imports());
        gauges(
            &mut encoder,
            "imports",
            "UserImports by namespace, status.phase and the reason of Stalled=True (only the leader has them)",
            &by_phase,
        )?;
        gauges(
            &mut encoder,
            "error_reports",
            "UserImports by namespace, status.errorReport.state and ReportDelivered reason (only the leader has them)",
            &by_report,
        )
    }
}

/// One gauge family: a sample per label set.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &BTreeMap<L, i64>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use k8s_openapi::jiff::Timestamp;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;
    use user_import_resources::{
        ErrorReportStatus, KeyRef, TemplateSource, TenantRef, UserImportSpec, UserImportStatus,
    };

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    fn import(
        namespace: &str,
        name: &str,
        phase: Option<ImportPhase>,
        conditions: Vec<Condition>,
        report: Option<ErrorReportState>,
    ) -> UserImport {
        let mut import = UserImport::new(
            name,
            UserImportSpec {
                tenant_ref: TenantRef { name: "t".into() },
                template: TemplateSource {
                    config_map_key_ref: Some(KeyRef {
                        name: "c".into(),
                        key: "k".into(),
                    }),
                    ..TemplateSource::default()
                },
                mode: Default::default(),
                on_problem: Default::default(),
            },
        );
        import.metadata.namespace = Some(namespace.into());
        import.metadata.uid = Some(format!("{namespace}-{name}"));
        import.status = Some(UserImportStatus {
            phase,
            conditions,
            error_report: report.map(|state| ErrorReportStatus {
                state,
                ..Default::default()
            }),
            ..Default::default()
        });
        import
    }

    fn scrape(metrics: &Metrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn imports_and_reports_are_counted_from_the_cache_at_each_scrape() {
        let metrics = Metrics::default();
        // No controller here (a standby): the families, and no series.
        let text = scrape(&metrics);
        assert!(text.contains("# TYPE user_import_imports gauge"), "{text}");
        assert!(!text.contains("user_import_imports{"), "{text}");
        let (store, mut writer) = reflector::store::<UserImport>();
        let watch = metrics.imports.watch(store);
        let stalled = vec![condition(STALLED, "True", "TenantNotFound")];
        let not_stalled = vec![condition(STALLED, "False", "Imported")];
        let failed_report = vec![
            condition(STALLED, "False", "Imported"),
            condition(REPORT_DELIVERED, "False", NO_RECIPIENT),
        ];
        let pending = Some(ImportPhase::Pending);
        let done = Some(ImportPhase::SucceededWithProblems);
        let imports = [
            import("a", "s1", pending, stalled.clone(), None),
            import("a", "s2", pending, stalled.clone(), None),
            import("b", "s3", pending, stalled, None),
            import("a", "new", None, vec![], None),
            import("a", "ok", done, not_stalled, Some(ErrorReportState::Sent)),
            import(
                "a",
                "orphan",
                done,
                failed_report,
                Some(ErrorReportState::Failed),
            ),
        ];
        writer.apply_watcher_event(&Event::Init);
        for import in imports.clone() {
            writer.apply_watcher_event(&Event::InitApply(import));
        }
        writer.apply_watcher_event(&Event::InitDone);
        let text = scrape(&metrics);
        for line in [
            r#"user_import_imports{namespace="a",phase="Pending",stalled_reason="TenantNotFound"} 2"#,
            r#"user_import_imports{namespace="b",phase="Pending",stalled_reason="TenantNotFound"} 1"#,
            r#"user_import_imports{namespace="a",phase="None",stalled_reason=""} 1"#,
            r#"user_import_imports{namespace="a",phase="SucceededWithProblems",stalled_reason=""} 2"#,
            r#"user_import_error_reports{namespace="a",state="Failed",reason="NoRecipient"} 1"#,
            // No ReportDelivered condition in this made-up status.
            r#"user_import_error_reports{namespace="a",state="Sent",reason=""} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert_eq!(text.matches("user_import_imports{").count(), 4, "{text}");
        assert_eq!(text.matches("user_import_error_reports{").count(), 2);
        // A deleted import is gone at the next scrape.
        writer.apply_watcher_event(&Event::Delete(imports[2].clone()));
        let text = scrape(&metrics);
        assert!(!text.contains(r#"namespace="b""#), "{text}");
        // The controller's run ended: no series left behind.
        drop(watch);
        assert!(!scrape(&metrics).contains("user_import_imports{"));
    }

    #[test]
    fn a_later_run_keeps_its_store_when_the_earlier_one_ends() {
        let metrics = Metrics::default();
        let (first, _w1) = reflector::store::<UserImport>();
        let (second, mut writer) = reflector::store::<UserImport>();
        let earlier = metrics.imports.watch(first);
        let _later = metrics.imports.watch(second);
        writer.apply_watcher_event(&Event::Apply(import("a", "x", None, vec![], None)));
        drop(earlier);
        assert!(scrape(&metrics).contains(r#"user_import_imports{namespace="a",phase="None""#));
    }

    #[test]
    fn every_delivery_outcome_is_exposed_from_the_start() {
        let metrics = Metrics::default();
        metrics.count_delivery(SENT);
        let text = scrape(&metrics);
        assert!(text.contains("user_import_report_deliveries_total{result=\"Sent\"} 1"));
        for result in &DELIVERY_RESULTS[1..] {
            let line = format!("user_import_report_deliveries_total{{result=\"{result}\"}} 0");
            assert!(text.contains(&line), "{line} in\n{text}");
        }
    }
}
