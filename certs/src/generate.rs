//! Building the CA and the serving certificate.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::CertsError;

/// What the serving certificate must be valid for, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRequest {
    /// DNS subject alternative names, e.g. `orkestra-webhook.orkestra.svc`.
    pub dns_names: Vec<String>,
    /// IP subject alternative names, e.g. `127.0.0.1`.
    pub ips: Vec<IpAddr>,
    /// Validity in days, for both the CA and the leaf.
    pub days: u32,
}

/// PEM-encoded output of [`generate`].
#[derive(Clone, Debug)]
pub struct Generated {
    /// The CA certificate: what a client (the API server's `caBundle`) trusts.
    pub ca_pem: String,
    /// The serving certificate followed by the CA certificate.
    pub chain_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

/// Makes a new CA and a serving certificate signed by it. The CA key is not returned: nothing
/// re-signs later, a new certificate means a new CA (and a new `caBundle`).
pub fn generate(request: &CertRequest) -> Result<Generated, CertsError> {
    if request.dns_names.is_empty() && request.ips.is_empty() {
        return Err(CertsError::NoNames);
    }
    if !(1..=MAX_DAYS).contains(&request.days) {
        return Err(CertsError::InvalidDays(request.days));
    }
    for name in &request.dns_names {
        if !valid_dns_name(name) {
            return Err(CertsError::InvalidDnsName(name.clone()));
        }
    }
    let (from, until) = validity(request.days);
    let not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    let not_after = rcgen::date_time_ymd(until.0, until.1, until.2);

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("orkestra-webhook-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca = ca_params.self_signed(&ca_key)?;

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(request.dns_names.clone())?;
    leaf_params
        .subject_alt_names
        .extend(request.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let common_name = request
        .dns_names
        .first()
        .cloned()
        .or_else(|| request.ips.first().map(ToString::to_string))
        .unwrap_or_default();
    leaf_params.distinguished_name = name(&common_name);
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.not_before = not_before;
    leaf_params.not_after = not_after;
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

    let ca_pem = ca.pem();
    Ok(Generated {
        chain_pem: format!("{}{}", leaf.pem(), ca_pem),
        ca_pem,
        key_pem: leaf_key.serialize_pem(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Orkestra");
    dn
}

/// RFC 1123 host names, optionally with one leading wildcard label.
fn valid_dns_name(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The longest validity: a hundred years (a date past 9999 cannot be written in a certificate).
pub const MAX_DAYS: u32 = 36_500;

/// From yesterday (clock skew between machines) to `days` from today, at day granularity, as
/// (year, month, day).
fn validity(days: u32) -> ((i32, u8, u8), (i32, u8, u8)) {
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    (
        civil_from_days(today.saturating_sub(1)),
        civil_from_days(today + u64::from(days)),
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (i32, u8, u8) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn a_validity_past_a_hundred_years_is_refused() {
        for days in [MAX_DAYS + 1, 3_000_000, u32::MAX] {
            let request = CertRequest {
                dns_names: vec!["localhost".into()],
                ips: vec![],
                days,
            };
            let error = generate(&request).err().unwrap();
            assert_eq!(
                error.to_string(),
                format!("--days must be from 1 to 36500, got {days}")
            );
        }
    }

    #[test]
    fn dns_names_are_checked() {
        for ok in [
            "localhost",
            "orkestra-webhook.orkestra.svc",
            "*.example.com",
            "a1",
        ] {
            assert!(valid_dns_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "under_score", "sp ace", "*."] {
            assert!(!valid_dns_name(bad), "{bad}");
        }
    }
}
