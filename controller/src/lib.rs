//! Orkestra's controller: chart staging, workflow planning and submission, status.

pub mod admin;
pub mod executor;
pub mod helm_release_status;
pub mod kube_error;
pub mod leader;
pub mod reconcile;
pub mod staging;
