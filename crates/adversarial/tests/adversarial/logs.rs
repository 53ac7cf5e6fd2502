//! Hostile log files for `firebreak hunt` and `census`: deep nesting, invalid UTF-8 in
//! every field, CSV with embedded newlines and quotes. Each bad record is reported with
//! its file and line; every other record is still read and matched.

use crate::common::{firebreak, run_measured};
use firebreak_adversarial::targets::hunt::builtin_rules;
use firebreak_hunt::{hunt, hunt_reader, HuntOptions, SourceKind};
use serde_json::{json, Value};
use std::io::Cursor;
use std::path::PathBuf;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(300);

fn ct(name: &str, t: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":t,"eventSource":"iam.amazonaws.com","eventName":name,
        "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/ci","userName":"ci"},
        "sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.9","awsRegion":"us-east-1","eventID":"e"})
}

fn good_line(i: usize) -> String {
    ct("CreateAccessKey", &format!("2023-01-04T12:{:02}:00Z", i % 60)).to_string()
}

#[test]
fn deeply_nested_json_is_one_malformed_record() {
    for depth in [200usize, 100_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        // `requestParameters` is read (normalised); `x` is not, and is skipped unparsed
        for (field, malformed) in [("requestParameters", 1u64), ("x", 0)] {
            let nested = format!(
                "{{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-01-04T00:00:00Z\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"{field}\":{deep}}}"
            );
            let data = format!("{}\n{nested}\n{}\n", good_line(1), good_line(2));
            let rep = hunt_reader(
                "nested.ndjson",
                Box::new(Cursor::new(data.into_bytes())),
                builtin_rules(),
                &HuntOptions::default(),
            );
            assert_eq!(rep.records, 3, "depth {depth} in {field}");
            assert_eq!(
                rep.malformed, malformed,
                "depth {depth} in {field}: {:?}",
                rep.problems
            );
            if malformed == 1 {
                let p = &rep.problems[0];
                assert_eq!(
                    (p.file.as_str(), p.line, p.record_number()),
                    ("nested.ndjson", Some(2), Some(2)),
                    "{p:?}"
                );
                assert!(p.message.contains("recursion limit"), "{}", p.message);
            }
            // both good records matched the built-in CreateAccessKey rule
            let recs: Vec<u64> = rep.findings.iter().map(|f| f.event.record).collect();
            assert!(recs.contains(&1) && recs.contains(&3), "{recs:?}");
        }
    }
    // the same inside a CloudTrail wrapper
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let wrapped = format!(
        "{{\"Records\":[{},{{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-01-04T00:00:00Z\",\"userIdentity\":{deep}}},{}]}}",
        good_line(1),
        good_line(2)
    );
    let rep = hunt_reader(
        "w.json",
        Box::new(Cursor::new(wrapped.into_bytes())),
        builtin_rules(),
        &HuntOptions::default(),
    );
    assert_eq!((rep.records, rep.malformed), (3, 1), "{:?}", rep.problems);
    assert_eq!(rep.problems[0].record_number(), Some(2));
}

#[test]
fn unclosed_nesting_is_truncation_not_a_hang() {
    let data = format!("[{},{}", good_line(1), "[".repeat(1 << 20));
    let rep = hunt_reader(
        "open.json",
        Box::new(Cursor::new(data.into_bytes())),
        builtin_rules(),
        &HuntOptions::default(),
    );
    assert_eq!(rep.records, 1);
    assert!(
        rep.problems
            .iter()
            .any(|p| p.kind_str() == "truncated" && p.file == "open.json"),
        "{:?}",
        rep.problems
    );
}

/// Replaces the bytes of `field`'s string value with invalid UTF-8.
fn poison(rec: &str, field: &str) -> Vec<u8> {
    let needle = format!("\"{field}\":\"");
    let start = rec.find(&needle).expect("field") + needle.len();
    let end = start + rec[start..].find('"').expect("end");
    let mut out = rec.as_bytes()[..start].to_vec();
    out.extend_from_slice(b"\xff\xfe\xc3\x28bad\xed\xa0\x80");
    out.extend_from_slice(&rec.as_bytes()[end..]);
    out
}

#[test]
fn invalid_utf8_in_every_field_is_reported_per_record() {
    let base = good_line(0);
    let fields = [
        "eventVersion",
        "eventTime",
        "eventSource",
        "eventName",
        "arn",
        "userName",
        "sourceIPAddress",
        "userAgent",
        "awsRegion",
        "eventID",
        "type",
    ];
    let mut data = Vec::new();
    for f in fields {
        data.extend_from_slice(&poison(&base, f));
        data.push(b'\n');
        data.extend_from_slice(good_line(1).as_bytes());
        data.push(b'\n');
    }
    // invalid UTF-8 in a key, too
    data.extend_from_slice(b"{\"\xff\xff\":1,\"eventVersion\":\"1.08\"}\n");
    let rep = hunt_reader(
        "utf8.ndjson",
        Box::new(Cursor::new(data)),
        builtin_rules(),
        &HuntOptions::default(),
    );
    assert_eq!(rep.records as usize, fields.len() * 2 + 1);
    // Every record whose bad field is read is reported with its line; `eventVersion` is
    // not read by the CloudTrail normaliser or any rule, so it is skipped unparsed and
    // that record is processed normally. A bad key is always reported.
    let reported: Vec<u64> = rep.problems.iter().filter_map(|p| p.line).collect();
    let want: Vec<u64> = (1..fields.len() as u64)
        .map(|i| 2 * i + 1)
        .chain([2 * fields.len() as u64 + 1])
        .collect();
    assert_eq!(reported, want, "{:?}", rep.problems);
    for p in &rep.problems {
        assert_eq!(p.file, "utf8.ndjson");
        assert!(p.message.contains("bad JSON"), "{p:?}");
    }
    // every good record in between matched the CreateAccessKey rule
    let hits: Vec<u64> = rep.findings.iter().map(|f| f.event.record).collect();
    for i in 0..fields.len() as u64 {
        assert!(
            hits.contains(&(2 * i + 2)),
            "good record {} lost: {hits:?}",
            2 * i + 2
        );
    }
}

#[test]
fn invalid_utf8_in_circleci_csv_and_census_jsonl() {
    let mut csv = b"id,action,occurred_at,actor,success\n".to_vec();
    csv.extend_from_slice(b"1,user.logged_in,2023-01-04T00:00:00Z,\"{\"\"name\"\":\"\"a\"\"}\",true\n");
    csv.extend_from_slice(b"2,user.\xff\xfe,2023-01-04T00:00:00Z,x,true\n");
    csv.extend_from_slice(
        b"3,context.secrets.accessed,2023-01-04T00:01:00Z,\"{\"\"name\"\":\"\"b\"\"}\",true\n",
    );
    let rep = hunt_reader(
        "cci.csv",
        Box::new(Cursor::new(csv)),
        builtin_rules(),
        &HuntOptions::default(),
    );
    // the row that is not UTF-8 is a record, malformed
    assert_eq!((rep.records, rep.malformed), (3, 1), "{:?}", rep.problems);
    assert!(
        rep.problems
            .iter()
            .any(|p| p.file == "cci.csv" && p.line == Some(3)),
        "{:?}",
        rep.problems
    );

    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("index.jsonl");
    let mut j =
        b"{\"name\":\"a\",\"uploaded_at\":\"2023-01-04T00:00:00Z\",\"url\":\"https://x.invalid/a.whl\"}\n"
            .to_vec();
    j.extend_from_slice(b"{\"name\":\"\xff\",\"uploaded_at\":\"2023-01-04T00:00:00Z\"}\n");
    j.extend_from_slice(format!("{}\n", "[".repeat(10_000)).as_bytes());
    j.extend_from_slice(
        b"{\"name\":\"c\",\"uploaded_at\":\"2023-01-05T00:00:00Z\",\"url\":\"https://x.invalid/c.whl\"}\n",
    );
    std::fs::write(&idx, j).unwrap();
    let loaded = firebreak_census::index::read_index(&idx, None, &Default::default()).unwrap();
    assert_eq!(loaded.entries.len(), 2);
    let lines: Vec<Option<u64>> = loaded.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(2), Some(3)], "{:?}", loaded.problems);
}

#[test]
fn csv_with_embedded_newlines_and_quotes() {
    // Row 1: a JSON column pretty-printed over lines, with escaped quotes in a value.
    // Row 2: a plain column with newlines and doubled quotes. Row 3: too few columns.
    let csv = "id,action,occurred_at,actor,target,request,success\r\n\
1,context.secrets.accessed,2023-01-04 12:00:00.000 UTC,\"{\n  \"\"name\"\": \"\"bot \\\"\"the\\\"\" builder\"\",\n  \"\"id\"\": \"\"u1\"\"\n}\",\"{\"\"name\"\":\"\"prod,ctx\"\"}\",\"{\"\"ip_address\"\":\"\"192.0.2.1\"\"}\",true\r\n\
2,\"project.env_var.create\",\"2023-01-04T12:01:00Z\",\"{\"\"name\"\":\"\"bob\"\"}\",\"a \"\"quoted\"\"\ntarget\nover lines\",,false\r\n\
3,bad,row\r\n\
4,user.logged_in,2023-01-04T12:03:00Z,\"{\"\"name\"\":\"\"carol\"\"}\",,,true\r\n";
    let bad_line = csv[..csv.find("3,bad,row").unwrap()].matches('\n').count() as u64 + 1;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("circleci-audit.csv");
    std::fs::write(&p, csv).unwrap();
    let rep = hunt(std::slice::from_ref(&p), builtin_rules(), &HuntOptions::default());
    assert_eq!(rep.files[0].source, Some(SourceKind::Circleci));
    // rows 1, 2 and 4 read; row 3 (its line counted across the embedded newlines) is
    // malformed, and counted as a record
    assert_eq!((rep.records, rep.malformed), (4, 1), "{:?}", rep.problems);
    assert_eq!(rep.problems.len(), 1, "{:?}", rep.problems);
    assert_eq!(rep.problems[0].line, Some(bad_line), "{:?}", rep.problems);
    assert_eq!(rep.problems[0].file, p.display().to_string());
    // through the CLI: the bad row is named on stderr with file:line
    let mut c = firebreak();
    c.args(["hunt", "--format", "json"]).arg(&p);
    let m = run_measured(&mut c, None, GUARD);
    assert!(
        m.err().contains(&format!("{}:{bad_line}", p.display())),
        "{}",
        m.err()
    );
    let v: Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(
        (v["records"].as_u64(), v["malformed"].as_u64()),
        (Some(4), Some(1))
    );
    let actors: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["actor"].as_str().map(str::to_string))
        .collect();
    assert!(
        actors.iter().any(|a| a == "bot \"the\" builder"),
        "JSON over several lines, quotes kept: {actors:?}"
    );
}

#[test]
fn bad_files_are_named_and_the_others_still_hunted() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ndjson");
    std::fs::write(&good, format!("{}\n", good_line(3))).unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"\x00\x01\x02not a log\xff").unwrap();
    let gz = dir.path().join("trunc.json.gz");
    let full = firebreak_adversarial::seeds::gz(
        format!("{{\"Records\":[{},{}]}}", good_line(4), good_line(5)).as_bytes(),
    );
    std::fs::write(&gz, &full[..full.len() - 12]).unwrap();
    let paths: Vec<PathBuf> = vec![good.clone(), garbage.clone(), gz.clone()];
    let mut c = firebreak();
    c.args(["hunt", "--format", "jsonl"]).args(&paths);
    let m = run_measured(&mut c, None, GUARD);
    assert_eq!(m.code, Some(3), "partial failure: {}", m.err());
    assert!(m.err().contains(&garbage.display().to_string()), "{}", m.err());
    assert!(m.err().contains(&gz.display().to_string()), "{}", m.err());
    assert!(
        m.out().contains("good.ndjson"),
        "the good file's findings are reported: {}",
        m.out()
    );
}
