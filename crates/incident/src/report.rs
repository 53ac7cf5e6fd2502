//! `firebreak report`: the self-contained HTML report (inline CSS and SVG, no script, no
//! external reference, so it opens offline) and its Markdown twin.
//!
//! Both are rendered from [`ReportData`]: the [`Status`] plus the recorded events, read
//! from the store at the time of the call. Every piece of text from the store is escaped;
//! secrets appear only as the redacted prefix and the fingerprint the scanner recorded.

use crate::status::{covered, load_incident, Cover, SecretCounts, Status, TaskStatus};
use crate::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use firebreak_rotate::plan::{Plan, SourceSpec};
use firebreak_store::{fmt_time, IncidentEvent, IncidentRecord, Store};
use maud::{html, Markup, PreEscaped, Render, DOCTYPE};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The status.
    pub status: Status,
    /// Recorded outputs.
    pub records: Vec<IncidentRecord>,
    /// Recorded events.
    pub events: Vec<IncidentEvent>,
    /// Rotation records of the playbook's secrets (identity, time, source) at or after the
    /// window start.
    pub rotations: Vec<(String, DateTime<Utc>, String)>,
    /// The instructions of each task held as a manual step, by task identity (from the
    /// plan of its rotation run).
    pub manual_steps: BTreeMap<String, String>,
}

/// Reads what the report needs from the store.
pub fn gather(store: &Store, name: &str) -> Result<ReportData> {
    let status = crate::status(store, name)?;
    let inc = load_incident(store, name)?;
    let records = store.incident_records(inc.id)?;
    let events = store.incident_events(inc.id)?;
    let ids: BTreeSet<&str> = status.tasks.iter().map(|t| t.identity.as_str()).collect();
    let rotations = store
        .rotation_records()?
        .into_iter()
        .filter(|r| ids.contains(r.identity.as_str()) && r.rotated_at >= inc.window_start)
        .map(|r| (r.identity, r.rotated_at, r.source))
        .collect();
    let manual_steps = manual_steps(store, &status)?;
    Ok(ReportData {
        status,
        records,
        events,
        rotations,
        manual_steps,
    })
}

/// The instructions of the manual steps, read from the plans of the tasks' rotation runs.
fn manual_steps(store: &Store, status: &Status) -> Result<BTreeMap<String, String>> {
    let manual: Vec<&TaskStatus> = status.tasks.iter().filter(|t| t.state == "manual").collect();
    let mut out = BTreeMap::new();
    if manual.is_empty() {
        return Ok(out);
    }
    for run in store.rotation_runs_view()? {
        if !manual
            .iter()
            .any(|t| t.rotation_run.as_deref() == Some(run.run_id.as_str()))
        {
            continue;
        }
        let Ok(plan) = Plan::parse(&run.plan, &format!("(plan of run {})", run.run_id)) else {
            continue;
        };
        for spec in &plan.secrets {
            let SourceSpec::Manual { instructions } = &spec.source else {
                continue;
            };
            for c in covered(spec) {
                for t in &manual {
                    let hit = match &c {
                        Cover::Exact(id) => *id == t.identity,
                        Cover::Prefix(p) => t.identity.starts_with(p.as_str()),
                    };
                    if hit && t.rotation_run.as_deref() == Some(run.run_id.as_str()) {
                        out.insert(t.identity.clone(), instructions.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The files written.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.html`.
    pub html: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
}

/// Writes `report.html` and `report.md` into `dir` (created when missing).
pub fn write(data: &ReportData, dir: &Path) -> Result<Written> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let html = dir.join("report.html");
    let md = dir.join("report.md");
    std::fs::write(&html, render_html_in(data, Some(dir))).map_err(|e| io(&html, e))?;
    std::fs::write(&md, render_markdown(data)).map_err(|e| io(&md, e))?;
    Ok(Written { html, markdown: md })
}

/// Escapes text for a Markdown table cell (pipes, HTML, line breaks, backticks).
pub fn md(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => o.push_str("\\|"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '`' => o.push('\''),
            '*' | '_' | '[' | ']' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c if c.is_control() => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

fn parse_t(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn short_t(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn dstr(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(x) => x.to_string(),
    }
}

const LEVELS: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

fn level_rank(l: &str) -> usize {
    LEVELS.iter().position(|x| *x == l).unwrap_or(LEVELS.len())
}

/// Maps the playbook's audit-log names to the hunt source kinds that read them.
fn log_source(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if n.contains("cloudtrail") {
        Some("cloudtrail")
    } else if n.contains("github audit") {
        Some("github")
    } else if n.contains("circleci audit") {
        Some("circleci")
    } else if n.contains("gcp") {
        Some("gcp")
    } else if n.contains("azure") {
        Some("azure")
    } else {
        None
    }
}

/// A hunt source kind as the coverage counts it (Azure sign-in and activity logs are one).
fn norm_source(s: &str) -> String {
    if s.starts_with("azure") {
        "azure".into()
    } else {
        s.to_string()
    }
}

/// How one line of "what was checked, and what was not" stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// Done (✔).
    Done,
    /// Done, but the result looks wrong (⚠): e.g. an inventory of a breached provider that
    /// found nothing.
    Warning,
    /// Not done (✘).
    Missing,
}

impl Check {
    /// The mark shown before the line.
    pub fn mark(self) -> &'static str {
        match self {
            Check::Done => "✔",
            Check::Warning => "⚠",
            Check::Missing => "✘",
        }
    }
    fn class(self) -> &'static str {
        match self {
            Check::Done => "ok",
            Check::Warning => "warn",
            Check::Missing => "no",
        }
    }
}

/// The rotation headline, saying both what is done and what is left: e.g. `33 of 35
/// secrets rotated with the old credential proven dead; 2 still to do (1 LIVE, 1 manual)`.
pub fn rotation_headline(sc: &SecretCounts) -> String {
    let done = sc.verified + sc.rotated;
    let left = sc.total.saturating_sub(done + sc.confirmed);
    if sc.total == 0 {
        return "no secrets in the playbook: nothing to rotate (was the right organisation inventoried?)"
            .into();
    }
    let by_hand = if sc.confirmed > 0 {
        format!("; {} confirmed done by a person (not proven)", sc.confirmed)
    } else {
        String::new()
    };
    if left == 0 && sc.confirmed > 0 {
        return format!(
            "{done} of {} secrets rotated with the old credential proven dead{by_hand}",
            sc.total
        );
    }
    if left == 0 {
        return format!(
            "all {} secrets rotated with the old credential proven dead",
            sc.total
        );
    }
    let parts: Vec<String> = [
        (sc.live, "LIVE"),
        (sc.stopped, "stopped"),
        (sc.pending, "not rotated"),
        (sc.manual, "manual"),
        (sc.not_checked, "not checked (no API lists them)"),
        (sc.rewritten, "old value not proven dead"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    format!(
        "{done} of {} secrets rotated with the old credential proven dead{by_hand}; {left} still to do ({})",
        sc.total,
        parts.join(", ")
    )
}

/// The audit logs the playbook calls for, by hunt source: `(source, secrets pointing
/// there, hunted?)`, plus the logs firebreak cannot hunt (`name (n)`), and every source
/// hunted.
struct LogCoverage {
    wanted: Vec<(&'static str, usize, bool)>,
    unknown: Vec<String>,
    hunted: BTreeSet<String>,
}

fn log_coverage(d: &ReportData) -> LogCoverage {
    let mut hunted: BTreeSet<String> = BTreeSet::new();
    for r in d.records.iter().filter(|r| r.kind == "hunt") {
        if let Some(a) = r.stats.get("sources").and_then(Value::as_array) {
            hunted.extend(a.iter().filter_map(|x| x.as_str().map(norm_source)));
        }
    }
    for e in d.events.iter().filter(|e| e.kind == "hunt_finding") {
        let src = dstr(&e.detail, "source");
        if !src.is_empty() {
            hunted.insert(norm_source(&src));
        }
    }
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for t in &d.status.tasks {
        for l in &t.hunt_logs {
            *wanted.entry(l.clone()).or_default() += 1;
        }
    }
    let mut unknown = Vec::new();
    let mut by_source: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (l, n) in &wanted {
        match log_source(l) {
            Some(src) => *by_source.entry(src).or_default() += n,
            None => unknown.push(format!("{l} ({n})")),
        }
    }
    LogCoverage {
        wanted: by_source
            .into_iter()
            .map(|(s, n)| (s, n, hunted.contains(s)))
            .collect(),
        unknown,
        hunted,
    }
}

/// What was checked and what was not, as (how it stands, sentence) lines.
pub fn coverage(d: &ReportData) -> Vec<(Check, String)> {
    let s = &d.status;
    let mut out = Vec::new();
    for snap in &s.snapshots {
        if snap.items == 0 {
            out.push((
                Check::Warning,
                format!(
                    "{} organisation {} inventoried, but 0 secrets found (snapshot {}, finished {}): a breached provider with nothing in it is most likely the wrong organisation or a token that cannot see it; check both and run `firebreak inventory` again",
                    snap.provider, snap.org, snap.id, snap.finished_at
                ),
            ));
        } else {
            out.push((
                Check::Done,
                format!(
                    "{} organisation {} inventoried (snapshot {}, {} secrets, finished {})",
                    snap.provider, snap.org, snap.id, snap.items, snap.finished_at
                ),
            ));
        }
        if snap.errors > 0 {
            out.push((
                Check::Missing,
                format!(
                    "{} scope(s) of {} {} could not be inventoried (snapshot {} recorded the errors: `firebreak inventory list`)",
                    snap.errors, snap.provider, snap.org, snap.id
                ),
            ));
        }
    }
    for p in &s.providers_not_inventoried {
        out.push((
            Check::Missing,
            format!("{p}: breached but never inventoried: its secrets are not in the playbook"),
        ));
    }
    let sc = &s.secrets;
    out.push((
        if sc.verified + sc.rotated == sc.total && sc.total > 0 {
            Check::Done
        } else {
            Check::Missing
        },
        format!(
            "{} ({} verified: new value in place and old one dead at its source; {} rotated by firebreak, which revoked the old one, not yet re-inventoried)",
            rotation_headline(sc),
            sc.verified,
            sc.rotated
        ),
    ));
    for (st, what) in [
        (
            "live",
            "LIVE: the stolen value still works at its source; revoke it there now",
        ),
        (
            "rewritten",
            "rewritten, the old credential not proven dead (check it with firebreak validate)",
        ),
        ("manual", "left as manual steps"),
        (
            "not_checked",
            "NOT checked: no API lists these kinds (CircleCI OAuth authorisations, personal API tokens), so firebreak cannot see them done; follow their steps by hand",
        ),
        (
            "stopped",
            "stopped or rolled back (the old credential is still valid)",
        ),
        ("pending", "not rotated at all"),
    ] {
        let v: Vec<String> = tasks_in(s, st).map(task_label).collect();
        if !v.is_empty() {
            out.push((
                Check::Missing,
                format!("{} secret(s) {what}: {}", v.len(), first_of(&v, 12)),
            ));
        }
    }
    let by_hand: Vec<String> = tasks_in(s, "confirmed")
        .map(|t| match &t.confirmed {
            Some(c) => format!("{} (by {}: {})", task_label(t), c.by, c.note),
            None => task_label(t),
        })
        .collect();
    if !by_hand.is_empty() {
        out.push((
            Check::Warning,
            format!(
                "{} secret(s) confirmed done by a person, which firebreak could not check: {}",
                by_hand.len(),
                first_of(&by_hand, 12)
            ),
        ));
    }
    let inferred = s.tasks.iter().filter(|t| t.inferred).count();
    if inferred > 0 {
        out.push((
            Check::Missing,
            format!(
                "{inferred} of {} blast radii are inferred from the secret's name only (no value, no API check)",
                s.tasks.len()
            ),
        ));
    }
    let logs = log_coverage(d);
    for (src, n, hunted) in &logs.wanted {
        if *hunted {
            out.push((
                Check::Done,
                format!("{src} logs hunted ({n} secret(s) point there)"),
            ));
        } else {
            out.push((
                Check::Missing,
                format!("{src} logs NOT hunted, though {n} secret(s) point there"),
            ));
        }
    }
    for src in &logs.hunted {
        if !logs.wanted.iter().any(|(w, _, _)| *w == src.as_str()) {
            out.push((Check::Done, format!("{src} logs hunted")));
        }
    }
    if !logs.unknown.is_empty() {
        out.push((
            Check::Missing,
            format!(
                "logs firebreak cannot hunt, to check by hand: {}",
                logs.unknown
                    .iter()
                    .take(12)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    if s.hunts.runs == 0 {
        out.push((
            Check::Missing,
            "no hunt recorded (`firebreak incident record NAME --kind hunt FILE`)".into(),
        ));
    }
    if s.scans.runs == 0 {
        out.push((
            Check::Missing,
            "CI logs and repositories not scanned for leaked secrets (no scan recorded)".into(),
        ));
    } else {
        out.push((
            Check::Done,
            format!(
                "{} scan(s) recorded: {} leaked secret finding(s), {} distinct secret(s)",
                s.scans.runs, s.scans.findings, s.scans.distinct_secrets
            ),
        ));
    }
    if s.census.runs == 0 {
        out.push((
            Check::Missing,
            "artifacts published in the window not censused (no census recorded)".into(),
        ));
    } else {
        out.push((
            Check::Done,
            format!(
                "{} census run(s): {} artifact(s) published in the window, {} flagged",
                s.census.runs, s.census.artifacts, s.census.flagged
            ),
        ));
    }
    out
}

fn tasks_in<'a>(s: &'a Status, state: &'a str) -> impl Iterator<Item = &'a TaskStatus> + 'a {
    s.tasks.iter().filter(move |t| t.state == state)
}

fn task_label(t: &TaskStatus) -> String {
    format!("{} ({})", t.secret, t.scope)
}

/// The first `n` of `v`, joined, with `and N more`.
fn first_of(v: &[String], n: usize) -> String {
    let shown: Vec<&str> = v.iter().take(n).map(String::as_str).collect();
    if v.len() > shown.len() {
        format!("{} and {} more", shown.join(", "), v.len() - shown.len())
    } else {
        shown.join(", ")
    }
}

// ------------------------------------------------------------------ hunt rows

/// One row of the hunt table: a finding, with the other findings on the same audit
/// record (novelty: what was new about that call) attached, so an attacker's call is one
/// row however many rules it tripped.
#[derive(Debug, Clone, Serialize)]
pub struct HuntRow {
    /// Event time (RFC 3339).
    pub time: String,
    /// The most severe level among the merged findings.
    pub level: String,
    /// The main finding's title (a rule's, when a rule matched the record).
    pub title: String,
    /// The main finding's detail.
    pub detail: String,
    /// Who did it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// Caller IP.
    pub source_ip: String,
    /// Log source kind (`cloudtrail`, `github`...).
    pub source: String,
    /// The log file the record was read from.
    pub file: String,
    /// Its line.
    pub line: String,
    /// The other findings on the same record: `[level] title: detail`.
    pub also: Vec<String>,
}

/// The audit record a hunt finding is about: the provider's event id, else file and line,
/// else the finding itself.
fn record_key(e: &IncidentEvent) -> String {
    let src = dstr(&e.detail, "source");
    let id = dstr(&e.detail, "event_id");
    if !id.is_empty() {
        return format!("{src}\u{0}id\u{0}{id}");
    }
    let (file, line) = (dstr(&e.detail, "file"), dstr(&e.detail, "line"));
    if !file.is_empty() && !line.is_empty() {
        return format!("{src}\u{0}at\u{0}{file}\u{0}{line}");
    }
    format!("item\u{0}{}", e.item_id)
}

fn is_novelty(e: &IncidentEvent) -> bool {
    dstr(&e.detail, "kind") == "novelty" || dstr(&e.detail, "rule_id").starts_with("novelty.")
}

/// The hunt findings, one row per audit record: a rule finding with the novelty findings
/// of the same record attached (`also`); most severe first, then by time.
pub fn hunt_rows(events: &[IncidentEvent]) -> Vec<HuntRow> {
    let mut groups: BTreeMap<String, Vec<&IncidentEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == "hunt_finding") {
        groups.entry(record_key(e)).or_default().push(e);
    }
    let lvl = |e: &IncidentEvent| level_rank(e.severity.as_deref().unwrap_or(""));
    let mut rows: Vec<(usize, Option<DateTime<Utc>>, HuntRow)> = groups
        .into_values()
        .map(|mut g| {
            g.sort_by_key(|e| (is_novelty(e), lvl(e), e.at, e.item_id.clone()));
            let main = g[0];
            let top = g.iter().map(|e| lvl(e)).min().unwrap_or(LEVELS.len());
            let mut seen = BTreeSet::new();
            seen.insert((main.title.clone(), dstr(&main.detail, "detail")));
            let also = g[1..]
                .iter()
                .filter(|e| seen.insert((e.title.clone(), dstr(&e.detail, "detail"))))
                .map(|e| {
                    let det = dstr(&e.detail, "detail");
                    format!(
                        "[{}] {}{}",
                        e.severity.as_deref().unwrap_or(""),
                        e.title,
                        if det.is_empty() {
                            String::new()
                        } else {
                            format!(": {det}")
                        }
                    )
                })
                .collect();
            let row = HuntRow {
                time: main.at.map(fmt_time).unwrap_or_default(),
                level: LEVELS
                    .get(top)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| main.severity.clone().unwrap_or_default()),
                title: main.title.clone(),
                detail: dstr(&main.detail, "detail"),
                actor: dstr(&main.detail, "actor"),
                action: dstr(&main.detail, "action"),
                source_ip: dstr(&main.detail, "source_ip"),
                source: dstr(&main.detail, "source"),
                file: dstr(&main.detail, "file"),
                line: dstr(&main.detail, "line"),
                also,
            };
            (top, main.at, row)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    rows.into_iter().map(|(_, _, r)| r).collect()
}

// ------------------------------------------------------------------ summary, do next

/// A count with its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// What is counted (a task state, a level).
    pub label: String,
    /// How many.
    pub count: usize,
}

/// The top of the report: what happened, in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Incident name.
    pub incident: String,
    /// Exposure window, `START .. END` (`(open)` while open).
    pub window: String,
    /// Breached providers.
    pub providers: Vec<String>,
    /// The rotation headline ([`rotation_headline`]).
    pub headline: String,
    /// Secrets in the playbook.
    pub secrets: usize,
    /// Secrets by state, most urgent first (`live` first); states with none left out.
    pub states: Vec<Count>,
    /// Hunt findings (one per audit record, see [`hunt_rows`]).
    pub hunt_findings: usize,
    /// Of them, by level, most severe first; levels with none left out.
    pub hunt_levels: Vec<Count>,
    /// Hunt findings as recorded (a record tripping a rule and a novelty check counts twice).
    pub hunt_raw: usize,
    /// Distinct leaked secrets found in logs and files.
    pub leaked_secrets: usize,
    /// Leak findings (a secret leaked twice counts twice).
    pub leak_findings: usize,
    /// Artifacts published in the window.
    pub artifacts: usize,
    /// Of them, flagged.
    pub flagged_artifacts: usize,
    /// What looks wrong with the evidence itself (an inventory with 0 secrets...).
    pub warnings: Vec<String>,
}

/// One thing an item of "Do next" concerns.
#[derive(Debug, Clone, Serialize)]
pub struct ActionItem {
    /// The secret (with its scope), artifact or log source.
    pub name: String,
    /// What to know or do about it (the manual step's instructions, the findings).
    pub note: String,
}

/// One entry of "Do next", most urgent first.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    /// `live`, `inventory`, `unrotated`, `unproven`, `manual`, `artifact`, `attack`,
    /// `hunt`, `by-hand`, `scan`, `census`, `confirm`.
    pub kind: String,
    /// What to do, in one line.
    pub title: String,
    /// What it concerns.
    pub items: Vec<ActionItem>,
    /// The steps, in order.
    pub steps: Vec<String>,
    /// The command to run, when there is one.
    pub command: Option<String>,
}

/// The summary, the ranked "Do next" list and the findings: the top of the report, and
/// what the dashboard shows above its counts.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    /// What happened.
    pub summary: Summary,
    /// What to do next, most urgent first.
    pub do_next: Vec<Action>,
    /// Hunt findings, one row per audit record, most severe first.
    pub hunt: Vec<HuntRow>,
    /// Flagged artifacts (name, findings).
    pub flagged: Vec<ActionItem>,
    /// Leaked secrets found in logs and files: `rule: redacted prefix` and where.
    pub leaks: Vec<ActionItem>,
}

/// Quotes a word for a POSIX shell when it needs it.
fn shq(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn census_findings(e: &IncidentEvent) -> Vec<String> {
    e.detail
        .get("findings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    let mut t = dstr(x, "kind");
                    for k in ["indicator", "description", "member", "rule_id", "redacted"] {
                        let v = dstr(x, k);
                        if !v.is_empty() {
                            t.push(' ');
                            t.push_str(&v);
                        }
                    }
                    t
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Computes the summary, the "Do next" list and the findings.
pub fn brief(d: &ReportData) -> Brief {
    let s = &d.status;
    let name = &s.incident.name;
    let rows = hunt_rows(&d.events);
    let mut states = Vec::new();
    for st in [
        "live",
        "stopped",
        "pending",
        "manual",
        "not_checked",
        "rewritten",
        "confirmed",
        "rotated",
        "verified",
    ] {
        let n = tasks_in(s, st).count();
        if n > 0 {
            states.push(Count {
                label: st.to_string(),
                count: n,
            });
        }
    }
    let hunt_levels: Vec<Count> = LEVELS
        .iter()
        .map(|l| Count {
            label: l.to_string(),
            count: rows.iter().filter(|r| r.level == *l).count(),
        })
        .filter(|c| c.count > 0)
        .collect();
    let warnings: Vec<String> = coverage(d)
        .into_iter()
        .filter(|(c, _)| *c == Check::Warning)
        .map(|(_, l)| l)
        .chain(
            s.providers_not_inventoried
                .iter()
                .map(|p| format!("{p}: breached but never inventoried: its secrets are not in the playbook")),
        )
        .collect();
    let flagged_ev: Vec<&IncidentEvent> = d
        .events
        .iter()
        .filter(|e| e.kind == "census_artifact" && e.severity.as_deref() == Some("flagged"))
        .collect();
    let flagged: Vec<ActionItem> = flagged_ev
        .iter()
        .map(|e| ActionItem {
            name: e.title.clone(),
            note: census_findings(e).join("; "),
        })
        .collect();
    let summary = Summary {
        incident: name.clone(),
        window: format!(
            "{} .. {}",
            s.incident.window.start,
            s.incident.window.end.as_deref().unwrap_or("(open)")
        ),
        providers: s.incident.providers.clone(),
        headline: rotation_headline(&s.secrets),
        secrets: s.secrets.total,
        states,
        hunt_findings: rows.len(),
        hunt_levels,
        hunt_raw: d.events.iter().filter(|e| e.kind == "hunt_finding").count(),
        leaked_secrets: s.scans.distinct_secrets,
        leak_findings: s.scans.findings,
        artifacts: s.census.artifacts,
        flagged_artifacts: s.census.flagged,
        warnings: warnings.clone(),
    };

    let mut acts = Vec::new();
    let items_of = |st: &str, note: &dyn Fn(&TaskStatus) -> String| -> Vec<ActionItem> {
        tasks_in(s, st)
            .map(|t| ActionItem {
                name: task_label(t),
                note: note(t),
            })
            .collect()
    };
    // 1. LIVE credentials
    let live: Vec<&TaskStatus> = tasks_in(s, "live").collect();
    if !live.is_empty() {
        let only: String = live
            .iter()
            .map(|t| format!(" --only {}", shq(&t.secret)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        acts.push(Action {
            kind: "live".into(),
            title: format!(
                "Revoke {} LIVE credential(s) at the source now: the stolen value still works",
                live.len()
            ),
            items: items_of("live", &|t| t.unlocks.clone()),
            steps: vec![
                "put the leaked value(s) in a file as NAME=VALUE lines (leaked.env, outside any repository; delete it afterwards)".into(),
                "revoke them at their source and record the outcome in this incident (rotating the CI variable does not kill the stolen value):".into(),
            ],
            command: Some(format!(
                "firebreak revoke --values leaked.env{only} --yes --incident {}",
                shq(name)
            )),
        });
    }
    // 2. the inventory itself is wrong or missing
    if !warnings.is_empty() {
        acts.push(Action {
            kind: "inventory".into(),
            title: "Fix the inventory: the playbook may be missing secrets".into(),
            items: warnings
                .iter()
                .map(|w| ActionItem {
                    name: w.split(':').next().unwrap_or("").to_string(),
                    note: w.clone(),
                })
                .collect(),
            steps: vec![
                "check the organisation name and that the token can read it, inventory again, then rebuild the playbook".into(),
            ],
            command: Some("firebreak inventory --provider PROVIDER --org ORG".into()),
        });
    }
    // 3. secrets not rotated
    let unrot: Vec<ActionItem> = ["stopped", "pending"]
        .iter()
        .flat_map(|st| {
            items_of(st, &|t| {
                t.evidence
                    .clone()
                    .unwrap_or_else(|| format!("{}; unlocks {}", t.state, t.unlocks))
            })
        })
        .collect();
    if !unrot.is_empty() {
        acts.push(Action {
            kind: "unrotated".into(),
            title: format!("Rotate {} secret(s) not rotated yet", unrot.len()),
            items: unrot,
            steps: vec![
                "draft a plan from the latest inventory, review it, and run it (a stopped run: fix the cause and run it again)".into(),
            ],
            command: Some("firebreak rotate plan --from-inventory SNAPSHOT > plan.toml && firebreak rotate run plan.toml".into()),
        });
    }
    let unproven = items_of("rewritten", &|t| t.unlocks.clone());
    if !unproven.is_empty() {
        acts.push(Action {
            kind: "unproven".into(),
            title: format!(
                "Prove {} old credential(s) dead: a new value is in place, the stolen one may still work",
                unproven.len()
            ),
            items: unproven,
            steps: vec!["check the leaked values at their source and record the result:".into()],
            command: Some(format!(
                "firebreak validate --values leaked.env --format jsonl > validate.jsonl && firebreak incident record {} --kind validate validate.jsonl",
                shq(name)
            )),
        });
    }
    // 4. manual steps, with their instructions
    let manual = items_of("manual", &|t| {
        d.manual_steps.get(&t.identity).cloned().unwrap_or_else(|| {
            format!(
                "issue a new credential where it comes from, replace it in {}, then revoke the old one",
                t.scope
            )
        })
    });
    if !manual.is_empty() {
        acts.push(Action {
            kind: "manual".into(),
            title: format!("Do {} manual rotation step(s) by hand", manual.len()),
            items: manual,
            steps: vec![
                "follow each step (the playbook table below says what to do for each), then inventory again: the provider's timestamps confirm it".into(),
            ],
            command: None,
        });
    }
    // 5. flagged artifacts
    if !flagged.is_empty() {
        acts.push(Action {
            kind: "artifact".into(),
            title: format!(
                "Pull {} flagged artifact(s) published in the window",
                flagged.len()
            ),
            items: flagged.clone(),
            steps: vec!["yank or delete them from the registry, tell their users, and check the machines that installed them".into()],
            command: None,
        });
    }
    // 6. attacker activity
    let hot: Vec<&HuntRow> = rows
        .iter()
        .filter(|r| level_rank(&r.level) <= level_rank("high"))
        .collect();
    if !hot.is_empty() {
        acts.push(Action {
            kind: "attack".into(),
            title: format!(
                "Investigate {} high or critical hunt finding(s): what the attacker did",
                hot.len()
            ),
            items: hot
                .iter()
                .take(3)
                .map(|r| ActionItem {
                    name: format!("[{}] {}", r.level, r.title),
                    note: [r.time.as_str(), r.actor.as_str(), r.action.as_str(), r.source_ip.as_str()]
                        .iter()
                        .filter(|x| !x.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" · "),
                })
                .collect(),
            steps: vec![format!(
                "undo what was created (users, keys, deploy keys) and block the source IPs; the hunt table below has {}",
                if hot.len() > 3 { format!("all {}", hot.len()) } else { "them".to_string() }
            )],
            command: None,
        });
    }
    // 7. unhunted logs, missing scans and censuses
    let logs = log_coverage(d);
    let unhunted: Vec<ActionItem> = logs
        .wanted
        .iter()
        .filter(|(_, _, h)| !h)
        .map(|(src, n, _)| ActionItem {
            name: format!("{src} logs"),
            note: format!("{n} secret(s) point there"),
        })
        .collect();
    if !unhunted.is_empty() || s.hunts.runs == 0 {
        acts.push(Action {
            kind: "hunt".into(),
            title: if unhunted.is_empty() {
                "Hunt the audit logs: no hunt recorded".into()
            } else {
                format!("Hunt {} log source(s) not hunted yet", unhunted.len())
            },
            items: unhunted,
            steps: vec!["export the logs for the window, hunt them and record the output:".into()],
            command: Some(format!(
                "firebreak hunt --format json --window {} LOGS/ > hunt.json && firebreak incident record {} --kind hunt hunt.json",
                shq(&window_arg(s)),
                shq(name)
            )),
        });
    }
    if !logs.unknown.is_empty() {
        acts.push(Action {
            kind: "by-hand".into(),
            title: format!(
                "Check {} log(s) by hand: firebreak cannot hunt them (secrets pointing there in brackets)",
                logs.unknown.len()
            ),
            items: logs
                .unknown
                .iter()
                .map(|l| ActionItem {
                    name: l.clone(),
                    note: String::new(),
                })
                .collect(),
            steps: vec![],
            command: None,
        });
    }
    if s.scans.runs == 0 {
        acts.push(Action {
            kind: "scan".into(),
            title: "Scan the CI logs and repositories for leaked secrets: no scan recorded".into(),
            items: vec![],
            steps: vec![],
            command: Some(format!(
                "firebreak scan --format jsonl CI-LOGS/ | firebreak incident record {} --kind scan -",
                shq(name)
            )),
        });
    }
    if s.census.runs == 0 {
        acts.push(Action {
            kind: "census".into(),
            title: "Census the artifacts published in the window: no census recorded".into(),
            items: vec![],
            steps: vec![],
            command: Some(format!(
                "firebreak census --window {} --ioc ioc.toml CHANNEL/ > census.jsonl && firebreak incident record {} --kind census census.jsonl",
                shq(&window_arg(s)),
                shq(name)
            )),
        });
    }
    let confirm = items_of("rotated", &|t| t.evidence.clone().unwrap_or_default());
    if !confirm.is_empty() {
        acts.push(Action {
            kind: "confirm".into(),
            title: format!("Confirm {} rotation(s) with a new inventory", confirm.len()),
            items: confirm,
            steps: vec!["inventory again: the provider's timestamps turn `rotated` into `verified`".into()],
            command: Some("firebreak inventory --provider PROVIDER --org ORG".into()),
        });
    }
    let leaks = d
        .events
        .iter()
        .filter(|e| e.kind == "scan_finding")
        .map(|e| {
            let unlocks = dstr(&e.detail, "unlocks");
            ActionItem {
                name: format!("{}: {}", e.title, dstr(&e.detail, "redacted")),
                note: format!(
                    "{}:{}{}",
                    dstr(&e.detail, "path"),
                    dstr(&e.detail, "line"),
                    if unlocks.is_empty() {
                        String::new()
                    } else {
                        format!(" · unlocks {unlocks}")
                    }
                ),
            }
        })
        .collect();
    // last: the kinds no API lists (the steps of CircleCI's alert): one line, their names in the
    // title (their steps are in the playbook table below); they stay "not checked"
    let unlisted: Vec<String> = tasks_in(s, "not_checked").map(|t| t.secret.clone()).collect();
    if !unlisted.is_empty() {
        let mut names = unlisted.clone();
        names.sort();
        names.dedup();
        acts.push(Action {
            kind: "unlisted".into(),
            title: format!(
                "Do {} step(s) by hand that no API can check ({}): they stay \"not checked\"",
                unlisted.len(),
                names.join(", ")
            ),
            items: vec![],
            steps: vec![],
            command: None,
        });
    }
    Brief {
        summary,
        do_next: acts,
        hunt: rows,
        flagged,
        leaks,
    }
}

/// The window as `--window` takes it (`START..END`, or `START..` while open).
fn window_arg(s: &Status) -> String {
    let day = |t: &str| t.get(..10).unwrap_or(t).to_string();
    format!(
        "{}..{}",
        day(&s.incident.window.start),
        s.incident.window.end.as_deref().map(day).unwrap_or_default()
    )
}

// ------------------------------------------------------------------ timeline

/// One mark on the timeline.
#[derive(Debug, Clone)]
struct Mark {
    lane: usize,
    /// Vertical offset inside the lane (hunt findings: high above, low below).
    dy: f64,
    at: DateTime<Utc>,
    class: &'static str,
    label: String,
}

const LANES: [&str; 4] = [
    "hunt findings",
    "leaks in CI logs",
    "census publishes",
    "rotations",
];

fn marks(d: &ReportData) -> Vec<Mark> {
    let mut v = Vec::new();
    for e in &d.events {
        let Some(at) = e.at else { continue };
        match e.kind.as_str() {
            "hunt_finding" => {
                let lvl = e.severity.clone().unwrap_or_default();
                v.push(Mark {
                    lane: 0,
                    dy: match lvl.as_str() {
                        "critical" | "high" => -13.0,
                        "medium" => 0.0,
                        _ => 13.0,
                    },
                    at,
                    class: match lvl.as_str() {
                        "critical" | "high" => "m-high",
                        "medium" => "m-med",
                        _ => "m-low",
                    },
                    label: format!(
                        "{} [{lvl}] {} {} {}",
                        short_t(at),
                        e.title,
                        dstr(&e.detail, "actor"),
                        dstr(&e.detail, "source_ip")
                    ),
                });
            }
            "scan_finding" => v.push(Mark {
                lane: 1,
                dy: 0.0,
                at,
                class: "m-leak",
                label: format!(
                    "{} {} {} {}",
                    short_t(at),
                    e.title,
                    dstr(&e.detail, "redacted"),
                    dstr(&e.detail, "path")
                ),
            }),
            "census_artifact" => {
                let flagged = e.severity.as_deref() == Some("flagged");
                v.push(Mark {
                    lane: 2,
                    dy: 0.0,
                    at,
                    class: if flagged { "m-high" } else { "m-pub" },
                    label: format!(
                        "{} {}{}",
                        short_t(at),
                        e.title,
                        if flagged { " (flagged)" } else { "" }
                    ),
                });
            }
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    for t in &d.status.tasks {
        if let Some(at) = t.rotated_at.as_deref().and_then(parse_t) {
            seen.insert(t.identity.clone());
            v.push(Mark {
                lane: 3,
                dy: 0.0,
                at,
                class: if t.state == "verified" { "m-ok" } else { "m-rot" },
                label: format!("{} {} {} ({})", short_t(at), t.secret, t.scope, t.state),
            });
        }
    }
    for (id, at, src) in &d.rotations {
        if !seen.contains(id) {
            v.push(Mark {
                lane: 3,
                dy: 0.0,
                at: *at,
                class: "m-rot",
                label: format!("{} {id} ({src})", short_t(*at)),
            });
        }
    }
    // low first, so high marks are drawn on top
    v.sort_by_key(|a| (a.lane, -(a.dy as i64), a.at));
    v
}

/// The SVG timeline: the exposure window (shaded) with padding on the main axis; marks
/// before / after that range are drawn in the "earlier" / "later" gutters with their
/// count and time span.
pub fn timeline_svg(d: &ReportData) -> String {
    let st = &d.status;
    let w_start = parse_t(&st.incident.window.start).unwrap_or_default();
    let w_end = st
        .incident
        .window
        .end
        .as_deref()
        .and_then(parse_t)
        .unwrap_or_else(|| {
            parse_t(&st.generated_at)
                .unwrap_or_else(Utc::now)
                .max(w_start + Duration::days(1))
        });
    let span = (w_end - w_start).max(Duration::hours(1));
    let pad = (span / 10).max(Duration::hours(12));
    let (a0, a1) = (w_start - pad, w_end + pad);
    let ms = marks(d);
    let (width, left, right_gutter, lane_h, top) = (980.0_f64, 150.0_f64, 110.0_f64, 44.0_f64, 28.0_f64);
    let left_gutter = 90.0;
    let x0 = left + left_gutter;
    let x1 = width - right_gutter - 10.0;
    let height = top + lane_h * LANES.len() as f64 + 46.0;
    let lanes_h = lane_h * LANES.len() as f64;
    let xs = |t: DateTime<Utc>| -> f64 {
        let f = (t - a0).num_seconds() as f64 / (a1 - a0).num_seconds().max(1) as f64;
        x0 + f * (x1 - x0)
    };
    let f1 = |v: f64| format!("{v:.1}");
    // ticks
    let days = (a1 - a0).num_days().max(1);
    let step = match days {
        0..=10 => 1,
        11..=40 => 7,
        41..=120 => 14,
        121..=800 => 30,
        _ => 365,
    };
    let mut t = a0
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc())
        .unwrap_or(a0);
    if t < a0 {
        t += Duration::days(1);
    }
    let axis_y = top + lanes_h;
    let mut ticks = Vec::new();
    while t <= a1 && ticks.len() < 60 {
        ticks.push((
            xs(t),
            t.format(if step >= 365 { "%Y" } else { "%m-%d" }).to_string(),
        ));
        t += Duration::days(step);
    }
    // marks in range, binned: marks of one lane and kind closer than BIN px are one mark
    // with their count on it; gutters collect the rest
    const BIN: f64 = 12.0;
    let mut before: BTreeMap<usize, Vec<&Mark>> = BTreeMap::new();
    let mut after: BTreeMap<usize, Vec<&Mark>> = BTreeMap::new();
    // (lane, -dy, class, bin) -> (x, mark)
    type Bin = (usize, i64, &'static str, i64);
    let mut bins: BTreeMap<Bin, Vec<(f64, &Mark)>> = BTreeMap::new();
    for m in &ms {
        if m.at < a0 {
            before.entry(m.lane).or_default().push(m);
        } else if m.at > a1 {
            after.entry(m.lane).or_default().push(m);
        } else {
            let x = xs(m.at);
            let key = (m.lane, -(m.dy as i64), m.class, ((x - x0) / BIN).floor() as i64);
            bins.entry(key).or_default().push((x, m));
        }
    }
    let binned: Vec<(f64, f64, &str, usize, String)> = bins
        .values()
        .map(|v| {
            let m0 = v[0].1;
            let y = top + lane_h * m0.lane as f64 + lane_h / 2.0 + m0.dy;
            let x = v.iter().map(|(x, _)| *x).sum::<f64>() / v.len() as f64;
            let mut tip: Vec<String> = v.iter().take(12).map(|(_, m)| m.label.clone()).collect();
            if v.len() > 12 {
                tip.push(format!("and {} more", v.len() - 12));
            }
            let tip = if v.len() == 1 {
                tip.join("\n")
            } else {
                format!("{} events:\n{}", v.len(), tip.join("\n"))
            };
            (x, y, m0.class, v.len(), tip)
        })
        .collect();
    let window_tip = format!(
        "exposure window {} .. {}",
        short_t(w_start),
        if st.incident.window.end.is_some() {
            short_t(w_end)
        } else {
            "open".into()
        }
    );
    let gutter_marks = [
        ("earlier", &before, left + (left_gutter - 8.0) / 2.0),
        ("later", &after, x1 + 8.0 + right_gutter / 2.0),
    ];
    html! {
        svg.timeline xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {height}"))
            width="100%" role="img" aria-label="Timeline of the exposure window" {
            title { (Txt(&format!("Exposure window {} to {}", short_t(w_start), short_t(w_end)))) }
            // window shading
            rect.window x=(f1(xs(w_start))) y=(top) width=(f1((xs(w_end) - xs(w_start)).max(1.0))) height=(f1(lanes_h)) {
                title { (Txt(&window_tip)) }
            }
            // gutters
            rect.gutter x=(left) y=(top) width=(f1(left_gutter - 8.0)) height=(f1(lanes_h)) {}
            rect.gutter x=(f1(x1 + 8.0)) y=(top) width=(f1(right_gutter)) height=(f1(lanes_h)) {}
            text.axis x=(f1(left + (left_gutter - 8.0) / 2.0)) y=(f1(top - 8.0)) text-anchor="middle" { "earlier" }
            text.axis x=(f1(x1 + 8.0 + right_gutter / 2.0)) y=(f1(top - 8.0)) text-anchor="middle" { "later" }
            // lanes
            @for (i, name) in LANES.iter().enumerate() {
                @let y = top + lane_h * i as f64 + lane_h / 2.0;
                line.lane x1=(left) y1=(f1(y)) x2=(f1(width - 10.0)) y2=(f1(y)) {}
                text.lanelabel x=(f1(left - 8.0)) y=(f1(y + 4.0)) text-anchor="end" { (Txt(name)) }
            }
            @for (x, label) in &ticks {
                line.tick x1=(f1(*x)) y1=(top) x2=(f1(*x)) y2=(f1(axis_y + 4.0)) {}
                text.axis x=(f1(*x)) y=(f1(axis_y + 18.0)) text-anchor="middle" { (Txt(label)) }
            }
            text.axis x=(f1((x0 + x1) / 2.0)) y=(f1(axis_y + 36.0)) text-anchor="middle" {
                (Txt(&format!("{} .. {} (UTC)", a0.format("%Y-%m-%d"), a1.format("%Y-%m-%d"))))
            }
            @for (x, y, class, n, tip) in &binned {
                @if *n == 1 {
                    circle class=(class) data-count="1" cx=(f1(*x)) cy=(f1(*y)) r="5" {
                        title { (Txt(tip)) }
                    }
                } @else {
                    g.multi data-count=(n) {
                        title { (Txt(tip)) }
                        circle class=(class) cx=(f1(*x)) cy=(f1(*y)) r="7" {}
                        text.n x=(f1(*x)) y=(f1(y + 3.5)) text-anchor="middle" { (n) }
                    }
                }
            }
            @for (side, group, cx) in gutter_marks.iter() {
                @for (lane, v) in group.iter() {
                    @let y = top + lane_h * *lane as f64 + lane_h / 2.0;
                    @let first = v.first().map(|m| short_t(m.at)).unwrap_or_default();
                    @let last = v.last().map(|m| short_t(m.at)).unwrap_or_default();
                    @let class = v.first().map(|m| m.class).unwrap_or("m-low");
                    g data-count=(v.len()) {
                        circle class=(class) cx=(f1(*cx - 14.0)) cy=(f1(y)) r="6" {
                            title { (Txt(&format!("{} {} {side} than the axis: {first} .. {last}", v.len(), LANES[*lane]))) }
                        }
                        text.count x=(f1(*cx - 4.0)) y=(f1(y + 4.0)) { "×" (v.len()) }
                    }
                }
            }
        }
    }
    .into_string()
}

// ------------------------------------------------------------------ HTML

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 10px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.sub{color:#5a6374;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px}
.card{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:1.5em}.card span{color:#5a6374;font-size:.85em}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.88em}
th,td{border:1px solid #e1e4ea;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word;word-break:normal;hyphens:none}
td.nw,th.nw,.nw{white-space:nowrap}td.long{overflow-wrap:anywhere}
.also{color:#5a6374;font-size:.9em;margin:2px 0 0;padding-left:16px}
table.hunt td:nth-child(3){width:36%}
th{background:#eef0f4}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
.ok{color:#17693a}.no{color:#a4221b}.warn{color:#8a5a00;font-weight:600}
#summary,#do-next{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:10px 14px;margin:0 0 12px}
#summary h2,#do-next h2{margin:0 0 6px;border:0;padding:0}
#summary p{margin:4px 0}.chips{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0}
.chip{border:1px solid #d8dce3;border-radius:12px;padding:1px 9px;font-size:.9em;white-space:nowrap}
.chip.st-live{border-color:#7f1d1d}
#do-next ol{margin:0;padding-left:22px}#do-next li{margin:0 0 7px}
#do-next li.a-live{background:#fdecea;border-left:4px solid #7f1d1d;padding:4px 8px;margin-left:-8px}
#do-next .items{margin:2px 0;font-size:.9em}#do-next .items code{font-weight:600}
#do-next .step{margin:2px 0;font-size:.9em;color:#3a4150}
#do-next pre{margin:3px 0;background:#1d2330;color:#f3f4f6;padding:4px 8px;border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em}
tr.flag td{background:#fdecea}
.st-verified{color:#17693a;font-weight:600}.st-rotated{color:#2f6db5;font-weight:600}
.st-pending{color:#a4221b;font-weight:600}.st-manual{color:#8a5a00;font-weight:600}.st-stopped{color:#a4221b;font-weight:700}.st-live{color:#fff;background:#7f1d1d;font-weight:700;padding:0 4px}.st-rewritten{color:#6d28d9;font-weight:600}.st-confirmed{color:#8a5a00}
.lv-critical,.lv-high{color:#a4221b;font-weight:600}.lv-medium{color:#8a5a00}.lv-low,.lv-informational{color:#5a6374}
.inferred{color:#8a5a00;font-size:.85em}
svg.timeline{background:#fff;border:1px solid #d8dce3;border-radius:6px}
svg .window{fill:#fde9c8}svg .gutter{fill:#f0f1f4}svg .lane{stroke:#e1e4ea}svg .tick{stroke:#eceef2}
svg .axis,svg .lanelabel,svg .count{font:11px system-ui,sans-serif;fill:#5a6374}
svg .n{font:bold 9px system-ui,sans-serif;fill:#fff;pointer-events:none}
svg .m-high{fill:#c62828}svg .m-med{fill:#ef8f00}svg .m-low{fill:#8a94a6}svg .m-leak{fill:#7b1fa2}
svg .m-pub{fill:#2f6db5}svg .m-rot{fill:#4c9be8}svg .m-ok{fill:#2e9d57}
.legend span{margin-right:14px;font-size:.85em}.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
footer{color:#5a6374;font-size:.8em;margin-top:30px}
"#;

/// Text from the store, escaped by the template engine; control characters (an escape
/// sequence from a CI log) are shown as U+FFFD.
struct Txt<'a>(&'a str);

impl Render for Txt<'_> {
    fn render_to(&self, buf: &mut String) {
        if self.0.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            let clean: String = self
                .0
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\n' && c != '\t' {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect();
            clean.as_str().render_to(buf)
        } else {
            self.0.render_to(buf)
        }
    }
}

/// Text that may wrap after path and word separators (`/`, `:`, `.`, `_`, `-`, `,`, `=`,
/// `@`), so that long paths and identifiers break there rather than anywhere: escaped
/// like [`Txt`], with `<wbr>` after each separator inside a word.
struct Wrap<'a>(&'a str);

impl Render for Wrap<'_> {
    fn render_to(&self, buf: &mut String) {
        let mut run = 0usize;
        let mut word = String::new();
        for c in self.0.chars() {
            word.push(c);
            run = if c.is_whitespace() { 0 } else { run + 1 };
            if run > 1 && "/:._-,=@".contains(c) {
                Txt(&word).render_to(buf);
                word.clear();
                buf.push_str("<wbr>");
            }
        }
        Txt(&word).render_to(buf);
    }
}

fn card(label: &str, value: usize, sub: &str) -> Markup {
    html! {
        div.card { b { (value) } (Txt(label)) br; span { (Txt(sub)) } }
    }
}

/// A file named by a record (a log file, a path), as HTML: a link only when the file
/// exists inside the report directory `dir` (a relative link, so the directory can be
/// moved); otherwise its name and line as text, the whole path in the tooltip, said to be
/// gone when it no longer exists (a temporary directory).
pub fn file_ref(path: &str, line: &str, dir: Option<&Path>) -> String {
    file_ref_html(path, line, dir).into_string()
}

fn file_ref_html(path: &str, line: &str, dir: Option<&Path>) -> Markup {
    if path.is_empty() {
        return html! {};
    }
    let at = |name: &str| {
        if line.is_empty() || line == "0" {
            name.to_string()
        } else {
            format!("{name}:{line}")
        }
    };
    let p = Path::new(path);
    if let Some(dir) = dir {
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        };
        if let (Ok(f), Ok(dc)) = (full.canonicalize(), dir.canonicalize()) {
            if let Ok(rel) = f.strip_prefix(&dc) {
                if f.is_file() {
                    let parts: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    let href: Vec<String> = parts.iter().map(|c| url_path(c)).collect();
                    return html! { a href=(href.join("/")) { (Wrap(&at(&parts.join("/")))) } };
                }
            }
        }
    }
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let gone = p.is_absolute() && !p.exists();
    let title = if gone {
        format!("{path} (no longer exists)")
    } else {
        path.to_string()
    };
    html! {
        span title=(Txt(&title)) { (Wrap(&at(&name))) }
        @if gone { " " small { "(gone)" } }
    }
}

/// Percent-encodes a path segment for a relative URL.
fn url_path(seg: &str) -> String {
    let mut o = String::new();
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// The summary and "Do next" sections of the HTML report.
fn brief_html(b: &Brief) -> Markup {
    let sm = &b.summary;
    let all_done = sm
        .states
        .iter()
        .all(|c| c.label == "verified" || c.label == "rotated");
    html! {
        section #summary data-testid="summary" {
            h2 { "Summary" }
            p { "Breach of " b { (Txt(&sm.providers.join(", "))) } " · exposure window " (Txt(&sm.window)) }
            p class=(if all_done { "ok" } else { "no" }) {
                (if all_done { "✔" } else { "✘" }) " " (Txt(&sm.headline))
            }
            div.chips {
                span.chip { (sm.secrets) " secrets:" }
                @for c in &sm.states {
                    span class=(format!("chip st-{}", c.label)) {
                        (c.count) " " (Txt(if c.label == "live" { "LIVE" } else { &c.label }))
                    }
                }
            }
            p {
                "Hunt: " b { (sm.hunt_findings) } " finding(s)"
                @if !sm.hunt_levels.is_empty() {
                    " ("
                    @for (i, c) in sm.hunt_levels.iter().enumerate() {
                        @if i > 0 { ", " }
                        span class=(format!("lv-{}", c.label)) { (c.count) " " (Txt(&c.label)) }
                    }
                    ")"
                }
                @if sm.hunt_raw > sm.hunt_findings {
                    ", from " (sm.hunt_raw) " rule and novelty hits"
                }
                " · leaked secrets in logs: " b { (sm.leaked_secrets) } " (" (sm.leak_findings) " finding(s))"
                " · artifacts published in the window: " (sm.artifacts) ", "
                b class=[(sm.flagged_artifacts > 0).then_some("no")] { (sm.flagged_artifacts) " flagged" }
            }
            @for w in &sm.warnings {
                p.warn { "⚠ " (Txt(w)) }
            }
        }
        section #do-next data-testid="do-next" {
            h2 { "Do next" }
            @if b.do_next.is_empty() {
                p.ok { "✔ Nothing left: every secret is rotated with the old credential proven dead, and every log source the playbook calls for was hunted." }
            } @else {
                ol {
                    @for a in &b.do_next {
                        li class=(format!("a-{}", a.kind)) data-kind=(a.kind) {
                            b { (Txt(&a.title)) }
                            @if !a.items.is_empty() {
                                // a manual step's instructions are long: they are in the
                                // playbook table below (`to do:`), the names here
                                @let limit = if a.kind == "manual" { 5 } else { 8 };
                                @let shown = a.items.len().min(limit);
                                @let block = matches!(a.kind.as_str(), "artifact" | "live" | "attack");
                                div.items {
                                    @for (i, it) in a.items.iter().take(limit).enumerate() {
                                        @if i > 0 { @if block { br; } @else { "; " } }
                                        code { (Txt(&it.name)) }
                                        @if !it.note.is_empty() && a.kind != "manual" { ": " (Wrap(&it.note)) }
                                    }
                                    @if a.items.len() > shown {
                                        " and " (a.items.len() - shown) " more (see below)"
                                    }
                                }
                            }
                            @for st in &a.steps {
                                div.step { (Txt(st)) }
                            }
                            @if let Some(c) = &a.command {
                                pre { code { (Txt(c)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Renders the HTML report (log files shown as text, never linked).
pub fn render_html(d: &ReportData) -> String {
    render_html_in(d, None)
}

const LEGEND: &[(&str, &str)] = &[
    ("#c62828", "high / critical, flagged"),
    ("#ef8f00", "medium"),
    ("#8a94a6", "low"),
    ("#7b1fa2", "leak in a CI log"),
    ("#2f6db5", "publish"),
    ("#4c9be8", "rotated"),
    ("#2e9d57", "verified"),
    ("#fde9c8", "exposure window"),
];

/// Renders the HTML report to be written into `dir`: a log file a record names is linked
/// (relative) only when it exists inside `dir` (see [`file_ref`]). Rendered with the
/// `maud` template engine: every value is escaped unless marked otherwise (only the
/// stylesheet and the timeline, both built here, are).
pub fn render_html_in(d: &ReportData, dir: Option<&Path>) -> String {
    let s = &d.status;
    let b = brief(d);
    let lv = |l: &str| b.hunt.iter().filter(|r| r.level == l).count();
    let hf = &b.hunt;
    let raw = b.summary.hunt_raw;
    let sf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "scan_finding").collect();
    let mut cf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "census_artifact").collect();
    cf.sort_by_key(|e| (e.severity.as_deref() != Some("flagged"), e.at));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (Txt(&format!("firebreak incident report: {}", s.incident.name))) }
                style { (PreEscaped(CSS)) }
            }
            body { main {
                h1 { "Incident " (Txt(&s.incident.name)) }
                p.sub {
                    "Created " (Txt(&s.incident.created_at)) " · report generated " (Txt(&s.generated_at))
                    " · a write at or after " (Txt(&s.proof_after)) " counts as a rotation"
                }
                (brief_html(&b))
                div.cards {
                    (card("secrets", s.secrets.total, &format!("{} inventoried", s.secrets.inventoried)))
                    @if s.secrets.live > 0 {
                        (card("LIVE", s.secrets.live, "stolen values that still work: revoke at the source"))
                    }
                    (card("verified", s.secrets.verified, "new value in place, old one proven dead"))
                    @if s.secrets.rewritten > 0 {
                        (card("rewritten", s.secrets.rewritten, "new value, old one not proven dead"))
                    }
                    @if s.secrets.confirmed > 0 {
                        (card("confirmed", s.secrets.confirmed, "by a person, not proven by firebreak"))
                    }
                    (card("rotated", s.secrets.rotated, "by firebreak, not yet re-inventoried"))
                    (card("pending", s.secrets.pending, &format!("{} manual, {} stopped", s.secrets.manual, s.secrets.stopped)))
                    (card("hunt findings", hf.len(), &format!(
                        "{} critical, {} high; one per audit record ({} hits), {} hunt(s)",
                        lv("critical"), lv("high"), raw, s.hunts.runs)))
                    (card("leaked in logs", s.scans.findings, &format!("{} distinct, {} scan(s)", s.scans.distinct_secrets, s.scans.runs)))
                    (card("artifacts", s.census.artifacts, &format!("{} flagged, {} census run(s)", s.census.flagged, s.census.runs)))
                }
                h2 { "Timeline" }
                (PreEscaped(timeline_svg(d)))
                p.legend {
                    @for (color, what) in LEGEND {
                        span { i.dot style=(format!("background:{color}")) {} (what) }
                    }
                }
                h2 { "What was checked, and what was not" }
                ul {
                    @for (c, line) in coverage(d) {
                        li class=(c.class()) { (c.mark()) " " (Txt(&line)) }
                    }
                }
                h2 {
                    "Hunt findings (" (hf.len())
                    @if raw > hf.len() { ", from " (raw) " rule and novelty hits on the same records" }
                    ")"
                }
                @if hf.is_empty() {
                    p { "None recorded." }
                } @else {
                    table.hunt {
                        tr { th.nw { "time" } th.nw { "level" } th { "finding" } th { "actor" } th { "action" } th.nw { "source IP" } th { "log" } }
                        @for r in hf.iter().take(200) {
                            tr {
                                td.nw { (Txt(&r.time.replace('T', " "))) }
                                td class=(format!("nw lv-{}", r.level)) { (Txt(&r.level)) }
                                td {
                                    (Txt(&r.title))
                                    @if !r.detail.is_empty() { br; small { (Wrap(&r.detail)) } }
                                    @if !r.also.is_empty() {
                                        ul.also { @for x in &r.also { li { (Wrap(x)) } } }
                                    }
                                }
                                td { (Wrap(&r.actor)) }
                                td { code { (Wrap(&r.action)) } }
                                td.nw { (Txt(&r.source_ip)) }
                                td { (file_ref_html(&r.file, &r.line, dir)) }
                            }
                        }
                    }
                    @if hf.len() > 200 { p { (hf.len() - 200) " more in the store." } }
                }
                h2 { "Secrets leaked in logs and files (" (sf.len()) ")" }
                @if sf.is_empty() {
                    p { "None recorded." }
                } @else {
                    table {
                        tr { th { "rule" } th { "secret (redacted)" } th { "fingerprint" } th { "where" } th { "what it unlocks" } }
                        @for e in sf.iter().take(200) {
                            tr {
                                td { (Txt(&e.title)) }
                                td.nw { code { (Txt(&dstr(&e.detail, "redacted"))) } }
                                td.nw { code { (Txt(&dstr(&e.detail, "fingerprint").chars().take(16).collect::<String>())) } }
                                td { (file_ref_html(&dstr(&e.detail, "path"), &dstr(&e.detail, "line"), dir)) }
                                td { (Wrap(&dstr(&e.detail, "unlocks"))) }
                            }
                        }
                    }
                    @if sf.len() > 200 { p { (sf.len() - 200) " more in the store." } }
                }
                h2 { "Artifacts published in the window (" (cf.len()) ")" }
                @if cf.is_empty() {
                    p { "None recorded." }
                } @else {
                    table {
                        tr { th { "artifact" } th.nw { "uploaded" } th.nw { "status" } th { "findings" } }
                        @for e in cf.iter().take(300) {
                            @let flagged = e.severity.as_deref() == Some("flagged");
                            tr class=[flagged.then_some("flag")] {
                                td class=[flagged.then_some("no")] { (Wrap(&e.title)) }
                                td.nw { (Txt(&e.at.map(fmt_time).unwrap_or_default().replace('T', " "))) }
                                td.nw { (Txt(&dstr(&e.detail, "status"))) }
                                td { (Wrap(&census_findings(e).join("; "))) }
                            }
                        }
                    }
                    @if cf.len() > 300 { p { (cf.len() - 300) " more in the store." } }
                }
                h2 { "Playbook (" (s.tasks.len()) " secrets)" }
                table {
                    tr { th { "secret" } th { "where" } th { "state" } th { "what it unlocks" } th { "logs to hunt" } }
                    @for t in &s.tasks {
                        tr class=[(t.state == "live").then_some("flag")] {
                            td { code { (Wrap(&t.secret)) } }
                            td { (Wrap(&t.scope)) }
                            td {
                                span class=(format!("nw st-{}", t.state)) { (Txt(&t.state)) }
                                @if let Some(e) = t.evidence.as_deref() { br; small { (Txt(e)) } }
                                @if let Some(m) = d.manual_steps.get(&t.identity) { br; small { "to do: " (Wrap(m)) } }
                            }
                            td {
                                (Txt(&t.unlocks))
                                @if t.inferred { " " span.inferred { "(inferred from the name)" } }
                            }
                            td { (Txt(&t.hunt_logs.join("; "))) }
                        }
                    }
                }
                h2 { "Recorded outputs" }
                @if d.records.is_empty() {
                    p { "None." }
                } @else {
                    table {
                        tr { th { "kind" } th { "source" } th { "recorded" } th { "items" } th { "malformed" } }
                        @for r in &d.records {
                            tr {
                                td { (Txt(&r.kind)) }
                                td { (Txt(&r.source)) }
                                td { (Txt(&fmt_time(r.recorded_at))) }
                                td { (r.items) }
                                td { (r.malformed) }
                            }
                        }
                    }
                }
                footer {
                    "firebreak " (env!("CARGO_PKG_VERSION"))
                    " · secrets are shown only as a redacted prefix and a SHA-256 fingerprint · status as of "
                    (Txt(&s.updated_at))
                }
            } }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

// ------------------------------------------------------------------ Markdown

/// Renders the Markdown report.
pub fn render_markdown(d: &ReportData) -> String {
    let s = &d.status;
    let mut m = String::new();
    let _ = writeln!(m, "# Incident {}\n", md(&s.incident.name));
    let _ = writeln!(
        m,
        "- Breached: {}\n- Exposure window: {} .. {}\n- Created: {}\n- Report generated: {}\n- A write at or after {} counts as a rotation\n",
        md(&s.incident.providers.join(", ")),
        md(&s.incident.window.start),
        md(s.incident.window.end.as_deref().unwrap_or("(open)")),
        md(&s.incident.created_at),
        md(&s.generated_at),
        md(&s.proof_after)
    );
    let b = brief(d);
    let sm = &b.summary;
    let _ = writeln!(m, "## Summary\n");
    let _ = writeln!(
        m,
        "- Breach of {}, exposure window {}",
        md(&sm.providers.join(", ")),
        md(&sm.window)
    );
    let _ = writeln!(m, "- **{}**", md(&sm.headline));
    let states: Vec<String> = sm
        .states
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.count,
                if c.label == "live" {
                    "**LIVE**"
                } else {
                    c.label.as_str()
                }
            )
        })
        .collect();
    let _ = writeln!(m, "- {} secrets: {}", sm.secrets, states.join(", "));
    let levels: Vec<String> = sm
        .hunt_levels
        .iter()
        .map(|c| format!("{} {}", c.count, c.label))
        .collect();
    let _ = writeln!(
        m,
        "- Hunt: {} finding(s){}{}; leaked secrets in logs: {} ({} finding(s)); artifacts published in the window: {}, {} flagged",
        sm.hunt_findings,
        if levels.is_empty() { String::new() } else { format!(" ({})", levels.join(", ")) },
        if sm.hunt_raw > sm.hunt_findings {
            format!(", from {} rule and novelty hits", sm.hunt_raw)
        } else {
            String::new()
        },
        sm.leaked_secrets,
        sm.leak_findings,
        sm.artifacts,
        sm.flagged_artifacts
    );
    for w in &sm.warnings {
        let _ = writeln!(m, "- WARNING: {}", md(w));
    }
    let _ = writeln!(m, "\n## Do next\n");
    if b.do_next.is_empty() {
        let _ = writeln!(m, "Nothing left: every secret is rotated with the old credential proven dead, and every log source the playbook calls for was hunted.");
    }
    for (i, a) in b.do_next.iter().enumerate() {
        let _ = writeln!(m, "{}. **{}**", i + 1, md(&a.title));
        for it in a.items.iter().take(20) {
            if it.note.is_empty() {
                let _ = writeln!(m, "   - {}", md(&it.name));
            } else {
                let _ = writeln!(m, "   - {}: {}", md(&it.name), md(&it.note));
            }
        }
        if a.items.len() > 20 {
            let _ = writeln!(m, "   - and {} more", a.items.len() - 20);
        }
        for st in &a.steps {
            let _ = writeln!(m, "   - {}", md(st));
        }
        if let Some(c) = &a.command {
            // a fenced block: nothing inside is interpreted, and nothing can close it early
            let c = c
                .replace('`', "'")
                .replace(['\n', '\r'], " ")
                .replace('<', "&lt;");
            let _ = writeln!(m, "\n   ```sh\n   {c}\n   ```");
        }
    }
    let _ = writeln!(m, "\n### Counts\n");
    let _ = writeln!(m, "| | |\n|---|---|");

    let sc = &s.secrets;
    let _ = writeln!(m, "| secrets | {} ({} inventoried) |", sc.total, sc.inventoried);
    let _ = writeln!(m, "| LIVE (stolen value still works) | {} |", sc.live);
    let _ = writeln!(
        m,
        "| verified / rewritten / rotated | {} / {} / {} |",
        sc.verified, sc.rewritten, sc.rotated
    );
    let _ = writeln!(
        m,
        "| pending / manual / stopped | {} / {} / {} |",
        sc.pending, sc.manual, sc.stopped
    );
    let _ = writeln!(
        m,
        "| not checked / confirmed by a person | {} / {} |",
        sc.not_checked, sc.confirmed
    );
    let r = &s.rotation;
    let _ = writeln!(
        m,
        "| rotation runs | {} (done {}, in progress {}, stopped {}, of {}) |",
        r.runs, r.done, r.in_progress, r.stopped, r.total
    );
    let f = &s.hunts.findings;
    let _ = writeln!(
        m,
        "| hunts | {} (findings: {} critical, {} high, {} medium, {} low, {} informational) |",
        s.hunts.runs, f.critical, f.high, f.medium, f.low, f.informational
    );
    let _ = writeln!(
        m,
        "| scans | {} ({} findings, {} distinct secrets) |",
        s.scans.runs, s.scans.findings, s.scans.distinct_secrets
    );
    let _ = writeln!(
        m,
        "| census | {} ({} artifacts, {} flagged) |\n",
        s.census.runs, s.census.artifacts, s.census.flagged
    );
    let _ = writeln!(m, "## What was checked, and what was not\n");
    for (c, line) in coverage(d) {
        let mark = match c {
            Check::Done => "[x]",
            Check::Warning => "[ ] WARNING:",
            Check::Missing => "[ ] NOT:",
        };
        let _ = writeln!(m, "- {mark} {}", md(&line));
    }
    let hf = &b.hunt;
    let _ = writeln!(m, "\n## Hunt findings ({})\n", hf.len());
    if !hf.is_empty() {
        let _ = writeln!(
            m,
            "| time | level | finding | actor | action | source IP |\n|---|---|---|---|---|---|"
        );
        for r in hf.iter().take(200) {
            let also = if r.also.is_empty() {
                String::new()
            } else {
                format!(" (also: {})", r.also.join("; "))
            };
            let _ = writeln!(
                m,
                "| {} | {} | {}{} | {} | {} | {} |",
                md(&r.time),
                md(&r.level),
                md(&r.title),
                md(&also),
                md(&r.actor),
                md(&r.action),
                md(&r.source_ip)
            );
        }
    }
    let sf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "scan_finding").collect();
    let _ = writeln!(m, "\n## Secrets leaked in logs and files ({})\n", sf.len());
    if !sf.is_empty() {
        let _ = writeln!(
            m,
            "| rule | redacted | fingerprint | where | unlocks |\n|---|---|---|---|---|"
        );
        for e in sf.iter().take(200) {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} |",
                md(&e.title),
                md(&dstr(&e.detail, "redacted")),
                md(&dstr(&e.detail, "fingerprint")
                    .chars()
                    .take(16)
                    .collect::<String>()),
                md(&format!(
                    "{}:{}",
                    dstr(&e.detail, "path"),
                    dstr(&e.detail, "line")
                )),
                md(&dstr(&e.detail, "unlocks"))
            );
        }
    }
    let mut cf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "census_artifact").collect();
    cf.sort_by_key(|e| (e.severity.as_deref() != Some("flagged"), e.at));
    let _ = writeln!(m, "\n## Artifacts published in the window ({})\n", cf.len());
    if !cf.is_empty() {
        let _ = writeln!(m, "| artifact | uploaded | status | flagged |\n|---|---|---|---|");
        for e in cf.iter().take(300) {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                md(&e.title),
                md(&e.at.map(fmt_time).unwrap_or_default()),
                md(&dstr(&e.detail, "status")),
                if e.severity.as_deref() == Some("flagged") {
                    "**yes**"
                } else {
                    "no"
                }
            );
        }
    }
    let _ = writeln!(m, "\n## Playbook ({} secrets)\n", s.tasks.len());
    let _ = writeln!(
        m,
        "| secret | where | state | unlocks | logs to hunt |\n|---|---|---|---|---|"
    );
    for t in &s.tasks {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {}{} | {} |",
            md(&t.secret),
            md(&t.scope),
            md(&t.state),
            md(&t.unlocks),
            if t.inferred {
                " (inferred from the name)"
            } else {
                ""
            },
            md(&t.hunt_logs.join("; "))
        );
    }
    let _ = writeln!(
        m,
        "\nSecrets are shown only as a redacted prefix and a SHA-256 fingerprint. Status as of {}.",
        md(&s.updated_at)
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        parse_t(s).unwrap()
    }

    /// A task of the given state.
    fn task(name: &str, state: &str) -> Value {
        json!({"secret": name, "scope": "circleci/gh/acme/app", "state": state, "unlocks": "npm publish",
               "hunt_logs": ["CloudTrail (AWS account 123456789012)"], "inferred": false,
               "identity": format!("circleci/env_var/gh/acme/app/{name}"), "kind": "env_var"})
    }

    /// A report over a status built from `tasks` (states counted from them), `items`
    /// secrets in the one inventory snapshot, and `events`.
    fn data(tasks: Vec<Value>, items: i64, events: Vec<IncidentEvent>) -> ReportData {
        let mut counts = json!({"total": tasks.len(), "inventoried": tasks.len(), "live": 0, "rotated": 0,
            "verified": 0, "rewritten": 0, "manual": 0, "pending": 0, "stopped": 0});
        for t in &tasks {
            let st = t["state"].as_str().unwrap();
            counts[st] = json!(counts[st].as_u64().unwrap() + 1);
        }
        let status: Status = serde_json::from_value(json!({
            "incident": {"name": "cci", "providers": ["circleci"],
                         "window": {"start": "2022-12-21T00:00:00Z", "end": "2023-01-05T00:00:00Z"},
                         "created_at": "2023-01-05T10:00:00Z"},
            "secrets": counts,
            "rotation": {"runs": 0, "done": 0, "in_progress": 0, "stopped": 0, "total": 0},
            "hunts": {"runs": 1, "findings": {"critical": 0, "high": 0, "medium": 0, "low": 0, "informational": 0}},
            "scans": {"runs": 1, "findings": 0, "distinct_secrets": 0},
            "census": {"runs": 1, "artifacts": 0, "flagged": 0},
            "tasks": tasks,
            "updated_at": "2023-01-06T00:00:00Z",
            "generated_at": "2023-01-06T00:00:00Z",
            "proof_after": "2023-01-05T00:00:00Z",
            "snapshots": [{"id": 1, "provider": "circleci", "org": "gh/acme", "finished_at": "2023-01-05T12:00:00Z",
                           "items": items, "errors": 0}],
        }))
        .unwrap();
        ReportData {
            status,
            records: vec![],
            events,
            rotations: vec![],
            manual_steps: BTreeMap::new(),
        }
    }

    fn hunt(
        id: &str,
        level: &str,
        rule: &str,
        title: &str,
        at: &str,
        file: &str,
        line: u64,
    ) -> IncidentEvent {
        IncidentEvent {
            record_id: 1,
            kind: "hunt_finding".into(),
            item_id: id.into(),
            at: Some(t(at)),
            severity: Some(level.into()),
            title: title.into(),
            detail: json!({"kind": if rule.starts_with("novelty.") { "novelty" } else { "rule" }, "rule_id": rule,
                           "source": "cloudtrail", "actor": "ci-deploy", "action": "iam:CreateAccessKey",
                           "source_ip": "203.0.113.7", "file": file, "line": line}),
        }
    }

    fn leak(id: &str, at: &str) -> IncidentEvent {
        IncidentEvent {
            record_id: 2,
            kind: "scan_finding".into(),
            item_id: id.into(),
            at: Some(t(at)),
            severity: Some("high".into()),
            title: "AWS access key".into(),
            detail: json!({"rule_id": "aws-access-key", "path": "gh/acme/app/job/1/log", "line": 3,
                           "redacted": "AKIA…", "fingerprint": format!("fp-{id}")}),
        }
    }

    /// The rows of the table that follows the heading starting with `heading`.
    fn table_rows(html: &str, heading: &str) -> Vec<String> {
        let at = html.find(heading).unwrap_or_else(|| panic!("no {heading:?}"));
        let rest = &html[at..];
        let end = rest.find("</table>").unwrap();
        rest[..end]
            .split("<tr")
            .skip(2) // before the table, the header row
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn an_attacker_call_is_one_hunt_row_with_its_novelty_attached() {
        let f = "/logs/cloudtrail.json";
        let events = vec![
            // one call: a rule and two novelty findings on the same record
            hunt(
                "a",
                "high",
                "aws-create-key",
                "IAM access key created",
                "2022-12-28T10:00:00Z",
                f,
                7,
            ),
            hunt(
                "b",
                "medium",
                "novelty.source_ip",
                "New source IP for identity",
                "2022-12-28T10:00:00Z",
                f,
                7,
            ),
            hunt(
                "c",
                "low",
                "novelty.user_agent",
                "New user agent for identity",
                "2022-12-28T10:00:00Z",
                f,
                7,
            ),
            // another call, a rule only
            hunt(
                "d",
                "medium",
                "aws-list",
                "Listing calls",
                "2022-12-28T11:00:00Z",
                f,
                9,
            ),
            // novelty alone on a third record stays a row of its own
            hunt(
                "e",
                "low",
                "novelty.action",
                "New action for identity",
                "2022-12-28T12:00:00Z",
                f,
                12,
            ),
        ];
        let d = data(vec![task("A", "verified")], 1, events);
        let rows = hunt_rows(&d.events);
        assert_eq!(rows.len(), 3, "{rows:#?}");
        assert_eq!(rows[0].title, "IAM access key created");
        assert_eq!(rows[0].level, "high");
        assert_eq!(rows[0].also.len(), 2, "{:?}", rows[0].also);
        assert!(rows[0].also[0].contains("New source IP for identity"));
        // the rendered table: one row per call, the novelty under the rule's title
        let html = render_html(&d);
        let trs = table_rows(&html, "<h2>Hunt findings");
        assert_eq!(trs.len(), 3, "{trs:#?}");
        assert_eq!(
            trs.iter()
                .map(|r| r.matches("New source IP for identity").count())
                .sum::<usize>(),
            1
        );
        assert!(trs[0].contains("IAM access key created") && trs[0].contains("New user agent for identity"));
        let md = render_markdown(&d);
        let md_rows = md.lines().filter(|l| l.starts_with("| 2022-12-28")).count();
        assert_eq!(md_rows, 3, "{md}");
        assert!(md.contains("## Hunt findings (3)"), "{md}");
    }

    #[test]
    fn timeline_marks_say_how_many_events_they_stand_for() {
        // 12 leaks at 3 moments: 3 marks, each saying 4
        let mut events = Vec::new();
        for (i, at) in [
            "2022-12-23T10:00:00Z",
            "2022-12-27T10:00:00Z",
            "2023-01-02T10:00:00Z",
        ]
        .iter()
        .enumerate()
        {
            for j in 0..4 {
                events.push(leak(&format!("{i}-{j}"), at));
            }
        }
        let d = data(vec![task("A", "verified")], 1, events);
        let svg = timeline_svg(&d);
        let counts: Vec<usize> = svg
            .split("data-count=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 12, "{svg}");
        assert_eq!(counts, vec![4, 4, 4], "{svg}");
        // the count is drawn on the mark, not only in a tooltip
        assert_eq!(
            svg.matches(r#"text-anchor="middle">4</text>"#).count(),
            3,
            "{svg}"
        );
    }

    #[test]
    fn the_rotation_headline_says_what_is_left() {
        let mut tasks: Vec<Value> = (0..34).map(|i| task(&format!("S{i}"), "verified")).collect();
        tasks.push(task("DEPLOY_KEY", "manual"));
        let d = data(tasks, 35, vec![]);
        assert_eq!(
            rotation_headline(&d.status.secrets),
            "34 of 35 secrets rotated with the old credential proven dead; 1 still to do (1 manual)"
        );
        let html = render_html(&d);
        assert!(
            html.contains(r#"<li class="no">✘ 34 of 35 secrets rotated with the old credential proven dead; 1 still to do (1 manual)"#),
            "{html}"
        );
        let all = data(
            (0..3).map(|i| task(&format!("S{i}"), "verified")).collect(),
            3,
            vec![],
        );
        assert!(rotation_headline(&all.status.secrets).starts_with("all 3 secrets rotated"));
    }

    #[test]
    fn an_inventory_with_no_secrets_is_a_warning() {
        let d = data(vec![], 0, vec![]);
        let cov = coverage(&d);
        let inv: Vec<&(Check, String)> = cov.iter().filter(|(_, l)| l.contains("gh/acme")).collect();
        assert_eq!(inv.len(), 1);
        assert_eq!(inv[0].0, Check::Warning, "{inv:?}");
        assert!(inv[0].1.contains("0 secrets found"), "{}", inv[0].1);
        let html = render_html(&d);
        assert!(
            !html.contains("✔ circleci organisation gh/acme inventoried"),
            "{html}"
        );
        assert!(html.contains(
            r#"<li class="warn">⚠ circleci organisation gh/acme inventoried, but 0 secrets found"#
        ));
        let b = brief(&d);
        assert_eq!(b.summary.warnings.len(), 1);
        assert_eq!(b.do_next[0].kind, "inventory", "{:?}", b.do_next);
        assert!(render_markdown(&d)
            .contains("- [ ] WARNING: circleci organisation gh/acme inventoried, but 0 secrets found"));
        // with secrets, the same snapshot is a success
        let ok = data(vec![task("A", "verified")], 1, vec![]);
        assert_eq!(coverage(&ok)[0].0, Check::Done);
    }

    #[test]
    fn summary_and_do_next_open_the_report_live_first() {
        let mut d = data(
            vec![
                task("NPM_TOKEN", "live"),
                task("SLACK_URL", "pending"),
                task("DEPLOY_KEY", "manual"),
                task("AWS_KEY", "verified"),
            ],
            4,
            vec![IncidentEvent {
                record_id: 3,
                kind: "census_artifact".into(),
                item_id: "w".into(),
                at: Some(t("2022-12-30T00:00:00Z")),
                severity: Some("flagged".into()),
                title: "acme_sdk 2.1.1".into(),
                detail: json!({"status": "in_window", "findings": [{"kind": "ioc", "indicator": "_ci_exfil.py"}]}),
            }],
        );
        d.status.census.flagged = 1;
        d.status.census.artifacts = 1;
        d.manual_steps.insert(
            "circleci/env_var/gh/acme/app/DEPLOY_KEY".into(),
            "issue a new key in GitHub, replace it in CircleCI, delete the old one".into(),
        );
        let b = brief(&d);
        let kinds: Vec<&str> = b.do_next.iter().map(|a| a.kind.as_str()).collect();
        // cloudtrail logs are called for and not hunted (no hunt record names them)
        assert_eq!(
            kinds,
            ["live", "unrotated", "manual", "artifact", "hunt"],
            "{:#?}",
            b.do_next
        );
        assert_eq!(
            b.do_next[0].command.as_deref(),
            Some("firebreak revoke --values leaked.env --only NPM_TOKEN --yes --incident cci")
        );
        assert_eq!(
            b.do_next[2].items[0].note,
            "issue a new key in GitHub, replace it in CircleCI, delete the old one"
        );
        assert_eq!(b.summary.states[0].label, "live");
        let html = render_html(&d);
        let pos = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle:?}"));
        assert!(pos(r#"id="summary""#) < pos(r#"id="do-next""#));
        assert!(pos(r#"id="do-next""#) < pos("<h2>Timeline"));
        assert!(pos(r#"data-kind="live""#) < pos(r#"data-kind="manual""#));
        assert!(html
            .replace("<wbr>", "")
            .contains("issue a new key in GitHub, replace it in CircleCI, delete the old one"));
        let md = render_markdown(&d);
        let mpos = |needle: &str| md.find(needle).unwrap_or_else(|| panic!("no {needle:?} in {md}"));
        assert!(mpos("## Summary") < mpos("## Do next"));
        assert!(mpos("## Do next") < mpos("## What was checked"));
        assert!(
            md.contains("1. **Revoke 1 LIVE credential(s) at the source now"),
            "{md}"
        );
        assert!(md.contains("firebreak revoke --values leaked.env --only NPM_TOKEN --yes --incident cci"));
    }

    #[test]
    fn hostile_names_are_escaped_everywhere() {
        let evil = "<script>alert(1)</script>";
        let mut t1 = task(evil, "live");
        t1["scope"] = json!("circleci/gh/<b>x</b>");
        let mut ev = hunt(
            "a",
            "high",
            "r",
            evil,
            "2022-12-28T10:00:00Z",
            "/x/<img src=x>.json",
            1,
        );
        ev.detail["actor"] = json!("<img src=x onerror=alert(1)>");
        let mut d = data(vec![t1, task("B'\"&", "manual")], 2, vec![ev]);
        d.status.incident.name = "in<script>".into();
        let html = render_html(&d);
        assert!(!html.contains("<script"), "unescaped script");
        assert!(!html.contains("<img"), "unescaped img");
        assert!(!html.contains("<b>x"), "unescaped b");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // the revoke command quotes the hostile name for the shell, and it is escaped
        assert!(
            html.contains("--only '&lt;script&gt;alert(1)&lt;/script&gt;'"),
            "{html}"
        );
        let md = render_markdown(&d);
        assert!(!md.contains("<script"), "{md}");
        assert!(!md.contains("<img"), "{md}");
    }

    #[test]
    fn log_files_are_linked_only_when_they_are_in_the_report_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("logs/a b.log"), "x").unwrap();
        // inside the report dir, relative or absolute: a relative link
        let rel = file_ref("logs/a b.log", "3", Some(dir.path()));
        assert_eq!(
            rel,
            r#"<a href="logs/a%20b.log">logs/<wbr>a b.<wbr>log:<wbr>3</a>"#
        );
        let abs = dir.path().join("logs/a b.log");
        assert!(file_ref(abs.to_str().unwrap(), "3", Some(dir.path()))
            .starts_with(r#"<a href="logs/a%20b.log">"#));
        // a temporary directory that is gone: text, said to be gone
        let gone = file_ref(
            "/tmp/firebreak-drill-gone-4711/audit/cloudtrail.json",
            "12",
            Some(dir.path()),
        );
        assert!(!gone.contains("<a"), "{gone}");
        assert!(gone.contains("(gone)"), "{gone}");
        // an existing file outside the report dir: text
        let other = tempfile::NamedTempFile::new().unwrap();
        let out = file_ref(other.path().to_str().unwrap(), "1", Some(dir.path()));
        assert!(!out.contains("<a"), "{out}");
        // the written report links nothing that is not there
        let ev = hunt(
            "a",
            "high",
            "r",
            "x",
            "2022-12-28T10:00:00Z",
            "/tmp/firebreak-drill-gone-4711/ct.json",
            1,
        );
        let d = data(vec![task("A", "verified")], 1, vec![ev]);
        let w = write(&d, dir.path()).unwrap();
        let html = std::fs::read_to_string(w.html).unwrap();
        assert!(!html.contains("<a href"), "{html}");
    }

    #[test]
    fn short_columns_do_not_break_inside_words() {
        let d = data(
            vec![task("A", "rewritten")],
            1,
            vec![hunt("a", "high", "r", "x", "2022-12-28T10:00:00Z", "f", 1)],
        );
        let html = render_html(&d);
        // no cell may break anywhere (that is what split "hig/h")
        assert!(!html.contains("th,td{border:1px solid #e1e4ea;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere"));
        assert!(html.contains(r#"<td class="nw lv-high">high</td>"#), "{html}");
        assert!(html.contains(r#"<span class="nw st-rewritten">rewritten</span>"#));
        assert!(CSS.contains(".nw{white-space:nowrap}"));
    }
}
