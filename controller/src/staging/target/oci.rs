//! Pushing staged charts to an OCI registry as Helm (≥ 3.8) and Flux source-controller expect:
//! an OCI image manifest with the Helm config and chart-content media types.
//!
//! Each tag's current manifest is compared by digest first (one HEAD per chart); only charts
//! whose manifest differs get their blobs checked (HEAD) and uploaded, so pushing an unchanged
//! chart sends no bytes and costs one request. All blobs of all charts of an application go up
//! before any manifest: a failure while uploading leaves no new tag behind (unreferenced blobs
//! are invisible and garbage-collected by the registry).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures::{StreamExt, TryStreamExt, stream};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::staging::error::StagingError;
use crate::staging::limits::error_excerpt;
use crate::staging::oci_client::{
    HELM_CHART_MEDIA_TYPE, HELM_CONFIG_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, OciClient, OciLocation,
};
use crate::staging::outcome::PushedChart;
use crate::staging::prepare::package::ChartToPush;

/// Requests in flight at once.
const CONCURRENCY: usize = 16;

/// One upload of a blob at a time, per blob digest. docker-registry (distribution) mixes up a
/// blob that two uploads write at once (the manifest naming it is then refused with
/// `DIGEST_INVALID` and `MANIFEST_BLOB_UNKNOWN`), and stagings of one large chart, whose
/// preparation is not shared, push the same blobs at once.
#[derive(Debug, Default)]
pub struct BlobUploads(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl BlobUploads {
    /// Waits until no other upload of `digest` runs; holds it off until the guard is dropped.
    async fn one_at_a_time(&self, digest: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut uploads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            uploads.retain(|_, lock| lock.strong_count() > 0);
            match uploads.get(digest).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    uploads.insert(digest.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// A chart's manifest, computed locally.
struct Planned<'a> {
    chart: &'a ChartToPush,
    repo: String,
    tag: String,
    manifest: Vec<u8>,
    digest: String,
}

/// Pushes `charts` under `location`, returning one result per chart in order.
pub async fn push(
    client: &OciClient,
    location: &OciLocation,
    uploads: &BlobUploads,
    charts: &[ChartToPush],
) -> Result<Vec<PushedChart>, StagingError> {
    let planned = charts
        .iter()
        .map(|chart| plan(location, chart))
        .collect::<Result<Vec<_>, _>>()?;
    // A tag already pointing at an identical manifest means its blobs are there too (the
    // registry checked them when the manifest was put): nothing to do for that chart.
    // NB: futures are collected into Vecs before streaming them: a stream over a `map` closure
    // that borrows makes the whole staging future fail "Send is not general enough" when the
    // reconciler spawns it (rust-lang/rust#102211).
    let checks: Vec<_> = planned.iter().map(|p| is_current(client, p)).collect();
    let current: Vec<bool> = stream::iter(checks)
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let stale: Vec<&Planned<'_>> = planned
        .iter()
        .zip(&current)
        .filter(|(_, c)| !**c)
        .map(|(p, _)| p)
        .collect();

    let mut puts = Vec::with_capacity(stale.len() * 2);
    for p in &stale {
        puts.push(put_blob(
            client,
            uploads,
            &p.repo,
            &p.chart.name,
            &p.chart.config,
        ));
        puts.push(put_blob(
            client,
            uploads,
            &p.repo,
            &p.chart.name,
            &p.chart.package.bytes,
        ));
    }
    let uploaded: Vec<u64> = stream::iter(puts)
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let manifests: Vec<_> = stale.iter().map(|p| put_manifest(client, p)).collect();
    stream::iter(manifests)
        .buffered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;

    let mut uploaded = uploaded.chunks(2).map(|pair| pair.iter().sum::<u64>());
    Ok(planned
        .iter()
        .zip(current)
        .map(|(p, current)| {
            let pushed_bytes = if current {
                0
            } else {
                uploaded.next().unwrap_or(0) + p.manifest.len() as u64
            };
            PushedChart {
                reference: format!("oci://{}/{}", location.host, p.repo),
                tag: p.tag.clone(),
                digest: p.digest.clone(),
                pushed_bytes,
            }
        })
        .collect())
}

/// Builds the manifest of `chart`.
fn plan<'a>(location: &OciLocation, chart: &'a ChartToPush) -> Result<Planned<'a>, StagingError> {
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": HELM_CONFIG_MEDIA_TYPE, "digest": digest_of(&chart.config), "size": chart.config.len()},
        "layers": [{
            "mediaType": HELM_CHART_MEDIA_TYPE,
            "digest": digest_of(&chart.package.bytes),
            "size": chart.package.bytes.len(),
        }],
        "annotations": {
            "org.opencontainers.image.title": chart.name,
            "org.opencontainers.image.version": chart.version,
        },
    }))
    .map_err(|err| refused(&location.base, &chart.name, err.to_string()))?;
    Ok(Planned {
        chart,
        repo: location.repository(&chart.name),
        tag: chart.version.replace('+', "_"),
        digest: digest_of(&manifest),
        manifest,
    })
}

/// True when the tag already points at exactly this manifest.
async fn is_current(client: &OciClient, planned: &Planned<'_>) -> Result<bool, StagingError> {
    let url = client.url(&format!("/v2/{}/manifests/{}", planned.repo, planned.tag));
    let head = client
        .send(Method::HEAD, &url, &scope(&planned.repo), |r| {
            r.header(ACCEPT, OCI_MANIFEST_MEDIA_TYPE)
        })
        .await?;
    let current = head
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    Ok(head.status().is_success() && current == Some(planned.digest.as_str()))
}

fn scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Uploads one blob unless present; returns the bytes sent.
async fn put_blob(
    client: &OciClient,
    uploads: &BlobUploads,
    repo: &str,
    chart: &str,
    data: &[u8],
) -> Result<u64, StagingError> {
    let digest = digest_of(data);
    let _alone = uploads.one_at_a_time(&digest).await;
    let scope = scope(repo);
    let head_url = client.url(&format!("/v2/{repo}/blobs/{digest}"));
    let head = client.send(Method::HEAD, &head_url, &scope, |r| r).await?;
    if head.status().is_success() {
        return Ok(0);
    }
    let start_url = client.url(&format!("/v2/{repo}/blobs/uploads/"));
    let started = client
        .send(Method::POST, &start_url, &scope, |r| {
            r.header(CONTENT_LENGTH, 0)
        })
        .await?;
    let started = refuse_unless_ok(started, &start_url, chart).await?;
    let location = started
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            refused(
                &start_url,
                chart,
                "upload started without a Location".into(),
            )
        })?;
    let upload = client.url(location);
    let separator = if upload.contains('?') { '&' } else { '?' };
    let put_url = format!("{upload}{separator}digest={digest}");
    let body = data.to_vec();
    let done = client
        .send(Method::PUT, &put_url, &scope, |r| {
            r.header(CONTENT_TYPE, "application/octet-stream")
                .body(body.clone())
        })
        .await?;
    refuse_unless_ok(done, &put_url, chart).await?;
    Ok(data.len() as u64)
}

/// Puts the manifest (its blobs are already there).
async fn put_manifest(client: &OciClient, planned: &Planned<'_>) -> Result<(), StagingError> {
    let url = client.url(&format!("/v2/{}/manifests/{}", planned.repo, planned.tag));
    let body = planned.manifest.clone();
    let put = client
        .send(Method::PUT, &url, &scope(&planned.repo), |r| {
            r.header(CONTENT_TYPE, OCI_MANIFEST_MEDIA_TYPE)
                .body(body.clone())
        })
        .await?;
    refuse_unless_ok(put, &url, &planned.chart.name).await?;
    Ok(())
}

fn refused(url: &str, chart: &str, reason: String) -> StagingError {
    StagingError::PushRefused {
        url: url.to_owned(),
        chart: chart.to_owned(),
        reason,
    }
}

/// Passes a success through; maps 401/403 to `Unauthorized` and anything else to `PushRefused`
/// with the registry's own error text.
async fn refuse_unless_ok(
    response: Response,
    url: &str,
    chart: &str,
) -> Result<Response, StagingError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(StagingError::unauthorized(url, status.as_u16()));
    }
    let body = error_excerpt(response).await;
    Err(refused(url, chart, format!("HTTP {status}: {body}")))
}
