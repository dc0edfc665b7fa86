//! `orkestra-controller run` as a process: what stops it at start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// `orkestra-controller run --staging … <args>`, with no cluster to reach: its exit and stderr.
fn run_without_cluster(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .args(["run", "--staging", "oci://127.0.0.1:1/charts"])
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A renewal period not shorter than the Lease stops the controller at start, naming both flags
/// (before, it was found only when the Lease was taken: the replicas had reported ready, then
/// exited, and nothing reconciled).
#[test]
fn a_lease_renewal_not_shorter_than_the_lease_stops_the_controller_at_start() {
    for (duration, renew) in [("15s", "20s"), ("15s", "15s"), ("15s", "0s")] {
        let (succeeded, stderr) = run_without_cluster(&[
            "--admin-addr",
            "127.0.0.1:0",
            "--lease-duration",
            duration,
            "--lease-renew",
            renew,
        ]);
        assert!(!succeeded, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--lease-renew {renew} must be more than zero and shorter than --lease-duration {duration}"
            )),
            "{stderr}"
        );
        assert!(
            !stderr.contains("connecting"),
            "stopped before anything else: {stderr}"
        );
    }
}

/// An admin address in use stops the controller at start, naming the flag (before, the admin
/// server's task ended with the error unseen: the controller ran without health, readiness or
/// metrics, and only the liveness probe noticed).
#[test]
fn an_admin_address_in_use_stops_the_controller_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (succeeded, stderr) = run_without_cluster(&["--admin-addr", &address]);
    assert!(!succeeded, "{stderr}");
    assert!(
        stderr.contains(&format!("--admin-addr {address}: cannot listen")),
        "{stderr}"
    );
}
