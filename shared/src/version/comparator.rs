//! One comparison of a constraint (`>=1.2`, `~1.2.3`, `^0.2`, `1.x`, `!=4.1`) and what it
//! admits, as Masterminds semver v3.4 decides it: a wildcard or missing part (`1`, `1.x`,
//! `1.2.*`) widens the comparison to every version with the given parts.

use std::cmp::Ordering;
use std::fmt;

use super::number::{Version, compare_pre_releases};

/// What a comparison does with its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `=` or no operator: equal, or within the wildcard.
    Equal,
    /// `!=`.
    NotEqual,
    /// `>`.
    Greater,
    /// `<`.
    Less,
    /// `>=` or `=>`.
    GreaterOrEqual,
    /// `<=` or `=<`.
    LessOrEqual,
    /// `~` or `~>`: the same major and minor (only the major when the minor is a wildcard).
    Tilde,
    /// `^`: the same major; for `0.y`, the same minor; for `0.0.z`, exactly `z`.
    Caret,
}

impl Op {
    /// The operator a spelling names; `None` for a text that is no operator.
    pub(super) fn from_text(text: &str) -> Option<Self> {
        Some(match text {
            "" | "=" => Self::Equal,
            "!=" => Self::NotEqual,
            ">" => Self::Greater,
            "<" => Self::Less,
            ">=" | "=>" => Self::GreaterOrEqual,
            "<=" | "=<" => Self::LessOrEqual,
            "~" | "~>" => Self::Tilde,
            "^" => Self::Caret,
            _ => return None,
        })
    }
}

/// Which parts of the version are wildcards (`x`, `X`, `*`, or left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wildcard {
    /// `1.2.3`.
    None,
    /// `1.2`, `1.2.x`.
    Patch,
    /// `1`, `1.x`, `1.x.x`.
    MinorAndPatch,
    /// `*`, `x`.
    All,
}

/// A single comparison, spelt as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Comparator {
    operator: String,
    version: String,
    op: Op,
    /// The version with wildcards as zeros, and the written pre-release (`1.x-rc` → `1.0.0-rc`).
    floor: Version,
    wildcard: Wildcard,
}

impl Comparator {
    /// A comparison from its operator and its version text (`v?N[.N[.N]][-pre][+build]`, where
    /// each N may be a wildcard). `None` when the version is not one.
    pub(super) fn new(operator: &str, version: &str) -> Option<Self> {
        let op = Op::from_text(operator)?;
        let unprefixed = version.strip_prefix('v').unwrap_or(version);
        let core_end = unprefixed.find(['-', '+']).unwrap_or(unprefixed.len());
        let (core, suffix) = unprefixed.split_at(core_end);
        let pre = suffix.split('+').next().unwrap_or_default();
        let mut parts = core.split('.');
        let (major, minor, patch) = (parts.next()?, parts.next(), parts.next());
        let is_wild = |part: Option<&str>| part.is_none_or(|p| matches!(p, "x" | "X" | "*"));
        // NB: as Masterminds does, a wildcard drops the build and any part after it (`1.x.3` is
        // `1.x`); the written pre-release stays.
        let (wildcard, floor) = if is_wild(Some(major)) {
            (Wildcard::All, Version::parse(&format!("0.0.0{pre}")))
        } else if is_wild(minor) {
            (
                Wildcard::MinorAndPatch,
                Version::parse(&format!("{major}.0.0{pre}")),
            )
        } else if is_wild(patch) {
            let minor = minor.unwrap_or_default();
            (
                Wildcard::Patch,
                Version::parse(&format!("{major}.{minor}.0{pre}")),
            )
        } else {
            (Wildcard::None, Version::parse(version))
        };
        Some(Self {
            operator: operator.to_owned(),
            version: version.to_owned(),
            op,
            floor: floor.ok()?,
            wildcard,
        })
    }

    /// True when the comparison names a pre-release (which opens its whole AND group to them).
    pub(super) fn names_pre_release(&self) -> bool {
        !self.floor.pre().is_empty()
    }

    /// The operator's meaning.
    pub(super) fn op(&self) -> Op {
        self.op
    }

    /// The lowest major version admitted, when the version names one.
    pub(super) fn major(&self) -> Option<u64> {
        (self.wildcard != Wildcard::All).then_some(self.floor.major)
    }

    /// True when `v` passes; pre-releases pass only when `include_pre_releases`.
    pub(super) fn admits(&self, v: &Version, include_pre_releases: bool) -> bool {
        if !v.pre().is_empty() && !include_pre_releases {
            return false;
        }
        let c = &self.floor;
        let dirty = self.wildcard != Wildcard::None;
        let minor_wild = self.wildcard == Wildcard::MinorAndPatch;
        let patch_wild = self.wildcard == Wildcard::Patch;
        match self.op {
            Op::Equal if dirty => self.tilde(v),
            Op::Equal => v == c,
            Op::NotEqual => {
                if dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if minor_wild {
                        return false;
                    }
                    if c.minor != v.minor {
                        return true;
                    }
                    if patch_wild {
                        return compare_pre_releases(v.pre(), c.pre()) != Ordering::Equal;
                    }
                    if c.patch != v.patch {
                        return true;
                    }
                }
                v != c
            }
            Op::Greater if !dirty => v > c,
            Op::Greater => match v.major.cmp(&c.major) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal if minor_wild => false,
                Ordering::Equal if patch_wild => v.minor > c.minor,
                Ordering::Equal => v > c,
            },
            Op::Less => v < c,
            Op::GreaterOrEqual => v >= c,
            Op::LessOrEqual if !dirty => v <= c,
            Op::LessOrEqual => {
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !minor_wild))
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.floor;
        if v < c {
            return false;
        }
        // `~0.0.0` (and `~*`) admits everything.
        if c.numbers() == (0, 0, 0)
            && !matches!(self.wildcard, Wildcard::MinorAndPatch | Wildcard::Patch)
        {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.wildcard == Wildcard::MinorAndPatch)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.floor;
        if v < c {
            return false;
        }
        if c.major > 0 || self.wildcard == Wildcard::MinorAndPatch {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.wildcard == Wildcard::Patch {
            return v.minor == c.minor;
        }
        v.minor == 0 && v.patch == c.patch
    }
}

impl fmt::Display for Comparator {
    /// As written, without the spaces: `>= 1.2` prints `>=1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.operator, self.version)
    }
}
