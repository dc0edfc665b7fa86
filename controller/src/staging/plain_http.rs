//! Which OCI registries are spoken to in plain HTTP. One answer for staging (pulls and pushes)
//! and for the Flux `HelmRepository` the releases pull through, so the two cannot disagree.
//!
//! Loopback registries are plain HTTP, as Docker treats them (a local registry has no
//! certificate): `localhost` and literal loopback addresses (`127.0.0.0/8`, `::1`) only. A name
//! that merely looks local (`127.evil.io`, `registry.localhost`) is not loopback. Any other
//! registry is HTTPS unless the user names it with `--insecure-registry`: never silently.

use std::net::IpAddr;

/// The registries (`host[:port]`) the user allowed plain HTTP for, besides loopback ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainHttp {
    insecure: Vec<String>,
}

impl PlainHttp {
    /// Plain HTTP for loopback registries and for these `host[:port]` entries (a bare host
    /// allows every port of it).
    pub fn new(insecure: impl IntoIterator<Item = String>) -> Self {
        Self {
            insecure: insecure
                .into_iter()
                .map(|entry| entry.trim().to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
        }
    }

    /// True when the registry at `authority` (`host[:port]`, as in `oci://host[:port]/path`) is
    /// reached over plain HTTP.
    pub fn allows(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let host = hostname(&authority);
        is_loopback(host)
            || self
                .insecure
                .iter()
                .any(|entry| *entry == authority || entry == host)
    }
}

/// The host of `host[:port]` (brackets kept for IPv6, `[::1]:5000` → `[::1]`).
fn hostname(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(rest) => rest
            .find(']')
            .map_or(authority, |end| &authority[..end + 2]),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// True for `localhost` and literal loopback IP addresses (IPv6 in brackets or bare).
pub fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_literal_loopback_addresses_and_localhost_are_loopback() {
        let plain = PlainHttp::default();
        for local in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(plain.allows(local), "{local}");
        }
        for remote in [
            "127.evil.io",
            "127.0.0.1.nip.io:5000",
            "registry.localhost:5000",
            "localhost.evil.io",
            "ghcr.io",
            "[::2]:5000",
            "10.0.0.1:5000",
        ] {
            assert!(!plain.allows(remote), "{remote}");
        }
    }

    #[test]
    fn named_insecure_registries_are_plain_http_and_no_others() {
        let plain = PlainHttp::new(["registry.lab:5000".to_owned(), "10.0.0.9".to_owned()]);
        assert!(plain.allows("registry.lab:5000"));
        assert!(plain.allows("REGISTRY.lab:5000"));
        assert!(!plain.allows("registry.lab:5001"));
        assert!(!plain.allows("registry.lab"));
        assert!(plain.allows("10.0.0.9:443"));
        assert!(!plain.allows("10.0.0.90"));
    }
}
