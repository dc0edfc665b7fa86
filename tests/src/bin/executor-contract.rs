//! `executor-contract [ARG…] --spec S --action A --data D --timeout T --interval I`: the program of
//! an executor image written for Azure Orkestra's custom executor, which checks that it got exactly
//! that contract's arguments (each flag once, nothing after them):
//!
//! - `--spec`: base64 of a HelmRelease (read as YAML, as Azure Orkestra's executors read it) of
//!   `helm.toolkit.fluxcd.io/v2` named `$EXPECT_RELEASE`;
//! - `--action`: `$EXPECT_ACTION` (install or delete);
//! - `--data`: base64 of JSON equal to `$EXPECT_DATA`, or empty when `$EXPECT_DATA` is unset/empty;
//! - `--timeout`: `$EXPECT_TIMEOUT`; `--interval`: `1s`;
//! - the arguments before the flags: `$EXPECT_LEADING` (space-separated; none when unset).
//!
//! Prints what it got; exits 1 with one `wrong: …` line per problem, 2 on a missing expectation.

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;

const FLAGS: [&str; 5] = ["--spec", "--action", "--data", "--timeout", "--interval"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let expect = |name: &str| std::env::var(name).unwrap_or_default();
    let (release, action, timeout) = (
        expect("EXPECT_RELEASE"),
        expect("EXPECT_ACTION"),
        expect("EXPECT_TIMEOUT"),
    );
    if release.is_empty() || action.is_empty() || timeout.is_empty() {
        eprintln!("error: set EXPECT_RELEASE, EXPECT_ACTION and EXPECT_TIMEOUT");
        return ExitCode::from(2);
    }
    let mut wrong = Vec::new();
    let first_flag = args
        .iter()
        .position(|a| FLAGS.contains(&a.as_str()))
        .unwrap_or(args.len());
    let leading = args[..first_flag].join(" ");
    if leading != expect("EXPECT_LEADING") {
        wrong.push(format!(
            "the arguments before the contract's are {leading:?}, expected {:?}",
            expect("EXPECT_LEADING")
        ));
    }
    let mut flags: BTreeMap<&str, &str> = BTreeMap::new();
    let mut rest = args[first_flag..].iter();
    while let Some(flag) = rest.next() {
        let Some(flag) = FLAGS.iter().find(|f| **f == flag.as_str()) else {
            wrong.push(format!("unexpected argument {flag:?}"));
            continue;
        };
        match rest.next() {
            None => wrong.push(format!("{flag} has no value")),
            Some(value) => {
                if flags.insert(flag, value).is_some() {
                    wrong.push(format!("{flag} is given twice"));
                }
            }
        }
    }
    for flag in FLAGS {
        if !flags.contains_key(flag) {
            wrong.push(format!("{flag} is missing"));
        }
    }
    let get = |flag: &str| flags.get(flag).copied().unwrap_or_default();

    match helm_release(get("--spec")) {
        Err(problem) => wrong.push(format!("--spec {problem}")),
        Ok(spec) => {
            println!(
                "got --spec: {} {} {}",
                spec["apiVersion"], spec["kind"], spec["metadata"]["name"]
            );
            if spec["apiVersion"] != "helm.toolkit.fluxcd.io/v2" || spec["kind"] != "HelmRelease" {
                wrong.push(format!(
                    "--spec is a {} of {}, expected a HelmRelease of helm.toolkit.fluxcd.io/v2",
                    spec["kind"], spec["apiVersion"]
                ));
            }
            if spec["metadata"]["name"] != release.as_str() {
                wrong.push(format!(
                    "--spec names {}, expected {release:?}",
                    spec["metadata"]["name"]
                ));
            }
        }
    }
    println!("got --action {:?}", get("--action"));
    if get("--action") != action {
        wrong.push(format!(
            "--action is {:?}, expected {action:?}",
            get("--action")
        ));
    }
    match data(get("--data")) {
        Err(problem) => wrong.push(format!("--data {problem}")),
        Ok(got) => {
            println!("got --data {got:?}");
            let expected = match expect("EXPECT_DATA").as_str() {
                "" => None,
                text => serde_json::from_str::<Value>(text).ok(),
            };
            if got != expected {
                wrong.push(format!("--data decodes to {got:?}, expected {expected:?}"));
            }
        }
    }
    println!(
        "got --timeout {:?} --interval {:?}",
        get("--timeout"),
        get("--interval")
    );
    if get("--timeout") != timeout {
        wrong.push(format!(
            "--timeout is {:?}, expected {timeout:?}",
            get("--timeout")
        ));
    }
    if get("--interval") != "1s" {
        wrong.push(format!(
            "--interval is {:?}, expected \"1s\"",
            get("--interval")
        ));
    }

    if wrong.is_empty() {
        ExitCode::SUCCESS
    } else {
        for problem in wrong {
            eprintln!("wrong: {problem}");
        }
        ExitCode::from(1)
    }
}

fn base64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("is not base64: {e}"))
}

/// The HelmRelease in `--spec`, read as YAML.
fn helm_release(text: &str) -> Result<Value, String> {
    let bytes = base64(text)?;
    serde_norway::from_slice(&bytes).map_err(|e| format!("is not YAML: {e}"))
}

/// The JSON in `--data`; `None` when empty.
fn data(text: &str) -> Result<Option<Value>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = base64(text)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("is not JSON: {e}"))
}
