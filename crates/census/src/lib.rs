//! firebreak's artifact census: which artifacts a package index published in an
//! exposure window, and whether any of them is bad.
//!
//! The flow is the project's usual one:
//!
//! ```text
//! indexes (conda channel, PyPI JSON export, JSON Lines, directory)   [index]
//!   → entries with upload times → those inside the window
//!   → each local artifact: hashed, compared with the index, opened with the
//!     scanner's archive walker; every member checked against the indicators
//!     ([ioc]) and, optionally, the leak scanner                       [check]
//!   → one record per artifact (JSON Lines), or conda-forge's census shape
//! ```
//!
//! ```no_run
//! use firebreak_census::{run, CensusOptions};
//! let window = "2022-12-19..2023-01-13".parse().unwrap();
//! let opts = CensusOptions::new(window);
//! let report = run(&["channel".into()], &opts, None);
//! println!("{}", serde_json::to_string(&report.conda_shape()).unwrap());
//! ```

#![warn(missing_docs)]

mod check;
pub mod fetch;
pub mod index;
pub mod ioc;

use chrono::{DateTime, SecondsFormat, Utc};
use firebreak_core::{Exit, SecretFinding, TimeWindow};
use firebreak_scan::archive::Limits;
use firebreak_scan::Scanner;
use index::{Entry, Evidence, IndexKind, Location, Problem, ReadOptions};
use ioc::IocSet;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What an artifact's check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Found locally, digests agree with the index (or the index has none), opened fine.
    Ok,
    /// The index lists it but the file is not where it should be.
    Missing,
    /// Only a remote URL is known; the census does not download.
    Remote,
    /// Its SHA-256, MD5 or size differs from the index.
    ChecksumMismatch,
    /// Unreadable, or not the archive its name says, or broken inside.
    Corrupt,
    /// Intact, but an indicator of compromise or a secret was found in it: the artifact
    /// to pull first.
    Flagged,
}

impl Status {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Remote => "remote",
            Status::ChecksumMismatch => "checksum_mismatch",
            Status::Corrupt => "corrupt",
            Status::Flagged => "flagged",
        }
    }
}

/// Whether the artifact's digest was checked against the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumState {
    /// The index's SHA-256 (or MD5 when it has no SHA-256) matches the file.
    Verified,
    /// The file differs from the index (digest or size).
    Mismatch,
    /// The index gives no digest: only computed.
    Unverified,
    /// The file is not available locally.
    NotLocal,
}

/// Something found in an artifact. Every finding has a stable `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The builder's timestamp and the server's upload time disagree by more than a day:
    /// the `timestamp` a builder writes can be set back by whoever holds an upload token,
    /// to hide an upload from a census windowed by it.
    Backdated {
        /// Stable id.
        id: String,
        /// The builder's timestamp.
        builder_time: String,
        /// The server's upload time.
        uploaded_at: String,
        /// Upload time minus builder time, in hours (negative: the builder time is later).
        hours: i64,
    },
    /// A file-name indicator matched a member (or, without `member`, the artifact's own name).
    IocFileName {
        /// Stable id.
        id: String,
        /// The glob as written.
        indicator: String,
        /// The indicator's description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Nested member path; absent when the artifact's own name matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member: Option<String>,
    },
    /// A member's SHA-256 is an indicator.
    IocMemberSha256 {
        /// Stable id.
        id: String,
        /// The hash.
        indicator: String,
        /// The indicator's description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Nested member path.
        member: String,
    },
    /// The whole artifact's SHA-256 is an indicator.
    IocArtifactSha256 {
        /// Stable id.
        id: String,
        /// The hash.
        indicator: String,
        /// The indicator's description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A string indicator occurs in a member.
    IocString {
        /// Stable id.
        id: String,
        /// The string.
        indicator: String,
        /// The indicator's description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Nested member path.
        member: String,
        /// Byte offset of the first occurrence in the member.
        offset: u64,
    },
    /// The artifact's digest differs from the index's.
    ChecksumMismatch {
        /// Stable id.
        id: String,
        /// `sha256` or `md5`.
        algorithm: String,
        /// What the index says.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// The artifact's size differs from the index's.
    SizeMismatch {
        /// Stable id.
        id: String,
        /// What the index says.
        expected: u64,
        /// The file's size.
        actual: u64,
    },
    /// The leak scanner found a secret in a member (redacted, fingerprinted).
    Secret(Box<SecretFinding>),
}

impl Finding {
    /// The `kind` field's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Backdated { .. } => "backdated",
            Finding::IocFileName { .. } => "ioc_file_name",
            Finding::IocMemberSha256 { .. } => "ioc_member_sha256",
            Finding::IocArtifactSha256 { .. } => "ioc_artifact_sha256",
            Finding::IocString { .. } => "ioc_string",
            Finding::ChecksumMismatch { .. } => "checksum_mismatch",
            Finding::SizeMismatch { .. } => "size_mismatch",
            Finding::Secret(_) => "secret",
        }
    }

    /// True for what flags an artifact (an indicator, a secret, backdating); false for a
    /// digest or size that differs from the index (integrity, shown by the status).
    pub fn flags(&self) -> bool {
        !matches!(
            self,
            Finding::ChecksumMismatch { .. } | Finding::SizeMismatch { .. }
        )
    }
}

fn ser_time<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => s.serialize_none(),
    }
}

/// One artifact inside the window: one JSON Lines record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// File name of the artifact.
    pub artifact: String,
    /// The index it was listed in (as given).
    pub index: String,
    /// The index's kind.
    pub index_kind: IndexKind,
    /// Conda subdir, wheel platform tag, `source` for sdists, or directory.
    pub subdir: String,
    /// Package name, when known.
    pub package: Option<String>,
    /// Version, when known.
    pub version: Option<String>,
    /// Upload time (RFC 3339, UTC).
    #[serde(serialize_with = "ser_time")]
    pub uploaded_at: Option<DateTime<Utc>>,
    /// Where the upload time comes from.
    pub evidence: Evidence,
    /// Local path of the artifact (where it is or should be).
    pub path: Option<String>,
    /// Remote URL, when the index gives one and the file is not local.
    pub url: Option<String>,
    /// Size in bytes: of the local file, else as the index says.
    pub size: Option<u64>,
    /// SHA-256: computed when the file is local, else as the index says.
    pub sha256: Option<String>,
    /// Whether the digest was checked against the index.
    pub checksum: ChecksumState,
    /// ok, missing, remote, checksum_mismatch or corrupt.
    pub status: Status,
    /// Members checked (regular files inside the artifact, nested archives expanded).
    pub members: Option<u64>,
    /// IOC matches, checksum mismatches and secrets.
    pub findings: Vec<Finding>,
    /// What went wrong (missing file, corruption), with the path at fault.
    pub error: Option<String>,
    /// Notes: weak evidence, entries skipped by archive bounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Where in the index the entry was read (`file:line` or `file#key`).
    pub source: String,
}

impl ArtifactRecord {
    fn from_entry(e: &Entry) -> Self {
        let (path, url) = match &e.location {
            Location::Local(p) => (Some(p.display().to_string()), None),
            Location::Remote(u) => (None, Some(u.clone())),
            Location::Unknown => (None, None),
        };
        let mut warnings = Vec::new();
        if e.evidence == Evidence::FileMtime {
            warnings.push(index::MTIME_WARNING.to_string());
        }
        let mut findings = Vec::new();
        if let (Some(b), Some(u)) = (e.builder_time, e.uploaded_at) {
            let hours = (u - b).num_hours();
            if hours.abs() > 24 {
                let (bs, us) = (
                    b.to_rfc3339_opts(SecondsFormat::Secs, true),
                    u.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
                findings.push(Finding::Backdated {
                    id: firebreak_core::finding::stable_id(&["backdated", &e.artifact, &bs, &us]),
                    builder_time: bs,
                    uploaded_at: us,
                    hours,
                });
            }
        }
        ArtifactRecord {
            artifact: e.artifact.clone(),
            index: e.index.clone(),
            index_kind: e.index_kind,
            subdir: e.subdir.clone(),
            package: e.package.clone(),
            version: e.version.clone(),
            uploaded_at: e.uploaded_at,
            evidence: e.evidence,
            path,
            url,
            size: e.size,
            sha256: e.sha256.clone(),
            checksum: ChecksumState::NotLocal,
            status: Status::Ok,
            members: None,
            findings,
            error: None,
            warnings,
            source: e.source.clone(),
        }
    }
}

/// How to run a census.
pub struct CensusOptions {
    /// The exposure window (half-open).
    pub window: TimeWindow,
    /// Force the kind of every index (default: detect each).
    pub index_kind: Option<IndexKind>,
    /// Indicators of compromise.
    pub ioc: Option<IocSet>,
    /// The leak scanner to run on members (`--scan`).
    pub scanner: Option<Scanner>,
    /// Extra directories where artifacts are looked up by file name.
    pub artifact_dirs: Vec<PathBuf>,
    /// Archive bounds.
    pub limits: Limits,
    /// Download the remote artifacts inside the window (bounded by `max_download`) so
    /// they are checked like local ones.
    pub download: bool,
    /// Largest artifact downloaded, in bytes (default 2 GiB).
    pub max_download: u64,
    /// Settings of the HTTP client for indexes given as URLs and for downloads.
    pub http: firebreak_http::HttpConfig,
}

impl CensusOptions {
    /// Options with a window and nothing else.
    pub fn new(window: TimeWindow) -> Self {
        CensusOptions {
            window,
            index_kind: None,
            ioc: None,
            scanner: None,
            artifact_dirs: Vec::new(),
            limits: Limits::default(),
            download: false,
            max_download: 2 << 30,
            http: firebreak_http::HttpConfig::default(),
        }
    }
}

/// What happened to one index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    /// The index as given.
    pub index: String,
    /// Its kind (detected or forced); `None` when it could not be told.
    pub kind: Option<IndexKind>,
    /// Files of the index read (repodata files, JSON documents, ...).
    pub files_read: usize,
    /// Entries listed.
    pub entries: usize,
    /// Entries uploaded inside the window.
    pub in_window: usize,
    /// Entries uploaded outside the window.
    pub outside_window: usize,
    /// Entries without an upload time (not in the census).
    pub undated: usize,
    /// Malformed records and unreadable parts (file + line or record).
    pub problems: Vec<Problem>,
    /// Notes (e.g. modification times are weak evidence).
    pub warnings: Vec<String>,
    /// Set when the index could not be read at all.
    pub error: Option<String>,
}

/// Totals of a census.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Indexes given.
    pub indexes: usize,
    /// Indexes that could not be read at all.
    pub indexes_failed: usize,
    /// Entries listed by all indexes.
    pub entries: usize,
    /// Entries inside the window (one record each).
    pub in_window: usize,
    /// Entries outside the window.
    pub outside_window: usize,
    /// Entries without an upload time.
    pub undated: usize,
    /// Malformed index records.
    pub problems: usize,
    /// Records per status.
    pub status: BTreeMap<String, usize>,
    /// Findings per kind.
    pub findings: BTreeMap<String, usize>,
    /// Artifacts with at least one finding.
    pub artifacts_with_findings: usize,
    /// Members checked.
    pub members: u64,
    /// True when members were checked against indicators or the scanner.
    pub checks: bool,
}

/// The result of a census.
#[derive(Debug, Clone, Serialize)]
pub struct CensusReport {
    /// The window.
    pub window: String,
    /// One report per index, in the order given.
    pub indexes: Vec<IndexReport>,
    /// One record per artifact inside the window.
    pub artifacts: Vec<ArtifactRecord>,
    /// Totals.
    pub summary: Summary,
}

/// Runs a census over `indexes`. `progress` is called once per artifact checked.
pub fn run(
    indexes: &[PathBuf],
    opts: &CensusOptions,
    progress: Option<&(dyn Fn(&ArtifactRecord) + Sync)>,
) -> CensusReport {
    let read_opts = ReadOptions {
        artifact_dirs: opts.artifact_dirs.clone(),
    };
    let mut reports = Vec::new();
    let mut todo: Vec<(usize, Entry)> = Vec::new();
    // indexes over HTTP and downloads: one anonymous client, one private directory
    let mut net = Net::new(opts);
    for (n, given) in indexes.iter().enumerate() {
        let shown = given.display().to_string();
        let mut mirror = None;
        let mut p = given.clone();
        if fetch::is_url(&shown) {
            match net.mirror(&shown, n) {
                Ok(m) => {
                    p = m.path.clone();
                    mirror = Some(m);
                }
                Err(e) => {
                    reports.push(IndexReport::failed(&shown, e));
                    continue;
                }
            }
        }
        let p = &p;
        let kind = match opts.index_kind {
            Some(k) => Ok(k),
            None => index::detect(p),
        };
        let mut rep = IndexReport::new(&shown, kind.as_ref().ok().copied());
        match kind.and_then(|k| index::read_index(p, Some(k), &read_opts)) {
            Err(e) => {
                let msg = e.to_string();
                rep.error = Some(match &mirror {
                    Some(m) => fetch::unmirror_all(&msg, m),
                    None => msg,
                })
            }
            Ok(mut loaded) => {
                if let Some(m) = &mirror {
                    fetch::unmirror_index(&mut loaded, m, &shown);
                }
                rep.files_read = loaded.files_read;
                rep.entries = loaded.entries.len();
                rep.problems = loaded.problems;
                rep.warnings = loaded.warnings;
                for e in loaded.entries {
                    match e.uploaded_at {
                        None => rep.undated += 1,
                        Some(t) if opts.window.contains(t) => {
                            rep.in_window += 1;
                            todo.push((n, e));
                        }
                        Some(_) => rep.outside_window += 1,
                    }
                }
            }
        }
        reports.push(rep);
    }
    todo.sort_by(|(na, a), (nb, b)| {
        (na, &a.subdir, &a.artifact, &a.source).cmp(&(nb, &b.subdir, &b.artifact, &b.source))
    });
    let checker = check::Checker {
        ioc: opts.ioc.as_ref(),
        scanner: opts.scanner.as_ref(),
        limits: opts.limits,
    };
    // remote artifacts: downloaded to be checked when asked, their records keep the URL
    let mut fetched: Vec<Option<(String, Result<PathBuf, String>)>> = vec![None; todo.len()];
    if opts.download {
        for (i, (_, e)) in todo.iter_mut().enumerate() {
            if let Location::Remote(u) = &e.location {
                let u = u.clone();
                let got = net.download(&u, &e.artifact, i);
                if let Ok(p) = &got {
                    e.location = Location::Local(p.clone());
                }
                fetched[i] = Some((u, got));
            }
        }
    }
    let artifacts: Vec<ArtifactRecord> = todo
        .par_iter()
        .zip(fetched.par_iter())
        .map(|((_, e), f)| {
            let mut r = checker.check(e);
            if let Some((u, got)) = f {
                match got {
                    Ok(p) => {
                        let tmp = p.display().to_string();
                        r.path = None;
                        r.url = Some(u.clone());
                        r.error = r.error.take().map(|m| m.replace(&tmp, u));
                        r.warnings
                            .push("downloaded for this census: checked as published".to_string());
                    }
                    Err(m) => r.error = Some(format!("download failed: {m}")),
                }
            }
            if let Some(p) = progress {
                p(&r);
            }
            r
        })
        .collect();
    drop(net);
    let mut summary = Summary {
        indexes: reports.len(),
        indexes_failed: reports.iter().filter(|r| r.error.is_some()).count(),
        entries: reports.iter().map(|r| r.entries).sum(),
        in_window: reports.iter().map(|r| r.in_window).sum(),
        outside_window: reports.iter().map(|r| r.outside_window).sum(),
        undated: reports.iter().map(|r| r.undated).sum(),
        problems: reports.iter().map(|r| r.problems.len()).sum(),
        checks: checker.checks_requested(),
        ..Default::default()
    };
    for a in &artifacts {
        *summary.status.entry(a.status.as_str().to_string()).or_default() += 1;
        for f in &a.findings {
            *summary.findings.entry(f.kind().to_string()).or_default() += 1;
        }
        if !a.findings.is_empty() {
            summary.artifacts_with_findings += 1;
        }
        summary.members += a.members.unwrap_or(0);
    }
    CensusReport {
        window: opts.window.to_string(),
        indexes: reports,
        artifacts,
        summary,
    }
}

/// The network side of a run, made on first use: an anonymous client and a private
/// temporary directory (removed when the run ends).
struct Net<'a> {
    opts: &'a CensusOptions,
    remote: Option<Result<fetch::Remote, String>>,
    dir: Option<Result<tempfile::TempDir, String>>,
}

impl<'a> Net<'a> {
    fn new(opts: &'a CensusOptions) -> Self {
        Net {
            opts,
            remote: None,
            dir: None,
        }
    }

    fn parts(&mut self) -> Result<(&fetch::Remote, &Path), String> {
        if self.remote.is_none() {
            self.remote = Some(fetch::Remote::new(self.opts.http.clone()));
        }
        if self.dir.is_none() {
            self.dir = Some(
                tempfile::Builder::new()
                    .prefix("firebreak-census-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary directory: {e}")),
            );
        }
        match (self.remote.as_ref(), self.dir.as_ref()) {
            (Some(Ok(r)), Some(Ok(d))) => Ok((r, d.path())),
            (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e.clone()),
            _ => Err("no HTTP client".into()),
        }
    }

    fn mirror(&mut self, url: &str, n: usize) -> Result<fetch::Mirror, String> {
        let (r, d) = self.parts()?;
        let dir = d.join(format!("index-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        r.mirror_index(url, &dir).map_err(|e| e.to_string())
    }

    fn download(&mut self, url: &str, artifact: &str, i: usize) -> Result<PathBuf, String> {
        let max = self.opts.max_download;
        let (r, d) = self.parts()?;
        let name = fetch::safe_name(artifact);
        let dest = d.join("artifacts").join(i.to_string()).join(name);
        r.download(url, &dest, max)?;
        Ok(dest)
    }
}

impl IndexReport {
    fn new(index: &str, kind: Option<IndexKind>) -> Self {
        IndexReport {
            index: index.to_string(),
            kind,
            files_read: 0,
            entries: 0,
            in_window: 0,
            outside_window: 0,
            undated: 0,
            problems: Vec::new(),
            warnings: Vec::new(),
            error: None,
        }
    }

    fn failed(index: &str, error: String) -> Self {
        IndexReport {
            error: Some(error),
            ..IndexReport::new(index, None)
        }
    }
}

impl CensusReport {
    /// conda-forge's census shape: `{"<subdir>": ["<file name>", ...]}`, names sorted
    /// and deduplicated.
    pub fn conda_shape(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in &self.artifacts {
            m.entry(a.subdir.clone()).or_default().push(a.artifact.clone());
        }
        for v in m.values_mut() {
            v.sort();
            v.dedup();
        }
        m
    }

    /// True when any artifact has a finding (IOC match, checksum mismatch, secret).
    pub fn found(&self) -> bool {
        self.artifacts.iter().any(|a| !a.findings.is_empty())
    }

    /// Inputs that failed: unreadable indexes, malformed records, corrupt
    /// artifacts, and — when checks were requested — artifacts that could not
    /// be checked (missing or remote).
    pub fn failed_inputs(&self) -> usize {
        let checks = self.summary.checks;
        self.summary.indexes_failed
            + self.summary.problems
            + self
                .artifacts
                .iter()
                .filter(|a| match a.status {
                    Status::Corrupt => true,
                    Status::Missing | Status::Remote => checks,
                    _ => false,
                })
                .count()
    }

    /// The exit code (docs/exit-codes.md): 2 when no index could be read,
    /// 3 when some inputs failed, 1 when something was found, else 0.
    pub fn exit(&self) -> Exit {
        if self.summary.indexes > 0 && self.summary.indexes_failed == self.summary.indexes {
            return Exit::Error;
        }
        Exit::from_outcome(self.found(), self.failed_inputs())
    }

    /// Writes one JSON object per artifact.
    pub fn write_jsonl(&self, w: &mut dyn Write) -> io::Result<()> {
        for a in &self.artifacts {
            serde_json::to_writer(&mut *w, a)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// A human summary for stderr: totals, then every index problem, corrupt,
    /// missing and mismatching artifact, with the file at fault.
    pub fn summary_text(&self) -> String {
        use std::fmt::Write as _;
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "census {}: {} index(es), {} entries: {} in window, {} outside, {} without upload time",
            self.window, s.indexes, s.entries, s.in_window, s.outside_window, s.undated
        );
        let status: Vec<String> = s.status.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if !status.is_empty() {
            let _ = writeln!(
                out,
                "artifacts: {} ({} members checked)",
                status.join(", "),
                s.members
            );
        }
        if s.findings.is_empty() {
            let _ = writeln!(out, "findings: none");
        } else {
            let f: Vec<String> = s.findings.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                out,
                "findings: {} in {} artifact(s)",
                f.join(", "),
                s.artifacts_with_findings
            );
        }
        for r in &self.indexes {
            if let Some(e) = &r.error {
                let _ = writeln!(out, "error: {e}");
            }
            for w in &r.warnings {
                let _ = writeln!(out, "warning: {w}");
            }
            for p in &r.problems {
                let _ = writeln!(out, "malformed: {p}");
            }
        }
        for a in &self.artifacts {
            if a.status == Status::Flagged || (a.status != Status::Ok && !a.findings.is_empty()) {
                let at = a.path.as_deref().or(a.url.as_deref()).unwrap_or(&a.artifact);
                for f in a.findings.iter().filter(|f| f.flags()) {
                    let what = match f {
                        Finding::IocFileName {
                            indicator, member, ..
                        } => format!(
                            "file name {indicator}{}",
                            member
                                .as_deref()
                                .map(|m| format!(" (member {m})"))
                                .unwrap_or_default()
                        ),
                        Finding::IocMemberSha256 { member, .. } => {
                            format!("member {member}: known-bad SHA-256")
                        }
                        Finding::IocArtifactSha256 { .. } => {
                            "the artifact's SHA-256 is known-bad".to_string()
                        }
                        Finding::IocString {
                            indicator, member, ..
                        } => {
                            format!("string {indicator:?} in {member}")
                        }
                        Finding::Secret(x) => format!("secret ({}) in {}", x.rule_id, x.path),
                        Finding::Backdated { builder_time, uploaded_at, hours, .. } => format!(
                            "builder timestamp {builder_time} but uploaded {uploaded_at} ({hours} h apart): backdated?"
                        ),
                        _ => f.kind().to_string(),
                    };
                    let _ = writeln!(out, "FLAGGED {}: {what} ({at})", a.artifact);
                }
            }
            match a.status {
                Status::Ok | Status::Flagged => {}
                Status::Remote if !s.checks => {}
                Status::Missing if !s.checks => {}
                _ => {
                    let at = a.path.as_deref().or(a.url.as_deref()).unwrap_or(&a.artifact);
                    let why = a.error.as_deref().unwrap_or("");
                    let _ = writeln!(out, "{}: {} ({at}) {why}", a.status.as_str(), a.artifact);
                }
            }
        }
        let missing =
            s.status.get("missing").copied().unwrap_or(0) + s.status.get("remote").copied().unwrap_or(0);
        if missing > 0 && !s.checks {
            let _ = writeln!(
                out,
                "note: {missing} artifact(s) not available locally (listed only; pass --ioc/--scan to check contents)"
            );
        }
        out
    }
}
