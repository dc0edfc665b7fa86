//! When a cached copy of a group may be trusted instead of reading it from the API server.
//!
//! The watch cache lags behind this process's own writes (a Workflow event can trigger a
//! reconcile before the watch delivers the status just written), and the status is written whole,
//! so deciding from a stale copy would undo a write. A copy is trusted when this process has not
//! written the group since it started, or when it is the very version it wrote last.
//!
//! A group this process finalized is never trusted again: removing the finalizer deleted it, and
//! until the watch says so the cache still holds it with its finalizer. Decided from that copy, a
//! reconcile would tear down a group that is gone (and, with its Workflows being collected, start
//! a new teardown for it).

use std::collections::HashMap;
use std::sync::Mutex;

/// The resourceVersion each group had after this process's last write to it.
#[derive(Debug, Default)]
pub struct Freshness {
    written: Mutex<HashMap<String, Written>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    /// Last written as this resourceVersion.
    Version(String),
    /// Finalized (and so deleted) by this process.
    Finalized,
}

impl Freshness {
    /// Notes that this process wrote `group`, which the API server answered with `version`.
    pub fn note_written(&self, group: &str, version: &str) {
        self.set(group, Some(Written::Version(version.to_owned())));
    }

    /// Notes that this process removed the last finalizer of `group`.
    pub fn note_finalized(&self, group: &str) {
        self.set(group, Some(Written::Finalized));
    }

    /// Forgets `group`, once the API server says it is gone.
    pub fn forget(&self, group: &str) {
        self.set(group, None);
    }

    /// Whether a cached copy of `group` at `version` may be decided from.
    pub fn is_fresh(&self, group: &str, version: Option<&str>) -> bool {
        let Ok(written) = self.written.lock() else {
            return false;
        };
        match written.get(group) {
            None => true,
            Some(Written::Version(wrote)) => version == Some(wrote.as_str()),
            Some(Written::Finalized) => false,
        }
    }

    fn set(&self, group: &str, state: Option<Written>) {
        if let Ok(mut written) = self.written.lock() {
            match state {
                Some(state) => written.insert(group.to_owned(), state),
                None => written.remove(group),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_version_written_last_is_fresh() {
        let freshness = Freshness::default();
        assert!(
            freshness.is_fresh("g", Some("1")),
            "never written: the cache is all there is"
        );
        freshness.note_written("g", "5");
        assert!(freshness.is_fresh("g", Some("5")));
        assert!(!freshness.is_fresh("g", Some("4")));
        assert!(!freshness.is_fresh("g", None));
    }

    #[test]
    fn a_finalized_group_is_read_again_until_it_is_known_gone() {
        let freshness = Freshness::default();
        freshness.note_written("g", "5");
        freshness.note_finalized("g");
        assert!(
            !freshness.is_fresh("g", Some("5")),
            "the cached copy still has its finalizer"
        );
        freshness.forget("g");
        assert!(freshness.is_fresh("g", Some("6")));
    }
}
