//! Names of staged charts.
//!
//! NB: the plan puts the staged name into `HelmRelease.spec.chart.spec.chart`, so both must use
//! the same function. It lives in `orkestra_shared::names` (`bounded_name([parent, subchart], 63)`:
//! `<parent>-<subchart>`, cut with an 8-hex-digit hash of the whole when longer than 63
//! characters); staging re-exports it rather than keeping a copy that could drift.

pub use orkestra_shared::names::staged_chart_name;
