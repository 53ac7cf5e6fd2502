//! Archives: every supported format, nesting, bounds, bombs and traversal.

use firebreak_scan::archive::Limits;
use firebreak_scan::rules::{builtin_defs, RuleSet};
use firebreak_scan::{ScanOptions, ScanReport, Scanner};
use std::io::Write;

const KEY: &str = "AKIAZ7Q3VOWRL4JD5NQK";

fn scanner(limits: Limits) -> Scanner {
    let mut defs = builtin_defs().unwrap();
    defs.retain(|(_, d)| d.id == "aws.access_key_id");
    Scanner::new(
        RuleSet::compile(defs).unwrap(),
        ScanOptions {
            limits,
            ..ScanOptions::default()
        },
    )
}

fn text() -> Vec<u8> {
    format!("line one\nexport AWS_ACCESS_KEY_ID={KEY}\n").into_bytes()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (n, d) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, n, *d).unwrap();
    }
    b.into_inner().unwrap()
}

fn zip_of(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default().compression_method(method);
    for (n, d) in files {
        z.start_file(*n, o).unwrap();
        z.write_all(d).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn gz(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn bz2(d: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn zst(d: &[u8]) -> Vec<u8> {
    zstd::encode_all(d, 3).unwrap()
}

fn paths(r: &ScanReport) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| format!("{}:{}", f.path, f.line))
        .collect()
}

#[test]
fn every_format_names_the_member() {
    let s = scanner(Limits::default());
    let t = text();
    let tar = tar_of(&[("inner/dir/file.env", &t)]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a.zip",
            zip_of(&[("inner/dir/file.env", &t)], zip::CompressionMethod::Deflated),
            "a.zip!inner/dir/file.env",
        ),
        (
            "p-1.0-py3-none-any.whl",
            zip_of(&[("p/cfg.py", &t)], zip::CompressionMethod::Stored),
            "p-1.0-py3-none-any.whl!p/cfg.py",
        ),
        (
            "a.jar",
            zip_of(&[("META-INF/x.properties", &t)], zip::CompressionMethod::Zstd),
            "a.jar!META-INF/x.properties",
        ),
        ("a.tar", tar.clone(), "a.tar!inner/dir/file.env"),
        ("a.tar.gz", gz(&tar), "a.tar.gz!inner/dir/file.env"),
        ("a.tgz", gz(&tar), "a.tgz!inner/dir/file.env"),
        ("a.tar.bz2", bz2(&tar), "a.tar.bz2!inner/dir/file.env"),
        ("a.tbz2", bz2(&tar), "a.tbz2!inner/dir/file.env"),
        ("a.tar.zst", zst(&tar), "a.tar.zst!inner/dir/file.env"),
        ("build.log.gz", gz(&t), "build.log.gz!build.log"),
        ("build.log.bz2", bz2(&t), "build.log.bz2!build.log"),
        ("build.log.zst", zst(&t), "build.log.zst!build.log"),
        // Detected by magic bytes whatever the name says.
        ("misnamed.txt", gz(&tar), "misnamed.txt!inner/dir/file.env"),
    ];
    for (name, data, want) in cases {
        let r = s.scan_bytes(name, &data);
        assert_eq!(paths(&r), vec![format!("{want}:2")], "{name}");
        assert!(r.summary.archives >= 1, "{name}");
        assert_eq!(r.summary.error_count, 0, "{name}: {:?}", r.summary.errors);
        assert_eq!(r.findings[0].column, 26, "{name}");
    }
}

#[test]
fn nested_archives_and_files_on_disk() {
    let t = text();
    let inner_tgz = gz(&tar_of(&[("c/d", &t)]));
    let outer = zip_of(
        &[("b.tar.gz", &inner_tgz), ("readme.txt", b"nothing")],
        zip::CompressionMethod::Deflated,
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.zip");
    std::fs::write(&p, &outer).unwrap();
    let r = scanner(Limits::default()).scan_paths(std::slice::from_ref(&p));
    assert_eq!(paths(&r), vec![format!("{}!b.tar.gz!c/d:2", p.display())]);
    assert_eq!(r.summary.archives, 2);
    assert_eq!(r.summary.files, 2);
    // Depth 1 opens a.zip only: the nested archive is skipped with a notice.
    let r = scanner(Limits {
        max_depth: 1,
        ..Limits::default()
    })
    .scan_paths(std::slice::from_ref(&p));
    assert!(r.findings.is_empty());
    assert_eq!(r.summary.skipped_bounds, 1);
    assert_eq!(r.summary.notices[0].kind.as_deref(), Some("depth_limit"));
    assert!(r.summary.notices[0].file.ends_with("a.zip!b.tar.gz"));
}

#[test]
fn conda_package_is_zip_of_zstd_tarballs() {
    let t = text();
    let info = zst(&tar_of(&[("info/index.json", b"{\"name\": \"pkg\"}")]));
    let pkg = zst(&tar_of(&[("lib/python3.11/site-packages/pkg/settings.py", &t)]));
    let conda = zip_of(
        &[
            ("metadata.json", b"{\"conda_pkg_format_version\": 2}"),
            ("info-pkg-1.0-0.tar.zst", &info),
            ("pkg-pkg-1.0-0.tar.zst", &pkg),
        ],
        zip::CompressionMethod::Stored,
    );
    let r = scanner(Limits::default()).scan_bytes("pkg-1.0-0.conda", &conda);
    assert_eq!(
        paths(&r),
        vec![
            "pkg-1.0-0.conda!pkg-pkg-1.0-0.tar.zst!lib/python3.11/site-packages/pkg/settings.py:2"
                .to_string()
        ]
    );
    assert_eq!(r.summary.archives, 3);
}

#[test]
fn zip_bomb_is_reported_and_the_scan_goes_on() {
    let zeros = vec![0u8; 30 << 20];
    let t = text();
    let z = zip_of(
        &[("bomb.bin", &zeros), ("ok/cfg.env", &t)],
        zip::CompressionMethod::Deflated,
    );
    let r = scanner(Limits::default()).scan_bytes("bomb.zip", &z);
    assert_eq!(paths(&r), vec!["bomb.zip!ok/cfg.env:2".to_string()]);
    let n = &r.summary.notices;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(
        (n[0].kind.as_deref().unwrap_or_default(), n[0].file.as_str()),
        ("compression_ratio", "bomb.zip!bomb.bin")
    );
    assert_eq!(r.summary.error_count, 0);

    // A gzip stream bomb (text, so it is read past the binary check) is
    // caught by the streaming ratio guard.
    let text_bomb = vec![b'a'; 30 << 20];
    let r = scanner(Limits::default()).scan_bytes("bomb.log.gz", &gz(&text_bomb));
    assert_eq!(r.summary.notices.len(), 1, "{:?}", r.summary.notices);
    assert_eq!(r.summary.notices[0].kind.as_deref(), Some("compression_ratio"));
}

#[test]
fn total_bytes_and_entries_are_bounded() {
    let t = text();
    let big = vec![b'a'; 200_000];
    let tar = tar_of(&[("big1", &big), ("big2", &big), ("late.env", &t)]);
    let r = scanner(Limits {
        max_total_bytes: 300_000,
        ..Limits::default()
    })
    .scan_bytes("x.tar", &tar);
    assert!(r.findings.is_empty());
    assert_eq!(r.summary.notices[0].kind.as_deref(), Some("total_bytes_limit"));
    let r = scanner(Limits {
        max_entries: 2,
        ..Limits::default()
    })
    .scan_bytes("x.tar", &tar);
    assert!(r.findings.is_empty());
    assert_eq!(r.summary.notices[0].kind.as_deref(), Some("entries_limit"));
    let r = scanner(Limits::default()).scan_bytes("x.tar", &tar);
    assert_eq!(paths(&r), vec!["x.tar!late.env:2".to_string()]);
}

#[test]
fn traversal_and_links_are_reported_and_skipped() {
    let t = text();
    // tar: the tar crate refuses to write `..`, so patch the raw header name.
    let mut raw = tar_of(&[("xx/evil.env", &t), ("good.env", &t)]);
    raw[..11].copy_from_slice(b"../evil.env");
    let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
    h.set_cksum();
    raw[..512].copy_from_slice(h.as_bytes());
    let mut b = tar::Builder::new(Vec::new());
    let mut lh = tar::Header::new_gnu();
    lh.set_entry_type(tar::EntryType::Symlink);
    lh.set_size(0);
    b.append_link(&mut lh, "link.env", "/etc/passwd").unwrap();
    let links = b.into_inner().unwrap();
    raw.truncate(raw.len() - 1024); // drop end-of-archive blocks
    raw.extend_from_slice(&links);
    let r = scanner(Limits::default()).scan_bytes("t.tar", &raw);
    assert_eq!(paths(&r), vec!["t.tar!good.env:2".to_string()]);
    let kinds: Vec<_> = r
        .summary
        .notices
        .iter()
        .map(|n| (n.kind.as_deref().unwrap_or_default(), n.file.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("path_traversal", "t.tar!../evil.env"),
            ("link", "t.tar!link.env")
        ]
    );

    // zip: absolute and `..` names.
    let z = zip_of(
        &[("/etc/evil.env", &t), ("a/../../evil.env", &t), ("fine.env", &t)],
        zip::CompressionMethod::Deflated,
    );
    let r = scanner(Limits::default()).scan_bytes("t.zip", &z);
    assert_eq!(paths(&r), vec!["t.zip!fine.env:2".to_string()]);
    assert_eq!(r.summary.notices.len(), 2);
    assert!(r
        .summary
        .notices
        .iter()
        .all(|n| n.kind.as_deref() == Some("path_traversal")));
}

#[test]
fn broken_archive_is_an_error_with_its_path() {
    let mut z = zip_of(&[("a.env", &text())], zip::CompressionMethod::Deflated);
    let n = z.len();
    z.truncate(n - 30); // cut the central directory
    let r = scanner(Limits::default()).scan_bytes("broken.zip", &z);
    assert_eq!(r.summary.error_count, 1, "{:?}", r.summary);
    assert_eq!(r.summary.errors[0].file, "broken.zip");
    let mut g = gz(&tar_of(&[("a.env", &text())]));
    g.truncate(g.len() / 2);
    let r = scanner(Limits::default()).scan_bytes("broken.tgz", &g);
    assert!(r.summary.error_count >= 1, "{:?}", r.summary);
    assert!(r.summary.errors[0].file.starts_with("broken.tgz"));
}
