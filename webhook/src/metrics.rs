//! Prometheus metrics of the admission server, served by the admin listener at `/metrics`.
//!
//! Labels have bounded values only (endpoint, operation, result): never object names or uids.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt::Write;
use std::time::Duration;

/// Which admission endpoint answered.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Endpoint {
    Mutate,
    Validate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Mutate => "mutate",
            Endpoint::Validate => "validate",
        }
    }
}

/// The review's operation as a label: the four admission operations, or `unknown` when the request
/// could not be read.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum OperationLabel {
    Create,
    Update,
    Delete,
    Connect,
    Unknown,
}

impl OperationLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationLabel::Create => "CREATE",
            OperationLabel::Update => "UPDATE",
            OperationLabel::Delete => "DELETE",
            OperationLabel::Connect => "CONNECT",
            OperationLabel::Unknown => "unknown",
        }
    }
}

/// How a review was answered.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed without changes.
    Allowed,
    /// Allowed with a defaulting patch.
    Patched,
    /// Denied: the object breaks a rule.
    Denied,
    /// Denied: the request itself could not be read.
    Invalid,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Patched => "patched",
            Outcome::Denied => "denied",
            Outcome::Invalid => "invalid",
        }
    }

    pub fn allowed(self) -> bool {
        matches!(self, Outcome::Allowed | Outcome::Patched)
    }
}

macro_rules! label_value {
    ($($ty:ty),*) => {$(
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}
label_value!(Endpoint, OperationLabel, Outcome);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    endpoint: Endpoint,
    operation: OperationLabel,
    result: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Endpoint,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~0.8 s: a review normally takes well under a millisecond; the API server gives up at 10 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 15))
}

/// Every metric of the webhook, with the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    certificate_expiry: Gauge,
    certificate_reloads: Counter,
    certificate_reload_failures: Counter,
    policy_reloads: Counter,
    policy_reload_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("orkestra_webhook");
        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "reviews",
            "Admission reviews answered, by endpoint, operation and result",
            reviews.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "review_duration_seconds",
            "Time from the start of a review to its answer, body reading included",
            latency.clone(),
        );
        let certificate_expiry = Gauge::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "End of validity of the serving certificate now in use (Unix time)",
            certificate_expiry.clone(),
        );
        let certificate_reloads = Counter::default();
        registry.register(
            "certificate_reloads",
            "Serving certificates loaded from the files",
            certificate_reloads.clone(),
        );
        let certificate_reload_failures = Counter::default();
        registry.register(
            "certificate_reload_failures",
            "Changed certificate or key files that could not be loaded (the previous certificate stays in use)",
            certificate_reload_failures.clone(),
        );
        let policy_reloads = Counter::default();
        registry.register(
            "policy_reloads",
            "Policies loaded from the policy file",
            policy_reloads.clone(),
        );
        let policy_reload_failures = Counter::default();
        registry.register(
            "policy_reload_failures",
            "Changed policy files that could not be loaded (the last good policy stays in use)",
            policy_reload_failures.clone(),
        );
        Metrics {
            registry,
            reviews,
            latency,
            certificate_expiry,
            certificate_reloads,
            certificate_reload_failures,
            policy_reloads,
            policy_reload_failures,
        }
    }

    pub fn review(
        &self,
        endpoint: Endpoint,
        operation: OperationLabel,
        result: Outcome,
        elapsed: Duration,
    ) {
        self.reviews
            .get_or_create(&ReviewLabels {
                endpoint,
                operation,
                result,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    pub fn certificate_loaded(&self, not_after: i64) {
        self.certificate_expiry.set(not_after);
        self.certificate_reloads.inc();
    }

    pub fn certificate_reload_failed(&self) {
        self.certificate_reload_failures.inc();
    }

    pub fn policy_loaded(&self) {
        self.policy_reloads.inc();
    }

    pub fn policy_reload_failed(&self) {
        self.policy_reload_failures.inc();
    }

    /// The OpenMetrics text exposition, which Prometheus scrapes.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn exposes_reviews_latency_expiry_and_reload_failures() {
        let metrics = Metrics::new();
        metrics.review(
            Endpoint::Validate,
            OperationLabel::Update,
            Outcome::Denied,
            Duration::from_micros(300),
        );
        metrics.certificate_loaded(1_941_840_000);
        metrics.policy_reload_failed();
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"orkestra_webhook_reviews_total{endpoint="validate",operation="UPDATE",result="denied"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"orkestra_webhook_review_duration_seconds_count{endpoint="validate"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("orkestra_webhook_certificate_expiry_timestamp_seconds 1941840000"),
            "{text}"
        );
        assert!(
            text.contains("orkestra_webhook_policy_reload_failures_total 1"),
            "{text}"
        );
    }
}
