//! Command line: `serve` runs the admission server, `check` validates files offline.
//!
//! Every `serve` flag can also come from an `ORKESTRA_WEBHOOK_*` environment variable, which is how the
//! Helm chart configures the container.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Orkestra's admission webhook for ApplicationGroups, and an offline checker that runs the same rules.
#[derive(Debug, Parser)]
#[command(name = "orkestra-webhook", version, about)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve `POST /mutate` and `POST /validate` over TLS, and health and metrics over plain HTTP.
    Serve(ServeArgs),
    /// Default and validate ApplicationGroup manifests (YAML or JSON, one or many documents per file).
    /// Exit 0: all valid; 1: some invalid (one line per error on stderr); 2: usage or I/O error.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the TLS admission listener.
    #[arg(long, env = "ORKESTRA_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP admin listener (/healthz, /readyz, /metrics). No admission traffic.
    #[arg(
        long,
        env = "ORKESTRA_WEBHOOK_ADMIN_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub admin_listen: SocketAddr,

    /// PEM file with the serving certificate, optionally followed by its intermediates.
    /// Re-read when it changes.
    #[arg(long, env = "ORKESTRA_WEBHOOK_TLS_CERT")]
    pub tls_cert: PathBuf,

    /// PEM file with the private key of the serving certificate (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "ORKESTRA_WEBHOOK_TLS_KEY")]
    pub tls_key: PathBuf,

    /// YAML policy file (allowed chart URLs, forbidden namespaces, group size). Re-read when it
    /// changes; an invalid new version keeps the last good one. Default: the built-in policy.
    #[arg(long, env = "ORKESTRA_WEBHOOK_POLICY")]
    pub policy: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, env = "ORKESTRA_WEBHOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Ask the API server (SubjectAccessReview) whether the requester may `get` each Secret a
    /// group's `authSecretRef` adds, and deny when not. Needs a Kubernetes client (in cluster, or
    /// KUBECONFIG) with permission to create SubjectAccessReviews.
    #[arg(long, env = "ORKESTRA_WEBHOOK_CHECK_SECRET_ACCESS", default_value_t = true, action = clap::ArgAction::Set)]
    pub check_secret_access: bool,

    /// Where the controller looks for an `authSecretRef` that names no namespace: the
    /// controller's `--secret-namespace` (default: its workflow namespace).
    #[arg(long, env = "ORKESTRA_WEBHOOK_SECRET_NAMESPACE", default_value = orkestra_shared::plan::DEFAULT_WORKFLOW_NAMESPACE)]
    pub secret_namespace: String,

    /// The username the controller writes groups as (`system:serviceaccount:NAMESPACE:NAME`): the
    /// only requester that may set the `last-successful-appgroup` annotation, which records the
    /// spec a rollback installs and the applications an update uninstalls. Unset: nobody may.
    #[arg(long, env = "ORKESTRA_WEBHOOK_CONTROLLER_USERNAME")]
    pub controller_username: Option<String>,

    /// How often the certificate, key and policy files are polled for changes. Polling, not inotify:
    /// Secret and ConfigMap volumes are updated by swapping a `..data` symlink.
    #[arg(long, env = "ORKESTRA_WEBHOOK_RELOAD_INTERVAL", default_value = "2s", value_parser = reload_interval)]
    pub reload_interval: Duration,

    /// After SIGTERM, how long the webhook keeps accepting reviews while reporting not ready,
    /// before it stops accepting and drains: the API server may still send reviews to a pod until
    /// the pod is out of its Service's endpoints, and a refused connection fails the review.
    #[arg(long, env = "ORKESTRA_WEBHOOK_SHUTDOWN_DELAY", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_delay: Duration,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// YAML policy file to check against. Default: the built-in policy.
    #[arg(long, env = "ORKESTRA_WEBHOOK_POLICY")]
    pub policy: Option<PathBuf>,

    /// Print the defaulted ApplicationGroups as YAML documents on stdout.
    #[arg(long)]
    pub print_defaulted: bool,

    /// Files to check; `-` reads standard input.
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The shortest poll period of the mounted files: shorter only burns CPU (and `0s` would stop the
/// reloads for good).
const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

fn reload_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if interval < MIN_RELOAD_INTERVAL {
        return Err(format!(
            "{text:?} is shorter than the shortest poll period, {}",
            humantime::format_duration(MIN_RELOAD_INTERVAL)
        ));
    }
    Ok(interval)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn serve_flags_parse_with_defaults() {
        let args = Args::try_parse_from([
            "orkestra-webhook",
            "serve",
            "--tls-cert",
            "/c.pem",
            "--tls-key",
            "/k.pem",
        ])
        .unwrap();
        let Command::Serve(serve) = args.command else {
            panic!("expected serve");
        };
        assert_eq!(serve.listen.port(), 8443);
        assert_eq!(serve.admin_listen.port(), 8080);
        assert_eq!(serve.reload_interval, Duration::from_secs(2));
        assert_eq!(serve.log_format, LogFormat::Text);
        assert!(serve.policy.is_none());
        assert!(serve.check_secret_access);
        assert_eq!(serve.secret_namespace, "orkestra");
    }

    #[test]
    fn check_needs_a_file() {
        assert!(Args::try_parse_from(["orkestra-webhook", "check"]).is_err());
    }
}
