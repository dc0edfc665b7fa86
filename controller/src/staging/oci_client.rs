//! A minimal OCI distribution API client: the requests staging needs, with basic and bearer-token
//! authentication (the `WWW-Authenticate` challenge flow registries use).
//!
//! `oci://host[:port]/path` is reached over HTTPS, except where [`PlainHttp`] says otherwise
//! (loopback registries, and those the user named insecure).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use crate::staging::credentials::Credentials;
use crate::staging::error::StagingError;
use crate::staging::limits::{Limits, read_json};
use crate::staging::plain_http::PlainHttp;

/// Helm chart manifest config media type.
pub const HELM_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm chart content layer media type.
pub const HELM_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// OCI image manifest media type.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A parsed `oci://host/path` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLocation {
    /// `http(s)://host[:port]`.
    pub base: String,
    /// `host[:port]`, as written in references.
    pub host: String,
    /// Repository path prefix without slashes at the ends (may be empty).
    pub path: String,
}

impl OciLocation {
    /// Parses `oci://host[:port][/path]`; `plain_http` decides the scheme spoken to the host.
    pub fn parse(url: &str, plain_http: &PlainHttp) -> Result<Self, StagingError> {
        let rest = url
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("oci://"))
            .map(|_| &url[6..])
            .ok_or_else(|| StagingError::InvalidSpec(format!("{url:?} is not an oci:// URL")))?;
        let rest = rest.trim_end_matches('/');
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(StagingError::InvalidSpec(format!(
                "{url:?} has no registry host"
            )));
        }
        let scheme = if plain_http.allows(host) {
            "http"
        } else {
            "https"
        };
        Ok(Self {
            base: format!("{scheme}://{host}"),
            host: host.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The repository of chart `name` under this location.
    pub fn repository(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.path)
        }
    }
}

/// A client for one registry.
#[derive(Debug)]
pub struct OciClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    limits: Limits,
    /// Bearer tokens by scope, reused across requests.
    tokens: Mutex<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl OciClient {
    /// A client for the registry at `base` (`http(s)://host[:port]`).
    pub fn new(
        http: reqwest::Client,
        base: &str,
        credentials: Option<Credentials>,
        limits: Limits,
    ) -> Self {
        Self {
            http,
            base: base.to_owned(),
            credentials,
            limits,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The absolute URL of a registry path (`/v2/...`) or of a `Location` header value.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// The limits this client's reads are held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sends a request built by `build` (called again for the retry after an auth challenge).
    /// `scope` is the token scope, e.g. `repository:charts/x:pull,push`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, StagingError> {
        let response = self.attempt(&method, url, scope, &build).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (scheme, params) = parse_challenge(&challenge);
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Basic: `attempt` already sent the credentials, if any, so the refusal stands.
            return Ok(response);
        }
        let token = self.fetch_token(url, &params, scope).await?;
        self.lock_tokens().insert(scope.to_owned(), token);
        self.attempt(&method, url, scope, &build).await
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        scope: &str,
        build: &impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, StagingError> {
        let mut request = build(self.http.request(method.clone(), url));
        let token = self.lock_tokens().get(scope).cloned();
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        } else if let Some((user, password)) =
            self.credentials.as_ref().and_then(Credentials::basic)
        {
            request = request.basic_auth(user, Some(password));
        }
        request
            .send()
            .await
            .map_err(|err| StagingError::transport(url, &err))
    }

    async fn fetch_token(
        &self,
        url: &str,
        params: &HashMap<String, String>,
        scope: &str,
    ) -> Result<String, StagingError> {
        let realm = params
            .get("realm")
            .ok_or_else(|| StagingError::Unreachable {
                url: url.to_owned(),
                reason: "bearer challenge without realm".into(),
            })?;
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        let mut request = self.http.get(realm).query(&query);
        if let Some((user, password)) = self.credentials.as_ref().and_then(Credentials::basic) {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|err| StagingError::transport(realm, &err))?;
        if !response.status().is_success() {
            return Err(StagingError::status(
                realm,
                response.status(),
                "registry token",
            ));
        }
        let body: TokenResponse =
            read_json(response, self.limits.document(), realm, "registry token").await?;
        body.token
            .or(body.access_token)
            .ok_or_else(|| StagingError::unauthorized(realm, 200))
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A poisoned map only holds tokens; recover it rather than fail.
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Parses `Bearer realm="…",service="…",scope="repository:a:pull,push"` (commas may appear inside
/// quotes) into the scheme and its parameters.
pub fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars
                .by_ref()
                .take_while(|c| *c != ',')
                .collect::<String>()
                .trim()
                .to_owned();
        }
        params.insert(key.to_ascii_lowercase(), value);
    }
    (scheme.to_owned(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_quoted_commas_parse() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params.get("realm").map(String::as_str),
            Some("https://auth.example/token")
        );
        assert_eq!(
            params.get("scope").map(String::as_str),
            Some("repository:a/b:pull,push")
        );
        assert_eq!(params.get("service").map(String::as_str), Some("registry"));
    }

    #[test]
    fn loopback_registries_are_plain_http() {
        let plain = PlainHttp::default();
        let local = OciLocation::parse("oci://127.0.0.1:5000/charts/", &plain).ok();
        assert_eq!(
            local.as_ref().map(|l| l.base.as_str()),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            local.map(|l| l.repository("x")),
            Some("charts/x".to_owned())
        );
        let remote = OciLocation::parse("oci://ghcr.io/org", &plain).ok();
        assert_eq!(remote.map(|l| l.base), Some("https://ghcr.io".to_owned()));
        let look_alike = OciLocation::parse("oci://127.0.0.1.nip.io:5000/charts", &plain).ok();
        assert_eq!(
            look_alike.map(|l| l.base),
            Some("https://127.0.0.1.nip.io:5000".to_owned())
        );
        let named = PlainHttp::new(["registry.lab:5000".to_owned()]);
        let insecure = OciLocation::parse("oci://registry.lab:5000/charts", &named).ok();
        assert_eq!(
            insecure.map(|l| l.base),
            Some("http://registry.lab:5000".to_owned())
        );
    }
}
