//! Test support: the local cluster harness.

pub mod chart_repo;
pub mod charts;
pub mod cluster;
pub mod registry;

pub use cluster::{Cluster, unique_name};
