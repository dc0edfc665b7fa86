//! Pushing staged charts to ChartMuseum's HTTP API (checked against ChartMuseum v0.16.3).
//!
//! For each chart, `GET {api}/<name>/<version>` first: an identical chart (same digest) listed
//! under that exact version is a success with nothing sent; a different chart under the same
//! version is refused (chart versions are immutable, and overwriting one would change what a
//! deployed release pulls); otherwise `POST {api}` with the archive as body.
//!
//! Where the API is: a staging URL `http://host/org/team` is ChartMuseum tenant `org/team`
//! (`--depth`, `--depth-dynamic`), whose index is `/org/team/index.yaml` and whose API is
//! `/api/org/team/charts`, as `helm cm-push` computes it. A ChartMuseum served under
//! `--context-path /org/team` has its API at `/org/team/api/charts` instead, and a multitenant one
//! under `--context-path /org` has tenant `team`'s at `/org/api/team/charts`. The URL cannot tell
//! these apart, so an upload answered 404 (no such route) is retried at the next of them.
//!
//! `POST` answers 409 when the storage holds that version although the API did not list it (a
//! replica that has not indexed another replica's upload yet, or a push racing ours): the stored
//! archive is then downloaded from `{base}/charts/<name>-<version>.tgz` and compared.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::staging::credentials::Credentials;
use crate::staging::error::StagingError;
use crate::staging::limits::{Limits, error_excerpt, read_body, read_json};
use crate::staging::outcome::PushedChart;
use crate::staging::prepare::package::ChartToPush;

/// The part of ChartMuseum's chart version answer we read.
#[derive(Deserialize)]
struct ChartVersion {
    /// The version answered, which may not be the one asked for (see [`Museum::listed_digest`]).
    #[serde(default)]
    version: String,
    /// Hex sha256 of the stored archive.
    #[serde(default)]
    digest: Option<String>,
}

/// Where the chart API of the repository at `base` may be: every split of the URL's path into a
/// context path and a tenant, from the tenant layout (no context path) to the context-path layout
/// (no tenant).
fn api_candidates(base: &str) -> Vec<String> {
    let Ok(url) = reqwest::Url::parse(base) else {
        return vec![format!("{base}/api/charts")];
    };
    let path = url.path().trim_end_matches('/');
    // NB: from the URL as given where possible (the parsed path may be normalised).
    let origin = base
        .strip_suffix(path)
        .map_or_else(|| url.origin().ascii_serialization(), str::to_owned);
    path.match_indices('/')
        .map(|(at, _)| at)
        .chain([path.len()])
        .map(|at| {
            let (context, tenant) = path.split_at(at);
            format!("{origin}{context}/api{tenant}/charts")
        })
        .collect()
}

/// One ChartMuseum repository and how to talk to it.
struct Museum<'a> {
    http: &'a reqwest::Client,
    credentials: Option<&'a Credentials>,
    base: &'a str,
    limits: &'a Limits,
}

/// How one upload attempt ended.
enum Upload {
    /// Stored (bytes sent), or found identical (0).
    Done(u64),
    /// The API is not at this URL (an upload answered 404: ChartMuseum has no such route).
    NoApi,
}

impl Museum<'_> {
    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.credentials.and_then(Credentials::basic) {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    fn refused(&self, chart: &ChartToPush, reason: String) -> StagingError {
        StagingError::PushRefused {
            url: self.base.to_owned(),
            chart: chart.name.clone(),
            reason,
        }
    }

    /// The refusal of a different chart stored under the same version.
    fn different(&self, chart: &ChartToPush, present: &str) -> StagingError {
        self.refused(
            chart,
            format!(
                "version {} is already present with different content (stored sha256:{present}, \
                 staged sha256:{}): chart versions are immutable, so give the changed chart a new \
                 version",
                chart.version, chart.package.sha256
            ),
        )
    }

    /// `Some(digest)` when the API lists the version, `None` when it does not.
    ///
    /// NB: ChartMuseum reads `<version>` as a constraint when no entry is spelt exactly so, and
    /// answers the newest match (`v1` gets 1.2.0): only an answer of that very version counts.
    async fn listed_digest(
        &self,
        api: &str,
        chart: &ChartToPush,
    ) -> Result<Option<String>, StagingError> {
        let url = format!("{api}/{}/{}", chart.name, chart.version);
        let response = self
            .auth(self.http.get(&url))
            .send()
            .await
            .map_err(|e| StagingError::transport(&url, &e))?;
        match response.status() {
            StatusCode::OK => {
                let present: ChartVersion =
                    read_json(response, self.limits.document(), &url, "chart version").await?;
                Ok((present.version == chart.version).then(|| present.digest.unwrap_or_default()))
            }
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(StagingError::status(&url, status, "chart version")),
        }
    }

    /// The hex sha256 of the archive stored for the chart's version (`{base}/charts/…`).
    async fn stored_digest(&self, chart: &ChartToPush) -> Result<String, StagingError> {
        let url = format!("{}/charts/{}-{}.tgz", self.base, chart.name, chart.version);
        let response = self
            .auth(self.http.get(&url))
            .send()
            .await
            .map_err(|e| StagingError::transport(&url, &e))?;
        if !response.status().is_success() {
            return Err(StagingError::status(
                &url,
                response.status(),
                "stored chart archive",
            ));
        }
        let bytes = read_body(
            response,
            self.limits.archive(),
            &url,
            "stored chart archive",
        )
        .await?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }

    /// Checks, then uploads one chart through the API at `api`.
    async fn push_one(&self, api: &str, chart: &ChartToPush) -> Result<Upload, StagingError> {
        if let Some(present) = self.listed_digest(api, chart).await? {
            if present == chart.package.sha256 {
                return Ok(Upload::Done(0));
            }
            return Err(self.different(chart, &present));
        }
        let response = self
            .auth(self.http.post(api))
            .header(CONTENT_TYPE, "application/gzip")
            .body(chart.package.bytes.clone())
            .send()
            .await
            .map_err(|e| StagingError::transport(api, &e))?;
        let status = response.status();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(StagingError::unauthorized(api, status.as_u16()))
            }
            StatusCode::NOT_FOUND => Ok(Upload::NoApi),
            // NB: ChartMuseum refuses any re-upload of a stored version (unless run with
            // --allow-overwrite): whether that is a success depends on what is stored.
            StatusCode::CONFLICT => {
                let present = self.stored_digest(chart).await.map_err(|err| {
                    self.refused(
                        chart,
                        format!(
                            "version {} is already stored (HTTP 409 from {api}) and could not be \
                             read back to compare: {err}",
                            chart.version
                        ),
                    )
                })?;
                if present == chart.package.sha256 {
                    Ok(Upload::Done(0))
                } else {
                    Err(self.different(chart, &present))
                }
            }
            _ if status.is_success() => Ok(Upload::Done(chart.package.bytes.len() as u64)),
            _ => {
                let body = error_excerpt(response).await;
                Err(self.refused(chart, format!("HTTP {status} from {api}: {body}")))
            }
        }
    }
}

/// Pushes `charts` to the ChartMuseum repository at `base`.
pub async fn push(
    http: &reqwest::Client,
    credentials: Option<&Credentials>,
    base: &str,
    limits: &Limits,
    charts: &[ChartToPush],
) -> Result<Vec<PushedChart>, StagingError> {
    let base = base.trim_end_matches('/');
    let museum = Museum {
        http,
        credentials,
        base,
        limits,
    };
    let mut candidates = api_candidates(base);
    let mut out = Vec::with_capacity(charts.len());
    for chart in charts {
        // The first candidate that has the API; once found, later charts use it directly.
        let mut tried = Vec::new();
        let pushed_bytes = loop {
            let Some(api) = candidates.first().cloned() else {
                let hint = if tried.len() > 1 {
                    "the path of the staging URL must be a ChartMuseum tenant (--depth), its \
                     --context-path, or a --context-path followed by a tenant"
                } else {
                    "is it a ChartMuseum, with its API enabled?"
                };
                return Err(museum.refused(
                    chart,
                    format!(
                        "no ChartMuseum API answers at {} (HTTP 404): {hint}",
                        tried.join(" or ")
                    ),
                ));
            };
            match museum.push_one(&api, chart).await? {
                Upload::Done(bytes) => {
                    candidates.truncate(1);
                    break bytes;
                }
                Upload::NoApi => {
                    candidates.remove(0);
                    tried.push(api);
                }
            }
        };
        out.push(PushedChart {
            reference: format!("{base}/charts/{}-{}.tgz", chart.name, chart.version),
            tag: chart.version.clone(),
            digest: format!("sha256:{}", chart.package.sha256),
            pushed_bytes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_of_a_tenant_url_is_under_api_and_context_paths_are_the_fallbacks() {
        for (base, expected) in [
            ("http://h:8080", vec!["http://h:8080/api/charts"]),
            (
                "https://h/team",
                vec!["https://h/api/team/charts", "https://h/team/api/charts"],
            ),
            (
                "http://h/org/team",
                vec![
                    "http://h/api/org/team/charts",
                    "http://h/org/api/team/charts",
                    "http://h/org/team/api/charts",
                ],
            ),
        ] {
            assert_eq!(api_candidates(base), expected, "{base}");
        }
    }
}
