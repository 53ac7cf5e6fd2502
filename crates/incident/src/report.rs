//! `firebreak report`: the self-contained HTML report (inline CSS and SVG, no script, no
//! external reference, so it opens offline) and its Markdown twin.
//!
//! Both are rendered from [`ReportData`]: the [`Status`] plus the recorded events, read
//! from the store at the time of the call. Every piece of text from the store is escaped;
//! secrets appear only as the redacted prefix and the fingerprint the scanner recorded.

use crate::status::{load_incident, Status};
use crate::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use firebreak_store::{fmt_time, IncidentEvent, IncidentRecord, Store};
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
    Ok(ReportData {
        status,
        records,
        events,
        rotations,
    })
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
    std::fs::write(&html, render_html(data)).map_err(|e| io(&html, e))?;
    std::fs::write(&md, render_markdown(data)).map_err(|e| io(&md, e))?;
    Ok(Written { html, markdown: md })
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
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

/// What was checked and what was not, as (checked?, sentence) lines.
pub fn coverage(d: &ReportData) -> Vec<(bool, String)> {
    let s = &d.status;
    let mut out = Vec::new();
    for snap in &s.snapshots {
        out.push((
            true,
            format!(
                "{} organisation {} inventoried (snapshot {}, {} secrets, finished {})",
                snap.provider, snap.org, snap.id, snap.items, snap.finished_at
            ),
        ));
        if snap.errors > 0 {
            out.push((
                false,
                format!(
                    "{} scope(s) of {} {} could not be inventoried (snapshot {} recorded the errors: `firebreak inventory list`)",
                    snap.errors, snap.provider, snap.org, snap.id
                ),
            ));
        }
    }
    for p in &s.providers_not_inventoried {
        out.push((
            false,
            format!("{p}: breached but never inventoried: its secrets are not in the playbook"),
        ));
    }
    let sc = &s.secrets;
    out.push((
        sc.verified + sc.rotated == sc.total && sc.total > 0,
        format!(
            "{} of {} secrets rotated with the old credential proven dead ({} verified: new value in place and old one dead at its source; {} rotated by firebreak, which revoked the old one, not yet re-inventoried)",
            sc.verified + sc.rotated,
            sc.total,
            sc.verified,
            sc.rotated
        ),
    ));
    let left = |st: &str| -> Vec<String> {
        s.tasks
            .iter()
            .filter(|t| t.state == st)
            .map(|t| format!("{} ({})", t.secret, t.scope))
            .collect()
    };
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
            "stopped",
            "stopped or rolled back (the old credential is still valid)",
        ),
        ("pending", "not rotated at all"),
    ] {
        let v = left(st);
        if !v.is_empty() {
            let shown: Vec<String> = v.iter().take(12).cloned().collect();
            let more = if v.len() > shown.len() {
                format!(" and {} more", v.len() - shown.len())
            } else {
                String::new()
            };
            out.push((
                false,
                format!("{} secret(s) {what}: {}{more}", v.len(), shown.join(", ")),
            ));
        }
    }
    let inferred = s.tasks.iter().filter(|t| t.inferred).count();
    if inferred > 0 {
        out.push((
            false,
            format!(
                "{inferred} of {} blast radii are inferred from the secret's name only (no value, no API check)",
                s.tasks.len()
            ),
        ));
    }
    // logs the playbook calls for vs. logs hunted
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
    for t in &s.tasks {
        for l in &t.hunt_logs {
            *wanted.entry(l.clone()).or_default() += 1;
        }
    }
    let mut unknown_logs = Vec::new();
    let mut by_source: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (l, n) in &wanted {
        match log_source(l) {
            Some(src) => *by_source.entry(src).or_default() += n,
            None => unknown_logs.push(format!("{l} ({n})")),
        }
    }
    for (src, n) in &by_source {
        if hunted.contains(*src) {
            out.push((true, format!("{src} logs hunted ({n} secret(s) point there)")));
        } else {
            out.push((
                false,
                format!("{src} logs NOT hunted, though {n} secret(s) point there"),
            ));
        }
    }
    for src in &hunted {
        if !by_source.contains_key(src.as_str()) {
            out.push((true, format!("{src} logs hunted")));
        }
    }
    if !unknown_logs.is_empty() {
        out.push((
            false,
            format!(
                "logs firebreak cannot hunt, to check by hand: {}",
                unknown_logs.into_iter().take(12).collect::<Vec<_>>().join("; ")
            ),
        ));
    }
    if s.hunts.runs == 0 {
        out.push((
            false,
            "no hunt recorded (`firebreak incident record NAME --kind hunt FILE`)".into(),
        ));
    }
    if s.scans.runs == 0 {
        out.push((
            false,
            "CI logs and repositories not scanned for leaked secrets (no scan recorded)".into(),
        ));
    } else {
        out.push((
            true,
            format!(
                "{} scan(s) recorded: {} leaked secret finding(s), {} distinct secret(s)",
                s.scans.runs, s.scans.findings, s.scans.distinct_secrets
            ),
        ));
    }
    if s.census.runs == 0 {
        out.push((
            false,
            "artifacts published in the window not censused (no census recorded)".into(),
        ));
    } else {
        out.push((
            true,
            format!(
                "{} census run(s): {} artifact(s) published in the window, {} flagged",
                s.census.runs, s.census.artifacts, s.census.flagged
            ),
        ));
    }
    out
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
                        "critical" | "high" => -8.0,
                        "medium" => 0.0,
                        _ => 8.0,
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
    let (width, left, right_gutter, lane_h, top) = (980.0_f64, 150.0_f64, 110.0_f64, 34.0_f64, 28.0_f64);
    let left_gutter = 90.0;
    let x0 = left + left_gutter;
    let x1 = width - right_gutter - 10.0;
    let height = top + lane_h * LANES.len() as f64 + 46.0;
    let xs = |t: DateTime<Utc>| -> f64 {
        let f = (t - a0).num_seconds() as f64 / (a1 - a0).num_seconds().max(1) as f64;
        x0 + f * (x1 - x0)
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="Timeline of the exposure window">"#
    );
    let _ = write!(
        s,
        "<title>{}</title>",
        esc(&format!(
            "Exposure window {} to {}",
            short_t(w_start),
            short_t(w_end)
        ))
    );
    // window shading
    let _ = write!(
        s,
        r#"<rect class="window" x="{:.1}" y="{top}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
        xs(w_start),
        (xs(w_end) - xs(w_start)).max(1.0),
        lane_h * LANES.len() as f64,
        esc(&format!(
            "exposure window {} .. {}",
            short_t(w_start),
            if st.incident.window.end.is_some() {
                short_t(w_end)
            } else {
                "open".into()
            }
        ))
    );
    // gutters
    let _ = write!(
        s,
        r#"<rect class="gutter" x="{left}" y="{top}" width="{:.1}" height="{:.1}"/><rect class="gutter" x="{:.1}" y="{top}" width="{:.1}" height="{:.1}"/>"#,
        left_gutter - 8.0,
        lane_h * LANES.len() as f64,
        x1 + 8.0,
        right_gutter,
        lane_h * LANES.len() as f64
    );
    let _ = write!(
        s,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">earlier</text>"#,
        left + (left_gutter - 8.0) / 2.0,
        top - 8.0
    );
    let _ = write!(
        s,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">later</text>"#,
        x1 + 8.0 + right_gutter / 2.0,
        top - 8.0
    );
    // lanes
    for (i, name) in LANES.iter().enumerate() {
        let y = top + lane_h * i as f64;
        let _ = write!(
            s,
            r#"<line class="lane" x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><text class="lanelabel" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            y + lane_h / 2.0,
            width - 10.0,
            y + lane_h / 2.0,
            left - 8.0,
            y + lane_h / 2.0 + 4.0,
            esc(name)
        );
    }
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
    let axis_y = top + lane_h * LANES.len() as f64;
    let mut n = 0;
    while t <= a1 && n < 60 {
        let x = xs(t);
        let _ = write!(
            s,
            r#"<line class="tick" x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}"/><text class="axis" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            axis_y + 4.0,
            axis_y + 18.0,
            esc(&t.format(if step >= 365 { "%Y" } else { "%m-%d" }).to_string())
        );
        t += Duration::days(step);
        n += 1;
    }
    let _ = write!(
        s,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        axis_y + 36.0,
        esc(&format!(
            "{} .. {} (UTC)",
            a0.format("%Y-%m-%d"),
            a1.format("%Y-%m-%d")
        ))
    );
    // marks in range; gutters collect the rest
    let mut before: BTreeMap<usize, Vec<&Mark>> = BTreeMap::new();
    let mut after: BTreeMap<usize, Vec<&Mark>> = BTreeMap::new();
    for m in &ms {
        let y = top + lane_h * m.lane as f64 + lane_h / 2.0 + m.dy;
        if m.at < a0 {
            before.entry(m.lane).or_default().push(m);
        } else if m.at > a1 {
            after.entry(m.lane).or_default().push(m);
        } else {
            let x = xs(m.at);
            let _ = write!(
                s,
                r#"<circle class="{}" cx="{x:.1}" cy="{y:.1}" r="5"><title>{}</title></circle>"#,
                m.class,
                esc(&m.label)
            );
        }
    }
    for (side, group, cx) in [
        ("earlier", &before, left + (left_gutter - 8.0) / 2.0),
        ("later", &after, x1 + 8.0 + right_gutter / 2.0),
    ] {
        for (lane, v) in group.iter() {
            let y = top + lane_h * *lane as f64 + lane_h / 2.0;
            let first = v.first().map(|m| short_t(m.at)).unwrap_or_default();
            let last = v.last().map(|m| short_t(m.at)).unwrap_or_default();
            let class = v.first().map(|m| m.class).unwrap_or("m-low");
            let tip = format!(
                "{} {} {side} than the axis: {first} .. {last}",
                v.len(),
                LANES[*lane]
            );
            let _ = write!(
                s,
                r#"<circle class="{class}" cx="{:.1}" cy="{y:.1}" r="6"><title>{}</title></circle><text class="count" x="{:.1}" y="{:.1}">{}</text>"#,
                cx - 14.0,
                esc(&tip),
                cx - 4.0,
                y + 4.0,
                esc(&format!("×{}", v.len()))
            );
        }
    }
    s.push_str("</svg>");
    s
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
th,td{border:1px solid #e1e4ea;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef0f4}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
.ok{color:#17693a}.no{color:#a4221b}
.st-verified{color:#17693a;font-weight:600}.st-rotated{color:#2f6db5;font-weight:600}
.st-pending{color:#a4221b;font-weight:600}.st-manual{color:#8a5a00;font-weight:600}.st-stopped{color:#a4221b;font-weight:700}.st-live{color:#fff;background:#7f1d1d;font-weight:700;padding:0 4px}.st-rewritten{color:#6d28d9;font-weight:600}
.lv-critical,.lv-high{color:#a4221b;font-weight:600}.lv-medium{color:#8a5a00}.lv-low,.lv-informational{color:#5a6374}
.inferred{color:#8a5a00;font-size:.85em}
svg.timeline{background:#fff;border:1px solid #d8dce3;border-radius:6px}
svg .window{fill:#fde9c8}svg .gutter{fill:#f0f1f4}svg .lane{stroke:#e1e4ea}svg .tick{stroke:#eceef2}
svg .axis,svg .lanelabel,svg .count{font:11px system-ui,sans-serif;fill:#5a6374}
svg .m-high{fill:#c62828}svg .m-med{fill:#ef8f00}svg .m-low{fill:#8a94a6}svg .m-leak{fill:#7b1fa2}
svg .m-pub{fill:#2f6db5}svg .m-rot{fill:#4c9be8}svg .m-ok{fill:#2e9d57}
.legend span{margin-right:14px;font-size:.85em}.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
footer{color:#5a6374;font-size:.8em;margin-top:30px}
"#;

fn card(label: &str, value: usize, sub: &str) -> String {
    format!(
        r#"<div class="card"><b>{value}</b>{}<br><span>{}</span></div>"#,
        esc(label),
        esc(sub)
    )
}

/// Renders the HTML report.
pub fn render_html(d: &ReportData) -> String {
    let s = &d.status;
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        h,
        "<title>{}</title>",
        esc(&format!("firebreak incident report: {}", s.incident.name))
    );
    let _ = write!(h, "<style>{CSS}</style></head><body><main>");
    let _ = write!(h, "<h1>Incident {}</h1>", esc(&s.incident.name));
    let _ = write!(
        h,
        r#"<p class="sub">Breached: {} · exposure window {} .. {} · created {} · report generated {} · rotation counts from {}</p>"#,
        esc(&s.incident.providers.join(", ")),
        esc(&s.incident.window.start),
        esc(s.incident.window.end.as_deref().unwrap_or("(open)")),
        esc(&s.incident.created_at),
        esc(&s.generated_at),
        esc(&s.proof_after)
    );
    // cards
    h.push_str(r#"<div class="cards">"#);
    h.push_str(&card(
        "secrets",
        s.secrets.total,
        &format!("{} inventoried", s.secrets.inventoried),
    ));
    if s.secrets.live > 0 {
        h.push_str(&card(
            "LIVE",
            s.secrets.live,
            "stolen values that still work: revoke at the source",
        ));
    }
    h.push_str(&card(
        "verified",
        s.secrets.verified,
        "new value in place, old one proven dead",
    ));
    if s.secrets.rewritten > 0 {
        h.push_str(&card(
            "rewritten",
            s.secrets.rewritten,
            "new value, old one not proven dead",
        ));
    }
    h.push_str(&card(
        "rotated",
        s.secrets.rotated,
        "by firebreak, not yet re-inventoried",
    ));
    h.push_str(&card(
        "pending",
        s.secrets.pending,
        &format!("{} manual, {} stopped", s.secrets.manual, s.secrets.stopped),
    ));
    h.push_str(&card(
        "hunt findings",
        s.hunts.findings.total(),
        &format!(
            "{} critical, {} high, {} hunt(s)",
            s.hunts.findings.critical, s.hunts.findings.high, s.hunts.runs
        ),
    ));
    h.push_str(&card(
        "leaked in logs",
        s.scans.findings,
        &format!("{} distinct, {} scan(s)", s.scans.distinct_secrets, s.scans.runs),
    ));
    h.push_str(&card(
        "artifacts",
        s.census.artifacts,
        &format!("{} flagged, {} census run(s)", s.census.flagged, s.census.runs),
    ));
    h.push_str("</div>");
    // timeline
    h.push_str("<h2>Timeline</h2>");
    h.push_str(&timeline_svg(d));
    h.push_str(r#"<p class="legend"><span><i class="dot" style="background:#c62828"></i>high / critical, flagged</span><span><i class="dot" style="background:#ef8f00"></i>medium</span><span><i class="dot" style="background:#8a94a6"></i>low</span><span><i class="dot" style="background:#7b1fa2"></i>leak in a CI log</span><span><i class="dot" style="background:#2f6db5"></i>publish</span><span><i class="dot" style="background:#4c9be8"></i>rotated</span><span><i class="dot" style="background:#2e9d57"></i>verified</span><span><i class="dot" style="background:#fde9c8"></i>exposure window</span></p>"#);
    // coverage
    h.push_str("<h2>What was checked, and what was not</h2><ul>");
    for (ok, line) in coverage(d) {
        let _ = write!(
            h,
            r#"<li class="{}">{} {}</li>"#,
            if ok { "ok" } else { "no" },
            if ok { "✔" } else { "✘" },
            esc(&line)
        );
    }
    h.push_str("</ul>");
    // hunt findings
    let mut hf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "hunt_finding").collect();
    hf.sort_by(|a, b| {
        level_rank(a.severity.as_deref().unwrap_or(""))
            .cmp(&level_rank(b.severity.as_deref().unwrap_or("")))
            .then(a.at.cmp(&b.at))
    });
    let _ = write!(h, "<h2>Hunt findings ({})</h2>", hf.len());
    if hf.is_empty() {
        h.push_str("<p>None recorded.</p>");
    } else {
        h.push_str("<table><tr><th>time</th><th>level</th><th>finding</th><th>actor</th><th>action</th><th>source IP</th><th>log</th></tr>");
        for e in hf.iter().take(200) {
            let lvl = e.severity.clone().unwrap_or_default();
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="lv-{}">{}</td><td>{}{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
                esc(&e.at.map(fmt_time).unwrap_or_default()),
                esc(&lvl),
                esc(&lvl),
                esc(&e.title),
                {
                    let det = dstr(&e.detail, "detail");
                    if det.is_empty() {
                        String::new()
                    } else {
                        format!("<br><small>{}</small>", esc(&det))
                    }
                },
                esc(&dstr(&e.detail, "actor")),
                esc(&dstr(&e.detail, "action")),
                esc(&dstr(&e.detail, "source_ip")),
                esc(&format!(
                    "{}:{}",
                    dstr(&e.detail, "file"),
                    dstr(&e.detail, "line")
                ))
            );
        }
        h.push_str("</table>");
        if hf.len() > 200 {
            let _ = write!(h, "<p>{} more in the store.</p>", hf.len() - 200);
        }
    }
    // leaks
    let sf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "scan_finding").collect();
    let _ = write!(h, "<h2>Secrets leaked in logs and files ({})</h2>", sf.len());
    if sf.is_empty() {
        h.push_str("<p>None recorded.</p>");
    } else {
        h.push_str("<table><tr><th>rule</th><th>secret (redacted)</th><th>fingerprint</th><th>where</th><th>what it unlocks</th></tr>");
        for e in sf.iter().take(200) {
            let fp = dstr(&e.detail, "fingerprint");
            let _ =
                write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&e.title),
                esc(&dstr(&e.detail, "redacted")),
                esc(&fp.chars().take(16).collect::<String>()),
                esc(&format!("{}:{}", dstr(&e.detail, "path"), dstr(&e.detail, "line"))),
                esc(&dstr(&e.detail, "unlocks"))
            );
        }
        h.push_str("</table>");
        if sf.len() > 200 {
            let _ = write!(h, "<p>{} more in the store.</p>", sf.len() - 200);
        }
    }
    // census
    let mut cf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "census_artifact").collect();
    cf.sort_by_key(|e| (e.severity.as_deref() != Some("flagged"), e.at));
    let _ = write!(h, "<h2>Artifacts published in the window ({})</h2>", cf.len());
    if cf.is_empty() {
        h.push_str("<p>None recorded.</p>");
    } else {
        h.push_str("<table><tr><th>artifact</th><th>uploaded</th><th>status</th><th>findings</th></tr>");
        for e in cf.iter().take(300) {
            let f: Vec<String> = e
                .detail
                .get("findings")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            let mut t = dstr(x, "kind");
                            for k in ["indicator", "description", "member", "rule_id", "redacted"] {
                                let v = dstr(x, k);
                                if !v.is_empty() {
                                    t.push_str(&format!(" {v}"));
                                }
                            }
                            t
                        })
                        .collect()
                })
                .unwrap_or_default();
            let flagged = e.severity.as_deref() == Some("flagged");
            let _ = write!(
                h,
                r#"<tr><td{}>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                if flagged { r#" class="no""# } else { "" },
                esc(&e.title),
                esc(&e.at.map(fmt_time).unwrap_or_default()),
                esc(&dstr(&e.detail, "status")),
                esc(&f.join("; "))
            );
        }
        h.push_str("</table>");
        if cf.len() > 300 {
            let _ = write!(h, "<p>{} more in the store.</p>", cf.len() - 300);
        }
    }
    // playbook
    let _ = write!(h, "<h2>Playbook ({} secrets)</h2>", s.tasks.len());
    h.push_str("<table><tr><th>secret</th><th>where</th><th>state</th><th>what it unlocks</th><th>logs to hunt</th></tr>");
    for t in &s.tasks {
        let _ = write!(
            h,
            r#"<tr><td><code>{}</code></td><td>{}</td><td class="st-{}">{}{}</td><td>{}{}</td><td>{}</td></tr>"#,
            esc(&t.secret),
            esc(&t.scope),
            esc(&t.state),
            esc(&t.state),
            t.evidence
                .as_deref()
                .map(|e| format!("<br><small>{}</small>", esc(e)))
                .unwrap_or_default(),
            esc(&t.unlocks),
            if t.inferred {
                r#" <span class="inferred">(inferred from the name)</span>"#
            } else {
                ""
            },
            esc(&t.hunt_logs.join("; "))
        );
    }
    h.push_str("</table>");
    // records
    h.push_str("<h2>Recorded outputs</h2>");
    if d.records.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        h.push_str(
            "<table><tr><th>kind</th><th>source</th><th>recorded</th><th>items</th><th>malformed</th></tr>",
        );
        for r in &d.records {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.kind),
                esc(&r.source),
                esc(&fmt_time(r.recorded_at)),
                r.items,
                r.malformed
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "<footer>firebreak {} · secrets are shown only as a redacted prefix and a SHA-256 fingerprint · status as of {}</footer>",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&s.updated_at)
    );
    h.push_str("</main></body></html>\n");
    h
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
    let _ = writeln!(m, "## Summary\n");
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
    for (ok, line) in coverage(d) {
        let _ = writeln!(m, "- {} {}", if ok { "[x]" } else { "[ ] NOT:" }, md(&line));
    }
    let mut hf: Vec<&IncidentEvent> = d.events.iter().filter(|e| e.kind == "hunt_finding").collect();
    hf.sort_by(|a, b| {
        level_rank(a.severity.as_deref().unwrap_or(""))
            .cmp(&level_rank(b.severity.as_deref().unwrap_or("")))
            .then(a.at.cmp(&b.at))
    });
    let _ = writeln!(m, "\n## Hunt findings ({})\n", hf.len());
    if !hf.is_empty() {
        let _ = writeln!(
            m,
            "| time | level | finding | actor | action | source IP |\n|---|---|---|---|---|---|"
        );
        for e in hf.iter().take(200) {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} |",
                md(&e.at.map(fmt_time).unwrap_or_default()),
                md(e.severity.as_deref().unwrap_or("")),
                md(&e.title),
                md(&dstr(&e.detail, "actor")),
                md(&dstr(&e.detail, "action")),
                md(&dstr(&e.detail, "source_ip"))
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
