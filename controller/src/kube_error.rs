//! Kubernetes API errors as one line of text, for logs and error messages.

/// A kube error in one line: `HTTP 403 Forbidden: <message>` for API answers, else its text.
pub fn describe(error: &kube::Error) -> String {
    let text = match error {
        kube::Error::Api(status) => {
            format!("HTTP {} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    };
    one_line(&text)
}

/// `text` with every run of whitespace (newlines included) turned into one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
