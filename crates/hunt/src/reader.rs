//! Streaming readers: split a log file into raw records with bounded memory.
//!
//! JSON files are scanned byte by byte (strings and nesting tracked) so that
//! `{"Records":[...]}` / `{"records":[...]}` wrappers, top-level arrays (pretty-printed
//! or not) and JSON Lines all yield one record at a time; nothing is parsed into a tree
//! here. CSV files (CircleCI) are read row by row and each row is turned into a JSON
//! object whose JSON-holding columns are nested. Gzip is detected by magic bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Largest record accepted (bytes); larger ones are reported malformed.
pub const MAX_RECORD: usize = 64 << 20;
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
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based index among the file's records.
    pub index: u64,
}

/// A problem with part of an input (counted, reported, never fatal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, 0 when not applicable.
    pub line: u64,
    /// 1-based record index, 0 when not applicable.
    pub record: u64,
    /// `malformed`, `truncated`, `unreadable`, `unknown_type`.
    pub kind: String,
    /// Human explanation.
    pub message: String,
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
    Problem {
        file: p.display().to_string(),
        line: 0,
        record: 0,
        kind: "unreadable".into(),
        message: e.to_string(),
    }
}

/// Caps the bytes the CSV parser may read for one row: the csv crate grows its record
/// buffer without bound, so a multi-gigabyte row (one quoted field, no closing quote)
/// would be held whole in memory. Past [`MAX_RECORD`] bytes (plus the parser's read-ahead)
/// from the start of the current row, reading fails and the rest of the file is skipped.
struct RowLimit {
    inner: Box<dyn Read + Send>,
    read: u64,
    row_start: Arc<AtomicU64>,
}

impl Read for RowLimit {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read.saturating_sub(self.row_start.load(Ordering::Relaxed)) > (MAX_RECORD + CHUNK) as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("CSV row longer than {MAX_RECORD} bytes; rest of file skipped"),
            ));
        }
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
    csv: Option<CsvState>,
    /// Problems met so far (malformed, truncated).
    pub problems: Vec<Problem>,
}

struct CsvState {
    rdr: csv::Reader<Box<dyn Read + Send>>,
    headers: Vec<String>,
    /// Stream offset where the row being read starts (see [`RowLimit`]).
    row_start: Arc<AtomicU64>,
    /// The csv crate reports lines one short in CRLF files (it counts the `\n` of a
    /// `\r\n` when it starts the next record), so this is added back.
    line_fix: u64,
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
            csv: None,
            problems: Vec::new(),
        }
    }

    /// The detected layout (after the first batch).
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    fn problem(&mut self, line: u64, record: u64, kind: &str, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            record,
            kind: kind.into(),
            message,
        });
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
                // First key "Records"/"records" with an array value?
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let rest = &b[j..];
                let key = [&b"\"Records\""[..], &b"\"records\""[..]]
                    .into_iter()
                    .find(|k| rest.starts_with(k));
                let mut wrapped = None;
                if let Some(k) = key {
                    let mut m = j + k.len();
                    while m < b.len() && b[m].is_ascii_whitespace() {
                        m += 1;
                    }
                    if m < b.len() && b[m] == b':' {
                        m += 1;
                        while m < b.len() && b[m].is_ascii_whitespace() {
                            m += 1;
                        }
                        if m < b.len() && b[m] == b'[' {
                            wrapped = Some(m + 1);
                        }
                    }
                }
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
                if header.contains("action") && header.contains("occurred_at") {
                    self.layout = Some(Layout::Csv);
                    let data = std::mem::take(&mut self.buf);
                    let rest = std::mem::replace(&mut self.rdr, Box::new(io::empty()));
                    let row_start = Arc::new(AtomicU64::new(0));
                    let chained: Box<dyn Read + Send> = Box::new(RowLimit {
                        inner: Box::new(io::Cursor::new(data).chain(rest)),
                        read: 0,
                        row_start: row_start.clone(),
                    });
                    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(chained);
                    let headers = match rdr.headers() {
                        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
                        Err(_) => return false,
                    };
                    row_start.store(rdr.position().byte(), Ordering::Relaxed);
                    self.csv = Some(CsvState {
                        rdr,
                        headers,
                        row_start,
                        line_fix,
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
            Some(Layout::Csv) => Ok(self.csv_batch()),
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
                    if !r.is_empty() {
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
                        let (l, i) = (self.line, self.index + 1);
                        self.problem(l, i, "malformed", format!("line longer than {MAX_RECORD} bytes"));
                        self.done = true;
                        return if recs.is_empty() {
                            None
                        } else {
                            Some(self.take_batch(start, recs))
                        };
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

    fn json_batch(&mut self) -> Option<Batch> {
        let layout = self.layout.unwrap_or(Layout::Array);
        let top = layout == Layout::Concat;
        let mut recs: Vec<(Range<usize>, RecordPos)> = Vec::new();
        let mut last_end = self.scan;
        loop {
            let len = self.buf.len();
            let mut i = self.scan;
            let buf = &self.buf;
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
                        if self.depth <= 0 {
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
                if self.in_elem {
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
            if self.in_elem && self.scan - self.elem_start > MAX_RECORD {
                let (l, x) = (self.elem_line, self.index + 1);
                self.problem(
                    l,
                    x,
                    "malformed",
                    format!("record longer than {MAX_RECORD} bytes; rest of file skipped"),
                );
                self.done = true;
                return if recs.is_empty() {
                    None
                } else {
                    Some(self.take_batch(last_end, recs))
                };
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
            let res = st.rdr.read_record(&mut rec);
            st.row_start.store(st.rdr.position().byte(), Ordering::Relaxed);
            match res {
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Ok(true) => {
                    self.index += 1;
                    let line = rec.position().map(|p| p.line() + st.line_fix).unwrap_or(0);
                    if rec.len() != st.headers.len() {
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
                    let mut obj = serde_json::Map::new();
                    for (h, v) in st.headers.iter().zip(rec.iter()) {
                        obj.insert(h.clone(), csv_cell(v));
                    }
                    let start = batch.data.len();
                    if serde_json::to_writer(&mut batch.data, &serde_json::Value::Object(obj)).is_ok() {
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
                        .map(|p| p.line())
                        .unwrap_or_else(|| st.rdr.position().line())
                        + st.line_fix;
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
    fn truncated_wrapped_keeps_prefix() {
        let (r, p, _) = split(r#"{"Records":[{"a":1},{"b":"#);
        assert_eq!(r, [r#"{"a":1}"#]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind, "truncated");
        assert_eq!(p[0].record, 2);
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
        assert_eq!((p.file.as_str(), p.line), ("big.csv", 2));
    }

    #[test]
    fn csv_rows() {
        let (r, p, l) = split("id,action,occurred_at,actor\n1,user.logged_in,2023-01-01T00:00:00Z,\"{\"\"name\"\":\"\"x\"\"}\"\n2,bad\n");
        assert_eq!(l, Some(Layout::Csv));
        assert_eq!(r.len(), 1);
        assert!(r[0].contains(r#""actor":{"name":"x"}"#), "{}", r[0]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 3);
    }
}
