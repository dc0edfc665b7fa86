//! The end of a JSON string, found 64 bytes at a time; and the search for surrogate escapes,
//! which serde_json refuses only where it unescapes.
//!
//! kubectl's last-applied annotation is the whole object again as one string, about one escape
//! in eight bytes; serde_json skips such a string one escape at a time (about a nanosecond a byte,
//! as much again as reading the rest of a review). This scan takes a block's quotes, backslashes,
//! control and non-ASCII bytes as bit masks and finds the escaped bytes from the backslash mask
//! with simdjson's carry trick (`escaped`), so its cost hardly depends on the escapes. It checks
//! the string as strictly as serde_json reads one from text, and stricter for `\u` escapes of
//! UTF-16 surrogates (which it refuses: no API server writes them, Go escapes only ASCII).

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The index just past the closing quote of the JSON string that opens at `text[open]` (a quote);
/// `None` unless that string is closed, has no control characters, is UTF-8, and has only the
/// escapes JSON knows (a `\u` escape with four hex digits, not of a surrogate).
pub fn string_end(text: &[u8], open: usize) -> Option<usize> {
    let mut start = open.checked_add(1)?;
    let mut carry = 0;
    let mut non_ascii = false;
    loop {
        let rest = text.get(start..)?;
        let mut padded = [b' '; BLOCK];
        let block = match rest.first_chunk::<BLOCK>() {
            Some(block) => block,
            None => {
                padded[..rest.len()].copy_from_slice(rest);
                &padded
            }
        };
        let masks = masks(block);
        let escaped = escaped(masks.backslash, &mut carry);
        let closing = masks.quote & !escaped;
        let within = match closing {
            0 => u64::MAX,
            _ => (1 << closing.trailing_zeros()) - 1,
        };
        let mut unusual = masks.unusual & within;
        while unusual != 0 {
            if block[unusual.trailing_zeros() as usize] < 0x20 {
                return None;
            }
            non_ascii = true;
            unusual &= unusual - 1;
        }
        // Escaped quotes and backslashes are the common case; the few other escapes are checked
        // one by one.
        let mut others = escaped & !(masks.quote | masks.backslash) & within;
        while others != 0 {
            known_escape(text, start + others.trailing_zeros() as usize)?;
            others &= others - 1;
        }
        if closing != 0 {
            let end = start + closing.trailing_zeros() as usize + 1;
            let utf8 = !non_ascii || std::str::from_utf8(&text[open..end]).is_ok();
            return utf8.then_some(end);
        }
        if rest.len() <= BLOCK {
            return None;
        }
        start += BLOCK;
    }
}

const BLOCK: usize = 64;

/// Whether `text` may hold a `\u` escape of a UTF-16 surrogate (`\ud800` to `\udfff`, any case):
/// serde_json refuses a lone one where it unescapes a string but not where it skips one, so the
/// one-pass reading leaves such a body to the full reading. An escaped backslash before `u`
/// counts too (a false alarm costs only the full reading).
pub fn has_surrogate_escape(text: &[u8]) -> bool {
    static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\\u"));
    FINDER
        .find_iter(text)
        .any(|at| match text.get(at + 2..at + 4) {
            Some(&[d, second]) => {
                d.eq_ignore_ascii_case(&b'd')
                    && matches!(second.to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
            }
            _ => false,
        })
}

/// One bit per byte of a block, lowest bit first.
#[derive(Debug, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// Bytes below 0x20, which a JSON string may not hold unescaped, and bytes of non-ASCII
    /// characters (UTF-8 to check): below 0x20 as signed bytes, one test for both.
    unusual: u64,
}

/// The bytes escaped by a backslash, from the block's backslashes; `carry` says whether the
/// block's first byte is escaped (a backslash run of odd length ended the previous block) and is
/// set for the next one. An escaped backslash escapes nothing.
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !*carry;
    let follows_backslash = (backslash << 1) | *carry;
    // Runs of backslashes that start on an odd bit: adding them to the runs carries past the run's
    // end, which marks the byte after each run; the parity of the run's start says whether that
    // byte is escaped.
    let odd_starts = backslash & !EVEN & !follows_backslash;
    let (even_started, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    (EVEN ^ (even_started << 1)) & follows_backslash
}

/// Whether the escape whose letter is `text[at]` is one JSON knows; `\u` with four hex digits not
/// naming a UTF-16 surrogate.
fn known_escape(text: &[u8], at: usize) -> Option<()> {
    match *text.get(at)? {
        b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
        b'u' => {
            let digits = std::str::from_utf8(text.get(at + 1..at + 5)?).ok()?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let unit = u16::from_str_radix(digits, 16).ok()?;
            (!(0xD800..=0xDFFF).contains(&unit)).then_some(())
        }
        _ => None,
    }
}

/// The masks with SSE2, which every x86-64 processor has (by `safe_arch`, which wraps the
/// intrinsics in safe functions).
#[cfg(target_arch = "x86_64")]
fn masks(block: &[u8; BLOCK]) -> Masks {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i, m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };
    fn gather(lanes: &[m128i; 4], mask: impl Fn(m128i) -> m128i) -> u64 {
        lanes.iter().enumerate().fold(0, |bits, (i, lane)| {
            bits | (u64::from(move_mask_i8_m128i(mask(*lane)) as u16) << (16 * i))
        })
    }
    let (chunks, _) = block.as_chunks::<16>();
    let lanes: [m128i; 4] = std::array::from_fn(|i| load_unaligned_m128i(&chunks[i]));
    let equal = |byte: u8| {
        let byte = set_splat_i8_m128i(byte as i8);
        gather(&lanes, |lane| cmp_eq_mask_i8_m128i(lane, byte))
    };
    let space = set_splat_i8_m128i(0x20);
    Masks {
        quote: equal(b'"'),
        backslash: equal(b'\\'),
        unusual: gather(&lanes, |lane| cmp_lt_mask_i8_m128i(lane, space)),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn masks(block: &[u8; BLOCK]) -> Masks {
    portable_masks(block)
}

/// The masks a byte at a time: elsewhere than on x86-64, and the reference the SSE2 form is tested
/// against.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn portable_masks(block: &[u8; BLOCK]) -> Masks {
    let gather = |test: fn(u8) -> bool| {
        block
            .iter()
            .enumerate()
            .fold(0, |bits, (i, &b)| bits | (u64::from(test(b)) << i))
    };
    Masks {
        quote: gather(|b| b == b'"'),
        backslash: gather(|b| b == b'\\'),
        unusual: gather(|b| !(0x20..0x80).contains(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Where serde_json's reading of a string that opens at `text[0]` ends.
    fn serde_end(text: &[u8]) -> Option<usize> {
        let mut strings = serde_json::Deserializer::from_slice(text).into_iter::<String>();
        matches!(strings.next(), Some(Ok(_))).then(|| strings.byte_offset())
    }

    #[test]
    fn surrogate_escapes_are_found_in_any_case() {
        for text in [
            r#""\ud800""#,
            r#""a\uDBFF""#,
            r#""\udc00x""#,
            r#""\\uDfFf""#,
        ] {
            assert!(has_surrogate_escape(text.as_bytes()), "{text}");
        }
        for text in [
            r#""\u00e9\ud7ff\ue000""#,
            r#""d800 \u""#,
            r#""\ud""#,
            "",
            r#""\u0d80""#,
        ] {
            assert!(!has_surrogate_escape(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn finds_the_end_past_escapes_and_across_blocks() {
        let cases: &[(&str, Option<usize>)] = &[
            (r#""""#, Some(2)),
            (r#""a" tail"#, Some(3)),
            (r#""\"""#, Some(4)),
            (r#""\\" "x""#, Some(4)),
            (r#""\\\"" "#, Some(6)),
            (r#""\u00e9\n\t\/""#, Some(14)),
            (r#""\x""#, None),
            (r#""\u00g1""#, None),
            (r#""\ud83d\ude00""#, None),
            ("\"a\u{1}b\"", None),
            ("\"unterminated", None),
            ("\"ends in a backslash\\", None),
            ("\"caf\u{e9}\"", Some(7)),
        ];
        for &(text, end) in cases {
            assert_eq!(string_end(text.as_bytes(), 0), end, "{text}");
        }
        let invalid_utf8 = b"\"caf\xe9\"";
        assert_eq!(string_end(invalid_utf8, 0), None);
        // Runs of backslashes across the block boundary, starting on either parity: whether the
        // quote after a run is escaped depends on the run's length only.
        for lead in 0..4 {
            for run in 56..72 {
                let text = format!("\"{}{}\"x\"", "a".repeat(lead), "\\".repeat(run));
                let expected = lead + run + if run % 2 == 0 { 2 } else { 4 };
                assert_eq!(
                    string_end(text.as_bytes(), 0),
                    Some(expected),
                    "{lead} {run}"
                );
                assert_eq!(serde_end(text.as_bytes()), Some(expected));
            }
        }
        let long = format!("\"{}\"", "{\\\"name\\\":\\\"app-1\\\"},".repeat(1000));
        assert_eq!(string_end(long.as_bytes(), 0), Some(long.len()));
        assert_eq!(string_end(b"x\"\"", 1), Some(3));
        assert_eq!(string_end(b"", 0), None);
        assert_eq!(string_end(b"\"", usize::MAX), None);
    }

    proptest! {
        #[test]
        fn ends_where_serde_json_ends(body in "[a\"\\\\nu0d8F \\x01\\x7f\u{e9}]{0,300}") {
            let text = format!("\"{body}");
            let ours = string_end(text.as_bytes(), 0);
            let theirs = serde_end(text.as_bytes());
            // A surrogate escape may be refused where serde_json reads a pair; never another end.
            prop_assert!(
                ours == theirs || (ours.is_none() && has_surrogate_escape(text.as_bytes())),
                "{:?}: {:?} against serde_json's {:?}", text, ours, theirs
            );
        }

        #[test]
        fn the_sse2_masks_are_the_portable_ones(block in prop::array::uniform32(any::<u8>()), other in prop::array::uniform32(any::<u8>())) {
            let mut whole = [0; BLOCK];
            whole[..32].copy_from_slice(&block);
            whole[32..].copy_from_slice(&other);
            prop_assert_eq!(masks(&whole), portable_masks(&whole));
        }
    }
}
