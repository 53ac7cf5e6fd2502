//! Streaming readers: split a log file into raw records with bounded memory.
//!
//! JSON files are scanned byte by byte (strings and nesting tracked) so that
//! `{"Records":[...]}` / `{"records":[...]}` wrappers, top-level arrays (pretty-printed
//! or not) and JSON Lines all yield one record at a time; nothing is parsed into a tree
//! here. CSV files (CircleCI) are read row by row and each row is turned into a JSON
//! object whose JSON-holding columns are nested; in a Microsoft Purview audit search
//! export (a CSV with an `AuditData` column) each row's AuditData JSON is the record.
//! Gzip is detected by magic bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Largest record accepted (bytes); a larger one is reported malformed and skipped, and
/// the records after it are still read.
pub const MAX_RECORD: usize = 64 << 20;
/// Problems listed per file by the splitter; the others are only counted.
const MAX_SPLIT_PROBLEMS: usize = 50;
const CHUNK: usize = 4 << 20;
const BATCH: usize = 8 << 20;

/// How a JSON file holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"Records": [ ... ]}` (CloudTrail) or `{"records": [ ... ]}` (Azure).
    Wrapped,
    /// A top-level array (GitHub export, `gcloud logging read --format=json`).
    Array,
    /// One JSON value per line.
    Lines,
    /// Pretty-printed values one after the other.
    Concat,
    /// CSV with a header (CircleCI).
    Csv,
    /// Microsoft Purview audit search export ("Export results"): CSV whose `AuditData`
    /// column holds each Microsoft 365 record as JSON; that JSON is the record.
    AuditCsv,
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based index among the file's records.
    pub index: u64,
}

/// A problem with part of an input (counted, reported, never fatal): firebreak's one
/// input-problem type. Hunt fills `line` (1-based, when known), `record` (`#N`, the
/// 1-based record number, when known) and `kind` (`malformed`, `truncated`, `unreadable`,
/// `unknown_type`).
pub use firebreak_core::Problem;

/// A hunt problem: `line` and `record` 0 when not known.
pub fn problem(file: &str, line: u64, record: u64, kind: &str, message: impl Into<String>) -> Problem {
    let p = if line > 0 {
        Problem::at(file, line, message)
    } else {
        Problem::new(file, message)
    };
    let p = if record > 0 { p.numbered(record) } else { p };
    p.kind(kind)
}

/// A problem as hunt has always shown it in JSON (`--format json`, [`HuntReport`]
/// serialised): `{"file", "line", "record", "kind", "message"}`, `line` and `record`
/// numbers, 0 when not known.
///
/// [`HuntReport`]: crate::HuntReport
pub fn problem_json(p: &Problem) -> serde_json::Value {
    serde_json::json!({
        "file": p.file,
        "line": p.line.unwrap_or(0),
        "record": p.record_number().unwrap_or(0),
        "kind": p.kind_str(),
        "message": p.message,
    })
}

/// Serialises problems in hunt's JSON shape ([`problem_json`]).
pub fn serialize_problems<S: serde::Serializer>(ps: &[Problem], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ps.len()))?;
    for p in ps {
        seq.serialize_element(&problem_json(p))?;
    }
    seq.end()
}

/// `hunt: KIND: FILE[:LINE (record N)]: MESSAGE`, as hunt reports a problem on stderr.
pub fn problem_line(p: &Problem) -> String {
    let at = match (p.line.unwrap_or(0), p.record_number().unwrap_or(0)) {
        (0, 0) => String::new(),
        (l, r) => format!(":{l} (record {r})"),
    };
    format!("hunt: {}: {}{at}: {}", p.kind_str(), p.file, p.message)
}

/// A batch of raw records sharing one buffer.
#[derive(Debug, Default)]
pub struct Batch {
    /// The bytes.
    pub data: Vec<u8>,
    /// Record ranges in `data` and their positions.
    pub recs: Vec<(Range<usize>, RecordPos)>,
}

/// Opens a file, transparently gunzipping when it starts with the gzip magic.
pub fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    decompress(Box::new(File::open(path)?))
}

/// Wraps a stream, transparently gunzipping when it starts with the gzip magic.
pub fn decompress(r: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut br = BufReader::with_capacity(64 << 10, r);
    let head = br.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(br)))
    } else {
        Ok(Box::new(br))
    }
}

/// Lists the files under the given paths (directories walked, sorted, hidden files skipped).
pub fn walk(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut probs = Vec::new();
    for p in paths {
        walk_one(p, &mut out, &mut probs);
    }
    (out, probs)
}

fn walk_one(p: &Path, out: &mut Vec<PathBuf>, probs: &mut Vec<Problem>) {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(p) {
            Ok(rd) => {
                let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                entries.sort();
                for e in entries {
                    let hidden = e
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'));
                    if !hidden {
                        walk_one(&e, out, probs);
                    }
                }
            }
            Err(e) => probs.push(unreadable(p, &e)),
        },
        Ok(_) => out.push(p.to_path_buf()),
        Err(e) => probs.push(unreadable(p, &e)),
    }
}

fn unreadable(p: &Path, e: &io::Error) -> Problem {
    problem(&p.display().to_string(), 0, 0, "unreadable", e.to_string())
}

/// Where a CSV byte sits: just enough of the csv crate's state machine (RFC 4180 quoting,
/// `""` inside quotes) to find where a row ends without parsing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvPos {
    /// At the start of a field.
    FieldStart,
    /// In an unquoted field (a `"` there is literal).
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// Just after a `"` inside a quoted field (closing quote or first half of `""`).
    QuoteSeen,
}

impl CsvPos {
    /// Walks `b`; with `stop`, returns the offset just past the first line feed that ends
    /// a row (the state is then the start of the next row).
    fn walk(&mut self, b: &[u8], stop: bool) -> Option<usize> {
        let mut i = 0;
        while i < b.len() {
            match *self {
                CsvPos::Quoted => match memchr::memchr(b'"', &b[i..]) {
                    Some(o) => {
                        i += o + 1;
                        *self = CsvPos::QuoteSeen;
                    }
                    None => return None,
                },
                CsvPos::Unquoted => match memchr::memchr2(b',', b'\n', &b[i..]) {
                    Some(o) => {
                        let c = b[i + o];
                        i += o + 1;
                        *self = CsvPos::FieldStart;
                        if c == b'\n' && stop {
                            return Some(i);
                        }
                    }
                    None => return None,
                },
                CsvPos::FieldStart | CsvPos::QuoteSeen => {
                    // `"` opens a quoted field, or (after a quote) is the second half of `""`
                    let c = b[i];
                    i += 1;
                    *self = match c {
                        b'"' => CsvPos::Quoted,
                        b',' | b'\n' => CsvPos::FieldStart,
                        _ => CsvPos::Unquoted,
                    };
                    if c == b'\n' && stop {
                        return Some(i);
                    }
                }
            }
        }
        None
    }
}

/// Caps the bytes the CSV parser may read for one row: the csv crate grows its record
/// buffer without bound, so a multi-gigabyte row (one quoted field, no closing quote)
/// would be held whole in memory. Past [`MAX_RECORD`] bytes (plus the parser's read-ahead)
/// from the start of the current row, the rest of the row is read and dropped here (its
/// end found by [`CsvPos`]), the read fails with [`RowLimit::skipped`] set, and the CSV
/// reader is rebuilt on the bytes after the row: the rest of the file is still read.
struct RowLimit {
    inner: Box<dyn Read + Send>,
    /// Stream offset of the next byte handed to the parser.
    read: u64,
    /// Stream offset where the row being parsed starts (set by the CSV reader).
    row_start: Arc<AtomicU64>,
    /// Quoting state after the bytes handed out.
    pos: CsvPos,
    /// Line feeds handed out (or dropped with a skipped row).
    newlines: u64,
    /// CRLF file: a row is resumed at the `\n` of its `\r\n`, as the csv crate does.
    crlf: bool,
    /// Bytes read past a skipped row, handed out first.
    pending: Vec<u8>,
    pending_at: usize,
    /// Set when the last read failed because a row was skipped.
    skipped: bool,
    /// The input ended while a row was skipped.
    eof: bool,
}

impl RowLimit {
    fn new(inner: Box<dyn Read + Send>, row_start: Arc<AtomicU64>, crlf: bool) -> Self {
        RowLimit {
            inner,
            read: 0,
            row_start,
            pos: CsvPos::FieldStart,
            newlines: 0,
            crlf,
            pending: Vec::new(),
            pending_at: 0,
            skipped: false,
            eof: false,
        }
    }

    fn hand_out(&mut self, b: &[u8]) {
        self.read += b.len() as u64;
        self.newlines += memchr::memchr_iter(b'\n', b).count() as u64;
        self.pos.walk(b, false);
    }

    /// Drops input up to the end of the current row; `first` is what was just read.
    fn skip_row(&mut self, first: &[u8]) {
        let mut chunk = first.to_vec();
        loop {
            if let Some(mut end) = self.pos.walk(&chunk, true) {
                if self.crlf && end >= 2 && chunk[end - 2] == b'\r' {
                    end -= 1;
                    self.pos = CsvPos::FieldStart;
                }
                self.newlines += memchr::memchr_iter(b'\n', &chunk[..end]).count() as u64;
                self.read += end as u64;
                self.pending = chunk.split_off(end);
                self.pending_at = 0;
                return;
            }
            self.newlines += memchr::memchr_iter(b'\n', &chunk).count() as u64;
            self.read += chunk.len() as u64;
            chunk.resize(64 << 10, 0);
            let n = loop {
                match self.inner.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(n) => break n,
                    Err(_) => break 0,
                }
            };
            if n == 0 {
                self.eof = true;
                return;
            }
            chunk.truncate(n);
        }
    }
}

impl Read for RowLimit {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.skipped = false;
        if self.pending_at < self.pending.len() {
            let n = (self.pending.len() - self.pending_at).min(buf.len());
            buf[..n].copy_from_slice(&self.pending[self.pending_at..self.pending_at + n]);
            self.pending_at += n;
            if self.pending_at == self.pending.len() {
                self.pending = Vec::new();
                self.pending_at = 0;
            }
            self.hand_out(&buf[..n]);
            return Ok(n);
        }
        if self.eof {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        let row = self.row_start.load(Ordering::Relaxed);
        if (self.read + n as u64).saturating_sub(row) > (MAX_RECORD + CHUNK) as u64 {
            let first = buf[..n].to_vec();
            self.skip_row(&first);
            self.skipped = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("CSV row longer than {MAX_RECORD} bytes; skipped"),
            ));
        }
        self.hand_out(&buf[..n]);
        Ok(n)
    }
}

/// Splits a stream into raw records, batch by batch.
pub struct Splitter {
    rdr: Box<dyn Read + Send>,
    file: String,
    buf: Vec<u8>,
    eof: bool,
    layout: Option<Layout>,
    scan: usize,
    line: u64,
    index: u64,
    in_elem: bool,
    elem_start: usize,
    elem_line: u64,
    depth: i64,
    in_str: bool,
    esc: bool,
    done: bool,
    /// Inside a JSON record longer than [`MAX_RECORD`], which is dropped as it is scanned.
    skipping: bool,
    skipped: u64,
    unlisted: u64,
    csv: Option<CsvState>,
    /// Problems met so far (malformed, truncated); at most 50 per file, the others are
    /// counted in [`Splitter::unlisted_problems`].
    pub problems: Vec<Problem>,
}

struct CsvState {
    /// `None` only while it is rebuilt after a skipped row.
    rdr: Option<csv::Reader<RowLimit>>,
    headers: Vec<String>,
    /// [`Layout::AuditCsv`]: the `AuditData` column, whose JSON is the record.
    audit_data: Option<usize>,
    /// Stream offset where the row being read starts (see [`RowLimit`]).
    row_start: Arc<AtomicU64>,
    /// The csv crate reports lines one short in CRLF files (it counts the `\n` of a
    /// `\r\n` when it starts the next record), so this is added back.
    line_fix: u64,
    /// Lines and bytes before the current reader's first byte (a reader is rebuilt after
    /// each skipped row and counts from there).
    line_base: u64,
    byte_base: u64,
}

impl Splitter {
    /// Wraps a reader; `file` names it in problems.
    pub fn new(rdr: Box<dyn Read + Send>, file: &str) -> Self {
        Splitter {
            rdr,
            file: file.to_string(),
            buf: Vec::new(),
            eof: false,
            layout: None,
            scan: 0,
            line: 1,
            index: 0,
            in_elem: false,
            elem_start: 0,
            elem_line: 1,
            depth: 0,
            in_str: false,
            esc: false,
            done: false,
            skipping: false,
            skipped: 0,
            unlisted: 0,
            csv: None,
            problems: Vec::new(),
        }
    }

    /// Records skipped so far: longer than [`MAX_RECORD`], or CSV rows that do not read
    /// (wrong column count, not UTF-8); each reported in [`Splitter::problems`] and
    /// counted as a record by its index.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Problems not listed in [`Splitter::problems`] (past 50 per file).
    pub fn unlisted_problems(&self) -> u64 {
        self.unlisted
    }

    /// The detected layout (after the first batch).
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    fn problem(&mut self, line: u64, record: u64, kind: &str, message: String) {
        if self.problems.len() >= MAX_SPLIT_PROBLEMS {
            self.unlisted += 1;
            return;
        }
        self.problems
            .push(problem(&self.file, line, record, kind, message));
    }

    fn fill(&mut self) {
        if self.eof {
            return;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let mut got = 0;
        while got < CHUNK {
            match self.rdr.read(&mut self.buf[old + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
                        "truncated"
                    } else {
                        "unreadable"
                    };
                    let (l, i) = (self.line, self.index + 1);
                    self.problem(
                        l,
                        i,
                        kind,
                        format!("read error (records before this point kept): {e}"),
                    );
                    break;
                }
            }
        }
        self.buf.truncate(old + got);
    }

    /// Detects the layout from the first bytes. Returns false for an unknown file type.
    fn detect(&mut self) -> bool {
        while self.buf.len() < 4096 && !self.eof {
            self.fill();
        }
        let b = &self.buf;
        let mut i = 0;
        if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
            i = 3;
        }
        while i < b.len() && b[i].is_ascii_whitespace() {
            if b[i] == b'\n' {
                self.line += 1;
            }
            i += 1;
        }
        if i >= b.len() {
            self.layout = Some(Layout::Lines);
            self.scan = i;
            return true;
        }
        match b[i] {
            b'[' => {
                self.layout = Some(Layout::Array);
                self.scan = i + 1;
            }
            b'{' => {
                // A wrapper: the array of records under "Records" / "records" (CloudTrail,
                // Azure exports), "value" (Microsoft Graph pages) or "items" (Google
                // Reports API pages), as the first member or after the page's scalar
                // metadata (`@odata.*`, `kind`, `etag`, `nextPageToken`).
                let wrapped = wrapper_start(b, i + 1);
                if let Some(start) = wrapped {
                    self.line += b[i..start].iter().filter(|&&c| c == b'\n').count() as u64;
                    self.layout = Some(Layout::Wrapped);
                    self.scan = start;
                } else {
                    let eol = memchr::memchr(b'\n', &b[i..]).map(|e| i + e).unwrap_or(b.len());
                    let first = b[i..eol].trim_ascii();
                    self.layout = Some(if first == b"{" {
                        Layout::Concat
                    } else {
                        Layout::Lines
                    });
                    self.scan = i;
                }
            }
            _ => {
                let eol = memchr::memchr(b'\n', &b[i..]).map(|e| i + e).unwrap_or(b.len());
                let header = String::from_utf8_lossy(&b[i..eol]).to_ascii_lowercase();
                let line_fix = u64::from(eol > i && b[eol - 1] == b'\r');
                let circleci = header.contains("action") && header.contains("occurred_at");
                let audit_csv = !circleci
                    && header
                        .split(',')
                        .any(|c| c.trim().trim_matches('"').eq_ignore_ascii_case("auditdata"));
                if circleci || audit_csv {
                    self.layout = Some(if circleci { Layout::Csv } else { Layout::AuditCsv });
                    let data = std::mem::take(&mut self.buf);
                    let rest = std::mem::replace(&mut self.rdr, Box::new(io::empty()));
                    let row_start = Arc::new(AtomicU64::new(0));
                    let chained = RowLimit::new(
                        Box::new(io::Cursor::new(data).chain(rest)),
                        row_start.clone(),
                        line_fix == 1,
                    );
                    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(chained);
                    let headers: Vec<String> = match rdr.headers() {
                        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
                        Err(_) => return false,
                    };
                    row_start.store(rdr.position().byte(), Ordering::Relaxed);
                    let audit_data = if audit_csv {
                        headers.iter().position(|h| h.eq_ignore_ascii_case("auditdata"))
                    } else {
                        None
                    };
                    self.csv = Some(CsvState {
                        rdr: Some(rdr),
                        headers,
                        audit_data,
                        row_start,
                        line_fix,
                        line_base: 0,
                        byte_base: 0,
                    });
                } else {
                    return false;
                }
            }
        }
        true
    }

    /// The next batch of records; `Ok(None)` at the end. `Err` only for an unknown file type.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, String> {
        if self.layout.is_none() && !self.detect() {
            return Err(
                "unknown file type (not JSON, JSON Lines, a Records/records wrapper or a CircleCI CSV)"
                    .into(),
            );
        }
        if self.done {
            return Ok(None);
        }
        match self.layout {
            Some(Layout::Csv | Layout::AuditCsv) => Ok(self.csv_batch()),
            Some(Layout::Lines) => Ok(self.lines_batch()),
            _ => Ok(self.json_batch()),
        }
    }

    fn take_batch(&mut self, cut: usize, recs: Vec<(Range<usize>, RecordPos)>) -> Batch {
        let tail = self.buf.split_off(cut);
        let data = std::mem::replace(&mut self.buf, tail);
        self.scan -= cut;
        if self.in_elem {
            self.elem_start -= cut;
        }
        Batch { data, recs }
    }

    fn lines_batch(&mut self) -> Option<Batch> {
        let mut recs = Vec::new();
        let mut start = self.scan;
        loop {
            let pos = self.scan;
            match memchr::memchr(b'\n', &self.buf[pos..]) {
                Some(off) => {
                    let end = pos + off;
                    let line = self.line;
                    self.line += 1;
                    self.scan = end + 1;
                    let r = trim_range(&self.buf, start..end);
                    if r.len() > MAX_RECORD {
                        self.index += 1;
                        self.skipped += 1;
                        let i = self.index;
                        self.problem(line, i, "malformed", too_long("line"));
                    } else if !r.is_empty() {
                        self.index += 1;
                        recs.push((
                            r,
                            RecordPos {
                                line,
                                index: self.index,
                            },
                        ));
                    }
                    start = self.scan;
                    if self.scan >= BATCH && !recs.is_empty() {
                        return Some(self.take_batch(self.scan, recs));
                    }
                }
                None => {
                    if self.eof {
                        let r = trim_range(&self.buf, start..self.buf.len());
                        if !r.is_empty() {
                            self.index += 1;
                            recs.push((
                                r,
                                RecordPos {
                                    line: self.line,
                                    index: self.index,
                                },
                            ));
                        }
                        self.done = true;
                        self.scan = self.buf.len();
                        let n = self.buf.len();
                        return if recs.is_empty() {
                            None
                        } else {
                            Some(self.take_batch(n, recs))
                        };
                    }
                    if self.buf.len() - start > MAX_RECORD {
                        self.index += 1;
                        self.skipped += 1;
                        let (l, i) = (self.line, self.index);
                        self.problem(l, i, "malformed", too_long("line"));
                        // drop the line: what is buffered, then the input up to its end
                        self.buf.truncate(start);
                        self.skip_line_rest();
                        self.scan = start;
                        continue;
                    }
                    if !recs.is_empty() && start > 0 {
                        // hand out what is complete before reading more
                        self.scan = start;
                        return Some(self.take_batch(start, recs));
                    }
                    // nothing complete yet: drop consumed prefix and read more
                    if start > 0 {
                        self.buf.drain(..start);
                        self.scan -= start;
                        start = 0;
                    }
                    self.fill();
                }
            }
        }
    }

    /// Drops input up to and including the next line feed (the rest of an oversize
    /// line); what follows it is appended to the buffer.
    fn skip_line_rest(&mut self) {
        let keep = self.buf.len();
        while !self.eof {
            self.fill();
            if let Some(off) = memchr::memchr(b'\n', &self.buf[keep..]) {
                self.buf.drain(keep..keep + off + 1);
                self.line += 1;
                return;
            }
            self.buf.truncate(keep);
        }
    }

    fn json_batch(&mut self) -> Option<Batch> {
        let layout = self.layout.unwrap_or(Layout::Array);
        let top = layout == Layout::Concat;
        let mut recs: Vec<(Range<usize>, RecordPos)> = Vec::new();
        let mut last_end = self.scan;
        loop {
            let len = self.buf.len();
            let mut i = self.scan;
            let buf = &self.buf;
            // records found too long once ended (reported after the scan)
            let mut long: Vec<(u64, u64)> = Vec::new();
            while i < len {
                if self.in_str {
                    // jump to the next quote or backslash
                    match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                        Some(off) => {
                            i += off;
                            if buf[i] == b'\\' {
                                i += 2;
                                continue;
                            }
                            self.in_str = false;
                            i += 1;
                            continue;
                        }
                        None => {
                            i = len;
                            break;
                        }
                    }
                }
                let c = buf[i];
                if !self.in_elem {
                    match c {
                        b'\n' => self.line += 1,
                        b' ' | b'\t' | b'\r' | b',' => {}
                        b']' if !top => {
                            self.done = true;
                            i += 1;
                            break;
                        }
                        _ => {
                            self.in_elem = true;
                            self.elem_start = i;
                            self.elem_line = self.line;
                            self.depth = 0;
                            continue;
                        }
                    }
                    i += 1;
                    continue;
                }
                match c {
                    b'"' => self.in_str = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth <= 0 && self.skipping {
                            // the end of an oversize record: dropped
                            self.in_elem = false;
                            self.skipping = false;
                        } else if self.depth <= 0 && i + 1 - self.elem_start > MAX_RECORD {
                            // too long, though it ends in this buffer
                            self.in_elem = false;
                            self.index += 1;
                            self.skipped += 1;
                            long.push((self.elem_line, self.index));
                        } else if self.depth <= 0 {
                            self.in_elem = false;
                            self.index += 1;
                            recs.push((
                                self.elem_start..i + 1,
                                RecordPos {
                                    line: self.elem_line,
                                    index: self.index,
                                },
                            ));
                            last_end = i + 1;
                        }
                    }
                    b'\n' => self.line += 1,
                    b',' if self.depth == 0 && self.skipping => {
                        self.in_elem = false;
                        self.skipping = false;
                    }
                    b',' if self.depth == 0 => {
                        // a scalar element: keep it as a (malformed) record
                        self.in_elem = false;
                        self.index += 1;
                        recs.push((
                            self.elem_start..i,
                            RecordPos {
                                line: self.elem_line,
                                index: self.index,
                            },
                        ));
                        last_end = i;
                    }
                    _ => {}
                }
                i += 1;
            }
            for (l, x) in long {
                self.problem(l, x, "malformed", too_long("record"));
            }
            // `i` may overshoot by one after an escape at the buffer's end
            self.scan = i.min(len);
            if i > len {
                // re-scan the escape once more data arrives
                self.scan = len - 1;
                self.esc = true;
            }
            if self.done {
                let cut = self.scan;
                self.buf.truncate(cut);
                return if recs.is_empty() {
                    None
                } else {
                    Some(self.take_batch(cut, recs))
                };
            }
            if self.eof {
                self.done = true;
                if self.in_elem && self.skipping {
                    // already reported as too long
                    self.in_elem = false;
                    self.skipping = false;
                } else if self.in_elem {
                    let (l, x) = (self.elem_line, self.index + 1);
                    self.problem(l, x, "truncated", "record cut short at end of input".into());
                    self.in_elem = false;
                } else if !top && !matches!(layout, Layout::Concat) {
                    let (l, x) = (self.line, self.index + 1);
                    self.problem(l, x, "truncated", "array not closed at end of input".into());
                }
                let cut = last_end;
                return if recs.is_empty() {
                    None
                } else {
                    Some(self.take_batch(cut, recs))
                };
            }
            if self.in_elem && !self.skipping && self.scan - self.elem_start > MAX_RECORD {
                self.index += 1;
                self.skipped += 1;
                let (l, x) = (self.elem_line, self.index);
                self.problem(l, x, "malformed", too_long("record"));
                self.skipping = true;
            }
            if self.in_elem && self.skipping {
                // drop what was scanned of the oversize record (nesting and strings are
                // still tracked to find its end)
                self.buf.drain(self.elem_start..self.scan);
                self.scan = self.elem_start;
            }
            if !recs.is_empty() && last_end >= BATCH {
                return Some(self.take_batch(last_end, recs));
            }
            if recs.is_empty() {
                // drop what is fully consumed
                let keep_from = if self.in_elem { self.elem_start } else { self.scan };
                if keep_from > 0 {
                    self.buf.drain(..keep_from);
                    self.scan -= keep_from;
                    if self.in_elem {
                        self.elem_start = 0;
                    }
                    last_end = 0;
                }
            }
            if self.esc {
                // resume just before the backslash
                self.esc = false;
            }
            self.fill();
        }
    }

    fn csv_batch(&mut self) -> Option<Batch> {
        let st = self.csv.as_mut()?;
        let mut batch = Batch::default();
        let mut rec = csv::StringRecord::new();
        let mut problems = Vec::new();
        loop {
            let rdr = st.rdr.as_mut()?;
            // where the row starts (the reader's position after the previous one)
            let start_byte = st.byte_base + rdr.position().byte();
            let start_line = st.line_base + rdr.position().line() + st.line_fix;
            let res = rdr.read_record(&mut rec);
            st.row_start
                .store(st.byte_base + rdr.position().byte(), Ordering::Relaxed);
            match res {
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Ok(true) => {
                    self.index += 1;
                    let line = rec
                        .position()
                        .map(|p| st.line_base + p.line() + st.line_fix)
                        .unwrap_or(0);
                    if st.byte_base + rdr.position().byte() - start_byte > MAX_RECORD as u64 {
                        // read whole within the reader's slack, but too long all the same
                        self.skipped += 1;
                        problems.push((line, self.index, too_long("CSV row")));
                        continue;
                    }
                    if rec.len() != st.headers.len() {
                        // a record all the same: counted, as malformed (like a row too long)
                        self.skipped += 1;
                        problems.push((
                            line,
                            self.index,
                            format!(
                                "CSV row has {} columns, header has {}",
                                rec.len(),
                                st.headers.len()
                            ),
                        ));
                        continue;
                    }
                    let start = batch.data.len();
                    let written = match st.audit_data {
                        // the record is the AuditData JSON as written (parsed, and reported
                        // malformed with this row's line when it is not JSON, by the hunt)
                        Some(i) => {
                            batch
                                .data
                                .extend_from_slice(rec.get(i).unwrap_or_default().trim().as_bytes());
                            true
                        }
                        None => {
                            let mut obj = serde_json::Map::new();
                            for (h, v) in st.headers.iter().zip(rec.iter()) {
                                obj.insert(h.clone(), csv_cell(v));
                            }
                            serde_json::to_writer(&mut batch.data, &serde_json::Value::Object(obj)).is_ok()
                        }
                    };
                    if written {
                        let end = batch.data.len();
                        batch.recs.push((
                            start..end,
                            RecordPos {
                                line,
                                index: self.index,
                            },
                        ));
                    }
                    if batch.data.len() >= BATCH {
                        break;
                    }
                }
                Err(e) => {
                    self.index += 1;
                    let line = e
                        .position()
                        .map(|p| st.line_base + p.line() + st.line_fix)
                        .unwrap_or(start_line);
                    if rdr.get_ref().skipped {
                        // an oversize row, dropped by the RowLimit: go on with a fresh reader
                        // (the old one holds the row's buffer) from the byte after it
                        self.skipped += 1;
                        problems.push((line, self.index, too_long("CSV row")));
                        let limit = st.rdr.take()?.into_inner();
                        st.line_base = limit.newlines;
                        st.byte_base = limit.read;
                        st.row_start.store(limit.read, Ordering::Relaxed);
                        if limit.eof {
                            self.done = true;
                            break;
                        }
                        st.rdr = Some(
                            csv::ReaderBuilder::new()
                                .flexible(true)
                                .has_headers(false)
                                .from_reader(limit),
                        );
                        continue;
                    }
                    self.skipped += 1;
                    problems.push((line, self.index, format!("bad CSV: {e}")));
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        self.done = true;
                        break;
                    }
                }
            }
        }
        for (l, i, m) in problems {
            self.problem(l, i, "malformed", m);
        }
        if batch.recs.is_empty() && self.done {
            None
        } else {
            Some(batch)
        }
    }
}

/// Where the records of a wrapper object start (just after its `[`), when the object that
/// opens at `from - 1` is one (see [`Layout::Wrapped`]); `None` otherwise.
fn wrapper_start(b: &[u8], from: usize) -> Option<usize> {
    const WRAPPERS: [&[u8]; 4] = [b"Records", b"records", b"value", b"items"];
    let ws = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    // the end of the JSON string starting at `j` (just past its closing quote)
    let string_end = |j: usize| {
        let mut k = j + 1;
        while k < b.len() {
            match b[k] {
                b'\\' => k += 2,
                b'"' => return Some(k + 1),
                _ => k += 1,
            }
        }
        None
    };
    let mut j = ws(from);
    for _ in 0..16 {
        if j >= b.len() || b[j] != b'"' {
            return None;
        }
        let kend = string_end(j)?;
        let key = &b[j + 1..kend - 1];
        j = ws(kend);
        if j >= b.len() || b[j] != b':' {
            return None;
        }
        j = ws(j + 1);
        if j < b.len() && b[j] == b'[' && WRAPPERS.contains(&key) {
            return Some(j + 1);
        }
        let metadata = key.starts_with(b"@odata.") || matches!(key, b"kind" | b"etag" | b"nextPageToken");
        if !metadata {
            return None;
        }
        // skip a scalar value
        j = match b.get(j)? {
            b'"' => string_end(j)?,
            b'[' | b'{' => return None,
            _ => {
                j + b[j..]
                    .iter()
                    .position(|&c| c == b',' || c == b'}' || c.is_ascii_whitespace())?
            }
        };
        j = ws(j);
        if j >= b.len() || b[j] != b',' {
            return None;
        }
        j = ws(j + 1);
    }
    None
}

fn too_long(what: &str) -> String {
    format!("{what} longer than {MAX_RECORD} bytes; skipped, the rest of the file is read")
}

fn csv_cell(v: &str) -> serde_json::Value {
    let t = v.trim();
    if (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']')) {
        if let Ok(j) = serde_json::from_str(t) {
            return j;
        }
    }
    match t {
        "true" | "TRUE" | "True" => serde_json::Value::Bool(true),
        "false" | "FALSE" | "False" => serde_json::Value::Bool(false),
        "" => serde_json::Value::Null,
        _ => serde_json::Value::String(v.to_string()),
    }
}

fn trim_range(b: &[u8], r: Range<usize>) -> Range<usize> {
    let mut s = r.start;
    let mut e = r.end;
    while s < e && b[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    s..e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &str) -> (Vec<String>, Vec<Problem>, Option<Layout>) {
        let mut s = Splitter::new(Box::new(io::Cursor::new(input.as_bytes().to_vec())), "t");
        let mut out = vec![];
        while let Some(b) = s.next_batch().unwrap() {
            for (r, _) in &b.recs {
                out.push(String::from_utf8_lossy(&b.data[r.clone()]).to_string());
            }
        }
        let l = s.layout();
        (out, s.problems, l)
    }

    #[test]
    fn wrapped_array_lines() {
        let (r, p, l) = split(r#"{"Records":[{"a":"x]}"},{"b":[1,{"c":"\\\""}]}]}"#);
        assert_eq!(r, [r#"{"a":"x]}"}"#, r#"{"b":[1,{"c":"\\\""}]}"#]);
        assert!(p.is_empty());
        assert_eq!(l, Some(Layout::Wrapped));
        let (r, _, l) = split("[\n  {\n \"a\": 1\n },\n {\"b\":2}\n]\n");
        assert_eq!(r.len(), 2);
        assert_eq!(l, Some(Layout::Array));
        let (r, _, l) = split("{\"a\":1}\n\n{\"b\":2}\n{bad\n");
        assert_eq!(r, ["{\"a\":1}", "{\"b\":2}", "{bad"]);
        assert_eq!(l, Some(Layout::Lines));
    }

    #[test]
    fn graph_and_reports_pages_are_wrappers() {
        let (r, p, l) = split(
            "{\"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits\",\n \"@odata.nextLink\": \"https://x/?$skiptoken=a\\\"b\",\n \"value\": [\n{\"a\":1},\n{\"b\":2}]}",
        );
        assert_eq!(l, Some(Layout::Wrapped));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(r, [r#"{"a":1}"#, r#"{"b":2}"#]);
        let (r, _, l) = split(
            r#"{"kind": "admin#reports#activities", "etag": "\"e\"", "items": [{"a":1}], "nextPageToken": "t"}"#,
        );
        assert_eq!(l, Some(Layout::Wrapped));
        assert_eq!(r, [r#"{"a":1}"#]);
        // a record with other members first is a record, not a wrapper
        let (r, _, l) = split(r#"{"id": "x", "value": [1]}"#);
        assert_eq!(l, Some(Layout::Lines));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn truncated_wrapped_keeps_prefix() {
        let (r, p, _) = split(r#"{"Records":[{"a":1},{"b":"#);
        assert_eq!(r, [r#"{"a":1}"#]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind_str(), "truncated");
        assert_eq!(p[0].record_number(), Some(2));
    }

    #[test]
    fn huge_csv_row_is_cut_not_held() {
        // Found by the adversarial suite: a CircleCI CSV whose row is one enormous quoted
        // field was read whole into memory by the csv parser.
        struct Endless(u64);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Ok(0);
                }
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(b'a');
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let head = io::Cursor::new(b"id,action,occurred_at,actor\n1,x,2023-01-01T00:00:00Z,\"".to_vec());
        let total = (MAX_RECORD + 3 * CHUNK) as u64;
        let mut s = Splitter::new(Box::new(head.chain(Endless(total))), "big.csv");
        let mut recs = 0;
        while let Some(b) = s.next_batch().unwrap() {
            recs += b.recs.len();
        }
        assert_eq!(recs, 0);
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        let p = &s.problems[0];
        assert!(p.message.contains("CSV row longer than"), "{p:?}");
        assert_eq!((p.file.as_str(), p.line), ("big.csv", Some(2)));
    }

    #[test]
    fn csv_rows() {
        let (r, p, l) = split("id,action,occurred_at,actor\n1,user.logged_in,2023-01-01T00:00:00Z,\"{\"\"name\"\":\"\"x\"\"}\"\n2,bad\n");
        assert_eq!(l, Some(Layout::Csv));
        assert_eq!(r.len(), 1);
        assert!(r[0].contains(r#""actor":{"name":"x"}"#), "{}", r[0]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, Some(3));
    }
}
