//! How long a workflow step waits.

use super::Action;
use crate::plan::flux::HelmRelease;
use crate::plan::release::DEFAULT_DURATION;

/// The step's deadline: the release's timeout (default 5m), or the timeout Flux gives the step's
/// action when that one is longer, as helm-controller's `timeoutForAction` reads it:
/// `install.timeout` or `upgrade.timeout` for an install (which of the two runs is Flux's
/// business), `uninstall.timeout` for a delete. Written as the user wrote it.
pub(super) fn step_timeout(release: &HelmRelease, action: Action) -> String {
    let spec = &release.spec;
    let release_timeout = spec.timeout.as_deref().unwrap_or(DEFAULT_DURATION);
    let own: &[&Option<serde_json::Value>] = match action {
        Action::Install => &[&spec.install, &spec.upgrade],
        Action::Delete => &[&spec.uninstall],
    };
    own.iter()
        .filter_map(|settings| settings.as_ref()?.get("timeout")?.as_str())
        .chain([release_timeout])
        .filter_map(|text| Some((crate::duration::parse(text).ok()?, text)))
        .max_by_key(|(duration, _)| *duration)
        .map_or(release_timeout, |(_, text)| text)
        .to_owned()
}
