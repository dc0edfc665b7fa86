//! Writing the PEM files, idempotently.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{CertRequest, CertsError, generate};

/// The CA certificate file: the webhook configuration's `caBundle`.
pub const CA_CERT_FILE: &str = "ca.crt";
/// The serving certificate chain (leaf, then CA).
pub const TLS_CERT_FILE: &str = "tls.crt";
/// The serving key.
pub const TLS_KEY_FILE: &str = "tls.key";

/// What [`ensure_dir`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// New certificates were written.
    Written,
    /// All three files existed and were left alone.
    Kept,
}

/// Writes ca.crt, tls.crt and tls.key into `dir` unless all three exist already (or `force`).
///
/// NB: existing files are kept as they are, even when `request` asks for other names: pass
/// `force` after changing names. A directory with only some of the files is an error, so a
/// half-written earlier run never pairs an old CA with a new key.
pub fn ensure_dir(dir: &Path, request: &CertRequest, force: bool) -> Result<Outcome, CertsError> {
    let files = [CA_CERT_FILE, TLS_CERT_FILE, TLS_KEY_FILE].map(|f| dir.join(f));
    let present = files.iter().filter(|f| f.exists()).count();
    if !force && present == files.len() {
        return Ok(Outcome::Kept);
    }
    if !force && present > 0 {
        return Err(CertsError::Partial {
            dir: dir.to_path_buf(),
        });
    }
    let generated = generate(request)?;
    fs::create_dir_all(dir).map_err(|source| CertsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let [ca, cert, key] = files;
    // Key first and all via rename, so a reader never sees a certificate without its key.
    write_atomic(&key, &generated.key_pem, 0o600)?;
    write_atomic(&cert, &generated.chain_pem, 0o644)?;
    write_atomic(&ca, &generated.ca_pem, 0o644)?;
    Ok(Outcome::Written)
}

/// Writes `content` to a new file next to `path`, created with `mode` (the key is never readable
/// by others, not even for a moment), then renames it over `path`. A stale temporary file (or a
/// link planted in its place) is removed, not written through.
fn write_atomic(path: &Path, content: &str, mode: u32) -> Result<(), CertsError> {
    let io = |source| CertsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp: PathBuf = path.with_file_name(format!(".{name}.tmp"));
    match fs::remove_file(&tmp) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io(error)),
        _ => {}
    }
    let mut file = create_new(&tmp, mode).map_err(io)?;
    file.write_all(content.as_bytes()).map_err(io)?;
    drop(file);
    set_mode(&tmp, mode).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(unix)]
fn create_new(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path, _: u32) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The exact mode, whatever the umask took from the one `create_new` asked for.
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}
