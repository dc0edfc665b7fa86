//! Why staging a chart failed, with a coarse category for metric labels and backoff.

use thiserror::Error;

/// A staging failure. Messages name the URL, chart and version involved; the caller adds the
/// application (see [`ApplicationError`]).
#[derive(Debug, Error)]
pub enum StagingError {
    /// The repository or registry could not be reached (DNS, connect, TLS, timeout, 5xx).
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },

    /// The server refused the credentials (401/403).
    #[error("{url} refused access (HTTP {status}): check the credentials in {credentials}")]
    Unauthorized {
        url: String,
        status: u16,
        credentials: CredentialsOf,
    },

    /// No chart, no matching version, or a missing blob/manifest.
    #[error("{what} not found at {url}")]
    NotFound { url: String, what: String },

    /// The repository index is not a Helm index.
    #[error("{url} is not a Helm repository index: {reason}")]
    InvalidIndex { url: String, reason: String },

    /// The chart archive or its metadata is broken, unsafe or unsupported.
    #[error("chart {chart} is invalid: {reason}")]
    InvalidChart { chart: String, reason: String },

    /// The downloaded bytes do not match the digest the index or manifest announced.
    #[error("chart {chart} from {url} has digest sha256:{actual}, expected sha256:{expected}")]
    DigestMismatch {
        chart: String,
        url: String,
        expected: String,
        actual: String,
    },

    /// The release values break the chart's values.schema.json; one line per violation.
    #[error("values do not match the values.schema.json of chart {chart}:\n{}", violations.join("\n"))]
    InvalidValues {
        chart: String,
        violations: Vec<String>,
    },

    /// The application spec cannot be staged as written (unknown subchart, bad version range, URL).
    #[error("{0}")]
    InvalidSpec(String),

    /// The staging repository refused the chart.
    #[error("staging repository {url} refused chart {chart}: {reason}")]
    PushRefused {
        url: String,
        chart: String,
        reason: String,
    },

    /// Credentials could not be turned into a client (bad PEM, …).
    #[error("invalid credentials for {url}: {reason}")]
    InvalidCredentials { url: String, reason: String },

    /// A server sent more than a limit allows (see `Limits`).
    #[error("{what} from {url} is larger than the limit of {limit} bytes (raise it with {flag})")]
    TooLarge {
        url: String,
        what: String,
        limit: u64,
        flag: &'static str,
    },

    /// A registry's tag list still named a next page after the most pages staging follows.
    #[error(
        "the tag list of {url} goes on past {pages} pages; the versions on the pages read so far may not include the newest match, so none is picked"
    )]
    TooManyPages { url: String, pages: usize },
}

/// Whose credentials a server refused: the user's, or the controller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsOf {
    /// A chart repository's: the application's `authSecretRef`.
    Chart,
    /// The staging repository's: the controller's `--staging-credentials-secret`.
    Staging,
}

impl std::fmt::Display for CredentialsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Chart => "the application's authSecretRef",
            Self::Staging => "the staging registry's Secret (--staging-credentials-secret)",
        })
    }
}

impl StagingError {
    /// Refused credentials: a chart repository's, unless the push marks them the staging
    /// registry's ([`Self::on_staging`]; the registry client is shared by both sides).
    pub(crate) fn unauthorized(url: &str, status: u16) -> Self {
        Self::Unauthorized {
            url: url.to_owned(),
            status,
            credentials: CredentialsOf::Chart,
        }
    }

    /// The same error, about the staging repository: refused credentials are the controller's.
    pub(crate) fn on_staging(self) -> Self {
        match self {
            Self::Unauthorized { url, status, .. } => Self::Unauthorized {
                url,
                status,
                credentials: CredentialsOf::Staging,
            },
            other => other,
        }
    }

    /// A short, bounded label: "unreachable", "unauthorized", "not_found", "invalid_chart",
    /// "invalid_values", "invalid_spec", "push_refused", "too_large", "cache". Metric label and backoff key:
    /// unreachable and cache errors are worth a quick retry, the others need a spec or repo change.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "unreachable",
            Self::Unauthorized { .. } | Self::InvalidCredentials { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::InvalidIndex { .. } | Self::InvalidChart { .. } | Self::DigestMismatch { .. } => {
                "invalid_chart"
            }
            Self::InvalidValues { .. } => "invalid_values",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::PushRefused { .. } => "push_refused",
            Self::TooLarge { .. } | Self::TooManyPages { .. } => "too_large",
        }
    }

    /// True when retrying soon may help without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    pub(crate) fn invalid_chart(chart: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidChart {
            chart: chart.into(),
            reason: reason.into(),
        }
    }

    /// Maps a transport error (connect, TLS, timeout, body) to `Unreachable`.
    pub(crate) fn transport(url: &str, err: &reqwest::Error) -> Self {
        // NB: reqwest's Display hides the cause (e.g. the TLS error); walk the chain.
        let mut reason = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Unreachable {
            url: url.to_owned(),
            reason,
        }
    }

    /// Maps an unexpected HTTP status of a read request.
    pub(crate) fn status(url: &str, status: reqwest::StatusCode, what: &str) -> Self {
        match status.as_u16() {
            401 | 403 => Self::unauthorized(url, status.as_u16()),
            404 => Self::NotFound {
                url: url.to_owned(),
                what: what.to_owned(),
            },
            _ => Self::Unreachable {
                url: url.to_owned(),
                reason: format!("HTTP {status} for {what}"),
            },
        }
    }
}

/// A staging failure of one application (or one of its subcharts), naming both.
#[derive(Debug, Error)]
#[error("application {application}: chart {chart}: {source}")]
pub struct ApplicationError {
    /// The application's name in the group.
    pub application: String,
    /// The chart (or `chart/subchart`) being staged.
    pub chart: String,
    /// What went wrong.
    #[source]
    pub source: StagingError,
}
