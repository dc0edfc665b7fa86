//! The check that the two readings of a review agree, for the property tests and the fuzzer.

use super::read::{Object, Review, read_fast, read_full};
use crate::metrics::Endpoint;
use orkestra_shared::admission::{Raw, defaults_patch, mutate, validate};
use orkestra_shared::policy::Policy;

/// Where the one-pass reading accepts `body`, the full reading must accept it too, with the same
/// request fields, the same validation verdict under `policy` and the same defaulting patch; `Err`
/// says how they differ.
/// The property tests and the fuzzer call it.
pub fn readings_agree(endpoint: Endpoint, body: &[u8], policy: &Policy) -> Result<(), String> {
    let mut copy = Vec::new();
    let Some(fast) = read_fast(endpoint, body, &mut copy) else {
        return Ok(());
    };
    let full = read_full(body).map_err(|u| format!("only the fast reading accepts it: {u:?}"))?;
    let header = |r: &Review<'_>| {
        format!(
            "{} {:?} {:?} {} {:?} {} {:?} {} {}",
            r.uid,
            r.kind,
            r.sub_resource,
            r.name,
            r.operation,
            r.dry_run,
            r.user_info,
            r.object.is_some(),
            r.old_object.is_some()
        )
    };
    if header(&fast) != header(&full) {
        return Err(format!(
            "the readings differ:\n{}\n{}",
            header(&fast),
            header(&full)
        ));
    }
    if endpoint == Endpoint::Mutate
        && let (Some(Object::Defaulting(presence)), Some(Object::Tree(tree))) =
            (&fast.object, &full.object)
    {
        let (one, other) = (defaults_patch(presence), mutate(tree));
        if other.as_ref() != Ok(&one) {
            return Err(format!("the patches differ:\n{one:?}\n{other:?}"));
        }
    }
    if endpoint == Endpoint::Validate
        && let (Some(mut a), Some(mut b)) = (fast.object, full.object)
        && let (Some(a), Some(b)) = (a.raw(), b.raw())
    {
        let (one, other) = (
            validate(a, None::<Raw<'_>>, policy),
            validate(b, None::<Raw<'_>>, policy),
        );
        if one.errors != other.errors {
            return Err(format!(
                "the verdicts differ:\n{:?}\n{:?}",
                one.errors, other.errors
            ));
        }
    }
    Ok(())
}
