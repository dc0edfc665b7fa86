//! One entry of the policy's `allowedChartRepositories`, matched against parsed URLs rather than
//! text: a text prefix `https://charts.example.com` would also allow
//! `https://charts.example.com.evil.io/`, `https://charts.example.com@evil.io/` and
//! `https://charts.example.comx/`.
//!
//! A rule is `scheme://host[:port][/path]` with scheme `https`, `http` or `oci`. A URL matches when
//! - its scheme is the rule's;
//! - its host is the rule's (compared without case), or, for a rule written `*.example.com`, ends
//!   in `.example.com` after at least one more label (`example.com` itself does not match);
//! - its port is the rule's, where no port means the scheme's default (443 for https and oci, 80
//!   for http);
//! - its path, after `.` and `..` segments are resolved as an HTTP client resolves them, is the
//!   rule's path or lies under it at a segment boundary (`/charts` allows `/charts/x`, not
//!   `/chartsx`).
//!
//! Refused whatever the rules say: URLs with a user or password (`https://a@b/`), hosts with a
//! trailing dot or percent-encoding, and paths holding a percent-encoded `/`, `\` or `.`, which a
//! server may decode into a different path than the one checked, or a `\` (kept in `oci://` paths,
//! read as `/` once the registry is spoken to over https).

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// A parsed `allowedChartRepositories` entry; (de)serialized as the text written in the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepositoryRule {
    /// As written in the policy file.
    text: String,
    scheme: String,
    /// Lowercase; for a wildcard rule, the part after `*.`.
    host: String,
    wildcard: bool,
    port: u16,
    /// Without a trailing `/`; empty for the whole host.
    path: String,
}

/// Why a policy entry is not a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed chart repository {text:?}: {reason}")]
pub struct RuleError {
    text: String,
    reason: String,
}

impl RepositoryRule {
    /// Parses `scheme://host[:port][/path]`, where host may start with `*.`.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let bad = |reason: &str| RuleError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("not a URL: write scheme://host[/path]"))?;
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|err| bad(&format!("not a URL: {err}")))?;
        if rest.contains('*') {
            return Err(bad(
                "a wildcard is only allowed as the first label: *.example.com",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a rule takes no query or fragment"));
        }
        let target = Target::of(&url).map_err(|reason| bad(&reason))?;
        Ok(Self {
            text: text.to_owned(),
            scheme: target.scheme.to_owned(),
            host: target.host,
            wildcard,
            port: target.port,
            path: target.path.trim_end_matches('/').to_owned(),
        })
    }

    /// True when charts may be pulled from `url` under this rule.
    pub fn allows(&self, url: &str) -> bool {
        let Ok(url) = Url::parse(url) else {
            return false;
        };
        let Ok(target) = Target::of(&url) else {
            return false;
        };
        let host_matches = if self.wildcard {
            target
                .host
                .strip_suffix(&self.host)
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty())
        } else {
            target.host == self.host
        };
        let path_matches = self.path.is_empty()
            || target
                .path
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        target.scheme == self.scheme && host_matches && target.port == self.port && path_matches
    }
}

impl fmt::Display for RepositoryRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for RepositoryRule {
    type Error = RuleError;
    fn try_from(text: String) -> Result<Self, RuleError> {
        Self::parse(&text)
    }
}

impl From<RepositoryRule> for String {
    fn from(rule: RepositoryRule) -> String {
        rule.text
    }
}

/// What a URL (or a rule) addresses, once parsed and normalised.
struct Target<'a> {
    scheme: &'a str,
    host: String,
    port: u16,
    path: &'a str,
}

impl<'a> Target<'a> {
    fn of(url: &'a Url) -> Result<Self, String> {
        let scheme = url.scheme();
        let default_port = match scheme {
            "https" | "oci" => 443,
            "http" => 80,
            other => {
                return Err(format!(
                    "unsupported scheme {other:?}: use https, http or oci"
                ));
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a user or password in the URL is not allowed".into());
        }
        // NB: `oci://` is not a scheme the URL standard knows, so its host is kept as written:
        // lowercase it here as `https://` hosts are.
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("no host")?
            .to_ascii_lowercase();
        if host.ends_with('.') || host.contains('%') {
            return Err(format!("host {host:?} is not in canonical form"));
        }
        let path = url.path();
        let lower = path.to_ascii_lowercase();
        if ["%2f", "%5c", "%2e"]
            .iter()
            .any(|code| lower.contains(code))
        {
            return Err(format!(
                "path {path:?} holds a percent-encoded '/', '\\' or '.'"
            ));
        }
        // NB: the URL standard reads `\` as `/` in http(s) URLs but keeps it in `oci://` ones,
        // whose path then reaches the registry inside an https URL: `/charts/..\other` is checked
        // as under `/charts` and fetched as `/other`.
        if path.contains('\\') {
            return Err(format!("path {path:?} holds a '\\'"));
        }
        Ok(Self {
            scheme,
            host,
            port: url.port().unwrap_or(default_port),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> RepositoryRule {
        RepositoryRule::parse(text).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn bypass_attempts_are_refused_and_intended_urls_allowed() {
        let cases: &[(&str, &str, bool)] = &[
            // Intended.
            (
                "https://charts.example.com",
                "https://charts.example.com",
                true,
            ),
            (
                "https://charts.example.com",
                "https://charts.example.com/",
                true,
            ),
            (
                "https://charts.example.com",
                "https://charts.example.com/stable/x",
                true,
            ),
            (
                "https://charts.example.com/",
                "https://CHARTS.Example.COM/stable",
                true,
            ),
            (
                "https://charts.example.com",
                "https://charts.example.com:443/",
                true,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a",
                true,
            ),
            (
                "https://charts.example.com/team-a/",
                "https://charts.example.com/team-a/x",
                true,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a/./x",
                true,
            ),
            (
                "oci://registry.example.com/charts",
                "oci://registry.example.com/charts/nf",
                true,
            ),
            (
                "oci://registry.example.com/charts",
                "oci://REGISTRY.example.com/charts",
                true,
            ),
            ("oci://127.0.0.1:5000", "oci://127.0.0.1:5000/x", true),
            ("http://10.0.0.1:8080/", "http://10.0.0.1:8080/charts", true),
            ("https://*.example.com", "https://a.example.com/x", true),
            ("https://*.example.com", "https://a.b.example.com/", true),
            ("https://[::1]:8443/", "https://[::1]:8443/charts", true),
            // Suffix hosts and look-alikes.
            (
                "https://charts.example.com",
                "https://charts.example.com.evil.io/",
                false,
            ),
            (
                "https://charts.example.com",
                "https://charts.example.comx/",
                false,
            ),
            (
                "https://charts.example.com",
                "https://xcharts.example.com/",
                false,
            ),
            (
                "https://charts.example.com",
                "https://evil.io/charts.example.com/",
                false,
            ),
            ("https://*.example.com", "https://example.com/", false),
            ("https://*.example.com", "https://evilexample.com/", false),
            (
                "https://*.example.com",
                "https://a.example.com.evil.io/",
                false,
            ),
            // User info.
            (
                "https://charts.example.com",
                "https://charts.example.com@evil.io/",
                false,
            ),
            (
                "https://charts.example.com",
                "https://user:pw@charts.example.com/",
                false,
            ),
            (
                "https://charts.example.com",
                "https://user@charts.example.com/",
                false,
            ),
            (
                "oci://registry.example.com",
                "oci://registry.example.com@evil.io/x",
                false,
            ),
            // Ports.
            (
                "https://charts.example.com",
                "https://charts.example.com:8443/",
                false,
            ),
            (
                "https://charts.example.com:8443",
                "https://charts.example.com/",
                false,
            ),
            ("oci://127.0.0.1:5000", "oci://127.0.0.1:5001/x", false),
            (
                "oci://registry.example.com",
                "oci://registry.example.com:5000/x",
                false,
            ),
            // Schemes.
            (
                "https://charts.example.com",
                "http://charts.example.com/",
                false,
            ),
            (
                "https://charts.example.com",
                "oci://charts.example.com/",
                false,
            ),
            ("https://charts.example.com", "file:///etc/passwd", false),
            // Paths: segment boundaries, dot segments, percent-encoding, case.
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-ab",
                false,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a/../team-b",
                false,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a/%2e%2e/team-b",
                false,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a/%2E%2E%2Fteam-b",
                false,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a%2F..%2Fteam-b",
                false,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/team-a/..%5cteam-b",
                false,
            ),
            (
                "https://charts.example.com/team-a",
                "https://charts.example.com/Team-A/",
                false,
            ),
            (
                "oci://registry.example.com/charts",
                "oci://registry.example.com/charts/../other",
                false,
            ),
            (
                "oci://registry.example.com/charts",
                "oci://registry.example.com/charts/..\\other",
                false,
            ),
            (
                "oci://registry.example.com/charts",
                "oci://registry.example.com/charts/x\\..\\..\\other",
                false,
            ),
            (
                "oci://registry.example.com/charts",
                "oci://registry.example.com/chartsx",
                false,
            ),
            // Trailing dots and IDN.
            (
                "https://charts.example.com",
                "https://charts.example.com./",
                false,
            ),
            (
                "https://charts.example.com",
                "https://chαrts.example.com/",
                false,
            ),
            (
                "https://charts.example.com",
                "https://charts.еxample.com/",
                false,
            ),
            (
                "oci://registry.example.com",
                "oci://registry.еxample.com/x",
                false,
            ),
            // Not a URL at all.
            ("https://charts.example.com", "charts.example.com/x", false),
            ("https://charts.example.com", "", false),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .filter(|(r, url, allowed)| rule(r).allows(url) != *allowed)
            .collect();
        assert!(
            wrong.is_empty(),
            "decided wrongly (rule, url, expected): {wrong:#?}"
        );
    }

    #[test]
    fn malformed_rules_are_refused_with_the_reason() {
        for (text, reason) in [
            ("charts.example.com", "not a URL"),
            ("ftp://charts.example.com", "unsupported scheme"),
            ("https://user@charts.example.com", "user or password"),
            ("https://charts.*.example.com", "wildcard"),
            ("https://charts.example.com/?a=b", "query"),
            ("https://charts.example.com./", "canonical"),
        ] {
            let err = RepositoryRule::parse(text).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains(text) && e.contains(reason)),
                "{text}: {err:?}"
            );
        }
    }
}
