//! The two facts the webhook reads from its serving certificate: serial number (for logs) and end
//! of validity (for the expiry metric). A few lines of DER walking instead of a full X.509 parser.

/// Serial number and end of validity of an X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Serial number in lower-case hex, as `openssl x509 -serial` shows it (without leading zeroes).
    pub serial: String,
    /// `notAfter` in seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertInfo {
    /// Reads a DER certificate; `None` when it is not shaped like one.
    pub fn from_der(der: &[u8]) -> Option<CertInfo> {
        let (tag, cert, _) = tlv(der)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, tbs, _) = tlv(cert)?;
        if tag != SEQUENCE {
            return None;
        }
        let mut rest = tbs;
        let (mut tag, mut content, mut after) = tlv(rest)?;
        if tag == VERSION {
            rest = after;
            (tag, content, after) = tlv(rest)?;
        }
        if tag != INTEGER {
            return None;
        }
        let serial = serial_hex(content);
        // signature algorithm, issuer, then validity
        let (_, _, after) = tlv(after)?;
        let (_, _, after) = tlv(after)?;
        let (tag, validity, _) = tlv(after)?;
        if tag != SEQUENCE {
            return None;
        }
        let (_, _, after) = tlv(validity)?;
        let (tag, not_after, _) = tlv(after)?;
        Some(CertInfo {
            serial,
            not_after: parse_time(tag, not_after)?,
        })
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// Splits one DER element off the front: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if input.len() < len {
        return None;
    }
    let (content, rest) = input.split_at(len);
    Some((tag, content, rest))
}

fn serial_hex(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        UTC_TIME if digits.len() == 12 => {
            let yy: i64 = digits.get(..2)?.parse().ok()?;
            // RFC 5280: two-digit years 50..99 are 19xx, 00..49 are 20xx.
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                digits.get(2..)?,
            )
        }
        GENERALIZED_TIME if digits.len() == 14 => {
            (digits.get(..4)?.parse().ok()?, digits.get(4..)?)
        }
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(CertInfo::from_der(b""), None);
        assert_eq!(CertInfo::from_der(b"\x30\x82\xff\xff"), None);
        assert_eq!(CertInfo::from_der(b"-----BEGIN CERTIFICATE-----"), None);
    }
}
