//! What a pull asks for and what it brings back.

use crate::staging::cache::ChartCache;
use crate::staging::credentials::Credentials;
use crate::staging::limits::Limits;
use crate::staging::plain_http::PlainHttp;
use orkestra_shared::version::VersionConstraint;

/// A fetched chart archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The version resolved from the requested spec.
    pub version: String,
    /// The `.tgz` bytes.
    pub bytes: Vec<u8>,
    /// Hex sha256 of `bytes`.
    pub sha256: String,
    /// True when the archive came from the local cache.
    pub from_cache: bool,
}

/// Where a chart comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Repository URL: `http(s)://…` (index.yaml) or `oci://host/path`.
    pub url: &'a str,
    /// Chart name in the repository.
    pub name: &'a str,
    /// Requested version.
    pub version: &'a VersionConstraint,
    /// Credentials for the repository.
    pub credentials: Option<&'a Credentials>,
}

/// What every pull reads with: the HTTP client, the archive cache, the size limits and which
/// registries are plain HTTP (the stager's, for all its pulls).
#[derive(Debug, Clone, Copy)]
pub struct Fetch<'a> {
    pub http: &'a reqwest::Client,
    pub cache: &'a ChartCache,
    pub limits: &'a Limits,
    pub plain_http: &'a PlainHttp,
}
