//! The local, content-addressed chart cache.
//!
//! Archives are stored as `<dir>/sha256/<hex digest>`, so one already fetched is never
//! downloaded again: an index or OCI manifest that announces a digest is looked up directly. For
//! index entries without a digest, `<dir>/urls/<sha256 of the URL>` remembers which digest a
//! download URL gave (chart versions are immutable by convention; a changed chart needs a new
//! version, as with Helm's own cache). Writes go through a temporary file and a rename, so a crash
//! never leaves a truncated archive under a digest name, and every read re-checks the digest.
//!
//! The archives are held to a size budget, least recently used first out: the chart's emptyDir
//! has a `sizeLimit`, and kubelet evicts a pod whose volume grows past it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// Where the chart cache is and how large it may grow (flags shared by `run` and `stage`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CacheArgs {
    /// Directory caching downloaded chart archives by digest.
    #[arg(long = "chart-cache", alias = "cache", env = "ORKESTRA_CHART_CACHE")]
    pub dir: Option<PathBuf>,

    /// Most bytes of archives the chart cache keeps; the least recently used go first. Keep it
    /// below the volume's size (the chart's emptyDir `sizeLimit`).
    #[arg(long = "chart-cache-max-bytes", env = "ORKESTRA_CHART_CACHE_MAX_BYTES", default_value_t = DEFAULT_MAX_BYTES)]
    pub max_bytes: u64,
}

/// Three quarters of the chart's default emptyDir `sizeLimit` (1Gi).
const DEFAULT_MAX_BYTES: u64 = 768 << 20;

impl CacheArgs {
    /// The cache these flags give: none without a directory.
    pub fn into_cache(self) -> ChartCache {
        self.dir.map_or_else(ChartCache::disabled, |dir| {
            ChartCache::new(dir, self.max_bytes)
        })
    }
}

/// A chart cache rooted at a directory; `None` disables caching.
#[derive(Debug, Clone, Default)]
pub struct ChartCache {
    dir: Option<PathBuf>,
    max_bytes: u64,
}

impl ChartCache {
    /// A cache in `dir` (created on first write) keeping at most `max_bytes` of archives.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: Some(dir.into()),
            max_bytes,
        }
    }

    /// A cache that stores nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The archive with this digest (hex sha256), if cached and intact; marks it as just used.
    pub async fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.blob_path(sha256)?;
        let bytes = tokio::fs::read(&path).await.ok()?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return None;
        }
        touch(path).await;
        Some(bytes)
    }

    /// The digest last downloaded from `url`, if remembered.
    pub async fn digest_for_url(&self, url: &str) -> Option<String> {
        let path = self.url_path(url)?;
        let text = tokio::fs::read_to_string(path).await.ok()?;
        let digest = text.trim().to_owned();
        (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
    }

    /// Stores an archive under its digest (and remembers `url` → digest), then drops the least
    /// recently used archives beyond the size budget; an archive larger than the whole budget is
    /// not kept. A cache that cannot keep it (a full disk, a read-only volume) is only a slower
    /// cache: the failure is logged, and the archive, already downloaded and checked, is used all
    /// the same.
    pub async fn put(&self, url: Option<&str>, bytes: &[u8]) {
        if bytes.len() as u64 > self.max_bytes {
            return tracing::debug!(
                bytes = bytes.len(),
                max_bytes = self.max_bytes,
                "an archive larger than the chart cache is not kept"
            );
        }
        let digest = hex::encode(Sha256::digest(bytes));
        let Some(blob) = self.blob_path(&digest) else {
            return;
        };
        let mut writes = vec![(blob.clone(), bytes)];
        if let Some(path) = url.and_then(|u| self.url_path(u)) {
            writes.push((path, digest.as_bytes()));
        }
        for (path, content) in writes {
            if let Err(error) = write_atomically(&path, content).await {
                tracing::warn!(path = %path.display(), %error, "the chart cache did not keep an archive; staging goes on without it");
                return;
            }
        }
        // NB: a precise time: a write stamps the kernel's coarse clock, which can sort a new
        // archive before one read a moment earlier.
        touch(blob.clone()).await;
        if let Some(dir) = blob.parent().map(Path::to_path_buf) {
            let max_bytes = self.max_bytes;
            let evicted = tokio::task::spawn_blocking(move || evict(&dir, max_bytes)).await;
            if let Ok(Err(error)) = evicted {
                tracing::warn!(%error, "the chart cache could not drop old archives");
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

/// Marks a cached archive as just used (its modification time), for [`evict`]. A read-only cache
/// only loses the order.
async fn touch(path: PathBuf) {
    let _ignored = tokio::task::spawn_blocking(move || {
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(SystemTime::now())
    })
    .await;
}

/// Removes the least recently used archives in `dir` until they hold at most `max_bytes`.
/// Another writer removing the same file first is no error.
fn evict(dir: &Path, max_bytes: u64) -> std::io::Result<()> {
    let mut archives = Vec::new();
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(meta) = entry.metadata() else { continue };
        // NB: only archives: a temporary file is another writer's, about to be renamed.
        if meta.is_file() && entry.file_name().len() == 64 {
            total += meta.len();
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            archives.push((used, entry.path(), meta.len()));
        }
    }
    archives.sort();
    for (_, path, len) in archives {
        if total <= max_bytes {
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => total -= len,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(fill: u8) -> (Vec<u8>, String) {
        let bytes = vec![fill; 100];
        let digest = hex::encode(Sha256::digest(&bytes));
        (bytes, digest)
    }

    #[tokio::test]
    async fn the_least_recently_used_archives_go_once_the_cache_is_over_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::new(dir.path(), 250);
        let [(a, a_digest), (b, b_digest), (c, c_digest), (d, d_digest)] =
            [1, 2, 3, 4].map(archive);
        cache.put(None, &a).await;
        cache.put(None, &b).await;
        cache.put(None, &c).await;
        assert_eq!(
            cache.get(&a_digest).await,
            None,
            "the oldest went for the third"
        );
        assert_eq!(
            cache.get(&b_digest).await,
            Some(b.clone()),
            "read: now the newest"
        );
        cache
            .put(Some("https://charts.example.com/d-1.0.0.tgz"), &d)
            .await;

        assert_eq!(
            cache.get(&c_digest).await,
            None,
            "the least recently used went"
        );
        assert_eq!(cache.get(&b_digest).await, Some(b));
        assert_eq!(cache.get(&d_digest).await, Some(d));
        assert_eq!(
            cache
                .digest_for_url("https://charts.example.com/d-1.0.0.tgz")
                .await,
            Some(d_digest)
        );
        let kept: u64 = std::fs::read_dir(dir.path().join("sha256"))
            .unwrap()
            .map(|entry| entry.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(kept, 200);
    }

    #[tokio::test]
    async fn an_archive_larger_than_the_whole_cache_is_not_kept_and_evicts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::new(dir.path(), 150);
        let (small, small_digest) = archive(1);
        cache.put(None, &small).await;
        let large = vec![2u8; 200];
        cache
            .put(Some("https://charts.example.com/large.tgz"), &large)
            .await;

        assert_eq!(cache.get(&hex::encode(Sha256::digest(&large))).await, None);
        assert_eq!(
            cache
                .digest_for_url("https://charts.example.com/large.tgz")
                .await,
            None
        );
        assert_eq!(cache.get(&small_digest).await, Some(small));
    }
}
