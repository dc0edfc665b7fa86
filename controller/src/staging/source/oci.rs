//! Pulling charts from OCI registries: list the tags, pick a version, fetch the chart layer.

use reqwest::Method;
use reqwest::header::{ACCEPT, LINK};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::staging::error::StagingError;
use crate::staging::limits::{read_body, read_json};
use crate::staging::oci_client::{
    HELM_CHART_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, OciClient, OciLocation,
};
use crate::staging::source::pulled::{Fetch, Pulled, Source};

/// Older Helm versions (< 3.8 experimental OCI) wrote the chart layer with this media type.
const LEGACY_CHART_MEDIA_TYPE: &str = "application/tar+gzip";
/// Most tag-list pages followed; a registry that paginates further is misbehaving, and a range
/// resolved from the pages read so far could miss the newest match, so staging fails instead.
const MAX_TAG_PAGES: usize = 100;

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

/// Resolves and fetches `source` from an `oci://` registry.
pub async fn pull(fetch: Fetch<'_>, source: Source<'_>) -> Result<Pulled, StagingError> {
    let Fetch {
        http,
        cache,
        limits,
        plain_http,
    } = fetch;
    let location = OciLocation::parse(source.url, plain_http)?;
    let repository = location.repository(source.name);
    let client = OciClient::new(
        http.clone(),
        &location.base,
        source.credentials.cloned(),
        *limits,
    );
    let scope = format!("repository:{repository}:pull");
    let reference = format!("oci://{}/{repository}", location.host);

    // As Helm: a request that is itself a version names its tag; anything else picks a tag.
    let (tag, version) = match source.version.oci_tag() {
        Some(tag) => (tag, source.version.to_string()),
        None => {
            let tags = list_tags(&client, &repository, &scope, &reference).await?;
            let (tag, version) = source
                .version
                .pick_oci_tag(tags.iter().map(String::as_str))
                .ok_or_else(|| StagingError::NotFound {
                    url: reference.clone(),
                    what: format!("a tag matching {}", source.version),
                })?;
            (tag.to_owned(), version)
        }
    };

    let manifest_url = client.url(&format!("/v2/{repository}/manifests/{tag}"));
    let response = client
        .send(Method::GET, &manifest_url, &scope, |r| {
            r.header(ACCEPT, OCI_MANIFEST_MEDIA_TYPE)
        })
        .await?;
    if !response.status().is_success() {
        return Err(StagingError::status(
            &manifest_url,
            response.status(),
            &format!("manifest {tag}"),
        ));
    }
    let manifest: Manifest = read_json(
        response,
        limits.document(),
        &manifest_url,
        &format!("manifest {tag}"),
    )
    .await?;
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == HELM_CHART_MEDIA_TYPE || l.media_type == LEGACY_CHART_MEDIA_TYPE)
        .ok_or_else(|| {
            StagingError::invalid_chart(&reference, format!("{tag} has no Helm chart layer"))
        })?;
    let expected = layer
        .digest
        .strip_prefix("sha256:")
        .ok_or_else(|| {
            StagingError::invalid_chart(&reference, format!("unsupported digest {}", layer.digest))
        })?
        .to_ascii_lowercase();
    if let Some(bytes) = cache.get(&expected).await {
        return Ok(Pulled {
            version: version.clone(),
            bytes,
            sha256: expected,
            from_cache: true,
        });
    }
    let blob_url = client.url(&format!("/v2/{repository}/blobs/{}", layer.digest));
    if layer.size > limits.max_archive_bytes {
        return Err(StagingError::TooLarge {
            url: blob_url,
            what: format!("chart layer of {} bytes", layer.size),
            limit: limits.max_archive_bytes,
            flag: limits.archive().flag,
        });
    }
    let response = client.send(Method::GET, &blob_url, &scope, |r| r).await?;
    if !response.status().is_success() {
        return Err(StagingError::status(
            &blob_url,
            response.status(),
            "chart layer",
        ));
    }
    let bytes = read_body(response, limits.archive(), &blob_url, "chart layer").await?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(StagingError::DigestMismatch {
            chart: format!("{} {tag}", source.name),
            url: blob_url,
            expected,
            actual,
        });
    }
    cache.put(None, &bytes).await;
    Ok(Pulled {
        version,
        bytes,
        sha256: actual,
        from_cache: false,
    })
}

/// The target of the `rel="next"` link of a `Link` header (RFC 8288: `<url>; rel="next"`, several
/// links separated by commas), if it has one.
fn next_link(header: &str) -> Option<String> {
    links(header).into_iter().find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .filter_map(|param| param.trim().split_once('='))
            .any(|(key, value)| {
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
            .then(|| target.to_owned())
    })
}

/// The links of a `Link` header: split at the commas outside `<…>` and quoted strings.
fn links(header: &str) -> Vec<&str> {
    let (mut links, mut start, mut quoted, mut bracketed) = (Vec::new(), 0, false, false);
    for (at, c) in header.char_indices() {
        match c {
            '"' if !bracketed => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            ',' if !quoted && !bracketed => {
                links.push(&header[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    links.push(&header[start..]);
    links
}

/// Every tag of `repository`, following `Link: <…>; rel="next"` pagination.
async fn list_tags(
    client: &OciClient,
    repository: &str,
    scope: &str,
    reference: &str,
) -> Result<Vec<String>, StagingError> {
    let mut tags = Vec::new();
    let mut next = Some(format!("/v2/{repository}/tags/list"));
    for _ in 0..MAX_TAG_PAGES {
        let Some(path) = next.take() else { break };
        let url = client.url(&path);
        let response = client.send(Method::GET, &url, scope, |r| r).await?;
        if response.status().as_u16() == 404 {
            return Err(StagingError::NotFound {
                url: reference.to_owned(),
                what: "chart repository".into(),
            });
        }
        if !response.status().is_success() {
            return Err(StagingError::status(&url, response.status(), "tag list"));
        }
        next = response
            .headers()
            .get_all(LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let page: TagList =
            read_json(response, client.limits().document(), &url, "tag list").await?;
        tags.extend(page.tags.unwrap_or_default());
    }
    match next {
        None => Ok(tags),
        Some(_) => Err(StagingError::TooManyPages {
            url: client.url(&format!("/v2/{repository}/tags/list")),
            pages: MAX_TAG_PAGES,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn only_the_next_link_is_followed() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"</v2/x/tags/list>; rel="first", </v2/x/tags/list?last=b>; rel=next"#)
                .as_deref(),
            Some("/v2/x/tags/list?last=b")
        );
        assert_eq!(next_link(r#"</v2/x/tags/list>; rel="first""#), None);
        assert_eq!(
            next_link(r#"</a,b>; title="one, two"; rel="next""#).as_deref(),
            Some("/a,b")
        );
        assert_eq!(next_link("garbage"), None);
    }
}
