//! Test support: the local cluster harness.

pub mod api_proxy;
pub mod argo;
pub mod chart_repo;
pub mod chartmuseum;
pub mod charts;
pub mod cluster;
pub mod engines;
pub mod executor_account;
pub mod flux_status;
pub mod helm;
pub mod hostile;
pub mod prebuilt;
pub mod registry;
pub mod service_account;
pub mod webhook;

pub use cluster::{Cluster, unique_name};
pub use webhook::TestWebhook;
