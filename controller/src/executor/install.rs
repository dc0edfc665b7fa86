//! `executor --action install`: namespace, server-side apply, wait for Flux (see the module docs of
//! `executor` and [`crate::helm_release_status`]).

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::watcher::Event;
use tokio::time::{Instant, MissedTickBehavior};

use super::error::ExecutorError;
use super::input::Target;
use super::limit::{Limit, ReadyChecks};
use super::ownership::{self, Found};
use super::release_api::{FIELD_MANAGER, helm_releases, watch_release};
use crate::helm_release_status::{Observation, observe};
use crate::kube_error::describe;

/// What a timeout during the wait says the step was waiting for.
const WAITING_FOR_READY: &str = "Flux reports it ready";
const WAITING_FOR_NAMESPACE: &str = "the namespace being deleted is gone";

/// Between two looks at a namespace that is being deleted.
const NAMESPACE_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Installs or upgrades `target` and waits until it is ready.
pub async fn run(
    client: kube::Client,
    target: &Target,
    limit: &Limit,
    checks: ReadyChecks,
) -> Result<(), ExecutorError> {
    let api = helm_releases(client.clone(), &target.namespace);
    let applied = apply(&client, &api, target, limit).await?;
    println!(
        "applied HelmRelease {}/{} (generation {})",
        target.namespace,
        target.name,
        applied.metadata.generation.unwrap_or_default()
    );
    wait_until_ready(api, target, limit, checks).await
}

/// Creates the namespace when it is missing, then applies the HelmRelease unless another group's
/// release has its name (see [`ownership`]). A namespace still
/// being deleted (a group deleted with its namespace, then applied again) takes no new objects:
/// the step waits until it is gone, then creates it again.
async fn apply(
    client: &kube::Client,
    api: &Api<kube::api::DynamicObject>,
    target: &Target,
    limit: &Limit,
) -> Result<kube::api::DynamicObject, ExecutorError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&target.object);
    let mut said = false;
    let mut looked = false;
    loop {
        ensure_namespace(client, &target.namespace, limit).await?;
        if !looked {
            if let Found::Theirs(owner) = ownership::look(api, target, limit).await? {
                return Err(ownership::taken(target, owner.as_deref()));
            }
            looked = true;
        }
        let answer = limit
            .retried("the HelmRelease is applied", || {
                api.patch(&target.name, &params, &patch)
            })
            .await?;
        let terminating = matches!(&answer, Err(kube::Error::Api(status))
            if status.code == 403 && status.message.contains("because it is being terminated"));
        if !terminating {
            break answer;
        }
        if Instant::now() + NAMESPACE_PAUSE >= limit.deadline {
            let last = answer.err().map(|e| describe(&e)).unwrap_or_default();
            return Err(limit.timed_out(WAITING_FOR_NAMESPACE, last));
        }
        if !said {
            println!(
                "namespace {} is being deleted: waiting until it is gone to create it again",
                target.namespace
            );
            said = true;
        }
        tokio::time::sleep(NAMESPACE_PAUSE).await;
    }
    .map_err(|e| {
        ExecutorError::api(
            format!("applying HelmRelease {}/{}", target.namespace, target.name),
            e,
        )
    })
}

/// Creates the namespace unless it exists. NB: create first, because the executor's service
/// account may be allowed to create namespaces without being allowed to list them.
async fn ensure_namespace(
    client: &kube::Client,
    name: &str,
    limit: &Limit,
) -> Result<(), ExecutorError> {
    let namespaces = Api::<Namespace>::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    let post = PostParams::default();
    match limit
        .retried("the namespace exists", || {
            namespaces.create(&post, &namespace)
        })
        .await?
    {
        Ok(_) => {
            println!("created namespace {name}");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        // Not allowed to create: fine if it is there anyway.
        Err(kube::Error::Api(status)) if status.code == 403 => {
            match limit
                .bounded("the namespace exists", namespaces.get_opt(name))
                .await?
            {
                Ok(Some(_)) => Ok(()),
                _ => Err(ExecutorError::api(
                    format!("creating namespace {name}"),
                    kube::Error::Api(status),
                )),
            }
        }
        Err(e) => Err(ExecutorError::api(format!("creating namespace {name}"), e)),
    }
}

/// Watches the release until it has been ready for `checks.count` consecutive checks, or failed.
async fn wait_until_ready(
    api: kube::Api<kube::api::DynamicObject>,
    target: &Target,
    limit: &Limit,
    checks: ReadyChecks,
) -> Result<(), ExecutorError> {
    let mut events = watch_release(api, &target.name).boxed();
    let mut ticker = tokio::time::interval(checks.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut latest: Option<Observation> = None;
    let mut last = String::from("not listed yet");
    let mut streak = 0u32;
    let mut seen_in_list = false;
    let failed = |reason: String, message: String| ExecutorError::Failed {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        reason,
        message,
    };
    let vanished = || ExecutorError::Vanished {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(limit.deadline) => return Err(limit.timed_out(WAITING_FOR_READY, last)),
            event = events.next() => match event {
                Some(Ok(Event::Apply(object) | Event::InitApply(object))) => {
                    seen_in_list = true;
                    let observation = observe(&serde_json::to_value(&object).unwrap_or_default());
                    match &observation {
                        Observation::Failed { reason, message } => return Err(failed(reason.clone(), message.clone())),
                        Observation::Pending(text) => {
                            streak = 0;
                            if *text != last {
                                println!("waiting: {text}");
                                last.clone_from(text);
                            }
                        }
                        Observation::Ready => last = "ready, confirming".into(),
                    }
                    latest = Some(observation);
                }
                Some(Ok(Event::Delete(_))) => return Err(vanished()),
                Some(Ok(Event::Init)) => seen_in_list = false,
                Some(Ok(Event::InitDone)) if !seen_in_list => return Err(vanished()),
                Some(Ok(Event::InitDone)) => {}
                Some(Err(e)) => {
                    // The watcher relists with backoff; only the deadline or a refusal ends the wait.
                    last = format!("watch error: {}", watch_failure(e, target)?);
                    tracing::warn!(error = %last, "watching the HelmRelease");
                }
                None => return Err(limit.timed_out(WAITING_FOR_READY, "the watch ended".into())),
            },
            _ = ticker.tick() => {
                if latest == Some(Observation::Ready) {
                    streak += 1;
                    if streak >= checks.count {
                        println!("HelmRelease {}/{} is ready", target.namespace, target.name);
                        return Ok(());
                    }
                } else {
                    streak = 0;
                }
            }
        }
    }
}

/// A watch error: `Err` when retrying cannot help (401/403: the service account may not list
/// or watch HelmReleases), else its one-line description for the timeout message.
pub fn watch_failure(
    error: kube::runtime::watcher::Error,
    target: &Target,
) -> Result<String, ExecutorError> {
    use kube::runtime::watcher::Error as E;
    match error {
        E::InitialListFailed(e) | E::WatchStartFailed(e) | E::WatchFailed(e) => match &e {
            kube::Error::Api(status) if matches!(status.code, 401 | 403) => {
                Err(ExecutorError::api(
                    format!("watching HelmRelease {}/{}", target.namespace, target.name),
                    e,
                ))
            }
            _ => Ok(describe(&e)),
        },
        E::WatchError(status) => Ok(format!(
            "HTTP {} {}: {}",
            status.code, status.reason, status.message
        )),
        other => Ok(other.to_string()),
    }
}
