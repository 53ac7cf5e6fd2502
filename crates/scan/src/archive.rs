//! A bounded, recursive archive walker, reusable outside the scanner.
//!
//! [`walk`] opens an archive (zip and its relatives `.whl`, `.jar`, `.nupkg`,
//! `.apk`, `.conda`; tar; gzip, bzip2 and zstd streams, including
//! `.tar.gz`/`.tgz`, `.tar.bz2`/`.tbz2`, `.tar.zst`) and calls a [`Visitor`]
//! once per regular member with its nested path and a reader over its bytes.
//! Members that are archives themselves are opened recursively instead of
//! being visited. Formats are recognised by magic bytes first, then by the
//! file name ([`sniff`]).
//!
//! Member paths nest with `!`: `outer.tar.gz!inner/dir/file`,
//! `a.zip!b.tar.gz!c/d`. A compressed tarball is one layer (`x.tgz!f`, not
//! `x.tgz!x.tar!f`); a lone compressed file names its decompressed self by
//! dropping the suffix (`build.log.gz!build.log`).
//!
//! Everything is bounded by [`Limits`] (see its defaults). Entries that break a
//! bound, zip bombs (an entry or stream expanding more than
//! [`Limits::max_ratio`] times once past 1 MiB), path traversal entries (`..`
//! components, absolute paths) and symlink or hard-link entries are reported
//! to [`Visitor::notice`] with their path and skipped; the walk goes on with
//! the next member whenever the format allows it. Corrupt archives are
//! reported as [`NoticeKind::Broken`].
//!
//! ```no_run
//! use firebreak_scan::archive::{walk, Limits, Member, Notice, Visitor};
//! struct Names(Vec<String>);
//! impl Visitor for Names {
//!     fn member(&mut self, m: &Member<'_>, r: &mut dyn std::io::Read) -> std::io::Result<()> {
//!         self.0.push(m.path.to_string());
//!         std::io::copy(r, &mut std::io::sink()).map(|_| ())
//!     }
//!     fn notice(&mut self, n: Notice) { eprintln!("{}: {}", n.path, n.message) }
//! }
//! let data = std::fs::read("pkg.whl").unwrap();
//! let mut v = Names(Vec::new());
//! walk("pkg.whl", firebreak_scan::archive::Source::Bytes(&data), &Limits::default(), &mut v);
//! ```

use serde::Serialize;
use std::cell::Cell;
use std::io::{self, Cursor, Read, Seek};
use std::rc::Rc;

/// Bounds on what [`walk`] expands. They apply per top-level archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting opened (an archive inside an archive is depth 2). Default 8.
    pub max_depth: usize,
    /// Total bytes expanded from one top-level archive. Default 4 GiB.
    pub max_total_bytes: u64,
    /// Entries (files, directories, links) read from one top-level archive. Default 100 000.
    pub max_entries: u64,
    /// Largest expansion ratio of one entry or compressed stream, checked once
    /// it has produced more than 1 MiB. Default 200 (zip bombs reach 1 000+).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 8,
            max_total_bytes: 4 << 30,
            max_entries: 100_000,
            max_ratio: 200,
        }
    }
}

/// Ratio checks start once an entry or stream produced this many bytes.
pub const RATIO_GRACE: u64 = 1 << 20;

/// A gzip file held in memory whose trailer declares at most this many bytes
/// is inflated in one call (libdeflate, about 1.6 times as fast as the streaming
/// decoder) into a buffer of that size; larger ones, and any the one-call path
/// cannot take whole, are streamed.
pub const GZIP_WHOLE_MAX: u64 = 32 << 20;

/// The one-call inflation's buffer is kept for the next file up to this size.
const GZIP_KEEP: usize = 8 << 20;

/// Archive formats the walker opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Zip and zip-based packages (`.whl`, `.jar`, `.nupkg`, `.apk`, `.conda`, ...).
    Zip,
    /// POSIX tar.
    Tar,
    /// gzip stream (a `.tar.gz` when it holds a tar).
    Gzip,
    /// bzip2 stream.
    Bzip2,
    /// Zstandard stream.
    Zstd,
}

/// Recognises an archive from its first bytes (at least 262 for tar), then
/// from its name. Returns `None` for anything else.
pub fn sniff(name: &str, head: &[u8]) -> Option<Kind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(Kind::Zip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Kind::Gzip);
    }
    if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        return Some(Kind::Bzip2);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(Kind::Zstd);
    }
    if is_tar(head) {
        return Some(Kind::Tar);
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar") && head.len() >= 512 {
        return Some(Kind::Tar);
    }
    None
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// One regular member handed to [`Visitor::member`].
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// Nested path: `outer.zip!dir/file`, `a.zip!b.tar.gz!c/d`.
    pub path: &'a str,
    /// Uncompressed size when the format declares it.
    pub size: Option<u64>,
    /// Nesting depth of the archive holding the member (1 = top-level archive).
    pub depth: usize,
}

/// Why something inside an archive was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Nested deeper than [`Limits::max_depth`].
    DepthLimit,
    /// The top-level archive expanded past [`Limits::max_total_bytes`].
    TotalBytesLimit,
    /// More entries than [`Limits::max_entries`].
    EntriesLimit,
    /// Expansion ratio above [`Limits::max_ratio`]: a probable zip bomb.
    CompressionRatio,
    /// Entry name with `..` or an absolute path.
    PathTraversal,
    /// Symlink or hard-link entry.
    Link,
    /// The archive or a member is corrupt or unreadable (an error, not a bound).
    Broken,
}

impl NoticeKind {
    /// True for [`NoticeKind::Broken`]: the input failed, as opposed to being skipped by a bound or policy.
    pub fn is_error(self) -> bool {
        self == NoticeKind::Broken
    }
}

/// Something skipped inside an archive, with the nested path at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Nested path of the entry or archive.
    pub path: String,
    /// What happened.
    pub kind: NoticeKind,
    /// Human explanation.
    pub message: String,
}

/// Receives the members of an archive walk.
pub trait Visitor {
    /// Called for each regular, non-archive member. Read as much of `reader`
    /// as needed; a read error caused by a bound is recognised by the walker
    /// (pass it back unchanged as the `Err`) and becomes a notice.
    fn member(&mut self, member: &Member<'_>, reader: &mut dyn Read) -> io::Result<()>;
    /// Called instead of [`Visitor::member`] for a member that the walk holds
    /// whole in memory (a gzip file inflated in one call). The default reads it
    /// through [`Visitor::member`].
    fn member_bytes(&mut self, member: &Member<'_>, data: &[u8]) -> io::Result<()> {
        self.member(member, &mut Cursor::new(data))
    }
    /// Called for each skipped entry or broken archive.
    fn notice(&mut self, notice: Notice);
    /// Called when an archive (top-level or nested) is opened.
    fn archive_opened(&mut self, _path: &str, _kind: Kind) {}
}

/// Where the top-level archive comes from.
pub enum Source<'a> {
    /// Bytes in memory (or memory-mapped): zip members are read in place.
    Bytes(&'a [u8]),
    /// A stream; a zip read from a stream needs random access, so it is buffered in
    /// memory up to [`ZIP_IN_MEMORY`] bytes and in an anonymous temporary file beyond
    /// (bounded by [`Limits::max_total_bytes`]).
    Reader(&'a mut dyn Read),
}

/// Counts of one walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Archives opened, including nested ones.
    pub archives: u64,
    /// Regular members handed to the visitor.
    pub members: u64,
    /// Entries skipped by a bound or policy (not errors).
    pub skipped: u64,
    /// Broken archives or members.
    pub errors: u64,
    /// Bytes expanded.
    pub expanded_bytes: u64,
}

/// A bound was hit while reading; carried inside an `io::Error`.
#[derive(Debug)]
struct BoundError {
    kind: NoticeKind,
    message: String,
}

impl std::fmt::Display for BoundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for BoundError {}

fn bound(kind: NoticeKind, message: String) -> io::Error {
    io::Error::other(BoundError { kind, message })
}

fn as_bound(e: &io::Error) -> Option<(NoticeKind, String)> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<BoundError>())
        .map(|b| (b.kind, b.message.clone()))
}

struct Walk<'v> {
    limits: Limits,
    visitor: &'v mut dyn Visitor,
    total: Rc<Cell<u64>>,
    entries: u64,
    stats: WalkStats,
    entries_exceeded: bool,
}

/// Walks the archive `name` (its display path) read from `source`, calling
/// `visitor` for each member. Returns `None` when `source` is not an archive
/// ([`sniff`] found nothing); otherwise the walk's counts. Never fails: every
/// problem becomes a [`Notice`].
pub fn walk(name: &str, source: Source<'_>, limits: &Limits, visitor: &mut dyn Visitor) -> Option<WalkStats> {
    let mut w = Walk {
        limits: *limits,
        visitor,
        total: Rc::new(Cell::new(0)),
        entries: 0,
        stats: WalkStats::default(),
        entries_exceeded: false,
    };
    match source {
        Source::Bytes(b) => {
            let kind = sniff(name, &b[..b.len().min(512)])?;
            w.open(name, kind, Input::Bytes(b), 1);
        }
        Source::Reader(r) => {
            let mut head = Vec::with_capacity(512);
            if let Err(e) = (&mut *r).take(512).read_to_end(&mut head) {
                w.visitor.notice(Notice {
                    path: name.to_string(),
                    kind: NoticeKind::Broken,
                    message: format!("cannot read: {e}"),
                });
                w.stats.errors += 1;
                return Some(w.stats);
            }
            let kind = sniff(name, &head)?;
            let mut chained = Cursor::new(head).chain(r);
            w.open(name, kind, Input::Stream(&mut chained), 1);
        }
    }
    w.stats.expanded_bytes = w.total.get();
    Some(w.stats)
}

enum Input<'a> {
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read),
}

/// Reader wrapper enforcing the total-bytes budget and, optionally, a ratio
/// against a shared count of compressed bytes consumed.
struct Guard<R> {
    inner: R,
    total: Rc<Cell<u64>>,
    max_total: u64,
    produced: u64,
    compressed: Option<Rc<Cell<u64>>>,
    declared_compressed: Option<u64>,
    max_ratio: u64,
    path: String,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let t = self.total.get() + n as u64;
        self.total.set(t);
        if t > self.max_total {
            return Err(bound(
                NoticeKind::TotalBytesLimit,
                format!(
                    "{}: archive expands past {} bytes (--max-archive-bytes); rest skipped",
                    self.path, self.max_total
                ),
            ));
        }
        if self.produced > RATIO_GRACE {
            let c = match (&self.compressed, self.declared_compressed) {
                (Some(c), _) => c.get(),
                (None, Some(d)) => d,
                (None, None) => u64::MAX,
            };
            if self.produced > c.max(1).saturating_mul(self.max_ratio) {
                return Err(bound(
                    NoticeKind::CompressionRatio,
                    format!(
                        "{}: compression ratio above {} (probable zip bomb); skipped",
                        self.path, self.max_ratio
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// A zip read from a stream (a zip inside another archive, or on stdin) is held in
/// memory up to this many bytes and spooled to an anonymous temporary file beyond, so
/// that zips nested in zips cannot multiply memory use (each open level would otherwise
/// hold its whole copy).
pub const ZIP_IN_MEMORY: u64 = 16 << 20;

enum Spooled {
    Memory(Vec<u8>),
    File(std::fs::File),
}

/// Reads `r` to the end: into memory when it fits in `limit` bytes, else into an
/// anonymous temporary file (deleted on close) rewound to its start.
fn spool(r: &mut dyn Read, limit: u64) -> io::Result<Spooled> {
    let mut buf = Vec::new();
    (&mut *r).take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 <= limit {
        return Ok(Spooled::Memory(buf));
    }
    let mut f = tempfile::tempfile().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot spool a nested zip to a temporary file: {e}"),
        )
    })?;
    io::Write::write_all(&mut f, &buf)?;
    drop(buf);
    io::copy(r, &mut f)?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(Spooled::File(f))
}

/// Inflates `gz`, which must be exactly one gzip member inflating to exactly
/// `size` bytes (its CRC checked), with libdeflate, into `out` (replacing what
/// it held). False when it is not; `out` is then empty.
fn inflate_gzip(gz: &[u8], size: usize, out: &mut Vec<u8>) -> bool {
    use libdeflate_sys as ld;
    /// Frees the decompressor on every path out.
    struct Decompressor(*mut ld::libdeflate_decompressor);
    impl Drop for Decompressor {
        fn drop(&mut self) {
            // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed once, here.
            unsafe { ld::libdeflate_free_decompressor(self.0) }
        }
    }
    // SAFETY: plain allocation; null (out of memory) is checked below.
    let d = Decompressor(unsafe { ld::libdeflate_alloc_decompressor() });
    out.clear();
    if d.0.is_null() {
        return false;
    }
    if out.capacity() < size {
        // A fresh buffer, not `reserve`: growing would copy the stale bytes of
        // the previous member (and fault in its pages twice).
        *out = Vec::with_capacity(size);
    }
    let (mut read, mut written) = (0usize, 0usize);
    // SAFETY: `gz` is valid for reads of `gz.len()` bytes and `out`'s buffer for
    // writes of `size` bytes (its capacity is at least `size`, see above);
    // libdeflate writes at most `out_nbytes_avail` bytes and reports how many
    // it wrote and read.
    let r = unsafe {
        ld::libdeflate_gzip_decompress_ex(
            d.0,
            gz.as_ptr().cast(),
            gz.len(),
            out.as_mut_ptr().cast(),
            size,
            &mut read,
            &mut written,
        )
    };
    if r != ld::libdeflate_result_LIBDEFLATE_SUCCESS || read != gz.len() || written != size {
        return false;
    }
    // SAFETY: libdeflate initialised the first `written` (== `size`) bytes.
    unsafe { out.set_len(written) };
    true
}

/// Counts bytes read from a compressed source.
struct Counter<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

fn strip_suffix(name: &str) -> String {
    let base = name.rsplit(['/', '!']).next().unwrap_or(name);
    for suf in [".gz", ".gzip", ".bz2", ".zst", ".zstd", ".tgz", ".tbz2", ".tbz"] {
        if base.len() > suf.len() && base.to_ascii_lowercase().ends_with(suf) {
            let stem = &base[..base.len() - suf.len()];
            return match suf {
                ".tgz" | ".tbz2" | ".tbz" => format!("{stem}.tar"),
                _ => stem.to_string(),
            };
        }
    }
    format!("{base}.out")
}

/// True for entry names that escape the extraction root.
pub fn is_traversal(name: &str) -> bool {
    let n = name.replace('\\', "/");
    n.starts_with('/')
        || (n.len() >= 2 && n.as_bytes()[1] == b':' && n.as_bytes()[0].is_ascii_alphabetic())
        || n.split('/').any(|c| c == "..")
}

impl Walk<'_> {
    fn note(&mut self, path: String, kind: NoticeKind, message: String) {
        if kind.is_error() {
            self.stats.errors += 1;
        } else {
            self.stats.skipped += 1;
        }
        self.visitor.notice(Notice { path, kind, message });
    }

    /// Handles an error from reading a member or stream. Returns true when the
    /// enclosing archive can't go on (a bound on the shared budget, or a broken stream).
    fn fail(&mut self, path: &str, e: io::Error) -> bool {
        match as_bound(&e) {
            Some((kind, message)) => {
                self.note(path.to_string(), kind, message);
                kind == NoticeKind::TotalBytesLimit
            }
            None => {
                self.note(path.to_string(), NoticeKind::Broken, format!("{path}: {e}"));
                true
            }
        }
    }

    fn budget_exhausted(&self) -> bool {
        self.total.get() > self.limits.max_total_bytes
    }

    fn count_entry(&mut self, archive: &str) -> bool {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            if !self.entries_exceeded {
                self.entries_exceeded = true;
                let m = format!(
                    "{archive}: more than {} entries (--max-archive-entries); rest skipped",
                    self.limits.max_entries
                );
                self.note(archive.to_string(), NoticeKind::EntriesLimit, m);
            }
            return false;
        }
        true
    }

    fn open(&mut self, path: &str, kind: Kind, input: Input<'_>, depth: usize) {
        if depth > self.limits.max_depth {
            let m = format!(
                "{path}: archive nested deeper than {} (--max-archive-depth); skipped",
                self.limits.max_depth
            );
            self.note(path.to_string(), NoticeKind::DepthLimit, m);
            return;
        }
        self.stats.archives += 1;
        self.visitor.archive_opened(path, kind);
        match kind {
            Kind::Zip => match input {
                Input::Bytes(b) => self.zip(path, Cursor::new(b), depth),
                Input::Stream(r) => {
                    let mut g = self.guard(r, path, None, None);
                    match spool(&mut g, ZIP_IN_MEMORY) {
                        Ok(Spooled::Memory(buf)) => self.zip(path, Cursor::new(&buf[..]), depth),
                        Ok(Spooled::File(f)) => self.zip(path, io::BufReader::new(f), depth),
                        Err(e) => {
                            self.fail(path, e);
                        }
                    }
                }
            },
            Kind::Tar => match input {
                Input::Bytes(b) => self.tar(path, &mut Cursor::new(b), depth),
                Input::Stream(r) => self.tar(path, r, depth),
            },
            Kind::Gzip | Kind::Bzip2 | Kind::Zstd => {
                if let (Kind::Gzip, Input::Bytes(b)) = (kind, &input) {
                    // The output buffer is this thread's, reused from file to file:
                    // fresh memory costs page faults and zeroing for every page.
                    thread_local! {
                        static OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
                    }
                    let done = crate::with_scratch(&OUT, Vec::new, |out| {
                        if !self.gunzip_whole(b, out) {
                            return false;
                        }
                        if is_tar(&out[..out.len().min(512)]) {
                            self.tar(path, &mut Cursor::new(&out[..]), depth);
                        } else {
                            let inner = format!("{path}!{}", strip_suffix(path));
                            self.member_bytes(&inner, out, depth);
                        }
                        if out.capacity() > GZIP_KEEP {
                            *out = Vec::new();
                        }
                        true
                    });
                    if done {
                        return;
                    }
                }
                let count = Rc::new(Cell::new(0u64));
                let raw: Box<dyn Read + '_> = match input {
                    Input::Bytes(b) => Box::new(Cursor::new(b)),
                    Input::Stream(r) => Box::new(r),
                };
                let counted = Counter {
                    inner: raw,
                    count: count.clone(),
                };
                let dec: Box<dyn Read + '_> = match kind {
                    Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
                    Kind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(counted)),
                    _ => match zstd::stream::read::Decoder::new(counted) {
                        Ok(d) => Box::new(d),
                        Err(e) => {
                            self.fail(path, e);
                            return;
                        }
                    },
                };
                let mut g = Guard {
                    inner: dec,
                    total: self.total.clone(),
                    max_total: self.limits.max_total_bytes,
                    produced: 0,
                    compressed: Some(count),
                    declared_compressed: None,
                    max_ratio: self.limits.max_ratio,
                    path: path.to_string(),
                };
                let mut head = Vec::with_capacity(512);
                if let Err(e) = (&mut g).take(512).read_to_end(&mut head) {
                    self.fail(path, e);
                    return;
                }
                let mut chained = Cursor::new(head.clone()).chain(g);
                if is_tar(&head) {
                    // A compressed tarball is one layer: members are `path!member`.
                    self.tar(path, &mut chained, depth);
                } else {
                    let inner = format!("{path}!{}", strip_suffix(path));
                    self.member(&inner, None, &head, &mut chained, depth);
                }
            }
        }
    }

    fn guard<'r, R: Read + 'r>(
        &self,
        r: R,
        path: &str,
        compressed: Option<Rc<Cell<u64>>>,
        declared: Option<u64>,
    ) -> Guard<R> {
        Guard {
            inner: r,
            total: self.total.clone(),
            max_total: self.limits.max_total_bytes,
            produced: 0,
            compressed,
            declared_compressed: declared,
            max_ratio: self.limits.max_ratio,
            path: path.to_string(),
        }
    }

    /// A member whose first bytes are `head` and the rest `rest` (which
    /// already re-yields `head`: `rest` is the whole member stream).
    /// Recurses into archives, else hands it to the visitor.
    fn member(&mut self, path: &str, size: Option<u64>, head: &[u8], whole: &mut dyn Read, depth: usize) {
        if let Some(kind) = sniff(path, head) {
            self.open(path, kind, Input::Stream(whole), depth + 1);
            return;
        }
        self.stats.members += 1;
        let m = Member { path, size, depth };
        if let Err(e) = self.visitor.member(&m, whole) {
            self.fail(path, e);
        }
    }

    /// Like [`Walk::member`] for a member held whole in memory.
    fn member_bytes(&mut self, path: &str, data: &[u8], depth: usize) {
        if let Some(kind) = sniff(path, &data[..data.len().min(512)]) {
            self.open(path, kind, Input::Bytes(data), depth + 1);
            return;
        }
        self.stats.members += 1;
        let m = Member {
            path,
            size: Some(data.len() as u64),
            depth,
        };
        if let Err(e) = self.visitor.member_bytes(&m, data) {
            self.fail(path, e);
        }
    }

    /// Inflates the gzip file `gz` in one call when that is safe and within
    /// bounds: its trailer's size fits [`GZIP_WHOLE_MAX`], the walk's byte budget
    /// and the ratio bound, and the file is exactly one gzip member whose data,
    /// CRC and size check out. False sends the file down the streaming path,
    /// which reports whatever is wrong with it (a bound, a broken or
    /// multi-member stream) the way it always has.
    fn gunzip_whole(&mut self, gz: &[u8], out: &mut Vec<u8>) -> bool {
        // The smallest gzip file: a 10-byte header and an 8-byte trailer.
        if gz.len() < 18 {
            return false;
        }
        let tail = &gz[gz.len() - 4..];
        let size = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        let within_ratio =
            size <= RATIO_GRACE || size <= (gz.len() as u64).saturating_mul(self.limits.max_ratio);
        if size > GZIP_WHOLE_MAX || self.total.get() + size > self.limits.max_total_bytes || !within_ratio {
            return false;
        }
        if !inflate_gzip(gz, size as usize, out) {
            return false;
        }
        self.total.set(self.total.get() + size);
        true
    }

    fn zip<R: Read + Seek>(&mut self, path: &str, cursor: R, depth: usize) {
        let mut z = match zip::ZipArchive::new(cursor) {
            Ok(z) => z,
            Err(e) => {
                self.note(
                    path.to_string(),
                    NoticeKind::Broken,
                    format!("{path}: broken zip: {e}"),
                );
                return;
            }
        };
        for i in 0..z.len() {
            if self.budget_exhausted() || !self.count_entry(path) {
                return;
            }
            let mut f = match z.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    let m = format!("{path}: zip entry #{i}: {e}");
                    self.note(format!("{path}!#{i}"), NoticeKind::Broken, m);
                    continue;
                }
            };
            let raw_name = f.name().to_string();
            let inner = format!("{path}!{raw_name}");
            if f.is_dir() {
                continue;
            }
            if is_traversal(&raw_name) || f.enclosed_name().is_none() {
                let m = format!("{inner}: path traversal entry name; skipped");
                self.note(inner, NoticeKind::PathTraversal, m);
                continue;
            }
            if f.is_symlink() {
                let m = format!("{inner}: symlink entry; skipped");
                self.note(inner, NoticeKind::Link, m);
                continue;
            }
            let (size, csize) = (f.size(), f.compressed_size());
            if size > RATIO_GRACE && size > csize.max(1).saturating_mul(self.limits.max_ratio) {
                let m = format!(
                    "{inner}: declares {size} bytes from {csize} compressed (ratio above {}, probable zip bomb); skipped",
                    self.limits.max_ratio
                );
                self.note(inner, NoticeKind::CompressionRatio, m);
                continue;
            }
            let mut g = self.guard(&mut f, &inner, None, Some(csize));
            let mut head = Vec::with_capacity(512);
            if let Err(e) = (&mut g).take(512).read_to_end(&mut head) {
                if self.fail(&inner, e) && self.budget_exhausted() {
                    return;
                }
                continue;
            }
            let mut whole = Cursor::new(head.clone()).chain(g);
            self.member(&inner, Some(size), &head, &mut whole, depth);
            if self.budget_exhausted() {
                return;
            }
        }
    }

    fn tar(&mut self, path: &str, r: &mut dyn Read, depth: usize) {
        let mut ar = tar::Archive::new(r);
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => {
                self.note(
                    path.to_string(),
                    NoticeKind::Broken,
                    format!("{path}: broken tar: {e}"),
                );
                return;
            }
        };
        for entry in entries {
            if self.budget_exhausted() || !self.count_entry(path) {
                return;
            }
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if !self.fail(path, e) {
                        continue;
                    }
                    return;
                }
            };
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let inner = format!("{path}!{raw_name}");
            let et = entry.header().entry_type();
            if et.is_dir()
                || et.is_pax_global_extensions()
                || et.is_pax_local_extensions()
                || et.is_gnu_longname()
            {
                continue;
            }
            if is_traversal(&raw_name) {
                let m = format!("{inner}: path traversal entry name; skipped");
                self.note(inner, NoticeKind::PathTraversal, m);
                continue;
            }
            if et.is_symlink() || et.is_hard_link() {
                let m = format!("{inner}: link entry; skipped");
                self.note(inner, NoticeKind::Link, m);
                continue;
            }
            if !(et.is_file() || et.is_contiguous()) {
                continue;
            }
            let size = entry.size();
            let mut g = self.guard(&mut entry, &inner, None, None);
            let mut head = Vec::with_capacity(512);
            if let Err(e) = (&mut g).take(512).read_to_end(&mut head) {
                if self.fail(&inner, e) {
                    return;
                }
                continue;
            }
            let mut whole = Cursor::new(head.clone()).chain(g);
            self.member(&inner, Some(size), &head, &mut whole, depth);
            if self.budget_exhausted() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Default)]
    struct Collect {
        members: Vec<(String, Vec<u8>)>,
        notices: Vec<Notice>,
    }
    impl Visitor for Collect {
        fn member(&mut self, m: &Member<'_>, r: &mut dyn Read) -> io::Result<()> {
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            self.members.push((m.path.to_string(), v));
            Ok(())
        }
        fn notice(&mut self, n: Notice) {
            self.notices.push(n);
        }
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, n, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn sniffs_by_magic_and_name() {
        assert_eq!(sniff("x", b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(sniff("x", &[0x1f, 0x8b, 8]), Some(Kind::Gzip));
        assert_eq!(sniff("x", b"BZh91AY"), Some(Kind::Bzip2));
        assert_eq!(sniff("x", &[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Kind::Zstd));
        assert_eq!(sniff("x", &tar_of(&[("a", b"b")])), Some(Kind::Tar));
        assert_eq!(sniff("notes.txt", b"hello"), None);
    }

    #[test]
    fn tgz_is_one_layer_and_plain_gz_names_its_stem() {
        let t = tar_of(&[("dir/f.txt", b"hello")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        let tgz = gz.finish().unwrap();
        let mut c = Collect::default();
        walk("o.tar.gz", Source::Bytes(&tgz), &Limits::default(), &mut c).unwrap();
        assert_eq!(
            c.members,
            vec![("o.tar.gz!dir/f.txt".to_string(), b"hello".to_vec())]
        );

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"log line").unwrap();
        let g = gz.finish().unwrap();
        let mut c = Collect::default();
        walk("ci/build.log.gz", Source::Bytes(&g), &Limits::default(), &mut c).unwrap();
        assert_eq!(c.members[0].0, "ci/build.log.gz!build.log");
    }

    /// Tells which path a member came down: whole in memory or streamed.
    #[derive(Default)]
    struct Ways {
        members: Vec<(String, Vec<u8>, &'static str)>,
        notices: Vec<Notice>,
    }
    impl Visitor for Ways {
        fn member(&mut self, m: &Member<'_>, r: &mut dyn Read) -> io::Result<()> {
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            self.members.push((m.path.to_string(), v, "stream"));
            Ok(())
        }
        fn member_bytes(&mut self, m: &Member<'_>, data: &[u8]) -> io::Result<()> {
            assert_eq!(m.size, Some(data.len() as u64));
            self.members.push((m.path.to_string(), data.to_vec(), "whole"));
            Ok(())
        }
        fn notice(&mut self, n: Notice) {
            self.notices.push(n);
        }
    }

    fn gz(d: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    }

    fn ways(name: &str, source: Source<'_>, limits: &Limits) -> Ways {
        let mut w = Ways::default();
        walk(name, source, limits, &mut w).unwrap();
        w
    }

    #[test]
    fn gzip_in_memory_is_inflated_in_one_call_only_when_that_is_whole_and_sound() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let one = gz(&text);
        let lim = Limits::default();
        // One member in memory: one call, the same bytes the stream gives.
        let w = ways("b.log.gz", Source::Bytes(&one), &lim);
        assert_eq!(
            w.members,
            vec![("b.log.gz!b.log".to_string(), text.clone(), "whole")]
        );
        let s = ways("b.log.gz", Source::Reader(&mut &one[..]), &lim);
        assert_eq!(
            s.members,
            vec![("b.log.gz!b.log".to_string(), text.clone(), "stream")]
        );
        // A tarball inflated in one call is walked as one layer.
        let tgz = gz(&tar_of(&[("d/f.txt", b"hello")]));
        let w = ways("t.tgz", Source::Bytes(&tgz), &lim);
        assert_eq!(
            w.members,
            vec![("t.tgz!d/f.txt".to_string(), b"hello".to_vec(), "stream")]
        );
        // Two members (`cat a.gz b.gz`), the trailer naming only the last:
        // streamed, and both read, even when the first has the same size.
        let mut two = gz(b"first\n");
        two.extend(gz(b"other\n"));
        let w = ways("c.gz", Source::Bytes(&two), &lim);
        assert_eq!(
            w.members,
            vec![("c.gz!c".to_string(), b"first\nother\n".to_vec(), "stream")]
        );
        // A trailer that lies about the size, or a bad CRC: streamed, and the
        // stream reports what is wrong.
        let mut lie = one.clone();
        let n = lie.len();
        lie[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        let w = ways("l.gz", Source::Bytes(&lie), &lim);
        assert!(w.members.iter().all(|m| m.2 == "stream"));
        assert!(
            w.notices.iter().any(|x| x.kind == NoticeKind::Broken),
            "a size mismatch is reported"
        );
        let mut crc = one.clone();
        crc[n - 8] ^= 1;
        let w = ways("k.gz", Source::Bytes(&crc), &lim);
        assert!(w.members.iter().all(|m| m.2 == "stream"));
        assert!(
            w.notices.iter().any(|x| x.kind == NoticeKind::Broken),
            "a bad CRC is reported"
        );
        // Bounds: past the byte budget or the ratio, the stream's guard reports it.
        let small = Limits {
            max_total_bytes: 1000,
            ..lim
        };
        let w = ways("b.log.gz", Source::Bytes(&one), &small);
        assert!(w.members.iter().all(|m| m.2 == "stream"));
        assert_eq!(w.notices[0].kind, NoticeKind::TotalBytesLimit);
        let bomb = gz(&vec![b'a'; 3 << 20]);
        let w = ways("z.gz", Source::Bytes(&bomb), &lim);
        assert!(w.members.iter().all(|m| m.2 == "stream"));
        assert_eq!(w.notices[0].kind, NoticeKind::CompressionRatio);
    }

    #[test]
    fn traversal_and_depth() {
        assert!(is_traversal("../etc/passwd"));
        assert!(is_traversal("/etc/passwd"));
        assert!(is_traversal("a/../../b"));
        assert!(!is_traversal("a/b..c/d"));
        let inner = tar_of(&[("f", b"x")]);
        let outer = tar_of(&[("in.tar", &inner)]);
        let mut c = Collect::default();
        let l = Limits {
            max_depth: 1,
            ..Limits::default()
        };
        walk("o.tar", Source::Bytes(&outer), &l, &mut c).unwrap();
        assert!(c.members.is_empty());
        assert_eq!(c.notices[0].kind, NoticeKind::DepthLimit);
        assert_eq!(c.notices[0].path, "o.tar!in.tar");
    }

    #[test]
    fn big_nested_zips_are_spooled_not_held_in_memory() {
        // Found by the adversarial suite: each nested zip level was read whole into memory,
        // so stored zips nested 7 deep multiplied memory use by 7.
        let small = vec![b'a'; 1000];
        match spool(&mut &small[..], 4096).unwrap() {
            Spooled::Memory(b) => assert_eq!(b, small),
            Spooled::File(_) => panic!("small streams stay in memory"),
        }
        let big = vec![b'b'; 10_000];
        match spool(&mut &big[..], 4096).unwrap() {
            Spooled::File(mut f) => {
                let mut back = Vec::new();
                f.read_to_end(&mut back).unwrap();
                assert_eq!(back, big);
            }
            Spooled::Memory(_) => panic!("big streams are spooled"),
        }
        // a nested zip bigger than the in-memory bound is still walked
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("big.txt", o).unwrap();
        w.write_all(&vec![b'x'; ZIP_IN_MEMORY as usize + 10]).unwrap();
        w.start_file("f.txt", o).unwrap();
        w.write_all(b"found").unwrap();
        let inner = w.finish().unwrap().into_inner();
        let outer = tar_of(&[("inner.zip", &inner)]);
        let mut c = Collect::default();
        walk("o.tar", Source::Bytes(&outer), &Limits::default(), &mut c).unwrap();
        let names: Vec<&str> = c.members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["o.tar!inner.zip!big.txt", "o.tar!inner.zip!f.txt"]);
        assert!(c.notices.is_empty(), "{:?}", c.notices);
    }

    #[test]
    fn not_an_archive_is_none() {
        let mut c = Collect::default();
        assert!(walk("a.txt", Source::Bytes(b"plain text"), &Limits::default(), &mut c).is_none());
    }
}
