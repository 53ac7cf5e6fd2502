//! The hunt: stream every file, match rules inside the window, aggregate, find novelty.
//!
//! Findings stream out as they are produced ([`FindingSink`]): the rule findings of each
//! file in record order, files in input order (files are read in parallel; a file that
//! gets ahead waits for its turn within a memory budget, then in a temporary file); then,
//! once every input is read, the aggregation findings (per rule, per group) and the
//! novelty findings (by event time). Nothing that grows with the number of findings is
//! kept: the summary is counters, and novelty and aggregation state move to an on-disk
//! SQLite database in a temporary directory past their limits ([`Limits`]).

use crate::bounded::{
    key, subnet_of, AggHit, Aggs, Novelty, Order, Sequencer, Sighting, SpillDir, SummaryBuilder, NOVEL,
};
use crate::node::{parse_filtered, Node};
use crate::reader::{open, problem, walk, Problem, Splitter};
use crate::sigma::{top_keys, Rule, Unsupported};
use crate::source::{Event, SourceKind, ALL_SOURCES};
use chrono::{DateTime, Utc};
use firebreak_core::secret::{redact_secrets, redact_secrets_in, SecretMatcher};
use firebreak_core::{finding::stable_id, Level, TimeWindow};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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

impl RuleSet {
    /// The warnings of the rules that run ([`Rule::warnings`]): a field a rule names that
    /// its logsource cannot hold, where the rule can still fire (in a `not` filter...).
    pub fn warnings(&self) -> Vec<Unsupported> {
        self.rules
            .iter()
            .flat_map(|r| {
                r.warnings.iter().map(|w| Unsupported {
                    file: r.file.clone(),
                    rule: r.title.clone(),
                    reason: w.clone(),
                })
            })
            .collect()
    }
}

/// Memory bounds of a hunt. Past each, the state moves to a temporary directory (and
/// gives the same findings); the defaults keep a hunt within a few hundred MB whatever
/// the input size and the number of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of findings held in memory for files that finished ahead of their turn in
    /// the output (default 32 MiB); past it they wait in temporary files.
    pub output_bytes: usize,
    /// Distinct novelty keys (baseline values and first sightings in the window, per
    /// identity and dimension) held in memory (default 200 000).
    pub novelty_keys: usize,
    /// Bytes of novelty state held in memory (default 64 MiB).
    pub novelty_bytes: usize,
    /// Hits of `| count()` rules held in memory (default 100 000).
    pub aggregation_hits: usize,
    /// Bytes of aggregation hits held in memory (default 64 MiB).
    pub aggregation_bytes: usize,
    /// Identities itemised in the summary (default 10 000); the others are counted.
    pub summary_identities: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            output_bytes: 32 << 20,
            novelty_keys: 200_000,
            novelty_bytes: 64 << 20,
            aggregation_hits: 100_000,
            aggregation_bytes: 64 << 20,
            summary_identities: 10_000,
        }
    }
}

/// How to hunt.
#[derive(Clone, Default)]
pub struct HuntOptions {
    /// Only events in this window are matched (None: all time).
    pub window: Option<TimeWindow>,
    /// Baseline period for novelty (None: no novelty findings).
    pub baseline: Option<TimeWindow>,
    /// Force the source kind instead of detecting it.
    pub source: Option<SourceKind>,
    /// Finds secrets in the log values copied into findings (event fields, group values,
    /// novelty values), which are then redacted. None: values are copied as they are.
    pub secrets: Option<Arc<dyn SecretMatcher>>,
    /// Memory bounds.
    pub limits: Limits,
    /// Which findings are reported (minimum level, allowed actors and addresses).
    pub filter: Option<Arc<crate::filter::FindingFilter>>,
}

impl std::fmt::Debug for HuntOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuntOptions")
            .field("window", &self.window)
            .field("baseline", &self.baseline)
            .field("source", &self.source)
            .field("secrets", &self.secrets.as_ref().map(|_| "matcher"))
            .field("limits", &self.limits)
            .field("filter", &self.filter)
            .finish()
    }
}

/// What produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// Where a hunt's findings go, one at a time, as they are produced.
pub trait FindingSink: Send {
    /// Takes one finding. An error stops the hunt: the rest of the input is not read,
    /// and the report says why ([`HuntReport::stopped`]).
    fn finding(&mut self, f: Finding) -> std::io::Result<()>;
}

impl FindingSink for Vec<Finding> {
    fn finding(&mut self, f: Finding) -> std::io::Result<()> {
        self.push(f);
        Ok(())
    }
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
    /// The findings, in output order, when the hunt collected them ([`hunt`],
    /// [`hunt_reader`]); empty when they went to a [`FindingSink`].
    pub findings: Vec<Finding>,
    /// Number of findings reported.
    pub found: u64,
    /// Findings held back by the filter (`--min-level`, `--allow-actor`, `--allow-ip`).
    pub suppressed: u64,
    /// Problems with inputs (malformed records, truncated files, unknown types);
    /// serialised in hunt's JSON shape ([`crate::reader::problem_json`]).
    #[serde(serialize_with = "crate::reader::serialize_problems")]
    pub problems: Vec<Problem>,
    /// Rules that were not run, with reasons.
    pub unsupported: Vec<Unsupported>,
    /// Rules that run with a warning ([`RuleSet::warnings`]).
    pub rule_warnings: Vec<Unsupported>,
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
    /// Why the hunt stopped before the end (the sink or a temporary file failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Times novelty or aggregation state moved to disk (0: it all fitted in memory).
    pub spills: u64,
    #[serde(skip)]
    summary: Summary,
}

impl HuntReport {
    /// Summary of the findings per rule and per identity (counted as they were produced).
    pub fn summary(&self) -> Summary {
        self.summary.clone()
    }
}

#[derive(Default)]
struct FileOut {
    stat: Option<FileStat>,
    problems: Vec<Problem>,
    malformed: u64,
    failed: bool,
    in_window: u64,
    in_baseline: u64,
}

/// Hashed novelty keys of one event (computed on the raw values, before redaction).
struct NovKeys {
    ident: u128,
    vals: [Option<u128>; 5],
}

#[derive(Default)]
struct RecOut {
    malformed: Option<String>,
    in_window: bool,
    in_baseline: bool,
    /// Rules hit, ordered by rule id.
    hits: Vec<usize>,
    /// (rule, redacted group, group key, counted-value key).
    agg: Vec<(usize, String, u128, Option<u128>)>,
    event: Option<Event>,
    nov: Option<NovKeys>,
}

struct Ctx<'r> {
    rules: &'r [Rule],
    by_source: HashMap<SourceKind, Vec<usize>>,
    /// Top-level keys to materialise per source (absent: the whole record).
    keep: HashMap<SourceKind, HashSet<String>>,
    opts: &'r HuntOptions,
}

/// Shared state of one run.
struct Run<'r, 's> {
    ctx: Ctx<'r>,
    out: Mutex<Sequencer<'s>>,
    novelty: Mutex<Novelty>,
    aggs: Mutex<Aggs>,
    stop: AtomicBool,
    failure: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'r, 's> Run<'r, 's> {
    fn new(rules: &'r RuleSet, opts: &'r HuntOptions, files: usize, sink: &'s mut dyn FindingSink) -> Self {
        let l = opts.limits;
        let dir = Arc::new(SpillDir::default());
        Run {
            ctx: Ctx::new(rules, opts),
            out: Mutex::new(Sequencer::new(
                sink,
                files,
                l.output_bytes,
                dir.clone(),
                SummaryBuilder::new(l.summary_identities),
                opts.filter.clone(),
            )),
            novelty: Mutex::new(Novelty::new(l.novelty_keys, l.novelty_bytes, dir.clone())),
            aggs: Mutex::new(Aggs::new(l.aggregation_hits, l.aggregation_bytes, dir)),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    fn fail(&self, why: String) {
        lock(&self.failure).get_or_insert(why);
        self.stop.store(true, Ordering::Relaxed);
    }

    fn emit(&self, fi: usize, findings: Vec<Finding>) {
        let mut o = lock(&self.out);
        o.emit(fi, findings);
        if o.error.is_some() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// After every input: aggregation then novelty findings, and the report.
    fn finish(self, rules: &RuleSet, mut problems: Vec<Problem>, outs: Vec<FileOut>) -> HuntReport {
        let mut rep = HuntReport {
            unsupported: rules.unsupported.clone(),
            rule_warnings: rules.warnings(),
            failed_inputs: problems.len(),
            ..HuntReport::default()
        };
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
        }
        rep.problems = problems;
        let Run {
            out,
            novelty,
            aggs,
            stop,
            failure,
            ..
        } = self;
        let mut out = out.into_inner().unwrap_or_else(|p| p.into_inner());
        let novelty = novelty.into_inner().unwrap_or_else(|p| p.into_inner());
        let aggs = aggs.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut failure = failure.into_inner().unwrap_or_else(|p| p.into_inner());
        rep.spills = novelty.spills + aggs.spills;
        if !stop.load(Ordering::Relaxed) {
            let mut emit = |f: Finding| out.write(f);
            if let Err(e) = aggs.finish(&rules.rules, &mut emit) {
                failure.get_or_insert(e.to_string());
            }
            if let Err(e) = novelty.finish(&mut emit) {
                failure.get_or_insert(e.to_string());
            }
        }
        if let Some(e) = &out.error {
            failure.get_or_insert(format!("output: {e}"));
        }
        if let Some(why) = failure {
            rep.failed_inputs += 1;
            rep.stopped = Some(why);
        }
        rep.found = out.written;
        rep.suppressed = out.suppressed;
        rep.summary = out.summary.finish();
        rep
    }
}

/// Runs the hunt over files and directories, collecting the findings in
/// [`HuntReport::findings`] (in output order). See [`hunt_into`] to stream them instead.
pub fn hunt(paths: &[PathBuf], rules: &RuleSet, opts: &HuntOptions) -> HuntReport {
    let mut v: Vec<Finding> = Vec::new();
    let mut rep = hunt_into(paths, rules, opts, &mut v);
    rep.findings = v;
    rep
}

/// Runs the hunt over files and directories, giving each finding to `sink` as soon as it
/// is produced (see the module documentation for the order). Memory stays within
/// [`HuntOptions::limits`] whatever the number of findings.
pub fn hunt_into(
    paths: &[PathBuf],
    rules: &RuleSet,
    opts: &HuntOptions,
    sink: &mut dyn FindingSink,
) -> HuntReport {
    let (files, problems) = walk(paths);
    let explicit: HashSet<PathBuf> = paths.iter().cloned().collect();
    let run = Run::new(rules, opts, files.len(), sink);
    // Files are taken in input order by one worker per thread, so that a file finishing
    // ahead of its turn in the output is at most a few files ahead (its findings wait);
    // records within a file are still matched in parallel.
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<FileOut>>> = files.iter().map(|_| Mutex::new(None)).collect();
    let workers = rayon::current_num_threads().clamp(1, files.len().max(1));
    rayon::scope(|s| {
        for _ in 0..workers {
            s.spawn(|_| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let name = f.display().to_string();
                let out = match open(f) {
                    Ok(r) => hunt_stream(r, &name, i, &run, explicit.contains(f)),
                    Err(e) => unreadable_out(&name, &e),
                };
                lock(&run.out).file_done(i);
                *lock(&slots[i]) = Some(out);
            });
        }
    });
    let outs: Vec<FileOut> = slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default()
        })
        .collect();
    run.finish(rules, problems, outs)
}

/// Runs the hunt over one stream (stdin, a download, bytes in memory) that `name` names in
/// problems and findings, collecting the findings. Gzip is recognised by its magic bytes,
/// as for files; the stream is read record by record with the same bounded memory as a file.
pub fn hunt_reader(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    rules: &RuleSet,
    opts: &HuntOptions,
) -> HuntReport {
    let mut v: Vec<Finding> = Vec::new();
    let mut rep = hunt_reader_into(name, reader, rules, opts, &mut v);
    rep.findings = v;
    rep
}

/// [`hunt_reader`], giving each finding to `sink` as soon as it is produced.
pub fn hunt_reader_into(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    rules: &RuleSet,
    opts: &HuntOptions,
    sink: &mut dyn FindingSink,
) -> HuntReport {
    let run = Run::new(rules, opts, 1, sink);
    let out = match crate::reader::decompress(reader) {
        Ok(r) => hunt_stream(r, name, 0, &run, true),
        Err(e) => unreadable_out(name, &e),
    };
    lock(&run.out).file_done(0);
    run.finish(rules, Vec::new(), vec![out])
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
            // keywords search every string value: such a source is parsed whole
            if rs.iter().any(|r| r.uses_keywords()) {
                continue;
            }
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

    /// Redacts the secrets in the event's values.
    fn redact(&self, ev: &mut Event) {
        let Some(m) = self.opts.secrets.as_deref() else {
            return;
        };
        let mut vals: Vec<&mut String> = [
            &mut ev.actor,
            &mut ev.actor_type,
            &mut ev.action,
            &mut ev.target,
            &mut ev.source_ip,
            &mut ev.user_agent,
            &mut ev.outcome,
            &mut ev.error_code,
            &mut ev.location,
            &mut ev.region,
            &mut ev.event_id,
        ]
        .into_iter()
        .filter_map(|v| v.as_mut())
        .collect();
        redact_secrets_in(&mut vals, m);
    }

    fn redact_str(&self, s: String) -> String {
        match self.opts.secrets.as_deref() {
            Some(m) => match redact_secrets(&s, m) {
                std::borrow::Cow::Borrowed(_) => s,
                std::borrow::Cow::Owned(r) => r,
            },
            None => s,
        }
    }
}

fn unreadable_out(name: &str, e: &std::io::Error) -> FileOut {
    FileOut {
        failed: true,
        problems: vec![problem(name, 0, 0, "unreadable", e.to_string())],
        ..FileOut::default()
    }
}

/// Matches one record (run in parallel within a batch).
fn match_record(ctx: &Ctx, src: SourceKind, raw: &[u8], pos: crate::reader::RecordPos, name: &str) -> RecOut {
    let keep = ctx.keep.get(&src);
    let rule_idx: &[usize] = ctx.by_source.get(&src).map(|v| v.as_slice()).unwrap_or(&[]);
    let novelty = ctx.opts.baseline.is_some();
    let mut ro = RecOut::default();
    let mut node = match parse_filtered(raw, keep) {
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
    // A time field that does not read as a time is a problem. A record without one is
    // matched when there is no window (and has no time in the output); with a window it
    // cannot be placed in it and is a problem too.
    src.derive(&mut node);
    let t = src.event_time(&node);
    if t.is_none() {
        if src.time_node(&node).is_some() {
            ro.malformed = Some(format!("unparsable timestamp for {src}"));
            return ro;
        }
        if ctx.opts.window.is_some() && !src.timeless() {
            ro.malformed = Some(format!("missing timestamp for {src} (needed by --window)"));
            return ro;
        }
    }
    ro.in_window = match (ctx.opts.window, t) {
        (Some(w), Some(t)) => w.contains(t),
        _ => true,
    };
    ro.in_baseline = t.is_some_and(|t| ctx.opts.baseline.is_some_and(|w| w.contains(t)));
    if ro.in_window {
        for &i in rule_idx {
            let rule = &ctx.rules[i];
            if rule.matches_in(src, &node, raw) {
                match &rule.aggregation {
                    None => ro.hits.push(i),
                    Some(a) => {
                        let g =
                            a.by.as_deref()
                                .and_then(|b| rule.value_of(src, &node, b))
                                .unwrap_or_default();
                        let v = a
                            .field
                            .as_deref()
                            .and_then(|f| rule.value_of(src, &node, f))
                            .map(|s| key(&[&s]));
                        let gkey = key(&[&g]);
                        ro.agg.push((i, ctx.redact_str(g), gkey, v));
                    }
                }
            }
        }
        if ro.hits.len() > 1 {
            ro.hits.sort_by(|&a, &b| ctx.rules[a].id.cmp(&ctx.rules[b].id));
        }
    }
    let nov = novelty && (ro.in_window || ro.in_baseline);
    if !ro.hits.is_empty() || !ro.agg.is_empty() || nov {
        let mut ev = src.normalise(&node, t);
        ev.line = pos.line;
        ev.record = pos.index;
        ev.file = name.to_string();
        if nov {
            let id = ev.actor.as_deref().unwrap_or("(unknown)");
            let vals = [&ev.source_ip, &ev.user_agent, &ev.location, &ev.action];
            let mut keys = [None; 5];
            for (k, v) in vals.iter().enumerate() {
                if let Some(v) = v {
                    keys[k] = Some(key(&["novelty", NOVEL[k].0, id, v]));
                }
            }
            if let Some(net) = ev.source_ip.as_deref().and_then(subnet_of) {
                keys[4] = Some(key(&["novelty", NOVEL[4].0, id, &net]));
            }
            ro.nov = Some(NovKeys {
                ident: key(&["novelty", "identity", id]),
                vals: keys,
            });
        }
        ctx.redact(&mut ev);
        ro.event = Some(ev);
    }
    ro
}

fn hunt_stream(
    rdr: Box<dyn std::io::Read + Send>,
    name: &str,
    fi: usize,
    run: &Run,
    explicit: bool,
) -> FileOut {
    let ctx = &run.ctx;
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
    let mut skipped = 0;
    loop {
        if run.stop.load(Ordering::Relaxed) {
            break;
        }
        let batch = match sp.next_batch() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(m) => {
                out.problems.push(problem(&name, 0, 0, "unknown_type", m));
                out.failed = explicit;
                out.stat = Some(stat);
                return out;
            }
        };
        // records too long to read, skipped by the splitter: counted as malformed
        let now = sp.skipped();
        stat.records += now - skipped;
        stat.malformed += now - skipped;
        out.malformed += now - skipped;
        skipped = now;
        if source.is_none() && sp.layout() == Some(crate::reader::Layout::AuditCsv) {
            // a Purview audit search export holds Microsoft 365 records only
            source = Some(SourceKind::M365);
            stat.source = source;
        }
        if source.is_none() {
            for (r, _) in &batch.recs {
                if let Ok(n) = crate::node::parse(&batch.data[r.clone()]) {
                    source = SourceKind::detect(&n);
                    break;
                }
            }
            if source.is_none() {
                out.problems.push(problem(
                    &name,
                    0,
                    0,
                    "unknown_type",
                    "JSON records of an unknown audit log (use --source to force one)",
                ));
                out.failed = explicit;
                out.stat = Some(stat);
                return out;
            }
            stat.source = source;
        }
        let src = source.unwrap_or_default();
        let novelty = ctx.opts.baseline.is_some();
        let res: Vec<RecOut> = batch
            .recs
            .par_iter()
            .with_min_len(256)
            .map(|(r, pos)| match_record(ctx, src, &batch.data[r.clone()], *pos, &name))
            .collect();
        let mut findings: Vec<Finding> = Vec::new();
        let mut base: Vec<u128> = Vec::new();
        let mut seen: Vec<Sighting> = Vec::new();
        let mut agg: Vec<AggHit> = Vec::new();
        for (ro, (_, pos)) in res.into_iter().zip(batch.recs.iter()) {
            stat.records += 1;
            if let Some(m) = ro.malformed {
                stat.malformed += 1;
                out.malformed += 1;
                out.failed = true;
                push_problem(
                    &mut out,
                    &mut detail,
                    problem(&name, pos.line, pos.index, "malformed", m),
                );
                continue;
            }
            out.in_window += ro.in_window as u64;
            out.in_baseline += ro.in_baseline as u64;
            let Some(ev) = ro.event else { continue };
            let order = Order {
                time: ev.time,
                file: fi as u32,
                record: ev.record,
            };
            for &i in &ro.hits {
                let r = &ctx.rules[i];
                findings.push(Finding {
                    id: stable_id(&[&r.id, &ev.file, &ev.record.to_string()]),
                    kind: FindingKind::Rule,
                    rule_id: r.id.clone(),
                    title: r.title.clone(),
                    level: r.level,
                    detail: None,
                    event: ev.clone(),
                });
            }
            if ro.agg.is_empty() && !(novelty && ro.nov.is_some()) {
                continue;
            }
            let ev = Arc::new(ev);
            if let (true, Some(nk)) = (novelty, &ro.nov) {
                if ro.in_baseline {
                    base.push(nk.ident);
                    base.extend(nk.vals.iter().flatten());
                }
                if ro.in_window {
                    for (d, k) in nk.vals.iter().enumerate() {
                        if let Some(k) = k {
                            seen.push(Sighting {
                                key: *k,
                                dim: d as u8,
                                ident: nk.ident,
                                order,
                                event: ev.clone(),
                            });
                        }
                    }
                }
            }
            for (i, group, gkey, vkey) in ro.agg {
                agg.push(AggHit {
                    rule: i,
                    group,
                    gkey,
                    vkey,
                    order,
                    event: ev.clone(),
                });
            }
        }
        drop(batch);
        if !findings.is_empty() {
            run.emit(fi, findings);
        }
        if !base.is_empty() || !seen.is_empty() {
            if let Err(e) = lock(&run.novelty).add(base, seen) {
                run.fail(e.to_string());
            }
        }
        if !agg.is_empty() {
            if let Err(e) = lock(&run.aggs).add(agg) {
                run.fail(e.to_string());
            }
        }
    }
    let now = sp.skipped();
    stat.records += now - skipped;
    stat.malformed += now - skipped;
    out.malformed += now - skipped;
    if detail > MAX_PROBLEMS_PER_FILE {
        out.problems.push(problem(
            &name,
            0,
            0,
            "malformed",
            format!(
                "{} more malformed records not listed",
                detail - MAX_PROBLEMS_PER_FILE
            ),
        ));
    }
    if !sp.problems.is_empty() {
        out.failed = true;
        out.problems.append(&mut sp.problems);
    }
    if sp.unlisted_problems() > 0 {
        out.problems.push(problem(
            &name,
            0,
            0,
            "malformed",
            format!("{} more problems not listed", sp.unlisted_problems()),
        ));
    }
    out.stat = Some(stat);
    out
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Per rule, most findings first.
    pub by_rule: Vec<RuleSummary>,
    /// Per identity, highest level then most findings first (at most
    /// [`Limits::summary_identities`]).
    pub by_identity: Vec<IdentitySummary>,
    /// Identities with findings past that limit: counted, not listed (counted up to
    /// 100 000; past that, at least that many).
    pub identities_not_listed: u64,
    /// Findings of those identities.
    pub findings_not_listed: u64,
}
