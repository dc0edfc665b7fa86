//! Shared set-up for the ChartMuseum staging tests: a source chart repository of fixtures, the
//! `stage` command run against a real ChartMuseum with basic auth, and Helm pulling charts back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
use orkestra_tests::chartmuseum::{ChartMuseum, MuseumOptions};
use orkestra_tests::charts::{Published, plain, standard_fixtures, write_repo};
use orkestra_tests::helm::Helm;
use serde_json::{Value, json};
use sha2::Digest as _;

pub const USER: &str = "stager";
pub const PASSWORD: &str = "museum-pw";

/// A source chart repository of fixtures and a scratch directory.
pub struct Source {
    pub repo: ChartRepo,
    pub repo_dir: tempfile::TempDir,
    pub dir: tempfile::TempDir,
}

impl Source {
    pub async fn start() -> Source {
        Self::start_with(&standard_fixtures()).await
    }

    pub async fn start_with(charts: &[Published]) -> Source {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let repo_dir = tempfile::tempdir().unwrap();
        write_repo(repo_dir.path(), charts).unwrap();
        let repo = ChartRepo::start(repo_dir.path(), RepoOptions::default())
            .await
            .unwrap();
        Source {
            repo,
            repo_dir,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Replaces `hello` 1.0.0 in the source repository by a chart of other content.
    pub fn change_hello_1_0_0(&self) {
        let mut charts = standard_fixtures();
        let mut changed = plain("hello", "1.0.0");
        changed.set("values.yaml", "message: changed\n");
        let slot = charts
            .iter_mut()
            .find(|c| c.name == "hello" && c.version == "1.0.0")
            .unwrap();
        *slot = Published::from(&changed);
        write_repo(self.repo_dir.path(), &charts).unwrap();
    }

    /// A group file staging `hello` 1.0.0 (`web`) and `bookinfo` 1.0.0 with subcharts sub-1 and
    /// sub-4 listed (`shop`).
    pub fn group_file(&self) -> std::path::PathBuf {
        let group = format!(
            "apiVersion: orkestra.azure.microsoft.com/v1alpha1\nkind: ApplicationGroup\nmetadata:\n  name: museum\n\
             spec:\n  applications:\n  - name: web\n    spec:\n      chart: {{url: '{url}', name: hello, version: '1.0.0'}}\n\
             \x20     release: {{targetNamespace: web}}\n  - name: shop\n    spec:\n      chart: {{url: '{url}', name: bookinfo}}\n\
             \x20     release: {{targetNamespace: shop}}\n      subcharts: [{{name: sub-1}}, {{name: sub-4}}]\n",
            url = self.repo.url
        );
        let file = self.dir.path().join("group.yaml");
        std::fs::write(&file, group).unwrap();
        file
    }

    /// A group file staging only `hello` at `version` (`web`).
    pub fn hello_file(&self, version: &str) -> std::path::PathBuf {
        self.chart_file("hello", version)
    }

    /// A group file staging only `chart` at `version` (application `web`).
    pub fn chart_file(&self, chart: &str, version: &str) -> std::path::PathBuf {
        let group = format!(
            "apiVersion: orkestra.azure.microsoft.com/v1alpha1\nkind: ApplicationGroup\nmetadata:\n  name: {chart}\n\
             spec:\n  applications:\n  - name: web\n    spec:\n      chart: {{url: '{url}', name: {chart}, version: '{version}'}}\n\
             \x20     release: {{targetNamespace: web}}\n",
            url = self.repo.url
        );
        let file = self.dir.path().join(format!("{chart}-{version}.yaml"));
        std::fs::write(&file, group).unwrap();
        file
    }

    /// Runs `orkestra-controller stage FILE --staging URL`, with a credentials file giving
    /// `credentials` for the staging URL when set.
    pub async fn stage(
        &self,
        file: &Path,
        staging: &str,
        credentials: Option<(&str, &str)>,
    ) -> Staged {
        // NB: tokio's Command, so the source repository served on this runtime keeps answering.
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orkestra-controller"));
        command.arg("stage").arg(file).args(["--staging", staging]);
        if let Some((username, password)) = credentials {
            let creds = self.dir.path().join("credentials.yaml");
            let map = json!({staging: {"username": username, "password": password}});
            std::fs::write(&creds, serde_norway::to_string(&map).unwrap()).unwrap();
            command.arg("--credentials").arg(creds);
        }
        let output = command.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let printed = serde_norway::from_str(&stdout)
            .unwrap_or_else(|err| panic!("stage printed no YAML ({err}):\n{stdout}\n{stderr}"));
        Staged {
            success: output.status.success(),
            printed,
            stderr,
        }
    }
}

/// What one `stage` run showed.
pub struct Staged {
    pub success: bool,
    /// The printed results: one entry per group.
    pub printed: Value,
    pub stderr: String,
}

impl Staged {
    pub fn app(&self, name: &str) -> &Value {
        self.printed[0]["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no application {name}: {:#?}", self.printed))
    }

    /// Asserts the run failed, and returns the error printed for `app` (category checked).
    pub fn failure(&self, app: &str, category: &str) -> String {
        assert!(!self.success, "staging should fail: {:#?}", self.printed);
        assert!(
            self.stderr.contains("could not be staged"),
            "{}",
            self.stderr
        );
        let app = self.app(app);
        assert_eq!(app["staged"], false, "{app:#?}");
        assert_eq!(app["errorCategory"], category, "{app:#?}");
        app["error"].as_str().unwrap().to_owned()
    }

    pub fn assert_success(&self, museum: &ChartMuseum) {
        assert!(
            self.success,
            "{:#?}\n{}\nChartMuseum log:\n{}",
            self.printed,
            self.stderr,
            museum.log()
        );
    }

    /// Every chart of the run with its printed result: (chart, version, entry).
    pub fn charts(&self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for app in self.printed[0]["applications"].as_array().unwrap() {
            let mut entries = vec![app.clone()];
            entries.extend(
                app["subcharts"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, s)| s.clone()),
            );
            for entry in entries {
                out.push((
                    entry["chart"].as_str().unwrap().to_owned(),
                    entry["version"].as_str().unwrap().to_owned(),
                    entry,
                ));
            }
        }
        out
    }
}

pub async fn museum(options: MuseumOptions) -> ChartMuseum {
    ChartMuseum::start(MuseumOptions {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..options
    })
    .await
    .unwrap()
}

/// `helm pull NAME --repo REPO --version VERSION` with the museum's credentials, untarred: the
/// chart's Chart.yaml and values.yaml.
pub fn helm_pull(repo: &str, name: &str, version: &str) -> (Value, Value) {
    let helm = Helm::find().unwrap();
    let into = tempfile::tempdir().unwrap();
    let out = helm
        .run([
            "pull",
            name,
            "--repo",
            repo,
            "--version",
            version,
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--untar",
            "--untardir",
            into.path().to_str().unwrap(),
        ])
        .unwrap();
    assert!(out.success, "helm pull {name} {version}: {}", out.stderr);
    let read = |file: &str| -> Value {
        let path = into.path().join(name).join(file);
        serde_norway::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    };
    (read("Chart.yaml"), read("values.yaml"))
}

pub fn sha256_of(path: &Path) -> String {
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
    )
}
