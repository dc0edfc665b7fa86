//! The chart version constraint parser (admission validates with it, staging resolves with it):
//! any text is a constraint or an error, never a panic, and a constraint reads back as itself
//! from the text it prints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orkestra_shared::version::VersionConstraint;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(constraint) = VersionConstraint::parse(text) {
        let printed = constraint.to_string();
        let again = VersionConstraint::parse(&printed)
            .unwrap_or_else(|err| panic!("{text:?} prints as {printed:?}, which does not parse: {err}"));
        assert_eq!(again, constraint, "{text:?} prints as {printed:?}");
    }
});
