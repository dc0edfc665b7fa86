//! `orkestra-webhook serve` as a real process: flags, readiness, JSON logs, SIGTERM exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `orkestra-webhook serve` with a fresh certificate, `args` added; answered `/readyz`.
struct Served {
    child: std::process::Child,
    ca: Ca,
    port: u16,
    admin: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(args: &[&str]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::root("test root");
        let (leaf, key) = ca.leaf(5);
        let (cert, key) = write_pair(dir.path(), &leaf, &key);
        let (port, admin_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_orkestra-webhook"))
            .arg("serve")
            // No API server here: the Secret access check has its own end-to-end tests.
            .env("ORKESTRA_WEBHOOK_CHECK_SECRET_ACCESS", "false")
            .env("ORKESTRA_WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "ORKESTRA_WEBHOOK_ADMIN_LISTEN",
                format!("127.0.0.1:{admin_port}"),
            )
            .env("ORKESTRA_WEBHOOK_TLS_CERT", &cert)
            .env("ORKESTRA_WEBHOOK_TLS_KEY", &key)
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let admin = format!("127.0.0.1:{admin_port}").parse().unwrap();
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(admin).await.is_ok()
                && admin_get(admin, "/readyz").await.0 == 200
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Served {
            child,
            ca,
            port,
            admin,
            _dir: dir,
        }
    }

    /// The `allowed` of a review of a group with an unknown dependency (always denied).
    async fn review(&self) -> serde_json::Value {
        let denied = create(group("bookinfo", vec![app("web", &["db"])]));
        let answer = post(
            format!("127.0.0.1:{}", self.port).parse().unwrap(),
            client_config(self.ca.der(), &[]),
            "/validate",
            &serde_json::to_vec(&denied).unwrap(),
        )
        .await
        .unwrap();
        answer.json()["response"]["allowed"].clone()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (at most `within`) for the process to exit: its status and when.
    async fn exited(&mut self, within: Duration) -> (std::process::ExitStatus, Instant) {
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return (exit, Instant::now());
            }
            assert!(started.elapsed() < within, "did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_reviews_logs_json_and_exits_0_on_sigterm() {
    let mut served = Served::start(&["--log-format", "json", "--shutdown-delay", "0s"]).await;
    assert_eq!(served.review().await, false);
    served.terminate();
    let (exit, _) = served.exited(Duration::from_secs(20)).await;
    assert_eq!(exit.code(), Some(0));
    let mut logs = String::new();
    served
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let denial = lines
        .iter()
        .find(|l| l["message"] == "review denied")
        .unwrap_or_else(|| panic!("{logs}"));
    assert_eq!(
        denial["span"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
        "{denial}"
    );
    assert_eq!(denial["span"]["operation"], "CREATE", "{denial}");
    // NB: not `name`: the JSON formatter uses that key for the span's own name.
    assert_eq!(denial["span"]["object_name"], "bookinfo", "{denial}");
    assert_eq!(denial["span"]["allowed"], false, "{denial}");
    assert!(
        denial["errors"]
            .as_str()
            .unwrap()
            .contains("spec.applications[0].dependencies[0]"),
        "{denial}"
    );
    // Field paths only: never the object's values (the unknown dependency's name is a value).
    assert!(
        !logs.contains("\"db\"") && !logs.contains("charts.example.com"),
        "{logs}"
    );
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{logs}");
}

/// After SIGTERM the webhook reports not ready at once but still answers reviews, on new
/// connections too, for `--shutdown-delay`; then it stops and exits 0. The API server may send
/// reviews to a pod until the pod leaves its Service's endpoints, and a refused connection fails
/// the review (`failurePolicy: Fail`); before, the listener closed at the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_reviews_are_answered_while_not_ready_until_the_delay_passes() {
    let delay = Duration::from_secs(3);
    let mut served = Served::start(&["--shutdown-delay", "3s"]).await;
    served.terminate();
    let signalled = Instant::now();
    let started = Instant::now();
    loop {
        let (status, body) = admin_get(served.admin, "/readyz").await;
        if status == 503 {
            assert!(body.contains("shutting down"), "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "still ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(served.review().await, false, "answered while shutting down");
    assert!(
        signalled.elapsed() < delay,
        "the review came in within the delay"
    );
    let (exit, at) = served.exited(Duration::from_secs(20)).await;
    assert_eq!(exit.code(), Some(0));
    assert!(
        at.duration_since(signalled) >= delay - Duration::from_millis(200),
        "stopped before the delay: {:?}",
        at.duration_since(signalled)
    );
}

/// A zero poll period would stop every reload of the certificate and policy (it panicked the
/// reload task): refused at start, naming the flag.
#[test]
fn a_reload_interval_under_100ms_is_refused() {
    for interval in ["0s", "1ns", "99ms"] {
        let out = Command::new(env!("CARGO_BIN_EXE_orkestra-webhook"))
            .args(["serve", "--tls-cert", "x.crt", "--tls-key", "x.key"])
            .args(["--reload-interval", interval])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--reload-interval")
                && stderr.contains("shorter than the shortest poll period, 100ms"),
            "{stderr}"
        );
    }
}
