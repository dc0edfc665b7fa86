//! Orkestra's well-known keys (labels, annotations, finalizer, condition types and reasons) and the
//! names it generates for Kubernetes objects and staged charts.
//!
//! The keys are Azure Orkestra's, so objects it created stay recognisable.

use sha2::{Digest, Sha256};

/// API group of the ApplicationGroup.
pub const GROUP: &str = "orkestra.azure.microsoft.com";
/// API version of ApplicationGroups.
pub const API_VERSION: &str = "orkestra.azure.microsoft.com/v1alpha1";
/// Kind of ApplicationGroups.
pub const KIND: &str = "ApplicationGroup";
/// Finalizer that holds a group until its reverse workflow has run.
pub const FINALIZER: &str = "orkestra.azure.microsoft.com/finalizer";
/// Label naming the ApplicationGroup an object belongs to.
pub const OWNER_LABEL: &str = "orkestra.azure.microsoft.com/owner";
/// Label marking objects Orkestra created.
pub const HERITAGE_LABEL: &str = "orkestra.azure.microsoft.com/heritage";
/// Value of [`HERITAGE_LABEL`].
pub const HERITAGE_VALUE: &str = "orkestra";
/// Label naming the workflow direction: forward, reverse or rollback.
pub const WORKFLOW_TYPE_LABEL: &str = "orkestra.azure.microsoft.com/workflow-type";
/// Label carrying the group generation a workflow was planned from.
pub const GENERATION_LABEL: &str = "orkestra.azure.microsoft.com/appgroup-generation";
/// Label naming the chart a HelmRelease deploys.
pub const CHART_LABEL: &str = "orkestra.azure.microsoft.com/chart";
/// Annotation holding the last spec whose forward workflow succeeded (JSON).
pub const LAST_SUCCESSFUL_ANNOTATION: &str =
    "orkestra.azure.microsoft.com/last-successful-appgroup";
/// Annotation on a split subchart naming its parent chart.
pub const PARENT_CHART_ANNOTATION: &str = "orkestra.azure.microsoft.com/parent-chart";
/// Annotation on the reverse Workflow that the teardown of a deleted group submitted, as opposed to
/// the one a failed first install's remediation submitted (same name, same plan).
pub const TEARDOWN_ANNOTATION: &str = "orkestra.azure.microsoft.com/teardown";

/// Condition types and reasons written to the group's status, as Azure Orkestra wrote them.
pub mod condition {
    /// The group's overall condition.
    pub const READY: &str = "Ready";
    /// Outcome of the last forward workflow.
    pub const FORWARD_WORKFLOW_SUCCEEDED: &str = "ForwardWorkflowSucceeded";
    /// Outcome of the last reverse (teardown) workflow.
    pub const REVERSE_WORKFLOW_SUCCEEDED: &str = "ReverseWorkflowSucceeded";
    /// Outcome of the last rollback workflow.
    pub const ROLLBACK_WORKFLOW_SUCCEEDED: &str = "RollbackWorkflowSucceeded";

    /// Ready and workflow-condition reason: a workflow is running.
    pub const PROGRESSING: &str = "Progressing";
    /// Ready reason: the forward workflow and every release succeeded; workflow-condition reason:
    /// that workflow succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Workflow-condition reason: that workflow failed.
    pub const FAILED: &str = "Failed";
    /// Workflow-condition reason: that workflow is suspended (another one of the group runs).
    pub const SUSPENDED: &str = "Suspended";
    /// Ready reason: a workflow failed.
    pub const WORKFLOW_FAILED: &str = "WorkflowFailed";
    /// Ready reason: a chart could not be pulled or staged.
    pub const CHART_PULL_FAILED: &str = "ChartPullFailed";
    /// Ready reason: the workflow could not be generated.
    pub const WORKFLOW_TEMPLATE_GENERATION_FAILED: &str = "WorkflowTemplateGenerationFailed";
    /// Ready reason: the group is being deleted.
    pub const TERMINATING: &str = "Terminating";
}

/// Longest Kubernetes object name that is also a DNS-1123 label.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest Helm release name Helm accepts.
pub const MAX_RELEASE_NAME_LEN: usize = 53;
/// Hex digits of the hash that keeps a shortened name unique.
const HASH_LEN: usize = 8;

/// True when `name` is a DNS-1123 label: 1 to 63 characters of `a-z`, `0-9` and `-`, starting and
/// ending with a letter or digit.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LABEL_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Joins `parts` with '-' into a name of at most `max` characters. A name that does not fit is cut
/// and given a hash suffix of the whole, so two long names that share a prefix stay distinct.
pub fn bounded_name(parts: &[&str], max: usize) -> String {
    let mut name = String::new();
    push_bounded_name(&mut name, parts, max);
    name
}

/// Appends [`bounded_name`]`(parts, max)` to `out`: for callers that name many objects in one buffer.
pub fn push_bounded_name(out: &mut String, parts: &[&str], max: usize) {
    let start = out.len();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push_str(part);
    }
    if out.len() - start <= max {
        return;
    }
    let digest = hex::encode(Sha256::digest(&out.as_bytes()[start..]));
    let mut keep = max.saturating_sub(HASH_LEN + 1);
    while !out.is_char_boundary(start + keep) {
        keep -= 1;
    }
    out.truncate(start + keep);
    // NB: a cut name ends in a letter or digit before the suffix: `a.-<hash>` is no DNS name.
    let trimmed = out[start..]
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .len();
    out.truncate(start + trimmed);
    out.push('-');
    out.push_str(&digest[..HASH_LEN]);
}

/// Name of the HelmRelease (and Helm release) of an application's own chart.
pub fn release_name(application: &str) -> String {
    bounded_name(&[application], MAX_RELEASE_NAME_LEN)
}

/// Name of the HelmRelease (and Helm release) of a split subchart of an application.
pub fn subchart_release_name(application: &str, subchart: &str) -> String {
    bounded_name(&[application, subchart], MAX_RELEASE_NAME_LEN)
}

/// Name under which a split subchart is pushed to the staging repository: unique per parent chart,
/// so two umbrella charts with a subchart of the same name do not overwrite each other.
pub fn staged_chart_name(parent_chart: &str, subchart: &str) -> String {
    bounded_name(&[parent_chart, subchart], MAX_LABEL_LEN)
}

/// Name of a group's workflow in a direction ("forward" has no suffix, as in Azure Orkestra).
pub fn workflow_name(group: &str, direction: &str) -> String {
    match direction {
        "forward" => bounded_name(&[group], MAX_LABEL_LEN),
        other => bounded_name(&[group, other], MAX_LABEL_LEN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_labels_are_recognised() {
        for ok in ["a", "ab-c", "0a", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn short_names_are_joined_unchanged() {
        assert_eq!(
            subchart_release_name("bookinfo", "reviews"),
            "bookinfo-reviews"
        );
        assert_eq!(workflow_name("g", "forward"), "g");
        assert_eq!(workflow_name("g", "reverse"), "g-reverse");
    }

    #[test]
    fn a_long_group_name_cut_at_a_dot_still_names_its_workflows() {
        // A DNS subdomain, as the API server checks the names of Workflows and ConfigMaps: labels
        // of letters, digits and '-' between dots, each starting and ending with a letter or digit.
        let subdomain = |name: &str| name.len() <= 253 && name.split('.').all(is_dns1123_label);
        for dot in 1..62 {
            let group = format!("{}.{}", "a".repeat(dot), "b".repeat(62 - dot));
            for direction in ["forward", "reverse", "rollback"] {
                let name = workflow_name(&group, direction);
                assert!(
                    name.len() <= MAX_LABEL_LEN && subdomain(&name),
                    "{group} {direction}: {name}"
                );
            }
        }
    }

    #[test]
    fn long_names_are_shortened_with_a_distinguishing_hash() {
        let a = subchart_release_name(&"x".repeat(50), "one");
        let b = subchart_release_name(&"x".repeat(50), "two");
        assert_eq!(a.len(), MAX_RELEASE_NAME_LEN);
        assert_ne!(a, b);
        assert!(is_dns1123_label(&a) && is_dns1123_label(&b));
    }
}
