//! `orkestra-controller run` as a process: what stops it at start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// An admin address in use stops the controller at start, naming the flag (before, the admin
/// server's task ended with the error unseen: the controller ran without health, readiness or
/// metrics, and only the liveness probe noticed).
#[test]
fn an_admin_address_in_use_stops_the_controller_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .args(["run", "--staging", "oci://127.0.0.1:1/charts"])
        .args(["--admin-addr", &address])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("--admin-addr {address}: cannot listen")),
        "{stderr}"
    );
}
