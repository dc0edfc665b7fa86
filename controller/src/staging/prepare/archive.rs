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
    unpack_within(label, tgz, limits, 0)
}

/// [`unpack`] for an archive bundled in a chart whose files (and other bundled archives) already
/// hold `used` decompressed bytes: the chart and everything it bundles share one decompressed
/// limit, so a chart of many small archives cannot each unpack to the limit.
pub fn unpack_within(
    label: &str,
    tgz: &[u8],
    limits: &Limits,
    used: u64,
) -> Result<ChartFiles, StagingError> {
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
    let mut total: u64 = used;
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
        // NB: the entry's size, not its header's: a PAX `size` record overrides the header, and
        // the data read is as long as the record says.
        let size = entry.size();
        if size > limits.max_file_bytes {
            return Err(bad(format!(
                "file {rest} is {size} bytes, over the limit of {}",
                limits.max_file_bytes
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_decompressed_bytes {
            let whole = if used > 0 {
                " (with the chart that bundles it)"
            } else {
                ""
            };
            return Err(bad(format!(
                "decompressed size{whole} exceeds the limit of {} bytes",
                limits.max_decompressed_bytes
            )));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let read = entry.read_to_end(&mut data);
        if let Err(err) = read {
            return Err(bad(format!(
                "corrupt or truncated archive at {raw_path:?}: {err}"
            )));
        }
        // NB: a tar reader ends an entry quietly where its input ends.
        if data.len() as u64 != size {
            return Err(bad(format!(
                "truncated archive: {raw_path:?} holds {} of its {size} bytes",
                data.len()
            )));
        }
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

    /// A chart archive whose `c/big` has `size` bytes of data, announced by a PAX `size` record
    /// while its header says `header_size`.
    fn pax_sized(size: usize, header_size: u64) -> Vec<u8> {
        use std::io::Write;
        let mut builder = tar::Builder::new(Vec::new());
        let chart = b"name: c\nversion: 1.0.0\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(chart.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "c/Chart.yaml", &chart[..])
            .unwrap();
        builder
            .append_pax_extensions([("size", size.to_string().as_bytes())])
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_path("c/big").unwrap();
        header.set_size(header_size);
        header.set_mode(0o644);
        header.set_cksum();
        let out = builder.get_mut();
        out.write_all(header.as_bytes()).unwrap();
        out.write_all(&vec![b'x'; size]).unwrap();
        out.write_all(&vec![0; (512 - size % 512) % 512]).unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_pax_size_is_held_to_the_file_limit() {
        let limits = Limits {
            max_file_bytes: 1000,
            ..Limits::default()
        };
        let err = unpack("c", &pax_sized(5000, 0), &limits)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("file big is 5000 bytes, over the limit of 1000")),
            "{err:?}"
        );
        let files = unpack("c", &pax_sized(500, 0), &limits).unwrap();
        assert_eq!(files["big"].len(), 500, "the PAX size is the entry's size");
    }

    #[test]
    fn an_archive_cut_short_is_refused() {
        let whole = {
            use std::io::Read;
            let mut tar = Vec::new();
            GzDecoder::new(&pax_sized(3000, 0)[..])
                .read_to_end(&mut tar)
                .unwrap();
            tar
        };
        // The tar stream ends inside `big`'s data, without the end-of-archive blocks.
        let cut = &whole[..whole.len() - 2048 - 1000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, cut).unwrap();
        let err = unpack("c", &gz.finish().unwrap(), &Limits::default())
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("truncated archive")),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_is_an_invalid_chart() {
        let err = unpack("c", b"not gzip at all", &Limits::default()).err();
        assert_eq!(err.map(|e| e.category()), Some("invalid_chart"));
    }
}
