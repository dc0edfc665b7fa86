//! A problem found in an object, located by its field path.

use std::fmt;

/// One problem with one field: `spec.applications[2].dependencies[0]: unknown application "db"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct FieldError {
    /// Path of the field, as kubectl prints it (`spec.applications[0].name`).
    pub path: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// This problem of a part of the field `prefix`, found with a path relative to it (`<root>` for
    /// the part itself, as [`crate::schema::OpenApiValidator`] reports it).
    pub fn nested_in(self, prefix: &str) -> Self {
        let path = match self.path.as_str() {
            "" | "<root>" => prefix.to_owned(),
            index if index.starts_with('[') => format!("{prefix}{index}"),
            field => format!("{prefix}.{field}"),
        };
        Self {
            path,
            message: self.message,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Renders errors one per line, as the webhook's denial message and `check` print them.
pub fn join_lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
