//! Pushing staged charts to an OCI registry as Helm (≥ 3.8) and Flux source-controller expect:
//! an OCI image manifest with the Helm config and chart-content media types.
//!
//! Blobs are checked with HEAD first, and the manifest is compared by digest before it is put, so
//! pushing an unchanged chart sends no bytes. All blobs of all charts of an application go up
//! before any manifest: a failure while uploading leaves no new tag behind (unreferenced blobs
//! are invisible and garbage-collected by the registry).

use futures::{StreamExt, TryStreamExt, stream};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::StagingError;
use super::oci_client::{HELM_CHART_MEDIA_TYPE, HELM_CONFIG_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, OciClient, OciLocation};
use super::target::{ChartToPush, PushedChart};

/// Uploads in flight at once.
const CONCURRENCY: usize = 8;

/// Pushes `charts` under `location`, returning one result per chart in order.
pub async fn push(
    client: &OciClient,
    location: &OciLocation,
    charts: &[ChartToPush],
) -> Result<Vec<PushedChart>, StagingError> {
    let blobs: Vec<(String, String, &[u8])> = charts
        .iter()
        .flat_map(|c| {
            let repo = location.repository(&c.name);
            [(repo.clone(), c.name.clone(), c.config.as_slice()), (repo, c.name.clone(), c.package.bytes.as_slice())]
        })
        .collect();
    let uploaded: Vec<u64> = stream::iter(blobs.iter().map(|(repo, name, data)| put_blob(client, repo, name, data)))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let blob_bytes: Vec<u64> = uploaded.chunks(2).map(|pair| pair.iter().sum()).collect();

    let manifests = charts.iter().map(|chart| put_manifest(client, location, chart));
    let pushed: Vec<PushedChart> = stream::iter(manifests).buffered(CONCURRENCY).try_collect().await?;
    Ok(pushed
        .into_iter()
        .zip(blob_bytes)
        .map(|(mut p, bytes)| {
            p.pushed_bytes += bytes;
            p
        })
        .collect())
}

fn scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Uploads one blob unless present; returns the bytes sent.
async fn put_blob(client: &OciClient, repo: &str, chart: &str, data: &[u8]) -> Result<u64, StagingError> {
    let digest = digest_of(data);
    let scope = scope(repo);
    let head_url = client.url(&format!("/v2/{repo}/blobs/{digest}"));
    let head = client.send(Method::HEAD, &head_url, &scope, |r| r).await?;
    if head.status().is_success() {
        return Ok(0);
    }
    let start_url = client.url(&format!("/v2/{repo}/blobs/uploads/"));
    let started = client.send(Method::POST, &start_url, &scope, |r| r.header(CONTENT_LENGTH, 0)).await?;
    let started = refuse_unless_ok(started, &start_url, chart).await?;
    let location = started
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused(&start_url, chart, "upload started without a Location".into()))?;
    let upload = client.url(location);
    let separator = if upload.contains('?') { '&' } else { '?' };
    let put_url = format!("{upload}{separator}digest={digest}");
    let body = data.to_vec();
    let done = client
        .send(Method::PUT, &put_url, &scope, |r| {
            r.header(CONTENT_TYPE, "application/octet-stream").body(body.clone())
        })
        .await?;
    refuse_unless_ok(done, &put_url, chart).await?;
    Ok(data.len() as u64)
}

/// Puts the manifest of `chart` unless the tag already points at an identical one.
async fn put_manifest(client: &OciClient, location: &OciLocation, chart: &ChartToPush) -> Result<PushedChart, StagingError> {
    let repo = location.repository(&chart.name);
    let tag = chart.version.replace('+', "_");
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
    let digest = digest_of(&manifest);
    let reference = format!("oci://{}/{repo}", location.host);
    let scope = scope(&repo);
    let url = client.url(&format!("/v2/{repo}/manifests/{tag}"));
    let head = client.send(Method::HEAD, &url, &scope, |r| r.header(ACCEPT, OCI_MANIFEST_MEDIA_TYPE)).await?;
    let current = head.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
    if head.status().is_success() && current == Some(digest.as_str()) {
        return Ok(PushedChart { reference, tag, digest, pushed_bytes: 0 });
    }
    let len = manifest.len() as u64;
    let put = client
        .send(Method::PUT, &url, &scope, |r| r.header(CONTENT_TYPE, OCI_MANIFEST_MEDIA_TYPE).body(manifest.clone()))
        .await?;
    refuse_unless_ok(put, &url, &chart.name).await?;
    Ok(PushedChart { reference, tag, digest, pushed_bytes: len })
}

fn refused(url: &str, chart: &str, reason: String) -> StagingError {
    StagingError::PushRefused { url: url.to_owned(), chart: chart.to_owned(), reason }
}

/// Passes a success through; maps 401/403 to `Unauthorized` and anything else to `PushRefused`
/// with the registry's own error text.
async fn refuse_unless_ok(response: Response, url: &str, chart: &str) -> Result<Response, StagingError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(StagingError::Unauthorized { url: url.to_owned(), status: status.as_u16() });
    }
    let body = response.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(300).collect();
    Err(refused(url, chart, format!("HTTP {status}: {body}")))
}
