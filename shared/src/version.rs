//! Chart version constraints as Helm writes them: exact versions, `*`, and Masterminds-style ranges
//! (`^1.2`, `~1.2.3`, `>=1.0 <2.0`, `1.2.x`, `1.0 - 1.4`, alternatives with `||`).

use semver::{Version, VersionReq};

/// A parsed chart version constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionConstraint {
    alternatives: Vec<VersionReq>,
}

impl VersionConstraint {
    /// Parses a constraint; empty means any version.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return Ok(Self { alternatives: vec![VersionReq::STAR] });
        }
        let alternatives = text
            .split("||")
            .map(|alternative| {
                let comparators = to_semver_syntax(alternative.trim());
                VersionReq::parse(&comparators)
                    .map_err(|e| format!("invalid chart version {text:?}: {e}; use a version like \"1.2.3\" or a range like \"^1.2\""))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { alternatives })
    }

    /// True when `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|req| req.matches(version))
    }

    /// The newest of `versions` that satisfies the constraint.
    pub fn newest<'a>(&self, versions: impl IntoIterator<Item = &'a Version>) -> Option<&'a Version> {
        versions.into_iter().filter(|v| self.matches(v)).max()
    }

    /// The lowest major version the constraint admits, when it pins one (for upgrade warnings).
    pub fn lowest_major(&self) -> Option<u64> {
        self.alternatives
            .iter()
            .flat_map(|req| req.comparators.iter())
            .filter(|c| !matches!(c.op, semver::Op::Less | semver::Op::LessEq))
            .map(|c| c.major)
            .min()
    }
}

/// Masterminds separates comparators with spaces and allows hyphen ranges; the semver crate wants
/// commas. A leading "v" is accepted as Helm does.
fn to_semver_syntax(alternative: &str) -> String {
    let tokens: Vec<&str> = alternative.split_whitespace().collect();
    if let [low, "-", high] = tokens.as_slice() {
        return format!(">={}, <={}", low.trim_start_matches('v'), high.trim_start_matches('v'));
    }
    let mut parts: Vec<String> = Vec::new();
    let mut pending_operator = String::new();
    for token in tokens {
        let token = token.trim_end_matches(',');
        if token.chars().all(|c| "<>=!~^".contains(c)) {
            pending_operator.push_str(token); // ">= 1.0" written with a space
            continue;
        }
        let (op, version) = token.split_at(token.find(|c: char| c.is_ascii_alphanumeric() || c == '*').unwrap_or(0));
        // NB: a bare version is exact in Helm ("1.2.3" means =1.2.3) but a caret range in semver.
        let op = match format!("{pending_operator}{op}") {
            bare if bare.is_empty() && !version.contains(['*', 'x', 'X']) => "=".to_owned(),
            op => op,
        };
        pending_operator.clear();
        parts.push(format!("{op}{}", version.strip_prefix('v').unwrap_or(version)));
    }
    parts.join(", ")
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
            ("^1.0 || ^3.0", "3.1.0", true),
            ("v1.2.3", "1.2.3", true),
        ];
        for (constraint, version, expected) in cases {
            let parsed = VersionConstraint::parse(constraint).expect(constraint);
            assert_eq!(parsed.matches(&v(version)), expected, "{constraint} vs {version}");
        }
    }

    #[test]
    fn newest_match_is_chosen() {
        let versions = [v("1.0.0"), v("1.4.2"), v("2.0.0")];
        assert_eq!(VersionConstraint::parse("^1").expect("range").newest(&versions), Some(&versions[1]));
    }

    #[test]
    fn nonsense_is_refused_with_the_text() {
        let err = VersionConstraint::parse("latest!").expect_err("invalid");
        assert!(err.contains("latest!"), "{err}");
    }
}
