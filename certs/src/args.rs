//! Command line of `orkestra-certs`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::{CertRequest, CertsError, Outcome, ensure_dir};

/// Generate a CA and a webhook serving certificate (ca.crt, tls.crt with the chain, tls.key).
///
/// Idempotent: when all three files exist they are kept, unless --force.
#[derive(Parser, Debug, Clone)]
#[command(name = "orkestra-certs", version, about)]
pub struct Args {
    /// Directory to write ca.crt, tls.crt and tls.key into (created if missing).
    #[arg(long, env = "ORKESTRA_CERTS_OUT")]
    pub out: PathBuf,
    /// DNS name the certificate is valid for; repeat or separate with commas.
    #[arg(
        long = "dns-name",
        env = "ORKESTRA_CERTS_DNS_NAMES",
        value_delimiter = ','
    )]
    pub dns_names: Vec<String>,
    /// IP address the certificate is valid for; repeat or separate with commas.
    #[arg(long = "ip", env = "ORKESTRA_CERTS_IPS", value_delimiter = ',')]
    pub ips: Vec<IpAddr>,
    /// Validity of the CA and the certificate, in days.
    #[arg(long, env = "ORKESTRA_CERTS_DAYS", default_value_t = 365)]
    pub days: u32,
    /// Replace existing files.
    #[arg(long, env = "ORKESTRA_CERTS_FORCE")]
    pub force: bool,
}

/// Runs the command: writes (or keeps) the files and reports which on stderr.
pub fn run(args: Args) -> Result<Outcome, CertsError> {
    let Args {
        out,
        dns_names,
        ips,
        days,
        force,
    } = args;
    let outcome = ensure_dir(
        &out,
        &CertRequest {
            dns_names,
            ips,
            days,
        },
        force,
    )?;
    match outcome {
        Outcome::Written => eprintln!(
            "orkestra-certs: wrote ca.crt, tls.crt, tls.key to {}",
            out.display()
        ),
        Outcome::Kept => eprintln!(
            "orkestra-certs: {} already has certificates; kept (use --force to replace)",
            out.display()
        ),
    }
    Ok(outcome)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn names_can_be_repeated_or_comma_separated() {
        let args = Args::try_parse_from([
            "orkestra-certs",
            "--out",
            "x",
            "--dns-name",
            "a.svc,b.svc",
            "--dns-name",
            "c",
            "--ip",
            "127.0.0.1",
        ])
        .unwrap();
        assert_eq!(args.dns_names, ["a.svc", "b.svc", "c"]);
        assert_eq!(args.ips, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(args.days, 365);
    }

    #[test]
    fn a_bad_ip_is_a_clear_error() {
        let err = Args::try_parse_from(["orkestra-certs", "--out", "x", "--ip", "localhost"])
            .unwrap_err();
        assert!(err.to_string().contains("--ip"), "{err}");
    }
}
