//! Files, directories, .gitignore, big (memory-mapped) files, streams,
//! baselines and `firebreak:allow`.

use firebreak_scan::rules::{builtin_defs, parse_rule_file, RuleSet};
use firebreak_scan::{ScanOptions, Scanner};
use std::io::Read;

const KEY: &str = "AKIAZ7Q3VOWRL4JD5NQK";

fn rules() -> RuleSet {
    let mut defs = builtin_defs().unwrap();
    defs.retain(|(_, d)| d.id == "aws.access_key_id");
    RuleSet::compile(defs).unwrap()
}

fn scanner(opts: ScanOptions) -> Scanner {
    Scanner::new(rules(), opts)
}

#[test]
fn directories_honour_gitignore_unless_no_ignore() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".gitignore"), "ignored.env\n").unwrap();
    std::fs::write(d.path().join("ignored.env"), format!("k={KEY}\n")).unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("sub/kept.env"), format!("k={KEY}\n")).unwrap();
    std::fs::write(d.path().join("bin.dat"), format!("\0\0\0{KEY}")).unwrap();
    std::fs::write(
        d.path().join("latin1.txt"),
        b"caf\xe9 AKIAZ7Q3VOWRL4JD5NQK \xff\n",
    )
    .unwrap();
    let r = scanner(ScanOptions::default()).scan_paths(&[d.path().to_path_buf()]);
    let mut names: Vec<_> = r
        .findings
        .iter()
        .map(|f| f.path.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["kept.env", "latin1.txt"]);
    assert_eq!(r.summary.skipped_binary, 1);
    assert_eq!(r.summary.error_count, 0);
    let r = scanner(ScanOptions {
        no_ignore: true,
        ..ScanOptions::default()
    })
    .scan_paths(&[d.path().to_path_buf()]);
    assert_eq!(r.findings.len(), 3);
}

#[test]
fn missing_file_is_an_error_and_the_rest_is_scanned() {
    let d = tempfile::tempdir().unwrap();
    let ok = d.path().join("ok.env");
    std::fs::write(&ok, format!("k={KEY}\n")).unwrap();
    let missing = d.path().join("nope.env");
    let r = scanner(ScanOptions::default()).scan_paths(&[missing.clone(), ok]);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.summary.error_count, 1);
    assert_eq!(r.summary.errors[0].file, missing.display().to_string());
}

#[test]
fn big_file_is_mapped_and_finds_secrets_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("big.log");
    let filler = "2024-01-01T00:00:00Z step 3/7: compiling module with some ordinary log text\n";
    let mut s = String::new();
    let mut want = Vec::new();
    let mut line = 0u64;
    while s.len() < 20 << 20 {
        s.push_str(filler);
        line += 1;
        // A secret just past each 4 MiB parallel chunk boundary area and in the middle.
        if s.len() % (4 << 20) < filler.len() {
            s.push_str(&format!("token {KEY}\n"));
            line += 1;
            want.push(line);
        }
    }
    s.push_str(&format!("last line {KEY}"));
    want.push(line + 1);
    std::fs::write(&p, &s).unwrap();
    let sc = scanner(ScanOptions::default());
    let r = sc.scan_paths(std::slice::from_ref(&p));
    let got: Vec<u64> = r.findings.iter().map(|f| f.line).collect();
    assert_eq!(got, want);
    assert_eq!(r.findings.last().unwrap().column, 11);
    assert_eq!(r.summary.bytes, s.len() as u64);
    // Same through the streaming path (overlapping chunks).
    let r2 = sc.scan_reader("big.log", std::fs::File::open(&p).unwrap());
    let got2: Vec<u64> = r2.findings.iter().map(|f| f.line).collect();
    assert_eq!(got2, want);
}

/// A reader that hands out data in small, odd-sized pieces, like a network stream.
struct Trickle(std::io::Cursor<Vec<u8>>);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(4093);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn scan_reader_streams_and_names_the_input() {
    let mut data = Vec::new();
    for i in 0..200_000 {
        data.extend_from_slice(format!("log line {i}\n").as_bytes());
    }
    data.extend_from_slice(format!("export AWS_ACCESS_KEY_ID={KEY}\n").as_bytes());
    let r =
        scanner(ScanOptions::default()).scan_reader("job-7/build.log", Trickle(std::io::Cursor::new(data)));
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].path, "job-7/build.log");
    assert_eq!((r.findings[0].line, r.findings[0].column), (200_001, 26));
    assert_eq!(r.summary.files, 1);
}

#[test]
fn allow_marker_and_baseline_suppress() {
    let sc = scanner(ScanOptions::default());
    let other = "AKIAQ2W3E4R5T6Y7U2I3";
    let text = format!("a={KEY} # firebreak:allow\nb={other}\nc={KEY}\n");
    let r = sc.scan_bytes("f", text.as_bytes());
    assert_eq!(r.findings.iter().map(|f| f.line).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(r.summary.suppressed_allow, 1);
    // Baseline from the JSON Lines output of the first run, minus line 2's secret.
    let mut out = Vec::new();
    firebreak_scan::output::write_jsonl(&mut out, &r).unwrap();
    let kept: String = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"line\":3") || l.contains("summary"))
        .map(|l| format!("{l}\n"))
        .collect();
    let base = firebreak_scan::baseline::parse_baseline("b.jsonl", &kept).unwrap();
    let r2 = scanner(ScanOptions {
        baseline: base,
        ..ScanOptions::default()
    })
    .scan_bytes("f", text.as_bytes());
    assert_eq!(r2.findings.iter().map(|f| f.line).collect::<Vec<_>>(), vec![2]);
    assert_eq!(r2.summary.suppressed_baseline, 1);
}

#[test]
fn findings_never_hold_the_secret() {
    let r = scanner(ScanOptions::default()).scan_bytes("f", format!("{KEY}\n").as_bytes());
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains(KEY));
    assert!(!format!("{r:?}").contains(KEY));
    assert_eq!(r.findings[0].redacted, "AKIA…");
    assert_eq!(
        r.findings[0].fingerprint,
        firebreak_core::fingerprint(KEY.as_bytes())
    );
}

#[test]
fn throughput_does_not_depend_on_rules_without_keyword_hits() {
    // Windowed matching: 300 rules whose keywords never occur cost nothing
    // beyond the automaton; the result is identical. (Behaviour, not timing.)
    let mut yaml = String::from("rules:\n");
    for i in 0..300 {
        yaml.push_str(&format!(
            "  - id: t.r{i}\n    name: r{i}\n    pattern: 'zq{i}x_(?P<secret>[a-z0-9]{{24}})'\n    keywords: ['zq{i}x_']\n"
        ));
    }
    let mut defs = builtin_defs().unwrap();
    defs.retain(|(_, d)| d.id == "aws.access_key_id");
    defs.extend(parse_rule_file("many.yml", &yaml).unwrap());
    let big = RuleSet::compile(defs).unwrap();
    let text = format!(
        "{}\nx {KEY}\nzq7x_q8zr2lmx9vta7kp3wc5yb1nd\n",
        "filler\n".repeat(1000)
    );
    let m = big.find_in(text.as_bytes());
    assert_eq!(m.len(), 2);
    assert_eq!(big.candidate_rules(b"filler").len(), 0);
}
