//! Orkestra's controller: chart staging, workflow planning and submission, status.

pub mod staging;
