//! Broken or hostile chart archives, for the error tests of staging.

use flate2::{Compression, write::GzEncoder};

use super::{append_raw, finish, plain, tgz};

/// Broken or hostile archives, each named so tests can serve it as chart `<name>` 1.0.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadArchive {
    /// Not gzip at all.
    Corrupt,
    /// A valid archive cut in half.
    Truncated,
    /// An entry `x/../../escape.yaml`.
    Traversal,
    /// An entry `/etc/orkestra-escape`.
    Absolute,
    /// A symlink `x/templates/link.yaml -> /etc/passwd`.
    Symlink,
    /// Chart.yaml without `name`.
    NoName,
    /// A 6 MiB file of zeros (compresses to a few KiB): over Helm's 5 MiB per-file limit.
    Bomb,
}

impl BadArchive {
    /// Every kind.
    pub const ALL: [BadArchive; 7] = [
        Self::Corrupt,
        Self::Truncated,
        Self::Traversal,
        Self::Absolute,
        Self::Symlink,
        Self::NoName,
        Self::Bomb,
    ];

    /// The chart name a repository serves this archive under.
    pub fn chart_name(self) -> &'static str {
        match self {
            Self::Corrupt => "bad-corrupt",
            Self::Truncated => "bad-truncated",
            Self::Traversal => "bad-traversal",
            Self::Absolute => "bad-absolute",
            Self::Symlink => "bad-symlink",
            Self::NoName => "bad-noname",
            Self::Bomb => "bad-bomb",
        }
    }
}

/// The bytes of a bad archive.
pub fn bad_archive(kind: BadArchive) -> Vec<u8> {
    let name = kind.chart_name();
    let good = plain(name, "1.0.0");
    let chart_yaml = (
        format!("{name}/Chart.yaml"),
        good.files["Chart.yaml"].clone(),
    );
    match kind {
        BadArchive::Corrupt => b"this is not a gzip stream".to_vec(),
        BadArchive::Truncated => {
            let mut big = good.clone();
            // Pseudo-random text, so the cut lands inside compressed file data.
            let mut state: u32 = 12_345;
            let noise: String = (0..40_000)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    char::from(b'a' + ((state >> 16) % 26) as u8)
                })
                .collect();
            big.set("templates/noise.txt", &noise);
            let bytes = big.tgz();
            bytes[..bytes.len() / 2].to_vec()
        }
        BadArchive::Traversal => tgz(&[
            chart_yaml,
            (format!("{name}/../../escape.yaml"), b"x".to_vec()),
        ]),
        BadArchive::Absolute => tgz(&[chart_yaml, ("/etc/orkestra-escape".into(), b"x".to_vec())]),
        BadArchive::Symlink => {
            let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
            append_raw(
                &mut builder,
                &chart_yaml.0,
                tar::EntryType::Regular,
                &chart_yaml.1,
                None,
            );
            let link = format!("{name}/templates/link.yaml");
            append_raw(
                &mut builder,
                &link,
                tar::EntryType::Symlink,
                b"",
                Some("/etc/passwd"),
            );
            finish(builder)
        }
        BadArchive::NoName => tgz(&[(
            format!("{name}/Chart.yaml"),
            b"apiVersion: v2\nversion: 1.0.0\n".to_vec(),
        )]),
        BadArchive::Bomb => tgz(&[
            chart_yaml,
            (format!("{name}/templates/zeros.txt"), vec![0u8; 6 << 20]),
        ]),
    }
}
