//! Where charts come from: HTTP(S) Helm repositories (`index.yaml` and archives, [`http_repo`]) and
//! OCI registries ([`oci`]). [`pull`] resolves an application's version and fetches the archive.

pub mod http_repo;
pub mod oci;
pub mod pulled;

pub use pulled::{Fetch, Pulled, Source};

use crate::staging::error::StagingError;

/// Resolves the version and fetches the archive.
pub async fn pull(fetch: Fetch<'_>, source: Source<'_>) -> Result<Pulled, StagingError> {
    // A TLS setting (private CA, client certificate) needs a client of its own.
    let own_client;
    let fetch = match source.credentials.filter(|c| c.has_tls()) {
        Some(creds) => {
            own_client = creds.client(source.url)?;
            Fetch {
                http: &own_client,
                ..fetch
            }
        }
        None => fetch,
    };
    // NB: the scheme without case, as admission reads it (the URL standard lowercases it).
    let scheme = source
        .url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    if scheme.as_deref() == Some("oci") {
        oci::pull(fetch, source).await
    } else if matches!(scheme.as_deref(), Some("https" | "http")) {
        http_repo::pull(
            fetch.http,
            source.credentials,
            fetch.cache,
            fetch.limits,
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
