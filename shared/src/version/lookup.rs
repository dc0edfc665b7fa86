//! Which chart version a constraint resolves to, as Helm 3 resolves it.
//!
//! - A repository `index.yaml` (Helm's `IndexFile.Get`): the entry spelt exactly as requested,
//!   semver or not (`v1`); otherwise the newest entry that satisfies the constraint. Entries whose
//!   version Helm cannot read are left out, as Helm drops them when it loads the index.
//! - An OCI repository (Helm's OCI getter): a request that is itself a version (`1.2.3`, `v1`,
//!   `1.2`) names the tag to pull, with `+` written `_` (OCI tags cannot hold `+`); anything
//!   else picks among the tags that are strict semver once `_` is read as `+`, newest first.

use super::{Version, VersionConstraint};

impl VersionConstraint {
    /// The index entry version to use among `versions` (as the index spells them): the exact
    /// spelling first, else the newest match; the first listed among equal versions.
    pub fn pick_index_version<'a>(
        &self,
        versions: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        let readable: Vec<(&str, Version)> = versions
            .into_iter()
            .filter_map(|raw| Version::parse(raw).ok().map(|version| (raw, version)))
            .collect();
        if let Some((raw, _)) = readable.iter().find(|(raw, _)| *raw == self.text) {
            return Some(raw);
        }
        self.newest(readable).map(|(raw, _)| raw)
    }

    /// The OCI tag to pull without listing tags: the request itself when it is a version.
    pub fn oci_tag(&self) -> Option<String> {
        Version::parse(&self.text)
            .is_ok()
            .then(|| self.text.replace('+', "_"))
    }

    /// The tag to pull among `tags` and the chart version it holds (`1.0.0_b` holds
    /// `1.0.0+b`), for a request that is no version (see [`Self::oci_tag`]).
    pub fn pick_oci_tag<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Option<(&'a str, String)> {
        let semver: Vec<(&str, Version)> = tags
            .into_iter()
            .filter_map(|tag| {
                let version = Version::parse_strict(&tag.replace('_', "+")).ok()?;
                Some((tag, version))
            })
            .collect();
        // NB: Helm compares the request with each tag's canonical spelling first.
        if let Some((tag, version)) = semver.iter().find(|(_, v)| v.to_string() == self.text) {
            return Some((tag, version.to_string()));
        }
        self.newest(semver)
            .map(|(tag, version)| (tag, version.to_string()))
    }

    /// The newest of `candidates` that satisfies the constraint; the first among equals.
    fn newest<T>(&self, candidates: Vec<(T, Version)>) -> Option<(T, Version)> {
        candidates
            .into_iter()
            .filter(|(_, version)| self.matches(version))
            .reduce(|best, next| if next.1 > best.1 { next } else { best })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(text: &str) -> VersionConstraint {
        VersionConstraint::parse(text).expect(text)
    }

    #[test]
    fn an_index_entry_spelt_as_requested_wins_semver_or_not() {
        let offered = [
            "v1",
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "2.0.0",
            "2.1.0-rc.1",
            "latest",
        ];
        let cases = [
            ("v1", Some("v1")),
            ("1.0.0", Some("1.0.0")),
            ("1", Some("1.10.0")),
            ("", Some("2.0.0")),
            ("^1.2", Some("1.10.0")),
            ("~1.2.0", Some("1.2.0")),
            (">=1.0 <1.5", Some("1.2.0")),
            ("^0.1 || ^1", Some("1.10.0")),
            ("2.1.0-rc.1", Some("2.1.0-rc.1")),
            ("^3", None),
        ];
        for (text, want) in cases {
            assert_eq!(constraint(text).pick_index_version(offered), want, "{text}");
        }
        // Equal versions: the first listed.
        assert_eq!(
            constraint("^1").pick_index_version(["v1", "1.0.0"]),
            Some("v1")
        );
    }

    #[test]
    fn an_oci_request_that_is_a_version_names_its_tag() {
        assert_eq!(constraint("v1").oci_tag().as_deref(), Some("v1"));
        assert_eq!(constraint("1.2").oci_tag().as_deref(), Some("1.2"));
        assert_eq!(
            constraint("1.0.0+build.1").oci_tag().as_deref(),
            Some("1.0.0_build.1")
        );
        assert_eq!(constraint("^1").oci_tag(), None);
        assert_eq!(constraint("").oci_tag(), None);
    }

    #[test]
    fn oci_tags_are_strict_semver_with_underscores_for_plus() {
        let tags = [
            "1.0.0",
            "1.2.0_build.7",
            "v1.3.0",
            "1.4",
            "2.0.0-rc.1",
            "latest",
        ];
        assert_eq!(
            constraint("^1").pick_oci_tag(tags),
            Some(("1.2.0_build.7", "1.2.0+build.7".to_owned()))
        );
        assert_eq!(
            constraint("*").pick_oci_tag(tags),
            Some(("1.2.0_build.7", "1.2.0+build.7".to_owned()))
        );
        assert_eq!(
            constraint(">=2.0.0-0").pick_oci_tag(tags),
            Some(("2.0.0-rc.1", "2.0.0-rc.1".to_owned()))
        );
        assert_eq!(constraint("^3").pick_oci_tag(tags), None);
    }
}
