//! The Flux HelmRelease API as the executor uses it.

use futures::Stream;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, ListSemantic};

/// Server-side apply field manager of the HelmReleases the executor writes.
pub const FIELD_MANAGER: &str = "orkestra-executor";

/// API of Flux HelmReleases in `namespace`.
pub fn helm_releases(client: kube::Client, namespace: &str) -> Api<DynamicObject> {
    let (group, version) = orkestra_shared::plan::flux::API_VERSION
        .split_once('/')
        .unwrap_or_default();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, orkestra_shared::plan::flux::KIND),
        "helmreleases",
    );
    Api::namespaced_with(client, namespace, &resource)
}

/// Watch events of the one HelmRelease `name`, retried with backoff on errors.
pub fn watch_release(
    api: Api<DynamicObject>,
    name: &str,
) -> impl Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>> + Send + use<> {
    // NB: quorum reads on (re)list: a cached list could predate our own write and show the
    // release missing or at its old generation.
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={name}"))
        .list_semantic(ListSemantic::MostRecent);
    watcher::watcher(api, config).default_backoff()
}
