//! Shared set-up for the staging tests: a real chart repository (fixtures), a real registry.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use orkestra_controller::staging::cache::ChartCache;
use orkestra_controller::staging::{ApplicationStaging, Credentials, Stager, StagerConfig};
use orkestra_shared::crd::{Application, ApplicationSpec, ChartRef, Dag, Release};
use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
use orkestra_tests::charts::{Published, standard_fixtures, write_repo};
use orkestra_tests::registry::Registry;

/// A fixture repository, a registry, and a stager pushing to `oci://<registry>/staging`.
pub struct Env {
    pub repo: ChartRepo,
    pub registry: Registry,
    pub stager: Stager,
    pub repo_dir: tempfile::TempDir,
    pub cache_dir: tempfile::TempDir,
}

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(RepoOptions::default(), &standard_fixtures()).await
    }

    pub async fn start_with(options: RepoOptions, charts: &[Published]) -> Env {
        init();
        let repo_dir = tempfile::tempdir().unwrap();
        write_repo(repo_dir.path(), charts).unwrap();
        let repo = ChartRepo::start(repo_dir.path(), options).await.unwrap();
        let registry = Registry::start().await.unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let stager = stager(&registry.oci_url("staging"), Some(cache_dir.path()));
        Env {
            repo,
            registry,
            stager,
            repo_dir,
            cache_dir,
        }
    }

    pub async fn stage(
        &self,
        app: &Application,
        creds: Option<&Credentials>,
    ) -> ApplicationStaging {
        self.stager.stage(app, creds).await
    }

    /// GET a registry API path, returning status and body.
    pub async fn registry_get(&self, path: &str, accept: &str) -> (u16, Vec<u8>) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.registry.http_url()))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }
}

pub fn stager(staging: &str, cache: Option<&Path>) -> Stager {
    Stager::new(StagerConfig {
        staging_url: staging.to_owned(),
        cache: cache.map_or_else(ChartCache::disabled, |dir| ChartCache::new(dir, 1 << 30)),
        ..StagerConfig::default()
    })
    .unwrap()
}

pub fn app(name: &str, url: &str, chart: &str, version: Option<&str>) -> Application {
    Application {
        name: name.to_owned(),
        dependencies: vec![],
        spec: Box::new(ApplicationSpec {
            chart: ChartRef {
                url: url.to_owned(),
                name: chart.to_owned(),
                version: version.map(str::to_owned),
                auth_secret_ref: None,
            },
            release: Release {
                target_namespace: "default".into(),
                ..Release::default()
            },
            subcharts: vec![],
            workflow: vec![],
        }),
    }
}

pub fn with_subcharts(mut app: Application, names: &[&str]) -> Application {
    app.spec.subcharts = names
        .iter()
        .map(|n| Dag {
            name: (*n).to_owned(),
            dependencies: vec![],
        })
        .collect();
    app
}

/// Asserts staging failed with `category`, and that the message names the application and chart.
pub fn assert_failed(result: &ApplicationStaging, category: &str, chart: &str) -> String {
    let error = result
        .error()
        .unwrap_or_else(|| panic!("expected a {category} failure, got {result:#?}"));
    assert_eq!(result.error_category(), Some(category), "{error}");
    assert!(
        error.contains(&format!("application {}", result.name)),
        "{error}"
    );
    assert!(error.contains(chart), "{error}");
    assert!(!result.is_staged());
    error.to_owned()
}
