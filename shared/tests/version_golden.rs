//! Chart versions resolve as Helm resolves them: every case of Masterminds semver's own test
//! tables (v3.4.0, the library Helm parses versions and constraints with) passes. The cases are
//! data, in `fixtures/masterminds_semver.tsv`, with their source noted at its top.

use std::cmp::Ordering;

use orkestra_shared::version::{Version, VersionConstraint};

const GOLDEN: &str = include_str!("fixtures/masterminds_semver.tsv");

fn unescape(field: &str) -> String {
    field.replace("\\n", "\n")
}

fn version(text: &str) -> Version {
    Version::parse(text).unwrap_or_else(|e| panic!("{text:?} is a version in the table: {e}"))
}

#[test]
fn every_masterminds_case_holds() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (number, line) in GOLDEN.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        cases += 1;
        let fields: Vec<String> = line.split('\t').map(unescape).collect();
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let outcome = match fields.as_slice() {
            ["constraint", text, want] => {
                let got = VersionConstraint::parse(text);
                assert_eq!(
                    VersionConstraint::check(text),
                    got.clone().map(drop),
                    "check and parse decide alike: {text:?}"
                );
                (got.is_ok() == (*want == "ok"))
                    .then_some(())
                    .ok_or(format!("{got:?}"))
            }
            ["check", constraint, v, want] => match VersionConstraint::parse(constraint) {
                Ok(c) => {
                    let got = c.matches(&version(v));
                    (got.to_string() == *want)
                        .then_some(())
                        .ok_or(format!("got {got}"))
                }
                Err(e) => Err(e),
            },
            ["version", text, want] => {
                let got = Version::parse(text);
                (got.is_ok() == (*want == "ok"))
                    .then_some(())
                    .ok_or(format!("{got:?}"))
            }
            ["strict", text, want] => {
                let got = Version::parse_strict(text);
                (got.is_ok() == (*want == "ok"))
                    .then_some(())
                    .ok_or(format!("{got:?}"))
            }
            ["canonical", text, printed] => {
                let got = version(text).to_string();
                (got == *printed).then_some(()).ok_or(got)
            }
            ["compare", a, b, want] => {
                let want = match *want {
                    "-1" => Ordering::Less,
                    "0" => Ordering::Equal,
                    _ => Ordering::Greater,
                };
                let got = version(a).cmp(&version(b));
                (got == want).then_some(()).ok_or(format!("{got:?}"))
            }
            _ => Err("unreadable case".to_owned()),
        };
        if let Err(got) = outcome {
            failures.push(format!("line {}: {line:?}: {got}", number + 1));
        }
    }
    assert!(cases > 350, "only {cases} cases read");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
