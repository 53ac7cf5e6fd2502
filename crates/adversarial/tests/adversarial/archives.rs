//! Hostile archives through `firebreak scan` (and `census --scan`): bombs by ratio and by
//! nesting, entries that escape the archive, links. Each case: no crash, no hang, bounded
//! memory, a notice naming the entry, and the other members still scanned.

use crate::common::{firebreak, run_measured};
use firebreak_adversarial::fake::{AWS_KEY_ID, GITHUB_PAT};
use firebreak_adversarial::seeds::{gz, tar_raw, zip_of, zip_with_symlink, TarKind};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(300);
/// Generous bound on the scanner's peak anonymous memory.
const MEM_KB: u64 = 512 * 1024;

fn creds() -> Vec<u8> {
    format!("# deploy\nexport AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n").into_bytes()
}

/// Runs `firebreak scan --format json PATH` and returns (exit code, report, measured).
fn scan_json(path: &Path, extra: &[&str]) -> (Option<i32>, Value, crate::common::Measured) {
    let mut c = firebreak();
    c.args(["scan", "--format", "json"]).args(extra).arg(path);
    let m = run_measured(&mut c, None, GUARD);
    assert!(!m.killed, "hang guard fired: firebreak scan {}", path.display());
    let v: Value = serde_json::from_slice(&m.stdout)
        .unwrap_or_else(|e| panic!("scan output is JSON ({e}); stderr: {}", m.err()));
    (m.code, v, m)
}

fn finding_paths(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["path"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn notices(v: &Value) -> Vec<(String, String)> {
    v["summary"]["notices"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["kind"].as_str().unwrap_or("").to_string(),
                        n["path"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn zeros_deflated(n: usize) -> Vec<u8> {
    // a zip entry of n zero bytes, deflated (~1000:1)
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(n > u32::MAX as usize / 2);
    w.start_file("bomb.bin", o).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..n / chunk.len() {
        w.write_all(&chunk).unwrap();
    }
    w.start_file("creds.env", o).unwrap();
    w.write_all(&creds()).unwrap();
    w.finish().unwrap().into_inner()
}

#[test]
fn zip_bomb_by_ratio_is_named_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.zip");
    std::fs::write(&p, zeros_deflated(256 << 20)).unwrap();
    let (code, v, m) = scan_json(&p, &[]);
    assert_eq!(code, Some(1), "found the neighbour's secret: {}", m.err());
    let shown = p.display().to_string();
    assert_eq!(finding_paths(&v), vec![format!("{shown}!creds.env")]);
    assert!(
        notices(&v).contains(&("compression_ratio".into(), format!("{shown}!bomb.bin"))),
        "{:?}",
        notices(&v)
    );
    assert!(
        m.max_anon_kb < MEM_KB,
        "peak anonymous memory {} kB",
        m.max_anon_kb
    );
}

#[test]
fn gzip_bomb_stream_is_cut_by_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("build.log.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&creds()).unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..512 {
        e.write_all(&zeros).unwrap();
    }
    std::fs::write(&p, e.finish().unwrap()).unwrap();
    let (code, v, m) = scan_json(&p, &[]);
    let shown = p.display().to_string();
    assert!(
        notices(&v)
            .iter()
            .any(|(k, path)| k == "compression_ratio" && path.starts_with(&shown)),
        "{:?}",
        notices(&v)
    );
    // what was read before the cut is still scanned
    assert_eq!(code, Some(1), "{}", m.err());
    assert!(
        m.max_anon_kb < MEM_KB,
        "peak anonymous memory {} kB",
        m.max_anon_kb
    );
}

#[test]
fn nested_zip_bomb_stops_at_the_depth_bound() {
    // 42.zip-style: every level holds two copies of the level below, 12 levels deep.
    let mut level = zip_of(&[("creds.env", &creds())]);
    for _ in 0..12 {
        level = zip_of(&[("a.zip", &level), ("b.zip", &level)]);
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nested.zip");
    std::fs::write(&p, &level).unwrap();
    let (code, v, m) = scan_json(&p, &[]);
    // the secret sits 13 levels down, past the depth bound (8): nothing found, no failure
    assert_eq!(code, Some(0), "{}", m.err());
    assert!(finding_paths(&v).is_empty());
    let n = notices(&v);
    assert!(n.iter().any(|(k, _)| k == "depth_limit"), "{n:?}");
    assert!(n
        .iter()
        .all(|(_, path)| path.starts_with(&p.display().to_string())));
    assert!(m.err().contains("nested deeper than 8") || !n.is_empty());
    assert!(
        m.max_anon_kb < MEM_KB,
        "peak anonymous memory {} kB",
        m.max_anon_kb
    );
}

#[test]
fn nested_stored_zips_do_not_multiply_memory() {
    // Zips stored (not compressed) inside zips: no ratio bound applies, and every level
    // must be opened from a stream. 8 levels of a 72 MiB payload: holding each level in
    // memory would need ~600 MiB.
    let dir = tempfile::tempdir().unwrap();
    let mut payload = creds();
    payload.resize(72 << 20, b'.');
    let mut cur = dir.path().join("l0.zip");
    {
        let f = std::fs::File::create(&cur).unwrap();
        let mut w = zip::ZipWriter::new(f);
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("payload.txt", o).unwrap();
        w.write_all(&payload).unwrap();
        w.finish().unwrap();
    }
    drop(payload);
    for i in 1..7 {
        let next = dir.path().join(format!("l{i}.zip"));
        let f = std::fs::File::create(&next).unwrap();
        let mut w = zip::ZipWriter::new(f);
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file(format!("l{}.zip", i - 1), o).unwrap();
        std::io::copy(&mut std::fs::File::open(&cur).unwrap(), &mut w).unwrap();
        w.finish().unwrap();
        std::fs::remove_file(&cur).unwrap();
        cur = next;
    }
    let (code, v, m) = scan_json(&cur, &[]);
    assert_eq!(
        code,
        Some(1),
        "the payload's secret is found 7 levels down: {}",
        m.err()
    );
    assert_eq!(finding_paths(&v).len(), 1, "{:?}", finding_paths(&v));
    assert!(
        m.max_anon_kb < 256 * 1024,
        "peak anonymous memory {} kB for nested stored zips",
        m.max_anon_kb
    );
}

fn members_with_traversal() -> Vec<(&'static str, TarKind, &'static [u8])> {
    let creds: &'static [u8] = Box::leak(creds().into_boxed_slice());
    vec![
        ("../escape.env", TarKind::File, creds),
        ("/etc/cron.d/evil", TarKind::File, b"x"),
        ("a/../../b.env", TarKind::File, b"x"),
        ("..\\win.env", TarKind::File, b"x"),
        ("C:\\Windows\\evil.env", TarKind::File, b"x"),
        ("out", TarKind::Symlink, b"../../../etc/passwd"),
        ("hard", TarKind::HardLink, b"/etc/shadow"),
        ("ok/creds.env", TarKind::File, creds),
    ]
}

#[test]
fn tar_traversal_and_links_are_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in [
        ("evil.tar", tar_raw(&members_with_traversal())),
        ("evil.tar.gz", gz(&tar_raw(&members_with_traversal()))),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        let (code, v, m) = scan_json(&p, &[]);
        let shown = p.display().to_string();
        assert_eq!(code, Some(1), "{}", m.err());
        assert_eq!(finding_paths(&v), vec![format!("{shown}!ok/creds.env")], "{name}");
        let n = notices(&v);
        for entry in [
            "../escape.env",
            "/etc/cron.d/evil",
            "a/../../b.env",
            "..\\win.env",
            "C:\\Windows\\evil.env",
        ] {
            assert!(
                n.contains(&("path_traversal".into(), format!("{shown}!{entry}"))),
                "{name}: no traversal notice for {entry}: {n:?}"
            );
        }
        for entry in ["out", "hard"] {
            assert!(
                n.contains(&("link".into(), format!("{shown}!{entry}"))),
                "{name}: {n:?}"
            );
        }
    }
    // nothing was extracted anywhere
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn zip_traversal_and_symlinks_are_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let z = zip_of(&[
        ("../../escape.env", &creds()),
        ("/abs.env", &creds()),
        ("ok/creds.env", &creds()),
    ]);
    let p = dir.path().join("evil.zip");
    std::fs::write(&p, z).unwrap();
    let (code, v, _) = scan_json(&p, &[]);
    let shown = p.display().to_string();
    assert_eq!(code, Some(1));
    assert_eq!(finding_paths(&v), vec![format!("{shown}!ok/creds.env")]);
    let n = notices(&v);
    assert!(
        n.contains(&("path_traversal".into(), format!("{shown}!../../escape.env"))),
        "{n:?}"
    );
    assert!(
        n.contains(&("path_traversal".into(), format!("{shown}!/abs.env"))),
        "{n:?}"
    );

    let p = dir.path().join("link.zip");
    std::fs::write(&p, zip_with_symlink("evil", "../../../etc/passwd")).unwrap();
    let (code, v, _) = scan_json(&p, &[]);
    assert_eq!(code, Some(0));
    assert!(
        notices(&v).contains(&("link".into(), format!("{}!evil", p.display()))),
        "{:?}",
        notices(&v)
    );
}

#[test]
fn symlinks_on_disk_pointing_out_of_the_tree_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.env"),
        format!("GITHUB_TOKEN={GITHUB_PAT}\n"),
    )
    .unwrap();
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("inside.env"), creds()).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.env"), tree.path().join("link.env")).unwrap();
    std::os::unix::fs::symlink(outside.path(), tree.path().join("linkdir")).unwrap();
    let (code, v, _) = scan_json(tree.path(), &[]);
    assert_eq!(code, Some(1));
    let paths = finding_paths(&v);
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].ends_with("inside.env"));
}

#[test]
fn conda_package_with_traversal_in_census() {
    use firebreak_adversarial::seeds::conda_of;
    let dir = tempfile::tempdir().unwrap();
    let pkg = conda_of(&members_with_traversal());
    std::fs::write(dir.path().join("pkg-1.0-0.conda"), &pkg).unwrap();
    std::fs::write(dir.path().join("good.txt"), creds()).unwrap();
    std::fs::write(
        dir.path().join("index.jsonl"),
        "{\"name\":\"pkg\",\"version\":\"1.0\",\"uploaded_at\":\"2023-01-04T00:00:00Z\",\"path\":\"pkg-1.0-0.conda\"}\n",
    )
    .unwrap();
    let mut c = firebreak();
    c.args([
        "census",
        "--window",
        "2023-01-01..2023-01-10",
        "--scan",
        "--format",
        "json",
    ])
    .arg(dir.path().join("index.jsonl"));
    let m = run_measured(&mut c, None, GUARD);
    let v: Value = serde_json::from_slice(&m.stdout).unwrap_or_else(|e| panic!("{e}: {}", m.err()));
    let arts = v["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 1);
    let text = v.to_string();
    assert!(
        text.contains("ok/creds.env"),
        "the clean member's secret is reported: {text}"
    );
    assert!(!text.contains(AWS_KEY_ID), "no secret whole in census output");
    assert!(
        m.code == Some(1) || m.code == Some(3),
        "exit {:?}: {}",
        m.code,
        m.err()
    );
}
