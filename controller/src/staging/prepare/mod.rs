//! What is done to a chart between its source and the staging repository: read the archive safely
//! ([`archive`], [`chart`]), split the listed subcharts out ([`split`]), check the release values
//! against each chart's schema ([`values`]), and repackage deterministically ([`package`]); a chart
//! already prepared for the same subcharts is reused ([`reuse`]).

pub mod archive;
pub mod chart;
pub mod package;
pub mod reuse;
pub mod split;
pub mod values;
