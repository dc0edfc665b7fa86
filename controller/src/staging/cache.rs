//! The local, content-addressed chart cache.
//!
//! Archives are stored as `<dir>/sha256/<hex digest>`, so one already fetched is never
//! downloaded again: an index or OCI manifest that announces a digest is looked up directly. For
//! index entries without a digest, `<dir>/urls/<sha256 of the URL>` remembers which digest a
//! download URL gave (chart versions are immutable by convention; a changed chart needs a new
//! version, as with Helm's own cache). Writes go through a temporary file and a rename, so a crash
//! never leaves a truncated archive under a digest name, and every read re-checks the digest.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// A chart cache rooted at a directory; `None` disables caching.
#[derive(Debug, Clone, Default)]
pub struct ChartCache {
    dir: Option<PathBuf>,
}

impl ChartCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
        }
    }

    /// A cache that stores nothing.
    pub fn disabled() -> Self {
        Self { dir: None }
    }

    /// The archive with this digest (hex sha256), if cached and intact.
    pub async fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.blob_path(sha256)?;
        let bytes = tokio::fs::read(&path).await.ok()?;
        (hex::encode(Sha256::digest(&bytes)) == sha256).then_some(bytes)
    }

    /// The digest last downloaded from `url`, if remembered.
    pub async fn digest_for_url(&self, url: &str) -> Option<String> {
        let path = self.url_path(url)?;
        let text = tokio::fs::read_to_string(path).await.ok()?;
        let digest = text.trim().to_owned();
        (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
    }

    /// Stores an archive under its digest (and remembers `url` → digest). A cache that cannot
    /// keep it (a full disk, a read-only volume) is only a slower cache: the failure is logged,
    /// and the archive, already downloaded and checked, is used all the same.
    pub async fn put(&self, url: Option<&str>, bytes: &[u8]) {
        let digest = hex::encode(Sha256::digest(bytes));
        let mut writes = Vec::with_capacity(2);
        if let Some(path) = self.blob_path(&digest) {
            writes.push((path, bytes));
        }
        if let Some(path) = url.and_then(|u| self.url_path(u)) {
            writes.push((path, digest.as_bytes()));
        }
        for (path, content) in writes {
            if let Err(error) = write_atomically(&path, content).await {
                tracing::warn!(path = %path.display(), %error, "the chart cache did not keep an archive; staging goes on without it");
                return;
            }
        }
    }

    fn blob_path(&self, sha256: &str) -> Option<PathBuf> {
        let ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        Some(self.dir.as_ref()?.join("sha256").join(sha256)).filter(|_| ok)
    }

    fn url_path(&self, url: &str) -> Option<PathBuf> {
        Some(
            self.dir
                .as_ref()?
                .join("urls")
                .join(hex::encode(Sha256::digest(url.as_bytes()))),
        )
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    // Unique per process and write, so concurrent writers of one digest never share a file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let written = match tokio::fs::write(&tmp, bytes).await {
        Ok(()) => tokio::fs::rename(&tmp, path).await,
        Err(error) => Err(error),
    };
    if written.is_err() {
        // NB: a partial temporary file (a full disk) would otherwise stay for good.
        let _gone = tokio::fs::remove_file(&tmp).await;
    }
    written
}
