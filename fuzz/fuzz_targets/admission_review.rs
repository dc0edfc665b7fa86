//! The webhook's AdmissionReview reader: any body gets an answer without a panic, and where the
//! one-pass reading accepts a body, the full reading agrees with it (request fields and verdict).
//! The first byte picks the endpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orkestra_shared::policy::Policy;
use orkestra_webhook::metrics::Endpoint;
use orkestra_webhook::review::{answer, readings_agree};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let endpoint = if first % 2 == 0 {
        Endpoint::Validate
    } else {
        Endpoint::Mutate
    };
    let policy = Policy::default();
    let _ = answer(endpoint, body, Some(&policy), Some("orkestra"));
    if let Err(difference) = readings_agree(endpoint, body, &policy) {
        panic!("{difference}");
    }
});
