//! The hunt under faults: findings stream out while the input is still being read; state
//! that grows with the input (novelty, aggregation, output order) moves to disk past its
//! limits and gives the same findings; a record over `MAX_RECORD` is skipped and the rest
//! of its file is still hunted and counted, in every layout; log values copied into
//! findings are redacted.

use chrono::{DateTime, Duration, Utc};
use firebreak_core::secret::SecretMatcher;
use firebreak_hunt::reader::MAX_RECORD;
use firebreak_hunt::{
    hunt, hunt_into, hunt_reader, hunt_reader_into, Finding, FindingSink, HuntOptions, Limits, RuleSet,
};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

/// A CloudTrail `GetCallerIdentity` record (built-in rule "AWS GetCallerIdentity").
fn whoami(n: u64) -> String {
    let t = DateTime::parse_from_rfc3339("2023-01-04T00:00:00Z").unwrap() + Duration::seconds(n as i64);
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{}","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/ci-{}"}},"sourceIPAddress":"203.0.113.{}","userAgent":"aws-cli/2.9","awsRegion":"us-east-1","eventID":"e{n}"}}"#,
        t.format("%Y-%m-%dT%H:%M:%SZ"),
        n % 7,
        n % 200
    )
}

const WHOAMI: &str = "52e8fe16-5118-5449-ba2f-3bf483c8f99c";

// ---------------------------------------------------------------------------------------
// streaming

/// JSON Lines of `whoami` records, `total` of them, counting the bytes handed out.
struct Records {
    next: u64,
    total: u64,
    pending: Vec<u8>,
    at: usize,
    produced: Arc<AtomicU64>,
}

impl Read for Records {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            if self.next == self.total {
                return Ok(0);
            }
            self.pending = format!("{}\n", whoami(self.next)).into_bytes();
            self.at = 0;
            self.next += 1;
        }
        let n = (self.pending.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        self.produced.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Notes how much input had been read when the first finding arrived; fails after `stop`
/// findings when asked to.
struct Probe {
    produced: Arc<AtomicU64>,
    at_first: Option<u64>,
    count: u64,
    stop: Option<u64>,
}

impl FindingSink for Probe {
    fn finding(&mut self, f: Finding) -> std::io::Result<()> {
        assert_eq!(f.rule_id, WHOAMI);
        if self.at_first.is_none() {
            self.at_first = Some(self.produced.load(Ordering::Relaxed));
        }
        self.count += 1;
        if self.stop.is_some_and(|s| self.count >= s) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "reader went away",
            ));
        }
        Ok(())
    }
}

#[test]
fn findings_reach_the_sink_while_the_input_is_still_read() {
    // ~40 MB of records, every one a finding: several 8 MB batches
    let total = 140_000u64;
    let produced = Arc::new(AtomicU64::new(0));
    let input = Records {
        next: 0,
        total,
        pending: Vec::new(),
        at: 0,
        produced: produced.clone(),
    };
    let rules = RuleSet::builtin().unwrap();
    let mut probe = Probe {
        produced: produced.clone(),
        at_first: None,
        count: 0,
        stop: None,
    };
    let rep = hunt_reader_into(
        "stream.jsonl",
        Box::new(input),
        &rules,
        &HuntOptions::default(),
        &mut probe,
    );
    let all = produced.load(Ordering::Relaxed);
    assert_eq!(rep.records, total);
    assert_eq!((probe.count, rep.found), (total, total));
    assert!(rep.findings.is_empty(), "a sink run keeps no findings");
    let first = probe.at_first.unwrap();
    assert!(
        first < all / 2,
        "the first finding came after {first} of {all} input bytes had been read"
    );
    // the summary is counted, not rebuilt from a list
    let s = rep.summary();
    assert_eq!(s.by_rule.len(), 1);
    assert_eq!(s.by_rule[0].findings as u64, total);
    assert_eq!(s.by_identity.len(), 7);
}

#[test]
fn a_failing_sink_stops_the_hunt_without_reading_the_rest() {
    // as `firebreak hunt | head`: an input far larger than what is read before the stop
    let produced = Arc::new(AtomicU64::new(0));
    let input = Records {
        next: 0,
        total: u64::MAX,
        pending: Vec::new(),
        at: 0,
        produced: produced.clone(),
    };
    let rules = RuleSet::builtin().unwrap();
    let mut probe = Probe {
        produced: produced.clone(),
        at_first: None,
        count: 0,
        stop: Some(1000),
    };
    let rep = hunt_reader_into(
        "endless.jsonl",
        Box::new(input),
        &rules,
        &HuntOptions::default(),
        &mut probe,
    );
    assert_eq!(probe.count, 1000);
    let why = rep.stopped.expect("the report says the hunt stopped");
    assert!(why.contains("reader went away"), "{why}");
    assert!(rep.failed_inputs > 0);
    // a few batches at most, not the endless input
    assert!(produced.load(Ordering::Relaxed) < 100 << 20);
}

// ---------------------------------------------------------------------------------------
// spilling: same findings with every limit at its smallest

fn tiny() -> Limits {
    Limits {
        output_bytes: 0,
        novelty_keys: 1,
        novelty_bytes: 1,
        aggregation_hits: 1,
        aggregation_bytes: 1,
        summary_identities: 10_000,
    }
}

fn shown(fs: &[Finding]) -> Vec<String> {
    fs.iter().map(|f| serde_json::to_string(f).unwrap()).collect()
}

#[test]
fn spilled_state_gives_the_same_findings_in_the_same_order() {
    let mut opts = HuntOptions {
        window: Some("2022-12-21..2023-01-05".parse().unwrap()),
        baseline: Some("2022-12-01..2022-12-21".parse().unwrap()),
        ..HuntOptions::default()
    };
    let rules = RuleSet::builtin().unwrap();
    let paths = [testdata("hunt")];
    let mem = hunt(&paths, &rules, &opts);
    assert_eq!(mem.spills, 0);
    opts.limits = tiny();
    let disk = hunt(&paths, &rules, &opts);
    assert!(
        disk.spills >= 2,
        "novelty and aggregation went to disk: {}",
        disk.spills
    );
    assert!(disk.stopped.is_none(), "{:?}", disk.stopped);
    let kinds = |r: &firebreak_hunt::HuntReport, k: &str| {
        r.findings
            .iter()
            .filter(|f| serde_json::to_value(f.kind).unwrap() == k)
            .count()
    };
    assert!(kinds(&mem, "novelty") > 5 && kinds(&mem, "aggregate") > 0 && kinds(&mem, "rule") > 20);
    assert_eq!(shown(&mem.findings), shown(&disk.findings));
    assert_eq!(mem.found, disk.found);
}

// ---------------------------------------------------------------------------------------
// aggregation: the bounded evaluation against the straightforward one

/// xorshift64*, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const AGG_RULES: &str = r#"
title: clones per actor within 10 minutes
id: agg-distinct-tf
logsource: {product: github, service: audit}
detection:
  s: {action: git.clone}
  timeframe: 10m
  condition: s | count(repo) by actor > 3
---
title: events per actor within 5 minutes
id: agg-count-tf
logsource: {product: github, service: audit}
detection:
  s: {action: git.clone}
  timeframe: 5m
  condition: s | count() by actor >= 4
---
title: repos per actor overall
id: agg-distinct
logsource: {product: github, service: audit}
detection:
  s: {action: git.clone}
  condition: s | count(repo) by actor > 5
---
title: clones overall
id: agg-count
logsource: {product: github, service: audit}
detection:
  s: {action: git.clone}
  condition: s | count() > 50
"#;

/// The aggregation as it was computed before it was bounded: every hit of a group in
/// memory, sorted by time (stable: input order on ties), a sliding window over it.
/// A clone: (record, actor, seconds from the start, repo).
type GitClone = (u64, String, i64, Option<String>);

fn reference(events: &[GitClone]) -> Vec<(String, u64, String)> {
    // -> [(rule id, record that fired, n)]
    let mut out = Vec::new();
    let t0 = DateTime::parse_from_rfc3339("2023-01-04T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for (id, field, by, tf, gte, thr) in [
        ("agg-distinct-tf", true, true, Some(600), false, 3.0),
        ("agg-count-tf", false, true, Some(300), true, 4.0),
        ("agg-distinct", true, true, None, false, 5.0),
        ("agg-count", false, false, None, false, 50.0),
    ] {
        let mut groups: std::collections::BTreeMap<String, Vec<&GitClone>> = Default::default();
        for e in events {
            let g = if by { e.1.clone() } else { String::new() };
            groups.entry(g).or_default().push(e);
        }
        for (_, mut hs) in groups {
            hs.sort_by_key(|e| e.2);
            let t = |e: &GitClone| t0 + Duration::seconds(e.2);
            let mut start = 0;
            let mut counts: HashMap<Option<String>, usize> = HashMap::new();
            for i in 0..hs.len() {
                let now = t(hs[i]);
                if let Some(tf) = tf {
                    while start < i && t(hs[start]) + Duration::seconds(tf) <= now {
                        let k = hs[start].3.clone();
                        if let Some(c) = counts.get_mut(&k) {
                            *c -= 1;
                            if *c == 0 {
                                counts.remove(&k);
                            }
                        }
                        start += 1;
                    }
                }
                *counts.entry(hs[i].3.clone()).or_default() += 1;
                let n = if field {
                    counts.keys().filter(|k| k.is_some()).count()
                } else {
                    i + 1 - start
                };
                let ok = if gte { n as f64 >= thr } else { n as f64 > thr };
                let fire = if tf.is_some() { ok } else { i + 1 == hs.len() && ok };
                if fire {
                    out.push((id.to_string(), hs[i].0, n.to_string()));
                    counts.clear();
                    start = i + 1;
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bounded_aggregation_matches_the_straightforward_one() {
    let mut rules = RuleSet::default();
    rules.add_text("agg.yml", AGG_RULES).unwrap();
    assert_eq!(rules.rules.len(), 4, "{:?}", rules.unsupported);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut events = Vec::new();
    let mut text = String::new();
    for i in 1..=3000u64 {
        let actor = format!("bot-{}", rng.next() % 5);
        let minute = (rng.next() % 600) as i64; // out of time order, with ties
        let repo = (!rng.next().is_multiple_of(4)).then(|| format!("acme/r{}", rng.next() % 12));
        let t =
            DateTime::parse_from_rfc3339("2023-01-04T00:00:00Z").unwrap() + Duration::seconds(minute * 60);
        let mut rec = serde_json::json!({
            "@timestamp": t.timestamp_millis(), "action": "git.clone", "actor": actor,
            "_document_id": format!("d{i}"),
        });
        if let Some(r) = &repo {
            rec["repo"] = r.clone().into();
        }
        text.push_str(&rec.to_string());
        text.push('\n');
        events.push((i, actor, minute * 60, repo));
    }
    let want = reference(&events);
    assert!(want.len() > 50, "the rules fire: {}", want.len());
    for limits in [Limits::default(), tiny()] {
        let opts = HuntOptions {
            limits,
            ..HuntOptions::default()
        };
        let rep = hunt_reader(
            "clones.ndjson",
            Box::new(Cursor::new(text.clone().into_bytes())),
            &rules,
            &opts,
        );
        let mut got: Vec<(String, u64, String)> = rep
            .findings
            .iter()
            .map(|f| {
                let n = f
                    .detail
                    .as_deref()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string();
                (f.rule_id.clone(), f.event.record, n)
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "limits {limits:?}");
    }
}

// ---------------------------------------------------------------------------------------
// oversize records

/// Past the limit and the reader's read-ahead: the record is dropped while it is read.
const FAR_OVER: usize = MAX_RECORD + (6 << 20);
/// Just past the limit: the record is read whole, then refused.
const JUST_OVER: usize = MAX_RECORD + 1000;

/// A CloudTrail record with a string member of `pad` bytes.
fn padded(n: u64, pad: usize) -> String {
    let r = whoami(n);
    format!("{},\"pad\":\"{}\"}}", &r[..r.len() - 1], "x".repeat(pad))
}

fn check_oversize(name: &str, data: Vec<u8>, want_line: u64, after: &[u64]) {
    let rules = RuleSet::builtin().unwrap();
    let rep = hunt_reader(name, Box::new(Cursor::new(data)), &rules, &HuntOptions::default());
    // 3 good records before, the oversize one, the rest after: all counted
    assert_eq!(rep.records, 4 + after.len() as u64, "{name}: {:?}", rep.problems);
    assert_eq!(rep.malformed, 1, "{name}");
    assert_eq!(rep.problems.len(), 1, "{name}: {:?}", rep.problems);
    let p = &rep.problems[0];
    assert_eq!(
        (p.file.as_str(), p.line, p.record_number()),
        (name, Some(want_line), Some(4)),
        "{name}: {p:?}"
    );
    assert!(
        p.message.contains("longer than") && p.message.contains("skipped"),
        "{p:?}"
    );
    let recs: Vec<u64> = rep.findings.iter().map(|f| f.event.record).collect();
    let mut want = vec![1, 2, 3];
    want.extend(after);
    assert_eq!(recs, want, "{name}: records after the oversize one are hunted");
}

#[test]
fn oversize_record_in_json_lines() {
    let mut s = String::new();
    for i in 0..3 {
        s.push_str(&whoami(i));
        s.push('\n');
    }
    s.push_str(&padded(3, FAR_OVER));
    s.push('\n');
    for i in 4..6 {
        s.push_str(&whoami(i));
        s.push('\n');
    }
    check_oversize("big.ndjson", s.into_bytes(), 4, &[5, 6]);
}

#[test]
fn oversize_record_in_cloudtrail_records_wrapper() {
    let mut s = String::from("{\"Records\": [\n");
    for i in 0..3 {
        s.push_str(&whoami(i));
        s.push_str(",\n");
    }
    // nesting and escapes inside the dropped record are still tracked
    let big = padded(3, FAR_OVER).replacen("\"pad\"", "\"n\":[{\"a\":\"]}\\\"\"}],\"pad\"", 1);
    s.push_str(&big);
    s.push_str(",\n");
    s.push_str(&whoami(4));
    s.push_str(",\n");
    s.push_str(&whoami(5));
    s.push_str("\n]}\n");
    // gzip, as CloudTrail delivers it
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, s.as_bytes()).unwrap();
    check_oversize("big.json.gz", gz.finish().unwrap(), 5, &[5, 6]);
}

#[test]
fn oversize_record_in_json_array() {
    let mut s = String::from("[\n");
    for i in 0..3 {
        s.push_str(&whoami(i));
        s.push_str(",\n");
    }
    s.push_str(&padded(3, JUST_OVER));
    s.push_str(",\n");
    s.push_str(&whoami(4));
    s.push_str("\n]\n");
    check_oversize("big.json", s.into_bytes(), 5, &[5]);
}

fn circleci_row(i: u64, eol: &str) -> String {
    format!("{i},user.logged_in,2023-01-04T00:0{i}:00Z,\"{{\"\"name\"\":\"\"u{i}\"\"}}\"{eol}")
}

fn oversize_csv(eol: &str, size: usize) -> Vec<u8> {
    let mut s = format!("id,action,occurred_at,actor{eol}");
    for i in 1..=3 {
        s.push_str(&circleci_row(i, eol));
    }
    // a quoted field with line feeds, quotes and commas
    let mut pad = String::with_capacity(size + 64);
    while pad.len() < size {
        pad.push_str("lorem, \"\"ipsum\"\"\nline ");
    }
    s.push_str(&format!("4,user.logged_in,2023-01-04T00:04:00Z,\"{pad}\"{eol}"));
    s.push_str(&circleci_row(5, eol));
    s.push_str(&circleci_row(6, eol));
    s.into_bytes()
}

#[test]
fn oversize_row_in_circleci_csv() {
    let data = oversize_csv("\n", FAR_OVER);
    let pad_lines = data.iter().filter(|&&b| b == b'\n').count() as u64 - 7;
    let rules = RuleSet::builtin().unwrap();
    let rep = hunt_reader(
        "big.csv",
        Box::new(Cursor::new(data)),
        &rules,
        &HuntOptions::default(),
    );
    check_oversize("big.csv", oversize_csv("\n", FAR_OVER), 5, &[5, 6]);
    // rows after it keep their line numbers (the oversize row spans many lines)
    let lines: Vec<u64> = rep.findings.iter().map(|f| f.event.line).collect();
    assert_eq!(lines, [2, 3, 4, 6 + pad_lines, 7 + pad_lines]);
}

#[test]
fn oversize_row_in_circleci_csv_with_crlf() {
    let data = oversize_csv("\r\n", JUST_OVER);
    let pad_lines = data.iter().filter(|&&b| b == b'\n').count() as u64 - 7;
    let rules = RuleSet::builtin().unwrap();
    let rep = hunt_reader(
        "crlf.csv",
        Box::new(Cursor::new(data)),
        &rules,
        &HuntOptions::default(),
    );
    assert_eq!((rep.records, rep.malformed), (6, 1), "{:?}", rep.problems);
    let p = &rep.problems[0];
    assert_eq!((p.line, p.record_number()), (Some(5), Some(4)), "{p:?}");
    let lines: Vec<u64> = rep.findings.iter().map(|f| f.event.line).collect();
    assert_eq!(lines, [2, 3, 4, 6 + pad_lines, 7 + pad_lines]);
}

// ---------------------------------------------------------------------------------------
// redaction

/// Finds `ghp_` + 36 alphanumerics and `aws_secret_access_key=` + 40 characters, as the
/// scanner's rules do (the CLI test runs the real ones).
struct Fake;
impl SecretMatcher for Fake {
    fn secret_spans(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        for (pre, len, skip) in [("ghp_", 40, 0), ("aws_secret_access_key=", 40, 22)] {
            let mut from = 0;
            while let Some(i) = text[from..].find(pre) {
                let s = from + i + skip;
                let e = (s + len).min(text.len());
                out.push(s..e);
                from = e;
            }
        }
        out
    }
}

fn token() -> String {
    let mut r = Rng(42);
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let body: String = (0..36).map(|_| abc[(r.next() % 62) as usize] as char).collect();
    format!("ghp_{body}")
}

#[test]
fn values_copied_into_findings_are_redacted() {
    let tok = token();
    let body = &tok[8..];
    // another token that redacts to the same prefix
    let tok2 = format!("{}{}", &tok[..39], if tok.ends_with('Q') { 'R' } else { 'Q' });
    let sk = "Zx9Kq2Lm7Vb4Nc8Wp3Rt6Yh1Jd5Fg0Ss2Aa4Qq8W";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ct.ndjson");
    let mut s = String::new();
    for (i, day, ua) in [
        (0, "2022-12-10", format!("curl/8.0 {tok}")),
        (1, "2023-01-04", format!("curl/8.0 {tok}")),
        (2, "2023-01-04", format!("curl/8.0 {tok2}")),
        (
            3,
            "2023-01-04",
            format!("curl/8.0 aws_secret_access_key={sk} {tok}"),
        ),
    ] {
        s.push_str(
            &serde_json::json!({
                "eventVersion": "1.08", "eventTime": format!("{day}T00:00:0{i}Z"),
                "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::1:user/ci {tok}")},
                "sourceIPAddress": "203.0.113.9",
                "userAgent": ua,
                "requestParameters": {"userName": format!("x{tok}")},
                "eventID": format!("e{i}"),
            })
            .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    let mut rules = RuleSet::builtin().unwrap();
    rules
        .add_text(
            "agg.yml",
            "title: whoami per user agent\nid: agg-ua\nlogsource: {product: aws}\ndetection:\n  s: {eventName: GetCallerIdentity}\n  condition: s | count() by userAgent >= 1\n",
        )
        .unwrap();
    let opts = HuntOptions {
        window: Some("2023-01-01..2023-01-05".parse().unwrap()),
        baseline: Some("2022-12-01..2023-01-01".parse().unwrap()),
        secrets: Some(Arc::new(Fake)),
        ..HuntOptions::default()
    };
    for limits in [Limits::default(), tiny()] {
        let opts = HuntOptions {
            limits,
            ..opts.clone()
        };
        let mut v: Vec<Finding> = Vec::new();
        let rep = hunt_into(std::slice::from_ref(&p), &rules, &opts, &mut v);
        let kinds: Vec<String> = v.iter().map(|f| f.rule_id.clone()).collect();
        for k in [WHOAMI, "agg-ua", "novelty.user_agent"] {
            assert!(kinds.iter().any(|x| x == k), "{k}: {kinds:?}");
        }
        let out = serde_json::to_string(&v).unwrap() + &format!("{:?}", rep.summary());
        assert!(!out.contains(body), "token body in the findings: {out}");
        assert!(!out.contains(&tok2[8..]), "token body in the findings: {out}");
        assert!(!out.contains(&sk[6..]), "secret key in the findings: {out}");
        assert!(out.contains("ghp_"), "the redacted prefix stays");
        // novelty compares the values as logged: the baseline's user agent is not new, the
        // one with the other token is, though both redact alike
        let new_ua: Vec<u64> = v
            .iter()
            .filter(|f| f.rule_id == "novelty.user_agent")
            .map(|f| f.event.record)
            .collect();
        assert_eq!(new_ua, [3, 4], "{limits:?}");
        assert!(!kinds.iter().any(|k| k == "novelty.identity"));
        // three user agents, three groups, though two of them redact alike
        assert_eq!(kinds.iter().filter(|k| *k == "agg-ua").count(), 3);
    }
}

#[test]
fn the_summary_lists_identities_up_to_its_limit_and_counts_the_rest() {
    let produced = Arc::new(AtomicU64::new(0));
    let input = Records {
        next: 0,
        total: 700,
        pending: Vec::new(),
        at: 0,
        produced,
    };
    let opts = HuntOptions {
        limits: Limits {
            summary_identities: 2,
            ..Limits::default()
        },
        ..HuntOptions::default()
    };
    let rep = hunt_reader("ids.jsonl", Box::new(input), &RuleSet::builtin().unwrap(), &opts);
    let s = rep.summary();
    // 7 identities, 100 findings each
    assert_eq!(s.by_identity.len(), 2);
    assert_eq!(s.identities_not_listed, 5);
    assert_eq!(s.findings_not_listed, 500);
    assert_eq!(s.by_rule[0].findings, 700);
}
