//! One version, read as Helm reads chart versions: Masterminds semver v3's `NewVersion`, which
//! is loose (`v1`, `1`, `1.2`, leading zeros in the numbers), and `StrictNewVersion`, which Helm
//! uses for OCI tags. Ordering is semver precedence; build metadata is ignored.

use std::cmp::Ordering;
use std::fmt;

/// Why a text is not a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid semantic version")]
    Invalid,
    #[error("a version number is larger than 18446744073709551615")]
    TooLarge,
    #[error("a pre-release or version segment starts with 0")]
    LeadingZero,
    #[error("invalid pre-release")]
    Prerelease,
    #[error("invalid build metadata")]
    Metadata,
}

/// A parsed version. Equality and order are semver precedence: `1.0.0+a == 1.0.0+b`.
#[derive(Debug, Clone, Default)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pre: String,
    build: String,
}

impl Version {
    /// Masterminds `NewVersion`: an optional `v`, one to three numbers (missing ones are 0,
    /// leading zeros are read away), then an optional `-pre-release` and `+build`.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let rest = text.strip_prefix('v').unwrap_or(text);
        let (core, pre, build) = split_suffixes(rest);
        let mut numbers = core.split('.');
        let mut next = |required: bool| match numbers.next() {
            None if !required => Ok(0),
            Some(digits) if is_digits(digits) => digits.parse().map_err(|_| VersionError::TooLarge),
            _ => Err(VersionError::Invalid),
        };
        let (major, minor, patch) = (next(true)?, next(false)?, next(false)?);
        if numbers.next().is_some() {
            return Err(VersionError::Invalid);
        }
        Self::with_suffixes(major, minor, patch, pre, build)
    }

    /// Masterminds `StrictNewVersion`: exactly `MAJOR.MINOR.PATCH`, no `v`, no leading zeros.
    pub fn parse_strict(text: &str) -> Result<Self, VersionError> {
        let mut parts = text.splitn(3, '.');
        let (Some(major), Some(minor), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VersionError::Invalid);
        };
        let (patch, pre, build) = split_suffixes(rest);
        let number = |digits: &str| {
            if !is_digits(digits) {
                return Err(VersionError::Invalid);
            }
            if digits.len() > 1 && digits.starts_with('0') {
                return Err(VersionError::LeadingZero);
            }
            digits.parse().map_err(|_| VersionError::TooLarge)
        };
        Self::with_suffixes(number(major)?, number(minor)?, number(patch)?, pre, build)
    }

    fn with_suffixes(
        major: u64,
        minor: u64,
        patch: u64,
        pre: Option<&str>,
        build: Option<&str>,
    ) -> Result<Self, VersionError> {
        if let Some(pre) = pre {
            valid_identifiers(pre, true)?;
        }
        if let Some(build) = build {
            valid_identifiers(build, false).map_err(|_| VersionError::Metadata)?;
        }
        Ok(Self {
            major,
            minor,
            patch,
            pre: pre.unwrap_or_default().to_owned(),
            build: build.unwrap_or_default().to_owned(),
        })
    }

    /// The pre-release, without its `-`; empty for a release.
    pub fn pre(&self) -> &str {
        &self.pre
    }

    /// The three numbers equal, whatever the pre-release and build.
    pub(super) fn numbers(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

/// `core`, then the pre-release after the first `-` and the build after the first `+` (a build
/// may hold a `-`, a pre-release never holds a `+`).
fn split_suffixes(text: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre), build),
        None => (rest, None, build),
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Dot-separated, non-empty identifiers of `[0-9A-Za-z-]`; numeric pre-release identifiers have
/// no leading zero.
fn valid_identifiers(text: &str, pre_release: bool) -> Result<(), VersionError> {
    let invalid = if pre_release {
        VersionError::Prerelease
    } else {
        VersionError::Metadata
    };
    for identifier in text.split('.') {
        if identifier.is_empty()
            || !identifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid);
        }
        if pre_release
            && is_digits(identifier)
            && identifier.len() > 1
            && identifier.starts_with('0')
        {
            return Err(VersionError::LeadingZero);
        }
    }
    Ok(())
}

/// Masterminds' pre-release order: identifier by identifier, numbers numerically and below
/// words, words by bytes, a missing identifier below any present one.
pub(super) fn compare_pre_releases(a: &str, b: &str) -> Ordering {
    let (mut left, mut right) = (a.split('.'), b.split('.'));
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (l, r) => {
                let order = compare_identifiers(l.unwrap_or(""), r.unwrap_or(""));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_identifiers(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if a.is_empty() || b.is_empty() {
        return if a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let number = |s: &str| is_digits(s).then(|| s.parse::<u64>().ok()).flatten();
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers().cmp(&other.numbers()).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre_releases(&self.pre, &other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    /// The canonical spelling (`v1.2` prints as `1.2.0`), as Masterminds' `String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}
