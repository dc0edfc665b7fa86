//! Bad input, against real servers: every failure is a clear error naming the application and
//! the chart, with a category; nothing is pushed; nothing panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod staging_support;

use orkestra_controller::staging::{Credentials, Limits, Stager, StagerConfig};
use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
use orkestra_tests::charts::BadArchive;
use orkestra_tests::hostile::Hostile;
use orkestra_tests::registry::Registry;
use serde_json::json;
use staging_support::{Env, app, assert_failed, with_subcharts};

#[tokio::test]
async fn an_unreachable_repository_is_reported_as_unreachable() {
    let env = Env::start().await;
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = env
        .stage(
            &app("web", &format!("http://127.0.0.1:{port}"), "hello", None),
            None,
        )
        .await;
    let error = assert_failed(&result, "unreachable", "hello");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test]
async fn unknown_charts_and_versions_are_not_found() {
    let env = Env::start().await;
    let missing = env
        .stage(&app("web", &env.repo.url, "nope", None), None)
        .await;
    assert!(assert_failed(&missing, "not_found", "nope").contains("chart nope not found"));
    let no_version = env
        .stage(&app("web", &env.repo.url, "hello", Some("^3")), None)
        .await;
    let error = assert_failed(&no_version, "not_found", "hello");
    assert!(error.contains("matching ^3"), "{error}");
    let oci = env
        .stage(
            &app("web", &env.registry.oci_url("nothing"), "hello", None),
            None,
        )
        .await;
    assert_failed(&oci, "not_found", "hello");
}

#[tokio::test]
async fn an_index_that_is_not_yaml_is_an_invalid_chart_repository() {
    staging_support::init();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.yaml"), "<html>{{ not: [yaml").unwrap();
    let repo = ChartRepo::start(dir.path(), RepoOptions::default())
        .await
        .unwrap();
    let registry = Registry::start().await.unwrap();
    let stager = staging_support::stager(&registry.oci_url("staging"), None);
    let result = stager
        .stage(&app("web", &repo.url, "hello", None), None)
        .await;
    let error = assert_failed(&result, "invalid_chart", "hello");
    assert!(error.contains("is not a Helm repository index"), "{error}");
}

#[tokio::test]
async fn broken_and_hostile_archives_are_refused_with_the_reason() {
    let env = Env::start().await;
    let expected = [
        (BadArchive::Corrupt, "corrupt archive: invalid gzip header"),
        (BadArchive::Truncated, "truncated"),
        (BadArchive::Traversal, "escapes the chart directory"),
        (BadArchive::Absolute, "escapes the chart directory"),
        (BadArchive::Symlink, "only regular files are allowed"),
        (BadArchive::NoName, "Chart.yaml has no name"),
        (BadArchive::Bomb, "over the limit"),
    ];
    for (kind, reason) in expected {
        let name = kind.chart_name();
        let result = env
            .stage(&app("web", &env.repo.url, name, None), None)
            .await;
        let error = assert_failed(&result, "invalid_chart", name);
        assert!(error.contains(reason), "{kind:?}: {error}");
    }
    let (status, _) = env.registry_get("/v2/_catalog", "application/json").await;
    assert_eq!(status, 200);
    assert_catalog_empty(&env).await;
}

#[tokio::test]
async fn an_archive_over_the_size_limit_is_refused() {
    let env = Env::start().await;
    let tiny = Limits {
        max_archive_bytes: 256,
        ..Limits::default()
    };
    let stager = Stager::new(StagerConfig {
        staging_url: env.registry.oci_url("staging"),
        limits: tiny,
        ..StagerConfig::default()
    })
    .unwrap();
    let result = stager
        .stage(&app("web", &env.repo.url, "hello", None), None)
        .await;
    let error = assert_failed(&result, "too_large", "hello");
    assert!(
        error.contains("larger than the limit of 256 bytes (raise it with --max-archive-bytes)"),
        "{error}"
    );
}

#[tokio::test]
async fn library_charts_cannot_be_released() {
    let env = Env::start().await;
    let result = env
        .stage(&app("lib", &env.repo.url, "common", None), None)
        .await;
    let error = assert_failed(&result, "invalid_chart", "common");
    assert!(error.contains("library chart"), "{error}");
}

#[tokio::test]
async fn a_listed_subchart_the_chart_does_not_bundle_is_a_spec_error() {
    let env = Env::start().await;
    let result = env
        .stage(
            &with_subcharts(
                app("shop", &env.repo.url, "bookinfo", None),
                &["sub-1", "ghost"],
            ),
            None,
        )
        .await;
    let error = assert_failed(&result, "invalid_spec", "bookinfo");
    assert!(
        error.contains("subchart ghost") && error.contains("sub-2"),
        "{error}"
    );
    assert_catalog_empty(&env).await;
}

#[tokio::test]
async fn values_breaking_the_schema_are_reported_with_every_path_and_nothing_is_pushed() {
    let env = Env::start().await;
    let mut bad = app("strict", &env.repo.url, "strict", None);
    bad.spec.release.values = Some(json!({"replicas": "three", "image": {"tag": 5}}).into());
    let result = env.stage(&bad, None).await;
    let error = assert_failed(&result, "invalid_values", "strict");
    assert!(
        error.contains("/replicas") && error.contains("/image/tag"),
        "{error}"
    );
    assert_catalog_empty(&env).await;

    let mut good = bad.clone();
    good.spec.release.values = Some(json!({"replicas": 3}).into());
    assert!(env.stage(&good, None).await.is_staged());
}

#[tokio::test]
async fn a_registry_that_refuses_the_push_leaves_no_tag_behind() {
    staging_support::init();
    let env = Env::start().await;
    let read_only = Registry::start_read_only().await.unwrap();
    let stager = staging_support::stager(&read_only.oci_url("staging"), None);
    let app = with_subcharts(app("shop", &env.repo.url, "bookinfo", None), &["sub-1"]);
    let result = stager.stage(&app, None).await;
    let error = assert_failed(&result, "push_refused", "bookinfo");
    assert!(error.contains("refused chart"), "{error}");
    assert!(!result.subcharts["sub-1"].staged);
    let response = reqwest::get(format!(
        "{}/v2/staging/bookinfo/tags/list",
        read_only.http_url()
    ))
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

async fn assert_catalog_empty(env: &Env) {
    let (_, body) = env.registry_get("/v2/_catalog", "application/json").await;
    let catalog: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(catalog["repositories"], json!([]), "something was pushed");
}

#[tokio::test]
async fn an_archive_that_does_not_match_the_index_digest_is_refused() {
    let env = Env::start().await;
    let index = env.repo_dir.path().join("index.yaml");
    let text = std::fs::read_to_string(&index).unwrap();
    let digest = text
        .lines()
        .skip_while(|l| !l.contains("hello-1.2.0.tgz") && !l.trim_start().starts_with("hello:"))
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .unwrap()
        .to_owned();
    std::fs::write(&index, text.replace(&digest, &"0".repeat(64))).unwrap();
    let result = env
        .stage(&app("web", &env.repo.url, "hello", Some("1.0.0")), None)
        .await;
    let error = assert_failed(&result, "invalid_chart", "hello");
    assert!(error.contains("expected sha256:0000"), "{error}");
}

/// Peak resident memory of this test process (nextest runs each test in a process of its own).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib << 10
}

#[tokio::test]
async fn endless_and_oversized_answers_stop_at_the_limit_the_error_names() {
    staging_support::init();
    let hostile = Hostile::start().await.unwrap();
    let registry = Registry::start().await.unwrap();
    let limits = Limits {
        max_index_bytes: 1 << 20,
        max_document_bytes: 256 << 10,
        ..Limits::default()
    };
    let stager = Stager::new(StagerConfig {
        staging_url: registry.oci_url("staging"),
        limits,
        ..StagerConfig::default()
    })
    .unwrap();
    let oci = format!("oci://{}", hostile.authority);
    let cases = [
        (
            format!("{}/endless", hostile.url),
            "hello",
            "index.yaml",
            "1048576 bytes (raise it with --max-index-bytes)",
        ),
        (
            format!("{}/huge", hostile.url),
            "hello",
            "index.yaml",
            "1048576 bytes (raise it with --max-index-bytes)",
        ),
        (
            oci.clone(),
            "endless-tags",
            "tag list",
            "262144 bytes (raise it with --max-document-bytes)",
        ),
        (
            oci.clone(),
            "endless-manifest",
            "manifest 1.0.0",
            "262144 bytes (raise it with --max-document-bytes)",
        ),
        (
            oci,
            "endless-token",
            "registry token",
            "262144 bytes (raise it with --max-document-bytes)",
        ),
    ];
    for (url, chart, what, limit) in cases {
        let result = stager.stage(&app("web", &url, chart, None), None).await;
        let error = assert_failed(&result, "too_large", chart);
        assert!(
            error.contains(&format!("{what} from")) && error.contains(limit),
            "{url} {chart}: {error}"
        );
    }
}

#[tokio::test]
async fn a_tag_list_that_never_stops_paginating_fails_instead_of_picking_from_what_was_read() {
    staging_support::init();
    let hostile = Hostile::start().await.unwrap();
    let registry = Registry::start().await.unwrap();
    let stager = staging_support::stager(&registry.oci_url("staging"), None);
    let source = format!("oci://{}", hostile.authority);
    let result = stager
        .stage(&app("web", &source, "endless-pages", Some("^0")), None)
        .await;
    let error = assert_failed(&result, "too_large", "endless-pages");
    assert!(
        error.contains(&format!(
            "the tag list of {}/v2/endless-pages/tags/list goes on past 100 pages",
            hostile.url
        )),
        "{error}"
    );
    let pages = hostile
        .requests()
        .iter()
        .filter(|seen| seen.path == "/v2/endless-pages/tags/list")
        .count();
    assert_eq!(pages, 100, "every page up to the cap was read, and no more");
    let pushed = reqwest::get(format!(
        "{}/v2/staging/endless-pages/tags/list",
        registry.http_url()
    ))
    .await
    .unwrap();
    assert_eq!(pushed.status().as_u16(), 404, "nothing was pushed");
}

#[tokio::test]
async fn an_endless_index_with_the_default_limits_stops_at_64_mib_of_memory() {
    staging_support::init();
    let hostile = Hostile::start().await.unwrap();
    let registry = Registry::start().await.unwrap();
    let stager = staging_support::stager(&registry.oci_url("staging"), None);
    let before = peak_rss_bytes();
    let result = stager
        .stage(
            &app("web", &format!("{}/endless", hostile.url), "hello", None),
            None,
        )
        .await;
    let error = assert_failed(&result, "too_large", "hello");
    assert!(error.contains("limit of 67108864 bytes"), "{error}");
    let grown = peak_rss_bytes().saturating_sub(before);
    // The body held is at most the limit; allow as much again for the buffer's growth and the
    // runtime's allocations.
    assert!(grown < 2 * (64 << 20), "peak memory grew by {grown} bytes");
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_host() {
    staging_support::init();
    let hostile = Hostile::start().await.unwrap();
    let registry = Registry::start().await.unwrap();
    let stager = staging_support::stager(&registry.oci_url("staging"), None);
    let credentials = Credentials {
        username: Some("alice".into()),
        password: Some("redirected-secret".into()),
        ..Credentials::default()
    };
    let result = stager
        .stage(
            &app("web", &format!("{}/redirect", hostile.url), "hello", None),
            Some(&credentials),
        )
        .await;
    assert_failed(&result, "not_found", "hello");
    let seen = hostile.requests();
    let first = seen
        .iter()
        .find(|s| s.path == "/redirect/index.yaml")
        .unwrap();
    assert!(
        first
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "the repository itself gets the credentials: {seen:#?}"
    );
    let landing = seen
        .iter()
        .find(|s| s.path == "/landing/index.yaml")
        .unwrap();
    assert!(landing.host.starts_with("localhost:"), "{seen:#?}");
    assert_eq!(landing.authorization, None, "{seen:#?}");
    assert!(
        !result
            .error()
            .unwrap_or_default()
            .contains("redirected-secret")
    );
}
