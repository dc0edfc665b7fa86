//! The request uid of a body that may be truncated or otherwise broken, so that even an unreadable
//! review gets an answer the API server can match to its request.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// Finds `request.uid` in a body that may be truncated or otherwise broken, reading only as far as
/// needed: the uid is kept the moment it is read, whatever fails after it.
pub fn lenient_uid(body: &[u8]) -> Option<String> {
    let mut uid = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let _ignored = Seek {
        depth: 0,
        uid: &mut uid,
    }
    .deserialize(&mut deserializer);
    uid
}

/// Walks `{"request": {"uid": …}}`: depth 0 is the review, depth 1 the request.
struct Seek<'a> {
    depth: u8,
    uid: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an AdmissionReview")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match (self.depth, key.as_str()) {
                (0, "request") => map.next_value_seed(Seek {
                    depth: 1,
                    uid: &mut *self.uid,
                })?,
                (1, "uid") => *self.uid = Some(map.next_value::<String>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_found_in_a_truncated_body() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"abc-1","kind":{"gro"#;
        assert_eq!(lenient_uid(body), Some("abc-1".to_owned()));
    }

    #[test]
    fn nested_uids_are_not_the_request_uid() {
        let body =
            br#"{"request":{"userInfo":{"uid":"user"},"object":{"metadata":{"uid":"obj"}}}}"#;
        assert_eq!(lenient_uid(body), None);
        assert_eq!(lenient_uid(br#"{"uid":"top","request":5}"#), None);
        assert_eq!(lenient_uid(b"\xff\xfe"), None);
    }
}
