//! Deterministic chart packaging: the same files always give the same bytes and digest.
//!
//! Entries are written in path order under `<chart name>/`, as regular files only, with fixed
//! metadata (mode 0644, uid/gid 0, empty owner names, a fixed mtime) and a gzip header with no
//! file name and mtime 0. Re-staging an unchanged chart therefore produces identical blobs, which
//! the push step recognises as already present.

use std::io::Write;

use flate2::{Compression, GzBuilder};
use serde_norway::{Mapping, Value};
use sha2::{Digest, Sha256};

use crate::staging::error::StagingError;
use crate::staging::prepare::archive::ChartFiles;
use crate::staging::prepare::chart::Chart;

/// A packaged chart ready to push.
#[derive(Debug, Clone)]
pub struct ChartToPush {
    /// Chart name (the last component of its OCI repository).
    pub name: String,
    /// Chart version (OCI tag, with `+` written `_`).
    pub version: String,
    /// The deterministic archive.
    pub package: Package,
    /// Helm's OCI config blob: Chart.yaml as JSON.
    pub config: Vec<u8>,
}

impl ChartToPush {
    /// Packages `chart`.
    pub fn new(chart: &Chart) -> Result<Self, StagingError> {
        // NB: the version becomes a tag in the registry's URL path (and a file name in
        // ChartMuseum): `1/../../x` would name another repository's manifest.
        if !is_tag(&chart.version.replace('+', "_")) {
            return Err(StagingError::invalid_chart(
                &chart.name,
                format!(
                    "Chart.yaml version {:?} cannot be pushed: use letters, digits, '.', '_', '-' \
                     and '+' (at most 128, not starting with '.' or '-')",
                    chart.version
                ),
            ));
        }
        let package = package(&chart.name, &chart.files)?;
        let config = serde_json::to_vec(&config_of(&chart.metadata)).map_err(|err| {
            StagingError::invalid_chart(&chart.name, format!("Chart.yaml cannot be JSON: {err}"))
        })?;
        Ok(Self {
            name: chart.name.clone(),
            version: chart.version.clone(),
            package,
            config,
        })
    }
}

/// The manifest's config: Chart.yaml as JSON, with the fields Helm reads as strings written as
/// strings. Helm pulls by decoding the config into its `Metadata`, and a YAML `appVersion: 1.0`
/// (a number) would fail that decoding ("cannot unmarshal number into … Metadata.appVersion").
fn config_of(metadata: &Mapping) -> Mapping {
    let mut config = metadata.clone();
    for key in [
        "appVersion",
        "version",
        "kubeVersion",
        "name",
        "description",
    ] {
        if let Some(value) = config.get_mut(key)
            && let Value::Number(number) = value
        {
            let text = match number.as_f64() {
                Some(float) if number.is_f64() => go_float(float),
                _ => number.to_string(),
            };
            *value = Value::String(text);
        }
    }
    config
}

/// A YAML float as Helm's loader turns it into text (sigs.k8s.io/yaml: Go's
/// `strconv.FormatFloat(v, 'g', -1, 32)`): 32-bit precision, shortest digits, an exponent from
/// 1e6 up or below 1e-4 (`1.0` is "1", `1.10` "1.1", `1234567.0` "1.234567e+06").
fn go_float(value: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let single = value as f32;
    let scientific = format!("{single:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{single}")
    }
}

/// True for an OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` (the distribution spec's grammar).
fn is_tag(tag: &str) -> bool {
    tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Modification time written for every entry: 1980-01-01T00:00:00Z. Some tools treat 0 (1970)
/// as "unset"; any fixed value keeps the output stable.
const FIXED_MTIME: u64 = 315_532_800;

/// A packaged chart: the archive and its sha256 digest (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The `.tgz` bytes.
    pub bytes: Vec<u8>,
    /// Hex sha256 of `bytes`.
    pub sha256: String,
}

/// Packages `files` as chart `name`.
pub fn package(name: &str, files: &ChartFiles) -> Result<Package, StagingError> {
    let io_err =
        |err: std::io::Error| StagingError::invalid_chart(name, format!("packaging failed: {err}"));
    let gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(gz);
    builder.mode(tar::HeaderMode::Deterministic);
    // BTreeMap iteration is already in path order.
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(FIXED_MTIME);
        builder
            .append_data(&mut header, format!("{name}/{path}"), data.as_slice())
            .map_err(io_err)?;
    }
    let gz = builder.into_inner().map_err(io_err)?;
    let mut bytes = gz.finish().map_err(io_err)?;
    bytes.flush().map_err(io_err)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(Package { bytes, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staging::limits::Limits;
    use crate::staging::prepare::archive::unpack;

    #[test]
    fn floats_read_as_helm_reads_them() {
        for (value, text) in [
            (1.0, "1"),
            (1.10, "1.1"),
            (1234567.0, "1.234567e+06"),
            (1.23456789, "1.2345679"),
            (0.00001, "1e-05"),
            (0.5, "0.5"),
        ] {
            assert_eq!(go_float(value), text, "{value}");
        }
    }

    #[test]
    fn a_version_that_is_no_tag_is_refused_before_anything_is_pushed() {
        for (version, ok) in [
            ("1.2.3", true),
            ("1.2.3+build.7", true),
            ("v1", true),
            ("1/../../x", false),
            ("1.0.0?x", false),
            (".1", false),
        ] {
            let mut chart = Chart::from_files("c", files()).unwrap();
            chart.version = version.to_owned();
            let pushed = ChartToPush::new(&chart);
            assert_eq!(pushed.is_ok(), ok, "{version}: {:?}", pushed.err());
        }
    }

    fn files() -> ChartFiles {
        let mut files = ChartFiles::new();
        files.insert("templates/b.yaml".into(), b"kind: B\n".to_vec());
        files.insert(
            "Chart.yaml".into(),
            b"apiVersion: v2\nname: c\nversion: 1.0.0\n".to_vec(),
        );
        files.insert("templates/a.yaml".into(), b"kind: A\n".to_vec());
        files
    }

    #[test]
    fn same_files_give_the_same_bytes() {
        let (a, b) = (package("c", &files()).ok(), package("c", &files()).ok());
        assert!(a.is_some());
        assert_eq!(a, b);
    }

    #[test]
    fn a_package_unpacks_to_its_files() {
        let pkg = package("c", &files()).ok();
        let back = pkg.and_then(|p| unpack("c", &p.bytes, &Limits::default()).ok());
        assert_eq!(back, Some(files()));
    }
}
