//! The archive walker, the scanner on top of it, and census member checks.

use firebreak_census::index::IndexKind;
use firebreak_census::ioc::IocSet;
use firebreak_census::CensusOptions;
use firebreak_scan::archive::{is_traversal, walk, Kind, Limits, Member, Notice, Source, Visitor};
use firebreak_scan::{RuleSet, ScanOptions, ScanReport, Scanner};
use std::io::{self, Cursor, Read};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Bounds used while fuzzing: small enough that no input can exhaust memory.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_depth: 8,
        max_total_bytes: 64 << 20,
        max_entries: 10_000,
        max_ratio: 200,
    }
}

/// A scanner with the built-in rules and the fuzzing bounds, built once.
pub fn scanner() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| {
        let opts = ScanOptions {
            limits: fuzz_limits(),
            jobs: 1,
            ..ScanOptions::default()
        };
        Scanner::new(RuleSet::builtin().expect("built-in scan rules compile"), opts)
    })
}

/// Checks the invariants of a walk: every member and notice is named under the input,
/// no member escapes the archive, and members are read to the end.
struct Check<'n> {
    name: &'n str,
    members: u64,
    notices: u64,
}

impl Visitor for Check<'_> {
    fn member(&mut self, m: &Member<'_>, r: &mut dyn Read) -> io::Result<()> {
        assert!(
            m.path.starts_with(self.name),
            "member {:?} is not named under {:?}",
            m.path,
            self.name
        );
        for seg in m.path.split('!').skip(1) {
            assert!(
                !is_traversal(seg),
                "a traversal entry reached the visitor: {:?}",
                m.path
            );
        }
        assert!(m.depth >= 1);
        self.members += 1;
        io::copy(r, &mut io::sink()).map(|_| ())
    }
    fn notice(&mut self, n: Notice) {
        assert!(
            n.path.starts_with(self.name),
            "notice {:?} is not named under {:?}",
            n.path,
            self.name
        );
        assert!(!n.message.is_empty());
        self.notices += 1;
    }
    fn archive_opened(&mut self, path: &str, _kind: Kind) {
        assert!(path.starts_with(self.name));
    }
}

/// Checks a scan report: findings and issues name the input, and no finding shows a
/// secret whole.
pub fn check_report(name: &str, data: &[u8], rep: &ScanReport) {
    for f in &rep.findings {
        assert!(
            f.path.starts_with(name),
            "finding path {:?} not under {name:?}",
            f.path
        );
        assert!(f.line >= 1 && f.column >= 1);
        assert!(f.redacted.ends_with('…'), "redacted form must be cut");
        assert_eq!(f.fingerprint.len(), 64);
    }
    for e in rep.summary.errors.iter().chain(&rep.summary.notices) {
        assert!(
            e.file.starts_with(name),
            "issue path {:?} not under {name:?}",
            e.file
        );
    }
    let _ = data;
}

/// Walks `data` as the archive `name` from memory and from a stream, then scans it.
pub fn archive(name: &str, data: &[u8]) {
    let limits = fuzz_limits();
    let mut a = Check {
        name,
        members: 0,
        notices: 0,
    };
    let sa = walk(name, Source::Bytes(data), &limits, &mut a);
    let mut b = Check {
        name,
        members: 0,
        notices: 0,
    };
    let mut cur = Cursor::new(data);
    let sb = walk(name, Source::Reader(&mut cur), &limits, &mut b);
    assert_eq!(
        sa.is_some(),
        sb.is_some(),
        "bytes and stream agree on what is an archive"
    );
    if let Some(s) = sa {
        assert_eq!(s.members, a.members);
        assert!(s.expanded_bytes <= limits.max_total_bytes + (1 << 20));
    }
    let rep = scanner().scan_bytes(name, data);
    check_report(name, data, &rep);
}

/// Zip (and `.whl` / `.jar`).
pub fn zip(data: &[u8]) {
    archive("fuzz.zip", data);
}

/// Tar.
pub fn tar(data: &[u8]) {
    archive("fuzz.tar", data);
}

/// Gzip (`.gz`, `.tar.gz`).
pub fn gzip(data: &[u8]) {
    archive("fuzz.gz", data);
}

/// Bzip2.
pub fn bzip2(data: &[u8]) {
    archive("fuzz.bz2", data);
}

/// Zstandard.
pub fn zstd(data: &[u8]) {
    archive("fuzz.zst", data);
}

fn census_dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = super::scratch_dir("conda");
        std::fs::write(
            d.join("index.jsonl"),
            "{\"name\":\"pkg\",\"version\":\"1.0\",\"uploaded_at\":\"2023-01-04T00:00:00Z\",\"path\":\"pkg-1.0-0.conda\"}\n",
        )
        .expect("write index");
        d
    })
}

/// A `.conda` package: walker and scanner, then a census of a channel holding it.
pub fn conda(data: &[u8]) {
    archive("fuzz.conda", data);
    let dir = census_dir();
    let pkg = dir.join("pkg-1.0-0.conda");
    std::fs::write(&pkg, data).expect("write package");
    let mut opts = CensusOptions::new("2023-01-01..2023-01-10".parse().expect("window"));
    opts.index_kind = Some(IndexKind::Jsonl);
    opts.ioc = IocSet::load(&crate::repo_root().join("testdata/census/ioc.toml")).ok();
    opts.limits = fuzz_limits();
    let rep = firebreak_census::run(&[dir.join("index.jsonl")], &opts, None);
    assert_eq!(rep.artifacts.len(), 1, "the one in-window artifact gets a record");
}

/// Text through the scanner: in memory and as a stream read in uneven pieces.
pub fn text(data: &[u8]) {
    let name = "fuzz/build.log";
    let s = scanner();
    let a = s.scan_bytes(name, data);
    check_report(name, data, &a);
    struct Uneven<'d> {
        data: &'d [u8],
        pos: usize,
        step: usize,
    }
    impl Read for Uneven<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            self.step = self.step % 4093 + 1;
            Ok(n)
        }
    }
    let step = data.first().map(|b| *b as usize + 1).unwrap_or(1);
    let b = s.scan_reader(name, Uneven { data, pos: 0, step });
    check_report(name, data, &b);
    if !firebreak_scan::scanner::is_binary(&data[..data.len().min(8192)])
        && firebreak_scan::archive::sniff(name, &data[..data.len().min(512)]).is_none()
    {
        let fa: Vec<_> = a
            .findings
            .iter()
            .map(|f| (&f.rule_id, f.line, f.column, &f.fingerprint))
            .collect();
        let fb: Vec<_> = b
            .findings
            .iter()
            .map(|f| (&f.rule_id, f.line, f.column, &f.fingerprint))
            .collect();
        assert_eq!(fa, fb, "memory and stream scans agree");
    }
}
