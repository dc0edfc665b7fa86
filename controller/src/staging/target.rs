//! The staging repository charts are pushed to: an OCI registry (default) or ChartMuseum.

use serde::Serialize;

use super::chart::Chart;
use super::credentials::{Credentials, base_client_builder};
use super::error::StagingError;
use super::limits::Limits;
use super::oci_client::{OciClient, OciLocation};
use super::package::{Package, package};
use super::plain_http::PlainHttp;
use super::{chartmuseum, oci_push};

/// A packaged chart ready to push.
#[derive(Debug, Clone)]
pub struct ChartToPush {
    /// Chart name (the last component of its OCI repository).
    pub name: String,
    /// Chart version (OCI tag, with `+` written `_`).
    pub version: String,
    /// The deterministic archive.
    pub package: Package,
    /// Helm's OCI config blob: Chart.yaml as JSON.
    pub config: Vec<u8>,
}

impl ChartToPush {
    /// Packages `chart`.
    pub fn new(chart: &Chart) -> Result<Self, StagingError> {
        let package = package(&chart.name, &chart.files)?;
        let config = serde_json::to_vec(&chart.metadata).map_err(|err| {
            StagingError::invalid_chart(&chart.name, format!("Chart.yaml cannot be JSON: {err}"))
        })?;
        Ok(Self {
            name: chart.name.clone(),
            version: chart.version.clone(),
            package,
            config,
        })
    }
}

/// Where a chart ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushedChart {
    /// `oci://host/path/name` or the ChartMuseum download URL.
    pub reference: String,
    /// The OCI tag (or version for ChartMuseum).
    pub tag: String,
    /// The OCI manifest digest (or the archive digest for ChartMuseum), `sha256:…`.
    pub digest: String,
    /// Bytes actually uploaded (0 when everything was already there).
    pub pushed_bytes: u64,
}

/// A staging repository with a ready client.
#[derive(Debug)]
pub enum StagingTarget {
    /// An OCI registry location.
    Oci {
        location: OciLocation,
        client: OciClient,
    },
    /// A ChartMuseum base URL.
    ChartMuseum {
        url: String,
        http: reqwest::Client,
        credentials: Option<Credentials>,
        limits: Limits,
    },
}

impl StagingTarget {
    /// Parses `oci://host/path` or `http(s)://chartmuseum`, with optional credentials.
    pub fn new(
        url: &str,
        credentials: Option<Credentials>,
        limits: Limits,
        plain_http: &PlainHttp,
    ) -> Result<Self, StagingError> {
        let http = match &credentials {
            Some(creds) if creds.has_tls() => creds.client(url)?,
            _ => base_client_builder()
                .build()
                .map_err(|err| StagingError::InvalidCredentials {
                    url: url.to_owned(),
                    reason: err.to_string(),
                })?,
        };
        if url.starts_with("oci://") {
            let location = OciLocation::parse(url, plain_http)?;
            let client = OciClient::new(http, &location.base, credentials, limits);
            Ok(Self::Oci { location, client })
        } else if url.starts_with("http://") || url.starts_with("https://") {
            Ok(Self::ChartMuseum {
                url: url.trim_end_matches('/').to_owned(),
                http,
                credentials,
                limits,
            })
        } else {
            Err(StagingError::InvalidSpec(format!(
                "staging repository {url:?} must be oci://host/path or an http(s) ChartMuseum URL"
            )))
        }
    }

    /// True for an OCI registry reached over plain HTTP (see [`PlainHttp`]).
    pub fn is_plain_http(&self) -> bool {
        matches!(self, Self::Oci { location, .. } if location.base.starts_with("http://"))
    }

    /// The repository URL as given.
    pub fn url(&self) -> String {
        match self {
            Self::Oci { location, .. } if location.path.is_empty() => {
                format!("oci://{}", location.host)
            }
            Self::Oci { location, .. } => format!("oci://{}/{}", location.host, location.path),
            Self::ChartMuseum { url, .. } => url.clone(),
        }
    }

    /// Pushes `charts`, returning one result per chart in order.
    pub async fn push(&self, charts: &[ChartToPush]) -> Result<Vec<PushedChart>, StagingError> {
        match self {
            Self::Oci { location, client } => oci_push::push(client, location, charts).await,
            Self::ChartMuseum {
                url,
                http,
                credentials,
                limits,
            } => {
                chartmuseum::push(http, credentials.as_ref(), url, limits.document(), charts).await
            }
        }
    }
}
