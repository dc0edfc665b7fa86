//! How long a workflow step waits.

use std::time::Duration;

use super::Action;
use crate::plan::flux::HelmRelease;
use crate::plan::release::DEFAULT_DURATION;

/// The step's deadline: the longest that Flux may spend on the step's action, as
/// helm-controller's `timeoutForAction` reads it: the action's own timeout (`install.timeout` or
/// `upgrade.timeout` for an install, which of the two runs is Flux's business; `uninstall.timeout`
/// for a delete), else the release's (default 5m), once for every attempt its remediation allows
/// (`remediation.retries: n` is n + 1 attempts; a negative count, retrying forever, and the
/// `RetryOnFailure` strategy leave the step at one attempt's time). Never shorter than the
/// release's timeout. Written as the user wrote it when no retries lengthen it.
pub(super) fn step_timeout(release: &HelmRelease, action: Action) -> String {
    let spec = &release.spec;
    let release_timeout = spec.timeout.as_deref().unwrap_or(DEFAULT_DURATION);
    let own: &[&Option<serde_json::Value>] = match action {
        Action::Install => &[&spec.install, &spec.upgrade],
        Action::Delete => &[&spec.uninstall],
    };
    let parse = |text: &str| crate::duration::parse(text).ok();
    let mut longest = (parse(release_timeout), release_timeout.to_owned());
    for settings in own.iter().filter_map(|settings| settings.as_ref()) {
        let text = settings
            .get("timeout")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(release_timeout);
        let Some(one) = parse(text) else { continue };
        let attempts = settings
            .pointer("/remediation/retries")
            .and_then(serde_json::Value::as_i64)
            .filter(|retries| *retries > 0)
            .and_then(|retries| u32::try_from(retries.saturating_add(1)).ok())
            .unwrap_or(1);
        let budget = one.saturating_mul(attempts);
        if longest.0.is_none_or(|current| budget > current) {
            longest = match attempts {
                1 => (Some(budget), text.to_owned()),
                _ => (Some(budget), go_duration(budget)),
            };
        }
    }
    longest.1
}

/// `1h30m`, `3m`, `90s`, `1m0.5s`: a Go duration string of `duration`.
fn go_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, whole) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let millis = duration.subsec_millis();
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if millis > 0 {
        text.push_str(&format!("{whole}.{millis:03}s"));
    } else if whole > 0 || text.is_empty() {
        text.push_str(&format!("{whole}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_compact() {
        for (seconds, text) in [
            (180.0, "3m"),
            (5400.0, "1h30m"),
            (90.0, "1m30s"),
            (0.5, "0.500s"),
            (3601.0, "1h1s"),
        ] {
            assert_eq!(go_duration(Duration::from_secs_f64(seconds)), text);
            assert_eq!(
                crate::duration::parse(text).unwrap(),
                Duration::from_secs_f64(seconds)
            );
        }
    }
}
