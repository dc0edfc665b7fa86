//! Staging one application: pull → split → check values → package → push.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use orkestra_shared::crd::Application;
use orkestra_shared::free_form::FreeForm;
use serde_json::Value;

use crate::staging::cache::ChartCache;
use crate::staging::credentials::{Credentials, base_client_builder};
use crate::staging::error::{ApplicationError, StagingError};
use crate::staging::limits::Limits;
use crate::staging::outcome::{ApplicationStaging, StagedChart};
use crate::staging::plain_http::PlainHttp;
use crate::staging::prepare::chart::Chart;
use crate::staging::prepare::package::ChartToPush;
use crate::staging::prepare::reuse::{Prepared, PreparedCharts};
use crate::staging::prepare::split::split;
use crate::staging::prepare::values::{check_schema, subchart_values};
use crate::staging::source::{Fetch, Pulled, Source, pull};
use crate::staging::target::StagingTarget;
use orkestra_shared::names::staged_chart_name;
use orkestra_shared::version::VersionConstraint;

/// How to stage.
#[derive(Debug, Clone, Default)]
pub struct StagerConfig {
    /// `oci://host/path` (default kind) or an http(s) ChartMuseum URL.
    pub staging_url: String,
    /// Credentials for the staging repository.
    pub staging_credentials: Option<Credentials>,
    /// Where fetched archives are cached ([`ChartCache::disabled`] by default).
    pub cache: ChartCache,
    /// Size limits of what is read.
    pub limits: Limits,
    /// Which OCI registries are spoken to in plain HTTP.
    pub plain_http: PlainHttp,
}

/// Stages applications' charts into one staging repository. Cheap to share (`&self` methods);
/// create one per process.
#[derive(Debug)]
pub struct Stager {
    http: reqwest::Client,
    cache: ChartCache,
    limits: Limits,
    plain_http: PlainHttp,
    target: StagingTarget,
    prepared: PreparedCharts,
    pulls_in_flight: Mutex<HashMap<PullKey, Arc<OnceCell<Arc<Pulled>>>>>,
}

/// (repository URL, chart name, version constraint) of a pull without credentials.
type PullKey = (String, String, String);

impl Stager {
    /// Builds the HTTP clients; fails on a malformed staging URL or credentials.
    pub fn new(config: StagerConfig) -> Result<Self, StagingError> {
        let StagerConfig {
            staging_url,
            staging_credentials,
            cache,
            limits,
            plain_http,
        } = config;
        let http =
            base_client_builder()
                .build()
                .map_err(|err| StagingError::InvalidCredentials {
                    url: staging_url.clone(),
                    reason: err.to_string(),
                })?;
        let target = StagingTarget::new(&staging_url, staging_credentials, limits, &plain_http)?;
        Ok(Self {
            http,
            cache,
            limits,
            plain_http,
            target,
            prepared: PreparedCharts::default(),
            pulls_in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The staging repository URL.
    pub fn staging_url(&self) -> String {
        self.target.url()
    }

    /// True when the staging repository is an OCI registry spoken to in plain HTTP.
    pub fn staging_is_plain_http(&self) -> bool {
        self.target.is_plain_http()
    }

    /// Stages `app` with its repository `credentials`. Never fails as a whole: errors are in the
    /// result, on the application and on the subchart concerned, naming both.
    pub async fn stage(
        &self,
        app: &Application,
        credentials: Option<&Credentials>,
    ) -> ApplicationStaging {
        let chart_ref = &app.spec.chart;
        let mut result = ApplicationStaging {
            name: app.name.clone(),
            chart: StagedChart::named(&chart_ref.name),
            subcharts: app
                .spec
                .subcharts
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        StagedChart::named(&staged_chart_name(&chart_ref.name, &s.name)),
                    )
                })
                .collect(),
        };
        if let Err(err) = self.try_stage(app, credentials, &mut result).await {
            result.chart.fail(&err);
            let failed_sub = err.chart.split_once('/').map(|(_, sub)| sub.to_owned());
            for (name, sub) in &mut result.subcharts {
                sub.staged = false;
                if failed_sub.as_deref() == Some(name.as_str()) {
                    sub.fail(&err);
                }
            }
            tracing::warn!(application = %app.name, category = err.source.category(), "staging failed: {err}");
        }
        result
    }

    /// Pulls `source`. Stagings that pull the same chart and version constraint from the same
    /// public repository at the same moment share one pull (under load many groups stage the same
    /// charts at once); a pull that started after another ended asks the repository again, so
    /// nothing is answered from an older index than it would be otherwise. Pulls with credentials
    /// are never shared.
    async fn pull(&self, source: Source<'_>) -> Result<Arc<Pulled>, StagingError> {
        let pull_now = || async {
            let fetch = Fetch {
                http: &self.http,
                cache: &self.cache,
                limits: &self.limits,
                plain_http: &self.plain_http,
            };
            pull(fetch, source).await.map(Arc::new)
        };
        if source.credentials.is_some() {
            return pull_now().await;
        }
        let key: PullKey = (
            source.url.to_owned(),
            source.name.to_owned(),
            source.version.to_string(),
        );
        let cell = match self.pulls_in_flight.lock() {
            Ok(mut in_flight) => in_flight.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::new(OnceCell::new()),
        };
        let pulled = cell.get_or_try_init(pull_now).await.cloned();
        // The first to finish ends the sharing; a failed pull is not shared (each waiter tries).
        if let Ok(mut in_flight) = self.pulls_in_flight.lock()
            && in_flight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            in_flight.remove(&key);
        }
        pulled
    }

    async fn try_stage(
        &self,
        app: &Application,
        credentials: Option<&Credentials>,
        result: &mut ApplicationStaging,
    ) -> Result<(), ApplicationError> {
        let chart_ref = &app.spec.chart;
        let fail = |chart: &str, source: StagingError| ApplicationError {
            application: app.name.clone(),
            chart: chart.to_owned(),
            source,
        };
        let parent_fail = |source| fail(&chart_ref.name, source);

        let spec = VersionConstraint::parse(chart_ref.version.as_deref().unwrap_or(""))
            .map_err(|e| parent_fail(StagingError::InvalidSpec(e)))?;
        let source = Source {
            url: &chart_ref.url,
            name: &chart_ref.name,
            version: &spec,
            credentials,
        };
        let pulled = self.pull(source).await.map_err(parent_fail)?;
        result.chart.version = pulled.version.clone();
        let label = format!("{} {}", chart_ref.name, pulled.version);
        let wanted: Vec<String> = app.spec.subcharts.iter().map(|s| s.name.clone()).collect();
        let sub_label = |sub: &str| format!("{}/{sub}", chart_ref.name);
        let preparation = Preparation {
            application: app.name.clone(),
            chart: chart_ref.name.clone(),
            label: label.clone(),
            subcharts: wanted.clone(),
            archive: pulled.clone(),
            limits: self.limits,
        };
        let prepared = self
            .prepared
            .get_or_prepare(&pulled.sha256, pulled.bytes.len(), &wanted, || {
                // NB: unpacking, splitting and packaging a large chart take CPU for a while: off
                // the runtime's threads, which also keep the leader lease and the watches going.
                async {
                    tokio::task::spawn_blocking(move || preparation.run())
                        .await
                        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
                }
            })
            .await
            .map_err(|e: Box<ApplicationError>| *e)?;
        // Kept archives were checked when prepared, but maybe for a chart of another name.
        check_name(&prepared.parent, &chart_ref.name, &label).map_err(parent_fail)?;
        for sub in &prepared.subcharts {
            let entry = result.subcharts.entry(sub.subchart.clone()).or_default();
            entry.chart = sub.chart.name.clone();
            entry.version = sub.chart.version.clone();
            entry.values_key = Some(sub.key.clone());
        }

        // Values are checked for every chart before anything is pushed; on the blocking pool, as
        // a large schema takes a while.
        let release_values = app.spec.release.values.as_ref().map(FreeForm::to_value);
        let checked = {
            let prepared = Arc::clone(&prepared);
            tokio::task::spawn_blocking(move || check_values(&prepared, release_values.as_ref()))
                .await
                .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
        };
        match checked {
            Ok(()) => {}
            Err((None, source)) => return Err(parent_fail(source)),
            Err((Some(subchart), source)) => return Err(fail(&sub_label(&subchart), source)),
        }

        let pushed = prepared
            .push_with(|| self.target.push(&prepared.charts))
            .await
            .map_err(|e| parent_fail(e.on_staging()))?;
        let mut pushed = pushed.into_iter();
        for sub in &prepared.subcharts {
            if let (Some(entry), Some(p)) = (result.subcharts.get_mut(&sub.subchart), pushed.next())
            {
                entry.pushed(p);
            }
        }
        if let Some(p) = pushed.next() {
            result.chart.pushed(p);
        }
        Ok(())
    }
}

/// Checks the values every chart of `prepared` gets (the release's `values` over the parent's
/// defaults; the parent's section for each split subchart) against its schema; the failing
/// subchart (`None`: the parent) and why.
fn check_values(
    prepared: &Prepared,
    release_values: Option<&Value>,
) -> Result<(), (Option<String>, StagingError)> {
    check_schema(&prepared.parent, release_values).map_err(|source| (None, source))?;
    let empty = Value::Object(Default::default());
    for sub in &prepared.subcharts {
        let overlay = subchart_values(&empty, release_values.unwrap_or(&empty), &sub.key);
        check_schema(&sub.chart, Some(&overlay))
            .map_err(|source| (Some(sub.subchart.clone()), source))?;
    }
    Ok(())
}

/// What preparing a pulled archive for pushing needs, owned (it runs on the blocking pool).
struct Preparation {
    application: String,
    chart: String,
    /// `<chart> <version>`, for errors.
    label: String,
    subcharts: Vec<String>,
    archive: Arc<Pulled>,
    limits: Limits,
}

impl Preparation {
    /// Unpacks the archive, splits the subcharts out and packages every chart.
    // NB: the error is boxed, as ApplicationError is large for a Result's error.
    fn run(self) -> Result<Prepared, Box<ApplicationError>> {
        let fail = |chart: String, source| {
            Box::new(ApplicationError {
                application: self.application.clone(),
                chart,
                source,
            })
        };
        let parent_fail = |source| fail(self.chart.clone(), source);
        let chart =
            Chart::from_tgz(&self.label, &self.archive.bytes, &self.limits).map_err(parent_fail)?;
        check_name(&chart, &self.chart, &self.label).map_err(parent_fail)?;
        let split = split(chart, &self.subcharts, &self.limits).map_err(parent_fail)?;
        let mut charts = Vec::with_capacity(split.subcharts.len() + 1);
        for sub in &split.subcharts {
            let sub_chart = format!("{}/{}", self.chart, sub.subchart);
            charts.push(ChartToPush::new(&sub.chart).map_err(|s| fail(sub_chart, s))?);
        }
        charts.push(ChartToPush::new(&split.parent).map_err(parent_fail)?);
        Ok(Prepared::new(split, charts))
    }
}

/// Refuses an archive whose Chart.yaml names another chart than the spec.
fn check_name(chart: &Chart, wanted: &str, label: &str) -> Result<(), StagingError> {
    if chart.name == wanted {
        return Ok(());
    }
    Err(StagingError::invalid_chart(
        label,
        format!("the archive holds chart {:?}, not {wanted:?}", chart.name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reconciler runs staging inside spawned tasks: the future must be `Send + 'static`
    /// once it owns its inputs. A compile-time check; nothing is contacted.
    #[test]
    fn staging_futures_can_be_spawned() {
        fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
        let stager = std::sync::Arc::new(Stager::new(StagerConfig {
            staging_url: "oci://127.0.0.1:1/x".into(),
            ..StagerConfig::default()
        }));
        spawnable(async move {
            let app = Application::default();
            if let Ok(stager) = stager.as_ref() {
                stager.stage(&app, None).await;
            }
        });
    }
}
