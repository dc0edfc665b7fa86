//! How long a workflow step waits.

use std::time::Duration;

use super::Action;
use crate::crd::Release;
use crate::free_form::FreeForm;
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
    let own = match action {
        Action::Install => [spec.install.as_ref(), spec.upgrade.as_ref()],
        Action::Delete => [spec.uninstall.as_ref(), None],
    };
    longest(spec.timeout.as_deref(), own)
}

/// [`step_timeout`] of the releases of an application with these `release` settings.
pub(super) fn application_step_timeout(release: &Release, action: Action) -> String {
    let [install, upgrade, uninstall] = [&release.install, &release.upgrade, &release.uninstall]
        .map(|f| f.as_ref().map(FreeForm::to_value));
    let own = match action {
        Action::Install => [install.as_ref(), upgrade.as_ref()],
        Action::Delete => [uninstall.as_ref(), None],
    };
    longest(release.timeout.as_deref(), own)
}

/// How long a custom executor's pod may run (Argo's `activeDeadlineSeconds`): its step's
/// timeout, which the image is asked to keep (`--timeout`) but may not, and five minutes more for
/// the pod to start (an image pull) and to end. Without one, a hung image held the group's
/// Workflow, and so its rollback and teardown, for good.
pub(super) fn custom_deadline_seconds(step_timeout: &str) -> u64 {
    const START_AND_END: Duration = Duration::from_secs(300);
    // NB: Argo reads the field as a 32-bit integer.
    const LONGEST: u64 = i32::MAX as u64;
    let timeout = crate::duration::parse(step_timeout)
        .unwrap_or_else(|_| crate::duration::parse(DEFAULT_DURATION).unwrap_or_default());
    timeout.saturating_add(START_AND_END).as_secs().min(LONGEST)
}

/// The longest step timeout written: what a duration's reader takes (`u32::MAX` seconds).
const LONGEST_STEP: Duration = Duration::from_secs(u32::MAX as u64);

/// The longest of the release timeout (default 5m) and each action's own budget.
fn longest(release_timeout: Option<&str>, own: [Option<&serde_json::Value>; 2]) -> String {
    let release_timeout = release_timeout.unwrap_or(DEFAULT_DURATION);
    let parse = |text: &str| crate::duration::parse(text).ok();
    let mut longest = (parse(release_timeout), release_timeout.to_owned());
    for settings in own.into_iter().flatten() {
        let text = settings
            .get("timeout")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(release_timeout);
        let Some(one) = parse(text) else { continue };
        let attempts = settings
            .pointer("/remediation/retries")
            .and_then(serde_json::Value::as_i64)
            .filter(|retries| *retries > 0)
            .map_or(1, |retries| {
                u32::try_from(retries.saturating_add(1)).unwrap_or(u32::MAX)
            });
        // NB: at most what the executor's --timeout takes; and a budget under a millisecond is
        // left as written (whole milliseconds would round it to nothing).
        let budget = one.saturating_mul(attempts).min(LONGEST_STEP);
        if longest.0.is_none_or(|current| budget > current) {
            longest = if attempts == 1 || budget < Duration::from_millis(1) {
                (Some(budget), text.to_owned())
            } else {
                (Some(budget), go_duration(budget))
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
    fn retries_lengthen_a_step_up_to_what_its_reader_takes() {
        let release = |install: serde_json::Value| Release {
            timeout: Some("1000h".into()),
            install: Some((&install).into()),
            ..Release::default()
        };
        let huge = release(serde_json::json!({"remediation": {"retries": 1_000_000_000_000i64}}));
        let text = application_step_timeout(&huge, Action::Install);
        assert_eq!(text, "1193046h28m15s");
        assert!(crate::duration::parse(&text).is_ok(), "{text}");
        let tiny = Release {
            timeout: Some("0.1ms".into()),
            install: Some((&serde_json::json!({"remediation": {"retries": 2}})).into()),
            ..Release::default()
        };
        assert_eq!(application_step_timeout(&tiny, Action::Install), "0.1ms");
        let short = Release {
            timeout: Some("100ms".into()),
            install: Some(
                (&serde_json::json!({"timeout": "400ms", "remediation": {"retries": 1}})).into(),
            ),
            ..Release::default()
        };
        assert_eq!(application_step_timeout(&short, Action::Install), "0.800s");
        assert_eq!(custom_deadline_seconds("5m"), 600);
        assert_eq!(custom_deadline_seconds("1h30m"), 5700);
        assert_eq!(
            custom_deadline_seconds(&text),
            i32::MAX as u64,
            "Argo's 32 bits"
        );
    }

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
