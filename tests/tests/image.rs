//! The images of the root `Dockerfile`: each target builds, runs its binary as the non-root user
//! the chart's pod security context expects, and answers `--help`.
//!
//! Needs a Docker daemon. Where none runs (this project's own test machines have none: no image
//! can be pulled here, and no daemon can be started), the test says so and passes without
//! checking: the Dockerfile's build stage runs the same `cargo build --release` as the
//! benchmarks, and the chart tests run the same binaries out of cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn docker(args: &[&str]) -> (bool, String) {
    match Command::new("docker").args(args).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(err) => (false, err.to_string()),
    }
}

#[test]
fn each_image_builds_and_runs_its_binary_as_a_non_root_user() {
    let (ran, why) = docker(&["info", "--format", "{{.ServerVersion}}"]);
    // NB: `docker info` exits 0 with a client but no daemon; the server version is then empty.
    let daemon = ran && why.lines().next().is_some_and(|l| !l.trim().is_empty());
    if !daemon {
        eprintln!(
            "SKIPPED each_image_builds_and_runs_its_binary_as_a_non_root_user: no Docker daemon \
             here ({})",
            why.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("`docker info` failed")
        );
        return;
    }
    let root = orkestra_tests::cluster::repo_root();
    for (target, binary) in [
        ("controller", "orkestra-controller"),
        ("webhook", "orkestra-webhook"),
    ] {
        let tag = format!("orkestra-test/{target}:latest");
        let (built, log) = docker(&[
            "build",
            "--target",
            target,
            "-t",
            &tag,
            root.to_str().unwrap(),
        ]);
        assert!(built, "docker build --target {target} failed:\n{log}");
        let (_, user) = docker(&["inspect", "--format", "{{.Config.User}}", &tag]);
        assert_eq!(user.trim(), "65532:65532", "{target} runs as {user}");
        let (answered, help) = docker(&["run", "--rm", &tag, "--help"]);
        assert!(answered && help.contains(binary), "{target}: {help}");
    }
}
