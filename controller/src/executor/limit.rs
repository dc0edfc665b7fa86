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

/// The pause before the first retry of an API call; it doubles up to [`LAST_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);
const LAST_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// True for an API failure that passes by itself: no connection, or an answer that says the
/// server could not serve the request now (429, 500 as in an etcd leader change, 502, 503, 504).
/// Refusals (RBAC, validation, conflicts) do not pass.
fn passes(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
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

    /// The answer of `call`, called again while the API server answers with a failure that
    /// passes (see [`passes`]) and the deadline allows: an etcd leader change or an unreachable
    /// API server must not fail a step, and with it the whole group's rollout. Each retry is
    /// printed; the last failure is kept for the timeout's message.
    pub async fn retried<T, F, Fut>(
        &self,
        waiting_for: &'static str,
        mut call: F,
    ) -> Result<Result<T, kube::Error>, ExecutorError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            let error = match self.bounded(waiting_for, call()).await? {
                Err(error) if passes(&error) => error,
                answer => return Ok(answer),
            };
            let last = crate::kube_error::describe(&error);
            if Instant::now() + pause >= self.deadline {
                return Err(self.timed_out(waiting_for, last));
            }
            println!("retrying in {pause:?}: {last}");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LAST_RETRY_PAUSE);
        }
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
