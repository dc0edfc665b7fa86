//! `orkestra-webhook check FILE…`: the webhook's defaulting and validation, offline, for CI and editors.
//!
//! Exit codes: 0 every ApplicationGroup is valid; 1 some are not (one line per error on stderr,
//! `FILE: NAME: FIELD PATH: MESSAGE`); 2 usage or I/O error (unreadable file, malformed YAML or JSON).
//! Documents of other kinds are skipped, so a whole manifest directory can be checked.

use crate::args::CheckArgs;
use orkestra_shared::admission::KIND;
use orkestra_shared::admission::check;
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::policy::Policy;
use serde::Deserialize;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;

pub const EXIT_VALID: u8 = 0;
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

pub fn run(args: CheckArgs) -> u8 {
    let CheckArgs {
        policy,
        print_defaulted,
        files,
    } = args;
    let policy = match policy {
        None => Policy::default(),
        Some(path) => match read(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| Policy::from_yaml(&text).map_err(|e| e.to_string()))
        {
            Ok(policy) => policy,
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                return EXIT_USAGE;
            }
        },
    };
    let mut stdout = std::io::stdout().lock();
    let mut summary = Summary::default();
    for file in &files {
        let documents = read(file)
            .map_err(|e| e.to_string())
            .and_then(|text| documents(&text));
        let documents = match documents {
            Ok(documents) => documents,
            Err(error) => {
                eprintln!("{}: {error}", file.display());
                summary.unusable += 1;
                continue;
            }
        };
        for (index, document) in documents.into_iter().enumerate() {
            for object in objects(document) {
                if object.get("kind").and_then(Value::as_str) != Some(KIND) {
                    summary.skipped += 1;
                    continue;
                }
                summary.checked += 1;
                let name = match object.pointer("/metadata/name").and_then(Value::as_str) {
                    Some(name) => name.to_owned(),
                    None => format!("document {}", index + 1),
                };
                let errors = match check_one(&object, &policy) {
                    Ok(defaulted) if print_defaulted => match print(&mut stdout, &defaulted) {
                        Ok(()) => continue,
                        Err(error) => {
                            eprintln!("{}: {name}: cannot print: {error}", file.display());
                            summary.unusable += 1;
                            continue;
                        }
                    },
                    Ok(_) => continue,
                    Err(errors) => errors,
                };
                summary.invalid += 1;
                for (path, message) in errors {
                    eprintln!("{}: {name}: {path}: {message}", file.display());
                }
            }
        }
    }
    eprintln!("{summary}");
    if summary.unusable > 0 {
        EXIT_USAGE
    } else if summary.invalid > 0 {
        EXIT_INVALID
    } else {
        EXIT_VALID
    }
}

#[derive(Debug, Default)]
struct Summary {
    checked: usize,
    invalid: usize,
    skipped: usize,
    unusable: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checked {} ApplicationGroup(s): {} invalid",
            self.checked, self.invalid
        )?;
        if self.skipped > 0 {
            write!(f, "; skipped {} document(s) of other kinds", self.skipped)?;
        }
        if self.unusable > 0 {
            write!(f, "; {} input error(s)", self.unusable)?;
        }
        Ok(())
    }
}

/// Documents of kind ApplicationGroup go to the shared check whatever their apiVersion: it reports a
/// wrong one as an error.
fn check_one(object: &Value, policy: &Policy) -> Result<ApplicationGroup, Vec<(String, String)>> {
    check(object, policy)
        .map_err(|errors| errors.into_iter().map(|e| (e.path, e.message)).collect())
}

fn print(out: &mut impl Write, group: &ApplicationGroup) -> Result<(), String> {
    let yaml = serde_norway::to_string(group).map_err(|e| e.to_string())?;
    write!(out, "---\n{yaml}").map_err(|e| e.to_string())
}

fn read(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(drop)
    } else {
        std::fs::File::open(path)
            .and_then(|mut file| file.read_to_string(&mut text))
            .map(drop)
    };
    read.map(|()| text).map_err(|e| format!("cannot read: {e}"))
}

/// The documents of a file: a stream of JSON values when it starts like JSON, YAML documents otherwise.
/// Empty YAML documents (a trailing `---`) are dropped.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    if text.trim_start().starts_with(['{', '[']) {
        for (index, document) in serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .enumerate()
        {
            documents.push(
                document.map_err(|e| format!("malformed JSON in document {}: {e}", index + 1))?,
            );
        }
    } else {
        for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(document)
                .map_err(|e| format!("malformed YAML in document {}: {e}", index + 1))?;
            if !value.is_null() {
                documents.push(value);
            }
        }
    }
    for (index, document) in documents.iter().enumerate() {
        if !document.is_object() {
            return Err(format!(
                "document {} is not a Kubernetes object (a mapping)",
                index + 1
            ));
        }
    }
    Ok(documents)
}

/// The objects of a document: itself, or the items of a `kind: List` (what `kubectl get -o yaml` prints).
fn objects(document: Value) -> Vec<Value> {
    match document {
        Value::Object(mut map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
            match map.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        other => vec![other],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn yaml_streams_drop_empty_documents() {
        let docs = documents("---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn json_streams_hold_many_documents() {
        let docs = documents("{\"a\":1}\n{\"b\":2}").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn malformed_yaml_says_where() {
        let error = documents("a: 1\n---\nb: [1, 2\n").unwrap_err();
        assert!(
            error.contains("document 2") && error.contains("line"),
            "{error}"
        );
    }

    #[test]
    fn lists_are_unpacked() {
        let list = serde_json::json!({"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]});
        assert_eq!(objects(list).len(), 2);
    }
}
