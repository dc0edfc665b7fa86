//! Where charts go: the staging repository, an OCI registry (default, [`oci`]) or ChartMuseum
//! ([`chartmuseum`]).

pub mod chartmuseum;
pub mod oci;

use crate::staging::credentials::{Credentials, base_client_builder};
use crate::staging::error::StagingError;
use crate::staging::limits::Limits;
use crate::staging::oci_client::{OciClient, OciLocation};
use crate::staging::outcome::PushedChart;
use crate::staging::plain_http::PlainHttp;
use crate::staging::prepare::package::ChartToPush;

/// A staging repository with a ready client.
#[derive(Debug)]
pub enum StagingTarget {
    /// An OCI registry location.
    Oci {
        location: OciLocation,
        client: OciClient,
        uploads: oci::BlobUploads,
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
            Ok(Self::Oci {
                location,
                client,
                uploads: oci::BlobUploads::default(),
            })
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
            Self::Oci {
                location,
                client,
                uploads,
            } => oci::push(client, location, uploads, charts).await,
            Self::ChartMuseum {
                url,
                http,
                credentials,
                limits,
            } => chartmuseum::push(http, credentials.as_ref(), url, limits, charts).await,
        }
    }
}
