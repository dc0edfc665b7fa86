//! Resource limits of the admission server. Fixed in production; tests shorten the timeouts.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Larger request bodies get 413. The API server caps an object at 3 MiB (etcd's 1.5 MiB request
    /// limit on the stored form leaves room for the review's envelope).
    pub max_body_bytes: usize,
    /// Time a client has to finish its TLS handshake.
    pub handshake_timeout: Duration,
    /// Time an HTTP/1 client has to send its request headers.
    pub header_read_timeout: Duration,
    /// Deadline of one review, from the start of its request to the answer (waiting for a concurrency
    /// slot included). Well under the API server's default 10 s webhook timeout, so the API server hears
    /// an answer from us rather than a timeout.
    pub request_timeout: Duration,
    /// Reviews processed at once; more wait (within their deadline).
    pub max_concurrent_reviews: usize,
    /// Open client connections; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time in-flight reviews get to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// Memory the reviews in flight may take together, as [`Limits::review_memory`] estimates it;
    /// more wait (within their deadline). A review larger than the whole budget waits until it
    /// runs alone.
    pub max_review_memory: usize,
}

/// What reading a review may take, per byte of its body: a body that fails the one-pass reading
/// is read again as a JSON tree and copied once, and a tree holds up to 32 bytes for 2 of JSON
/// (`[0,0,…]`), more while its lists grow.
const REVIEW_MEMORY_PER_BODY_BYTE: usize = 48;

impl Limits {
    /// The memory a review of a body of `body_bytes` may take, at most the whole budget.
    pub fn review_memory(&self, body_bytes: usize) -> usize {
        body_bytes
            .saturating_mul(REVIEW_MEMORY_PER_BODY_BYTE)
            .min(self.max_review_memory)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 3 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_concurrent_reviews: 256,
            max_connections: 1024,
            drain_timeout: Duration::from_secs(15),
            max_review_memory: 96 << 20,
        }
    }
}
