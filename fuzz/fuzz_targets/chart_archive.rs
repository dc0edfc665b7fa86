//! Staging's chart archive reader (gzip, tar, Chart.yaml, values.yaml, bundled subcharts): any
//! bytes are a chart or an error, never a panic, and never more memory than the limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orkestra_controller::staging::Limits;
use orkestra_controller::staging::prepare::chart::Chart;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_decompressed_bytes: 8 << 20,
        ..Limits::default()
    };
    if let Ok(chart) = Chart::from_tgz("fuzz", data, &limits) {
        let _ = chart.bundled(&limits);
    }
});
