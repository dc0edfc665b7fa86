//! Where charts come from: HTTP(S) Helm repositories (`index.yaml` and archives, [`http_repo`]) and
//! OCI registries ([`oci`]). [`pull`] resolves an application's version and fetches the archive.

pub mod http_repo;
pub mod oci;
pub mod pulled;

pub use pulled::{Pulled, Source};

use crate::staging::cache::ChartCache;
use crate::staging::error::StagingError;
use crate::staging::limits::Limits;
use crate::staging::plain_http::PlainHttp;

/// Resolves the version and fetches the archive.
pub async fn pull(
    client: &reqwest::Client,
    cache: &ChartCache,
    limits: &Limits,
    plain_http: &PlainHttp,
    source: Source<'_>,
) -> Result<Pulled, StagingError> {
    // A TLS setting (private CA, client certificate) needs a client of its own.
    let own_client;
    let client = match source.credentials.filter(|c| c.has_tls()) {
        Some(creds) => {
            own_client = creds.client(source.url)?;
            &own_client
        }
        None => client,
    };
    if source.url.starts_with("oci://") {
        oci::pull(client, cache, limits, plain_http, source).await
    } else if source.url.starts_with("https://") || source.url.starts_with("http://") {
        http_repo::pull(
            client,
            source.credentials,
            cache,
            limits,
            source.url,
            source.name,
            source.version,
        )
        .await
    } else {
        Err(StagingError::InvalidSpec(format!(
            "chart URL {:?} must start with https://, http:// or oci://",
            source.url
        )))
    }
}
