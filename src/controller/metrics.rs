//! Prometheus metrics of the controller, exposed on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::resources::Counts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabel {
    pub(crate) error: &'static str,
}

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
}

impl Default for Metrics {
    fn default() -> Self {
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
}
