//! Reading chart archives (`.tgz`) safely.
//!
//! A chart archive holds regular files under one top-level directory (`<chart>/…`). Everything
//! else is refused rather than skipped, because a chart that relies on it would not deploy the
//! way its author expects: symlinks and hard links, device files, absolute paths and `..`
//! components (which could escape the chart), and archives whose size exceeds [`Limits`]
//! (compressed, decompressed in total, or per file; a gzip bomb stops at the limit).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Component;

use flate2::read::GzDecoder;

use crate::staging::error::StagingError;
use crate::staging::limits::Limits;

/// The files of a chart, by path relative to the chart's root directory ("Chart.yaml",
/// "templates/x.yaml", "charts/sub/Chart.yaml"), sorted.
pub type ChartFiles = BTreeMap<String, Vec<u8>>;

/// Unpacks a chart archive into its files (top-level directory stripped). `label` names the chart
/// in errors.
pub fn unpack(label: &str, tgz: &[u8], limits: &Limits) -> Result<ChartFiles, StagingError> {
    let bad = |reason: String| StagingError::invalid_chart(label, reason);
    if tgz.len() as u64 > limits.max_archive_bytes {
        return Err(bad(format!(
            "archive is {} bytes, over the limit of {} bytes",
            tgz.len(),
            limits.max_archive_bytes
        )));
    }
    // +1 so that reaching the cap is distinguishable from fitting exactly.
    let decoder = GzDecoder::new(tgz).take(limits.max_decompressed_bytes.saturating_add(1) * 2);
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .map_err(|err| bad(format!("not a gzip tar archive: {err}")))?;

    let mut files = ChartFiles::new();
    let mut top: Option<String> = None;
    let mut total: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|err| bad(format!("corrupt archive: {err}")))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "entry {raw_path:?} is a {kind:?}, only regular files are allowed"
            )));
        }
        let (first, rest) = split_safe_path(&raw_path).ok_or_else(|| {
            bad(format!(
                "entry {raw_path:?} escapes the chart directory or has no top-level directory"
            ))
        })?;
        match &top {
            None => top = Some(first),
            Some(t) if *t == first => {}
            Some(t) => {
                return Err(bad(format!(
                    "entries under both {t:?} and {first:?}: one chart per archive"
                )));
            }
        }
        let size = entry
            .header()
            .size()
            .map_err(|err| bad(format!("corrupt header of {raw_path:?}: {err}")))?;
        if size > limits.max_file_bytes {
            return Err(bad(format!(
                "file {rest} is {size} bytes, over the limit of {}",
                limits.max_file_bytes
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_decompressed_bytes {
            return Err(bad(format!(
                "decompressed size exceeds the limit of {} bytes",
                limits.max_decompressed_bytes
            )));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut data).map_err(|err| {
            bad(format!(
                "corrupt or truncated archive at {raw_path:?}: {err}"
            ))
        })?;
        if files.insert(rest.clone(), data).is_some() {
            return Err(bad(format!("file {rest} appears twice")));
        }
    }
    if files.is_empty() {
        return Err(bad("archive holds no files".to_owned()));
    }
    Ok(files)
}

/// Splits "top/rest/of/path" into ("top", "rest/of/path") when every component is a plain name.
fn split_safe_path(raw: &str) -> Option<(String, String)> {
    if raw.starts_with('/') || raw.contains('\\') {
        return None;
    }
    let mut parts = Vec::new();
    for component in std::path::Path::new(raw).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if parts.len() < 2 {
        return None;
    }
    let first = parts.remove(0);
    Some((first, parts.join("/")))
}

/// The files under `dir/` (e.g. "charts/sub"), re-rooted at that directory.
pub fn subtree(files: &ChartFiles, dir: &str) -> ChartFiles {
    let prefix = format!("{dir}/");
    files
        .range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .map(|(path, data)| (path[prefix.len()..].to_owned(), data.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths_are_split_and_escapes_refused() {
        assert_eq!(
            split_safe_path("c/Chart.yaml"),
            Some(("c".into(), "Chart.yaml".into()))
        );
        assert_eq!(
            split_safe_path("./c/templates/a.yaml"),
            Some(("c".into(), "templates/a.yaml".into()))
        );
        for bad in ["/etc/passwd", "c/../../x", "../x", "Chart.yaml", "c\\x"] {
            assert_eq!(split_safe_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn garbage_is_an_invalid_chart() {
        let err = unpack("c", b"not gzip at all", &Limits::default()).err();
        assert_eq!(err.map(|e| e.category()), Some("invalid_chart"));
    }
}
