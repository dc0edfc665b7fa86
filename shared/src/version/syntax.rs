//! Reading the text of a constraint as Masterminds semver v3.4's `NewConstraint` reads it:
//! hyphen ranges (`1.2 - 1.4`) are first rewritten to `>= 1.2, <= 1.4 `, the text is split into
//! alternatives on `||`, and each alternative is a list of comparisons (`op` `version`, spaces
//! allowed between) separated by spaces or a comma. Every comparison of an alternative must hold.
//!
//! Masterminds does this with regular expressions; this scanner accepts exactly what they accept
//! (the golden table in `shared/tests/version_golden.rs` pins it), including their quirks: the
//! version pattern is `v?` then up to three parts of digits, `x`, `X`, `*` (or `|`), then an
//! optional `-pre-release` and `+build`, and a range rewrite swallows the spaces around it.

use super::comparator::{Comparator, Op};
use std::borrow::Cow;

/// Whitespace as Go's regexp `\s` means it.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn is_operator(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'<' | b'>' | b'~' | b'^')
}

/// A character of a version's number parts; Masterminds' character class also holds `|`.
fn is_part(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*' | b'|')
}

fn is_identifier(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn spaces(s: &[u8], from: usize) -> usize {
    s.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|b| is_space(**b)).count())
}

fn run(s: &[u8], from: usize, class: fn(u8) -> bool) -> usize {
    s.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|b| class(**b)).count())
}

/// Length of the dot-separated identifiers at `from` (a dot not followed by one is left out).
fn identifiers(s: &[u8], from: usize) -> usize {
    let mut end = from + run(s, from, is_identifier);
    if end == from {
        return 0;
    }
    while s.get(end) == Some(&b'.') && run(s, end + 1, is_identifier) > 0 {
        end += 1 + run(s, end + 1, is_identifier);
    }
    end - from
}

/// Length of the longest version at `from`; 0 when none starts there.
fn version_len(s: &[u8], from: usize) -> usize {
    let start = from + usize::from(s.get(from) == Some(&b'v'));
    let major = run(s, start, is_part);
    if major == 0 {
        return 0;
    }
    let mut end = start + major;
    for _ in 0..2 {
        let part = run(s, end + 1, is_part);
        if s.get(end) != Some(&b'.') || part == 0 {
            break;
        }
        end += 1 + part;
    }
    for marker in [b'-', b'+'] {
        let len = identifiers(s, end + 1);
        if s.get(end) == Some(&marker) && len > 0 {
            end += 1 + len;
        }
    }
    end - from
}

/// A hyphen range found in a text: byte spans of both versions, and where the range ends.
struct Range {
    low: std::ops::Range<usize>,
    high: std::ops::Range<usize>,
    end: usize,
}

/// A hyphen range at `from`: spaces, a version, ` - ` (spaces required), a version, spaces.
fn range_at(s: &[u8], from: usize) -> Option<Range> {
    let low = from + spaces(s, from);
    let low_end = low + version_len(s, low);
    let dash = low_end + spaces(s, low_end);
    if low_end == low || dash == low_end || s.get(dash) != Some(&b'-') {
        return None;
    }
    let high = dash + 1 + spaces(s, dash + 1);
    let high_end = high + version_len(s, high);
    if high == dash + 1 || high_end == high {
        return None;
    }
    Some(Range {
        low: low..low_end,
        high: high..high_end,
        end: high_end + spaces(s, high_end),
    })
}

/// Every hyphen range, leftmost first, rewritten as Masterminds does: `>= low, <= high `.
fn rewrite_ranges(text: &str) -> Cow<'_, str> {
    // NB: most constraints hold no range, and admission reads one per application.
    if !text.contains('-') {
        return Cow::Borrowed(text);
    }
    let s = text.as_bytes();
    let (mut out, mut copied, mut at) = (String::with_capacity(text.len()), 0, 0);
    while at < s.len() {
        match range_at(s, at) {
            Some(Range { low, high, end }) => {
                out.push_str(&text[copied..at]);
                out.push_str(&format!(">= {}, <= {} ", &text[low], &text[high]));
                (copied, at) = (end, end);
            }
            None => at += 1,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The alternatives of `text`, each the comparisons that must all hold; or why it is no
/// constraint.
pub(super) fn alternatives(text: &str) -> Result<Vec<Vec<Comparator>>, String> {
    rewrite_ranges(text).split("||").map(comparisons).collect()
}

fn comparisons(alternative: &str) -> Result<Vec<Comparator>, String> {
    let s = alternative.as_bytes();
    let improper = || {
        format!(
            "{:?} is not a comparison such as \">=1.2\", \"~1.2.3\", \"1.2.x\" or \"1.0 - 2.0\"",
            alternative.trim_matches(|c: char| c.is_ascii() && is_space(c as u8))
        )
    };
    let mut found = Vec::new();
    let mut at = spaces(s, 0);
    loop {
        let operator_end = at + run(s, at, is_operator);
        let version = operator_end + spaces(s, operator_end);
        let version_end = version + version_len(s, version);
        let operator = &alternative[at..operator_end];
        if Op::from_text(operator).is_none() || version_end == version {
            return Err(improper());
        }
        let written = &alternative[version..version_end];
        found.push(
            Comparator::new(operator, written)
                .ok_or_else(|| format!("{written:?} is not a version"))?,
        );
        at = version_end + spaces(s, version_end);
        if at == s.len() {
            return Ok(found);
        }
        if s[at] == b',' {
            at += 1 + spaces(s, at + 1);
        } else if at == version_end {
            return Err(improper());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphen_ranges_are_rewritten_as_masterminds_rewrites_them() {
        // Masterminds' own TestRewriteRange rows.
        let cases = [
            ("2 - 3", ">= 2, <= 3 "),
            ("2 - 3, 2 - 3", ">= 2, <= 3 ,>= 2, <= 3 "),
            ("2 - 3, 4.0.0 - 5.1", ">= 2, <= 3 ,>= 4.0.0, <= 5.1 "),
            ("2 - 3 4.0.0 - 5.1", ">= 2, <= 3 >= 4.0.0, <= 5.1 "),
            ("1.0.0 - 2.0.0 <=2.0.0", ">= 1.0.0, <= 2.0.0 <=2.0.0"),
            // No spaces around the dash: a pre-release, not a range.
            ("1.1-3", "1.1-3"),
        ];
        for (text, rewritten) in cases {
            assert_eq!(rewrite_ranges(text), rewritten, "{text}");
        }
    }

    #[test]
    fn a_range_after_a_comparison_swallows_the_space_between_as_in_masterminds() {
        // NB: the range pattern starts with optional spaces, so the space before `1.2` goes
        // with the range and the comparisons run together; Helm refuses this text too.
        assert_eq!(rewrite_ranges(">=1.0 1.2 - 2.0"), ">=1.0>= 1.2, <= 2.0 ");
        assert!(alternatives(">=1.0 1.2 - 2.0").is_err());
        assert!(alternatives(">=1.0, 1.2 - 2.0").is_ok());
    }

    #[test]
    fn versions_are_read_greedily_as_the_pattern_does() {
        for (text, len) in [
            ("1.2.3", 5),
            ("v1.2.3-rc.1+b.2 x", 15),
            ("1.2.3.4", 5),
            ("1.x-beta", 8),
            ("1.2.", 3),
            ("1-", 1),
            ("v", 0),
            (">1", 0),
        ] {
            assert_eq!(version_len(text.as_bytes(), 0), len, "{text}");
        }
    }
}
