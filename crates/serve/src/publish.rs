//! Moving an artifact from staging to published, safely under concurrency.
//!
//! The staged file is copied (while hashing) into a private temporary file inside the
//! published tree; only when the SHA-256 matches is the temporary file hard-linked to its
//! final name. `link` never replaces an existing file, so of several concurrent publishes of
//! one artifact exactly one creates it; the others find it there and get an idempotent
//! success when its content is identical, or a conflict otherwise. The staged copy is removed
//! after a successful publish.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Outcome of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// This call created the published artifact.
    Created,
    /// The identical artifact was already published (idempotent success).
    AlreadyPublished,
}

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The path is not a clean relative path under the project.
    #[error("artifact path is not allowed: {0}")]
    BadPath(String),
    /// The artifact is not in staging (and not already published identically).
    #[error("artifact not found in staging")]
    NotFound,
    /// The staged file is a symlink or not a regular file.
    #[error("artifact is not a regular file (symlinks are refused)")]
    NotRegular,
    /// The checksum differs.
    #[error("artifact sha256 does not match")]
    ChecksumMismatch,
    /// A different artifact is already published under this name.
    #[error("a different artifact is already published at this path")]
    Conflict,
    /// Filesystem failure.
    #[error("storage error: {0}")]
    Io(String),
}

/// Validates `artifact` (relative, `/`-separated, first component = `project`) and returns
/// its components.
pub fn check_path(project: &str, artifact: &str) -> Result<PathBuf, PublishError> {
    if artifact.is_empty() || artifact.len() > 1024 {
        return Err(PublishError::BadPath("empty or longer than 1024 bytes".into()));
    }
    if artifact.contains('\\') || artifact.contains('\0') || artifact.starts_with('/') {
        return Err(PublishError::BadPath(
            "absolute paths, backslashes and NUL are refused".into(),
        ));
    }
    for seg in artifact.split('/') {
        match seg {
            "" => return Err(PublishError::BadPath("empty path components are refused".into())),
            "." => return Err(PublishError::BadPath("`.` is refused".into())),
            ".." => return Err(PublishError::BadPath("`..` is refused".into())),
            _ => {}
        }
    }
    let p = Path::new(artifact);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                let s = s
                    .to_str()
                    .ok_or_else(|| PublishError::BadPath("not UTF-8".into()))?;
                if s.starts_with('.') {
                    return Err(PublishError::BadPath(
                        "hidden or dot components are refused".into(),
                    ));
                }
                out.push(s);
            }
            Component::ParentDir => return Err(PublishError::BadPath("`..` is refused".into())),
            Component::CurDir => return Err(PublishError::BadPath("`.` is refused".into())),
            _ => return Err(PublishError::BadPath("absolute paths are refused".into())),
        }
    }
    let mut comps = out.components();
    match comps.next() {
        Some(Component::Normal(first)) if first == project => {}
        _ => {
            return Err(PublishError::BadPath(
                "first path component must be the project".into(),
            ))
        }
    }
    if comps.next().is_none() {
        return Err(PublishError::BadPath(
            "path names the project directory itself".into(),
        ));
    }
    Ok(out)
}

/// Refuses any symlink along `root/rel` (every component, the file included).
fn no_symlinks(root: &Path, rel: &Path) -> Result<(), PublishError> {
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return Err(PublishError::NotRegular),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PublishError::NotFound),
            Err(e) => return Err(PublishError::Io(e.to_string())),
        }
    }
    Ok(())
}

fn sha256_file(p: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn already(dest: &Path, sha: &str) -> Result<Published, PublishError> {
    match sha256_file(dest) {
        Ok(d) if d == sha => Ok(Published::AlreadyPublished),
        Ok(_) => Err(PublishError::Conflict),
        Err(e) => Err(PublishError::Io(e.to_string())),
    }
}

/// Publishes `rel` (already checked by [`check_path`]) from `staging` to `published`.
/// Blocking: run it on a blocking thread.
pub fn publish(
    staging: &Path,
    published: &Path,
    rel: &Path,
    sha256: &str,
) -> Result<Published, PublishError> {
    let sha = sha256.to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PublishError::BadPath("sha256 must be 64 hex characters".into()));
    }
    let src = staging.join(rel);
    let dest = published.join(rel);
    match no_symlinks(staging, rel) {
        Ok(()) => {}
        Err(PublishError::NotFound) => {
            // Lost a race with a concurrent identical publish, or a retry after success.
            if dest.exists() {
                return already(&dest, &sha);
            }
            return Err(PublishError::NotFound);
        }
        Err(e) => return Err(e),
    }
    let io = |e: std::io::Error| PublishError::Io(e.to_string());
    // Open without following a symlink swapped in after the check.
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_nofollow())
            .open(&src)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return if dest.exists() {
                    already(&dest, &sha)
                } else {
                    Err(PublishError::NotFound)
                }
            }
            Err(_) => return Err(PublishError::NotRegular),
        }
    };
    if !f.metadata().map_err(io)?.is_file() {
        return Err(PublishError::NotRegular);
    }
    let dir = dest.parent().expect("has parent");
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile_in(dir).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        tmp.1.write_all(&buf[..n]).map_err(io)?;
    }
    tmp.1.sync_all().map_err(io)?;
    let got = hex::encode(h.finalize());
    let result = if got != sha {
        Err(PublishError::ChecksumMismatch)
    } else {
        match std::fs::hard_link(&tmp.0, &dest) {
            Ok(()) => Ok(Published::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => already(&dest, &sha),
            Err(e) => Err(io(e)),
        }
    };
    let _ = std::fs::remove_file(&tmp.0);
    if result.is_ok() {
        let _ = std::fs::remove_file(&src);
    }
    result
}

fn libc_o_nofollow() -> i32 {
    // O_NOFOLLOW on Linux (all architectures that matter here).
    #[cfg(target_os = "linux")]
    {
        0o400000
    }
    #[cfg(not(target_os = "linux"))]
    {
        0x0100
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use rand::RngCore;
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        let mut r = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut r);
        let p = dir.join(format!(".fb-tmp-{}", hex::encode(r)));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        assert!(check_path("p", "p/a/b.tar.bz2").is_ok());
        for bad in [
            "",
            "/p/a",
            "p/./a",
            "p//a",
            "p/a/",
            "p/../q/a",
            "q/a",
            "p",
            "./p/a",
            "p/.hidden",
            "p\\a",
            "p/a/../../etc",
        ] {
            assert!(check_path("p", bad).is_err(), "{bad:?} should be refused");
        }
    }
}
