//! How much staging reads from the network and from archives, and the one function every network
//! read goes through so that no server can make the controller hold more than a limit: an
//! oversized `Content-Length` is refused before the body is read, and a body that streams on
//! (an endless response) stops at the limit.
//!
//! The archive defaults are Helm's own (20 MiB download, 100 MiB decompressed, 5 MiB per file), so
//! anything Helm could install can be staged; each limit can be raised with the flag named in the
//! error.

use reqwest::Response;

use crate::staging::error::StagingError;

/// Size limits for what staging reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Largest chart archive accepted (download, OCI layer, or a `.tgz` nested in a chart).
    #[arg(long, env = "ORKESTRA_MAX_ARCHIVE_BYTES", default_value_t = DEFAULT.max_archive_bytes)]
    pub max_archive_bytes: u64,
    /// Largest total of a chart's decompressed file contents.
    #[arg(long, env = "ORKESTRA_MAX_DECOMPRESSED_BYTES", default_value_t = DEFAULT.max_decompressed_bytes)]
    pub max_decompressed_bytes: u64,
    /// Largest single file in a chart.
    #[arg(long, env = "ORKESTRA_MAX_FILE_BYTES", default_value_t = DEFAULT.max_file_bytes)]
    pub max_file_bytes: u64,
    /// Largest repository `index.yaml` (big public repositories have indexes of tens of MiB).
    #[arg(long, env = "ORKESTRA_MAX_INDEX_BYTES", default_value_t = DEFAULT.max_index_bytes)]
    pub max_index_bytes: u64,
    /// Largest small JSON document: an OCI manifest, a page of tags, a token response, a
    /// ChartMuseum answer.
    #[arg(long, env = "ORKESTRA_MAX_DOCUMENT_BYTES", default_value_t = DEFAULT.max_document_bytes)]
    pub max_document_bytes: u64,
}

const DEFAULT: Limits = Limits {
    max_archive_bytes: 20 << 20,
    max_decompressed_bytes: 100 << 20,
    max_file_bytes: 5 << 20,
    max_index_bytes: 64 << 20,
    max_document_bytes: 4 << 20,
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT
    }
}

/// Which limit a read is held to: its value and the flag that raises it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bytes: u64,
    pub flag: &'static str,
}

impl Limits {
    /// The limit for chart archives.
    pub fn archive(&self) -> Limit {
        Limit {
            bytes: self.max_archive_bytes,
            flag: "--max-archive-bytes",
        }
    }

    /// The limit for repository indexes.
    pub fn index(&self) -> Limit {
        Limit {
            bytes: self.max_index_bytes,
            flag: "--max-index-bytes",
        }
    }

    /// The limit for manifests, tag pages, tokens and API answers.
    pub fn document(&self) -> Limit {
        Limit {
            bytes: self.max_document_bytes,
            flag: "--max-document-bytes",
        }
    }
}

/// Reads the body of `response` (from `url`, holding `what`), refusing more than `limit` bytes.
pub async fn read_body(
    mut response: Response,
    limit: Limit,
    url: &str,
    what: &str,
) -> Result<Vec<u8>, StagingError> {
    let too_large = || StagingError::TooLarge {
        url: url.to_owned(),
        what: what.to_owned(),
        limit: limit.bytes,
        flag: limit.flag,
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit.bytes)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| StagingError::transport(url, &err))?
    {
        if (body.len() + chunk.len()) as u64 > limit.bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON body of at most `limit` bytes; a body that is not the expected JSON is an
/// invalid chart (repository) error naming `what`.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    limit: Limit,
    url: &str,
    what: &str,
) -> Result<T, StagingError> {
    let body = read_body(response, limit, url, what).await?;
    serde_json::from_slice(&body)
        .map_err(|err| StagingError::invalid_chart(url, format!("{what} is not valid JSON: {err}")))
}

/// Most of an error body kept for a message.
const EXCERPT_CHARS: usize = 300;

/// The start of an error response's body, for a message: reads no more than a few KiB whatever
/// the server sends, and never fails (an unreadable body is an empty excerpt).
pub async fn error_excerpt(mut response: Response) -> String {
    let mut body = Vec::new();
    while body.len() < EXCERPT_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body)
        .trim()
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}
