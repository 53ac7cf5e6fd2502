//! Package indexes: detection and reading.
//!
//! Four kinds are read, each into the same [`Entry`] model:
//!
//! | kind | input | upload time from |
//! |---|---|---|
//! | [`IndexKind::Conda`] | a local channel directory (`<subdir>/repodata.json`) or one `repodata.json` | each package's `timestamp` (ms, or s in old entries) |
//! | [`IndexKind::Pypi`] | a PyPI JSON API export (`/pypi/<name>/json` shape), one file or a directory of them | `upload_time_iso_8601` (or `upload_time`) of each file |
//! | [`IndexKind::Jsonl`] | JSON Lines: `name`, `uploaded_at`, `path` or `url`, optional `sha256`, `size` | `uploaded_at` |
//! | [`IndexKind::Dir`] | a plain directory of artifacts | file modification time (weaker evidence) |
//!
//! Malformed records never stop a read: each is counted as a [`Problem`] naming
//! its file and line (or JSON key).

use chrono::{DateTime, TimeZone, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The kinds of index the census reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// A conda channel: `repodata.json` per subdir.
    Conda,
    /// A PyPI-style JSON API export.
    Pypi,
    /// Generic JSON Lines.
    Jsonl,
    /// A plain directory of artifacts (modification times).
    Dir,
    /// anaconda.org's file listing (`GET /package/{owner}/{name}/files`, or the package
    /// document holding `files`): the server's `upload_time` of each file.
    Anaconda,
}

impl IndexKind {
    /// The name used on the command line and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexKind::Conda => "conda",
            IndexKind::Pypi => "pypi",
            IndexKind::Jsonl => "jsonl",
            IndexKind::Dir => "dir",
            IndexKind::Anaconda => "anaconda",
        }
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IndexKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "conda" => Ok(IndexKind::Conda),
            "pypi" => Ok(IndexKind::Pypi),
            "jsonl" => Ok(IndexKind::Jsonl),
            "dir" => Ok(IndexKind::Dir),
            "anaconda" => Ok(IndexKind::Anaconda),
            _ => Err(format!(
                "unknown index kind {} (expected conda, pypi, jsonl, dir or anaconda)",
                firebreak_core::secret::quote_untrusted(s)
            )),
        }
    }
}

/// Where the upload time of an entry comes from: how strong the evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The `timestamp` of a conda `repodata.json` record (set by the channel at upload or build).
    RepodataTimestamp,
    /// PyPI's `upload_time_iso_8601` (set by the index at upload).
    PypiUploadTime,
    /// The `uploaded_at` of a JSON Lines record (as good as whoever wrote the list).
    DeclaredUploadTime,
    /// A file's modification time: weaker evidence (copies and extractions change it).
    FileMtime,
    /// anaconda.org's `upload_time` (set by the server at upload: a stolen upload token
    /// cannot choose it, unlike the builder's `timestamp`).
    ServerUploadTime,
}

/// Where the artifact of an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Location {
    /// A local path where the artifact should be (it may be missing).
    Local(PathBuf),
    /// Only a remote URL is known; the census does not download.
    Remote(String),
    /// The index says nothing about where the artifact is.
    Unknown,
}

/// One artifact listed by an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// File name of the artifact, e.g. `foo-1.0-py_0.conda`.
    pub artifact: String,
    /// The index as given on the command line.
    pub index: String,
    /// Its kind.
    pub index_kind: IndexKind,
    /// Where in the index the entry was read (`file:line` or `file#key`).
    pub source: String,
    /// Conda subdir, wheel platform tag, `source` for sdists, or the directory.
    pub subdir: String,
    /// Package name, when the index says.
    pub package: Option<String>,
    /// Package version, when the index says.
    pub version: Option<String>,
    /// Upload time; `None` when the index has none for this entry.
    pub uploaded_at: Option<DateTime<Utc>>,
    /// Where the upload time comes from.
    pub evidence: Evidence,
    /// Size in bytes according to the index.
    pub size: Option<u64>,
    /// SHA-256 (lowercase hex) according to the index.
    pub sha256: Option<String>,
    /// MD5 (lowercase hex) according to the index.
    pub md5: Option<String>,
    /// Where the artifact is.
    pub location: Location,
    /// The builder's own timestamp (conda `timestamp` in the package's metadata), when the
    /// index also gives the server's upload time: the two are compared (backdating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_time: Option<DateTime<Utc>>,
}

/// A malformed record or unreadable part of an index (the workspace's one problem type:
/// file, line or record, message). Never fatal.
pub use firebreak_core::Problem;

/// Everything read from one index.
#[derive(Debug, Clone, Default)]
pub struct LoadedIndex {
    /// The entries, in index order.
    pub entries: Vec<Entry>,
    /// Malformed records and unreadable files (each counted, none fatal).
    pub problems: Vec<Problem>,
    /// Notes for the reader (e.g. that mtimes are weak evidence).
    pub warnings: Vec<String>,
    /// Files read.
    pub files_read: usize,
}

/// An index that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The path does not exist or cannot be read.
    #[error("cannot read index {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The kind could not be told from content or layout.
    #[error("cannot tell what kind of index {path} is ({why}); pass --index-kind conda|pypi|jsonl|dir")]
    Unknown {
        /// The path.
        path: String,
        /// What was seen.
        why: String,
    },
    /// The index is of the right kind but has nothing usable (e.g. an unparsable repodata file).
    #[error("index {path}: {message}")]
    Invalid {
        /// The path (file at fault).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Options for reading indexes.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Directories searched (recursively, by file name) for artifacts that are not
    /// where their index says.
    pub artifact_dirs: Vec<PathBuf>,
}

/// Detects the kind of index at `path` from its layout and content.
pub fn detect(path: &Path) -> Result<IndexKind, IndexError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| IndexError::Io {
        path: shown.clone(),
        source: e,
    })?;
    if meta.is_dir() {
        if path.join("repodata.json").is_file() || !conda_repodata_files(path).is_empty() {
            return Ok(IndexKind::Conda);
        }
        for f in json_files(path) {
            if let Ok(bytes) = std::fs::read(&f) {
                if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&bytes) {
                    if looks_pypi(&o) {
                        return Ok(IndexKind::Pypi);
                    }
                }
            }
        }
        return Ok(IndexKind::Dir);
    }
    let name = file_name(path);
    if name == "repodata.json" {
        return Ok(IndexKind::Conda);
    }
    if let Ok(bytes) = std::fs::read(path) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            if anaconda_files(&v).is_some() {
                return Ok(IndexKind::Anaconda);
            }
        }
    }
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        return Ok(IndexKind::Jsonl);
    }
    let bytes = std::fs::read(path).map_err(|e| IndexError::Io {
        path: shown.clone(),
        source: e,
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(o)) if looks_pypi(&o) => return Ok(IndexKind::Pypi),
        Ok(Value::Object(o)) if looks_conda(&o) => return Ok(IndexKind::Conda),
        Ok(Value::Object(o)) if o.contains_key("uploaded_at") => return Ok(IndexKind::Jsonl),
        Ok(_) => {}
        Err(_) => {
            // JSON Lines: the first non-empty line is an object with `uploaded_at`.
            let text = String::from_utf8_lossy(&bytes);
            if let Some(first) = text.lines().find(|l| !l.trim().is_empty()) {
                if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(first) {
                    if o.contains_key("uploaded_at") || o.contains_key("name") {
                        return Ok(IndexKind::Jsonl);
                    }
                }
            }
        }
    }
    Err(IndexError::Unknown {
        path: shown,
        why: "not a repodata.json, a PyPI JSON document or JSON Lines with `uploaded_at`".into(),
    })
}

fn looks_pypi(o: &serde_json::Map<String, Value>) -> bool {
    o.contains_key("info") && (o.contains_key("releases") || o.contains_key("urls"))
}

fn looks_conda(o: &serde_json::Map<String, Value>) -> bool {
    o.contains_key("packages") || o.contains_key("packages.conda")
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<dir>/<subdir>/repodata.json` files of a channel directory, sorted.
fn conda_repodata_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path().join("repodata.json");
            if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// JSON files under `dir` (recursively): `*.json` and files named `json`
/// (the `/pypi/<name>/json` URL layout), sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk_files(dir)
        .into_iter()
        .filter(|p| {
            let n = file_name(p);
            n == "json" || n.ends_with(".json")
        })
        .collect();
    out.sort();
    out
}

/// Every regular file under `dir`, recursively, sorted; hidden entries (`.name`) are skipped.
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                Ok(t) if t.is_symlink() && p.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Reads one index of the given kind (or detected when `kind` is `None`).
pub fn read_index(
    path: &Path,
    kind: Option<IndexKind>,
    opts: &ReadOptions,
) -> Result<LoadedIndex, IndexError> {
    let kind = match kind {
        Some(k) => k,
        None => detect(path)?,
    };
    if !path.exists() {
        return Err(IndexError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        });
    }
    let artifacts = ArtifactDirs::new(&opts.artifact_dirs);
    let mut out = match kind {
        IndexKind::Conda => read_conda(path)?,
        IndexKind::Pypi => read_pypi(path, &artifacts)?,
        IndexKind::Jsonl => read_jsonl(path, &artifacts)?,
        IndexKind::Dir => read_dir_index(path)?,
        IndexKind::Anaconda => read_anaconda(path)?,
    };
    // Artifacts not where the index says: look them up in the artifact directories.
    if !artifacts.is_empty() {
        for e in &mut out.entries {
            let present = matches!(&e.location, Location::Local(p) if p.is_file());
            if !present {
                if let Some(p) = artifacts.find(&e.artifact) {
                    e.location = Location::Local(p);
                }
            }
        }
    }
    Ok(out)
}

/// Artifact directories, indexed by file name.
struct ArtifactDirs {
    by_name: HashMap<String, PathBuf>,
}

impl ArtifactDirs {
    fn new(dirs: &[PathBuf]) -> Self {
        let mut by_name = HashMap::new();
        for d in dirs {
            for f in walk_files(d) {
                by_name.entry(file_name(&f)).or_insert(f);
            }
        }
        ArtifactDirs { by_name }
    }
    fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
    fn find(&self, name: &str) -> Option<PathBuf> {
        self.by_name.get(name).cloned()
    }
}

// ---------------------------------------------------------------- conda

/// A repodata record: only the fields the census reads, each kept as a JSON
/// value so that one malformed record is reported rather than failing the file.
#[derive(Debug, Default, Deserialize)]
struct CondaRecord {
    name: Option<Value>,
    version: Option<Value>,
    timestamp: Option<Value>,
    size: Option<Value>,
    sha256: Option<Value>,
    md5: Option<Value>,
    subdir: Option<Value>,
}

/// A record, or something that is not even an object.
#[derive(Debug)]
enum MaybeRecord<T> {
    Record(T),
    NotObject(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MaybeRecord<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = MaybeRecord<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a record")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(MaybeRecord::Record)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(MaybeRecord::NotObject("an array"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MaybeRecord::NotObject("a string"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeRecord::NotObject("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeRecord::NotObject("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeRecord::NotObject("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeRecord::NotObject("a number"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(MaybeRecord::NotObject("null"))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Debug, Default, Deserialize)]
struct CondaInfo {
    subdir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Repodata {
    #[serde(default)]
    info: Option<CondaInfo>,
    #[serde(default)]
    packages: Option<BTreeMap<String, MaybeRecord<CondaRecord>>>,
    #[serde(default, rename = "packages.conda")]
    packages_conda: Option<BTreeMap<String, MaybeRecord<CondaRecord>>>,
}

fn read_conda(path: &Path) -> Result<LoadedIndex, IndexError> {
    let shown = path.display().to_string();
    let files = if path.is_dir() {
        let mut f = conda_repodata_files(path);
        if path.join("repodata.json").is_file() {
            f.insert(0, path.join("repodata.json"));
        }
        if f.is_empty() {
            return Err(IndexError::Invalid {
                path: shown,
                message: "no <subdir>/repodata.json in this channel directory".into(),
            });
        }
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = LoadedIndex::default();
    let single = files.len() == 1 && !path.is_dir();
    for f in files {
        let fshown = f.display().to_string();
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) => {
                if single {
                    return Err(IndexError::Io {
                        path: fshown,
                        source: e,
                    });
                }
                out.problems.push(Problem {
                    file: fshown,
                    line: None,
                    record: None,
                    kind: None,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let rd: Repodata = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("not a valid repodata.json: {e}");
                if single {
                    return Err(IndexError::Invalid {
                        path: fshown,
                        message,
                    });
                }
                out.problems.push(Problem {
                    file: fshown,
                    line: Some(e.line() as u64),
                    record: None,
                    kind: None,
                    message,
                });
                continue;
            }
        };
        out.files_read += 1;
        let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
        let dir_subdir = if path.is_dir() && f.parent() != Some(path) {
            Some(file_name(&dir))
        } else {
            None
        };
        let info_subdir = rd.info.and_then(|i| i.subdir);
        for (section, map) in [("packages", rd.packages), ("packages.conda", rd.packages_conda)] {
            for (fname, rec) in map.unwrap_or_default() {
                let record = format!("{section}[{fname:?}]");
                let problem = |message: String| Problem {
                    file: fshown.clone(),
                    line: None,
                    record: Some(record.clone()),
                    kind: None,
                    message,
                };
                let rec = match rec {
                    MaybeRecord::Record(r) => r,
                    MaybeRecord::NotObject(what) => {
                        out.problems
                            .push(problem(format!("record is {what}, not an object")));
                        continue;
                    }
                };
                if fname.contains('/') || fname.contains('\\') || fname.is_empty() || fname == ".." {
                    out.problems
                        .push(problem("file name is empty or has a path separator".into()));
                    continue;
                }
                let mut errs = Vec::new();
                let uploaded_at = match &rec.timestamp {
                    None | Some(Value::Null) => None,
                    Some(v) => match conda_timestamp(v) {
                        Ok(t) => Some(t),
                        Err(m) => {
                            errs.push(format!("timestamp: {m}"));
                            None
                        }
                    },
                };
                let size = opt_u64(&rec.size, "size", &mut errs);
                let sha256 = opt_hex(&rec.sha256, "sha256", 64, &mut errs);
                let md5 = opt_hex(&rec.md5, "md5", 32, &mut errs);
                let name = opt_str(&rec.name, "name", &mut errs);
                let version = opt_str(&rec.version, "version", &mut errs);
                let rec_subdir = opt_str(&rec.subdir, "subdir", &mut errs);
                if !errs.is_empty() {
                    out.problems.push(problem(errs.join("; ")));
                    continue;
                }
                let subdir = info_subdir
                    .clone()
                    .or(rec_subdir)
                    .or_else(|| dir_subdir.clone())
                    .unwrap_or_else(|| file_name(&dir));
                out.entries.push(Entry {
                    artifact: fname.clone(),
                    index: shown.clone(),
                    index_kind: IndexKind::Conda,
                    source: format!("{fshown}#{record}"),
                    subdir,
                    package: name,
                    version,
                    uploaded_at,
                    evidence: Evidence::RepodataTimestamp,
                    size,
                    sha256,
                    md5,
                    location: Location::Local(dir.join(&fname)),
                    builder_time: None,
                });
            }
        }
    }
    Ok(out)
}

/// Conda timestamps: milliseconds since the epoch, or seconds in old entries.
/// Values below 10^11 are taken as seconds (10^11 ms is March 1973; 10^11 s is year 5138).
pub fn conda_timestamp(v: &Value) -> Result<DateTime<Utc>, String> {
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or_else(|| format!("{n} is not a usable number"))?,
        other => return Err(format!("expected a number, found {}", json_type(other))),
    };
    let ms = if n.abs() < 100_000_000_000 {
        n.saturating_mul(1000)
    } else {
        n
    };
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| format!("{n} is out of range"))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn opt_u64(v: &Option<Value>, field: &str, errs: &mut Vec<String>) -> Option<u64> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(other) => {
            errs.push(format!(
                "{field}: expected a non-negative integer, found {}",
                json_type(other)
            ));
            None
        }
    }
}

fn opt_str(v: &Option<Value>, field: &str, errs: &mut Vec<String>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errs.push(format!("{field}: expected a string, found {}", json_type(other)));
            None
        }
    }
}

fn opt_hex(v: &Option<Value>, field: &str, len: usize, errs: &mut Vec<String>) -> Option<String> {
    let s = opt_str(v, field, errs)?;
    if s.is_empty() {
        return None;
    }
    if s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(s.to_ascii_lowercase())
    } else {
        errs.push(format!("{field}: expected {len} hex digits"));
        None
    }
}

// ---------------------------------------------------------------- PyPI

fn read_pypi(path: &Path, artifacts: &ArtifactDirs) -> Result<LoadedIndex, IndexError> {
    let shown = path.display().to_string();
    let (files, single) = if path.is_dir() {
        (json_files(path), false)
    } else {
        (vec![path.to_path_buf()], true)
    };
    let mut out = LoadedIndex::default();
    for f in files {
        let fshown = f.display().to_string();
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) if single => {
                return Err(IndexError::Io {
                    path: fshown,
                    source: e,
                })
            }
            Err(e) => {
                out.problems.push(Problem {
                    file: fshown,
                    line: None,
                    record: None,
                    kind: None,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let doc: Value = match serde_json::from_slice(&bytes) {
            Ok(Value::Object(o)) if looks_pypi(&o) => Value::Object(o),
            Ok(_) if !single => continue, // another JSON file in the export directory
            Ok(_) => {
                return Err(IndexError::Invalid {
                    path: fshown,
                    message: "not a PyPI JSON document (no `info` with `releases` or `urls`)".into(),
                })
            }
            Err(e) if single => {
                return Err(IndexError::Invalid {
                    path: fshown,
                    message: format!("not valid JSON: {e}"),
                })
            }
            Err(e) => {
                out.problems.push(Problem {
                    file: fshown,
                    line: Some(e.line() as u64),
                    record: None,
                    kind: None,
                    message: format!("not valid JSON: {e}"),
                });
                continue;
            }
        };
        out.files_read += 1;
        let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
        let package = doc
            .get("info")
            .and_then(|i| i.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let info_version = doc
            .get("info")
            .and_then(|i| i.get("version"))
            .and_then(|n| n.as_str())
            .map(str::to_string);
        // (version, record path, file object)
        let mut files_seen: Vec<(Option<String>, String, &Value)> = Vec::new();
        if let Some(rel) = doc.get("releases") {
            match rel {
                Value::Object(m) => {
                    for (ver, list) in m {
                        match list {
                            Value::Array(a) => {
                                for (i, fo) in a.iter().enumerate() {
                                    files_seen.push((
                                        Some(ver.clone()),
                                        format!("releases[{ver:?}][{i}]"),
                                        fo,
                                    ));
                                }
                            }
                            other => out.problems.push(Problem {
                                file: fshown.clone(),
                                line: None,
                                record: Some(format!("releases[{ver:?}]")),
                                kind: None,
                                message: format!("expected an array of files, found {}", json_type(other)),
                            }),
                        }
                    }
                }
                other => out.problems.push(Problem {
                    file: fshown.clone(),
                    line: None,
                    record: Some("releases".into()),
                    kind: None,
                    message: format!("expected an object, found {}", json_type(other)),
                }),
            }
        }
        if let Some(Value::Array(a)) = doc.get("urls") {
            for (i, fo) in a.iter().enumerate() {
                files_seen.push((info_version.clone(), format!("urls[{i}]"), fo));
            }
        }
        let mut seen_names = std::collections::HashSet::new();
        for (version, record, fo) in files_seen {
            let problem = |message: String| Problem {
                file: fshown.clone(),
                line: None,
                record: Some(record.clone()),
                kind: None,
                message,
            };
            let Value::Object(o) = fo else {
                out.problems.push(problem(format!(
                    "expected a file object, found {}",
                    json_type(fo)
                )));
                continue;
            };
            let mut errs = Vec::new();
            let filename = match o.get("filename") {
                Some(Value::String(s)) if !s.is_empty() && !s.contains('/') && !s.contains('\\') => s.clone(),
                _ => {
                    out.problems.push(problem("missing or bad `filename`".into()));
                    continue;
                }
            };
            if !seen_names.insert(filename.clone()) {
                continue; // `urls` repeats the latest release's files
            }
            let uploaded_at = match (o.get("upload_time_iso_8601"), o.get("upload_time")) {
                (Some(Value::String(s)), _) => match firebreak_core::window::parse_time(s) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        errs.push(format!("upload_time_iso_8601: {e}"));
                        None
                    }
                },
                (_, Some(Value::String(s))) => match parse_naive_utc(s) {
                    Some(t) => Some(t),
                    None => {
                        errs.push(format!(
                            "upload_time: {} is not a time",
                            firebreak_core::secret::quote_untrusted(s)
                        ));
                        None
                    }
                },
                _ => None,
            };
            let size = opt_u64(&o.get("size").cloned(), "size", &mut errs);
            let digests = o.get("digests");
            let sha256 = opt_hex(
                &digests.and_then(|d| d.get("sha256")).cloned(),
                "digests.sha256",
                64,
                &mut errs,
            );
            let md5 = opt_hex(
                &digests.and_then(|d| d.get("md5")).cloned(),
                "digests.md5",
                32,
                &mut errs,
            );
            let url = opt_str(&o.get("url").cloned(), "url", &mut errs);
            let packagetype = opt_str(&o.get("packagetype").cloned(), "packagetype", &mut errs);
            if !errs.is_empty() {
                out.problems.push(problem(errs.join("; ")));
                continue;
            }
            let local = dir.join(&filename);
            let location = if local.is_file() {
                Location::Local(local)
            } else if let Some(p) = artifacts.find(&filename) {
                Location::Local(p)
            } else if let Some(u) = url {
                url_location(&u, &dir)
            } else {
                Location::Local(local)
            };
            out.entries.push(Entry {
                subdir: python_platform(&filename, packagetype.as_deref()),
                artifact: filename,
                index: shown.clone(),
                index_kind: IndexKind::Pypi,
                source: format!("{fshown}#{record}"),
                package: package.clone(),
                version,
                uploaded_at,
                evidence: Evidence::PypiUploadTime,
                size,
                sha256,
                md5,
                location,
                builder_time: None,
            });
        }
    }
    if out.files_read == 0 && out.problems.is_empty() {
        return Err(IndexError::Invalid {
            path: shown,
            message: "no PyPI JSON documents found".into(),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- anaconda.org

/// The file objects of an anaconda.org listing: a JSON array of files
/// (`/package/{owner}/{name}/files`) or a package document with `files`. Each file has
/// `basename` and `upload_time`.
fn anaconda_files(v: &Value) -> Option<&Vec<Value>> {
    let files = match v {
        Value::Array(a) => a,
        Value::Object(o) => o.get("files")?.as_array()?,
        _ => return None,
    };
    let first = files.first()?.as_object()?;
    (first.contains_key("basename") && first.contains_key("upload_time")).then_some(files)
}

/// anaconda.org's `upload_time`: `2023-01-05 12:34:56.789000+00:00` (or RFC 3339).
fn parse_anaconda_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    parse_naive_utc(s)
}

fn read_anaconda(path: &Path) -> Result<LoadedIndex, IndexError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| IndexError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| IndexError::Invalid {
        path: shown.clone(),
        message: format!("not JSON: {e}"),
    })?;
    let Some(files) = anaconda_files(&doc) else {
        return Err(IndexError::Invalid {
            path: shown,
            message: "not an anaconda.org file listing (an array of files with `basename` and `upload_time`)"
                .into(),
        });
    };
    let mut out = LoadedIndex {
        files_read: 1,
        ..LoadedIndex::default()
    };
    for (i, f) in files.iter().enumerate() {
        let n = i + 1;
        let problem = |message: String| Problem {
            file: shown.clone(),
            line: None,
            record: Some(format!("files[{n}]")),
            kind: None,
            message,
        };
        let Some(o) = f.as_object() else {
            out.problems.push(problem("not an object".into()));
            continue;
        };
        let Some(basename) = o.get("basename").and_then(Value::as_str) else {
            out.problems.push(problem("no `basename`".into()));
            continue;
        };
        let attrs = o.get("attrs").and_then(Value::as_object);
        let (subdir, artifact) = match basename.rsplit_once('/') {
            Some((d, a)) => (d.to_string(), a.to_string()),
            None => (
                attrs
                    .and_then(|a| a.get("subdir"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                basename.to_string(),
            ),
        };
        let uploaded_at = match o.get("upload_time").and_then(Value::as_str) {
            Some(s) => match parse_anaconda_time(s) {
                Some(t) => Some(t),
                None => {
                    out.problems.push(problem(format!(
                        "upload_time: {} is not a time",
                        firebreak_core::secret::quote_untrusted(s)
                    )));
                    None
                }
            },
            None => None,
        };
        let builder_time = attrs
            .and_then(|a| a.get("timestamp"))
            .and_then(|t| conda_timestamp(t).ok());
        let str_of = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let location = match str_of("download_url") {
            Some(u) if u.starts_with("//") => Location::Remote(format!("https:{u}")),
            Some(u) => Location::Remote(u),
            None => Location::Unknown,
        };
        let package = str_of("full_name")
            .and_then(|f| f.split('/').nth(1).map(str::to_string))
            .or_else(|| {
                attrs
                    .and_then(|a| a.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        out.entries.push(Entry {
            artifact,
            index: shown.clone(),
            index_kind: IndexKind::Anaconda,
            source: format!("{shown}#files[{n}]"),
            subdir,
            package,
            version: str_of("version"),
            uploaded_at,
            evidence: Evidence::ServerUploadTime,
            size: o.get("size").and_then(Value::as_u64),
            sha256: str_of("sha256").map(|s| s.to_ascii_lowercase()),
            md5: str_of("md5").map(|s| s.to_ascii_lowercase()),
            location,
            builder_time,
        });
    }
    Ok(out)
}

/// `2023-01-05T12:34:56` (PyPI's `upload_time`, UTC without an offset).
fn parse_naive_utc(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = firebreak_core::window::parse_time(s) {
        return Some(t);
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s.trim(), f).ok())
        .map(|n| n.and_utc())
}

/// The platform of a Python distribution: the platform tag of a wheel
/// (`any`, `manylinux_2_17_x86_64`, ...), `source` for sdists.
pub fn python_platform(filename: &str, packagetype: Option<&str>) -> String {
    if let Some(stem) = filename.strip_suffix(".whl") {
        if let Some(tag) = stem.rsplit('-').next() {
            return tag.to_string();
        }
    }
    match packagetype {
        Some("sdist") | None => "source".into(),
        Some(other) => other.to_string(),
    }
}

fn url_location(u: &str, base: &Path) -> Location {
    if let Some(p) = u.strip_prefix("file://") {
        let p = Path::new(p);
        if p.is_absolute() {
            Location::Local(p.to_path_buf())
        } else {
            Location::Local(base.join(p))
        }
    } else {
        Location::Remote(u.to_string())
    }
}

fn url_file_name(u: &str) -> String {
    let no_query = u.split(['?', '#']).next().unwrap_or(u);
    no_query.rsplit('/').next().unwrap_or(no_query).to_string()
}

// ---------------------------------------------------------------- JSON Lines

#[derive(Debug, Deserialize)]
struct JsonlRecord {
    name: Option<Value>,
    uploaded_at: Option<Value>,
    path: Option<Value>,
    url: Option<Value>,
    sha256: Option<Value>,
    size: Option<Value>,
    subdir: Option<Value>,
    platform: Option<Value>,
    version: Option<Value>,
}

fn read_jsonl(path: &Path, artifacts: &ArtifactDirs) -> Result<LoadedIndex, IndexError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| IndexError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut out = LoadedIndex {
        files_read: 1,
        ..Default::default()
    };
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let problem = |message: String| Problem {
            file: shown.clone(),
            line: Some(line_no),
            record: None,
            kind: None,
            message,
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let rec = match serde_json::from_slice::<MaybeRecord<JsonlRecord>>(raw) {
            Ok(MaybeRecord::Record(r)) => r,
            Ok(MaybeRecord::NotObject(what)) => {
                out.problems
                    .push(problem(format!("expected a JSON object, found {what}")));
                continue;
            }
            Err(e) => {
                out.problems.push(problem(format!("not valid JSON: {e}")));
                continue;
            }
        };
        let mut errs = Vec::new();
        let name = opt_str(&rec.name, "name", &mut errs);
        let p = opt_str(&rec.path, "path", &mut errs);
        let url = opt_str(&rec.url, "url", &mut errs);
        let size = opt_u64(&rec.size, "size", &mut errs);
        let sha256 = opt_hex(&rec.sha256, "sha256", 64, &mut errs);
        let subdir = opt_str(&rec.subdir, "subdir", &mut errs);
        let platform = opt_str(&rec.platform, "platform", &mut errs);
        let version = opt_str(&rec.version, "version", &mut errs);
        let uploaded_at = match &rec.uploaded_at {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match firebreak_core::window::parse_time(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    errs.push(format!("uploaded_at: {e}"));
                    None
                }
            },
            Some(v @ Value::Number(_)) => match conda_timestamp(v) {
                Ok(t) => Some(t),
                Err(m) => {
                    errs.push(format!("uploaded_at: {m}"));
                    None
                }
            },
            Some(other) => {
                errs.push(format!(
                    "uploaded_at: expected an RFC 3339 string, found {}",
                    json_type(other)
                ));
                None
            }
        };
        if p.is_none() && url.is_none() && name.is_none() {
            errs.push("needs `path` or `url` (and `name`)".into());
        }
        if !errs.is_empty() {
            out.problems.push(problem(errs.join("; ")));
            continue;
        }
        let location = match (&p, &url) {
            (Some(p), _) => {
                let pp = Path::new(p);
                Location::Local(if pp.is_absolute() {
                    pp.to_path_buf()
                } else {
                    base.join(pp)
                })
            }
            (None, Some(u)) => url_location(u, &base),
            (None, None) => Location::Unknown,
        };
        let artifact = match (&p, &url) {
            (Some(p), _) => file_name(Path::new(p)),
            (None, Some(u)) => url_file_name(u),
            (None, None) => name.clone().unwrap_or_default(),
        };
        let location = match location {
            Location::Local(lp) if !lp.is_file() => artifacts
                .find(&artifact)
                .map(Location::Local)
                .unwrap_or(Location::Local(lp)),
            Location::Remote(u) => artifacts
                .find(&artifact)
                .map(Location::Local)
                .unwrap_or(Location::Remote(u)),
            Location::Unknown => artifacts
                .find(&artifact)
                .map(Location::Local)
                .unwrap_or(Location::Unknown),
            l => l,
        };
        let subdir = subdir
            .or(platform)
            .unwrap_or_else(|| python_or_dir_subdir(&artifact));
        out.entries.push(Entry {
            artifact,
            index: shown.clone(),
            index_kind: IndexKind::Jsonl,
            source: format!("{shown}:{line_no}"),
            subdir,
            package: name,
            version,
            uploaded_at,
            evidence: Evidence::DeclaredUploadTime,
            size,
            sha256,
            md5: None,
            location,
            builder_time: None,
        });
    }
    Ok(out)
}

/// Subdir of a JSONL entry without `subdir`/`platform`: the wheel platform tag, else `unknown`.
fn python_or_dir_subdir(artifact: &str) -> String {
    if artifact.ends_with(".whl") {
        return python_platform(artifact, None);
    }
    "unknown".into()
}

// ---------------------------------------------------------------- plain directory

/// The warning attached to directory indexes.
pub const MTIME_WARNING: &str =
    "upload times are file modification times: weaker evidence than an index's record (copying, extracting or touching a file changes it)";

fn read_dir_index(path: &Path) -> Result<LoadedIndex, IndexError> {
    let shown = path.display().to_string();
    if !path.is_dir() {
        return Err(IndexError::Invalid {
            path: shown,
            message: "a `dir` index must be a directory".into(),
        });
    }
    let mut out = LoadedIndex {
        warnings: vec![format!("{shown}: {MTIME_WARNING}")],
        files_read: 1,
        ..Default::default()
    };
    for f in walk_files(path) {
        let fshown = f.display().to_string();
        let meta = match std::fs::metadata(&f) {
            Ok(m) => m,
            Err(e) => {
                out.problems.push(Problem {
                    file: fshown,
                    line: None,
                    record: None,
                    kind: None,
                    message: format!("cannot stat: {e}"),
                });
                continue;
            }
        };
        let uploaded_at = meta.modified().ok().map(DateTime::<Utc>::from);
        let rel = f.strip_prefix(path).unwrap_or(&f);
        let subdir = rel
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.entries.push(Entry {
            artifact: file_name(&f),
            index: shown.clone(),
            index_kind: IndexKind::Dir,
            source: fshown,
            subdir,
            package: None,
            version: None,
            uploaded_at,
            evidence: Evidence::FileMtime,
            size: Some(meta.len()),
            sha256: None,
            md5: None,
            location: Location::Local(f.clone()),
            builder_time: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conda_timestamps_in_ms_and_s() {
        let ms = conda_timestamp(&json!(1672531200000i64)).unwrap();
        let s = conda_timestamp(&json!(1672531200)).unwrap();
        assert_eq!(ms, s);
        assert_eq!(ms.to_rfc3339(), "2023-01-01T00:00:00+00:00");
        assert!(conda_timestamp(&json!("x")).is_err());
    }

    #[test]
    fn wheel_platform_tags() {
        assert_eq!(python_platform("a-1.0-py3-none-any.whl", None), "any");
        assert_eq!(
            python_platform("a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", Some("bdist_wheel")),
            "manylinux_2_17_x86_64"
        );
        assert_eq!(python_platform("a-1.0.tar.gz", Some("sdist")), "source");
    }

    #[test]
    fn malformed_conda_records_are_reported_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("noarch");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(
            sub.join("repodata.json"),
            json!({
                "info": {"subdir": "noarch"},
                "packages": {
                    "a-1-0.tar.bz2": {"name": "a", "timestamp": 1672531200000i64, "size": 3},
                    "b-1-0.tar.bz2": {"name": "b", "timestamp": "yesterday"},
                    "c-1-0.tar.bz2": 7
                },
                "packages.conda": {"d-1-0.conda": {"name": "d", "timestamp": 1672531200, "sha256": "zz"}}
            })
            .to_string(),
        )
        .unwrap();
        assert_eq!(detect(d.path()).unwrap(), IndexKind::Conda);
        let l = read_index(d.path(), None, &ReadOptions::default()).unwrap();
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].subdir, "noarch");
        assert_eq!(l.problems.len(), 3, "{:?}", l.problems);
        let msgs: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("b-1-0.tar.bz2") && m.contains("timestamp")),
            "{msgs:?}"
        );
        assert!(msgs
            .iter()
            .any(|m| m.contains("c-1-0.tar.bz2") && m.contains("not an object")));
        assert!(msgs
            .iter()
            .any(|m| m.contains("d-1-0.conda") && m.contains("sha256")));
    }

    #[test]
    fn jsonl_problems_name_lines() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("idx.jsonl");
        std::fs::write(
            &f,
            "{\"name\":\"x\",\"uploaded_at\":\"2023-01-01T00:00:00Z\",\"path\":\"x.whl\"}\n\nnot json\n{\"name\":\"y\",\"uploaded_at\":\"soon\",\"url\":\"https://e.invalid/y.tar.gz\"}\n[1]\n{\"name\":\"z\",\"uploaded_at\":1672531200,\"url\":\"https://e.invalid/p/z-1.tar.gz?x=1\"}\n",
        )
        .unwrap();
        let l = read_index(&f, None, &ReadOptions::default()).unwrap();
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[1].artifact, "z-1.tar.gz");
        assert!(matches!(l.entries[1].location, Location::Remote(_)));
        let lines: Vec<Option<u64>> = l.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![Some(3), Some(4), Some(5)]);
    }
}
