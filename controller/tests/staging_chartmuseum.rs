//! Staging into the real ChartMuseum (tests/src/chartmuseum.rs) with basic auth, through
//! `orkestra-controller stage --staging http://… --credentials FILE`, as a user runs it; every
//! staged chart is pulled back with the real Helm CLI. The source charts come from a static chart
//! repository of fixtures (tests/src/charts.rs). No cluster is needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod staging_chartmuseum_support;

use orkestra_tests::chartmuseum::{MuseumOptions, Tenancy};
use orkestra_tests::charts::{Published, plain};
use staging_chartmuseum_support::{PASSWORD, Source, USER, helm_pull, museum, sha256_of};

#[tokio::test]
async fn a_group_with_split_subcharts_lands_in_chartmuseum_and_helm_pulls_every_chart_back() {
    let source = Source::start().await;
    let museum = museum(MuseumOptions::default()).await;
    let staged = source
        .stage(&source.group_file(), &museum.url(), Some((USER, PASSWORD)))
        .await;
    staged.assert_success(&museum);

    let mut charts: Vec<(String, String)> = staged
        .charts()
        .into_iter()
        .map(|(chart, version, entry)| {
            assert_eq!(entry["staged"], true, "{entry:#?}");
            let file = format!("{chart}-{version}.tgz");
            // The printed reference is the download URL, and the digest that of the stored archive.
            assert_eq!(
                entry["reference"],
                format!("{}/charts/{file}", museum.url()),
                "{entry:#?}"
            );
            assert_eq!(
                entry["digest"],
                sha256_of(&museum.storage_dir().join(&file)),
                "{entry:#?}"
            );
            (chart, version)
        })
        .collect();
    charts.sort();
    assert_eq!(
        charts,
        [
            ("bookinfo", "1.0.0"),
            ("bookinfo-sub-1", "0.1.0"),
            ("bookinfo-sub-2", "0.1.0"),
            ("bookinfo-sub-3", "0.1.0"),
            ("bookinfo-sub-4", "0.1.0"),
            ("hello", "1.0.0"),
        ]
        .map(|(c, v)| (c.to_owned(), v.to_owned()))
    );

    for (chart, version) in &charts {
        let (chart_yaml, _) = helm_pull(&museum.url(), chart, version);
        assert_eq!(chart_yaml["name"], chart.as_str());
        assert_eq!(chart_yaml["version"], version.as_str());
        if chart.starts_with("bookinfo-sub-") {
            assert_eq!(
                chart_yaml["annotations"]["orkestra.azure.microsoft.com/parent-chart"], "bookinfo",
                "{chart}"
            );
        }
    }
    let (_, sub_values) = helm_pull(&museum.url(), "bookinfo-sub-4", "0.1.0");
    assert_eq!(sub_values["message"], "from-bookinfo-for-sub-4");
    let (parent, parent_values) = helm_pull(&museum.url(), "bookinfo", "1.0.0");
    let conditions: Vec<&str> = parent["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["condition"].as_str().unwrap())
        .collect();
    assert_eq!(
        conditions,
        [
            "sub-1.enabled",
            "sub-2.enabled",
            "sub-3.enabled",
            "sub-4.enabled"
        ]
    );
    assert_eq!(parent_values["sub-4"]["enabled"], false);
}

#[tokio::test]
async fn restaging_an_identical_group_succeeds_and_uploads_nothing() {
    let source = Source::start().await;
    let museum = museum(MuseumOptions::default()).await;
    let file = source.group_file();
    let first = source
        .stage(&file, &museum.url(), Some((USER, PASSWORD)))
        .await;
    first.assert_success(&museum);
    let second = source
        .stage(&file, &museum.url(), Some((USER, PASSWORD)))
        .await;
    second.assert_success(&museum);
    for ((chart, _, before), (_, _, again)) in first.charts().iter().zip(second.charts()) {
        assert!(
            before["pushedBytes"].as_u64().unwrap() > 0,
            "{chart}: {before:#?}"
        );
        assert_eq!(again["pushedBytes"], 0, "{chart}: {again:#?}");
        assert_eq!(again["digest"], before["digest"], "{chart}");
    }
}

#[tokio::test]
async fn a_changed_chart_under_a_staged_version_is_refused_naming_chart_and_version() {
    let source = Source::start().await;
    let museum = museum(MuseumOptions::default()).await;
    let file = source.hello_file("1.0.0");
    source
        .stage(&file, &museum.url(), Some((USER, PASSWORD)))
        .await
        .assert_success(&museum);

    source.change_hello_1_0_0();
    let refused = source
        .stage(&file, &museum.url(), Some((USER, PASSWORD)))
        .await;
    let error = refused.failure("web", "push_refused");
    for part in [
        "application web",
        "chart hello",
        &museum.url(),
        "version 1.0.0 is already present with different content",
    ] {
        assert!(error.contains(part), "{part:?} missing from: {error}");
    }
    // What was staged first stays.
    let (_, values) = helm_pull(&museum.url(), "hello", "1.0.0");
    assert_eq!(values["message"], "hello");
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_refused_naming_the_staging_repository() {
    let source = Source::start().await;
    let museum = museum(MuseumOptions::default()).await;
    let file = source.hello_file("1.0.0");
    for credentials in [Some((USER, "wrong")), Some(("mallory", PASSWORD)), None] {
        let refused = source.stage(&file, &museum.url(), credentials).await;
        let error = refused.failure("web", "unauthorized");
        assert!(
            error.contains(&museum.url())
                && error.contains("refused access (HTTP 401)")
                && error.contains("--staging-credentials-secret"),
            "{credentials:?}: {error}"
        );
    }
    assert!(
        !museum.storage_dir().join("hello-1.0.0.tgz").exists(),
        "nothing may be stored"
    );
}

/// Two ChartMuseum replicas over one storage (without a shared cache, each indexes on its own):
/// the second has not indexed what the first stored, so the chart is missing from its API, and
/// its upload answers 409. An identical chart is then a success, a changed one a clear refusal.
#[tokio::test]
async fn a_replica_that_has_not_indexed_a_staged_chart_yet_accepts_it_again_and_refuses_a_change() {
    let source = Source::start().await;
    let first = museum(MuseumOptions::default()).await;
    let second = museum(MuseumOptions {
        shared_storage: Some(first.storage_dir().to_path_buf()),
        ..MuseumOptions::default()
    })
    .await;
    // The second replica indexes the storage while it holds hello 1.2.0 only.
    source
        .stage(
            &source.hello_file("1.2.0"),
            &second.url(),
            Some((USER, PASSWORD)),
        )
        .await
        .assert_success(&second);
    let (chart_yaml, _) = helm_pull(&second.url(), "hello", "1.2.0");
    assert_eq!(chart_yaml["version"], "1.2.0");

    let file = source.hello_file("1.0.0");
    let staged = source
        .stage(&file, &first.url(), Some((USER, PASSWORD)))
        .await;
    staged.assert_success(&first);

    // What the second replica's API shows: not the chart the first one stored.
    let listed = reqwest::Client::new()
        .get(format!("{}/api/charts/hello/1.0.0", second.url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.status(),
        404,
        "the second replica should not list it yet"
    );

    let again = source
        .stage(&file, &second.url(), Some((USER, PASSWORD)))
        .await;
    again.assert_success(&second);
    assert_eq!(again.app("web")["pushedBytes"], 0);
    assert_eq!(again.app("web")["digest"], staged.app("web")["digest"]);

    source.change_hello_1_0_0();
    let refused = source
        .stage(&file, &second.url(), Some((USER, PASSWORD)))
        .await;
    let error = refused.failure("web", "push_refused");
    assert!(
        error.contains("chart hello")
            && error.contains("version 1.0.0 is already present with different content"),
        "{error}"
    );
}

/// `http://host/org/team` is ChartMuseum tenant `org/team` (`--depth 2`, or `--depth-dynamic`):
/// Helm and Flux read `/org/team/index.yaml`, and charts are uploaded to `/api/org/team/charts`.
/// Under `--context-path /museum`, the tenant is `http://host/museum/org/team` and its API
/// `/museum/api/org/team/charts`, which neither layout alone finds.
#[tokio::test]
async fn a_staging_url_with_a_path_stages_into_that_chartmuseum_tenant() {
    let source = Source::start().await;
    let layouts = [None, Some("/museum")]
        .into_iter()
        .flat_map(|context| [(Tenancy::Depth(2), context), (Tenancy::Dynamic, context)]);
    for (tenancy, context_path) in layouts {
        let museum = museum(MuseumOptions {
            tenancy,
            context_path: context_path.map(str::to_owned),
            ..MuseumOptions::default()
        })
        .await;
        let tenant = museum.tenant_url("org/team");
        let layout = (tenancy, context_path);
        let staged = source
            .stage(&source.group_file(), &tenant, Some((USER, PASSWORD)))
            .await;
        staged.assert_success(&museum);
        assert_eq!(
            staged.app("web")["reference"],
            format!("{tenant}/charts/hello-1.0.0.tgz"),
            "{layout:?}"
        );
        assert!(
            museum
                .storage_dir()
                .join("org/team/bookinfo-sub-4-0.1.0.tgz")
                .is_file(),
            "{layout:?}"
        );
        for (chart, version, _) in staged.charts() {
            let (chart_yaml, _) = helm_pull(&tenant, &chart, &version);
            assert_eq!(chart_yaml["name"], chart.as_str(), "{layout:?}");
        }
        // Restaging into the tenant finds what is there.
        let again = source
            .stage(&source.group_file(), &tenant, Some((USER, PASSWORD)))
            .await;
        again.assert_success(&museum);
        assert_eq!(again.app("shop")["pushedBytes"], 0, "{layout:?}");
    }
}

/// A ChartMuseum served under `--context-path` (behind a proxy at `/museum`) has its API at
/// `/museum/api/charts`: the staging URL `http://host/museum` works too.
#[tokio::test]
async fn a_chartmuseum_under_a_context_path_is_staged_into_through_it() {
    let source = Source::start().await;
    let museum = museum(MuseumOptions {
        context_path: Some("/museum".into()),
        ..MuseumOptions::default()
    })
    .await;
    assert!(museum.url().ends_with("/museum"));
    let file = source.hello_file("1.0.0");
    let staged = source
        .stage(&file, &museum.url(), Some((USER, PASSWORD)))
        .await;
    staged.assert_success(&museum);
    let (chart_yaml, _) = helm_pull(&museum.url(), "hello", "1.0.0");
    assert_eq!(chart_yaml["version"], "1.0.0");
    let again = source
        .stage(&file, &museum.url(), Some((USER, PASSWORD)))
        .await;
    again.assert_success(&museum);
    assert_eq!(again.app("web")["pushedBytes"], 0);
}

#[tokio::test]
async fn a_path_that_is_no_chartmuseum_repository_is_refused_naming_the_urls_tried() {
    let source = Source::start().await;
    let museum = museum(MuseumOptions::default()).await;
    let staging = museum.tenant_url("team");
    let refused = source
        .stage(
            &source.hello_file("1.0.0"),
            &staging,
            Some((USER, PASSWORD)),
        )
        .await;
    let error = refused.failure("web", "push_refused");
    let base = museum.url();
    for part in [
        "chart hello",
        "HTTP 404",
        &format!("{base}/api/team/charts"),
        &format!("{base}/team/api/charts"),
    ] {
        assert!(error.contains(part), "{part:?} missing from: {error}");
    }
}

/// ChartMuseum answers `GET /api/charts/<name>/<version>` with the newest version matching
/// `<version>` read as a constraint when no entry is spelt exactly so: `v1` (Azure Orkestra's own
/// version spelling) would be answered with 1.2.0. Staging `v1` after 1.2.0 must not take that
/// for `v1` with different content; no more than 1.2.0 for 1.2.0+build.7.
#[tokio::test]
async fn a_version_spelt_v1_is_staged_next_to_the_semver_versions_it_would_match() {
    let source = Source::start_with(&[
        Published::from(&plain("web", "1.2.0")),
        Published::from(&plain("web", "v1")),
        Published::from(&plain("web", "1.2.0+build.7")),
    ])
    .await;
    let museum = museum(MuseumOptions::default()).await;
    for version in ["1.2.0", "v1", "1.2.0+build.7"] {
        let staged = source
            .stage(
                &source.chart_file("web", version),
                &museum.url(),
                Some((USER, PASSWORD)),
            )
            .await;
        staged.assert_success(&museum);
        assert_eq!(staged.app("web")["version"], version);
        assert!(
            staged.app("web")["pushedBytes"].as_u64().unwrap() > 0,
            "{version}"
        );
    }
    for version in ["1.2.0", "v1", "1.2.0+build.7"] {
        let (chart_yaml, _) = helm_pull(&museum.url(), "web", version);
        assert_eq!(chart_yaml["version"], version);
    }
}
