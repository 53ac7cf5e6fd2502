//! The scanner: feeds files, directories, archives, streams and git history to
//! a [`RuleSet`] and turns matches into [`SecretFinding`]s.
//!
//! ```no_run
//! use firebreak_scan::{RuleSet, Scanner, ScanOptions};
//! let scanner = Scanner::new(RuleSet::builtin().unwrap(), ScanOptions::default());
//! // Files and directories (honours .gitignore unless `no_ignore`):
//! let report = scanner.scan_paths(&["src".into()]);
//! // Any stream, e.g. a CI log as it downloads:
//! let log = std::io::Cursor::new(b"export AWS_ACCESS_KEY_ID=AKIAZ7Q3VOWRL4JD5NQK".to_vec());
//! let report2 = scanner.scan_reader("job-42/build.log", log);
//! assert_eq!(report2.findings.len(), 1);
//! ```
//!
//! How an input is read:
//! - files up to [`ScanOptions::mmap_threshold`] are read whole; bigger files
//!   are memory-mapped and split into line-aligned chunks scanned in parallel;
//! - streams (stdin, [`Scanner::scan_reader`], archive members) are read in
//!   [`STREAM_CHUNK`]-byte chunks that overlap by [`STREAM_OVERLAP`] bytes, so
//!   memory stays bounded and a secret across a chunk edge is still found;
//! - archives are recognised by magic bytes or name and walked with
//!   [`crate::archive`];
//! - inputs whose first 8 KiB hold a NUL byte are binary and skipped (counted)
//!   unless [`ScanOptions::include_binary`]; invalid UTF-8 is scanned as bytes;
//! - files and archive members named with an extension in
//!   [`BINARY_EXTENSIONS`] are skipped (counted as binary) without being read,
//!   unless [`ScanOptions::include_binary`]: those formats put a NUL byte in
//!   their fixed header, so reading them would only confirm it.
//!
//! Findings on a line containing `firebreak:allow` are dropped; findings whose
//! fingerprint is in [`ScanOptions::baseline`] are dropped (both counted).
//! When rules overlap on one span only the most confident match is kept
//! (then the longest, then the first rule); distinct secrets on one line stay.

use crate::archive::{self, Limits, Member, Notice, Source, Visitor};
use crate::rules::{line_start, Lines, RawMatch, RuleSet};
use firebreak_core::{fingerprint, redact, Confidence, Problem, SecretFinding};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Streams are scanned in chunks of this many bytes.
pub const STREAM_CHUNK: usize = 4 << 20;
/// Consecutive stream chunks overlap by this many bytes (more than a rule window).
pub const STREAM_OVERLAP: usize = 64 << 10;
/// Memory-mapped files are split into chunks of about this size for parallel scanning.
pub const PARALLEL_CHUNK: usize = 4 << 20;
/// Bytes inspected for a NUL byte to decide that an input is binary.
pub const BINARY_SNIFF: usize = 8 << 10;

/// Bytes of a file read before its size is asked: files up to this size, most
/// source files, cost one read and the read that sees their end.
const READ_HEAD: usize = 64 << 10;
/// Extensions (lowercase, no dot) of formats whose fixed header holds a NUL
/// byte within its first bytes, so [`is_binary`] would reject them anyway:
/// compiled Python (flags word), PNG (IHDR length), JPEG (APP0/APP1 length),
/// ICO/CUR (reserved word), TrueType/OpenType/WOFF (version words), gettext
/// `.mo` (revision word), PE `.exe`/`.dll` (DOS header). Files so named are
/// counted as binary without being opened, unless
/// [`ScanOptions::include_binary`]. Archives are never on this list.
pub const BINARY_EXTENSIONS: &[&str] = &[
    "pyc", "pyo", "png", "jpg", "jpeg", "ico", "cur", "ttf", "otf", "woff", "woff2", "mo", "exe", "dll",
];

/// True when `name` ends with an extension from [`BINARY_EXTENSIONS`] (any case).
pub fn has_binary_extension(name: &str) -> bool {
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    if ext.len() > 5 || ext.contains(['/', '!']) {
        return false;
    }
    BINARY_EXTENSIONS.iter().any(|b| b.eq_ignore_ascii_case(ext))
}

/// The inline marker that suppresses findings on its line.
pub const ALLOW_MARKER: &[u8] = b"firebreak:allow";

/// Called with (path, bytes) after each input is scanned (for progress bars).
pub type ProgressFn = Arc<dyn Fn(&str, u64) + Send + Sync>;

/// What to scan and how.
#[derive(Clone)]
pub struct ScanOptions {
    /// Do not honour `.gitignore`, `.ignore` and git excludes when walking directories.
    pub no_ignore: bool,
    /// Scan files that look binary instead of skipping them.
    pub include_binary: bool,
    /// Files bigger than this are memory-mapped. Default 4 MiB.
    pub mmap_threshold: u64,
    /// Archive bounds.
    pub limits: Limits,
    /// Do not open archives; treat them as ordinary (binary) files.
    pub no_archives: bool,
    /// Fingerprints to suppress (from a previous output).
    pub baseline: HashSet<String>,
    /// Worker threads; 0 = one per core.
    pub jobs: usize,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Called with each finding and its secret bytes while they are in memory (for
    /// `scan --validate`); the bytes must not be kept beyond what validation needs.
    pub on_secret: Option<SecretHook>,
    /// `--include` / `--exclude`: which files of a directory walk are scanned (files
    /// named as inputs are always scanned).
    pub paths: Option<std::sync::Arc<crate::accept::PathFilter>>,
    /// Findings accepted by an ignore file (`.firebreakignore`).
    pub accepted: Option<std::sync::Arc<crate::accept::Accepted>>,
}

/// See [`ScanOptions::on_secret`].
pub type SecretHook = std::sync::Arc<dyn Fn(&SecretFinding, &[u8]) + Send + Sync>;

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            no_ignore: false,
            include_binary: false,
            mmap_threshold: 4 << 20,
            limits: Limits::default(),
            no_archives: false,
            baseline: HashSet::new(),
            jobs: 0,
            progress: None,
            on_secret: None,
            paths: None,
            accepted: None,
        }
    }
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("no_ignore", &self.no_ignore)
            .field("include_binary", &self.include_binary)
            .field("mmap_threshold", &self.mmap_threshold)
            .field("limits", &self.limits)
            .field("baseline", &self.baseline.len())
            .field("jobs", &self.jobs)
            .finish()
    }
}

/// Errors and notices are [`Problem`]s (the workspace's one per-input problem type):
/// `file` is the input at fault (nested path for archive members), `kind` is `error` or
/// the notice kind (`compression_ratio`, `path_traversal`, ...), `message` the human
/// explanation (never a secret value). In JSON they keep the scan's own shape,
/// `{"path", "kind", "message"}`, which users and `incident record` read.
fn serialize_issues<S: serde::Serializer>(issues: &[Problem], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    #[derive(Serialize)]
    struct Issue<'a> {
        path: &'a str,
        kind: &'a str,
        message: &'a str,
    }
    let mut seq = s.serialize_seq(Some(issues.len()))?;
    for p in issues {
        seq.serialize_element(&Issue {
            path: &p.file,
            kind: p.kind.as_deref().unwrap_or("error"),
            message: &p.message,
        })?;
    }
    seq.end()
}

/// Counts of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files, stdin, streams, archive members and git blobs scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Archives opened (nested ones included).
    pub archives: u64,
    /// Inputs skipped because they look binary.
    pub skipped_binary: u64,
    /// Archive entries skipped by a bound or policy (depth, size, entries, ratio, traversal, links).
    pub skipped_bounds: u64,
    /// Findings reported (after suppression and deduplication).
    pub findings: u64,
    /// Findings suppressed by `firebreak:allow`.
    pub suppressed_allow: u64,
    /// Findings suppressed by the baseline.
    pub suppressed_baseline: u64,
    /// Findings accepted by the ignore file.
    #[serde(default)]
    pub suppressed_ignore_file: u64,
    /// Files a directory walk left out by `--include` / `--exclude`.
    #[serde(default)]
    pub skipped_by_glob: u64,
    /// Git commits walked (`--git`).
    pub commits: u64,
    /// Inputs that failed (each in `errors`).
    pub error_count: u64,
    /// Failed inputs with their path (kind `error`).
    #[serde(serialize_with = "serialize_issues")]
    pub errors: Vec<Problem>,
    /// Skipped archive entries with their path and notice kind.
    #[serde(serialize_with = "serialize_issues")]
    pub notices: Vec<Problem>,
}

impl Summary {
    /// Adds another summary's counts and issues into this one.
    pub fn merge(&mut self, o: Summary) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.archives += o.archives;
        self.skipped_binary += o.skipped_binary;
        self.skipped_bounds += o.skipped_bounds;
        self.findings += o.findings;
        self.suppressed_allow += o.suppressed_allow;
        self.suppressed_baseline += o.suppressed_baseline;
        self.suppressed_ignore_file += o.suppressed_ignore_file;
        self.skipped_by_glob += o.skipped_by_glob;
        self.commits += o.commits;
        self.error_count += o.error_count;
        self.errors.extend(o.errors);
        self.notices.extend(o.notices);
    }

    /// Records a failed input: `path` names it, `message` says why (never a secret).
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.error_count += 1;
        self.errors.push(Problem::new(path, message).kind("error"));
    }
}

/// Findings plus counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// Findings, sorted by path, line, column, rule.
    pub findings: Vec<SecretFinding>,
    /// Counts, errors and notices.
    pub summary: Summary,
}

impl ScanReport {
    /// Adds another report's findings and counts into this one (call
    /// [`ScanReport::sort`] afterwards for a stable order).
    pub fn merge(&mut self, o: ScanReport) {
        self.findings.extend(o.findings);
        self.summary.merge(o.summary);
    }

    /// Sorts findings by path, line, column, rule and commit, and refreshes the count.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.rule_id, &a.commit)
                .cmp(&(&b.path, b.line, b.column, &b.rule_id, &b.commit))
        });
        self.summary.findings = self.findings.len() as u64;
    }
}

/// A configured scanner. Cheap to share across threads.
pub struct Scanner {
    rules: Arc<RuleSet>,
    opts: ScanOptions,
    pool: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.len())
            .field("opts", &self.opts)
            .finish()
    }
}

impl Scanner {
    /// A scanner with these rules and options.
    pub fn new(rules: RuleSet, opts: ScanOptions) -> Scanner {
        Scanner::with_shared_rules(Arc::new(rules), opts)
    }

    /// Same, sharing an already compiled rule set.
    pub fn with_shared_rules(rules: Arc<RuleSet>, opts: ScanOptions) -> Scanner {
        let pool = if opts.jobs > 0 {
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.jobs)
                .build()
                .ok()
        } else {
            None
        };
        Scanner { rules, opts, pool }
    }

    /// The rule set.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The options.
    pub fn options(&self) -> &ScanOptions {
        &self.opts
    }

    pub(crate) fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Scans files and directories (recursively; `-` is stdin), archives included.
    pub fn scan_paths(&self, paths: &[PathBuf]) -> ScanReport {
        let mut report = ScanReport::default();
        let mut inputs: Vec<(PathBuf, bool)> = Vec::new(); // (path, is a directory)
        for p in paths {
            if p.as_os_str() == "-" {
                report.merge(self.scan_reader_raw("-", io::stdin().lock()));
                continue;
            }
            match std::fs::metadata(p) {
                Err(e) => report
                    .summary
                    .error(p.display().to_string(), format!("{}: {e}", p.display())),
                Ok(m) => inputs.push((p.clone(), m.is_dir())),
            }
        }
        // A walker thread feeds the files to the scanning pool as it finds them, so
        // scanning starts at once instead of after the whole tree is listed. The order
        // of the output does not depend on it: `finish` sorts.
        // Files travel in batches: one channel operation and one hand-over to the pool per
        // WALK_BATCH files, not per file (the wake-ups cost more than scanning a small file).
        // The channel holds up to WALK_QUEUE batches, so the walker lists ahead instead
        // of sleeping and waking each time a batch is taken (2,400 context switches on
        // the benchmark tree with 64 batches, about 100 with 4,096: 0.96-0.98x the wall
        // time). Its memory stays bounded: 131,072 paths at most.
        let no_ignore = self.opts.no_ignore;
        let path_filter = self.opts.paths.clone().filter(|f| !f.is_empty());
        let skipped_glob = std::sync::atomic::AtomicU64::new(0);
        let (path_filter, skipped_glob) = (&path_filter, &skipped_glob);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(PathBuf, String)>>(WALK_QUEUE);
        let (walk_errors, partial) = std::thread::scope(|scope| {
            let walker = scope.spawn(move || {
                let mut errors = Vec::new();
                let mut batch = Vec::with_capacity(WALK_BATCH);
                for (p, is_dir) in inputs {
                    let live = if is_dir {
                        // Files found by the directory's walkers go straight into
                        // their own batches; the ones named on the command line
                        // into this thread's.
                        let (live, e) = walk_dir(&p, no_ignore, path_filter.as_deref(), skipped_glob, &tx);
                        errors.extend(e);
                        live
                    } else {
                        let label = path_label(&p);
                        push_file(&tx, &mut batch, (p, label))
                    };
                    if !live {
                        return errors;
                    }
                }
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                errors
            });
            let partial = self.install(|| {
                rx.into_iter()
                    .par_bridge()
                    .map(|batch| {
                        // The batch's files are opened first and the kernel asked to
                        // read them ahead, so that files not in the page cache are
                        // read from disk while earlier ones are scanned, many requests
                        // in flight instead of one at a time per worker.
                        let opened: Vec<Option<io::Result<std::fs::File>>> =
                            batch.iter().map(|(p, label)| self.open_ahead(p, label)).collect();
                        let mut rep = ScanReport::default();
                        for ((_, label), f) in batch.iter().zip(opened) {
                            rep.merge(self.scan_file_raw(label, f));
                        }
                        rep
                    })
                    .reduce(ScanReport::default, |mut a, b| {
                        a.merge(b);
                        a
                    })
            });
            (walker.join().expect("directory walker panicked"), partial)
        });
        for problem in walk_errors {
            report.summary.error_count += 1;
            report.summary.errors.push(problem);
        }
        report.summary.skipped_by_glob += skipped_glob.load(std::sync::atomic::Ordering::Relaxed);
        report.merge(partial);
        self.finish(report)
    }

    /// Scans one file (an archive is walked).
    pub fn scan_file(&self, path: &Path) -> ScanReport {
        let label = path.display().to_string();
        let f = self.open_ahead(path, &label);
        let r = self.scan_file_raw(&label, f);
        self.finish(r)
    }

    /// Opens a file that [`Scanner::scan_file_raw`] will read, and asks the
    /// kernel to start reading its first [`READ_AHEAD`] bytes into the page cache
    /// now (`POSIX_FADV_WILLNEED`: it returns at once; on data already cached it
    /// does nothing). `None` for a file skipped unread by its name.
    fn open_ahead(&self, path: &Path, label: &str) -> Option<io::Result<std::fs::File>> {
        if !self.opts.include_binary && has_binary_extension(label) {
            return None;
        }
        let f = std::fs::File::open(path);
        #[cfg(target_os = "linux")]
        if let Ok(f) = &f {
            use std::os::fd::AsRawFd;
            // SAFETY: a plain system call on a file descriptor we own; a failure
            // (advice not supported) changes nothing but the speed.
            unsafe {
                libc::posix_fadvise(f.as_raw_fd(), 0, READ_AHEAD, libc::POSIX_FADV_WILLNEED);
            }
        }
        Some(f)
    }

    /// Scans one file, `f` being what [`Scanner::open_ahead`] answered for it.
    fn scan_file_raw(&self, label: &str, f: Option<io::Result<std::fs::File>>) -> ScanReport {
        let mut rep = ScanReport::default();
        let Some(f) = f else {
            rep.summary.skipped_binary += 1;
            return rep;
        };
        let mut f = match f {
            Ok(f) => f,
            Err(e) => {
                rep.summary.error(label, format!("{label}: {e}"));
                return rep;
            }
        };
        // One buffer per thread, reused from file to file: a fresh allocation per file
        // costs page faults and zeroing for every byte. (Its length is what has been
        // zeroed once; `n` says how much of it the current file fills.) The head is
        // read first, in one read: a file that fits, most source files, is done with
        // that read and the one that sees its end, without asking its size; a binary
        // file (a .so) is skipped after the head. A longer file's size is asked once,
        // and the rest read in one read (std's `read_to_end` would ask the size and
        // position again, and read in growing steps from 8 KiB).
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        crate::with_scratch(&BUF, Vec::new, |buf| {
            if buf.len() < READ_HEAD {
                buf.resize(READ_HEAD, 0);
            }
            let mut n = match fill(&mut f, &mut buf[..READ_HEAD]) {
                Ok(n) => n,
                Err(e) => {
                    rep.summary.error(label, format!("{label}: {e}"));
                    return;
                }
            };
            if n == READ_HEAD {
                let archive = !self.opts.no_archives && archive::sniff(label, &buf[..n]).is_some();
                if !archive && !self.opts.include_binary && is_binary(&buf[..BINARY_SNIFF]) {
                    rep.summary.skipped_binary += 1;
                    return;
                }
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if len > self.opts.mmap_threshold {
                    // SAFETY: the map is read-only; a file truncated underneath us can
                    // fault, which is the accepted trade-off of every mmap-based scanner.
                    match unsafe { memmap2::Mmap::map(&f) } {
                        Ok(m) => {
                            #[cfg(unix)]
                            let _ = m.advise(memmap2::Advice::Sequential);
                            self.scan_data(label, &m, None, &mut rep);
                        }
                        Err(e) => rep.summary.error(label, format!("{label}: cannot map: {e}")),
                    }
                    return;
                }
                n = match read_rest(&mut f, buf, n, len as usize) {
                    Ok(n) => n,
                    Err(e) => {
                        rep.summary.error(label, format!("{label}: {e}"));
                        return;
                    }
                };
            }
            self.scan_data(label, &buf[..n], None, &mut rep);
            // Keep at most a few MB between files.
            if buf.len() > 2 * self.opts.mmap_threshold.max(1 << 20) as usize {
                *buf = Vec::new();
            }
        });
        rep
    }

    /// Scans bytes held in memory as the input `name` (archives are walked).
    pub fn scan_bytes(&self, name: &str, data: &[u8]) -> ScanReport {
        let mut rep = ScanReport::default();
        self.scan_data(name, data, None, &mut rep);
        self.finish(rep)
    }

    /// Scans a stream as the input `name`: stdin, a CI log as it downloads, an
    /// HTTP body. Memory stays bounded ([`STREAM_CHUNK`]); archives are
    /// recognised and walked; read errors become an error in the summary.
    /// The result is final (deduplicated, suppressions applied).
    pub fn scan_reader(&self, name: &str, reader: impl Read) -> ScanReport {
        let r = self.scan_reader_raw(name, reader);
        self.finish(r)
    }

    fn scan_reader_raw(&self, name: &str, mut reader: impl Read) -> ScanReport {
        let mut rep = ScanReport::default();
        let mut head = Vec::with_capacity(BINARY_SNIFF);
        if let Err(e) = (&mut reader).take(BINARY_SNIFF as u64).read_to_end(&mut head) {
            rep.summary.error(name, format!("{name}: {e}"));
            return rep;
        }
        let mut whole = io::Cursor::new(head.clone()).chain(reader);
        if !self.opts.no_archives && archive::sniff(name, &head).is_some() {
            self.walk_archive(name, Source::Reader(&mut whole), None, &mut rep);
            return rep;
        }
        if !self.opts.include_binary && is_binary(&head) {
            rep.summary.skipped_binary += 1;
            return rep;
        }
        if let Err(e) = self.scan_stream(name, &mut whole, None, &mut rep) {
            rep.summary.error(name, format!("{name}: {e}"));
        }
        rep
    }

    /// Scans one input held in memory: archive, binary check, then text.
    pub(crate) fn scan_data(&self, label: &str, data: &[u8], commit: Option<&str>, rep: &mut ScanReport) {
        let head = &data[..data.len().min(BINARY_SNIFF)];
        if !self.opts.no_archives && archive::sniff(label, head).is_some() {
            self.walk_archive(label, Source::Bytes(data), commit, rep);
            return;
        }
        if !self.opts.include_binary && is_binary(head) {
            rep.summary.skipped_binary += 1;
            return;
        }
        self.scan_text(label, data, commit, rep);
    }

    /// Scans text held in memory (no archive or binary check): in parallel
    /// chunks when it is large.
    fn scan_text(&self, label: &str, data: &[u8], commit: Option<&str>, rep: &mut ScanReport) {
        rep.summary.files += 1;
        rep.summary.bytes += data.len() as u64;
        if data.len() > PARALLEL_CHUNK * 2 {
            let bounds = chunk_bounds(data, PARALLEL_CHUNK);
            let parts: Vec<(Vec<RawMatch>, u64)> = bounds
                .par_windows(2)
                .map(|w| {
                    let m = self.rules.find_in_range(data, w[0]..w[1]);
                    (m, count_lines(&data[w[0]..w[1]]))
                })
                .collect();
            let mut line_base = 0u64;
            let mut starts = Vec::with_capacity(parts.len());
            for (i, (_, n)) in parts.iter().enumerate() {
                starts.push((bounds[i], line_base));
                line_base += n;
            }
            for (i, (m, _)) in parts.into_iter().enumerate() {
                let (chunk_start, base) = starts[i];
                self.emit(label, data, chunk_start, base, 0, m, commit, rep);
            }
        } else {
            let m = self.rules.find_in(data);
            self.emit(label, data, 0, 0, 0, m, commit, rep);
        }
        if let Some(p) = &self.opts.progress {
            p(label, data.len() as u64);
        }
    }

    fn walk_archive(&self, label: &str, source: Source<'_>, commit: Option<&str>, rep: &mut ScanReport) {
        struct V<'s, 'r> {
            s: &'s Scanner,
            rep: &'r mut ScanReport,
            commit: Option<&'s str>,
        }
        impl Visitor for V<'_, '_> {
            fn member(&mut self, m: &Member<'_>, r: &mut dyn Read) -> io::Result<()> {
                if !self.s.opts.include_binary && has_binary_extension(m.path) {
                    self.rep.summary.skipped_binary += 1;
                    return Ok(());
                }
                let mut head = Vec::with_capacity(BINARY_SNIFF);
                r.take(BINARY_SNIFF as u64).read_to_end(&mut head)?;
                if !self.s.opts.include_binary && is_binary(&head) {
                    self.rep.summary.skipped_binary += 1;
                    return Ok(());
                }
                let mut whole = io::Cursor::new(head).chain(r);
                self.s.scan_stream(m.path, &mut whole, self.commit, self.rep)
            }
            fn member_bytes(&mut self, m: &Member<'_>, data: &[u8]) -> io::Result<()> {
                let binary = has_binary_extension(m.path) || is_binary(&data[..data.len().min(BINARY_SNIFF)]);
                if !self.s.opts.include_binary && binary {
                    self.rep.summary.skipped_binary += 1;
                    return Ok(());
                }
                self.s.scan_text(m.path, data, self.commit, self.rep);
                Ok(())
            }
            fn notice(&mut self, n: Notice) {
                let kind = if n.kind.is_error() {
                    "error".to_string()
                } else {
                    serde_json::to_value(n.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                };
                let issue = Problem::new(n.path, n.message).kind(kind);
                if n.kind.is_error() {
                    self.rep.summary.error_count += 1;
                    self.rep.summary.errors.push(issue);
                } else {
                    self.rep.summary.skipped_bounds += 1;
                    self.rep.summary.notices.push(issue);
                }
            }
        }
        let mut v = V { s: self, rep, commit };
        if let Some(stats) = archive::walk(label, source, &self.opts.limits, &mut v) {
            rep.summary.archives += stats.archives;
        }
    }

    /// Scans a stream in overlapping chunks.
    pub(crate) fn scan_stream(
        &self,
        label: &str,
        r: &mut dyn Read,
        commit: Option<&str>,
        rep: &mut ScanReport,
    ) -> io::Result<()> {
        rep.summary.files += 1;
        // This thread's buffer, reused from stream to stream (fresh memory costs
        // page faults and zeroing); it holds up to STREAM_CHUNK bytes.
        thread_local! {
            static STREAM_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        crate::with_scratch(&STREAM_BUF, Vec::new, |buf| {
            buf.clear();
            let r = self.scan_chunks(label, r, commit, rep, buf);
            if buf.capacity() > 2 * STREAM_CHUNK {
                *buf = Vec::new();
            }
            r
        })
    }

    /// [`Scanner::scan_stream`]'s loop, with `buf` (empty) to read into.
    fn scan_chunks(
        &self,
        label: &str,
        r: &mut dyn Read,
        commit: Option<&str>,
        rep: &mut ScanReport,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut line_base = 0u64;
        let mut col_base = 0u64;
        let mut total = 0u64;
        loop {
            // Fill up to STREAM_CHUNK. `read_to_end` grows the buffer as data arrives
            // without zeroing it first: a small archive member costs its own size.
            let old = buf.len();
            let res = (&mut *r).take((STREAM_CHUNK - old) as u64).read_to_end(buf);
            total += (buf.len() - old) as u64;
            if let Err(e) = res {
                rep.summary.bytes += total;
                return Err(e);
            }
            let eof = buf.len() < STREAM_CHUNK;
            let report_end = if eof {
                buf.len()
            } else {
                let cut = line_start(buf, buf.len() - STREAM_OVERLAP);
                if cut == 0 {
                    buf.len() - STREAM_OVERLAP
                } else {
                    cut
                }
            };
            let mut m = self.rules.find_in(buf);
            m.retain(|x| x.start < report_end);
            self.emit(label, buf, 0, line_base, col_base, m, commit, rep);
            if eof {
                break;
            }
            let consumed = &buf[..report_end];
            let nl = count_lines(consumed);
            line_base += nl;
            col_base = match memchr::memrchr(b'\n', consumed) {
                Some(i) => (report_end - i - 1) as u64,
                None => col_base + report_end as u64,
            };
            buf.drain(..report_end);
        }
        rep.summary.bytes += total;
        if let Some(p) = &self.opts.progress {
            p(label, total);
        }
        Ok(())
    }

    /// Turns raw matches of `buf` into findings. `chunk_start`/`line_base`
    /// tell which line `buf[chunk_start]` is on (line_base newlines before it);
    /// `col_base` is the column offset of `buf[0]` when it is mid-line.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        label: &str,
        buf: &[u8],
        chunk_start: usize,
        line_base: u64,
        col_base: u64,
        matches: Vec<RawMatch>,
        commit: Option<&str>,
        rep: &mut ScanReport,
    ) {
        if matches.is_empty() {
            return;
        }
        let matches = resolve_overlaps(&self.rules, matches);
        // Lines: matches sorted by start; count newlines incrementally from chunk_start.
        // Matches before chunk_start (from a window reaching back) are counted backwards.
        let mut pos = chunk_start;
        let mut line = line_base;
        // Each line's bounds and marker are looked for once, however many matches
        // it holds: once per match read a long line once per match (a 32 MiB line
        // with 10,000 findings took 25 s).
        let mut lines = Lines::new();
        let mut allowed: (usize, bool) = (usize::MAX, false); // (line start, holds the marker)
        for m in matches {
            if m.start >= pos {
                line += count_lines(&buf[pos..m.start]);
            } else {
                line -= count_lines(&buf[m.start..pos]);
            }
            pos = m.start;
            let (ls, le) = lines.line(buf, m.start);
            if allowed.0 != ls {
                lines.tally.add(le - ls);
                allowed = (ls, memchr::memmem::find(&buf[ls..le], ALLOW_MARKER).is_some());
            }
            if allowed.1 {
                rep.summary.suppressed_allow += 1;
                continue;
            }
            let mut column = (m.start - ls) as u64 + 1;
            if ls == 0 {
                column += col_base;
            }
            let secret = &buf[m.start..m.end];
            let fp = fingerprint(secret);
            let (end_line, end_column) = match memchr::memrchr(b'\n', secret) {
                Some(i) => (line + 1 + count_lines(secret), (secret.len() - i) as u64),
                None => (line + 1, column + secret.len() as u64),
            };
            let rule = &self.rules.rules()[m.rule];
            let line1 = line + 1;
            let redacted = redact(&String::from_utf8_lossy(secret));
            let path = label.to_string();
            rep.findings.push(SecretFinding {
                id: SecretFinding::compute_id(&rule.def.id, &fp, &path, line1),
                rule_id: rule.def.id.clone(),
                rule_name: rule.def.name.clone(),
                path,
                line: line1,
                column,
                end_line,
                end_column,
                redacted,
                fingerprint: fp,
                commit: commit.map(str::to_string),
                confidence: match rule.def.checksum.and_then(|c| c.verify(secret)) {
                    Some(false) => rule.def.confidence.lower(),
                    _ => rule.def.confidence,
                },
                validation: None,
            });
            if let Some(hook) = &self.opts.on_secret {
                hook(rep.findings.last().expect("just pushed"), secret);
            }
        }
        #[cfg(test)]
        self.rules
            .examined
            .around_hits
            .fetch_add(lines.tally.bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Deduplicates, applies the baseline, sorts, fills the finding count.
    pub(crate) fn finish(&self, mut rep: ScanReport) -> ScanReport {
        let mut seen = HashSet::new();
        rep.findings
            .retain(|f| seen.insert((f.rule_id.clone(), f.path.clone(), f.line, f.fingerprint.clone())));
        if !self.opts.baseline.is_empty() {
            let before = rep.findings.len();
            rep.findings
                .retain(|f| !self.opts.baseline.contains(&f.fingerprint));
            rep.summary.suppressed_baseline += (before - rep.findings.len()) as u64;
        }
        if let Some(a) = &self.opts.accepted {
            let before = rep.findings.len();
            rep.findings.retain(|f| !a.accepts(f));
            rep.summary.suppressed_ignore_file += (before - rep.findings.len()) as u64;
        }
        rep.findings.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.rule_id, &a.commit)
                .cmp(&(&b.path, b.line, b.column, &b.rule_id, &b.commit))
        });
        rep.summary.findings = rep.findings.len() as u64;
        rep.summary.errors.sort_by(|a, b| a.file.cmp(&b.file));
        rep.summary.notices.sort_by(|a, b| a.file.cmp(&b.file));
        rep
    }
}

/// True when `head` holds a NUL byte (git's heuristic).
pub fn is_binary(head: &[u8]) -> bool {
    memchr::memchr(0, head).is_some()
}

/// Line feeds in `s`. bytecount picks AVX2 or SSE2 at run time; in a standalone
/// comparison with the hand-written SSE2 counter it replaced it was 1.2-1.6x as fast on
/// MiB-sized chunks and 6x on the short spans between matches.
fn count_lines(s: &[u8]) -> u64 {
    bytecount::count(s, b'\n') as u64
}

/// Line-aligned chunk boundaries: `[0, b1, b2, ..., len]`.
fn chunk_bounds(data: &[u8], size: usize) -> Vec<usize> {
    let mut b = vec![0];
    let mut pos = 0;
    while data.len() - pos > size {
        let target = pos + size;
        let cut = match memchr::memchr(b'\n', &data[target..]) {
            Some(i) => target + i + 1,
            None => data.len(),
        };
        if cut >= data.len() {
            break;
        }
        b.push(cut);
        pos = cut;
    }
    b.push(data.len());
    b
}

/// Keeps, among matches whose spans overlap, the most confident (then a
/// vendor's rule over a generic one, which says less about the secret: a
/// MetaApi token over a JWT; then the longest; then the lowest rule index).
/// Non-overlapping matches all stay.
fn resolve_overlaps(rules: &RuleSet, mut m: Vec<RawMatch>) -> Vec<RawMatch> {
    m.sort_by_key(|x| (x.start, x.end, x.rule));
    m.dedup();
    if m.len() < 2 {
        return m;
    }
    let key = |x: &RawMatch| {
        let r = &rules.rules()[x.rule];
        let c: Confidence = r.def.confidence;
        (c, !r.is_generic(), x.end - x.start, std::cmp::Reverse(x.rule))
    };
    let mut out = Vec::with_capacity(m.len());
    let mut i = 0;
    while i < m.len() {
        // Cluster of transitively overlapping spans.
        let mut j = i + 1;
        let mut end = m[i].end;
        while j < m.len() && m[j].start < end {
            end = end.max(m[j].end);
            j += 1;
        }
        let cluster = &m[i..j];
        for (a, x) in cluster.iter().enumerate() {
            let beaten = cluster
                .iter()
                .enumerate()
                .any(|(b, y)| b != a && y.start < x.end && x.start < y.end && key(y) > key(x));
            if !beaten {
                out.push(*x);
            }
        }
        i = j;
    }
    out
}

/// Bytes of a file asked to be read ahead when it is opened (a larger file is
/// read on by the kernel's own read-ahead, or memory-mapped).
#[cfg(target_os = "linux")]
const READ_AHEAD: libc::off_t = 4 << 20;

/// Files per batch handed from the directory walker to the scanning pool.
const WALK_BATCH: usize = 32;

/// Batches the directory walker may list ahead of the scanning pool.
const WALK_QUEUE: usize = 4096;

type FileBatch = Vec<(PathBuf, String)>;

/// Adds a file to the batch, sending the batch when full; false when the
/// receiving side is gone.
fn push_file(
    tx: &std::sync::mpsc::SyncSender<FileBatch>,
    batch: &mut FileBatch,
    file: (PathBuf, String),
) -> bool {
    batch.push(file);
    if batch.len() >= WALK_BATCH {
        let full = std::mem::replace(batch, Vec::with_capacity(WALK_BATCH));
        return tx.send(full).is_ok();
    }
    true
}

/// Threads listing a directory tree at once (see [`crate::walk::walk_parallel`]).
const WALK_THREADS: usize = 2;

/// Lists the files under `dir` (honouring ignore files unless `no_ignore`) into
/// batches sent on `tx`, with [`WALK_THREADS`] threads, each filling its own
/// batch. Returns false when the receiving side is gone, and the walk errors.
fn walk_dir(
    dir: &Path,
    no_ignore: bool,
    filter: Option<&crate::accept::PathFilter>,
    skipped: &std::sync::atomic::AtomicU64,
    tx: &std::sync::mpsc::SyncSender<FileBatch>,
) -> (bool, Vec<Problem>) {
    /// One walker thread's batch, sent when full and, for the rest, when the
    /// thread's walk ends (dropped).
    struct Batcher<'t> {
        tx: &'t std::sync::mpsc::SyncSender<FileBatch>,
        batch: FileBatch,
    }
    impl Drop for Batcher<'_> {
        fn drop(&mut self) {
            if !self.batch.is_empty() {
                let _ = self.tx.send(std::mem::take(&mut self.batch));
            }
        }
    }
    let make = || -> Box<dyn FnMut(PathBuf) -> bool + Send + '_> {
        let mut b = Batcher {
            tx,
            batch: Vec::with_capacity(WALK_BATCH),
        };
        Box::new(move |p| {
            if let Some(f) = filter {
                if !f.keeps(p.strip_prefix(dir).unwrap_or(&p)) {
                    skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return true;
                }
            }
            let label = path_label(&p);
            push_file(b.tx, &mut b.batch, (p, label))
        })
    };
    crate::walk::walk_parallel(dir, no_ignore, WALK_THREADS, &make)
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the rest of a file of `len` bytes (by its size) whose first `n`
/// bytes are in `buf`; returns how many bytes `buf` now holds. `buf`'s length
/// is what has been zeroed, and only grows. One byte more than the size is
/// asked for: the read that fills the rest is then followed by the one that
/// sees the end. A file that grew since its size was asked is read whole.
fn read_rest(f: &mut std::fs::File, buf: &mut Vec<u8>, n: usize, len: usize) -> io::Result<usize> {
    let want = (len + 1).max(n + 1);
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let n = n + fill(f, &mut buf[n..want])?;
    if n < want {
        return Ok(n);
    }
    buf.truncate(n);
    f.read_to_end(buf)?;
    Ok(buf.len())
}

/// A path as findings name it: its text, or (not UTF-8) its lossy display.
/// The same as `p.display().to_string()`, without the formatting machinery
/// for the common case.
fn path_label(p: &Path) -> String {
    match p.to_str() {
        Some(s) => s.to_owned(),
        None => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rule_file;

    const KEY: &str = "AKIAZ7Q3VOWRL4JD5NQK";

    fn scanner(extra: &str) -> Scanner {
        let mut defs = crate::rules::builtin_defs().unwrap();
        defs.retain(|(_, d)| d.id == "aws.access_key_id");
        if !extra.is_empty() {
            defs.extend(parse_rule_file("t.yml", extra).unwrap());
        }
        Scanner::new(RuleSet::compile(defs).unwrap(), ScanOptions::default())
    }

    #[test]
    fn line_and_column_are_one_based() {
        let s = scanner("");
        let r = s.scan_bytes("x", format!("a\nbb\n  id={KEY}\n").as_bytes());
        assert_eq!(r.findings.len(), 1);
        assert_eq!((r.findings[0].line, r.findings[0].column), (3, 6));
        assert!(!r.findings[0].redacted.contains(KEY));
    }

    #[test]
    fn allow_marker_and_dedupe() {
        let s = scanner("");
        let r = s.scan_bytes("x", format!("{KEY} # firebreak:allow\n{KEY} {KEY}\n").as_bytes());
        assert_eq!(r.findings.len(), 1, "same secret twice on a line is one finding");
        assert_eq!(r.findings[0].line, 2);
        assert_eq!(r.summary.suppressed_allow, 1);
    }

    #[test]
    fn count_lines_counts_every_line_feed_at_every_length_and_offset() {
        // Line feeds dense and sparse, every byte value around them, lengths
        // across the 16-byte steps and the 4080-byte blocks, odd start offsets.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut data = Vec::new();
        for i in 0..20_000usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let every = if (i / 3000) % 2 == 0 { 3 } else { 97 };
            let byte = if x.is_multiple_of(every) {
                b'\n'
            } else {
                (x >> 8) as u8
            };
            data.push(byte);
        }
        data.extend(std::iter::repeat_n(b'\n', 300)); // more than 255 in one counter
        let naive = |s: &[u8]| s.iter().filter(|&&b| b == b'\n').count() as u64;
        for start in [0, 1, 7, 15, 16, 17] {
            for end in (start..data.len())
                .step_by(997)
                .chain([4080 + start, 4095, 4096, 8160, data.len()])
            {
                let s = &data[start..end.max(start)];
                assert_eq!(count_lines(s), naive(s), "{start}..{end}");
            }
        }
        assert_eq!(count_lines(&data), naive(&data));
        assert_eq!(count_lines(&[b'\n'; 5000]), 5000);
    }

    #[test]
    fn overlap_keeps_most_confident_but_not_distinct_secrets() {
        let generic = "rules:\n  - id: t.generic\n    name: g\n    pattern: 'key=(?P<secret>[A-Z0-9]{20})'\n    keywords: ['key=']\n    confidence: low\n";
        let s = scanner(generic);
        let other = "AKIA2E0A8F3B244C9986";
        let r = s.scan_bytes("x", format!("key={KEY} and {other}\n").as_bytes());
        let ids: Vec<_> = r.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(ids, vec!["aws.access_key_id", "aws.access_key_id"]);
    }

    /// At the same confidence, a vendor's rule beats a generic one on the same
    /// span, whichever loaded first; a more confident generic rule still wins.
    #[test]
    fn overlap_prefers_a_vendor_rule_to_a_generic_one_at_the_same_confidence() {
        let rules = |generic_confidence: &str| {
            format!(
                "rules:\n  - id: t.generic\n    name: g\n    pattern: 'tok=(?P<secret>[A-Za-z0-9_]{{24}})'\n    keywords: ['tok=']\n    confidence: {generic_confidence}\n    tags: [generic]\n  - id: t.vendor\n    name: v\n    pattern: 'tok=(?P<secret>vnd_[A-Za-z0-9]{{20}})'\n    keywords: ['vnd_']\n    confidence: medium\n"
            )
        };
        let text = b"tok=vnd_Qx7Lm2Rt9Kp4Wz8Nb3Vc\n";
        let ids = |generic_confidence: &str| -> Vec<String> {
            let r = scanner(&rules(generic_confidence)).scan_bytes("x", text);
            r.findings.iter().map(|f| f.rule_id.clone()).collect()
        };
        assert_eq!(ids("medium"), vec!["t.vendor"]);
        assert_eq!(ids("high"), vec!["t.generic"]);
    }

    #[test]
    fn stream_chunks_keep_lines_and_find_secret_on_edge() {
        let s = scanner("");
        let mut data = Vec::new();
        let line = b"just some filler text for the log\n";
        // Fill so that the secret's line straddles the first chunk's report
        // boundary (STREAM_CHUNK - STREAM_OVERLAP): it is carried over and
        // must be reported exactly once, on the right line.
        let edge = STREAM_CHUNK - STREAM_OVERLAP;
        while data.len() + line.len() <= edge - 40 {
            data.extend_from_slice(line);
        }
        let lines_before = count_lines(&data);
        let secret_line = format!("x {KEY} {}\n", "p".repeat(60));
        assert!(data.len() < edge && data.len() + secret_line.len() > edge);
        data.extend_from_slice(secret_line.as_bytes());
        while data.len() < 3 * STREAM_CHUNK {
            data.extend_from_slice(line);
        }
        data.extend_from_slice(format!("{KEY} end").as_bytes());
        let total_lines = count_lines(&data) + 1;
        let r = s.scan_reader("log", io::Cursor::new(data.clone()));
        let lines: Vec<u64> = r.findings.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![lines_before + 1, total_lines]);
        assert_eq!(r.findings[0].column, 3);
        // The in-memory, chunked-in-parallel path agrees.
        let r2 = s.scan_bytes("log", &data);
        let lines2: Vec<u64> = r2.findings.iter().map(|f| f.line).collect();
        assert_eq!(lines2, lines);
    }

    #[test]
    fn files_and_members_with_binary_extensions_are_skipped_unread_unless_asked() {
        assert!(has_binary_extension("a/b/mod.cpython-312.pyc"));
        assert!(has_binary_extension("IMG.PNG"));
        assert!(has_binary_extension("x.whl!pkg/__pycache__/m.pyc"));
        assert!(!has_binary_extension("a.pyc.d/notes.txt"));
        assert!(!has_binary_extension("x.whl!pkg/m.py"));
        assert!(!has_binary_extension("archive.zip"));
        assert!(!has_binary_extension("README"));
        for ext in BINARY_EXTENSIONS {
            let head = vec![b' '; 600];
            assert!(
                archive::sniff(&format!("f.{ext}"), &head).is_none(),
                "{ext} is an archive name"
            );
        }
        // Text under a binary name: skipped without reading (the name decides), and
        // scanned when binary inputs are asked for.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("leak.pyc");
        std::fs::write(&p, format!("key = \"{KEY}\"\n")).unwrap();
        let z = d.path().join("w.zip");
        {
            let mut w = zip::ZipWriter::new(std::fs::File::create(&z).unwrap());
            w.start_file("pkg/leak.pyc", zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, format!("{KEY}\n").as_bytes()).unwrap();
            w.finish().unwrap();
        }
        let r = scanner("").scan_paths(&[p.clone(), z.clone()]);
        assert_eq!((r.findings.len(), r.summary.skipped_binary), (0, 2));
        let o = ScanOptions {
            include_binary: true,
            ..ScanOptions::default()
        };
        let s2 = Scanner::new(RuleSet::builtin().unwrap(), o);
        let r = s2.scan_paths(&[p, z]);
        assert_eq!((r.findings.len(), r.summary.skipped_binary), (2, 0));
    }

    #[test]
    fn binary_skipped_unless_asked() {
        let s = scanner("");
        let data = format!("\0\0{KEY}");
        let r = s.scan_bytes("b", data.as_bytes());
        assert_eq!((r.findings.len(), r.summary.skipped_binary), (0, 1));
        let o = ScanOptions {
            include_binary: true,
            ..ScanOptions::default()
        };
        let s2 = Scanner::with_shared_rules(
            Arc::new(RuleSet::compile(crate::rules::builtin_defs().unwrap()).unwrap()),
            o,
        );
        assert_eq!(s2.scan_bytes("b", data.as_bytes()).findings.len(), 1);
    }

    #[test]
    fn files_binary_skipped_after_the_head_text_and_archives_read_whole() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        // Binary head, secret past the sniffed part: skipped, counted.
        let mut bin = vec![0u8; 16];
        bin.extend(std::iter::repeat_n(b'x', BINARY_SNIFF * 2));
        bin.extend(format!("\n{KEY}\n").bytes());
        std::fs::write(dir.path().join("a.bin"), &bin).unwrap();
        // Text with the secret past the head; a gzip (binary bytes) holding it.
        let mut text = "y".repeat(BINARY_SNIFF * 3);
        text.push_str(&format!("\n{KEY}\n"));
        std::fs::write(dir.path().join("b.txt"), &text).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        std::fs::write(dir.path().join("c.txt.gz"), gz.finish().unwrap()).unwrap();
        let s = scanner("");
        let r = s.scan_paths(&[dir.path().to_path_buf()]);
        assert_eq!(r.summary.skipped_binary, 1, "{:?}", r.summary);
        let mut paths: Vec<String> = r.findings.iter().map(|f| f.path.clone()).collect();
        paths.sort();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(
            paths[0].ends_with("b.txt") && paths[1].ends_with("c.txt.gz!c.txt"),
            "{paths:?}"
        );
        assert!(
            r.findings.iter().all(|f| f.line == 2),
            "line numbers count the whole file"
        );
    }

    #[test]
    fn files_of_every_size_around_the_head_are_read_whole() {
        // The secret on the first line, straddling the end of the head, and on the
        // last line (no final line feed), for sizes below, at and past the head,
        // past the reused buffer's size, and past the mmap threshold.
        let dir = tempfile::tempdir().unwrap();
        let sizes = [
            READ_HEAD - 1,
            READ_HEAD,
            READ_HEAD + 1,
            3 * READ_HEAD + 5,
            5 * READ_HEAD,
        ];
        let mut want = Vec::new();
        for &size in &sizes {
            let mut text = format!("{KEY}\n").into_bytes();
            let mut lines = vec![1];
            if size > READ_HEAD + 2 * KEY.len() {
                text.resize(READ_HEAD - KEY.len() / 2 - 1, b'y');
                text.push(b'\n');
                text.extend(KEY.bytes());
                text.push(b'\n');
                lines.push(3);
            }
            text.resize(size - KEY.len() - 1, b'z');
            text.push(b'\n');
            text.extend(KEY.bytes());
            lines.push(lines.len() as u64 * 2 + 1);
            assert_eq!(text.len(), size);
            std::fs::write(dir.path().join(format!("{size}.txt")), &text).unwrap();
            want.push(lines);
        }
        let mut s = scanner("");
        // A threshold between the sizes: the biggest file is mapped, the others read.
        s.opts.mmap_threshold = (4 * READ_HEAD) as u64;
        let r = s.scan_paths(&[dir.path().to_path_buf()]);
        assert!(r.summary.errors.is_empty(), "{:?}", r.summary.errors);
        for (&size, want) in sizes.iter().zip(want) {
            let name = format!("{size}.txt");
            let mut lines: Vec<u64> = r
                .findings
                .iter()
                .filter(|f| f.path.ends_with(&name))
                .map(|f| f.line)
                .collect();
            lines.sort_unstable();
            assert_eq!(lines, want, "{name}");
        }
        let total: usize = sizes.iter().sum();
        assert_eq!(r.summary.bytes, total as u64);
    }

    /// What `s`'s rules examined so far: bytes around hits and findings, and
    /// per rule the bytes of the windows searched (see `rules::Tally`).
    fn examined(s: &Scanner) -> (u64, Vec<u64>) {
        use std::sync::atomic::Ordering::Relaxed;
        let e = &s.rules.examined;
        (
            e.around_hits.load(Relaxed),
            e.windows.iter().map(|w| w.load(Relaxed)).collect(),
        )
    }

    /// One line of about `len` bytes without a line feed: filler words, a
    /// `password=…` assignment every `gap` bytes, and runs that make each hit
    /// costly to look at from the hit alone: a long run of name bytes full of
    /// keywords, anchored names whose match could run on to the end of the
    /// line, multi-line rules' keywords. Returns it and the offsets of the
    /// planted passwords.
    fn long_line(len: usize, gap: usize) -> (Vec<u8>, Vec<usize>) {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const WORDS: &[&str] = &[
            "lorem", "ipsum", "dolor", "build", "step", "ok", "done", "the", "run",
        ];
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut data = Vec::with_capacity(len + gap);
        let mut planted = Vec::new();
        let mut i = 0;
        while data.len() < len {
            let mark = data.len();
            match i % 50 {
                // A name run full of keywords (each hit's name reaches back far).
                7 => data.extend("api_key".repeat(300).bytes()),
                // Names whose anchored match is still possible at the line's end.
                19 => data.extend(b" api_key :x[ secret_token: y[ "),
                // Keywords of multi-line rules (windows reaching 8 KiB ahead).
                31 => data.extend(b" machine host login me; "),
                _ => {}
            }
            data.extend(b" password=xyz");
            planted.push(data.len() - 3);
            for k in 0..24 {
                let c = if k == 11 {
                    b'7'
                } else {
                    ALNUM[(next() % 62) as usize]
                };
                data.push(c);
            }
            data.push(b' ');
            while data.len() < mark + gap {
                data.extend(WORDS[(next() % WORDS.len() as u64) as usize].bytes());
                data.push(b' ');
            }
            i += 1;
        }
        (data, planted)
    }

    /// Scanning is linear in the input's size whatever its line lengths, on
    /// every path: in memory (files read whole, git blobs), memory-mapped,
    /// streamed (stdin, archive members) and inflated in one call (gzip). On
    /// one 5 MiB line with 2,560 findings, the bytes examined around hits
    /// and findings stay below a small multiple of the input's size, and so do
    /// each rule's windows. (Line bounds and `firebreak:allow` were looked for
    /// afresh for each finding and each multi-line hit, reading the whole
    /// line each time: 25 s for a 32 MiB line with 10,000 findings.)
    #[test]
    fn a_long_line_with_many_hits_is_examined_in_linear_bytes_on_every_path() {
        use std::io::Write;
        let (data, planted) = long_line(5 << 20, 2048);
        assert!(memchr::memchr(b'\n', &data).is_none());
        let n = data.len() as u64;
        let want: Vec<u64> = planted.iter().map(|&o| o as u64 + 1).collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("long.log");
        std::fs::write(&file, &data).unwrap();
        let zip = dir.path().join("logs.zip");
        {
            let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
            w.start_file("long.log", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap();
        }
        let gz = dir.path().join("long.log.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        type Path_<'a> = Box<dyn Fn(&Scanner) -> ScanReport + 'a>;
        let paths: Vec<(&str, Path_)> = vec![
            ("bytes", Box::new(|s: &Scanner| s.scan_bytes("long.log", &data))),
            (
                "stream",
                Box::new(|s: &Scanner| s.scan_reader("long.log", io::Cursor::new(&data))),
            ),
            (
                "mmap",
                Box::new(|s: &Scanner| s.scan_paths(std::slice::from_ref(&file))),
            ),
            (
                "zip member",
                Box::new(|s: &Scanner| s.scan_paths(std::slice::from_ref(&zip))),
            ),
            (
                "gzip",
                Box::new(|s: &Scanner| s.scan_paths(std::slice::from_ref(&gz))),
            ),
        ];
        let s = Scanner::new(RuleSet::builtin().unwrap(), ScanOptions::default());
        assert!(
            (s.opts.mmap_threshold as usize) < data.len(),
            "the file is memory-mapped"
        );
        for (name, scan) in &paths {
            let (hits0, windows0) = examined(&s);
            let r = scan(&s);
            let (hits1, windows1) = examined(&s);
            assert!(r.summary.errors.is_empty(), "{name}: {:?}", r.summary.errors);
            let got: Vec<u64> = r
                .findings
                .iter()
                .filter(|f| f.rule_id == "generic.password_assignment")
                .map(|f| f.column)
                .collect();
            assert!(
                got == want,
                "{name}: {} findings, {} planted",
                got.len(),
                want.len()
            );
            assert!(r.findings.iter().all(|f| f.line == 1), "{name}");
            let around = hits1 - hits0;
            assert!(
                around <= 8 * n,
                "{name}: {around} bytes examined around hits, input {n}"
            );
            let (rule, most) = windows1
                .iter()
                .zip(&windows0)
                .map(|(a, b)| a - b)
                .enumerate()
                .max_by_key(|&(_, w)| w)
                .unwrap();
            assert!(
                most <= 5 * n,
                "{name}: rule {} searched {most} bytes of windows, input {n}",
                s.rules.rules()[rule].def.id
            );
        }
    }

    #[test]
    fn chunk_bounds_are_line_aligned() {
        let data = b"aaaa\nbbbb\ncccc\ndddd\n";
        let b = chunk_bounds(data, 6);
        assert_eq!(b.first(), Some(&0));
        assert_eq!(b.last(), Some(&data.len()));
        for x in &b[1..b.len() - 1] {
            assert_eq!(data[x - 1], b'\n');
        }
    }
}
