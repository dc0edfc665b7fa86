//! The admission listener over real TLS on loopback: handshakes, chains, HTTP/2, rotation, drain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use orkestra_webhook::limits::Limits;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_review_over_tls_is_answered_with_its_uid() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    let answer = post_valid_review(server.tls_addr, ca.der()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(answer.serial, "1");
    server.stop().await;
}

#[tokio::test]
async fn alpn_offers_http2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    for protocol in [&b"h2"[..], b"http/1.1"] {
        let tls = tls_connect(server.tls_addr, client_config(ca.der(), &[protocol]))
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(protocol));
        let version = tls.get_ref().1.protocol_version().unwrap();
        assert!(matches!(
            version,
            rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2
        ));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_chain_is_served_to_a_client_trusting_only_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = Ca::root("test root");
    let intermediate = root.intermediate("test intermediate");
    let (leaf_pem, key_pem) = intermediate.leaf(77);
    let chain = format!("{leaf_pem}{}", intermediate.cert.pem());
    let (cert, key) = write_pair(dir.path(), &chain, &key_pem);
    let server = TestServer::start(cert, key, None, Limits::default()).await;
    let answer = post_valid_review(server.tls_addr, root.der()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.serial, "4d");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificate_rotation_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::root("test root");
    // A Secret volume: files are symlinks through `..data`, which the kubelet swaps atomically.
    let data_v1 = dir.path().join("..2026_v1");
    std::fs::create_dir(&data_v1).unwrap();
    let (leaf, key) = ca.leaf(1);
    write_pair(&data_v1, &leaf, &key);
    std::os::unix::fs::symlink("..2026_v1", dir.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tls.crt", dir.path().join("tls.crt")).unwrap();
    std::os::unix::fs::symlink("..data/tls.key", dir.path().join("tls.key")).unwrap();
    let server = TestServer::start(
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        None,
        Limits::default(),
    )
    .await;

    let config = client_config(ca.der(), &[]);
    let body = Arc::new(valid_review());
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed, new_serial_seen) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (config, body, stop, sent, failed, seen, addr) = (
            config.clone(),
            body.clone(),
            stop.clone(),
            sent.clone(),
            failed.clone(),
            new_serial_seen.clone(),
            server.tls_addr,
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::Relaxed);
                match post(addr, config.clone(), "/validate", &body).await {
                    Ok(answer)
                        if answer.status == 200 && answer.json()["response"]["allowed"] == true =>
                    {
                        if answer.serial == "2" {
                            seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    other => {
                        eprintln!("failed request: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Rotate the way the kubelet does: new directory, new symlink, rename over `..data`.
    let data_v2 = dir.path().join("..2026_v2");
    std::fs::create_dir(&data_v2).unwrap();
    let (leaf, key) = ca.leaf(2);
    write_pair(&data_v2, &leaf, &key);
    std::os::unix::fs::symlink("..2026_v2", dir.path().join("..data_tmp")).unwrap();
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
    std::fs::remove_dir_all(&data_v1).unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while new_serial_seen.load(Ordering::Relaxed) < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And a plain rewrite in place of the files (cert first, then key) must not fail a request either.
    let (leaf, key) = ca.leaf(3);
    std::fs::write(data_v2.join("tls.crt"), leaf).unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    std::fs::write(data_v2.join("tls.key"), key).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let last = post(server.tls_addr, config.clone(), "/validate", &body)
        .await
        .unwrap();
    eprintln!(
        "sent {} requests, {} failed",
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(
        new_serial_seen.load(Ordering::Relaxed) > 0,
        "the rotated certificate was never served"
    );
    assert_eq!(last.serial, "3");
    let (_, metrics) = admin_get(server.admin_addr, "/metrics").await;
    assert!(
        metrics.contains("orkestra_webhook_certificate_reloads_total 3"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_review_in_flight_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    let body = valid_review();
    let mut tls = tls_connect(server.tls_addr, client_config(ca.der(), &[]))
        .await
        .unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body[..body.len() / 2]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let addr = server.tls_addr;
    let shutdown = server.shutdown.clone();
    shutdown.cancel();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "new connections must be refused once shutting down"
    );

    tls.write_all(&body[body.len() / 2..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut raw))
        .await
        .unwrap();
    let answer = parse_http(&raw).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["response"]["allowed"], true);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn ready_once_certificate_and_policy_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::root("test root");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let policy = dir.path().join("policy.yaml");
    let server = TestServer::start(
        cert.clone(),
        key.clone(),
        Some(policy.clone()),
        Limits::default(),
    )
    .await;
    assert_eq!(admin_get(server.admin_addr, "/healthz").await.0, 200);
    let (status, text) = admin_get(server.admin_addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        text.contains("no serving certificate") && text.contains("no policy"),
        "{text}"
    );

    let (leaf, leaf_key) = ca.leaf(9);
    write_pair(dir.path(), &leaf, &leaf_key);
    std::fs::write(&policy, "forbiddenNamespaces: [kube-system]\n").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while admin_get(server.admin_addr, "/readyz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_server_still_serves(&server, &ca).await;

    // A broken policy keeps the last good one and is counted.
    std::fs::write(&policy, "maxApplications: [oops\n").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(admin_get(server.admin_addr, "/readyz").await.0, 200);
    let (_, metrics) = admin_get(server.admin_addr, "/metrics").await;
    assert!(
        metrics.contains("orkestra_webhook_policy_reload_failures_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"orkestra_webhook_reviews_total{endpoint="validate",operation="CREATE",result="allowed"} 1"#), "{metrics}");
    assert!(
        metrics.contains("orkestra_webhook_certificate_expiry_timestamp_seconds "),
        "{metrics}"
    );
    // No admission endpoint on the admin port.
    assert_eq!(admin_get(server.admin_addr, "/validate").await.0, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_share_one_connection() {
    use axum::body::Body;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    let tls = tls_connect(server.tls_addr, client_config(ca.der(), &[b"h2"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut streams = Vec::new();
    for i in 0..16 {
        let mut sender = sender.clone();
        let mut review = create(group("bookinfo", vec![app("web", &[])]));
        review["request"]["uid"] = serde_json::json!(format!("uid-{i}"));
        streams.push(tokio::spawn(async move {
            let request = axum::http::Request::post("https://localhost/validate")
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&review).unwrap()))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
                .await
                .unwrap();
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(answer["response"]["uid"], format!("uid-{i}"));
            assert_eq!(answer["response"]["allowed"], true);
        }));
    }
    for stream in streams {
        stream.await.unwrap();
    }
    server.stop().await;
}

/// A client that completes its handshake and then sends nothing held one of the listener's
/// connection slots for good (hyper-util's protocol detection waits without a deadline): enough
/// of them stop every review. Such a connection is closed once the header read deadline passes,
/// whichever protocol it negotiated.
#[tokio::test]
async fn a_client_that_sends_nothing_after_its_handshake_is_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        handshake_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (ca, server) = server_with_fresh_certs(dir.path(), limits).await;
    for protocol in [&b"h2"[..], b"http/1.1", b""] {
        let alpn: &[&[u8]] = if protocol.is_empty() {
            &[]
        } else {
            &[protocol]
        };
        let mut tls = tls_connect(server.tls_addr, client_config(ca.der(), alpn))
            .await
            .unwrap();
        let mut buffer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buffer)).await;
        assert!(
            closed.is_ok(),
            "a silent {:?} connection is still open after 5 s",
            String::from_utf8_lossy(protocol)
        );
    }
    // The listener still serves.
    let answer = post_valid_review(server.tls_addr, ca.der()).await;
    assert_eq!(answer.status, 200);
    server.stop().await;
}
