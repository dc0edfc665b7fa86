//! Step 2 for a generation: stage every application's chart, with the credentials of the Secret
//! its `authSecretRef` names, and turn the outcome into `status.applications` and the plan's
//! [`Resolved`].

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use orkestra_shared::crd::{Application, ApplicationGroupSpec, ApplicationStatus};
use orkestra_shared::plan::{Resolved, ResolvedApplication, ResolvedSubchart};

use super::context::Context;
use crate::staging::{ApplicationStaging, Credentials};

/// The staging outcome of a whole spec.
#[derive(Debug, Clone, Default)]
pub struct StagedSpec {
    /// `status.applications`, in spec order (HelmRelease conditions empty).
    pub applications: Vec<ApplicationStatus>,
    /// What the plan needs.
    pub resolved: Resolved,
    /// The first failure: message, and whether it may heal by itself.
    pub failure: Option<(String, bool)>,
}

/// Stages every application of `spec` concurrently.
pub async fn stage(ctx: &Context, spec: &ApplicationGroupSpec) -> StagedSpec {
    let stages = spec.applications.iter().map(|app| stage_one(ctx, app));
    let results = futures::future::join_all(stages).await;
    let mut out = StagedSpec::default();
    let mut transient = true;
    for result in results {
        match result {
            Ok(staging) => {
                if !staging.is_staged() {
                    let message = staging.error().unwrap_or("not staged").to_owned();
                    transient &= matches!(staging.error_category(), Some("unreachable"));
                    out.failure.get_or_insert((message, false));
                }
                out.resolved
                    .applications
                    .insert(staging.name.clone(), resolved(&staging));
                out.applications.push(staging.to_status());
            }
            Err(status) => {
                transient = false;
                out.failure
                    .get_or_insert((status.chart.error.clone(), false));
                out.applications.push(status);
            }
        }
    }
    if let Some((_, t)) = &mut out.failure {
        *t = transient;
    }
    out
}

/// Stages one application; `Err` carries the status of an application whose credentials could
/// not be read.
async fn stage_one(
    ctx: &Context,
    app: &Application,
) -> Result<ApplicationStaging, ApplicationStatus> {
    let credentials = match credentials(ctx, app).await {
        Ok(credentials) => credentials,
        Err(message) => {
            let mut status = ApplicationStatus {
                name: app.name.clone(),
                ..ApplicationStatus::default()
            };
            status.chart.error = format!("application {}: {message}", app.name);
            return Err(status);
        }
    };
    Ok(stage_boxed(&ctx.stager, app, credentials.as_ref()).await)
}

/// NB: boxed as a `Send` future here, where the lifetimes are concrete: the Controller's spawned
/// reconcile future otherwise hits rustc's "`Send` is not general enough" on staging's streams.
fn stage_boxed<'a>(
    stager: &'a crate::staging::Stager,
    app: &'a Application,
    credentials: Option<&'a Credentials>,
) -> futures::future::BoxFuture<'a, ApplicationStaging> {
    Box::pin(stager.stage(app, credentials))
}

/// The credentials of the Secret named by the application's `authSecretRef`, if any.
async fn credentials(ctx: &Context, app: &Application) -> Result<Option<Credentials>, String> {
    let Some(reference) = &app.spec.chart.auth_secret_ref else {
        return Ok(None);
    };
    let name = reference.name.as_deref().unwrap_or_default();
    let namespace = reference
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&ctx.config.secret_namespace);
    let allowed = &ctx.config.allowed_secret_namespaces;
    if !allowed.iter().any(|n| n == namespace) {
        return Err(format!(
            "authSecretRef names Secret {namespace}/{name}, but the controller reads chart credentials only from namespace(s) {} (see --allowed-secret-namespace)",
            allowed.join(", ")
        ));
    }
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|err| format!("cannot read the authSecretRef Secret {namespace}/{name}: {err}"))?
        .ok_or_else(|| format!("the authSecretRef Secret {namespace}/{name} does not exist"))?;
    Ok(Some(Credentials::from_secret(&secret)))
}

/// What the plan needs from one application's staging.
fn resolved(staging: &ApplicationStaging) -> ResolvedApplication {
    let version = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    ResolvedApplication {
        version: version(&staging.chart.version),
        subcharts: staging
            .subcharts
            .iter()
            .map(|(name, sub)| {
                (
                    name.clone(),
                    ResolvedSubchart {
                        version: version(&sub.version),
                        values_key: sub.values_key.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// The [`Resolved`] recorded in a status (versions of the generation that was staged), for plans
/// made without staging again (reverse, and the deletions of a rollback). Values keys are not
/// recorded; deletions do not need them.
pub fn resolved_from_status(applications: &[ApplicationStatus]) -> Resolved {
    Resolved::from_status(applications)
}
