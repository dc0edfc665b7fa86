//! Staging's repository index reader: any bytes are an index or an error, never a panic; picking
//! a version from what it lists never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orkestra_controller::staging::source::http_repo::read_index;
use orkestra_shared::version::VersionConstraint;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = read_index("https://fuzz.example/index.yaml", data) {
        for constraint in ["*", "^1.2", ">=1.0 <2.0 || 3.x"] {
            if let Ok(constraint) = VersionConstraint::parse(constraint) {
                let _ = constraint.pick_index_version(index.versions("hello"));
            }
        }
    }
});
