//! The admission policy: read from a mounted YAML file and re-read when it changes.
//!
//! Polled on a timer (ConfigMap volumes swap a `..data` symlink; inotify on the file misses that). An
//! invalid new version keeps the last good policy, says so in the logs and counts it in
//! `orkestra_webhook_policy_reload_failures_total`.

use crate::metrics::Metrics;
use orkestra_shared::policy::Policy;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

/// The policy in force; `None` until a policy file parsed (the server is not ready until then).
#[derive(Debug, Default)]
pub struct PolicyStore {
    current: RwLock<Option<Arc<Policy>>>,
}

impl PolicyStore {
    /// A store already holding `policy` (the built-in default when no file is configured).
    pub fn with(policy: Policy) -> PolicyStore {
        PolicyStore {
            current: RwLock::new(Some(Arc::new(policy))),
        }
    }

    pub fn current(&self) -> Option<Arc<Policy>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn is_loaded(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn set(&self, policy: Policy) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(policy));
    }
}

/// The mounted policy file and what was last read from it.
#[derive(Debug)]
pub struct PolicyFile {
    path: PathBuf,
    last_seen: Option<Vec<u8>>,
    last_error: Option<String>,
}

impl PolicyFile {
    pub fn new(path: PathBuf) -> PolicyFile {
        PolicyFile {
            path,
            last_seen: None,
            last_error: None,
        }
    }

    /// Reads the file and, when its content changed since the last call, parses it into the store.
    /// Failures are logged and counted once per change of content.
    pub fn reload_if_changed(&mut self, store: &PolicyStore, metrics: &Metrics) {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) => {
                return self.failed(
                    format!("cannot read {}: {error}", self.path.display()),
                    metrics,
                );
            }
        };
        if self.last_seen.as_deref() == Some(&text[..]) {
            return;
        }
        let parsed = std::str::from_utf8(&text)
            .map_err(|e| format!("{}: not UTF-8: {e}", self.path.display()))
            .and_then(|text| {
                Policy::from_yaml(text).map_err(|e| format!("{}: {e}", self.path.display()))
            });
        self.last_seen = Some(text);
        match parsed {
            Ok(policy) => {
                store.set(policy);
                self.last_error = None;
                metrics.policy_loaded();
                tracing::info!(policy = %self.path.display(), "policy loaded");
            }
            Err(message) => self.failed(message, metrics),
        }
    }

    fn failed(&mut self, message: String, metrics: &Metrics) {
        if self.last_error.as_ref() != Some(&message) {
            metrics.policy_reload_failed();
            tracing::warn!(error = %message, "policy not loaded; the last good policy (if any) stays in force");
            self.last_error = Some(message);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_new_policy_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        let metrics = Metrics::new();
        let store = PolicyStore::default();
        let mut file = PolicyFile::new(path.clone());

        file.reload_if_changed(&store, &metrics);
        assert!(!store.is_loaded(), "no file yet");

        std::fs::write(&path, "{}\n").unwrap();
        file.reload_if_changed(&store, &metrics);
        let good = store.current().unwrap();

        std::fs::write(&path, "[this is: not, a policy\n").unwrap();
        file.reload_if_changed(&store, &metrics);
        file.reload_if_changed(&store, &metrics);
        assert!(
            Arc::ptr_eq(&good, &store.current().unwrap()),
            "the last good policy stays"
        );
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("orkestra_webhook_policy_reload_failures_total 2"),
            "{text}"
        );
    }
}
