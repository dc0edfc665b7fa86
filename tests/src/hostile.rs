//! A chart repository and OCI registry that misbehave on purpose, for the tests of staging's
//! bounded reads and credential handling. It imitates no particular product: each route answers
//! the way a broken or malicious server could, on one loopback port.
//!
//! Helm repository routes (repository URL `{url}/<route>`):
//! - `endless/index.yaml`: `200` with no `Content-Length` and a body that never ends.
//! - `huge/index.yaml`: `200` announcing `Content-Length` of 1 TiB.
//! - `slow/index.yaml`: answers `404` only after [`SLOW`], holding a staging in flight.
//! - `redirect/index.yaml`: `302` to `http://localhost:<same port>/landing/index.yaml`, another
//!   host name for the same server, which answers `404`.
//!
//! OCI distribution routes (registry `oci://127.0.0.1:<port>`, the chart name picks the fault):
//! - `endless-tags`: the tag list never ends.
//! - `endless-pages`: every page of the tag list (one tag, `0.<page>.0`) links to a next page
//!   (`Link: </v2/endless-pages/tags/list?last=…>; rel="next"`, as the distribution spec paginates).
//! - `endless-manifest`: tag `1.0.0` is listed; its manifest never ends.
//! - `endless-token`: every request is challenged with `Bearer realm=".../token"`, and the token
//!   response never ends.
//!
//! Every request's path and `Authorization` header are recorded ([`Hostile::requests`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long `slow/index.yaml` takes to answer.
pub const SLOW: std::time::Duration = std::time::Duration::from_secs(10);

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `Host` header.
    pub host: String,
    /// Path.
    pub path: String,
    /// `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// A running misbehaving server; stops on drop.
#[derive(Debug)]
pub struct Hostile {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`, for `oci://` URLs.
    pub authority: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    /// Starts the server on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the hostile server")?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().fallback(answer).with_state(Shared {
            port,
            seen: Arc::clone(&seen),
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            authority: format!("127.0.0.1:{port}"),
            seen,
            task,
        })
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn answer(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let path = parts.uri.path().to_owned();
    shared
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Seen {
            host: header_text(header::HOST).unwrap_or_default(),
            path: path.clone(),
            authorization: header_text(header::AUTHORIZATION),
        });
    let port = shared.port;
    match path.as_str() {
        "/endless/index.yaml" | "/v2/endless-tags/tags/list" | "/token" => endless(),
        "/slow/index.yaml" => {
            tokio::time::sleep(SLOW).await;
            respond(
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Body::empty()),
            )
        }
        "/huge/index.yaml" => respond(
            Response::builder()
                .header(header::CONTENT_LENGTH, (1u64 << 40).to_string())
                .body(Body::from_stream(filler())),
        ),
        "/redirect/index.yaml" => respond(
            Response::builder()
                .status(StatusCode::FOUND)
                .header(
                    header::LOCATION,
                    format!("http://localhost:{port}/landing/index.yaml"),
                )
                .body(Body::empty()),
        ),
        "/v2/endless-pages/tags/list" => {
            let page = parts
                .uri
                .query()
                .and_then(|query| query.strip_prefix("last=0."))
                .and_then(|last| last.split('.').next())
                .and_then(|page| page.parse::<u64>().ok())
                .map_or(0, |last| last + 1);
            respond(
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(
                        header::LINK,
                        format!(r#"</v2/endless-pages/tags/list?last=0.{page}.0>; rel="next""#),
                    )
                    .body(Body::from(format!(
                        r#"{{"name":"endless-pages","tags":["0.{page}.0"]}}"#
                    ))),
            )
        }
        "/v2/endless-manifest/tags/list" => json(r#"{"name":"endless-manifest","tags":["1.0.0"]}"#),
        "/v2/endless-manifest/manifests/1.0.0" => endless(),
        p if p.starts_with("/v2/endless-token/") => respond(
            Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(
                    header::WWW_AUTHENTICATE,
                    format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="hostile""#),
                )
                .body(Body::empty()),
        ),
        _ => respond(
            Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::empty()),
        ),
    }
}

/// 64 KiB of spaces, forever.
fn filler() -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    static CHUNK: [u8; 64 << 10] = [b' '; 64 << 10];
    futures::stream::repeat_with(|| Ok(Bytes::from_static(&CHUNK)))
}

fn endless() -> Response {
    respond(Response::builder().body(Body::from_stream(filler())))
}

fn json(text: &'static str) -> Response {
    respond(
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(text)),
    )
}

fn respond(built: Result<Response, axum::http::Error>) -> Response {
    built.unwrap_or_else(|_| {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}
