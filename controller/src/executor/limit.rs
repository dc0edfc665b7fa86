//! How long a step may take and how it decides that a release is ready.

use std::time::Duration;

use tokio::time::Instant;

use super::error::ExecutorError;

/// How install decides that the release is ready.
#[derive(Debug, Clone, Copy)]
pub struct ReadyChecks {
    /// Consecutive ready checks needed.
    pub count: u32,
    /// Time between checks.
    pub interval: Duration,
}

/// The step's deadline and what a timeout error names.
#[derive(Debug, Clone)]
pub struct Limit {
    /// When the step gives up.
    pub deadline: Instant,
    /// `--timeout`, for messages.
    pub timeout: Duration,
    /// What the step works on, for messages: `HelmRelease <namespace>/<name>`.
    pub subject: String,
}

impl Limit {
    /// `future`, or a timeout error saying the step was waiting until `waiting_for`.
    pub async fn bounded<T>(
        &self,
        waiting_for: &'static str,
        future: impl Future<Output = T>,
    ) -> Result<T, ExecutorError> {
        tokio::time::timeout_at(self.deadline, future)
            .await
            .map_err(|_| self.timed_out(waiting_for, "no answer".into()))
    }

    /// The timeout error.
    pub fn timed_out(&self, waiting_for: &'static str, last: String) -> ExecutorError {
        ExecutorError::Timeout {
            subject: self.subject.clone(),
            timeout: humantime_like(self.timeout),
            waiting_for,
            last,
        }
    }
}

/// "5m", "90s", "1.5s": the duration as the user wrote it, near enough.
fn humantime_like(duration: Duration) -> String {
    let millis = duration.as_millis();
    match millis {
        m if m % 3_600_000 == 0 && m > 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 && m > 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{}ms", m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back_as_written() {
        assert_eq!(humantime_like(Duration::from_secs(300)), "5m");
        assert_eq!(humantime_like(Duration::from_secs(7200)), "2h");
        assert_eq!(humantime_like(Duration::from_secs(90)), "90s");
        assert_eq!(humantime_like(Duration::from_millis(1500)), "1500ms");
    }
}
