//! Pulling charts from HTTP(S) Helm repositories (`index.yaml` + archives).

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::staging::cache::ChartCache;
use crate::staging::credentials::Credentials;
use crate::staging::error::StagingError;
use crate::staging::limits::{Limit, Limits, read_body};
use crate::staging::source::pulled::Pulled;
use orkestra_shared::version::VersionConstraint;

/// The part of a repository `index.yaml` staging needs.
#[derive(Debug, Deserialize)]
pub struct Index {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default, deserialize_with = "usable_entries")]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Debug)]
pub struct IndexEntry {
    version: String,
    urls: Vec<String>,
    digest: Option<String>,
}

/// An index entry as written; [`usable_entries`] keeps those Helm keeps.
#[derive(Deserialize)]
struct WrittenEntry {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    digest: Option<String>,
}

/// The entries of each chart, without those Helm's `loadIndex` skips (an empty entry, one with no
/// version): one broken entry does not make the repository's other charts unreadable.
fn usable_entries<'de, D: serde::Deserializer<'de>>(
    input: D,
) -> Result<BTreeMap<String, Vec<IndexEntry>>, D::Error> {
    let written =
        Option::<BTreeMap<String, Option<Vec<Option<WrittenEntry>>>>>::deserialize(input)?;
    Ok(written
        .unwrap_or_default()
        .into_iter()
        .map(|(chart, entries)| {
            let usable = entries
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .filter_map(|entry| {
                    Some(IndexEntry {
                        version: entry.version.filter(|v| !v.is_empty())?,
                        urls: entry.urls.unwrap_or_default(),
                        digest: entry.digest,
                    })
                })
                .collect();
            (chart, usable)
        })
        .collect())
}

/// Resolves `spec` for chart `name` in the repository at `repo_url` and fetches the archive
/// (from the cache when its digest is known there).
pub async fn pull(
    client: &reqwest::Client,
    creds: Option<&Credentials>,
    cache: &ChartCache,
    limits: &Limits,
    repo_url: &str,
    name: &str,
    spec: &VersionConstraint,
) -> Result<Pulled, StagingError> {
    let (base, query) = directory(repo_url)?;
    // As Helm: a query on the repository URL (a signed URL's token, such as an Azure Blob SAS)
    // goes with the index and with the archives on the repository's host.
    let signed = |mut url: Url| {
        if query.is_some() {
            url.set_query(query.as_deref());
        }
        url
    };
    let index_url = signed(
        base.join("index.yaml")
            .map_err(|err| StagingError::InvalidSpec(format!("chart URL {repo_url:?}: {err}")))?,
    );
    let raw = get(
        client,
        creds,
        index_url.as_str(),
        limits.index(),
        "index.yaml",
    )
    .await?;
    // NB: a large index takes a while to read (up to --max-index-bytes of YAML): not on the
    // runtime, whose threads also keep the watches and the Lease.
    let url = index_url.to_string();
    let index = tokio::task::spawn_blocking(move || read_index(&url, &raw))
        .await
        .map_err(|err| StagingError::InvalidIndex {
            url: index_url.to_string(),
            reason: format!("reading it failed: {err}"),
        })??;
    let entries = index
        .entries
        .get(name)
        .ok_or_else(|| StagingError::NotFound {
            url: repo_url.to_owned(),
            what: format!("chart {name}"),
        })?;
    let picked = spec
        .pick_index_version(entries.iter().map(|e| e.version.as_str()))
        .ok_or_else(|| StagingError::NotFound {
            url: repo_url.to_owned(),
            what: format!("a version of chart {name} matching {spec}"),
        })?;
    let entry = entries
        .iter()
        .find(|e| e.version == picked)
        .ok_or_else(|| StagingError::NotFound {
            url: repo_url.to_owned(),
            what: format!("chart {name} {picked}"),
        })?;
    let first = entry
        .urls
        .first()
        .ok_or_else(|| StagingError::InvalidIndex {
            url: index_url.to_string(),
            reason: format!("chart {name} {picked} has no download URL"),
        })?;
    let download = base.join(first).map_err(|err| StagingError::InvalidIndex {
        url: index_url.to_string(),
        reason: format!("download URL {first:?} of {name} {picked}: {err}"),
    })?;
    let announced = entry
        .digest
        .as_deref()
        .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase());

    let known = match &announced {
        Some(d) => Some(d.clone()),
        None => cache.digest_for_url(download.as_str()).await,
    };
    if let Some(digest) = &known
        && let Some(bytes) = cache.get(digest).await
    {
        return Ok(Pulled {
            version: picked.to_owned(),
            bytes,
            sha256: digest.clone(),
            from_cache: true,
        });
    }
    // NB: send credentials to the archive host only when it is the repository's host; indexes
    // may point at third-party CDNs, which must not receive the repository password.
    let same_host = download.host_str() == base.host_str()
        && download.port_or_known_default() == base.port_or_known_default();
    // As Helm's ResolveReferenceURL: a relative archive URL takes the repository URL's query (its
    // signature) in place of its own; an absolute one is fetched as the index wrote it. Unlike
    // Helm, never to another host (a scheme-relative `//cdn/x.tgz`). The cache knows the archive
    // by the URL without the signature, which may change from one staging to the next.
    let relative = Url::parse(first).is_err();
    let fetched = if relative && same_host {
        signed(download.clone())
    } else {
        download.clone()
    };
    let bytes = get(
        client,
        creds.filter(|_| same_host),
        fetched.as_str(),
        limits.archive(),
        "chart archive",
    )
    .await?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if let Some(expected) = announced
        && expected != actual
    {
        return Err(StagingError::DigestMismatch {
            chart: format!("{name} {picked}"),
            url: fetched.to_string(),
            expected,
            actual,
        });
    }
    cache.put(Some(download.as_str()), &bytes).await;
    Ok(Pulled {
        version: picked.to_owned(),
        bytes,
        sha256: actual,
        from_cache: false,
    })
}

/// The repository URL as a directory (its path ending in `/`, so that `index.yaml` and relative
/// archive URLs resolve inside it), and its query apart.
fn directory(repo_url: &str) -> Result<(Url, Option<String>), StagingError> {
    let mut base = Url::parse(repo_url).map_err(|err| {
        StagingError::InvalidSpec(format!("chart URL {repo_url:?} is not a URL: {err}"))
    })?;
    let query = base.query().map(str::to_owned);
    base.set_query(None);
    base.set_fragment(None);
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok((base, query))
}

/// Reads the `index.yaml` fetched from `url`.
pub fn read_index(url: &str, raw: &[u8]) -> Result<Index, StagingError> {
    let invalid = |reason: String| StagingError::InvalidIndex {
        url: url.to_owned(),
        reason,
    };
    let index: Index = serde_norway::from_slice(raw).map_err(|err| invalid(err.to_string()))?;
    if index.api_version.is_none() && index.entries.is_empty() {
        return Err(invalid("no apiVersion and no entries".into()));
    }
    Ok(index)
}

impl Index {
    /// The versions listed for chart `name`.
    pub fn versions(&self, name: &str) -> impl Iterator<Item = &str> {
        self.entries
            .get(name)
            .into_iter()
            .flatten()
            .map(|entry| entry.version.as_str())
    }
}

/// GET `url` with basic auth from `creds`, refusing bodies over `limit`.
async fn get(
    client: &reqwest::Client,
    creds: Option<&Credentials>,
    url: &str,
    limit: Limit,
    what: &str,
) -> Result<Vec<u8>, StagingError> {
    let mut request = client.get(url);
    if let Some((user, password)) = creds.and_then(Credentials::basic) {
        request = request.basic_auth(user, Some(password));
    }
    let response = request
        .send()
        .await
        .map_err(|err| StagingError::transport(url, &err))?;
    if !response.status().is_success() {
        return Err(StagingError::status(url, response.status(), what));
    }
    read_body(response, limit, url, what).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_helm_skips_do_not_hide_the_others() {
        let raw = b"apiVersion: v1\nentries:\n  broken:\n  - null\n  - {urls: [b.tgz]}\n  hello:\n  - {version: 1.0.0, urls: null}\n  - {version: 1.2.0, urls: [hello-1.2.0.tgz]}\n  - null\n";
        let index = read_index("http://h/index.yaml", raw).unwrap();
        assert_eq!(
            index.versions("hello").collect::<Vec<_>>(),
            ["1.0.0", "1.2.0"]
        );
        assert_eq!(index.versions("broken").count(), 0);
        assert_eq!(index.entries["hello"][1].urls, ["hello-1.2.0.tgz"]);
    }
}
