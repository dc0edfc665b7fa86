//! `executor --action delete`: delete the HelmRelease, then wait until it is gone. Flux's
//! finalizer keeps the object until the Helm release is uninstalled, so "gone" means uninstalled.

use futures::StreamExt as _;
use kube::api::DeleteParams;
use kube::runtime::watcher::Event;
use serde_json::Value;

use super::error::ExecutorError;
use super::input::Target;
use super::install::watch_failure;
use super::limit::Limit;
use super::ownership::{self, Found};
use super::release_api::{helm_releases, watch_release};

/// What a timeout during the wait says the step was waiting for.
const WAITING_FOR_GONE: &str = "it is deleted";

/// Deletes `target` and waits until it no longer exists; already gone is success, and so is
/// another group's release of the same name, left in place.
pub async fn run(
    client: kube::Client,
    target: &Target,
    limit: &Limit,
) -> Result<(), ExecutorError> {
    let api = helm_releases(client, &target.namespace);
    if let Found::Theirs(owner) = ownership::look(&api, target, limit).await? {
        println!(
            "{} {}: left in place, it is not this group's to delete",
            target.subject(),
            ownership::whose(owner.as_deref())
        );
        return Ok(());
    }
    let background = DeleteParams::background();
    match limit
        .retried("the delete is accepted", || {
            api.delete(&target.name, &background)
        })
        .await?
    {
        Ok(_) => println!("deleting HelmRelease {}/{}", target.namespace, target.name),
        Err(kube::Error::Api(status)) if status.is_not_found() => {
            println!(
                "HelmRelease {}/{} is already gone",
                target.namespace, target.name
            );
            return Ok(());
        }
        Err(e) => {
            return Err(ExecutorError::api(
                format!("deleting HelmRelease {}/{}", target.namespace, target.name),
                e,
            ));
        }
    }
    let mut events = watch_release(api, &target.name).boxed();
    let mut last = String::from("not listed yet");
    let mut seen_in_list = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(limit.deadline) => return Err(limit.timed_out(WAITING_FOR_GONE, last)),
            event = events.next() => match event {
                Some(Ok(Event::Apply(object) | Event::InitApply(object))) => {
                    seen_in_list = true;
                    let text = still_there(&serde_json::to_value(&object).unwrap_or_default());
                    if text != last {
                        println!("waiting: {text}");
                        last = text;
                    }
                }
                Some(Ok(Event::Delete(_))) => break,
                Some(Ok(Event::Init)) => seen_in_list = false,
                Some(Ok(Event::InitDone)) if !seen_in_list => break,
                Some(Ok(Event::InitDone)) => {}
                Some(Err(e)) => {
                    last = format!("watch error: {}", watch_failure(e, target)?);
                    tracing::warn!(error = %last, "watching the HelmRelease");
                }
                None => return Err(limit.timed_out(WAITING_FOR_GONE, "the watch ended".into())),
            },
        }
    }
    println!("HelmRelease {}/{} is gone", target.namespace, target.name);
    Ok(())
}

/// Why the object is still there: its finalizers and, when Flux wrote one, the Ready message.
fn still_there(object: &Value) -> String {
    let finalizers: Vec<&str> = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ready = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .map(|c| {
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            format!(
                ", Ready={} ({}: {})",
                text("status"),
                text("reason"),
                text("message")
            )
        })
        .unwrap_or_default();
    format!(
        "still present, finalizers [{}]{ready}",
        finalizers.join(", ")
    )
}
