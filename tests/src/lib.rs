//! Test support: the local cluster harness.

pub mod chart_repo;
pub mod charts;
pub mod registry;
