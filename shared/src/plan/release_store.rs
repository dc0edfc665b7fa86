//! HelmReleases by reference: the ConfigMaps that hold a Workflow's HelmReleases, and the
//! reference a chart task passes to the controller image's leaves instead of the object itself.
//!
//! Inline, every HelmRelease went into the Workflow twice over: once in its task's arguments and
//! once more in Argo's status of the node, as base64. The largest group admission accepts came to
//! over 1 MiB before Argo wrote any status, over Argo's own limit. By reference, a task carries
//! `configmap:<namespace>/<name>/<key>@sha256:<digest>`, and the HelmReleases go, as JSON, into
//! ConfigMaps of the Workflow's namespace named after the Workflow (`<workflow>-releases-<n>`),
//! each filled up to [`STORE_BUDGET`] in task order. The controller writes them before it creates
//! the Workflow; the `helmrelease` and `keptn` leaves read their key.
//!
//! The digest (SHA-256 of the JSON, hex) is what keeps the Workflow the record of what runs: the
//! executor's account may create and delete HelmReleases in every namespace, so whoever may edit
//! ConfigMaps in the Workflow's namespace must not be able to change what a step applies. A step
//! refuses a value whose digest is not the one its Workflow names.
//!
//! Custom executors still get the HelmRelease inline (`--spec`, Azure Orkestra's contract).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest as _, Sha256};

use super::error::PlanError;

/// Label naming the Workflow whose HelmReleases a ConfigMap holds.
pub const WORKFLOW_LABEL: &str = "orkestra.azure.microsoft.com/workflow";
/// Bytes of data (keys and HelmRelease JSON) one ConfigMap is filled up to before the next one is
/// started.
pub const STORE_BUDGET: usize = 512 * 1024;
/// Most bytes of data one ConfigMap may hold (the API server's limit, 1 MiB), less room for its
/// keys and metadata: a single HelmRelease larger than this cannot be passed by reference.
pub const MAX_RELEASE_BYTES: usize = 1024 * 1024 - 16 * 1024;
/// Longest ConfigMap key the API server accepts.
const MAX_KEY_LEN: usize = 253;

/// Where a chart task's HelmRelease is kept, and what it is:
/// `configmap:<namespace>/<name>/<key>@sha256:<digest>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// Namespace of the ConfigMap (the Workflow's).
    pub namespace: String,
    /// Name of the ConfigMap.
    pub config_map: String,
    /// Key whose value is the HelmRelease as JSON.
    pub key: String,
    /// SHA-256 of that value, lower-case hex.
    pub digest: String,
}

impl ReleaseRef {
    /// What every reference starts with (never base64, whose alphabet has no `:`).
    pub const PREFIX: &'static str = "configmap:";
    /// What separates the digest (no ConfigMap name or key holds an `@`).
    const DIGEST: &'static str = "@sha256:";

    /// The digest a reference to `json` carries.
    pub fn digest_of(json: &[u8]) -> String {
        hex::encode(Sha256::digest(json))
    }

    /// `Err` saying so when `json` is not the value this reference names.
    pub fn verify(&self, json: &[u8]) -> Result<(), String> {
        let found = Self::digest_of(json);
        if found == self.digest {
            Ok(())
        } else {
            Err(format!(
                "key {} of ConfigMap {}/{} has sha256:{found}, not the sha256:{} its Workflow names: \
                 it was changed after the controller wrote it",
                self.key, self.namespace, self.config_map, self.digest
            ))
        }
    }

    /// The reference `text` holds; `None` when it is not one (it does not start with
    /// [`Self::PREFIX`]), an error saying what is missing when it is a broken one.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let rest = text.strip_prefix(Self::PREFIX)?;
        let Some((rest, digest)) = rest.split_once(Self::DIGEST) else {
            return Some(Err(format!(
                "{text:?} has no {}<digest> of its HelmRelease",
                Self::DIGEST
            )));
        };
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Some(Err(format!(
                "{text:?} has a digest that is not 64 lower-case hex digits"
            )));
        }
        let mut parts = rest.splitn(3, '/');
        let (Some(namespace), Some(config_map), Some(key)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Some(Err(format!(
                "{text:?} is not {}<namespace>/<name>/<key>{}<digest>",
                Self::PREFIX,
                Self::DIGEST
            )));
        };
        if [namespace, config_map, key].iter().any(|p| p.is_empty()) {
            return Some(Err(format!("{text:?} has an empty namespace, name or key")));
        }
        Some(Ok(Self {
            namespace: namespace.to_owned(),
            config_map: config_map.to_owned(),
            key: key.to_owned(),
            digest: digest.to_owned(),
        }))
    }
}

impl fmt::Display for ReleaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}/{}/{}{}{}",
            Self::PREFIX,
            self.namespace,
            self.config_map,
            self.key,
            Self::DIGEST,
            self.digest
        )
    }
}

/// Collects a Workflow's HelmReleases into ConfigMaps as its chart tasks are planned.
#[derive(Debug)]
pub struct ReleaseStore {
    namespace: String,
    workflow: String,
    stores: Vec<BTreeMap<String, String>>,
    filled: usize,
    added: usize,
}

impl ReleaseStore {
    /// An empty store for the Workflow `workflow` of `namespace`.
    pub fn new(namespace: &str, workflow: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            workflow: workflow.to_owned(),
            stores: Vec::new(),
            filled: 0,
            added: 0,
        }
    }

    /// Keeps the HelmRelease `name` (its JSON) and returns the reference its task passes.
    pub fn add(&mut self, name: &str, json: String) -> Result<ReleaseRef, PlanError> {
        if json.len() > MAX_RELEASE_BYTES {
            return Err(PlanError::ReleaseTooLarge {
                name: name.to_owned(),
                bytes: json.len(),
            });
        }
        // NB: the task's position first: a rollback may delete and install releases of one name.
        let mut key = format!("{}-{name}", self.added);
        key.truncate(MAX_KEY_LEN);
        let bytes = key.len() + json.len();
        if self.stores.is_empty() || self.filled + bytes > STORE_BUDGET {
            self.stores.push(BTreeMap::new());
            self.filled = 0;
        }
        self.added += 1;
        self.filled += bytes;
        let config_map = self.store_name(self.stores.len() - 1);
        let digest = ReleaseRef::digest_of(json.as_bytes());
        if let Some(store) = self.stores.last_mut() {
            store.insert(key.clone(), json);
        }
        Ok(ReleaseRef {
            namespace: self.namespace.clone(),
            config_map,
            key,
            digest,
        })
    }

    /// The ConfigMaps, labelled with `labels` and [`WORKFLOW_LABEL`].
    pub fn finish(self, labels: &BTreeMap<String, String>) -> Vec<ConfigMap> {
        let mut labels = labels.clone();
        labels.insert(WORKFLOW_LABEL.to_owned(), self.workflow.clone());
        let names: Vec<String> = (0..self.stores.len()).map(|i| self.store_name(i)).collect();
        names
            .into_iter()
            .zip(self.stores)
            .map(|(name, data)| ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(self.namespace.clone()),
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                },
                data: Some(data),
                ..ConfigMap::default()
            })
            .collect()
    }

    fn store_name(&self, index: usize) -> String {
        format!("{}-releases-{index}", self.workflow)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_reads_back_as_written_and_verifies_its_value() {
        let reference = ReleaseRef {
            namespace: "orkestra".into(),
            config_map: "shop-releases-0".into(),
            key: "3-shop-db".into(),
            digest: ReleaseRef::digest_of(b"{}"),
        };
        let text = reference.to_string();
        assert_eq!(
            text,
            "configmap:orkestra/shop-releases-0/3-shop-db@sha256:\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(ReleaseRef::parse(&text), Some(Ok(reference.clone())));
        assert_eq!(reference.verify(b"{}"), Ok(()));
        let changed = reference.verify(br#"{"spec":{}}"#).unwrap_err();
        assert!(
            changed.contains("changed after the controller wrote it"),
            "{changed}"
        );
    }

    #[test]
    fn base64_is_not_a_reference_and_broken_references_say_why() {
        assert_eq!(ReleaseRef::parse("eyJhIjoxfQ=="), None);
        let digest = format!("@sha256:{}", "a".repeat(64));
        for broken in [
            "configmap:".to_owned(),
            format!("configmap:ns/name{digest}"),
            format!("configmap:ns//key{digest}"),
            "configmap:ns/name/key".to_owned(),
            "configmap:ns/name/key@sha256:ABC".to_owned(),
        ] {
            let err = ReleaseRef::parse(&broken).unwrap().unwrap_err();
            assert!(err.contains(&broken), "{err}");
        }
    }

    #[test]
    fn releases_fill_one_config_map_then_the_next_in_task_order() {
        let mut store = ReleaseStore::new("orkestra", "shop");
        let big = "x".repeat(STORE_BUDGET / 2 + 1);
        let first = store.add("a", big.clone()).unwrap();
        let second = store.add("b", big.clone()).unwrap();
        let third = store.add("c", "{}".into()).unwrap();
        assert_eq!(first.config_map, "shop-releases-0");
        assert_eq!(second.config_map, "shop-releases-1");
        assert_eq!(third.config_map, "shop-releases-1");
        let maps = store.finish(&BTreeMap::new());
        assert_eq!(maps.len(), 2);
        let data = maps[1].data.as_ref().unwrap();
        assert_eq!(data.get(&second.key), Some(&big));
        assert_eq!(data.get(&third.key).map(String::as_str), Some("{}"));
        assert_eq!(
            maps[0]
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .get(WORKFLOW_LABEL),
            Some(&"shop".to_owned())
        );
    }

    #[test]
    fn a_release_larger_than_a_config_map_is_refused_with_its_name() {
        let mut store = ReleaseStore::new("orkestra", "shop");
        let err = store
            .add("huge", "x".repeat(MAX_RELEASE_BYTES + 1))
            .unwrap_err();
        assert!(err.to_string().contains("huge"), "{err}");
    }
}
