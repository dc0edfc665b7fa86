//! Cluster policy the webhook enforces on top of the API's own rules, loaded from a YAML file.
//!
//! ```yaml
//! allowedChartRepositories: ["https://charts.example.com/", "oci://registry.example.com/charts/"]
//! forbiddenNamespaces: [kube-system, kube-public, kube-node-lease]
//! maxApplications: 100
//! ```
//!
//! Repository entries are URLs matched by parts, not text prefixes: see [`RepositoryRule`].

mod repository_rule;

use serde::{Deserialize, Serialize};

pub use repository_rule::{RepositoryRule, RuleError};

/// What a cluster allows in an ApplicationGroup beyond the API's own rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Policy {
    /// Repositories charts may come from (see [`RepositoryRule`]). Empty: any repository.
    pub allowed_chart_repositories: Vec<RepositoryRule>,
    /// Namespaces no release may target.
    pub forbidden_namespaces: Vec<String>,
    /// Most applications one group may have.
    pub max_applications: usize,
}

/// Default cap on applications: what one Argo Workflow can hold (see `limits`).
pub const DEFAULT_MAX_APPLICATIONS: usize = 190;

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_chart_repositories: Vec::new(),
            forbidden_namespaces: ["kube-system", "kube-public", "kube-node-lease"]
                .map(String::from)
                .to_vec(),
            max_applications: DEFAULT_MAX_APPLICATIONS,
        }
    }
}

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid policy: {0}")]
pub struct PolicyError(String);

impl Policy {
    /// Reads a policy from YAML; missing fields keep their defaults, unknown fields are refused.
    pub fn from_yaml(text: &str) -> Result<Self, PolicyError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let policy: Self = serde_norway::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        if policy.max_applications == 0 {
            return Err(PolicyError("maxApplications must be at least 1".into()));
        }
        Ok(policy)
    }

    /// True when charts may be pulled from `url`.
    pub fn allows_repository(&self, url: &str) -> bool {
        self.allowed_chart_repositories.is_empty()
            || self
                .allowed_chart_repositories
                .iter()
                .any(|rule| rule.allows(url))
    }

    /// True when releases may target `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        !self
            .forbidden_namespaces
            .iter()
            .any(|forbidden| forbidden == namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_forbid_system_namespaces_and_allow_any_repository() {
        let policy = Policy::from_yaml("").expect("empty policy");
        assert!(!policy.allows_namespace("kube-system"));
        assert!(policy.allows_namespace("bookinfo"));
        assert!(policy.allows_repository("https://anything.example.com"));
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let policy = Policy::from_yaml("allowedChartRepositories: [https://charts.example.com/]")
            .expect("valid");
        assert!(policy.allows_repository("https://charts.example.com/stable"));
        assert!(!policy.allows_repository("https://evil.example.com/"));
        assert!(!policy.allows_repository("https://charts.example.com.evil.io/"));
        assert_eq!(policy.max_applications, DEFAULT_MAX_APPLICATIONS);
    }

    #[test]
    fn unknown_fields_and_zero_caps_are_refused() {
        assert!(Policy::from_yaml("maxApps: 3").is_err());
        assert!(Policy::from_yaml("maxApplications: 0").is_err());
        assert!(Policy::from_yaml("forbiddenNamespaces: 3").is_err());
        let bad_rule =
            Policy::from_yaml("allowedChartRepositories: [https://a, charts.example.com]")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(
            bad_rule.contains("allowedChartRepositories")
                && bad_rule.contains("charts.example.com"),
            "{bad_rule}"
        );
    }
}
