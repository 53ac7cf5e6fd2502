//! Indexes and artifacts over HTTP(S), through the workspace's one HTTP layer
//! (`firebreak_http`: timeouts, rate limits, `Retry-After`, GET-only retries).
//!
//! An index given as a URL is mirrored into a private temporary directory and read by the
//! same readers as a local one; its entries then point at the remote URLs again, and every
//! place an entry or a problem names (`source`, `file`) names the URL, never the temporary
//! copy. What the URL may be:
//!
//! - a conda channel (`https://conda.anaconda.org/conda-forge/`, or its `channeldata.json`):
//!   the subdirs named by `channeldata.json` (else the common ones) are fetched as
//!   `<subdir>/repodata.json`; a subdir that answers 404 is skipped;
//! - one `repodata.json`, a PyPI JSON API document (`https://pypi.org/pypi/NAME/json`),
//!   anaconda.org's file listing (`https://api.anaconda.org/package/OWNER/NAME/files`) or
//!   JSON Lines: fetched once and detected from content like a file.
//!
//! Artifacts inside the window that are only remote are downloaded (`--download`) into
//! the same private directory, bounded in size, and checked like local ones; their record
//! keeps the URL.
//!
//! Redirects are followed (up to five, GET only, http(s) only); no credential is ever
//! attached to a census request.

use crate::index::{IndexError, Problem};
use firebreak_http::{Http, HttpConfig, Method, Replay, Request};
use std::path::{Path, PathBuf};
use url::Url;

/// Conda subdirs tried when a channel has no `channeldata.json`.
pub const DEFAULT_SUBDIRS: [&str; 8] = [
    "noarch",
    "linux-64",
    "linux-aarch64",
    "linux-ppc64le",
    "osx-64",
    "osx-arm64",
    "win-64",
    "win-32",
];

/// Largest index document fetched (1 GiB: conda-forge's `linux-64/repodata.json` is a
/// few hundred MB).
pub const MAX_INDEX_BYTES: usize = 1 << 30;

/// True when `s` names an index over HTTP(S).
pub fn is_url(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    l.starts_with("https://") || l.starts_with("http://")
}

/// A client for census requests: anonymous, on a private runtime (the census itself is
/// synchronous and parallel).
pub struct Remote {
    rt: tokio::runtime::Runtime,
    http: Http,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("http", &self.http).finish()
    }
}

/// An index mirrored from a URL.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The local copy to read (a file, or a channel directory).
    pub path: PathBuf,
    /// The temporary directory holding it.
    pub dir: PathBuf,
    /// The URL local paths under `dir` stand for (the channel root, or the document's
    /// directory).
    pub base: Url,
    /// Documents fetched.
    pub files: usize,
    /// Parts of the index that could not be fetched (a subdir answering 500, ...).
    pub problems: Vec<Problem>,
}

impl Remote {
    /// A client with the given HTTP settings.
    pub fn new(cfg: HttpConfig) -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime for HTTP: {e}"))?;
        let http = Http::anonymous(cfg).map_err(|e| e.to_string())?;
        Ok(Remote { rt, http })
    }

    /// GET `url`, following redirects; `Ok(None)` on 404/410. The body is at most `max`
    /// bytes.
    pub fn get(&self, url: &Url, max: usize) -> Result<Option<Vec<u8>>, String> {
        self.rt.block_on(self.get_async(url, max))
    }

    async fn get_async(&self, url: &Url, max: usize) -> Result<Option<Vec<u8>>, String> {
        let mut at = url.clone();
        for _ in 0..=5 {
            let mut req = Request::new(Method::GET, at.clone());
            req.replay = Replay::Safe;
            req.any_status = true;
            req.max_body = Some(max);
            let r = self.http.execute(req).await.map_err(|e| e.to_string())?;
            match r.status {
                200..=299 => return Ok(Some(r.body)),
                404 | 410 => return Ok(None),
                301 | 302 | 303 | 307 | 308 => {
                    let loc = r
                        .header("location")
                        .ok_or_else(|| format!("GET {}: HTTP {} without a Location", shown(&at), r.status))?;
                    let next = at
                        .join(loc)
                        .map_err(|e| format!("GET {}: bad redirect: {e}", shown(&at)))?;
                    if !matches!(next.scheme(), "http" | "https") {
                        return Err(format!("GET {}: redirect to a non-HTTP URL refused", shown(&at)));
                    }
                    at = next;
                }
                s => return Err(format!("GET {}: HTTP {s}", shown(&at))),
            }
        }
        Err(format!("GET {}: more than 5 redirects", shown(url)))
    }

    /// Mirrors the index at `url` into `dir` (which must exist and be private).
    pub fn mirror_index(&self, url: &str, dir: &Path) -> Result<Mirror, IndexError> {
        let bad = |message: String| IndexError::Invalid {
            path: url.to_string(),
            message,
        };
        let u = Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
        let ends_dir = u.path().ends_with('/');
        let doc = if ends_dir {
            None
        } else {
            self.get(&u, MAX_INDEX_BYTES).map_err(bad)?
        };
        let last = u
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("")
            .to_string();
        if let Some(body) = doc {
            let v = serde_json::from_slice::<serde_json::Value>(&body).ok();
            let channeldata =
                v.as_ref().and_then(|v| v.get("subdirs")).is_some() && last == "channeldata.json";
            let looks_html = !body.is_empty() && body.trim_ascii_start().first() == Some(&b'<');
            if !channeldata && !looks_html {
                let name = if last.is_empty() {
                    "index.json".to_string()
                } else {
                    safe_name(&last)
                };
                let path = dir.join(&name);
                write_private(&path, &body).map_err(bad)?;
                let base = u.join(".").unwrap_or_else(|_| u.clone());
                return Ok(Mirror {
                    path,
                    dir: dir.to_path_buf(),
                    base,
                    files: 1,
                    problems: Vec::new(),
                });
            }
        }
        // a conda channel: its root
        let root = if ends_dir {
            u.clone()
        } else if last == "channeldata.json" {
            u.join(".").map_err(|e| bad(e.to_string()))?
        } else {
            Url::parse(&format!("{}/", u.as_str().trim_end_matches('/'))).map_err(|e| bad(e.to_string()))?
        };
        let cd = root.join("channeldata.json").map_err(|e| bad(e.to_string()))?;
        let mut subdirs: Vec<String> = match self.get(&cd, 64 << 20) {
            Ok(Some(b)) => serde_json::from_slice::<serde_json::Value>(&b)
                .ok()
                .and_then(|v| {
                    v.get("subdirs").and_then(|s| s.as_array()).map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .filter(|s| is_subdir_name(s))
                            .map(str::to_string)
                            .collect()
                    })
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if subdirs.is_empty() {
            subdirs = DEFAULT_SUBDIRS.iter().map(|s| s.to_string()).collect();
        }
        let mut files = 0;
        let mut problems = Vec::new();
        for s in &subdirs {
            let ru = root
                .join(&format!("{s}/repodata.json"))
                .map_err(|e| bad(e.to_string()))?;
            match self.get(&ru, MAX_INDEX_BYTES) {
                Ok(Some(b)) => {
                    write_private(&dir.join(s).join("repodata.json"), &b).map_err(bad)?;
                    files += 1;
                }
                Ok(None) => {}
                Err(e) => problems.push(Problem {
                    file: ru.to_string(),
                    line: None,
                    record: None,
                    kind: None,
                    message: e,
                }),
            }
        }
        if files == 0 {
            return Err(IndexError::Unknown {
                path: url.to_string(),
                why: format!(
                    "not an index document, and no conda channel there (no repodata.json in {}){}",
                    subdirs.join(", "),
                    problems
                        .first()
                        .map(|p| format!("; {}", p.message))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(Mirror {
            path: dir.to_path_buf(),
            dir: dir.to_path_buf(),
            base: root,
            files,
            problems,
        })
    }

    /// Downloads `url` to `dest` (0600), at most `max` bytes.
    pub fn download(&self, url: &str, dest: &Path, max: u64) -> Result<(), String> {
        let u = Url::parse(url).map_err(|e| format!("{url}: not a URL: {e}"))?;
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        match self.get(&u, max)? {
            Some(b) => write_private(dest, &b),
            None => Err(format!("GET {}: not found (HTTP 404)", shown(&u))),
        }
    }
}

/// A URL as shown in messages: without user info or query (which may carry a token).
pub fn shown(u: &Url) -> String {
    let mut c = u.clone();
    let _ = c.set_username("");
    let _ = c.set_password(None);
    let q = c.query().is_some();
    c.set_query(None);
    let mut s = c.to_string();
    if q {
        s.push_str("?…");
    }
    s
}

fn is_subdir_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A file name for a fetched document or artifact: ASCII letters, digits and `._-+`
/// kept, anything else `_`, at most 200 characters, never hidden.
pub(crate) fn safe_name(s: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if n.is_empty() || n.starts_with('.') {
        format!("index{n}")
    } else {
        n
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    use std::io::Write;
    o.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Replaces the temporary directory in `s` (a path, or `path:line`) by the URL it stands for.
pub fn unmirror(s: &str, m: &Mirror) -> String {
    let d = m.dir.display().to_string();
    match s.strip_prefix(&d) {
        Some(rest) => {
            let rest = rest.trim_start_matches(std::path::MAIN_SEPARATOR);
            format!("{}{}", m.base, rest)
        }
        None => s.to_string(),
    }
}

/// [`unmirror`] on every occurrence of the temporary directory in a message.
pub fn unmirror_all(s: &str, m: &Mirror) -> String {
    let d = m.dir.display().to_string();
    let base = m.base.as_str().trim_end_matches('/');
    s.replace(&d, base)
}

/// Points a mirrored index back at its URL: the index as given, each entry's source and
/// location, each problem's file; adds the problems met while fetching.
pub fn unmirror_index(l: &mut crate::index::LoadedIndex, m: &Mirror, given: &str) {
    use crate::index::Location;
    for e in &mut l.entries {
        e.index = given.to_string();
        e.source = unmirror(&e.source, m);
        if let Location::Local(p) = &e.location {
            if let Ok(rel) = p.strip_prefix(&m.dir) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if let Ok(u) = m.base.join(&format!("./{}", rel.join("/"))) {
                    e.location = Location::Remote(u.to_string());
                }
            }
        }
    }
    for p in &mut l.problems {
        p.file = unmirror(&p.file, m);
        p.message = unmirror_all(&p.message, m);
    }
    l.problems.extend(m.problems.iter().cloned());
    for w in &mut l.warnings {
        *w = unmirror_all(w, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names() {
        assert!(is_url("https://conda.anaconda.org/x/"));
        assert!(is_url("HTTP://a"));
        assert!(!is_url("./https:"));
        assert_eq!(safe_name("repodata.json"), "repodata.json");
        assert_eq!(safe_name("..x"), "index..x");
        assert_eq!(safe_name("a/b?c"), "a_b_c");
        assert!(is_subdir_name("linux-64"));
        assert!(!is_subdir_name("../etc"));
        let u = Url::parse("https://u:p@h/x?token=s").unwrap();
        assert_eq!(shown(&u), "https://h/x?…");
    }

    #[test]
    fn unmirror_maps_the_temporary_directory_to_the_url() {
        let m = Mirror {
            path: PathBuf::from("/tmp/m1/x/repodata.json"),
            dir: PathBuf::from("/tmp/m1"),
            base: Url::parse("https://c.example/ch/").unwrap(),
            files: 1,
            problems: vec![],
        };
        assert_eq!(
            unmirror("/tmp/m1/linux-64/repodata.json#packages/a", &m),
            "https://c.example/ch/linux-64/repodata.json#packages/a"
        );
        assert_eq!(unmirror("/other", &m), "/other");
    }
}
