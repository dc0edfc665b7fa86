//! Field paths of one application, formatted only when an error names them.

use std::fmt;

/// `spec.applications[i].<field>`: a path formatted only when an error names it.
#[derive(Debug, Clone, Copy)]
pub struct AppField(pub usize, pub &'static str);

impl fmt::Display for AppField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spec.applications[{}].{}", self.0, self.1)
    }
}
