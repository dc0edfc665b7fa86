//! Orkestra's shared core: the `ApplicationGroup` API, the dependency graph, validation,
//! defaulting and the workflow plan. Pure logic: no network, no Kubernetes client calls.

pub mod admission;
mod conforming;
pub mod crd;
pub mod defaults;
pub mod duration;
pub mod executor_image;
pub mod field_error;
pub mod free_form;
pub mod graph;
mod json_form;
pub mod limits;
pub mod names;
pub mod plan;
pub mod policy;
pub mod schema;
pub mod validate;
pub mod version;
pub mod warnings;

/// The ApplicationGroup CRD, generated from the Rust types, as the YAML checked into `chart/crds/`.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let header = "# Generated from shared/src/crd.rs by `cargo run -p orkestra-shared --bin crdgen`: do not edit.\n";
    match serde_norway::to_string(&crd::ApplicationGroup::crd()) {
        Ok(yaml) => format!("{header}{yaml}"),
        Err(e) => format!("# failed to render the CRD: {e}\n"),
    }
}
