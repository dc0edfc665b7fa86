//! `orkestra-controller executor --action install|delete --helmrelease <reference|base64> --timeout <duration>`:
//! the step each Argo workflow pod runs (the `helmrelease` leaf of `orkestra_shared::plan`).
//!
//! - **input** ([`input`]): the HelmRelease, read from the ConfigMap key the plan refers to
//!   (`configmap:<namespace>/<name>/<key>@sha256:<digest>`, refused unless the value has that
//!   digest), or given inline as base64 of its JSON.
//! - **ownership** ([`ownership`]): a step writes or deletes only a HelmRelease its own group made
//!   (its owner label), or one that does not exist yet; another's fails an install (exit status 1)
//!   and is left in place by a delete.
//! - **install**: creates the HelmRelease's namespace when missing, server-side applies the
//!   HelmRelease (field manager [`FIELD_MANAGER`], forced: the workflow owns these fields, a
//!   leftover manager from an older run must not block it), then watches it until Flux reports
//!   `Ready=True` at the applied generation for `--ready-checks` consecutive checks
//!   `--check-interval` apart. Consecutive checks, because Flux briefly reports Ready between a
//!   successful Helm action and its post-action checks, and a spec change by someone else resets the
//!   generation. A terminal Flux failure ([`status`]) fails the step at once.
//! - **delete**: deletes the HelmRelease (Flux's finalizer uninstalls the Helm release) and watches it
//!   until it is gone. Already gone is success.
//!
//! Everything, the first API call included, is bounded by `--timeout` (the plan passes the
//! release's Helm timeout). Waits use a watch on the one object (`metadata.name` field selector,
//! quorum reads on relist), not polling; watch errors are retried with backoff until the timeout,
//! except 401/403, which retrying cannot fix (exit status 4 at once).
//!
//! Exit status (see [`error`]): 0 done; 1 the release failed or vanished; 2 bad input, nothing
//! written; 3 timeout; 4 Kubernetes API error. Errors are one line on stderr (`error: …`);
//! progress lines go to stdout, which Argo keeps as the step's log.
//!
//! RBAC of the workflow pods' service account: `configmaps` get in the Workflow's namespace (the
//! reference); `namespaces` create (get, when create is refused for an existing namespace);
//! `helmreleases.helm.toolkit.fluxcd.io` get, list, watch, patch and delete.
//!
//! The `keptn` leaf of the plan calls `executor --type keptn … --params`; Keptn evaluation is not
//! implemented in this version, so that call fails with exit status 2 and says so.

pub mod delete;
pub mod error;
pub mod input;
pub mod install;
pub mod limit;
pub mod ownership;
pub mod release_api;

use std::time::Duration;

use tokio::time::Instant;

pub use error::ExecutorError;
pub use limit::{Limit, ReadyChecks};
pub use release_api::{FIELD_MANAGER, helm_releases, watch_release};

/// What the step does with the HelmRelease.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or update it and wait until Flux reports it ready.
    Install,
    /// Delete it and wait until it is gone.
    Delete,
}

/// Which leaf of the plan calls the executor.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutorType {
    /// The HelmRelease executor (this module).
    #[default]
    Helmrelease,
    /// Keptn quality gates: not implemented in this version.
    Keptn,
}

/// Arguments of the `executor` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecutorArgs {
    /// What to do with the HelmRelease.
    #[arg(long, value_enum, env = "ORKESTRA_EXECUTOR_ACTION")]
    pub action: Action,

    /// The HelmRelease (helm.toolkit.fluxcd.io/v2): `configmap:<namespace>/<name>/<key>@sha256:<digest>`
    /// of the ConfigMap key holding its JSON, or base64 of its JSON.
    #[arg(long, env = "ORKESTRA_EXECUTOR_HELMRELEASE")]
    pub helmrelease: String,

    /// Upper bound of the whole step, as a Go duration ("5m", "1h30m").
    #[arg(long, env = "ORKESTRA_EXECUTOR_TIMEOUT", default_value = "5m", value_parser = parse_positive_duration)]
    pub timeout: Duration,

    /// Consecutive checks that must see the release ready before install succeeds.
    #[arg(long, env = "ORKESTRA_EXECUTOR_READY_CHECKS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub ready_checks: u32,

    /// Time between readiness checks.
    #[arg(long, env = "ORKESTRA_EXECUTOR_CHECK_INTERVAL", default_value = "1s", value_parser = parse_positive_duration)]
    pub check_interval: Duration,

    /// Which executor the workflow leaf asks for.
    #[arg(long = "type", value_enum, env = "ORKESTRA_EXECUTOR_TYPE", default_value_t = ExecutorType::Helmrelease)]
    pub executor_type: ExecutorType,

    /// Executor parameters as JSON (Keptn and custom leaves); unused by the HelmRelease executor.
    #[arg(long, env = "ORKESTRA_EXECUTOR_PARAMS")]
    pub params: Option<String>,
}

/// Runs the `executor` subcommand; on failure prints `error: <one line>` to stderr and exits with
/// the error's status (never returns an error to `main`, whose exit status would always be 1).
pub async fn main(args: ExecutorArgs) -> anyhow::Result<()> {
    match run(args).await {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("error: {}", crate::kube_error::one_line(&e.to_string()));
            std::process::exit(e.exit_code());
        }
    }
}

/// Runs one step: checks the input, then installs or deletes.
pub async fn run(args: ExecutorArgs) -> Result<(), ExecutorError> {
    let ExecutorArgs {
        action,
        helmrelease,
        timeout,
        ready_checks,
        check_interval,
        executor_type,
        params: _,
    } = args;
    if executor_type == ExecutorType::Keptn {
        // NB: a keptn step installs nothing here, so its delete (first in a teardown, after the
        // deployment it evaluates) has nothing to remove; failing it would stop the teardown
        // before the application's own release is deleted.
        return match action {
            Action::Install => Err(ExecutorError::Input(
                orkestra_shared::warnings::KEPTN_UNSUPPORTED.into(),
            )),
            Action::Delete => {
                println!(
                    "keptn step: nothing to remove (keptn steps install nothing in this version)"
                );
                Ok(())
            }
        };
    }
    let given = input::Given::parse(&helmrelease)?;
    let mut limit = Limit {
        deadline: Instant::now() + timeout,
        timeout,
        subject: given.subject(),
    };
    let client = limit
        .bounded("a Kubernetes client is ready", kube::Client::try_default())
        .await?
        .map_err(ExecutorError::Client)?;
    let target = given.resolve(&client, &limit).await?;
    limit.subject = target.subject();
    match action {
        Action::Install => {
            install::run(
                client,
                &target,
                &limit,
                ReadyChecks {
                    count: ready_checks,
                    interval: check_interval,
                },
            )
            .await
        }
        Action::Delete => delete::run(client, &target, &limit).await,
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = orkestra_shared::duration::parse(text)?;
    if duration.is_zero() {
        Err(format!("duration {text:?} must be more than zero"))
    } else {
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_be_positive() {
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("soon").is_err());
        assert_eq!(parse_positive_duration("2s"), Ok(Duration::from_secs(2)));
    }
}
