//! The `circleci_runner_config` sink's file handling: a CircleCI self-hosted runner's
//! token in its launch-agent configuration (`api:` → `auth_token: TOKEN`) or alone in a
//! token file.
//!
//! Writes are atomic (a temporary file in the same directory, synced, then renamed over
//! the old one) and leave the file mode 0600. The token never appears in an error: a
//! message names the file and the key only.

use firebreak_core::SecretString;
use std::io::Write;
use std::path::Path;

/// The text of `old` with the value of the `key:` line replaced by `value` (indentation
/// and the rest of the file kept); `None` when no such line exists.
fn replace_key(old: &str, key: &str, value: &str) -> Option<String> {
    let mut out = String::with_capacity(old.len() + value.len());
    let mut done = false;
    for line in old.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        let rest = &body[indent..];
        if !done {
            if let Some(after) = rest.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
                if after.is_empty() || after.starts_with([' ', '\t']) {
                    out.push_str(&body[..indent]);
                    out.push_str(key);
                    out.push_str(": ");
                    out.push_str(value);
                    out.push_str(&line[body.len()..]);
                    done = true;
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    done.then_some(out)
}

/// The token in `text`: the value of the first `key:` line (quotes removed), or the whole
/// text trimmed when `key` is empty.
fn extract(text: &str, key: &str) -> Option<String> {
    if key.is_empty() {
        let t = text.trim();
        return (!t.is_empty()).then(|| t.to_string());
    }
    text.lines().find_map(|l| {
        let rest = l.trim_start();
        let after = rest.strip_prefix(key)?.strip_prefix(':')?;
        let v = after.trim().trim_matches(['"', '\'']);
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// Writes `value` into the file at `path` (see the module documentation). With a key,
/// the file must exist and hold a `key:` line: a runner configuration is never invented.
pub fn write(path: &str, key: &str, value: &SecretString) -> Result<(), String> {
    let p = Path::new(path);
    let text = if key.is_empty() {
        format!("{}\n", value.expose())
    } else {
        let old = std::fs::read_to_string(p).map_err(|e| format!("cannot read {path}: {e}"))?;
        replace_key(&old, key, value.expose())
            .ok_or_else(|| format!("{path} has no `{key}:` line to hold the token"))?
    };
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // unique per write: two secrets of one run may share a directory (or a file)
    let tmp = dir.join(format!(
        ".{name}.firebreak-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let res = (|| -> std::io::Result<()> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, p)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    })();
    drop(text);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {path}: {e}"));
    }
    Ok(())
}

/// The token the file holds now (`None`: no `key:` line, or an empty file).
pub fn read(path: &str, key: &str) -> Result<Option<SecretString>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(extract(&text, key).map(SecretString::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str =
        "api:\n  auth_token: OLDTOKEN\n  url: https://runner.circleci.com\nrunner:\n  name: host-1\n";

    #[test]
    fn the_token_line_is_replaced_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.yaml");
        std::fs::write(&p, CONFIG).unwrap();
        let ps = p.to_str().unwrap();
        write(ps, "auth_token", &SecretString::new("NEWTOKEN")).unwrap();
        let got = std::fs::read_to_string(&p).unwrap();
        assert_eq!(got, CONFIG.replace("OLDTOKEN", "NEWTOKEN"));
        assert_eq!(read(ps, "auth_token").unwrap().unwrap().expose(), "NEWTOKEN");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // no temporary file left behind
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_config_without_the_key_is_refused_without_echoing_the_token() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.yaml");
        std::fs::write(&p, "runner:\n  name: x\n").unwrap();
        let e = write(
            p.to_str().unwrap(),
            "auth_token",
            &SecretString::new("SECRETVALUE"),
        )
        .unwrap_err();
        assert!(
            e.contains("no `auth_token:` line") && !e.contains("SECRETVALUE"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "runner:\n  name: x\n");
        // a missing file is an error too, naming the path
        let e = write("/nonexistent/dir/c.yaml", "auth_token", &SecretString::new("S")).unwrap_err();
        assert!(e.contains("/nonexistent/dir/c.yaml"), "{e}");
    }

    #[test]
    fn a_whole_file_token() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("token");
        let ps = p.to_str().unwrap();
        write(ps, "", &SecretString::new("T0K")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "T0K\n");
        assert_eq!(read(ps, "").unwrap().unwrap().expose(), "T0K");
        // a key that is a prefix of another is not confused with it
        assert_eq!(
            extract("auth_token_file: /x\nauth_token: 'q'\n", "auth_token").as_deref(),
            Some("q")
        );
    }
}
