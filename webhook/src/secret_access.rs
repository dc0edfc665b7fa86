//! May the requester read the Secrets their group names? The controller reads each
//! `spec.chart.authSecretRef` with its own rights and sends the contents to the chart's repository,
//! so without this check anyone allowed to create an ApplicationGroup could read every Secret the
//! controller can, by naming it. The webhook asks the API server (a SubjectAccessReview with the
//! request's `userInfo`: user, uid, groups, extra) whether the requester may `get` each Secret, and
//! denies naming the Secret when not. An API error denies too (fail closed), with the reason.
//!
//! Only references a request adds are checked: a reference the old object already had, for the
//! same chart repository, passed this check when it was added, so an update by a GitOps agent that
//! does not touch it is not refused. A reference whose application's chart URL changes counts as
//! added: the controller would send the Secret's contents to the new repository.

use std::collections::BTreeSet;

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// One `authSecretRef`: where it is in the group, the Secret it names, and the chart repository
/// its contents go to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    /// `spec.applications[2].spec.chart.authSecretRef`.
    pub path: String,
    pub namespace: String,
    pub name: String,
    /// The application's `spec.chart.url`.
    pub url: String,
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
    /// The `references` of an object that the `old` object (before an update) did not have for
    /// the same chart repository.
    pub fn added(
        user: &UserInfo,
        references: Vec<SecretRef>,
        old: Vec<SecretRef>,
    ) -> Option<SecretChecks> {
        let known: BTreeSet<(String, String, String)> = old
            .into_iter()
            .map(|r| (r.namespace, r.name, r.url))
            .collect();
        let references: Vec<SecretRef> = references
            .into_iter()
            .filter(|r| !known.contains(&(r.namespace.clone(), r.name.clone(), r.url.clone())))
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
            url,
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
                "{path}: user {user:?} may not get Secret {namespace}/{name}, so the group may not send it to {url}"
            )),
            Err(error) => Some(format!(
                "{path}: could not check whether user {user:?} may get Secret {namespace}/{name} (denied to be safe): {error}"
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reference(index: usize, namespace: &str, name: &str) -> SecretRef {
        SecretRef {
            path: format!("spec.applications[{index}].spec.chart.authSecretRef"),
            namespace: namespace.into(),
            name: name.into(),
            url: "https://charts.example.com".into(),
        }
    }

    #[test]
    fn only_references_an_update_adds_are_checked() {
        let user = UserInfo::default();
        let kept = reference(0, "team-a", "kept");
        let added = reference(1, "orkestra", "added");
        let checks =
            SecretChecks::added(&user, vec![kept.clone(), added.clone()], vec![kept.clone()]);
        assert_eq!(checks.unwrap().references, vec![added]);
        assert!(SecretChecks::added(&user, vec![kept.clone()], vec![kept]).is_none());
    }

    #[test]
    fn a_kept_reference_sent_to_another_repository_is_checked_again() {
        let user = UserInfo::default();
        let before = reference(0, "team-a", "kept");
        let elsewhere = SecretRef {
            url: "https://elsewhere.example.net".into(),
            ..before.clone()
        };
        let checks = SecretChecks::added(&user, vec![elsewhere.clone()], vec![before]);
        assert_eq!(checks.unwrap().references, vec![elsewhere]);
    }
}
