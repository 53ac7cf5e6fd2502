//! `hunt compile --target spark` selects what the native engine selects, run in Spark
//! itself (PySpark in local mode, FIREBREAK_SPARK_PYTHON and a JDK from
//! scripts/setup.d/80-pyspark.sh): the compiled statements make each source's records
//! view from the raw exported files, then every built-in rule's query and the combined
//! query run over it. Covered: CloudTrail `Records` files and the same events as JSON
//! Lines, every new source's documented shapes (wrapper objects, arrays, JSON Lines), and
//! the values where engines differ (numbers `7`/`7.0`/`1e3`/`"7"`, a version string,
//! non-ASCII case, a key present with a null value). One Spark session for all of it.

use firebreak_hunt::compile::{compile, spark_combined, spark_setup, CompileOptions, Target};
use firebreak_hunt::{hunt, HuntOptions, RuleSet, SourceKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const RUNNER: &str = r#"
import sys, json
from pyspark.sql import SparkSession
batches = json.load(sys.stdin)
spark = (SparkSession.builder.master("local[2]").appName("firebreak-equivalence")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
out = {}
for b in batches:
    for stmt in b["setup"]:
        for s in stmt.split(";\n"):
            s = s.strip().rstrip(";")
            if s:
                spark.sql(s)
    for name, q in b["queries"].items():
        rows = spark.sql(q.strip().rstrip(";")).collect()
        out[name] = [[None if v is None else str(v) for v in r] for r in rows]
spark.stop()
json.dump(out, sys.stdout)
"#;

fn spark_python() -> String {
    match std::env::var("FIREBREAK_SPARK_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "FIREBREAK_SPARK_PYTHON is not set: run scripts/setup.d/80-pyspark.sh and source .tools/env.d/spark.sh (scripts/test does both)"
        ),
    }
}

/// Runs batches (setup statements, then named queries) in one Spark session.
fn run_spark(batches: &[Value]) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let mut child = std::process::Command::new(spark_python())
        .args(["-c", RUNNER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run FIREBREAK_SPARK_PYTHON");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(batches).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: String = err
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(out.status.success(), "spark runner failed:\n{tail}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn td(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
        .canonicalize()
        .unwrap()
}

/// The records of a file as the native reader sees them, in order.
fn records_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        Value::Array(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        )
    });
    match doc {
        Value::Array(a) => a,
        Value::Object(o) => ["Records", "records", "value", "items"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_array).cloned())
            .unwrap_or_else(|| vec![Value::Object(o)]),
        other => vec![other],
    }
}

fn id_of(rec: &Value, src: SourceKind) -> String {
    let (id_path, _) = firebreak_hunt::compile::record_paths(src);
    let ptr = format!("/{}", id_path.trim_start_matches("$.").replace('.', "/"));
    match rec.pointer(&ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// One case: a file (or directory) of one source, the rules over it; the batch to run
/// and, per query name, the event ids the native engine selects.
struct Case {
    batch: Value,
    want: BTreeMap<String, BTreeSet<String>>,
    combined: Option<(String, BTreeSet<(String, String)>)>,
}

fn case(tag: &str, path: &Path, src: SourceKind, rules: &RuleSet, combined: bool) -> Case {
    let (compiled, _) = compile(
        rules,
        &CompileOptions {
            target: Target::Spark,
            table: Some(path.display().to_string()),
        },
    );
    let rep = hunt(&[path.to_path_buf()], rules, &HuntOptions::default());
    assert!(rep.problems.is_empty(), "{tag}: {:?}", rep.problems);
    // the native finding's event id, read the way Spark reads it
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut by_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in &files {
        by_file.insert(f.display().to_string(), records_of(f));
    }
    // (the record's id field, which is not always the event id the native engine shows)
    let native_id = |x: &firebreak_hunt::Finding| -> String {
        let recs = by_file
            .get(&x.event.file)
            .unwrap_or_else(|| panic!("{tag}: no records of {}", x.event.file));
        id_of(&recs[x.event.record as usize - 1], src)
    };
    let mut queries = serde_json::Map::new();
    let mut want = BTreeMap::new();
    let mut all = BTreeSet::new();
    for c in compiled.iter().filter(|c| c.source == src) {
        let ids: BTreeSet<String> = rep
            .findings
            .iter()
            .filter(|x| x.rule_id == c.rule_id)
            .map(native_id)
            .collect();
        for i in &ids {
            all.insert((i.clone(), c.rule_id.clone()));
        }
        let name = format!("{tag}|{}", c.rule_id);
        queries.insert(name.clone(), c.query.clone().into());
        want.insert(name, ids);
    }
    let combined = combined.then(|| {
        let name = format!("{tag}|__combined");
        queries.insert(name.clone(), spark_combined(&compiled, src).unwrap().into());
        (name, all)
    });
    Case {
        batch: json!({"setup": [spark_setup(src, Some(&path.display().to_string()))], "queries": queries}),
        want,
        combined,
    }
}

const VALUE_RECORDS: &[(&str, &str, &str)] = &[
    // uuid, debugContext.debugData.n (raw JSON), displayMessage
    ("n-int", "7", "plain"),
    ("n-float", "7.0", "plain"),
    ("n-str", "\"7\"", "plain"),
    ("n-half", "7.5", "plain"),
    ("n-exp", "1e3", "plain"),
    ("n-neg", "-7", "plain"),
    ("n-version", "\"1.10\"", "plain"),
    ("n-null", "null", "plain"),
    ("t-upper", "0", "ÄRGER über Éclair"),
    ("t-lower", "0", "ärger ÜBER éclair"),
    ("t-sharp", "0", "Straße"),
    ("t-cyr", "0", "ПАРОЛЬ изменён"),
    ("t-line", "0", "ends with a line break\n"),
];

fn values_rules() -> RuleSet {
    let sels = [
        "    debugContext.debugData.n: 7",
        "    debugContext.debugData.n: 7.5",
        "    debugContext.debugData.n: 1000",
        "    debugContext.debugData.n: '-7'",
        "    debugContext.debugData.n: '1.1'",
        "    debugContext.debugData.n: '1.10'",
        "    debugContext.debugData.n|contains: '.5'",
        "    debugContext.debugData.n: '7*'",
        "    debugContext.debugData.n|exists: true",
        "    debugContext.debugData.n: null",
        "    displayMessage: 'ärger über éclair'",
        "    displayMessage|contains: 'ÜBER'",
        "    displayMessage|startswith: 'ÄR'",
        "    displayMessage|endswith: 'ÉCLAIR'",
        "    displayMessage|contains: 'straße'",
        "    displayMessage|contains: 'пароль'",
        "    displayMessage|cased: 'ÄRGER über Éclair'",
        "    displayMessage: '*ÉCLAIR'",
        "    displayMessage: 'ends with a line*break'",
        "    displayMessage|re: '^ends.*break$'",
    ];
    let mut rs = RuleSet::default();
    for (i, s) in sels.iter().enumerate() {
        rs.add_text(
            &format!("r{i}.yml"),
            &format!(
                "title: values probe {i}\nid: 00000000-0000-4000-8000-{i:012}\nstatus: test\nlogsource:\n  product: okta\n  service: okta\ndetection:\n  sel:\n{s}\n  condition: sel\nlevel: low\n"
            ),
        )
        .unwrap();
    }
    assert_eq!(rs.rules.len(), sels.len(), "{:?}", rs.unsupported);
    rs
}

#[test]
fn spark_selects_the_same_events_as_the_native_engine() {
    spark_python();
    let builtin = RuleSet::builtin().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();

    // CloudTrail: the real sample's `Records` files, and the same events as JSON Lines
    let ct = td("cloudtrail/invictus-aws-2023-07-10/CloudTrail");
    cases.push(case("ct", &ct, SourceKind::Cloudtrail, &builtin, true));
    let ctl = tmp.path().join("ct-lines");
    std::fs::create_dir(&ctl).unwrap();
    {
        let mut f = std::fs::File::create(ctl.join("events.jsonl")).unwrap();
        for e in std::fs::read_dir(&ct).unwrap() {
            for r in records_of(&e.unwrap().path()) {
                writeln!(f, "{}", serde_json::to_string(&r).unwrap()).unwrap();
            }
        }
    }
    cases.push(case("ctl", &ctl, SourceKind::Cloudtrail, &builtin, true));

    // the new sources, in their documented shapes
    for (f, src) in [
        ("hunt/azure-audit.json", SourceKind::AzureAudit),
        ("hunt/azure-audit-graph.json", SourceKind::AzureAudit),
        ("hunt/azure-riskdetections.json", SourceKind::AzureRisk),
        ("hunt/m365-audit.json", SourceKind::M365),
        ("hunt/google-workspace-admin.json", SourceKind::GoogleWorkspace),
        ("hunt/okta-system-log.ndjson", SourceKind::Okta),
    ] {
        cases.push(case(f, &td(f), src, &builtin, false));
    }

    // the values where engines differ
    let vals = tmp.path().join("okta-values.ndjson");
    {
        let mut f = std::fs::File::create(&vals).unwrap();
        for (id, n, msg) in VALUE_RECORDS {
            writeln!(
                f,
                "{{\"uuid\":\"{id}\",\"published\":\"2023-01-02T00:00:00.000Z\",\"eventType\":\"user.session.start\",\"displayMessage\":{},\"actor\":{{\"alternateId\":\"a\"}},\"debugContext\":{{\"debugData\":{{\"n\":{n}}}}}}}",
                serde_json::to_string(msg).unwrap()
            )
            .unwrap();
        }
    }
    let vrules = values_rules();
    let (vcompiled, vunsup) = compile(
        &vrules,
        &CompileOptions {
            target: Target::Spark,
            table: None,
        },
    );
    assert!(vunsup.is_empty(), "every values probe compiles: {vunsup:?}");
    assert_eq!(vcompiled.len(), vrules.rules.len());
    cases.push(case("values", &vals, SourceKind::Okta, &vrules, true));

    let batches: Vec<Value> = cases.iter().map(|c| c.batch.clone()).collect();
    let got = run_spark(&batches);
    let mut fired = 0;
    let mut checked = 0;
    for c in &cases {
        for (name, want) in &c.want {
            let rows = got.get(name).unwrap_or_else(|| panic!("{name}: no result"));
            let ids: BTreeSet<String> = rows.iter().map(|r| r[2].clone().unwrap_or_default()).collect();
            assert_eq!(
                &ids, want,
                "{name}: Spark and the native engine select different events"
            );
            checked += 1;
            if !want.is_empty() {
                fired += 1;
            }
        }
        if let Some((name, want)) = &c.combined {
            let pairs: BTreeSet<(String, String)> = got[name]
                .iter()
                .map(|r| (r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default()))
                .collect();
            assert_eq!(&pairs, want, "{name}: combined query differs");
        }
    }
    assert!(checked >= 40, "only {checked} queries compared");
    assert!(
        fired >= 15,
        "only {fired} queries select something: the corpora should exercise the rules"
    );
    // the values probes: what each selects natively, spelled out, so an engine change shows
    let v = |i: usize| -> BTreeSet<String> {
        got[&format!("values|00000000-0000-4000-8000-{i:012}")]
            .iter()
            .map(|r| r[2].clone().unwrap_or_default())
            .collect()
    };
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(v(0), set(&["n-int", "n-float", "n-str"]));
    assert_eq!(v(2), set(&["n-exp"]));
    assert_eq!(v(4), set(&[]), "the string \"1.10\" is not the number 1.1");
    assert_eq!(v(5), set(&["n-version"]));
}
