//! What the TLS port refuses, over real TLS on loopback: TLS 1.1, plain HTTP, clients that stall in
//! the handshake or the headers. Each is refused and the server keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use orkestra_webhook::limits::Limits;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn tls_1_1_client_hello_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    let mut tcp = TcpStream::connect(server.tls_addr).await.unwrap();
    tcp.write_all(&tls_1_1_client_hello()).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut reply))
        .await
        .unwrap();
    // A fatal protocol_version alert: never a ServerHello (handshake record 0x16).
    assert_eq!(
        reply,
        [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 70],
        "server answered a TLS 1.1 hello with {reply:?}"
    );
    assert_server_still_serves(&server, &ca).await;
    server.stop().await;
}

/// A ClientHello with legacy_version TLS 1.1 (0x0302) and no supported_versions extension: what a
/// TLS 1.1-only client sends. It offers suites, groups and signature schemes the server accepts, so
/// the version is the only reason to refuse it.
fn tls_1_1_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    let suites: [u16; 6] = [0xc02b, 0xc02f, 0xc013, 0xc014, 0x002f, 0x0035];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    // extensions: server_name "localhost"
    let name = b"localhost";
    let mut sni = Vec::new();
    sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut extensions = Vec::new();
    let groups = [0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]; // x25519, secp256r1
    let point_formats = [0x01, 0x00];
    let signature_schemes = [0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]; // ecdsa p256, rsa-pss, rsa-pkcs1
    for (kind, data) in [
        (0x0000u16, &sni[..]),
        (0x000a, &groups),
        (0x000b, &point_formats),
        (0x000d, &signature_schemes),
    ] {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&(data.len() as u16).to_be_bytes());
        extensions.extend_from_slice(data);
    }
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_400() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    let mut tcp = TcpStream::connect(server.tls_addr).await.unwrap();
    let body = valid_review();
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let answer = parse_http(&reply).unwrap();
    assert_eq!(answer.status, 400);
    assert!(String::from_utf8_lossy(&answer.body).contains("HTTP request to an HTTPS server"));
    drop(tcp);
    assert_server_still_serves(&server, &ca).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (ca, server) = server_with_fresh_certs(dir.path(), limits).await;
    let mut slow = tls_connect(server.tls_addr, client_config(ca.der(), &[]))
        .await
        .unwrap();
    slow.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Le")
        .await
        .unwrap();
    slow.flush().await.unwrap();
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut reply)).await;
    assert!(
        closed.is_ok(),
        "the server kept a header-less connection open"
    );
    assert_server_still_serves(&server, &ca).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (ca, server) = server_with_fresh_certs(dir.path(), limits).await;
    let mut tcp = TcpStream::connect(server.tls_addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut reply)).await;
    assert!(closed.is_ok(), "the server kept a half-done handshake open");
    assert_server_still_serves(&server, &ca).await;
    server.stop().await;
}
