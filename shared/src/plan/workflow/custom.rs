//! The custom executor's leaf, keeping Azure Orkestra's contract so that executor images written
//! for it run unchanged: the user's container, run with its own args followed by
//!
//! `--spec <HelmRelease> --action install|delete --data <params.data> --timeout <timeout> --interval 1s`
//!
//! - `--spec`: the task's HelmRelease inline (the `spec` input, where the controller image's
//!   leaves take a reference), base64 (standard alphabet, padded) of its JSON. Azure
//!   Orkestra passed base64 of YAML; JSON is YAML, so the YAML readers its executors use (Go's
//!   `sigs.k8s.io/yaml`) read it to the same object.
//! - `--data`: base64 of the JSON of `params.data`, as Azure Orkestra encoded it; the empty string
//!   when there is none (no `params`, `params` without `data`, `data: null`). Azure Orkestra passed
//!   the empty string for the latter two and refused to plan the first.
//! - `--timeout`: the step's timeout: the release timeout (default 5m), or the action's own
//!   (`install`/`upgrade`/`uninstall.timeout`) when longer; `--interval`: always `1s`.
//! - `--action`: `install`, or `delete` in the reverse direction and for the applications a
//!   rollback removes.

use base64::Engine;
use serde_json::Value;

use super::leaf::{INLINE, input};
use crate::plan::argo::{Container, Inputs, Parameter, Template};

/// The template input carrying `params.data`, base64-encoded.
pub const DATA: &str = "data";

/// Longest `--spec` argument an install step is planned with: Linux starts no process with one
/// argument over 128 KiB, its terminating zero included (`MAX_ARG_STRLEN`), so a longer one could
/// never run. (Shorter ones may still fail where Argo also passes the whole template, the argument
/// in it, in one environment variable; newer Argo versions move that variable aside when it is
/// too large.) Deletions are planned whatever the size: a teardown that cannot be planned lets
/// the group go with its releases installed.
pub const MAX_INLINE_RELEASE_BYTES: usize = 128 * 1024 - 1;

/// The leaf running `container` for the executor `executor`: its name defaults to the executor's,
/// its args are followed by the contract's arguments; its pod may run `deadline_seconds`.
pub fn custom_leaf(
    name: String,
    executor: &str,
    mut container: Container,
    deadline_seconds: u64,
) -> Template {
    if container.name.is_empty() {
        executor.clone_into(&mut container.name);
    }
    let mut args = container.args.take().unwrap_or_default();
    args.extend([
        "--spec".to_owned(),
        input(INLINE),
        "--action".to_owned(),
        input("action"),
        "--data".to_owned(),
        input(DATA),
        "--timeout".to_owned(),
        input("timeout"),
        "--interval".to_owned(),
        "1s".to_owned(),
    ]);
    container.args = Some(args);
    Template {
        name,
        inputs: Some(Inputs::named(&[INLINE, "timeout", "action", DATA])),
        dag: None,
        active_deadline_seconds: Some(deadline_seconds),
        container: Some(container),
    }
}

/// The `data` argument of a custom executor with these `params`.
pub fn data_argument(params: Option<&Value>) -> Parameter {
    let data = params
        .and_then(Value::as_object)
        .and_then(|params| {
            // NB: Azure Orkestra read `data` with Go's encoding/json, which also matches the key
            // case-insensitively.
            params.get(DATA).or_else(|| {
                params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(DATA))
                    .map(|(_, value)| value)
            })
        })
        .filter(|data| !data.is_null());
    let encoded = data.map_or_else(String::new, |data| {
        base64::engine::general_purpose::STANDARD.encode(data.to_string())
    });
    Parameter::new(DATA, encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(params: Option<Value>) -> String {
        data_argument(params.as_ref()).value.unwrap_or_default()
    }

    #[test]
    fn data_is_base64_of_the_json_of_params_data() {
        let encoded = data(Some(json!({"data": {"b": [1, 2], "a": "x"}, "other": 1})));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, br#"{"a":"x","b":[1,2]}"#);
        assert_eq!(data(Some(json!({"Data": 5}))), "NQ==");
    }

    #[test]
    fn no_data_is_the_empty_string() {
        for params in [
            None,
            Some(json!({})),
            Some(json!({"data": null})),
            Some(json!([1])),
        ] {
            assert_eq!(data(params.clone()), "", "{params:?}");
        }
    }
}
