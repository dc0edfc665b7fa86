//! Orkestra's controller: chart staging, workflow planning and submission, status.

pub mod staging;
pub mod reconcile;
pub mod executor;
pub mod leader;
pub mod admin;
