//! Names of the Workflow's templates and tasks.
//!
//! Argo accepts `^[a-zA-Z0-9][-a-zA-Z0-9]*$` for both, but refuses task names that begin with a
//! digit when tasks have dependencies, and builds pod names from template names. So every name the
//! plan makes is a DNS-1123 label that starts with a letter:
//! - templates: `entry`, `helmrelease`, `keptn`, `app-<application>`, `executors-<application>`,
//!   `custom-<application>-<executor>` (the fixed names cannot collide with the prefixed ones);
//! - tasks: the HelmRelease name of the chart (entry DAG: the application's name; executor DAG: the
//!   executor's name), prefixed with `t-` when it would start with a digit.
//!
//! Names longer than 63 characters are cut with a hash suffix ([`names::bounded_name`]). Joins
//! such as `custom-a-b-c` can still be ambiguous (application `a-b` with executor `c`, or `a` with
//! `b-c`), so every name goes through a [`NameSet`], which gives a repeated candidate a hash of its
//! unambiguous key instead. Allocation is deterministic: the same input gives the same names in
//! every direction, which keeps the reverse plan the exact transpose of the forward one.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::names::{MAX_LABEL_LEN, bounded_name};

/// Names already given in one scope (a Workflow's templates, or one DAG's tasks).
#[derive(Debug, Default)]
pub struct NameSet {
    taken: HashSet<String>,
}

impl NameSet {
    /// Reserves a fixed name (such as `entry`).
    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_owned());
    }

    /// A name made of `parts`, starting with a letter, unique in this set. `key` identifies what is
    /// named unambiguously; it picks the hash when the plain name is already taken.
    pub fn allocate(&mut self, parts: &[&str], key: &str) -> String {
        let mut name = bounded_name(parts, MAX_LABEL_LEN);
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name = bounded_name(&["t", &name], MAX_LABEL_LEN);
        }
        let mut attempt = 0u32;
        while self.taken.contains(&name) {
            let digest = hex::encode(Sha256::digest(format!("{key}\u{0}{attempt}").as_bytes()));
            let mut with_hash = parts.to_vec();
            with_hash.push(&digest[..8]);
            name = bounded_name(&with_hash, MAX_LABEL_LEN);
            if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                name = bounded_name(&["t", &name], MAX_LABEL_LEN);
            }
            attempt += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// True when Argo accepts `name` as a task or template name and Kubernetes accepts it inside a
/// pod name: a DNS-1123 label starting with a letter.
pub fn is_valid_argo_name(name: &str) -> bool {
    crate::names::is_dns1123_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The owner label's value for a group: its name, cut with a hash when longer than a label value
/// may be (group names are DNS subdomains of up to 253 characters). Select with this value.
pub fn owner_label_value(group_name: &str) -> String {
    bounded_name(&[group_name], MAX_LABEL_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_joins_get_distinct_names() {
        let mut set = NameSet::default();
        let a = set.allocate(&["custom", "a-b", "c"], "a-b/c");
        let b = set.allocate(&["custom", "a", "b-c"], "a/b-c");
        assert_eq!(a, "custom-a-b-c");
        assert_ne!(a, b);
        assert!(is_valid_argo_name(&b), "{b}");
    }

    #[test]
    fn names_starting_with_a_digit_get_a_letter_first() {
        let mut set = NameSet::default();
        assert_eq!(set.allocate(&["1db"], "1db"), "t-1db");
        let long = "9".repeat(63);
        let name = set.allocate(&[&long], &long);
        assert!(is_valid_argo_name(&name), "{name}");
    }

    #[test]
    fn reserved_names_are_never_given_again() {
        let mut set = NameSet::default();
        set.reserve("entry");
        assert_ne!(set.allocate(&["entry"], "entry"), "entry");
    }
}
