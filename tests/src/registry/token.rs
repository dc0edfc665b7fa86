//! A bearer-token server for the test registry, as Docker Hub, GHCR and Harbor run them: the
//! registry answers 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client
//! fetches a JWT from the realm with its basic credentials; the registry checks the JWT against
//! the issuer's certificate (`auth.token.rootcertbundle`).
//!
//! Tokens are ES256 JWTs carrying the signing certificate in `x5c`; the certificate is
//! self-signed and is the registry's whole root bundle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

/// Service name the registry announces and the tokens' audience.
pub const SERVICE: &str = "orkestra-test-registry";
/// Issuer of the tokens.
pub const ISSUER: &str = "orkestra-test-issuer";

/// A running token server.
#[derive(Debug)]
pub struct TokenServer {
    /// `http://127.0.0.1:<port>/token`.
    pub realm: String,
    /// The issuer certificate (PEM) for the registry's `rootcertbundle`.
    pub cert_pem: String,
    task: JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Issuer {
    key: EcdsaKeyPair,
    cert_der_b64: String,
    basic: String,
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    scope: Option<String>,
}

impl TokenServer {
    /// Starts a token server granting every requested scope to `user`/`password`.
    pub async fn start(user: &str, password: &str) -> anyhow::Result<Self> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params = rcgen::CertificateParams::new(vec!["orkestra-test-issuer".to_owned()])?;
        let cert = params.self_signed(&key_pair)?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &SystemRandom::new(),
        )
        .map_err(|err| anyhow::anyhow!("token signing key: {err}"))?;
        let issuer = Arc::new(Issuer {
            key,
            cert_der_b64: STANDARD.encode(cert.der()),
            basic: format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let router = Router::new().route("/token", get(token)).with_state(issuer);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            realm: format!("http://{addr}/token"),
            cert_pem: cert.pem(),
            task,
        })
    }
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == issuer.basic.as_bytes());
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // scope = "repository:<name>:<actions>"; names may contain ':' only before the last part.
    let access: Vec<serde_json::Value> = query
        .scope
        .iter()
        .flat_map(|s| s.split(' '))
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    match sign(&issuer, access) {
        Ok(jwt) => axum::Json(json!({"token": jwt, "access_token": jwt, "expires_in": 300}))
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn sign(
    issuer: &Issuer,
    access: Vec<serde_json::Value>,
) -> Result<String, ring::error::Unspecified> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [issuer.cert_der_b64]});
    let claims = json!({
        "iss": ISSUER, "sub": "test", "aud": SERVICE,
        "exp": now + 300, "nbf": now.saturating_sub(10), "iat": now,
        "jti": format!("{now}-{}", access.len()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer
        .key
        .sign(&SystemRandom::new(), signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}
