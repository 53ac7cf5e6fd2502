//! The hunt: stream every file, match rules inside the window, aggregate, find novelty.

use crate::node::{parse_filtered, Node};
use crate::reader::{open, walk, Problem, Splitter};
use crate::sigma::{top_keys, Rule, Unsupported};
use crate::source::{Event, SourceKind, ALL_SOURCES};
use chrono::{DateTime, Utc};
use firebreak_core::{finding::stable_id, Level, TimeWindow};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Detailed problems kept per file (the rest are only counted).
const MAX_PROBLEMS_PER_FILE: usize = 50;

/// The rules to run.
#[derive(Debug, Default, Clone)]
pub struct RuleSet {
    /// Supported rules.
    pub rules: Vec<Rule>,
    /// Rules not run, with the reason.
    pub unsupported: Vec<Unsupported>,
}

/// How to hunt.
#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    /// Only events in this window are matched (None: all time).
    pub window: Option<TimeWindow>,
    /// Baseline period for novelty (None: no novelty findings).
    pub baseline: Option<TimeWindow>,
    /// Force the source kind instead of detecting it.
    pub source: Option<SourceKind>,
}

/// What produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A Sigma rule matched one event.
    Rule,
    /// A Sigma rule's count aggregation crossed its threshold.
    Aggregate,
    /// Something the identity never did in the baseline.
    Novelty,
}

/// One finding: a rule hit (or novelty) and the event that triggered it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id (rule, file, record).
    pub id: String,
    /// Kind of finding.
    pub kind: FindingKind,
    /// Rule id (Sigma id, or `novelty.<what>`).
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Level.
    pub level: Level,
    /// Extra detail (aggregation counts, the new value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// Counts per file.
#[derive(Debug, Clone, Serialize)]
pub struct FileStat {
    /// Path.
    pub file: String,
    /// Detected (or forced) source; None when unknown.
    pub source: Option<SourceKind>,
    /// Records read.
    pub records: u64,
    /// Malformed records.
    pub malformed: u64,
}

/// Everything a hunt produces.
#[derive(Debug, Default, Serialize)]
pub struct HuntReport {
    /// Findings in time order.
    pub findings: Vec<Finding>,
    /// Problems with inputs (malformed records, truncated files, unknown types).
    pub problems: Vec<Problem>,
    /// Rules that were not run, with reasons.
    pub unsupported: Vec<Unsupported>,
    /// Per-file statistics.
    pub files: Vec<FileStat>,
    /// Records read in total.
    pub records: u64,
    /// Records inside the window.
    pub in_window: u64,
    /// Records in the baseline.
    pub in_baseline: u64,
    /// Malformed records in total (including those not detailed in `problems`).
    pub malformed: u64,
    /// Inputs that failed wholly or partly (drive exit code 3).
    pub failed_inputs: usize,
}

struct AggHit {
    rule: usize,
    group: String,
    value: Option<String>,
    event: Event,
}

#[derive(Default)]
struct FileOut {
    stat: Option<FileStat>,
    hits: Vec<(usize, Event)>,
    agg: Vec<AggHit>,
    base: HashMap<String, [HashSet<String>; 4]>,
    novel: HashMap<(String, u8, String), Event>,
    problems: Vec<Problem>,
    malformed: u64,
    failed: bool,
    in_window: u64,
    in_baseline: u64,
}

#[derive(Default)]
struct RecOut {
    malformed: Option<String>,
    in_window: bool,
    in_baseline: bool,
    hits: Vec<usize>,
    agg: Vec<(usize, String, Option<String>)>,
    event: Option<Event>,
}

struct Ctx<'r> {
    rules: &'r [Rule],
    by_source: HashMap<SourceKind, Vec<usize>>,
    keep: HashMap<SourceKind, HashSet<String>>,
    opts: &'r HuntOptions,
}

/// Novelty dimensions.
const NOVEL: [(&str, &str, Level); 4] = [
    ("source_ip", "New source IP for identity", Level::Medium),
    ("user_agent", "New user agent for identity", Level::Low),
    ("country", "New country for identity", Level::High),
    ("action", "New action for identity", Level::Low),
];

/// Runs the hunt over files and directories.
pub fn hunt(paths: &[PathBuf], rules: &RuleSet, opts: &HuntOptions) -> HuntReport {
    let (files, problems) = walk(paths);
    let explicit: HashSet<PathBuf> = paths.iter().cloned().collect();
    let ctx = Ctx::new(rules, opts);
    let outs: Vec<FileOut> = files
        .par_iter()
        .map(|f| hunt_file(f, &ctx, explicit.contains(f)))
        .collect();
    assemble(rules, opts, problems, outs)
}

/// Runs the hunt over one stream (stdin, a download, bytes in memory) that `name` names in
/// problems and findings. Gzip is recognised by its magic bytes, as for files; the stream
/// is read record by record with the same bounded memory as a file.
pub fn hunt_reader(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    rules: &RuleSet,
    opts: &HuntOptions,
) -> HuntReport {
    let ctx = Ctx::new(rules, opts);
    let out = match crate::reader::decompress(reader) {
        Ok(r) => hunt_stream(r, name, &ctx, true),
        Err(e) => unreadable_out(name, &e),
    };
    assemble(rules, opts, Vec::new(), vec![out])
}

impl<'r> Ctx<'r> {
    fn new(rules: &'r RuleSet, opts: &'r HuntOptions) -> Self {
        let mut by_source: HashMap<SourceKind, Vec<usize>> = HashMap::new();
        for (i, r) in rules.rules.iter().enumerate() {
            for s in &r.sources {
                by_source.entry(*s).or_default().push(i);
            }
        }
        let mut keep = HashMap::new();
        for s in ALL_SOURCES {
            let rs: Vec<&Rule> = by_source
                .get(&s)
                .map(|v| v.iter().map(|&i| &rules.rules[i]).collect())
                .unwrap_or_default();
            let mut k = top_keys(&rs);
            k.extend(s.normaliser_keys().iter().map(|x| x.to_string()));
            keep.insert(s, k);
        }
        Ctx {
            rules: &rules.rules,
            by_source,
            keep,
            opts,
        }
    }
}

/// Merges per-file results into the report: findings, aggregation, novelty, order.
fn assemble(
    rules: &RuleSet,
    opts: &HuntOptions,
    mut problems: Vec<Problem>,
    outs: Vec<FileOut>,
) -> HuntReport {
    let mut rep = HuntReport {
        unsupported: rules.unsupported.clone(),
        failed_inputs: problems.len(),
        ..HuntReport::default()
    };
    let mut agg: Vec<AggHit> = Vec::new();
    let mut base: HashMap<String, [HashSet<String>; 4]> = HashMap::new();
    let mut novel: HashMap<(String, u8, String), Event> = HashMap::new();
    for o in outs {
        if let Some(s) = o.stat {
            rep.records += s.records;
            rep.files.push(s);
        }
        rep.in_window += o.in_window;
        rep.in_baseline += o.in_baseline;
        rep.malformed += o.malformed;
        if o.failed {
            rep.failed_inputs += 1;
        }
        problems.extend(o.problems);
        for (ri, ev) in o.hits {
            let r = &rules.rules[ri];
            rep.findings.push(Finding {
                id: stable_id(&[&r.id, &ev.file, &ev.record.to_string()]),
                kind: FindingKind::Rule,
                rule_id: r.id.clone(),
                title: r.title.clone(),
                level: r.level,
                detail: None,
                event: ev,
            });
        }
        agg.extend(o.agg);
        for (id, sets) in o.base {
            let e = base.entry(id).or_default();
            for (a, b) in e.iter_mut().zip(sets) {
                a.extend(b);
            }
        }
        for (k, ev) in o.novel {
            match novel.get(&k) {
                Some(old) if old.time <= ev.time => {}
                _ => {
                    novel.insert(k, ev);
                }
            }
        }
    }
    rep.problems = problems;
    aggregate(&rules.rules, agg, &mut rep.findings);
    if opts.baseline.is_some() {
        novelty(base, novel, &mut rep.findings);
    }
    rep.findings.sort_by(|a, b| {
        (a.event.time, &a.event.file, a.event.record, &a.rule_id).cmp(&(
            b.event.time,
            &b.event.file,
            b.event.record,
            &b.rule_id,
        ))
    });
    rep
}

fn hunt_file(path: &std::path::Path, ctx: &Ctx, explicit: bool) -> FileOut {
    let name = path.display().to_string();
    match open(path) {
        Ok(r) => hunt_stream(r, &name, ctx, explicit),
        Err(e) => unreadable_out(&name, &e),
    }
}

fn unreadable_out(name: &str, e: &std::io::Error) -> FileOut {
    FileOut {
        failed: true,
        problems: vec![Problem {
            file: name.to_string(),
            line: 0,
            record: 0,
            kind: "unreadable".into(),
            message: e.to_string(),
        }],
        ..FileOut::default()
    }
}

fn hunt_stream(rdr: Box<dyn std::io::Read + Send>, name: &str, ctx: &Ctx, explicit: bool) -> FileOut {
    let name = name.to_string();
    let mut out = FileOut::default();
    let mut stat = FileStat {
        file: name.clone(),
        source: ctx.opts.source,
        records: 0,
        malformed: 0,
    };
    let mut sp = Splitter::new(rdr, &name);
    let mut source = ctx.opts.source;
    let mut detail = 0usize;
    let push_problem = |out: &mut FileOut, detail: &mut usize, p: Problem| {
        if *detail < MAX_PROBLEMS_PER_FILE {
            out.problems.push(p);
        }
        *detail += 1;
    };
    loop {
        let batch = match sp.next_batch() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(m) => {
                out.problems.push(Problem {
                    file: name.clone(),
                    line: 0,
                    record: 0,
                    kind: "unknown_type".into(),
                    message: m,
                });
                out.failed = explicit;
                out.stat = Some(stat);
                return out;
            }
        };
        if source.is_none() {
            for (r, _) in &batch.recs {
                if let Ok(n) = crate::node::parse(&batch.data[r.clone()]) {
                    source = SourceKind::detect(&n);
                    break;
                }
            }
            if source.is_none() {
                out.problems.push(Problem {
                    file: name.clone(),
                    line: 0,
                    record: 0,
                    kind: "unknown_type".into(),
                    message: "JSON records of an unknown audit log (use --source to force one)".into(),
                });
                out.failed = explicit;
                out.stat = Some(stat);
                return out;
            }
            stat.source = source;
        }
        let src = source.unwrap();
        let keep = ctx.keep.get(&src);
        let rule_idx: &[usize] = ctx.by_source.get(&src).map(|v| v.as_slice()).unwrap_or(&[]);
        let novelty = ctx.opts.baseline.is_some();
        let res: Vec<RecOut> = batch
            .recs
            .par_iter()
            .with_min_len(256)
            .map(|(r, pos)| {
                let raw = &batch.data[r.clone()];
                let mut ro = RecOut::default();
                let node = match parse_filtered(raw, keep) {
                    Ok(n @ Node::Obj(_)) => n,
                    Ok(_) => {
                        ro.malformed = Some("record is not a JSON object".into());
                        return ro;
                    }
                    Err(e) => {
                        ro.malformed = Some(format!("bad JSON: {e}"));
                        return ro;
                    }
                };
                let Some(t) = src.event_time(&node) else {
                    ro.malformed = Some(format!("missing or unparsable timestamp for {src}"));
                    return ro;
                };
                ro.in_window = ctx.opts.window.is_none_or(|w| w.contains(t));
                ro.in_baseline = ctx.opts.baseline.is_some_and(|w| w.contains(t));
                if ro.in_window {
                    for &i in rule_idx {
                        let rule = &ctx.rules[i];
                        if rule.matches(&node, raw) {
                            match &rule.aggregation {
                                None => ro.hits.push(i),
                                Some(a) => {
                                    let g =
                                        a.by.as_deref()
                                            .and_then(|b| node.path_str(b))
                                            .map(|s| s.into_owned())
                                            .unwrap_or_default();
                                    let v = a
                                        .field
                                        .as_deref()
                                        .and_then(|f| node.path_str(f))
                                        .map(|s| s.into_owned());
                                    ro.agg.push((i, g, v));
                                }
                            }
                        }
                    }
                }
                if !ro.hits.is_empty() || !ro.agg.is_empty() || (novelty && (ro.in_window || ro.in_baseline))
                {
                    let mut ev = src.normalise(&node, Some(t));
                    ev.line = pos.line;
                    ev.record = pos.index;
                    ro.event = Some(ev);
                }
                ro
            })
            .collect();
        for (ro, (_, pos)) in res.into_iter().zip(batch.recs.iter()) {
            stat.records += 1;
            if let Some(m) = ro.malformed {
                stat.malformed += 1;
                out.malformed += 1;
                out.failed = true;
                push_problem(
                    &mut out,
                    &mut detail,
                    Problem {
                        file: name.clone(),
                        line: pos.line,
                        record: pos.index,
                        kind: "malformed".into(),
                        message: m,
                    },
                );
                continue;
            }
            out.in_window += ro.in_window as u64;
            out.in_baseline += ro.in_baseline as u64;
            let Some(mut ev) = ro.event else { continue };
            ev.file = name.clone();
            if novelty {
                let id = ev.actor.clone().unwrap_or_else(|| "(unknown)".into());
                let vals = [
                    ev.source_ip.clone(),
                    ev.user_agent.clone(),
                    ev.location.clone(),
                    ev.action.clone(),
                ];
                if ro.in_baseline {
                    let sets = out.base.entry(id.clone()).or_default();
                    for (k, v) in vals.iter().enumerate() {
                        if let Some(v) = v {
                            sets[k].insert(v.clone());
                        }
                    }
                }
                if ro.in_window {
                    for (k, v) in vals.iter().enumerate() {
                        if let Some(v) = v {
                            let key = (id.clone(), k as u8, v.clone());
                            match out.novel.get(&key) {
                                Some(old) if old.time <= ev.time => {}
                                _ => {
                                    out.novel.insert(key, ev.clone());
                                }
                            }
                        }
                    }
                }
            }
            for (i, g, v) in ro.agg {
                out.agg.push(AggHit {
                    rule: i,
                    group: g,
                    value: v,
                    event: ev.clone(),
                });
            }
            for i in ro.hits {
                out.hits.push((i, ev.clone()));
            }
        }
    }
    if detail > MAX_PROBLEMS_PER_FILE {
        out.problems.push(Problem {
            file: name.clone(),
            line: 0,
            record: 0,
            kind: "malformed".into(),
            message: format!(
                "{} more malformed records not listed",
                detail - MAX_PROBLEMS_PER_FILE
            ),
        });
    }
    if !sp.problems.is_empty() {
        out.failed = true;
        out.problems.extend(sp.problems);
    }
    out.stat = Some(stat);
    out
}

fn aggregate(rules: &[Rule], hits: Vec<AggHit>, findings: &mut Vec<Finding>) {
    let mut groups: HashMap<(usize, String), Vec<AggHit>> = HashMap::new();
    for h in hits {
        groups.entry((h.rule, h.group.clone())).or_default().push(h);
    }
    let mut keys: Vec<_> = groups.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let mut hs = groups.remove(&key).unwrap();
        let rule = &rules[key.0];
        let a = rule.aggregation.as_ref().unwrap();
        hs.sort_by_key(|x| x.event.time);
        let tf = a.timeframe.map(chrono::Duration::seconds);
        let mut start = 0;
        let mut counts: HashMap<Option<String>, usize> = HashMap::new();
        let mut i = 0;
        while i < hs.len() {
            let t: DateTime<Utc> = hs[i].event.time.unwrap_or_default();
            if let Some(tf) = tf {
                while start < i && hs[start].event.time.unwrap_or_default() + tf <= t {
                    let k = hs[start].value.clone();
                    if let Some(c) = counts.get_mut(&k) {
                        *c -= 1;
                        if *c == 0 {
                            counts.remove(&k);
                        }
                    }
                    start += 1;
                }
            }
            *counts.entry(hs[i].value.clone()).or_default() += 1;
            let n = if a.field.is_some() {
                counts.keys().filter(|k| k.is_some()).count()
            } else {
                i + 1 - start
            };
            let last = i + 1 == hs.len();
            // with a timeframe fire as soon as the threshold is crossed; without, judge the total
            let fire = if tf.is_some() {
                a.op.apply(n as f64, a.threshold)
            } else {
                last && a.op.apply(n as f64, a.threshold)
            };
            if fire {
                let what = match &a.field {
                    Some(f) => format!("distinct {f}"),
                    None => "events".into(),
                };
                let by =
                    a.by.as_deref()
                        .map(|b| format!(" by {b}={}", key.1))
                        .unwrap_or_default();
                let within = a.timeframe.map(|s| format!(" within {s}s")).unwrap_or_default();
                let ev = hs[i].event.clone();
                findings.push(Finding {
                    id: stable_id(&[&rule.id, &ev.file, &ev.record.to_string(), &key.1]),
                    kind: FindingKind::Aggregate,
                    rule_id: rule.id.clone(),
                    title: rule.title.clone(),
                    level: rule.level,
                    detail: Some(format!("{n} {what}{by}{within} ({} {})", a.op.sym(), a.threshold)),
                    event: ev,
                });
                // start a fresh window after a firing
                counts.clear();
                start = i + 1;
            }
            i += 1;
        }
    }
}

fn novelty(
    base: HashMap<String, [HashSet<String>; 4]>,
    novel: HashMap<(String, u8, String), Event>,
    findings: &mut Vec<Finding>,
) {
    let mut new_ids: HashMap<String, Event> = HashMap::new();
    for ((id, k, v), ev) in novel {
        let known = base.get(&id);
        if known.is_none() {
            match new_ids.get(&id) {
                Some(old) if old.time <= ev.time => {}
                _ => {
                    new_ids.insert(id.clone(), ev.clone());
                }
            }
        }
        if known.is_some_and(|s| s[k as usize].contains(&v)) {
            continue;
        }
        let (what, title, level) = NOVEL[k as usize];
        findings.push(Finding {
            id: stable_id(&["novelty", what, &id, &v]),
            kind: FindingKind::Novelty,
            rule_id: format!("novelty.{what}"),
            title: title.into(),
            level,
            detail: Some(format!("{what} {v:?} never seen for {id} in the baseline")),
            event: ev,
        });
    }
    for (id, ev) in new_ids {
        findings.push(Finding {
            id: stable_id(&["novelty", "identity", &id]),
            kind: FindingKind::Novelty,
            rule_id: "novelty.identity".into(),
            title: "Identity not seen in the baseline".into(),
            level: Level::Medium,
            detail: Some(format!("{id} has no activity in the baseline")),
            event: ev,
        });
    }
}

/// Findings per rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    /// Rule id.
    pub rule_id: String,
    /// Title.
    pub title: String,
    /// Level.
    pub level: Level,
    /// Number of findings.
    pub findings: usize,
}

/// Findings per identity.
#[derive(Debug, Clone, Serialize)]
pub struct IdentitySummary {
    /// The identity (normalised actor).
    pub actor: String,
    /// Number of findings.
    pub findings: usize,
    /// Highest level among them.
    pub max_level: Level,
    /// First finding time.
    pub first: Option<DateTime<Utc>>,
    /// Last finding time.
    pub last: Option<DateTime<Utc>>,
    /// Distinct rule ids.
    pub rules: Vec<String>,
}

/// Summary of a hunt.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Per rule, most findings first.
    pub by_rule: Vec<RuleSummary>,
    /// Per identity, highest level then most findings first.
    pub by_identity: Vec<IdentitySummary>,
}

impl HuntReport {
    /// Summarises the findings per rule and per identity.
    pub fn summary(&self) -> Summary {
        let mut rules: HashMap<&str, RuleSummary> = HashMap::new();
        let mut ids: HashMap<String, IdentitySummary> = HashMap::new();
        for f in &self.findings {
            rules
                .entry(&f.rule_id)
                .or_insert_with(|| RuleSummary {
                    rule_id: f.rule_id.clone(),
                    title: f.title.clone(),
                    level: f.level,
                    findings: 0,
                })
                .findings += 1;
            let actor = f.event.actor.clone().unwrap_or_else(|| "(unknown)".into());
            let e = ids.entry(actor.clone()).or_insert_with(|| IdentitySummary {
                actor,
                findings: 0,
                max_level: f.level,
                first: f.event.time,
                last: f.event.time,
                rules: vec![],
            });
            e.findings += 1;
            e.max_level = e.max_level.max(f.level);
            e.first = e.first.min(f.event.time).or(f.event.time);
            e.last = e.last.max(f.event.time);
            if !e.rules.contains(&f.rule_id) {
                e.rules.push(f.rule_id.clone());
            }
        }
        let mut by_rule: Vec<_> = rules.into_values().collect();
        by_rule.sort_by(|a, b| b.findings.cmp(&a.findings).then(a.rule_id.cmp(&b.rule_id)));
        let mut by_identity: Vec<_> = ids.into_values().collect();
        by_identity.sort_by(|a, b| {
            b.max_level
                .cmp(&a.max_level)
                .then(b.findings.cmp(&a.findings))
                .then(a.actor.cmp(&b.actor))
        });
        Summary { by_rule, by_identity }
    }
}
