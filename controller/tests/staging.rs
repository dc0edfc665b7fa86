//! Staging against real parts: a static chart repository served over HTTP(S) and Debian's
//! docker-registry as OCI source and staging registry. Run `controller/tests/prereqs` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod staging_support;

use orkestra_controller::staging::Limits;
use orkestra_controller::staging::prepare::archive::unpack;
use orkestra_controller::staging::{Credentials, Stager, StagerConfig};
use orkestra_tests::chart_repo::RepoOptions;
use orkestra_tests::charts::standard_fixtures;
use serde_json::{Value, json};
use staging_support::{Env, app, stager, with_subcharts};

#[tokio::test]
async fn a_range_resolves_to_the_newest_match_and_lands_in_the_registry_as_a_helm_oci_artifact() {
    let env = Env::start().await;
    let result = env
        .stage(&app("web", &env.repo.url, "hello", Some("^1")), None)
        .await;
    assert!(result.is_staged(), "{result:#?}");
    assert_eq!(result.chart.version, "1.2.0");
    let reference = format!("oci://{}/staging/hello", env.registry.host);
    assert_eq!(result.chart.reference.as_deref(), Some(reference.as_str()));

    let (status, body) = env
        .registry_get(
            "/v2/staging/hello/manifests/1.2.0",
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await;
    assert_eq!(status, 200);
    let manifest: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );
    let (_, config) = env
        .registry_get(
            &format!(
                "/v2/staging/hello/blobs/{}",
                manifest["config"]["digest"].as_str().unwrap()
            ),
            "*/*",
        )
        .await;
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(
        (config["name"].as_str(), config["version"].as_str()),
        (Some("hello"), Some("1.2.0"))
    );
}

#[tokio::test]
async fn restaging_an_unchanged_chart_pushes_no_bytes_and_keeps_the_digest() {
    let env = Env::start().await;
    let app = with_subcharts(
        app("shop", &env.repo.url, "bookinfo", None),
        &["sub-1", "sub-4"],
    );
    let first = env.stage(&app, None).await;
    assert!(first.is_staged(), "{first:#?}");
    assert!(first.pushed_bytes() > 0);
    let second = env.stage(&app, None).await;
    assert!(second.is_staged(), "{second:#?}");
    assert_eq!(second.pushed_bytes(), 0, "{second:#?}");
    assert_eq!(first.chart.digest, second.chart.digest);
    assert_eq!(
        first.subcharts["sub-4"].digest,
        second.subcharts["sub-4"].digest
    );

    // The archive is cached by digest: with the repository's archive gone, staging still works
    // (only index.yaml is fetched).
    std::fs::remove_file(env.repo_dir.path().join("bookinfo-1.0.0.tgz")).unwrap();
    let third = env.stage(&app, None).await;
    assert!(third.is_staged(), "{third:#?}");
}

#[tokio::test]
async fn listed_subcharts_become_standalone_charts_and_the_parent_disables_them() {
    let env = Env::start().await;
    let app = with_subcharts(
        app("shop", &env.repo.url, "bookinfo", None),
        &["sub-1", "sub-4"],
    );
    let result = env.stage(&app, None).await;
    assert!(result.is_staged(), "{result:#?}");
    assert_eq!(result.subcharts["sub-4"].chart, "bookinfo-sub-4");
    assert_eq!(result.subcharts["sub-4"].version, "0.1.0");

    // sub-4 was bundled as a .tgz: it comes out as a chart of its own.
    let sub = pull_files(&env, "bookinfo-sub-4", "0.1.0").await;
    let chart_yaml: Value = serde_norway::from_slice(&sub["Chart.yaml"]).unwrap();
    assert_eq!(chart_yaml["name"], "bookinfo-sub-4");
    assert_eq!(
        chart_yaml["annotations"]["orkestra.azure.microsoft.com/parent-chart"],
        "bookinfo"
    );
    assert!(
        sub.contains_key("templates/_bookinfo_helpers.tpl"),
        "{:?}",
        sub.keys()
    );
    let values: Value = serde_norway::from_slice(&sub["values.yaml"]).unwrap();
    assert_eq!(
        values,
        json!({"message": "from-bookinfo-for-sub-4", "global": {"env": "prod"}})
    );

    let parent = pull_files(&env, "bookinfo", "1.0.0").await;
    let chart_yaml: Value = serde_norway::from_slice(&parent["Chart.yaml"]).unwrap();
    let conditions: Vec<(&str, Option<&str>)> = chart_yaml["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["condition"].as_str()))
        .collect();
    // Listing any subchart splits every bundled one, as Azure Orkestra did.
    assert_eq!(
        conditions,
        [
            ("sub-1", Some("sub-1.enabled")),
            ("sub-2", Some("sub-2.enabled")),
            ("sub-3", Some("sub-3.enabled")),
            ("sub-4", Some("sub-4.enabled"))
        ]
    );
    let values: Value = serde_norway::from_slice(&parent["values.yaml"]).unwrap();
    for sub in ["sub-1", "sub-2", "sub-3", "sub-4"] {
        assert_eq!(values[sub]["enabled"], false, "{sub}");
    }
    assert!(parent.contains_key("templates/configmap.yaml"));
    assert!(!parent.contains_key("templates/orkestra-placeholder.yaml"));
}

/// Azure Orkestra's own e2e shape: an umbrella chart versioned `v1` (not semver) bundling four
/// subcharts, three of them listed. The fourth is split too, with no dependencies, and every one
/// is turned off in the parent; the status reports all four.
#[tokio::test]
async fn an_upstream_umbrella_versioned_v1_is_split_whole_with_one_subchart_unlisted() {
    use orkestra_tests::charts::{Published, umbrella};
    let env = Env::start_with(
        RepoOptions::default(),
        &[Published::from(&umbrella("bookinfo", "v1", 4))],
    )
    .await;
    let app = with_subcharts(
        app("bookinfo", &env.repo.url, "bookinfo", Some("v1")),
        &["sub-1", "sub-2", "sub-3"],
    );
    let result = env.stage(&app, None).await;
    assert!(result.is_staged(), "{result:#?}");
    assert_eq!(result.chart.version, "v1");
    let mut split: Vec<(&str, &str, &str)> = result
        .subcharts
        .iter()
        .map(|(name, s)| (name.as_str(), s.chart.as_str(), s.version.as_str()))
        .collect();
    split.sort_unstable();
    assert_eq!(
        split,
        [
            ("sub-1", "bookinfo-sub-1", "0.1.0"),
            ("sub-2", "bookinfo-sub-2", "0.1.0"),
            ("sub-3", "bookinfo-sub-3", "0.1.0"),
            ("sub-4", "bookinfo-sub-4", "0.1.0")
        ]
    );
    let unlisted = pull_files(&env, "bookinfo-sub-4", "0.1.0").await;
    let values: Value = serde_norway::from_slice(&unlisted["values.yaml"]).unwrap();
    assert_eq!(values["message"], "from-bookinfo-for-sub-4");
    let parent = pull_files(&env, "bookinfo", "v1").await;
    let values: Value = serde_norway::from_slice(&parent["values.yaml"]).unwrap();
    assert_eq!(values["sub-4"]["enabled"], false);
}

/// `pair` bundles chart `db` under the aliases `primary` and `replica`, and `cache` under the
/// alias `memo` (tests/src/charts.rs `aliased`): each listed subchart (by alias, or by chart name)
/// splits into a chart of its own whose values are the parent's values under its alias, and the
/// result reports the alias as the values key.
#[tokio::test]
async fn aliased_subcharts_are_split_under_their_alias_and_report_it_as_values_key() {
    let env = Env::start().await;
    let app = with_subcharts(
        app("pair", &env.repo.url, "pair", None),
        &["primary", "replica", "cache"],
    );
    let result = env.stage(&app, None).await;
    assert!(result.is_staged(), "{result:#?}");
    for (listed, alias) in [
        ("primary", "primary"),
        ("replica", "replica"),
        ("cache", "memo"),
    ] {
        let sub = &result.subcharts[listed];
        assert_eq!(sub.chart, format!("pair-{listed}"));
        assert_eq!(sub.values_key.as_deref(), Some(alias));
        let files = pull_files(&env, &format!("pair-{listed}"), "0.1.0").await;
        let values: Value = serde_norway::from_slice(&files["values.yaml"]).unwrap();
        assert_eq!(
            values["message"],
            format!("from-pair-for-{alias}"),
            "{listed}"
        );
    }
    assert_eq!(result.chart.values_key, None);
    let parent = pull_files(&env, "pair", "1.0.0").await;
    let values: Value = serde_norway::from_slice(&parent["values.yaml"]).unwrap();
    for alias in ["primary", "replica", "memo"] {
        assert_eq!(values[alias]["enabled"], false, "{alias}");
    }
}

#[tokio::test]
async fn a_parent_left_with_nothing_to_render_gets_a_placeholder() {
    let mut umbrella = orkestra_tests::charts::umbrella("hollow", "1.0.0", 2);
    umbrella.files.remove("templates/configmap.yaml");
    let env = Env::start_with(RepoOptions::default(), &[(&umbrella).into()]).await;
    let result = env
        .stage(
            &with_subcharts(app("h", &env.repo.url, "hollow", None), &["sub-1", "sub-2"]),
            None,
        )
        .await;
    assert!(result.is_staged(), "{result:#?}");
    let parent = pull_files(&env, "hollow", "1.0.0").await;
    assert!(parent.contains_key("templates/orkestra-placeholder.yaml"));
}

#[tokio::test]
async fn charts_are_pulled_from_oci_registries_by_tag() {
    let env = Env::start().await;
    // Publish to an OCI "source" path first (by staging into it), then stage from there.
    let publisher = stager(&env.registry.oci_url("source"), None);
    for version in ["1.0.0", "1.2.0"] {
        assert!(
            publisher
                .stage(&app("pub", &env.repo.url, "hello", Some(version)), None)
                .await
                .is_staged()
        );
    }
    let source = env.registry.oci_url("source");
    let result = env
        .stage(&app("web", &source, "hello", Some("~1.0")), None)
        .await;
    assert!(result.is_staged(), "{result:#?}");
    assert_eq!(result.chart.version, "1.0.0");
    let newest = env.stage(&app("web", &source, "hello", None), None).await;
    assert_eq!(newest.chart.version, "1.2.0");
}

/// Admission reads a chart URL's scheme without case (the URL standard lowercases it); so does
/// staging, for OCI registries and HTTP repositories alike.
#[tokio::test]
async fn a_chart_url_scheme_in_capitals_is_read_as_admission_reads_it() {
    let env = Env::start().await;
    let publisher = stager(&env.registry.oci_url("capitals"), None);
    let published = publisher
        .stage(&app("pub", &env.repo.url, "hello", Some("1.0.0")), None)
        .await;
    assert!(published.is_staged(), "{published:#?}");
    for url in [
        env.registry
            .oci_url("capitals")
            .replacen("oci://", "OCI://", 1),
        env.repo.url.replacen("http", "HTTP", 1),
    ] {
        let result = env
            .stage(&app("web", &url, "hello", Some("1.0.0")), None)
            .await;
        assert!(result.is_staged(), "{url}: {result:#?}");
        assert_eq!(result.chart.version, "1.0.0");
    }
}

#[tokio::test]
async fn a_tls_repository_with_a_private_ca_needs_its_ca_certificate() {
    let env = Env::start_with(
        RepoOptions {
            tls: true,
            ..RepoOptions::default()
        },
        &standard_fixtures(),
    )
    .await;
    let app = app("web", &env.repo.url, "hello", None);
    let untrusted = env.stage(&app, None).await;
    staging_support::assert_failed(&untrusted, "unreachable", "hello");

    let creds = Credentials {
        ca_pem: env.repo.ca_pem.clone(),
        ..Credentials::default()
    };
    let trusted = env.stage(&app, Some(&creds)).await;
    assert!(trusted.is_staged(), "{trusted:#?}");
}

/// A repository read through a signed URL (an Azure Blob container's SAS URL): the signature in
/// the URL's query goes with the index and the archives (before, `index.yaml` was fetched without
/// it, and from the parent directory).
#[tokio::test]
async fn a_signed_repository_url_keeps_its_signature() {
    let options = RepoOptions {
        signature: Some("c2lnbmVk".into()),
        ..RepoOptions::default()
    };
    let env = Env::start_with(options, &standard_fixtures()).await;
    let unsigned = env
        .stage(&app("web", &env.repo.url, "hello", None), None)
        .await;
    let error = staging_support::assert_failed(&unsigned, "unauthorized", "hello");
    assert!(error.contains("403"), "{error}");
    let url = format!("{}/?sv=2024-11-04&sr=c&sig=c2lnbmVk", env.repo.url);
    let signed = env.stage(&app("web", &url, "hello", None), None).await;
    assert!(signed.is_staged(), "{signed:#?}");
    assert_eq!(signed.chart.version, "1.2.0");

    // A relative archive URL with a query of its own takes the repository's in its place, as
    // Helm's ResolveReferenceURL gives it.
    let index_path = env.repo_dir.path().join("index.yaml");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let with_query = index.replace("- hello-1.0.0.tgz", "- hello-1.0.0.tgz?cache=1");
    assert_ne!(index, with_query);
    std::fs::write(&index_path, with_query).unwrap();
    let staged = env
        .stage(&app("web", &url, "hello", Some("1.0.0")), None)
        .await;
    assert!(staged.is_staged(), "{staged:#?}");
}

/// An archive the index lists without a digest is cached by its URL without the repository's
/// signature: staged again through a new signature (SAS tokens are renewed), it comes from the
/// cache (before, it was stored under the signed URL and looked up under the unsigned one, so it
/// never did).
#[tokio::test]
async fn an_archive_without_a_digest_is_cached_whatever_the_signature() {
    let options = RepoOptions {
        signature: Some("c2lnbmVk".into()),
        ..RepoOptions::default()
    };
    let env = Env::start_with(options, &standard_fixtures()).await;
    let index_path = env.repo_dir.path().join("index.yaml");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let without_digests: String = index
        .lines()
        .filter(|line| !line.trim_start().starts_with("digest:"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(index, without_digests, "the index had digests to take out");
    std::fs::write(&index_path, without_digests).unwrap();
    let signed = |token: &str| {
        let url = format!("{}/?sv={token}&sr=c&sig=c2lnbmVk", env.repo.url);
        app("web", &url, "hello", None)
    };
    let first = env.stage(&signed("2024-11-04"), None).await;
    assert!(first.is_staged(), "{first:#?}");
    std::fs::remove_file(env.repo_dir.path().join("hello-1.2.0.tgz")).unwrap();
    let again = env.stage(&signed("2025-01-01"), None).await;
    assert!(
        again.is_staged(),
        "the archive came from the cache: {again:#?}"
    );
    assert_eq!(again.chart.digest, first.chart.digest);
}

/// A chart cache that cannot keep an archive (here its `sha256/` is a file; in a pod, a full
/// emptyDir) only makes staging slower: the archive, downloaded and checked, is staged all the
/// same (before, the pull failed, and was retried for good).
#[tokio::test]
async fn a_cache_that_cannot_keep_an_archive_does_not_fail_staging() {
    let env = Env::start_with(RepoOptions::default(), &standard_fixtures()).await;
    std::fs::write(env.cache_dir.path().join("sha256"), b"not a directory").unwrap();
    let staged = env
        .stage(&app("web", &env.repo.url, "hello", None), None)
        .await;
    assert!(staged.is_staged(), "{staged:#?}");
    let cached: Vec<_> = std::fs::read_dir(env.cache_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cached, ["sha256"], "nothing half-written is left");
}

/// A `values.schema.json` that refers to schemas on another host (Kubernetes' definitions, as
/// many charts do): staging does not fetch them, and leaves the check to Helm, which does, at
/// install (before, the chart was refused as "not a valid JSON schema").
#[tokio::test]
async fn a_schema_referring_to_remote_schemas_is_left_to_helm() {
    let mut chart = orkestra_tests::charts::plain("remote-schema", "1.0.0");
    chart.set(
        "values.schema.json",
        r#"{"type": "object", "properties": {"affinity": {"$ref":
            "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json#/definitions/io.k8s.api.core.v1.Affinity"}}}"#,
    );
    let env = Env::start_with(RepoOptions::default(), &[(&chart).into()]).await;
    let staged = env
        .stage(&app("web", &env.repo.url, "remote-schema", None), None)
        .await;
    assert!(staged.is_staged(), "{staged:#?}");
    assert_eq!(staged.chart.version, "1.0.0");
}

#[tokio::test]
async fn a_basic_auth_repository_needs_the_right_credentials() {
    let options = RepoOptions {
        basic_auth: Some(("alice".into(), "s3cret".into())),
        ..RepoOptions::default()
    };
    let env = Env::start_with(options, &standard_fixtures()).await;
    let app = app("web", &env.repo.url, "hello", None);
    let creds = |password: &str| user_credentials("alice", password);

    let anonymous = env.stage(&app, None).await;
    let error = staging_support::assert_failed(&anonymous, "unauthorized", "hello");
    assert!(
        error.contains("401") && error.contains("the application's authSecretRef"),
        "{error}"
    );
    let wrong = env.stage(&app, Some(&creds("nope"))).await;
    let error = staging_support::assert_failed(&wrong, "unauthorized", "hello");
    assert!(
        error.contains("refused access (HTTP 401)")
            && error.contains("the application's authSecretRef"),
        "{error}"
    );
    let right = env.stage(&app, Some(&creds("s3cret"))).await;
    assert!(right.is_staged(), "{right:#?}");
}

#[tokio::test]
async fn the_stage_command_prints_results_for_a_group_file() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("group.yaml");
    let group = format!(
        "apiVersion: orkestra.azure.microsoft.com/v1alpha1\nkind: ApplicationGroup\nmetadata:\n  name: demo\n\
         spec:\n  applications:\n  - name: web\n    spec:\n      chart: {{url: '{url}', name: hello, version: '1.0.0'}}\n\
         \x20     release: {{targetNamespace: web}}\n  - name: shop\n    spec:\n      chart: {{url: '{url}', name: bookinfo}}\n\
         \x20     release: {{targetNamespace: shop}}\n      subcharts: [{{name: sub-2}}]\n",
        url = env.repo.url
    );
    std::fs::write(&file, group).unwrap();
    // NB: tokio's Command, so the repository served on this runtime keeps answering meanwhile.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .args([
            "stage",
            file.to_str().unwrap(),
            "--staging",
            &env.registry.oci_url("cli"),
        ])
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_norway::from_str(&stdout).unwrap();
    assert_eq!(printed[0]["group"], "demo");
    assert_eq!(printed[0]["applications"][0]["version"], "1.0.0");
    assert_eq!(
        printed[0]["applications"][1]["subcharts"]["sub-2"]["chart"],
        "bookinfo-sub-2"
    );
    assert_eq!(
        printed[0]["applications"][1]["subcharts"]["sub-2"]["staged"],
        true
    );
}

#[tokio::test]
async fn a_stager_refuses_a_staging_url_it_cannot_use() {
    staging_support::init();
    let err = Stager::new(StagerConfig {
        staging_url: "ftp://x".into(),
        ..StagerConfig::default()
    })
    .err();
    assert_eq!(err.map(|e| e.category()), Some("invalid_spec"));
}

/// Pulls a staged chart's archive from the registry through the distribution API and unpacks it.
async fn pull_files(
    env: &Env,
    name: &str,
    tag: &str,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let (status, body) = env
        .registry_get(&format!("/v2/staging/{name}/manifests/{tag}"), accept)
        .await;
    assert_eq!(status, 200, "{name}:{tag}");
    let manifest: Value = serde_json::from_slice(&body).unwrap();
    let digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let (_, tgz) = env
        .registry_get(&format!("/v2/staging/{name}/blobs/{digest}"), "*/*")
        .await;
    unpack(name, &tgz, &Limits::default()).unwrap()
}

fn user_credentials(username: &str, password: &str) -> Credentials {
    Credentials {
        username: Some(username.into()),
        password: Some(password.into()),
        ..Credentials::default()
    }
}

/// A stager pushing into `staging_url` with `credentials`.
fn stager_into(staging_url: String, credentials: Option<Credentials>) -> Stager {
    Stager::new(StagerConfig {
        staging_url,
        staging_credentials: credentials,
        ..StagerConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn registries_with_basic_auth_take_the_credentials_for_pull_and_push() {
    let env = Env::start().await;
    let private = orkestra_tests::registry::Registry::start_with_basic_auth("bob", "hunter2")
        .await
        .unwrap();
    let creds = user_credentials("bob", "hunter2");
    let push_into = |creds: Option<Credentials>| stager_into(private.oci_url("staging"), creds);
    let hello = app("web", &env.repo.url, "hello", None);

    let anonymous = push_into(None).stage(&hello, None).await;
    let error = staging_support::assert_failed(&anonymous, "unauthorized", "hello");
    assert!(
        error.contains("the staging registry's Secret (--staging-credentials-secret)"),
        "the controller's credentials, not the application's: {error}"
    );
    let staged = push_into(Some(creds.clone())).stage(&hello, None).await;
    assert!(staged.is_staged(), "{staged:#?}");

    // And as a source: pulling back from the private registry needs the same credentials.
    let from_private = app("web", &private.oci_url("staging"), "hello", None);
    let denied = env.stage(&from_private, None).await;
    let error = staging_support::assert_failed(&denied, "unauthorized", "hello");
    assert!(error.contains("the application's authSecretRef"), "{error}");
    let pulled = env.stage(&from_private, Some(&creds)).await;
    assert!(pulled.is_staged(), "{pulled:#?}");
    assert_eq!(pulled.chart.version, "1.2.0");
}

#[tokio::test]
async fn the_stage_command_reads_credentials_by_repository_url() {
    let options = RepoOptions {
        tls: true,
        basic_auth: Some(("carol".into(), "pw".into())),
        ..RepoOptions::default()
    };
    let env = Env::start_with(options, &standard_fixtures()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("group.yaml");
    let group = format!(
        "apiVersion: orkestra.azure.microsoft.com/v1alpha1\nkind: ApplicationGroup\nmetadata:\n  name: private\n\
         spec:\n  applications:\n  - name: web\n    spec:\n      chart: {{url: '{}', name: hello}}\n\
         \x20     release: {{targetNamespace: web}}\n",
        env.repo.url
    );
    std::fs::write(&file, group).unwrap();
    let creds_file = dir.path().join("credentials.yaml");
    let creds = serde_json::json!({
        env.repo.url.clone(): {"username": "carol", "password": "pw", "ca.crt": env.repo.ca_pem.clone().unwrap()}
    });
    std::fs::write(&creds_file, serde_norway::to_string(&creds).unwrap()).unwrap();

    let run = |with_credentials: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orkestra-controller"));
        command.args([
            "stage",
            file.to_str().unwrap(),
            "--staging",
            &env.registry.oci_url("cli"),
        ]);
        if with_credentials {
            command.arg("--credentials").arg(&creds_file);
        }
        command.output()
    };
    let without = run(false).await.unwrap();
    assert!(!without.status.success());
    let printed: Value = serde_norway::from_slice(&without.stdout).unwrap();
    assert_eq!(
        printed[0]["applications"][0]["errorCategory"],
        "unreachable"
    );

    let with = run(true).await.unwrap();
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let printed: Value = serde_norway::from_slice(&with.stdout).unwrap();
    assert_eq!(printed[0]["applications"][0]["version"], "1.2.0");
    assert_eq!(printed[0]["applications"][0]["staged"], true);
}

#[tokio::test]
async fn registries_with_bearer_token_auth_are_answered_through_the_challenge() {
    let env = Env::start().await;
    let private = orkestra_tests::registry::Registry::start_with_token_auth("dave", "t0ken")
        .await
        .unwrap();
    let creds = user_credentials("dave", "t0ken");
    let push_into = |creds: Option<Credentials>| stager_into(private.oci_url("staging"), creds);
    let shop = with_subcharts(app("shop", &env.repo.url, "bookinfo", None), &["sub-1"]);

    let anonymous = push_into(None).stage(&shop, None).await;
    staging_support::assert_failed(&anonymous, "unauthorized", "bookinfo");
    let staged = push_into(Some(creds.clone())).stage(&shop, None).await;
    assert!(staged.is_staged(), "{staged:#?}");
    let again = push_into(Some(creds.clone())).stage(&shop, None).await;
    assert_eq!(again.pushed_bytes(), 0, "{again:#?}");

    let from_private = app("web", &private.oci_url("staging"), "bookinfo", None);
    let pulled = env.stage(&from_private, Some(&creds)).await;
    assert!(pulled.is_staged(), "{pulled:#?}");
}

#[tokio::test]
async fn absolute_download_urls_are_followed_without_sending_the_repository_password_elsewhere() {
    // The archive lives on a second, anonymous server; the index on a password-protected one.
    let cdn_dir = tempfile::tempdir().unwrap();
    orkestra_tests::charts::write_repo(
        cdn_dir.path(),
        &[(&orkestra_tests::charts::plain("hello", "3.0.0")).into()],
    )
    .unwrap();
    staging_support::init();
    let cdn = orkestra_tests::chart_repo::ChartRepo::start(
        cdn_dir.path(),
        RepoOptions {
            basic_auth: Some(("nobody".into(), "x".into())),
            ..RepoOptions::default()
        },
    )
    .await
    .unwrap();
    let options = RepoOptions {
        basic_auth: Some(("erin".into(), "pw".into())),
        ..RepoOptions::default()
    };
    let env = Env::start_with(options, &standard_fixtures()).await;
    let index = std::fs::read_to_string(cdn_dir.path().join("index.yaml")).unwrap();
    let index = index.replace(
        "- hello-3.0.0.tgz",
        &format!("- {}/hello-3.0.0.tgz", env.repo.url),
    );
    std::fs::write(env.repo_dir.path().join("index.yaml"), &index).unwrap();
    std::fs::copy(
        cdn_dir.path().join("hello-3.0.0.tgz"),
        env.repo_dir.path().join("hello-3.0.0.tgz"),
    )
    .unwrap();
    let creds = user_credentials("erin", "pw");

    // Same host as the index: the credentials go along, and the archive is served.
    let same_host = env
        .stage(&app("web", &env.repo.url, "hello", None), Some(&creds))
        .await;
    assert!(same_host.is_staged(), "{same_host:#?}");
    assert_eq!(same_host.chart.version, "3.0.0");

    // Another host: the archive request goes out without them (that server answers 401, which
    // proves no Authorization header was sent).
    let elsewhere = index.replace(&env.repo.url, &cdn.url);
    std::fs::write(env.repo_dir.path().join("index.yaml"), elsewhere).unwrap();
    let other_host = staging_support::stager(&env.registry.oci_url("staging"), None)
        .stage(&app("web", &env.repo.url, "hello", None), Some(&creds))
        .await;
    let error = staging_support::assert_failed(&other_host, "unauthorized", "hello");
    assert!(error.contains(&cdn.url) && error.contains("401"), "{error}");
}

/// A repository whose `web` chart is versioned as Azure Orkestra's own bookinfo chart is (`v1`),
/// next to semver versions and an entry Helm cannot read.
fn mixed_versions() -> Vec<orkestra_tests::charts::Published> {
    use orkestra_tests::charts::{Published, plain};
    ["v1", "1.0.0", "1.2.0", "latest"]
        .iter()
        .map(|version| Published::from(&plain("web", version)))
        .collect()
}

#[tokio::test]
async fn an_index_entry_versioned_v1_is_resolved_by_its_exact_spelling() {
    use orkestra_tests::charts::{Published, plain};
    let env = Env::start_with(
        RepoOptions::default(),
        &[Published::from(&plain("web", "v1"))],
    )
    .await;
    let result = env
        .stage(&app("web", &env.repo.url, "web", Some("v1")), None)
        .await;
    assert!(result.is_staged(), "{result:#?}");
    assert_eq!(result.chart.version, "v1");
    let (status, _) = env
        .registry_get(
            "/v2/staging/web/manifests/v1",
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_exact_non_semver_entry_wins_over_the_semver_entries_the_constraint_would_pick() {
    let env = Env::start_with(RepoOptions::default(), &mixed_versions()).await;
    // `v1` as a constraint is `1.x` (newest: 1.2.0), but Helm takes the entry spelt `v1` first.
    for (requested, resolved) in [
        ("v1", "v1"),
        ("1.0.0", "1.0.0"),
        ("1", "1.2.0"),
        ("^1", "1.2.0"),
        ("*", "1.2.0"),
    ] {
        let result = env
            .stage(&app("web", &env.repo.url, "web", Some(requested)), None)
            .await;
        assert!(result.is_staged(), "{requested}: {result:#?}");
        assert_eq!(result.chart.version, resolved, "{requested}");
    }
    // The unreadable entry is skipped, and `latest` is no constraint Helm can parse.
    let latest = env
        .stage(&app("web", &env.repo.url, "web", Some("latest")), None)
        .await;
    let error = staging_support::assert_failed(&latest, "invalid_spec", "web");
    assert!(
        error.contains("invalid chart version \"latest\""),
        "{error}"
    );
}

#[tokio::test]
async fn an_oci_request_that_is_a_version_pulls_that_tag_as_helm_does() {
    let env = Env::start_with(RepoOptions::default(), &mixed_versions()).await;
    let publisher = stager(&env.registry.oci_url("source"), None);
    for version in ["v1", "1.0.0", "1.2.0"] {
        let published = publisher
            .stage(&app("pub", &env.repo.url, "web", Some(version)), None)
            .await;
        assert!(published.is_staged(), "{published:#?}");
    }
    let source = env.registry.oci_url("source");
    // `v1` is no strict semver tag, so a tag listing would skip it; Helm pulls it by name.
    for (requested, resolved) in [("v1", "v1"), ("~1.0", "1.0.0"), ("^1", "1.2.0")] {
        let result = env
            .stage(&app("web", &source, "web", Some(requested)), None)
            .await;
        assert!(result.is_staged(), "{requested}: {result:#?}");
        assert_eq!(result.chart.version, resolved, "{requested}");
    }
}

/// Unpacking, splitting and packaging a large chart take CPU for a while; on the runtime's
/// threads they stalled everything else the controller runs there (watches, the leader lease).
/// On a one-thread runtime, a ticker must keep ticking while such a chart is staged.
#[tokio::test(flavor = "current_thread")]
async fn preparing_a_large_chart_leaves_the_runtime_free() {
    let mut heavy = orkestra_tests::charts::umbrella("heavy", "1.0.0", 2);
    for file in 0..4 {
        let lines: String = (0..60_000u64)
            .map(|line| format!("{file}-{line}: {:x}\n", line * 2_654_435_761))
            .collect();
        heavy.set(&format!("files/data-{file}.txt"), &lines);
    }
    let env = Env::start_with(RepoOptions::default(), &[(&heavy).into()]).await;
    let app = with_subcharts(app("h", &env.repo.url, "heavy", None), &["sub-1"]);
    // NB: before, the runtime paused for most of the staging (1.97 of 2.31 s in a debug build);
    // what is left are the short steps between awaits (digests, the values check).
    assert_the_runtime_stays_free(&env, &app).await;
}

/// A repository with a large index (thousands of versions, as long-lived repositories have) is
/// read off the runtime too (before, reading it held a runtime thread, and with it the
/// controller's watches and Lease, for as long as it took).
#[tokio::test(flavor = "current_thread")]
async fn reading_a_large_index_leaves_the_runtime_free() {
    let tgz = orkestra_tests::charts::plain("many", "1.0.0").tgz();
    let charts: Vec<orkestra_tests::charts::Published> = (0..4000)
        .map(|patch| orkestra_tests::charts::Published {
            name: "many".into(),
            version: format!("1.0.{patch}"),
            tgz: tgz.clone(),
        })
        .collect();
    let env = Env::start_with(RepoOptions::default(), &charts).await;
    let app = app("m", &env.repo.url, "many", Some("1.0.3999"));
    assert_the_runtime_stays_free(&env, &app).await;
}

/// Many groups staging one large chart at once (over the size whose preparation is shared): each
/// prepares it, and their pushes of the same blobs go one after the other, so that the registry
/// takes each blob once and every staging succeeds. Before, the uploads ran at once and the real
/// registry mixed them up: in about two runs of five some staging failed with DIGEST_INVALID and
/// MANIFEST_BLOB_UNKNOWN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stagings_of_one_large_chart_all_succeed() {
    let mut heavy = orkestra_tests::charts::umbrella("bulky", "1.0.0", 2);
    let lines: String = (0..120_000u64)
        .map(|line| format!("{line}: {:x}\n", line.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    heavy.set("files/data.txt", &lines);
    let published: orkestra_tests::charts::Published = (&heavy).into();
    assert!(
        published.tgz.len() > 1 << 20,
        "{} bytes",
        published.tgz.len()
    );
    let env = Env::start_with(RepoOptions::default(), &[published]).await;
    let app = with_subcharts(app("b", &env.repo.url, "bulky", None), &["sub-1"]);
    let stagings = (0..8).map(|_| env.stage(&app, None));
    let results = futures::future::join_all(stagings).await;
    for result in &results {
        assert!(result.is_staged(), "{result:#?}");
    }
}

/// A chart with a large `values.schema.json` (thousands of properties with patterns, as generated
/// schemas have): checking the values against it runs off the runtime too.
#[tokio::test(flavor = "current_thread")]
async fn checking_values_against_a_large_schema_leaves_the_runtime_free() {
    let mut chart = orkestra_tests::charts::plain("schemaful", "1.0.0");
    let keys = 4000;
    let values: String = (0..keys).map(|i| format!("key{i}: value-{i}\n")).collect();
    let properties: Vec<String> = (0..keys)
        .map(|i| format!(r#""key{i}": {{"type": "string", "pattern": "^value-[0-9]+$"}}"#))
        .collect();
    chart
        .set("values.yaml", &format!("message: hello\n{values}"))
        .set(
            "values.schema.json",
            &format!(
                r#"{{"type": "object", "properties": {{{}}}}}"#,
                properties.join(",")
            ),
        );
    let env = Env::start_with(RepoOptions::default(), &[(&chart).into()]).await;
    let app = app("s", &env.repo.url, "schemaful", None);
    assert_the_runtime_stays_free(&env, &app).await;
}

/// Stages `app` beside a 5 ms ticker on the test's one-thread runtime, and asserts that the
/// runtime never paused for a quarter of the staging.
async fn assert_the_runtime_stays_free(env: &Env, app: &orkestra_shared::crd::Application) {
    use std::time::{Duration, Instant};
    let longest_pause = std::cell::Cell::new(Duration::ZERO);
    let ticker = async {
        let mut interval = tokio::time::interval(Duration::from_millis(5));
        let mut last = Instant::now();
        loop {
            interval.tick().await;
            longest_pause.set(longest_pause.get().max(last.elapsed()));
            last = Instant::now();
        }
    };
    let started = Instant::now();
    let result = tokio::select! {
        result = env.stage(app, None) => result,
        never = ticker => never,
    };
    let took = started.elapsed();
    assert!(result.is_staged(), "{result:#?}");
    assert!(
        longest_pause.get() < took / 4,
        "the runtime paused for {:?} of a staging that took {took:?}",
        longest_pause.get()
    );
}
