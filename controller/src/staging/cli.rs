//! `orkestra-controller stage FILE --staging URL`: stages the charts of ApplicationGroup files
//! without a cluster and prints the results as YAML (exit status 1 when any application failed).

use std::path::PathBuf;

use anyhow::Context as _;
use orkestra_shared::crd::ApplicationGroup;
use serde::{Deserialize, Serialize};

use crate::staging::cache::CacheArgs;
use crate::staging::credentials::CredentialsMap;
use crate::staging::limits::Limits;
use crate::staging::outcome::ApplicationStaging;
use crate::staging::plain_http::PlainHttp;
use crate::staging::stager::{Stager, StagerConfig};

/// Arguments of the `stage` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct StageArgs {
    /// YAML file with one or more ApplicationGroup documents.
    pub file: PathBuf,

    /// Staging repository: oci://HOST/PATH (an OCI registry) or https://CHARTMUSEUM[/TENANT]
    /// (a ChartMuseum repository; a path is a multitenant ChartMuseum's repository or its
    /// --context-path).
    #[arg(long, env = "ORKESTRA_STAGING_URL")]
    pub staging: String,

    /// The chart cache (`--chart-cache`, or `--cache`).
    #[command(flatten)]
    pub cache: CacheArgs,

    /// YAML mapping from repository URL (a prefix of whole path segments) to credentials:
    /// username, password, ca.crt, tls.crt, tls.key (PEM data). Also consulted for the staging
    /// repository.
    #[arg(long)]
    pub credentials: Option<PathBuf>,

    /// Size limits and plain-HTTP registries.
    #[command(flatten)]
    pub reads: ReadArgs,
}

/// How staging reads from the network (flags shared by `run` and `stage`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReadArgs {
    /// Size limits of what is read.
    #[command(flatten)]
    pub limits: Limits,

    /// An OCI registry (HOST or HOST:PORT) to reach over plain HTTP although it is not loopback;
    /// repeatable, or comma-separated in the variable. Loopback registries always are.
    #[arg(
        long = "insecure-registry",
        env = "ORKESTRA_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
}

impl ReadArgs {
    /// The stager settings these flags give.
    pub fn into_parts(self) -> (Limits, PlainHttp) {
        (self.limits, PlainHttp::new(self.insecure_registries))
    }
}

/// The staging results of one group, as printed.
#[derive(Debug, Serialize)]
pub struct GroupStaging {
    /// The group's name.
    pub group: String,
    /// One entry per application, in spec order.
    pub applications: Vec<ApplicationStaging>,
}

/// Runs the `stage` subcommand.
pub async fn run(args: StageArgs) -> anyhow::Result<()> {
    let StageArgs {
        file,
        staging,
        cache,
        credentials,
        reads,
    } = args;
    let (limits, plain_http) = reads.into_parts();
    let credentials: CredentialsMap = match &credentials {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_norway::from_str(&text)
                .with_context(|| format!("parsing credentials {}", path.display()))?
        }
        None => CredentialsMap::default(),
    };
    let groups = read_groups(&file)?;
    let stager = Stager::new(StagerConfig {
        staging_credentials: credentials.lookup(&staging).cloned(),
        staging_url: staging,
        cache: cache.into_cache(),
        limits,
        plain_http,
    })?;

    let mut out = Vec::with_capacity(groups.len());
    let mut failed = 0;
    for group in &groups {
        let stages = group
            .spec
            .applications
            .iter()
            .map(|app| stager.stage(app, credentials.lookup(&app.spec.chart.url)));
        let applications = futures::future::join_all(stages).await;
        failed += applications.iter().filter(|a| !a.is_staged()).count();
        out.push(GroupStaging {
            group: group.metadata.name.clone().unwrap_or_default(),
            applications,
        });
    }
    print!("{}", serde_norway::to_string(&out)?);
    anyhow::ensure!(failed == 0, "{failed} application(s) could not be staged");
    Ok(())
}

/// Reads every ApplicationGroup document of a YAML file (empty documents are skipped).
pub fn read_groups(path: &std::path::Path) -> anyhow::Result<Vec<ApplicationGroup>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut groups = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let value = serde_norway::Value::deserialize(document)
            .with_context(|| format!("{}: document {} is not YAML", path.display(), i + 1))?;
        if value.is_null() {
            continue;
        }
        // NB: through a JSON tree: the API types read their free-form fields from JSON only.
        let value: serde_json::Value = serde_norway::from_value(value).with_context(|| {
            format!(
                "{}: document {} is not a JSON-compatible YAML document",
                path.display(),
                i + 1
            )
        })?;
        let group: ApplicationGroup = serde_json::from_value(value).with_context(|| {
            format!(
                "{}: document {} is not an ApplicationGroup",
                path.display(),
                i + 1
            )
        })?;
        groups.push(group);
    }
    anyhow::ensure!(
        !groups.is_empty(),
        "{} holds no ApplicationGroup",
        path.display()
    );
    Ok(groups)
}
