//! Reading a HelmRelease's status the way Flux helm-controller (helm.toolkit.fluxcd.io/v2) writes it.
//!
//! # Generations
//! A condition only speaks for the spec the executor applied once Flux has looked at that spec:
//! a `Ready=False InstallFailed` left over from the previous generation must not fail an upgrade
//! that Flux has not started yet. A condition is *fresh* when its own `observedGeneration` (Flux
//! sets it on every condition) reaches `metadata.generation`; without one, when
//! `status.observedGeneration` or `status.lastAttemptedGeneration` does. Ready additionally needs
//! `status.observedGeneration >= metadata.generation`.
//!
//! And no condition speaks for a generation Flux has not started an attempt at: when
//! `status.lastAttemptedGeneration` is there (Flux sets it as an attempt begins) and is older than
//! `metadata.generation`, everything is pending. Seen with the real helm-controller: a spec
//! applied while Flux is still upgrading to the previous one (a rollback step right after a timed
//! out upgrade) gets the previous upgrade's `UpgradeFailed` stamped with the *new* generation (Flux
//! read the new generation back from one of its own status patches), and only its next attempt is
//! about the spec applied.
//!
//! # Terminal failures
//! The step fails at once, without waiting for the timeout, when a fresh condition says:
//! - `Stalled=True` (any reason: Flux gave up, e.g. `RetriesExceeded`, `InvalidChartReference`);
//! - `Ready=False` with one of [`TERMINAL_REASONS`]. Exception: `InstallFailed` (`UpgradeFailed`)
//!   while the release asks Flux to retry (`spec.install.remediation.retries`, resp.
//!   `spec.upgrade.remediation.retries`, non-zero; negative means forever; or the action's
//!   `strategy.name: RetryOnFailure`, which retries every `retryInterval`): Flux will try again,
//!   so only `Stalled` or the timeout end the wait. Orkestra's own remediation (the rollback
//!   workflow) starts when the step fails, so by default the step fails fast. A helm-controller
//!   started with the `DefaultToRetryOnFailure` feature gate retries releases that name no
//!   strategy too; the executor cannot see the gate, so such releases should name the strategy.
//!
//! Any other state (no status yet, `Ready=Unknown Progressing`, `Ready=False DependencyNotReady`,
//! a stale condition) is pending.
//!
//! NB: re-running a step whose apply changes nothing (same generation) after Flux failed that
//! generation fails at once with the old failure. That is the truth: Flux does not retry an
//! unchanged failed release by itself either (it needs a spec change or `flux reconcile hr
//! --reset`); the executor does not reset Flux's failure counters behind the user's back.

use serde_json::Value;

/// `Ready=False` reasons that Flux does not get over by itself (v2, plus the v2beta names
/// `ReconciliationFailed` and `ChartPullFailed` still written by older helm-controllers). Not
/// `ArtifactFailed`: helm-controller writes it for what it retries ("could not get Source object",
/// "artifact not found. Retrying in …", "Could not load chart"), and never stalls on it.
pub const TERMINAL_REASONS: &[&str] = &[
    "InstallFailed",
    "UpgradeFailed",
    "TestFailed",
    "RollbackFailed",
    "UninstallFailed",
    "InitFailed",
    "GetLastReleaseFailed",
    "ReconciliationFailed",
    "ChartPullFailed",
];

/// What one look at a HelmRelease says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// Flux observed the current generation and it is `Ready=True`.
    Ready,
    /// Flux gave up on the current generation.
    Failed { reason: String, message: String },
    /// Anything else; the text describes the state for logs and timeout messages.
    Pending(String),
}

/// Reads the status of a HelmRelease object (the whole object as JSON).
pub fn observe(object: &Value) -> Observation {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status = object.get("status");
    let observed = status
        .and_then(|s| s.get("observedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let attempted = status
        .and_then(|s| s.get("lastAttemptedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let conditions: &[Value] = status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let attempt_started = attempted < 0 || attempted >= generation;
    let fresh = |condition: &Value| {
        attempt_started
            && match condition.get("observedGeneration").and_then(Value::as_i64) {
                Some(at) => at >= generation,
                None => observed >= generation || attempted >= generation,
            }
    };
    let find = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };
    let text = |c: &Value, key: &str| {
        c.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };

    if let Some(stalled) = find("Stalled").filter(|c| fresh(c) && text(c, "status") == "True") {
        // Flux writes `Stalled=True RetriesExceeded` ("Failed to install after 1 attempt(s)") next
        // to the `Ready=False` that says why (Helm's error): report that one when it is there.
        let why = find("Ready")
            .filter(|c| fresh(c) && text(c, "status") == "False" && !text(c, "message").is_empty());
        let told = why.unwrap_or(stalled);
        return Observation::Failed {
            reason: reason_or(&text(told, "reason"), "Stalled"),
            message: text(told, "message"),
        };
    }
    let Some(ready) = find("Ready") else {
        return Observation::Pending(format!(
            "no Ready condition yet (generation {generation}, observed {observed})"
        ));
    };
    let (state, reason, message) = (
        text(ready, "status"),
        text(ready, "reason"),
        text(ready, "message"),
    );
    if !fresh(ready) {
        return Observation::Pending(format!(
            "Ready={state} ({reason}) is about an older generation than {generation}; waiting for Flux"
        ));
    }
    match state.as_str() {
        "True" if observed >= generation => Observation::Ready,
        "False"
            if TERMINAL_REASONS.contains(&reason.as_str()) && !retried_by_flux(object, &reason) =>
        {
            Observation::Failed { reason, message }
        }
        _ => Observation::Pending(format!(
            "Ready={state} ({reason}: {message}) at generation {generation}, observed {observed}"
        )),
    }
}

/// Whether Flux retries after `reason` because the release configures remediation retries or
/// the `RetryOnFailure` strategy for that action.
fn retried_by_flux(object: &Value, reason: &str) -> bool {
    let section = match reason {
        "InstallFailed" => "install",
        "UpgradeFailed" => "upgrade",
        _ => return false,
    };
    let Some(action) = object.pointer(&format!("/spec/{section}")) else {
        return false;
    };
    let retries = action
        .pointer("/remediation/retries")
        .and_then(Value::as_i64)
        .is_some_and(|retries| retries != 0);
    let strategy = action.pointer("/strategy/name").and_then(Value::as_str);
    retries || strategy == Some("RetryOnFailure")
}

fn reason_or(reason: &str, fallback: &str) -> String {
    if reason.is_empty() {
        fallback.to_owned()
    } else {
        reason.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(generation: i64, status: Value) -> Value {
        json!({"metadata": {"name": "app", "generation": generation}, "spec": {}, "status": status})
    }

    fn condition(kind: &str, status: &str, reason: &str, at: Option<i64>) -> Value {
        let mut c = json!({"type": kind, "status": status, "reason": reason, "message": format!("{reason} happened")});
        if let Some(at) = at {
            c["observedGeneration"] = json!(at);
        }
        c
    }

    #[test]
    fn ready_needs_flux_to_have_observed_the_current_generation() {
        let ready = condition("Ready", "True", "InstallSucceeded", None);
        assert_eq!(
            observe(&release(
                2,
                json!({"observedGeneration": 2, "conditions": [ready]})
            )),
            Observation::Ready
        );
        assert!(matches!(
            observe(&release(
                3,
                json!({"observedGeneration": 2, "conditions": [ready]})
            )),
            Observation::Pending(_)
        ));
        let stale = condition("Ready", "True", "UpgradeSucceeded", Some(2));
        assert!(matches!(
            observe(&release(
                3,
                json!({"observedGeneration": 3, "conditions": [stale]})
            )),
            Observation::Pending(_)
        ));
    }

    #[test]
    fn terminal_reasons_fail_only_for_the_current_generation() {
        let failed = condition("Ready", "False", "InstallFailed", Some(1));
        assert_eq!(
            observe(&release(1, json!({"conditions": [failed]}))),
            Observation::Failed {
                reason: "InstallFailed".into(),
                message: "InstallFailed happened".into()
            }
        );
        assert!(matches!(
            observe(&release(2, json!({"conditions": [failed]}))),
            Observation::Pending(_)
        ));
        let unversioned = condition("Ready", "False", "UpgradeFailed", None);
        assert!(matches!(
            observe(&release(
                2,
                json!({"lastAttemptedGeneration": 2, "conditions": [unversioned]})
            )),
            Observation::Failed { .. }
        ));
        assert!(matches!(
            observe(&release(
                2,
                json!({"lastAttemptedGeneration": 1, "observedGeneration": 1, "conditions": [unversioned]})
            )),
            Observation::Pending(_)
        ));
    }

    /// As the real helm-controller wrote it: the previous generation's failed upgrade, stamped
    /// with the generation just applied, before Flux's attempt at that generation began.
    #[test]
    fn nothing_speaks_for_a_generation_flux_has_not_attempted_yet() {
        let failed = condition("Ready", "False", "UpgradeFailed", Some(3));
        let stalled = condition("Stalled", "True", "RetriesExceeded", Some(3));
        let succeeded = condition("Ready", "True", "UpgradeSucceeded", Some(3));
        for conditions in [
            vec![failed.clone()],
            vec![failed, stalled],
            vec![succeeded.clone()],
        ] {
            let status = json!({"observedGeneration": 3, "lastAttemptedGeneration": 2, "conditions": conditions});
            assert!(
                matches!(observe(&release(3, status)), Observation::Pending(_)),
                "{conditions:?}"
            );
        }
        let attempted = json!({"observedGeneration": 3, "lastAttemptedGeneration": 3, "conditions": [succeeded]});
        assert_eq!(observe(&release(3, attempted)), Observation::Ready);
    }

    #[test]
    fn stalled_fails_and_transient_reasons_wait() {
        let stalled = condition("Stalled", "True", "RetriesExceeded", Some(1));
        let progressing = condition("Ready", "Unknown", "Progressing", Some(1));
        assert!(matches!(
            observe(&release(1, json!({"conditions": [progressing.clone(), stalled]}))),
            Observation::Failed { reason, .. } if reason == "RetriesExceeded"
        ));
        assert!(matches!(
            observe(&release(1, json!({"conditions": [progressing]}))),
            Observation::Pending(_)
        ));
        // helm-controller 1.6 on a first install, before the HelmChart is in its cache: retried.
        let no_source = json!({
            "type": "Ready", "status": "False", "reason": "ArtifactFailed", "observedGeneration": 1,
            "message": "could not get Source object: HelmChart.source.toolkit.fluxcd.io \"ns-web\" not found",
        });
        let dependency = condition("Ready", "False", "DependencyNotReady", Some(1));
        for waiting in [dependency, no_source] {
            assert!(matches!(
                observe(&release(1, json!({"conditions": [waiting]}))),
                Observation::Pending(_)
            ));
        }
        assert!(matches!(
            observe(&json!({"metadata": {"generation": 1}})),
            Observation::Pending(_)
        ));
    }

    /// As the real helm-controller writes a failed install: the reason is in Ready, not Stalled.
    #[test]
    fn a_stalled_release_reports_the_failure_ready_names() {
        let stalled = condition("Stalled", "True", "RetriesExceeded", Some(1));
        let failed = condition("Ready", "False", "InstallFailed", Some(1));
        assert_eq!(
            observe(&release(1, json!({"conditions": [failed, stalled]}))),
            Observation::Failed {
                reason: "InstallFailed".into(),
                message: "InstallFailed happened".into()
            }
        );
    }

    #[test]
    fn install_failures_that_flux_retries_are_not_terminal() {
        let mut object = release(
            1,
            json!({"conditions": [condition("Ready", "False", "InstallFailed", Some(1))]}),
        );
        object["spec"] = json!({"install": {"remediation": {"retries": 3}}});
        assert!(matches!(observe(&object), Observation::Pending(_)));
        object["spec"] = json!({"upgrade": {"remediation": {"retries": 3}}});
        assert!(matches!(observe(&object), Observation::Failed { .. }));
    }

    #[test]
    fn failures_of_an_action_with_the_retry_on_failure_strategy_are_not_terminal() {
        let mut object = release(
            1,
            json!({"conditions": [condition("Ready", "False", "UpgradeFailed", Some(1))]}),
        );
        object["spec"] =
            json!({"upgrade": {"strategy": {"name": "RetryOnFailure", "retryInterval": "1m"}}});
        assert!(matches!(observe(&object), Observation::Pending(_)));
        object["spec"] = json!({"upgrade": {"strategy": {"name": "RemediateOnFailure"}}});
        assert!(matches!(observe(&object), Observation::Failed { .. }));
        object["spec"] = json!({"install": {"strategy": {"name": "RetryOnFailure"}}});
        assert!(matches!(observe(&object), Observation::Failed { .. }));
    }
}
