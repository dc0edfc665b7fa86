//! Chart version constraints as Helm writes them: exact versions (`1.2.3`, `v1.2.3`), `*` or empty
//! for the newest, and Masterminds-style ranges (`^1.2`, `~1.2.3`, `>=1.0 <2.0`, `1.2.x`, `1.2`,
//! `1.0 - 1.4`, alternatives with `||`). The webhook validates with it and staging resolves with it,
//! so what admission accepts is exactly what staging understands.
//!
//! As in Helm, ranges match pre-releases only when a comparator names one; an exact version
//! matches only itself.

use semver::{Version, VersionReq};
use std::fmt;

/// A parsed chart version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionConstraint {
    /// Exactly this version.
    Exact(Version),
    /// Any version matching one of these alternatives.
    Range(Vec<VersionReq>),
}

impl VersionConstraint {
    /// Parses a constraint; empty and `*` mean the newest version.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return Ok(Self::Range(vec![VersionReq::STAR]));
        }
        if let Some(version) = parse_version(text) {
            return Ok(Self::Exact(version));
        }
        let alternatives = text
            .split("||")
            .map(|alternative| {
                VersionReq::parse(&to_semver_syntax(alternative.trim())).map_err(|e| {
                    format!("invalid chart version {text:?}: {e}; use a version like \"1.2.3\" or a range like \"^1.2\"")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Range(alternatives))
    }

    /// True when `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        match self {
            Self::Exact(wanted) => wanted == version,
            Self::Range(alternatives) => alternatives.iter().any(|req| req.matches(version)),
        }
    }

    /// The newest of `candidates` (version strings as a repository lists them: index versions or
    /// OCI tags) that satisfies the constraint, with the candidate's own spelling. Candidates that
    /// are not versions are skipped, as Helm does.
    pub fn pick<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<(&'a str, Version)> {
        candidates
            .into_iter()
            .filter_map(|raw| parse_version(raw).map(|v| (raw, v)))
            .filter(|(_, v)| self.matches(v))
            .max_by(|a, b| a.1.cmp(&b.1))
    }

    /// The lowest major version the constraint admits, when it pins one (for upgrade warnings).
    pub fn lowest_major(&self) -> Option<u64> {
        match self {
            Self::Exact(version) => Some(version.major),
            Self::Range(alternatives) => alternatives
                .iter()
                .flat_map(|req| req.comparators.iter())
                .filter(|c| !matches!(c.op, semver::Op::Less | semver::Op::LessEq))
                .map(|c| c.major)
                .min(),
        }
    }
}

impl fmt::Display for VersionConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(version) => write!(f, "{version}"),
            Self::Range(alternatives) => {
                let text: Vec<String> = alternatives.iter().map(ToString::to_string).collect();
                f.write_str(&text.join(" || "))
            }
        }
    }
}

/// Parses a version as Helm writes it: an optional leading `v`, and `_` for `+` (OCI tags cannot
/// hold `+`).
pub fn parse_version(raw: &str) -> Option<Version> {
    let raw = raw.strip_prefix('v').unwrap_or(raw);
    Version::parse(&raw.replace('_', "+")).ok()
}

/// Masterminds separates comparators with spaces, allows hyphen ranges and `x` wildcards, and reads
/// a bare partial version (`1.2`) as exact on the given parts; the semver crate wants commas, `*`,
/// and would read a bare version as a caret range.
fn to_semver_syntax(alternative: &str) -> String {
    let tokens: Vec<&str> = alternative
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    if let [low, "-", high] = tokens.as_slice() {
        return format!(">={}, <={}", trim_v(low), trim_v(high));
    }
    let mut comparators: Vec<String> = Vec::new();
    let mut pending_operator = String::new();
    for token in tokens {
        if token.chars().all(|c| "<>=~^!".contains(c)) {
            pending_operator.push_str(token); // ">= 1.0" written with a space
            continue;
        }
        let split = token
            .find(|c: char| c.is_ascii_alphanumeric() || c == '*')
            .unwrap_or(0);
        let (operator, version) = token.split_at(split);
        let version = wildcards(trim_v(version));
        let operator = format!("{pending_operator}{operator}");
        pending_operator.clear();
        let operator = if operator.is_empty() && !version.contains('*') {
            "=".to_owned()
        } else {
            operator
        };
        comparators.push(format!("{operator}{version}"));
    }
    comparators.join(", ")
}

fn trim_v(version: &str) -> &str {
    version.strip_prefix('v').unwrap_or(version)
}

/// `1.2.x` → `1.2.*`: only whole `x`/`X` parts are wildcards (a pre-release may contain an x).
fn wildcards(version: &str) -> String {
    let (core, rest) = version
        .find(['-', '+'])
        .map_or((version, ""), |at| version.split_at(at));
    let core: Vec<&str> = core
        .split('.')
        .map(|part| {
            if part == "x" || part == "X" {
                "*"
            } else {
                part
            }
        })
        .collect();
    format!("{}{rest}", core.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("test version")
    }

    #[test]
    fn helm_style_constraints_match_as_helm_would() {
        let cases = [
            ("*", "9.9.9", true),
            ("", "0.1.0", true),
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("=1.2.3", "1.2.4", false),
            ("^1.2", "1.9.0", true),
            ("^1.2", "2.0.0", false),
            ("~1.2.3", "1.2.9", true),
            (">=1.0 <2.0", "1.5.0", true),
            (">=1.0 <2.0", "2.0.0", false),
            (">= 1.0, < 2.0", "1.0.0", true),
            ("1.0 - 1.4", "1.4.0", true),
            ("1.0 - 1.4", "1.5.0", false),
            ("1.2.x", "1.2.7", true),
            ("1.2", "1.2.7", true),
            ("1.2", "1.3.0", false),
            ("^1.0 || ^3.0", "3.1.0", true),
            ("v1.2.3", "1.2.3", true),
            ("*", "2.1.0-rc.1", false),
        ];
        for (constraint, version, expected) in cases {
            let parsed = VersionConstraint::parse(constraint).expect(constraint);
            assert_eq!(
                parsed.matches(&v(version)),
                expected,
                "{constraint} vs {version}"
            );
        }
    }

    #[test]
    fn the_newest_match_is_picked_in_the_repository_spelling() {
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
            ("^1.2", Some("1.10.0")),
            ("~1.2.0", Some("1.2.5")),
            (">=1.0 <1.5", Some("1.2.5")),
            ("^0.1 || ^1", Some("1.10.0")),
            ("2.1.0-rc.1", Some("2.1.0-rc.1")),
            ("^3", None),
        ];
        for (constraint, want) in cases {
            let parsed = VersionConstraint::parse(constraint).expect(constraint);
            assert_eq!(
                parsed.pick(offered).map(|(raw, _)| raw),
                want,
                "{constraint}"
            );
        }
        let build = VersionConstraint::parse("1.0.0+build.1").expect("exact");
        assert_eq!(
            build.pick(["1.0.0_build.1"]).map(|(raw, _)| raw),
            Some("1.0.0_build.1")
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_text() {
        for bad in ["latest!", ">>banana"] {
            let err = VersionConstraint::parse(bad).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn upgrade_warnings_read_the_lowest_major() {
        assert_eq!(
            VersionConstraint::parse("^2.1")
                .ok()
                .and_then(|c| c.lowest_major()),
            Some(2)
        );
        assert_eq!(
            VersionConstraint::parse("3.0.1")
                .ok()
                .and_then(|c| c.lowest_major()),
            Some(3)
        );
    }
}
