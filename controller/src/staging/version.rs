//! Picking a chart version from what a repository offers.
//!
//! `chart.version` is an exact version ("1.2.3", "v1.2.3"), a range in Helm's (Masterminds)
//! syntax ("^1.2", "~1.2.0", ">=1.0 <2.0", "1.2.x", "^1 || ^2"), or `*`/empty for the newest.
//! Ranges are translated to the `semver` crate's syntax: comparators separated by whitespace
//! become comma-separated, and `||` alternatives are matched one by one. As in Helm, ranges do not
//! match pre-releases unless a comparator names one; an exact version matches only itself.

use semver::{Version, VersionReq};

use super::error::StagingError;

/// A requested chart version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// Exactly this version.
    Exact(Version),
    /// The newest version matching any of these alternatives.
    Range(Vec<VersionReq>),
}

impl VersionSpec {
    /// Parses the `chart.version` field; `None`, "" and "*" mean the newest stable version.
    pub fn parse(spec: Option<&str>) -> Result<Self, StagingError> {
        let spec = spec.unwrap_or("").trim();
        if spec.is_empty() || spec == "*" {
            return Ok(Self::Range(vec![VersionReq::STAR]));
        }
        if let Some(version) = parse_version(spec) {
            return Ok(Self::Exact(version));
        }
        let alternatives = spec
            .split("||")
            .map(|alt| {
                let normalized = normalize_range(alt);
                VersionReq::parse(&normalized).map_err(|err| {
                    StagingError::InvalidSpec(format!(
                        "chart version {spec:?} is not a version or range: {err}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Range(alternatives))
    }

    /// True when `version` satisfies the spec.
    pub fn matches(&self, version: &Version) -> bool {
        match self {
            Self::Exact(wanted) => wanted == version,
            Self::Range(alternatives) => alternatives.iter().any(|req| req.matches(version)),
        }
    }

    /// The newest candidate satisfying the spec; candidates whose version is not semver are
    /// skipped, as Helm does. Returns the candidate's original string (tags may spell `+` as `_`).
    pub fn pick<'a, I>(&self, candidates: I) -> Option<(&'a str, Version)>
    where
        I: IntoIterator<Item = &'a str>,
    {
        candidates
            .into_iter()
            .filter_map(|raw| parse_version(raw).map(|v| (raw, v)))
            .filter(|(_, v)| self.matches(v))
            .max_by(|a, b| a.1.cmp(&b.1))
    }
}

impl std::fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(version) => write!(f, "{version}"),
            Self::Range(alternatives) => {
                let text: Vec<String> = alternatives.iter().map(ToString::to_string).collect();
                write!(f, "{}", text.join(" || "))
            }
        }
    }
}

/// Parses a version as Helm writes it: optional leading `v`, `_` standing for `+` in OCI tags.
pub fn parse_version(raw: &str) -> Option<Version> {
    let raw = raw.strip_prefix('v').unwrap_or(raw);
    Version::parse(&raw.replace('_', "+")).ok()
}

/// "1.2.x" → "1.2.*", ">=1.0 <2.0" → ">=1.0, <2.0", "1.2" → "=1.2" (Masterminds treats a bare
/// partial version as an exact match on the given parts; `semver` would read it as a caret).
fn normalize_range(alt: &str) -> String {
    let mut comparators: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for token in alt.replace(',', " ").split_whitespace() {
        if token.chars().all(|c| "<>=~^!".contains(c)) {
            pending_op.push_str(token);
            continue;
        }
        let token = token.replace(['x', 'X'], "*");
        let token = token.strip_prefix('v').unwrap_or(&token).to_owned();
        let starts_with_op = token.starts_with(|c: char| "<>=~^".contains(c));
        let comparator = if !pending_op.is_empty() {
            format!("{pending_op}{token}")
        } else if starts_with_op || token.contains('*') {
            token
        } else {
            format!("={token}")
        };
        pending_op.clear();
        comparators.push(comparator);
    }
    comparators.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(spec: &str, versions: &[&str]) -> Option<String> {
        VersionSpec::parse(Some(spec))
            .ok()?
            .pick(versions.iter().copied())
            .map(|(raw, _)| raw.to_owned())
    }

    #[test]
    fn picks_the_newest_match_like_helm() {
        let offered = [
            "1.0.0",
            "1.2.0",
            "1.2.5",
            "1.10.0",
            "2.0.0",
            "2.1.0-rc.1",
            "not-semver",
        ];
        let cases = [
            ("", Some("2.0.0")),
            ("*", Some("2.0.0")),
            ("1.2.0", Some("1.2.0")),
            ("v1.2.0", Some("1.2.0")),
            ("^1.2", Some("1.10.0")),
            ("~1.2.0", Some("1.2.5")),
            ("1.2.x", Some("1.2.5")),
            ("1.2", Some("1.2.5")),
            (">=1.0 <1.5", Some("1.2.5")),
            (">= 1.0, < 1.5", Some("1.2.5")),
            ("^0.1 || ^1", Some("1.10.0")),
            ("2.1.0-rc.1", Some("2.1.0-rc.1")),
            ("3.0.0", None),
            ("^3", None),
        ];
        for (spec, want) in cases {
            assert_eq!(pick(spec, &offered).as_deref(), want, "spec {spec:?}");
        }
    }

    #[test]
    fn oci_tags_spell_build_metadata_with_underscore() {
        assert_eq!(
            pick("1.0.0+build.1", &["1.0.0_build.1"]).as_deref(),
            Some("1.0.0_build.1")
        );
    }

    #[test]
    fn garbage_ranges_are_spec_errors() {
        let err = VersionSpec::parse(Some(">>banana")).err();
        assert!(matches!(err, Some(StagingError::InvalidSpec(_))), "{err:?}");
    }
}
