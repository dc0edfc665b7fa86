//! Chart versions and version constraints exactly as Helm 3 reads them: Helm parses with
//! Masterminds semver v3 (`semver.NewConstraint` + `Check`, `semver.NewVersion`), so this module
//! implements its semantics, not Cargo's: a bare `1.2` is `1.2.x`, `v1` and `1` are versions,
//! `x`/`X`/`*` are wildcards in any part, `1.0 - 2.0` is a range, `!=`, `~>`, `=>`, `=<` are
//! operators, comparisons are ANDed with spaces or commas and alternatives ORed with `||`.
//!
//! Pre-releases: an alternative admits pre-release versions only when one of its comparisons
//! names a pre-release (`>=1.0.0-0 <2.0.0` admits `1.5.0-rc.1`; `^1.0` does not).
//!
//! Which entry a constraint resolves to (exact spelling first, then the newest match) is
//! [`lookup`]'s. The webhook validates with [`VersionConstraint::parse`] and staging resolves
//! with the same type, so what admission accepts is exactly what staging understands.

mod comparator;
mod lookup;
mod number;
mod syntax;

use std::fmt;

use comparator::{Comparator, Op};
pub use number::{Version, VersionError};

/// The longest constraint read. Masterminds has no limit, but finding its hyphen ranges
/// (`1 - 2`) costs the square of a long run of digits: a megabyte version took minutes of the
/// webhook's CPU. The longest version a registry can tag is 128 bytes.
pub const MAX_CONSTRAINT_LEN: usize = 1024;

/// A chart version constraint as written in an Application's `chart.version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConstraint {
    /// The text as written (`*` for an empty one): Helm looks this spelling up first.
    text: String,
    alternatives: Vec<Alternative>,
}

/// Comparisons that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alternative {
    comparisons: Vec<Comparator>,
    /// True when a comparison names a pre-release: then pre-releases are candidates.
    pre_releases: bool,
}

impl VersionConstraint {
    /// Parses a constraint as Helm does; empty means the newest release, as `*`. Refuses
    /// exactly what Masterminds' `NewConstraint` refuses, saying why.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_CONSTRAINT_LEN {
            return Err(format!(
                "invalid chart version: {} bytes long, over the limit of {MAX_CONSTRAINT_LEN}",
                text.len()
            ));
        }
        let text = if text.is_empty() { "*" } else { text };
        let alternatives = syntax::alternatives(text).map_err(|reason| {
            format!(
                "invalid chart version {text:?}: {reason}; use a version like \"1.2.3\" or a range like \"^1.2\""
            )
        })?;
        let alternatives = alternatives
            .into_iter()
            .map(|comparisons| Alternative {
                pre_releases: comparisons.iter().any(Comparator::names_pre_release),
                comparisons,
            })
            .collect();
        Ok(Self {
            text: text.to_owned(),
            alternatives,
        })
    }

    /// Why `text` is not a constraint, as [`VersionConstraint::parse`] says it; without building
    /// one. Admission checks one per application, nearly always an exact release (`1.2.3`).
    pub fn check(text: &str) -> Result<(), String> {
        let numbers = text.split('.');
        let exact_release = !text.is_empty()
            && numbers.clone().count() <= 3
            && numbers.into_iter().all(|n| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u64>().is_ok()
            });
        if exact_release {
            return Ok(());
        }
        Self::parse(text).map(drop)
    }

    /// The constraint as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `version` satisfies the constraint (Masterminds' `Check`).
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|alternative| {
            alternative
                .comparisons
                .iter()
                .all(|c| c.admits(version, alternative.pre_releases))
        })
    }

    /// The lowest major version the constraint admits, when it pins one (for upgrade warnings).
    pub fn lowest_major(&self) -> Option<u64> {
        self.alternatives
            .iter()
            .flat_map(|alternative| &alternative.comparisons)
            .filter(|c| !matches!(c.op(), Op::Less | Op::LessOrEqual | Op::NotEqual))
            .filter_map(Comparator::major)
            .min()
    }
}

impl fmt::Display for VersionConstraint {
    /// The constraint as written, so that it reads back as itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("test version")
    }

    #[test]
    fn a_constraint_over_the_length_limit_is_refused_before_it_is_read() {
        let long = format!("{}-", "1".repeat(1 << 20));
        for refused in [
            VersionConstraint::check(&long),
            VersionConstraint::parse(&long).map(drop),
        ] {
            assert_eq!(
                refused,
                Err(format!(
                    "invalid chart version: {} bytes long, over the limit of 1024",
                    long.len()
                ))
            );
        }
        let longest = format!("1.0.0 - 2.0.0-{}", "a".repeat(MAX_CONSTRAINT_LEN - 14));
        assert_eq!(longest.len(), MAX_CONSTRAINT_LEN);
        assert_eq!(VersionConstraint::check(&longest), Ok(()));
    }

    #[test]
    fn check_decides_as_parse() {
        for text in [
            "1.2.3",
            "1",
            "1.2",
            "01.2.3",
            "1.2.3.4",
            "1..2",
            ".1",
            "1.",
            "",
            "*",
            "18446744073709551615",
            "18446744073709551616",
            "1.2.18446744073709551616",
            "^1.2",
            "1.2.3-rc.1",
            "v1.2.3",
            "1.2.3 ",
            " 1.2.3",
            "1.2.x",
            "1,2",
            "1.2.3 || 2",
        ] {
            assert_eq!(
                VersionConstraint::check(text),
                VersionConstraint::parse(text).map(drop),
                "{text:?}"
            );
        }
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
            ("~>1.2.3", "1.3.0", false),
            (">=1.0 <2.0", "1.5.0", true),
            (">=1.0 <2.0", "2.0.0", false),
            (">= 1.0, < 2.0", "1.0.0", true),
            ("=>1.0, =<1.4", "1.4.5", true),
            ("1.0 - 1.4", "1.4.0", true),
            ("1.0 - 1.4", "1.5.0", false),
            ("1.2.x", "1.2.7", true),
            ("1.2", "1.2.7", true),
            ("1.2", "1.3.0", false),
            ("1", "1.9.0", true),
            ("v1", "1.9.0", true),
            ("!=1.2.3", "1.2.4", true),
            ("^1.0 || ^3.0", "3.1.0", true),
            ("v1.2.3", "1.2.3", true),
            ("^0.2", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("*", "2.1.0-rc.1", false),
            (">=2.0.0-0", "2.1.0-rc.1", true),
            // The whole alternative opens to pre-releases when one comparison names one.
            (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", true),
            (">=1.0.0-0 <2.0.0 || ^3", "3.1.0-rc.1", false),
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
    fn only_what_helm_cannot_parse_is_refused_and_the_message_says_why() {
        for bad in [
            "latest!", ">>banana", "latest", "1.2.3.4", "  ", "1.0 ||", "01.x-01",
        ] {
            let err = VersionConstraint::parse(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("use a version like"), "{err}");
        }
        let err = VersionConstraint::parse("^1.x1").expect_err("x1");
        assert!(err.contains("\"1.x1\" is not a version"), "{err}");
        for good in [
            "v1",
            "1",
            "1.x.x",
            "X",
            "~> 2",
            "!= 1.2, <3",
            ">= 1.2.3 < 2.0 || => 3.0 < 4",
        ] {
            VersionConstraint::parse(good).expect(good);
        }
    }

    #[test]
    fn a_constraint_prints_as_written() {
        for text in [">= 1.0, < 2.0", "v1", "1.0 - 2.0 || ^3"] {
            assert_eq!(
                VersionConstraint::parse(text).expect(text).to_string(),
                text
            );
        }
        assert_eq!(
            VersionConstraint::parse("").expect("empty").to_string(),
            "*"
        );
    }

    #[test]
    fn upgrade_warnings_read_the_lowest_major() {
        let major = |text: &str| {
            VersionConstraint::parse(text)
                .ok()
                .and_then(|c| c.lowest_major())
        };
        assert_eq!(major("^2.1"), Some(2));
        assert_eq!(major("3.0.1"), Some(3));
        assert_eq!(major(">=1.0 <4"), Some(1));
        assert_eq!(major("*"), None);
        assert_eq!(major("<3"), None);
    }
}
