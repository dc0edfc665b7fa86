//! Prometheus metrics of the reconciler. Labels take bounded values only (error categories,
//! Ready reasons), never object names.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use orkestra_shared::names::condition;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Ready reasons a group can be counted under; `None` (no status yet) is counted as "Unknown".
const REASONS: [&str; 7] = [
    condition::PROGRESSING,
    condition::SUCCEEDED,
    condition::WORKFLOW_FAILED,
    condition::CHART_PULL_FAILED,
    condition::WORKFLOW_TEMPLATE_GENERATION_FAILED,
    condition::TERMINATING,
    "Unknown",
];

/// Label set of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// [`super::Error::category`].
    pub category: String,
}

/// Label set of the groups gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The Ready condition's reason.
    pub reason: String,
}

/// The reconciler's metrics.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Counter,
    errors: Family<ErrorLabels, Counter>,
    time_to_submit: Histogram,
    reconcile_duration: Histogram,
    groups: Family<ReasonLabels, Gauge>,
    leader: Gauge,
    /// Ready reason per group name, to recount the gauge (names stay in memory, not in labels).
    reasons: Mutex<HashMap<String, &'static str>>,
}

impl Metrics {
    /// Creates the metrics and registers them with the `orkestra` prefix.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconciles: Counter::default(),
            errors: Family::default(),
            // 10 ms … ~40 s: staging a group is network-bound.
            time_to_submit: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 13),
            ),
            reconcile_duration: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16),
            ),
            groups: Family::default(),
            leader: Gauge::default(),
            reasons: Mutex::new(HashMap::new()),
        };
        let sub = registry.sub_registry_with_prefix("orkestra");
        sub.register(
            "reconciles",
            "Reconciles of ApplicationGroups",
            metrics.reconciles.clone(),
        );
        sub.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            metrics.errors.clone(),
        );
        sub.register(
            "time_to_submit_seconds",
            "From the start of handling a new generation to its forward Workflow being created",
            metrics.time_to_submit.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            metrics.reconcile_duration.clone(),
        );
        sub.register(
            "groups",
            "ApplicationGroups by the reason of their Ready condition",
            metrics.groups.clone(),
        );
        sub.register(
            "leader",
            "1 while this replica holds the Lease and reconciles, else 0",
            metrics.leader.clone(),
        );
        for reason in REASONS {
            metrics
                .groups
                .get_or_create(&ReasonLabels {
                    reason: reason.to_owned(),
                })
                .set(0);
        }
        metrics
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Counts one reconcile and its duration.
    pub fn reconciled(&self, took: Duration) {
        self.reconciles.inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Counts one failed reconcile.
    pub fn failed(&self, category: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                category: category.to_owned(),
            })
            .inc();
    }

    /// Records the time from handling a new generation to its Workflow's creation.
    pub fn submitted(&self, took: Duration) {
        self.time_to_submit.observe(took.as_secs_f64());
    }

    /// Records a group's Ready reason (`None`: the group is gone).
    pub fn set_reason(&self, group: &str, reason: Option<&str>) {
        let Ok(mut reasons) = self.reasons.lock() else {
            return;
        };
        match reason {
            Some(reason) => {
                let known = REASONS
                    .iter()
                    .find(|r| **r == reason)
                    .copied()
                    .unwrap_or("Unknown");
                reasons.insert(group.to_owned(), known);
            }
            None => {
                reasons.remove(group);
            }
        }
        let mut counts: HashMap<&str, i64> = REASONS.iter().map(|r| (*r, 0)).collect();
        for reason in reasons.values() {
            *counts.entry(reason).or_default() += 1;
        }
        for (reason, count) in counts {
            self.groups
                .get_or_create(&ReasonLabels {
                    reason: reason.to_owned(),
                })
                .set(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_counted_by_reason_without_their_names() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        metrics.set_reason("g1", Some(condition::SUCCEEDED));
        metrics.set_reason("g2", Some(condition::SUCCEEDED));
        metrics.set_reason("g2", Some(condition::PROGRESSING));
        metrics.failed("kube");
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        assert!(
            text.contains("orkestra_groups{reason=\"Succeeded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("orkestra_groups{reason=\"Progressing\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("orkestra_reconcile_errors_total{category=\"kube\"} 1"),
            "{text}"
        );
        assert!(!text.contains("g1"));
        metrics.set_reason("g1", None);
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        assert!(
            text.contains("orkestra_groups{reason=\"Succeeded\"} 0"),
            "{text}"
        );
    }
}
