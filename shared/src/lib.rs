//! Orkestra's shared core: the `ApplicationGroup` API, the dependency graph, validation,
//! defaulting and the workflow plan. Pure logic: no network, no Kubernetes client calls.

pub mod crd;
pub mod duration;
pub mod field_error;
pub mod graph;
pub mod names;
pub mod policy;
pub mod version;
