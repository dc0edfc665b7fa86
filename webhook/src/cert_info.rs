//! The two facts the webhook reads from its serving certificate: serial number (for logs) and end
//! of validity (for the expiry metric), read with `x509-parser`.

use x509_parser::prelude::{FromDer as _, X509Certificate};

/// Serial number and end of validity of an X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Serial number in lower-case hex, as `openssl x509 -serial` shows it (without leading zeroes).
    pub serial: String,
    /// `notAfter` in seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertInfo {
    /// Reads a DER certificate; `None` when it is not one.
    pub fn from_der(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        Some(CertInfo {
            serial: format!("{:x}", cert.serial),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_serial_and_expiry_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x2a, 0xff]));
        params.not_after = rcgen::date_time_ymd(2031, 7, 15);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = CertInfo::from_der(cert.der()).unwrap();
        assert_eq!(info.serial, "12aff");
        assert_eq!(info.not_after, 1_941_840_000); // 2031-07-15T00:00:00Z
    }

    #[test]
    fn generalized_time_after_2049() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            CertInfo::from_der(cert.der()).unwrap().not_after,
            2_556_144_000
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(CertInfo::from_der(b""), None);
        assert_eq!(CertInfo::from_der(b"\x30\x82\xff\xff"), None);
        assert_eq!(CertInfo::from_der(b"-----BEGIN CERTIFICATE-----"), None);
    }
}
