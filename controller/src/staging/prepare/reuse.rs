//! What staging makes of one chart archive for one list of subcharts, kept for reuse: the split
//! charts, packaged, and where they were pushed.
//!
//! Groups often deploy the same chart versions (the load run: 100 groups of the same charts), and
//! the result of unpack → split → package depends only on the archive's content and the listed
//! subcharts, not on the group: release values go to the HelmRelease, and the values schema is
//! checked per application from the kept values and schema files. So each (archive sha256,
//! subcharts) is prepared once (concurrent stagings of it wait for the first), and pushed once
//! per [`PUSH_TRUST`]: a push that succeeded within it is trusted to still be in the staging
//! repository (a tag deleted by hand there is pushed again after at most that long).
//!
//! Memory is bounded: at most [`MAX_ENTRIES`] entries (oldest dropped first), archives above
//! [`MAX_ARCHIVE_BYTES`] are not kept, and of each chart only the files the schema check reads.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::staging::outcome::PushedChart;
use crate::staging::prepare::chart::Chart;
use crate::staging::prepare::package::ChartToPush;
use crate::staging::prepare::split::{Split, SplitSubchart};
use crate::staging::prepare::values::SCHEMA_FILE;

/// Most prepared archives kept.
pub const MAX_ENTRIES: usize = 64;
/// Archives larger than this are prepared for each staging, not kept (memory).
pub const MAX_ARCHIVE_BYTES: usize = 1024 * 1024;
/// How long a successful push is trusted without asking the staging repository again.
pub const PUSH_TRUST: Duration = Duration::from_secs(60);

/// A prepared archive.
#[derive(Debug)]
pub struct Prepared {
    /// The parent with the split subcharts disabled (only the files the schema check reads).
    pub parent: Chart,
    /// The split subcharts, in the order listed (charts: only the files the schema check reads).
    pub subcharts: Vec<SplitSubchart>,
    /// The packages to push: subcharts first, then the parent.
    pub charts: Vec<ChartToPush>,
    /// The last successful push and when it happened. NB: held across the push, so that
    /// stagings of the same archive push it once, not all at once (concurrent uploads of one blob
    /// make docker-registry refuse some of them with DIGEST_INVALID).
    pushed: tokio::sync::Mutex<Option<(Vec<PushedChart>, Instant)>>,
}

impl Prepared {
    /// Keeps of `split` what the schema check needs, and the packages `charts` made of it.
    pub fn new(split: Split, charts: Vec<ChartToPush>) -> Self {
        Self {
            parent: lean(&split.parent),
            subcharts: split
                .subcharts
                .into_iter()
                .map(|s| SplitSubchart {
                    chart: lean(&s.chart),
                    ..s
                })
                .collect(),
            charts,
            pushed: tokio::sync::Mutex::new(None),
        }
    }

    /// The results of pushing [`Prepared::charts`] with `push`: those of the last push when it
    /// happened within [`PUSH_TRUST`] (reported as uploading nothing), else of a new push.
    /// Concurrent callers wait for the push under way.
    pub async fn push_with<E, F>(&self, push: impl FnOnce() -> F) -> Result<Vec<PushedChart>, E>
    where
        F: Future<Output = Result<Vec<PushedChart>, E>>,
    {
        let mut pushed = self.pushed.lock().await;
        if let Some((results, at)) = pushed.as_ref()
            && at.elapsed() < PUSH_TRUST
        {
            return Ok(results
                .iter()
                .cloned()
                .map(|mut r| {
                    r.pushed_bytes = 0;
                    r
                })
                .collect());
        }
        let results = push().await?;
        *pushed = Some((results.clone(), Instant::now()));
        Ok(results)
    }
}

/// The chart with only Chart.yaml, values.yaml and values.schema.json.
fn lean(chart: &Chart) -> Chart {
    let mut lean = chart.clone();
    lean.files
        .retain(|path, _| matches!(path.as_str(), "Chart.yaml" | "values.yaml" | SCHEMA_FILE));
    lean
}

/// (archive sha256, listed subcharts).
type Key = (String, Vec<String>);

/// The kept entries, and their keys oldest first.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Key, Arc<OnceCell<Arc<Prepared>>>>,
    order: VecDeque<Key>,
}

/// The kept prepared archives.
#[derive(Debug, Default)]
pub struct PreparedCharts {
    entries: Mutex<Entries>,
}

impl PreparedCharts {
    /// The prepared form of the archive `sha256` (of `size` bytes) for `subcharts`: kept, or made
    /// by `prepare` (once, when several stagings ask at the same time). Failures are not kept.
    pub async fn get_or_prepare<E, F: Future<Output = Result<Prepared, E>>>(
        &self,
        sha256: &str,
        size: usize,
        subcharts: &[String],
        prepare: impl FnOnce() -> F,
    ) -> Result<Arc<Prepared>, E> {
        if size > MAX_ARCHIVE_BYTES {
            return prepare().await.map(Arc::new);
        }
        let key: Key = (sha256.to_owned(), subcharts.to_vec());
        let cell = {
            let Ok(mut guard) = self.entries.lock() else {
                return prepare().await.map(Arc::new);
            };
            let Entries { map, order } = &mut *guard;
            match map.get(&key) {
                Some(cell) => cell.clone(),
                None => {
                    if map.len() >= MAX_ENTRIES
                        && let Some(oldest) = order.pop_front()
                    {
                        map.remove(&oldest);
                    }
                    let cell = Arc::new(OnceCell::new());
                    map.insert(key.clone(), cell.clone());
                    order.push_back(key);
                    cell
                }
            }
        };
        cell.get_or_try_init(|| async { prepare().await.map(Arc::new) })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared() -> Prepared {
        Prepared {
            parent: Chart::from_files(
                "p",
                [(
                    "Chart.yaml".to_owned(),
                    b"apiVersion: v2\nname: p\nversion: 1.0.0\n".to_vec(),
                )]
                .into_iter()
                .collect(),
            )
            .unwrap(),
            subcharts: Vec::new(),
            charts: Vec::new(),
            pushed: tokio::sync::Mutex::new(None),
        }
    }

    /// The entry for archive `sha256` of `size` bytes with `subcharts`, prepared when missing.
    async fn entry(
        kept: &PreparedCharts,
        sha256: &str,
        size: usize,
        subcharts: &[String],
    ) -> Arc<Prepared> {
        kept.get_or_prepare(sha256, size, subcharts, || async {
            Ok::<_, &str>(prepared())
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn an_archive_is_prepared_once_and_failures_are_not_kept() {
        let kept = PreparedCharts::default();
        let mut calls = 0;
        let failed: Result<_, &str> = kept
            .get_or_prepare("abc", 10, &[], || async { Err("broken") })
            .await;
        assert!(failed.is_err());
        let first = kept
            .get_or_prepare("abc", 10, &[], || {
                calls += 1;
                async { Ok::<_, &str>(prepared()) }
            })
            .await
            .unwrap();
        let second = entry(&kept, "abc", 10, &[]).await;
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(calls, 1);
        let other = entry(&kept, "abc", 10, &["sub".to_owned()]).await;
        assert!(
            !Arc::ptr_eq(&first, &other),
            "another subchart list is another entry"
        );
    }

    #[tokio::test]
    async fn entries_are_bounded_and_large_archives_not_kept() {
        let kept = PreparedCharts::default();
        let first = entry(&kept, "0", 10, &[]).await;
        for i in 1..=MAX_ENTRIES {
            entry(&kept, &i.to_string(), 10, &[]).await;
        }
        let again = entry(&kept, "0", 10, &[]).await;
        assert!(!Arc::ptr_eq(&first, &again), "the oldest entry was dropped");
        let big = MAX_ARCHIVE_BYTES + 1;
        let a = entry(&kept, "big", big, &[]).await;
        let b = entry(&kept, "big", big, &[]).await;
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[tokio::test]
    async fn a_push_is_trusted_for_a_while_and_reported_as_uploading_nothing() {
        let p = prepared();
        let result = PushedChart {
            reference: "oci://r/p".into(),
            tag: "1.0.0".into(),
            digest: "sha256:x".into(),
            pushed_bytes: 42,
        };
        let first = p
            .push_with(|| async { Ok::<_, &str>(vec![result.clone()]) })
            .await
            .unwrap();
        assert_eq!(first[0].pushed_bytes, 42);
        let again = p
            .push_with(|| async { Err::<Vec<PushedChart>, _>("not pushed again") })
            .await
            .unwrap();
        assert_eq!(again[0].pushed_bytes, 0);
        assert_eq!(again[0].digest, "sha256:x");
    }
}
