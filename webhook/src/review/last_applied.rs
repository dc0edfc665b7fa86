//! kubectl's last-applied annotation, cut out of a review body before the one-pass reading.
//!
//! After `kubectl apply`, every object carries `kubectl.kubernetes.io/last-applied-configuration`:
//! the whole object again, as one escaped string, more than the rest of the review together. No
//! answer depends on it (the rules read the spec, and only the name and the last-successful
//! annotation of the metadata), yet reading it cost more than reading the group. So the one-pass
//! reading reads a copy of the body in which that annotation of `request.object` and
//! `request.oldObject` is the empty string: [`cut`] finds it by walking only down that path, and
//! checks the cut string as strictly as serde_json would have read it ([`string_end`]), so the
//! copy reads as the body would, and is refused where the body would be. Where the walk finds
//! anything unexpected it cuts nothing; the full reading always reads the body itself.

use super::json_string::string_end;
use memchr::memmem::Finder;
use std::ops::Range;
use std::sync::LazyLock;

/// The annotation's key as it stands in JSON text.
const KEY: &[u8] = b"\"kubectl.kubernetes.io/last-applied-configuration\"";

static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(KEY));

/// The keys from the review down to the annotations of an object.
const PATH: [&[&[u8]]; 4] = [
    &[b"request"],
    &[b"object", b"oldObject"],
    &[b"metadata"],
    &[b"annotations"],
];

/// `body` with the last-applied annotation of its objects made the empty string, written into
/// `copy`; `body` itself where there is nothing to cut.
pub fn cut<'a>(body: &'a [u8], copy: &'a mut Vec<u8>) -> &'a [u8] {
    let Some(first) = FINDER.find(body) else {
        return body;
    };
    let mut walk = Walk {
        text: body,
        at: 0,
        next_key: Some(first),
        values: Vec::new(),
    };
    walk.whitespace();
    if walk.object(0).is_none() || walk.values.is_empty() {
        return body;
    }
    copy.clear();
    copy.reserve(body.len());
    let mut from = 0;
    for value in &walk.values {
        copy.extend_from_slice(&body[from..value.start]);
        copy.extend_from_slice(b"\"\"");
        from = value.end;
    }
    copy.extend_from_slice(&body[from..]);
    copy
}

/// A walk through JSON text down [`PATH`], skipping every other value, until no occurrence of
/// [`KEY`] is left ahead.
struct Walk<'a> {
    text: &'a [u8],
    at: usize,
    /// The next place where the key stands in the text, at or after `at`; `None` once there is none
    /// (the walk then stops: nothing is left to find).
    next_key: Option<usize>,
    /// The annotation values found, as ranges of the text (quotes included).
    values: Vec<Range<usize>>,
}

impl<'a> Walk<'a> {
    /// Walks the object at `at`, which sits `depth` keys down [`PATH`]. `None` where the text is
    /// not what it seems; `Some` also where the walk stopped early, with nothing left to find.
    fn object(&mut self, depth: usize) -> Option<()> {
        self.expect(b'{')?;
        self.whitespace();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            if !self.key_ahead() {
                return Some(());
            }
            let key = self.string()?;
            self.whitespace();
            self.expect(b':')?;
            self.whitespace();
            let text: &'a [u8] = self.text;
            let name = &text[key.start + 1..key.end - 1];
            let opens = text.get(self.at).copied();
            match PATH.get(depth) {
                Some(names) if opens == Some(b'{') && names.contains(&name) => {
                    self.object(depth + 1)?;
                    if self.next_key.is_none() {
                        return Some(());
                    }
                }
                None if opens == Some(b'"') && text[key] == *KEY => {
                    let value = self.string()?;
                    self.values.push(value);
                }
                _ => self.skip_value()?,
            }
            self.whitespace();
            match self.text.get(self.at)? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
            self.whitespace();
        }
    }

    /// Whether the key still stands somewhere at or after `at`.
    fn key_ahead(&mut self) -> bool {
        match self.next_key {
            Some(next) if next >= self.at => true,
            Some(_) => {
                self.next_key = FINDER.find(&self.text[self.at..]).map(|i| self.at + i);
                self.next_key.is_some()
            }
            None => false,
        }
    }

    /// The string at `at`, checked, as a range of the text with its quotes; `at` moves past it.
    fn string(&mut self) -> Option<Range<usize>> {
        if self.text.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at;
        self.at = string_end(self.text, start)?;
        Some(start..self.at)
    }

    /// Skips the value at `at`: strings are found as JSON has them, everything else only as far as
    /// brackets go (the one-pass reading checks all of it).
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0_usize;
        loop {
            match *self.text.get(self.at)? {
                b'"' => self.at = string_end(self.text, self.at)?,
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                    continue;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.at += 1;
                }
                // The end of a number or a literal.
                b',' | b'}' | b']' if depth == 0 => return Some(()),
                _ => {
                    self.at += 1;
                    continue;
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let here = self.text.get(self.at) == Some(&byte);
        self.at += usize::from(here);
        here
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

    fn review(object: Value, old_object: Value) -> Vec<u8> {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "object": object, "oldObject": old_object, "dryRun": false}
        });
        serde_json::to_vec(&review).unwrap_or_default()
    }

    fn group(annotations: Value, values: Value) -> Value {
        json!({
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
            "metadata": {"name": "g", "annotations": annotations},
            "spec": {"applications": [{"name": "a", "spec": {"release": {"values": values}}}]}
        })
    }

    fn cut_value(body: &[u8]) -> Value {
        let mut copy = Vec::new();
        serde_json::from_slice(cut(body, &mut copy)).unwrap_or_default()
    }

    #[test]
    fn cuts_the_annotation_of_both_objects_and_nothing_else() {
        let applied =
            serde_json::to_string(&group(json!({}), json!({"a": "\"x\"\n"}))).unwrap_or_default();
        let annotations = json!({ANNOTATION: applied, "note": "kept"});
        // The same key among the chart's values is the user's: kept.
        let values = json!({ANNOTATION: "kept", "podAnnotations": {ANNOTATION: "kept"}});
        let body = review(
            group(annotations.clone(), values.clone()),
            group(annotations, values),
        );
        let cut = cut_value(&body);
        let mut expected: Value = serde_json::from_slice(&body).unwrap_or_default();
        for object in ["object", "oldObject"] {
            expected["request"][object]["metadata"]["annotations"][ANNOTATION] = json!("");
        }
        assert_eq!(cut, expected);
        assert_eq!(
            expected["request"]["oldObject"]["spec"]["applications"][0]["spec"]["release"]["values"]
                [ANNOTATION],
            "kept"
        );
    }

    #[test]
    fn cuts_nothing_where_the_body_has_no_such_annotation() {
        let body = review(
            group(json!({"note": ANNOTATION}), json!({ANNOTATION: "v"})),
            Value::Null,
        );
        let mut copy = Vec::new();
        assert_eq!(cut(&body, &mut copy), &body[..]);
        assert!(copy.is_empty());
    }

    #[test]
    fn cuts_nothing_where_the_annotation_is_not_a_well_formed_string() {
        let body = review(group(json!({ANNOTATION: "PLACE"}), json!({})), Value::Null);
        let text = String::from_utf8(body).unwrap_or_default();
        for broken in [r#""\x""#, "\"a\u{1}\"", r#""\ud800""#, "{}", "1"] {
            let body = text.replace(r#""PLACE""#, broken);
            let mut copy = Vec::new();
            assert_eq!(cut(body.as_bytes(), &mut copy), body.as_bytes(), "{broken}");
        }
        let mut invalid_utf8 = text.replace("PLACE", "caf\u{e9}").into_bytes();
        let at = invalid_utf8
            .windows(2)
            .position(|w| w == "\u{e9}".as_bytes())
            .unwrap_or_default();
        invalid_utf8.remove(at);
        let mut copy = Vec::new();
        assert_eq!(cut(&invalid_utf8, &mut copy), &invalid_utf8[..]);
    }

    #[test]
    fn cuts_past_whitespace_escapes_and_keys_inside_strings() {
        // The key also stands inside a string (escaped at its start) and as a key off the path.
        let body = r#"{ "apiVersion" : "x\"KEY" ,
 "request" : {"userInfo":{"groups":["a",{"KEY":[1,2.5e3,true,null]}]},TAB"object" : { "metadata" :
 { "annotations" : { "a":"b", "KEY" : "{\"k\":\"\\\"\"}\n" } } } } }"#
            .replace("KEY", ANNOTATION)
            .replace("TAB", "\t");
        let original: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_ne!(original, Value::Null, "{body}");
        let mut expected = original;
        expected["request"]["object"]["metadata"]["annotations"][ANNOTATION] = json!("");
        assert_eq!(cut_value(body.as_bytes()), expected);
    }

    #[test]
    fn a_broken_body_is_left_alone() {
        let body = review(group(json!({ANNOTATION: "v"}), json!({})), Value::Null);
        for end in 0..body.len() {
            let mut copy = Vec::new();
            let kept = cut(&body[..end], &mut copy);
            // Cut or not, the copy is broken exactly where the body is.
            assert_eq!(
                serde_json::from_slice::<Value>(kept).is_ok(),
                serde_json::from_slice::<Value>(&body[..end]).is_ok()
            );
        }
    }
}
