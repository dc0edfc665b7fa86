//! May the requester read the Secrets their group names? The controller reads each
//! `spec.chart.authSecretRef` with its own rights and sends the contents to the chart's repository,
//! so without this check anyone allowed to create an ApplicationGroup could read every Secret the
//! controller can, by naming it. The webhook asks the API server (a SubjectAccessReview with the
//! request's `userInfo`: user, uid, groups, extra) whether the requester may `get` each Secret, and
//! denies naming the Secret when not. An API error denies too (fail closed), with the reason.
//!
//! Only references a request adds are checked: a reference the old object already had passed this
//! check when it was added, so an update by a GitOps agent that does not touch it is not refused.

use std::collections::BTreeSet;

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use orkestra_shared::crd::ApplicationGroup;
use serde_json::Value;

use crate::review::Object;

/// One `authSecretRef`: where it is in the group, and the Secret it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    /// `spec.applications[2].spec.chart.authSecretRef`.
    pub path: String,
    pub namespace: String,
    pub name: String,
}

/// The references a request adds, and who asks: what must be checked before it is allowed.
#[derive(Debug, Clone)]
pub struct SecretChecks {
    pub user: UserInfo,
    pub references: Vec<SecretRef>,
}

/// Asks the API server; `default_namespace` is where the controller looks for a reference that
/// names no namespace (its `--secret-namespace`).
#[derive(Clone)]
pub struct SecretAccess {
    pub client: kube::Client,
    pub default_namespace: String,
}

impl std::fmt::Debug for SecretAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretAccess")
            .field("default_namespace", &self.default_namespace)
            .finish_non_exhaustive()
    }
}

impl SecretChecks {
    /// The references of `object` that `old` (the object before an update) does not have.
    pub fn of(
        user: &UserInfo,
        object: &Object<'_>,
        old: Option<&Object<'_>>,
        default_namespace: &str,
    ) -> Option<SecretChecks> {
        let known: BTreeSet<(String, String)> = old
            .map(|old| references(old, default_namespace))
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.namespace, r.name))
            .collect();
        let references: Vec<SecretRef> = references(object, default_namespace)
            .into_iter()
            .filter(|r| !known.contains(&(r.namespace.clone(), r.name.clone())))
            .collect();
        (!references.is_empty()).then(|| SecretChecks {
            user: user.clone(),
            references,
        })
    }

    /// Every reference the requester may not read, or could not be checked, one line each;
    /// `None` when all may be read.
    pub async fn refusals(&self, access: &SecretAccess) -> Option<String> {
        let answers = self
            .references
            .iter()
            .map(|reference| self.refusal(access, reference));
        let lines: Vec<String> = futures::future::join_all(answers)
            .await
            .into_iter()
            .flatten()
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    async fn refusal(&self, access: &SecretAccess, reference: &SecretRef) -> Option<String> {
        let SecretRef {
            path,
            namespace,
            name,
        } = reference;
        let user = self.user.username.as_deref().unwrap_or("<anonymous>");
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: self.user.username.clone(),
                uid: self.user.uid.clone(),
                groups: self.user.groups.clone(),
                extra: self.user.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.clone()),
                    verb: Some("get".into()),
                    group: Some(String::new()),
                    resource: Some("secrets".into()),
                    name: Some(name.clone()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(access.client.clone())
            .create(&PostParams::default(), &review)
            .await;
        match answer {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => None,
            Ok(_) => Some(format!(
                "{path}: user {user:?} may not get Secret {namespace}/{name}, so the group may not use it"
            )),
            Err(error) => Some(format!(
                "{path}: could not check whether user {user:?} may get Secret {namespace}/{name} (denied to be safe): {error}"
            )),
        }
    }
}

/// The `authSecretRef`s of a group, in application order.
fn references(object: &Object<'_>, default_namespace: &str) -> Vec<SecretRef> {
    let reference = |index: usize, namespace: Option<&str>, name: Option<&str>| {
        let name = name.filter(|n| !n.is_empty())?;
        Some(SecretRef {
            path: format!("spec.applications[{index}].spec.chart.authSecretRef"),
            namespace: namespace
                .filter(|n| !n.is_empty())
                .unwrap_or(default_namespace)
                .to_owned(),
            name: name.to_owned(),
        })
    };
    match object {
        Object::Read(conforming) => typed(&conforming.0)
            .filter_map(|(i, ns, name)| reference(i, ns, name))
            .collect(),
        Object::Tree(tree) => tree
            .pointer("/spec/applications")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, app)| {
                let secret = app.pointer("/spec/chart/authSecretRef")?;
                let text = |key| secret.get(key).and_then(Value::as_str);
                reference(i, text("namespace"), text("name"))
            })
            .collect(),
        // Mutation only: the validating review reads objects typed or as a tree.
        Object::Text(_) => Vec::new(),
    }
}

fn typed(group: &ApplicationGroup) -> impl Iterator<Item = (usize, Option<&str>, Option<&str>)> {
    group
        .spec
        .applications
        .iter()
        .enumerate()
        .filter_map(|(i, app)| {
            let secret = app.spec.chart.auth_secret_ref.as_deref()?;
            Some((i, secret.namespace.as_deref(), secret.name.as_deref()))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(refs: &[(Option<&str>, &str)]) -> Object<'static> {
        let apps: Vec<Value> = refs
            .iter()
            .map(|(ns, name)| {
                json!({"name": name, "spec": {"chart": {"url": "https://c", "name": "c",
                    "authSecretRef": {"namespace": ns, "name": name}}}})
            })
            .collect();
        Object::Tree(json!({"spec": {"applications": apps}}))
    }

    #[test]
    fn only_references_an_update_adds_are_checked_and_defaults_apply() {
        let user = UserInfo::default();
        let new = group(&[(Some("team-a"), "kept"), (None, "added")]);
        let old = group(&[(Some("team-a"), "kept")]);
        let checks = SecretChecks::of(&user, &new, Some(&old), "orkestra").unwrap();
        assert_eq!(
            checks.references,
            vec![SecretRef {
                path: "spec.applications[1].spec.chart.authSecretRef".into(),
                namespace: "orkestra".into(),
                name: "added".into(),
            }]
        );
        assert!(SecretChecks::of(&user, &old, Some(&old), "orkestra").is_none());
        assert_eq!(
            SecretChecks::of(&user, &new, None, "orkestra")
                .unwrap()
                .references
                .len(),
            2
        );
    }
}
