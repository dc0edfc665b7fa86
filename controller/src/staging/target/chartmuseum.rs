//! Pushing staged charts to a ChartMuseum-compatible HTTP API.
//!
//! `GET /api/charts/<name>/<version>` first: an identical chart (same digest) already present is
//! a success with nothing sent; a different chart under the same version is refused (chart
//! versions are immutable, and overwriting one would change what a deployed release pulls);
//! otherwise `POST /api/charts` with the archive as body.

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use crate::staging::credentials::Credentials;
use crate::staging::error::StagingError;
use crate::staging::limits::{Limit, error_excerpt, read_json};
use crate::staging::outcome::PushedChart;
use crate::staging::prepare::package::ChartToPush;

#[derive(Deserialize)]
struct ChartVersion {
    #[serde(default)]
    digest: Option<String>,
}

/// Pushes `charts` to the ChartMuseum at `base`.
pub async fn push(
    http: &reqwest::Client,
    credentials: Option<&Credentials>,
    base: &str,
    document_limit: Limit,
    charts: &[ChartToPush],
) -> Result<Vec<PushedChart>, StagingError> {
    let base = base.trim_end_matches('/');
    let auth = |r: reqwest::RequestBuilder| match credentials.and_then(Credentials::basic) {
        Some((user, password)) => r.basic_auth(user, Some(password)),
        None => r,
    };
    let mut out = Vec::with_capacity(charts.len());
    for chart in charts {
        let refused = |reason: String| StagingError::PushRefused {
            url: base.to_owned(),
            chart: chart.name.clone(),
            reason,
        };
        let reference = format!("{base}/charts/{}-{}.tgz", chart.name, chart.version);
        let digest = format!("sha256:{}", chart.package.sha256);
        let pushed = PushedChart {
            reference,
            tag: chart.version.clone(),
            digest,
            pushed_bytes: 0,
        };

        let url = format!("{base}/api/charts/{}/{}", chart.name, chart.version);
        let existing = auth(http.get(&url))
            .send()
            .await
            .map_err(|e| StagingError::transport(&url, &e))?;
        match existing.status().as_u16() {
            200 => {
                let present: ChartVersion =
                    read_json(existing, document_limit, &url, "chart version").await?;
                if present.digest.as_deref() == Some(chart.package.sha256.as_str()) {
                    out.push(pushed);
                    continue;
                }
                return Err(refused(format!(
                    "version {} is already present with different content (digest {})",
                    chart.version,
                    present.digest.unwrap_or_default()
                )));
            }
            404 => {}
            401 | 403 => return Err(StagingError::status(&url, existing.status(), "chart")),
            _ => return Err(StagingError::status(&url, existing.status(), "chart")),
        }
        let post_url = format!("{base}/api/charts");
        let response = auth(http.post(&post_url))
            .header(CONTENT_TYPE, "application/gzip")
            .body(chart.package.bytes.clone())
            .send()
            .await
            .map_err(|e| StagingError::transport(&post_url, &e))?;
        let status = response.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(StagingError::Unauthorized {
                url: post_url,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let body = error_excerpt(response).await;
            return Err(refused(format!("HTTP {status}: {body}")));
        }
        out.push(PushedChart {
            pushed_bytes: chart.package.bytes.len() as u64,
            ..pushed
        });
    }
    Ok(out)
}
