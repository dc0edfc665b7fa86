//! Staging benchmark: an umbrella chart with 20 subcharts, from a local HTTP chart repository
//! into a local docker-registry (both real, started here).
//!
//! - `stage/cold`: empty cache, new registry repository path: pull, split into 21 charts,
//!   package, upload every blob and manifest. Target: under 1 s.
//! - `stage/unchanged`: the same again into the already-staged path: cache hit, identical
//!   packages, HEAD checks only. Target: under 100 ms with 0 bytes pushed (checked, printed).
//!
//! Run: `controller/tests/prereqs && cargo bench -p orkestra-controller --bench staging`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orkestra_controller::staging::cache::ChartCache;
use orkestra_controller::staging::{Stager, StagerConfig};
use orkestra_shared::crd::{Application, ApplicationSpec, ChartRef, Dag, Release};
use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
use orkestra_tests::charts::{Published, umbrella, write_repo};
use orkestra_tests::registry::Registry;

const SUBCHARTS: usize = 20;

fn application(repo: &str) -> Application {
    Application {
        name: "big".into(),
        dependencies: vec![],
        spec: Box::new(ApplicationSpec {
            chart: ChartRef {
                url: repo.into(),
                name: "big".into(),
                version: None,
                auth_secret_ref: None,
            },
            release: Release {
                target_namespace: "big".into(),
                ..Release::default()
            },
            subcharts: (1..=SUBCHARTS)
                .map(|i| Dag {
                    name: format!("sub-{i}"),
                    dependencies: vec![],
                })
                .collect(),
            workflow: vec![],
        }),
    }
}

fn stager(staging: String, cache: &std::path::Path) -> Stager {
    Stager::new(StagerConfig {
        staging_url: staging,
        cache: ChartCache::new(cache, 1 << 30),
        ..StagerConfig::default()
    })
    .unwrap()
}

fn bench_staging(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let chart: Published = (&umbrella("big", "1.0.0", SUBCHARTS)).into();
    write_repo(repo_dir.path(), &[chart]).unwrap();
    let (repo, registry) = rt.block_on(async {
        let repo = ChartRepo::start(repo_dir.path(), RepoOptions::default())
            .await
            .unwrap();
        (repo, Registry::start().await.unwrap())
    });
    let app = application(&repo.url);

    let mut group = c.benchmark_group("stage");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));

    let run = AtomicUsize::new(0);
    group.bench_function("cold", |b| {
        b.iter_batched(
            || {
                let cache = tempfile::tempdir().unwrap();
                let path = format!("cold-{}", run.fetch_add(1, Ordering::Relaxed));
                (stager(registry.oci_url(&path), cache.path()), cache)
            },
            |(stager, _cache)| {
                let result = rt.block_on(stager.stage(&app, None));
                assert!(result.is_staged(), "{result:#?}");
                assert_eq!(result.subcharts.len(), SUBCHARTS);
            },
            BatchSize::PerIteration,
        );
    });

    let cache = tempfile::tempdir().unwrap();
    let warm = stager(registry.oci_url("warm"), cache.path());
    let first = rt.block_on(warm.stage(&app, None));
    assert!(first.is_staged(), "{first:#?}");
    println!(
        "first stage pushed {} bytes for {} charts",
        first.pushed_bytes(),
        SUBCHARTS + 1
    );
    group.bench_function("unchanged", |b| {
        b.iter(|| {
            let result = rt.block_on(warm.stage(&app, None));
            assert!(result.is_staged(), "{result:#?}");
            assert_eq!(result.pushed_bytes(), 0, "an unchanged chart pushed bytes");
        });
    });
    println!("unchanged re-stages pushed 0 bytes (asserted on every iteration)");
    group.finish();
}

criterion_group!(benches, bench_staging);
criterion_main!(benches);
