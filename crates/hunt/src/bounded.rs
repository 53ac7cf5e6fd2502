//! The hunt's state, each piece within a fixed memory budget.
//!
//! - [`Sequencer`]: findings go to the sink as they are produced, file by file in input
//!   order; a file that finishes ahead of its turn waits in memory up to a budget shared
//!   by all files, then in a temporary file.
//! - [`Novelty`]: baseline keys and first sightings, hashed (SHA-256, so that no raw log
//!   value is held or written to disk and every key has the same size); past a number of
//!   keys they move to an SQLite database in a temporary directory, which gives the same
//!   findings.
//! - [`Aggs`]: hits of `| count()` rules, likewise moved to SQLite past a limit, then
//!   read back sorted per rule and group with O(1) state per group (O(threshold) for
//!   sliding windows).
//! - [`SummaryBuilder`]: counters per rule and per identity (identities capped).

use crate::codec;
use crate::engine::{Finding, FindingKind, FindingSink, IdentitySummary, RuleSummary, Summary};
use crate::sigma::Rule;
use crate::source::Event;
use chrono::{DateTime, TimeZone, Utc};
use firebreak_core::{finding::stable_id, Level};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where a record sits among all inputs: findings and first sightings are ordered by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Order {
    /// Event time.
    pub time: Option<DateTime<Utc>>,
    /// Index of the file in input order.
    pub file: u32,
    /// 1-based record index in the file.
    pub record: u64,
}

impl Order {
    fn ts(&self) -> (i64, i64) {
        match self.time {
            Some(t) => (t.timestamp(), i64::from(t.timestamp_subsec_nanos())),
            None => (i64::MIN, 0),
        }
    }
    fn from_ts(ts: i64, tn: i64, file: i64, record: i64) -> Order {
        let time = if ts == i64::MIN {
            None
        } else {
            Utc.timestamp_opt(ts, tn as u32).single()
        };
        Order {
            time,
            file: file as u32,
            record: record as u64,
        }
    }
}

/// SHA-256 over the parts, NUL-separated (as [`stable_id`] hashes them), first 128 bits.
/// The first 64 bits, in hex, are the `stable_id` of the same parts.
pub(crate) fn key(parts: &[&str]) -> u128 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_be_bytes(b)
}

/// The `stable_id` a [`key`] stands for.
fn key_id(k: u128) -> String {
    format!("{:016x}", (k >> 64) as u64)
}

/// Heap bytes of an event, roughly.
pub(crate) fn event_bytes(e: &Event) -> usize {
    let o = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 24);
    200 + e.file.len()
        + o(&e.actor)
        + o(&e.actor_type)
        + o(&e.action)
        + o(&e.target)
        + o(&e.source_ip)
        + o(&e.user_agent)
        + o(&e.outcome)
        + o(&e.error_code)
        + o(&e.location)
        + o(&e.region)
        + o(&e.event_id)
}

fn finding_bytes(f: &Finding) -> usize {
    event_bytes(&f.event)
        + f.id.len()
        + f.rule_id.len()
        + f.title.len()
        + f.detail.as_ref().map_or(0, |d| d.len())
        + 64
}

fn io_err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("hunt state ({what}): {e}"))
}

/// A temporary directory for spilled state, created on first use, removed with the run.
#[derive(Default)]
pub(crate) struct SpillDir {
    dir: Mutex<Option<tempfile::TempDir>>,
}

impl SpillDir {
    fn path(&self) -> io::Result<PathBuf> {
        let mut d = self.dir.lock().unwrap_or_else(|p| p.into_inner());
        if d.is_none() {
            *d = Some(tempfile::Builder::new().prefix("firebreak-hunt-").tempdir()?);
        }
        Ok(d.as_ref().map(|t| t.path().to_path_buf()).unwrap_or_default())
    }
}

/// An SQLite database in the spill directory, tuned for a throw-away store.
fn open_db(dir: &SpillDir, name: &str, schema: &str) -> io::Result<rusqlite::Connection> {
    let p = dir.path()?.join(name);
    let c = rusqlite::Connection::open(&p).map_err(|e| io_err(name, e))?;
    c.execute_batch(&format!(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;
         PRAGMA cache_size=-16384; PRAGMA locking_mode=EXCLUSIVE; {schema}"
    ))
    .map_err(|e| io_err(name, e))?;
    Ok(c)
}

fn blob(k: u128) -> [u8; 16] {
    k.to_be_bytes()
}

fn unblob(b: &[u8]) -> u128 {
    let mut a = [0u8; 16];
    let n = b.len().min(16);
    a[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(a)
}

// ---------------------------------------------------------------------------------------
// summary

/// Identities past the summary's cap that are still told apart (to count them).
const MAX_UNLISTED_IDS: usize = 100_000;

/// Counters per rule and per identity, fed with every finding given to the sink.
pub(crate) struct SummaryBuilder {
    rules: HashMap<String, RuleSummary>,
    ids: HashMap<String, IdentitySummary>,
    max_ids: usize,
    unlisted_ids: HashSet<u128>,
    unlisted_findings: u64,
}

impl SummaryBuilder {
    pub fn new(max_ids: usize) -> Self {
        SummaryBuilder {
            rules: HashMap::new(),
            ids: HashMap::new(),
            max_ids,
            unlisted_ids: HashSet::new(),
            unlisted_findings: 0,
        }
    }

    pub fn add(&mut self, f: &Finding) {
        match self.rules.get_mut(&f.rule_id) {
            Some(r) => r.findings += 1,
            None => {
                self.rules.insert(
                    f.rule_id.clone(),
                    RuleSummary {
                        rule_id: f.rule_id.clone(),
                        title: f.title.clone(),
                        level: f.level,
                        findings: 1,
                    },
                );
            }
        }
        let actor = f.event.actor.as_deref().unwrap_or("(unknown)");
        if !self.ids.contains_key(actor) {
            if self.ids.len() >= self.max_ids {
                // past the cap: counted, not itemised (a 128-bit hash per identity, up to
                // a bound; past it identities are no longer told apart)
                if self.unlisted_ids.len() < MAX_UNLISTED_IDS {
                    self.unlisted_ids.insert(key(&[actor]));
                }
                self.unlisted_findings += 1;
                return;
            }
            self.ids.insert(
                actor.to_string(),
                IdentitySummary {
                    actor: actor.to_string(),
                    findings: 0,
                    max_level: f.level,
                    first: f.event.time,
                    last: f.event.time,
                    rules: vec![],
                },
            );
        }
        let Some(e) = self.ids.get_mut(actor) else {
            return;
        };
        e.findings += 1;
        e.max_level = e.max_level.max(f.level);
        e.first = e.first.min(f.event.time).or(f.event.time);
        e.last = e.last.max(f.event.time);
        if !e.rules.contains(&f.rule_id) {
            e.rules.push(f.rule_id.clone());
        }
    }

    pub fn finish(self) -> Summary {
        let mut by_rule: Vec<_> = self.rules.into_values().collect();
        by_rule.sort_by(|a, b| b.findings.cmp(&a.findings).then(a.rule_id.cmp(&b.rule_id)));
        let mut by_identity: Vec<_> = self.ids.into_values().collect();
        by_identity.sort_by(|a, b| {
            b.max_level
                .cmp(&a.max_level)
                .then(b.findings.cmp(&a.findings))
                .then(a.actor.cmp(&b.actor))
        });
        Summary {
            by_rule,
            by_identity,
            identities_not_listed: self.unlisted_ids.len() as u64,
            findings_not_listed: self.unlisted_findings,
        }
    }
}

// ---------------------------------------------------------------------------------------
// output order

/// Findings of a file that is not yet the one being written.
#[derive(Default)]
struct Spool {
    mem: Vec<Finding>,
    bytes: usize,
    file: Option<PathBuf>,
}

/// Hands findings to the sink in input-file order, as they are produced.
pub(crate) struct Sequencer<'s> {
    sink: &'s mut dyn FindingSink,
    head: usize,
    done: Vec<bool>,
    spools: HashMap<usize, Spool>,
    mem: usize,
    budget: usize,
    dir: Arc<SpillDir>,
    pub summary: SummaryBuilder,
    pub written: u64,
    pub suppressed: u64,
    filter: Option<Arc<crate::filter::FindingFilter>>,
    /// Why output stopped (the sink or a temporary file failed).
    pub error: Option<io::Error>,
}

impl<'s> Sequencer<'s> {
    pub fn new(
        sink: &'s mut dyn FindingSink,
        files: usize,
        budget: usize,
        dir: Arc<SpillDir>,
        summary: SummaryBuilder,
        filter: Option<Arc<crate::filter::FindingFilter>>,
    ) -> Self {
        Sequencer {
            sink,
            head: 0,
            done: vec![false; files],
            spools: HashMap::new(),
            mem: 0,
            budget,
            dir,
            summary,
            written: 0,
            suppressed: 0,
            filter: filter.filter(|f| !f.is_empty()),
            error: None,
        }
    }

    /// Gives one finding to the sink.
    pub fn write(&mut self, f: Finding) {
        if self.error.is_some() {
            return;
        }
        if self.filter.as_ref().is_some_and(|x| !x.keeps(&f)) {
            self.suppressed += 1;
            return;
        }
        self.summary.add(&f);
        self.written += 1;
        if let Err(e) = self.sink.finding(f) {
            self.error = Some(e);
        }
    }

    /// Findings of file `fi`, in its order.
    pub fn emit(&mut self, fi: usize, findings: Vec<Finding>) {
        if fi == self.head {
            for f in findings {
                self.write(f);
            }
            return;
        }
        let sp = self.spools.entry(fi).or_default();
        for f in findings {
            let b = finding_bytes(&f);
            sp.bytes += b;
            self.mem += b;
            sp.mem.push(f);
        }
        if self.mem > self.budget {
            if let Err(e) = self.spill_all() {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Moves every waiting finding to temporary files.
    fn spill_all(&mut self) -> io::Result<()> {
        let dir = self.dir.path()?;
        for (fi, sp) in self.spools.iter_mut() {
            if sp.mem.is_empty() {
                continue;
            }
            let p = sp.file.get_or_insert_with(|| dir.join(format!("out-{fi}.bin")));
            let f = std::fs::OpenOptions::new().create(true).append(true).open(&*p)?;
            let mut w = io::BufWriter::new(f);
            let mut buf = Vec::new();
            for x in sp.mem.drain(..) {
                buf.clear();
                codec::put_finding(&mut buf, &x);
                w.write_all(&buf)?;
            }
            w.flush()?;
            self.mem -= sp.bytes;
            sp.bytes = 0;
        }
        Ok(())
    }

    /// File `fi` is finished: the files after it that waited are written out.
    pub fn file_done(&mut self, fi: usize) {
        if let Some(d) = self.done.get_mut(fi) {
            *d = true;
        }
        while self.head < self.done.len() && self.done[self.head] {
            self.head += 1;
            if let Some(sp) = self.spools.remove(&self.head) {
                self.mem -= sp.bytes;
                if let Err(e) = self.replay(sp) {
                    self.error.get_or_insert(e);
                }
            }
        }
    }

    fn replay(&mut self, sp: Spool) -> io::Result<()> {
        if let Some(p) = &sp.file {
            let mut r = codec::Reader(io::BufReader::with_capacity(64 << 10, std::fs::File::open(p)?));
            while let Some(f) = r.finding()? {
                self.write(f);
            }
            let _ = std::fs::remove_file(p);
        }
        for f in sp.mem {
            self.write(f);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// novelty

/// Novelty dimensions: (name, title, level, rank of `novelty.<name>` among the novelty
/// rule ids, for ordering).
/// `source_subnet` is the /24 (IPv4) or /64 (IPv6) of the source IP: an address new to an
/// identity in a network it used in the baseline (a DHCP lease, the next NAT address) is a
/// `source_ip` finding only, one in a new network is both.
pub(crate) const NOVEL: [(&str, &str, Level, u8); 5] = [
    ("source_ip", "New source IP for identity", Level::Medium, 3),
    ("user_agent", "New user agent for identity", Level::Low, 5),
    ("country", "New country for identity", Level::High, 1),
    ("action", "New action for identity", Level::Low, 0),
    (
        "source_subnet",
        "New source subnet (/24, /64) for identity",
        Level::Medium,
        4,
    ),
];

/// The /24 (IPv4) or /64 (IPv6) network of an address, as `203.0.113.0/24` or
/// `2001:db8:1:2::/64`; None when `ip` is not an IP address.
pub(crate) fn subnet_of(ip: &str) -> Option<String> {
    match ip.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => {
            let o = a.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(a) => {
            let net = std::net::Ipv6Addr::from(u128::from(a) & !((1u128 << 64) - 1));
            Some(format!("{net}/64"))
        }
    }
}
/// Rank of `novelty.identity` (between `country` and `source_ip`).
const IDENTITY_RANK: u8 = 2;

/// An in-window value of an identity, with the event that showed it.
pub(crate) struct Sighting {
    /// [`key`] of ("novelty", dimension, identity, value).
    pub key: u128,
    /// Dimension (index in [`NOVEL`]).
    pub dim: u8,
    /// [`key`] of ("novelty", "identity", identity).
    pub ident: u128,
    pub order: Order,
    /// The event, values already redacted.
    pub event: Arc<Event>,
}

/// Baseline keys and first sightings; in memory up to a limit, then in SQLite.
pub(crate) struct Novelty {
    base: HashSet<u128>,
    novel: HashMap<u128, Sighting>,
    bytes: usize,
    max_keys: usize,
    max_bytes: usize,
    db: Option<rusqlite::Connection>,
    dir: Arc<SpillDir>,
    /// Times the state moved to disk.
    pub spills: u64,
}

const NOVELTY_SCHEMA: &str = "
CREATE TABLE base(k BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE novel(k BLOB PRIMARY KEY, dim INTEGER, ident BLOB, ts INTEGER, tn INTEGER,
                   fi INTEGER, rec INTEGER, ev BLOB);";

impl Novelty {
    pub fn new(max_keys: usize, max_bytes: usize, dir: Arc<SpillDir>) -> Self {
        Novelty {
            base: HashSet::new(),
            novel: HashMap::new(),
            bytes: 0,
            max_keys,
            max_bytes,
            db: None,
            dir,
            spills: 0,
        }
    }

    /// Adds a batch: keys seen in the baseline, values seen in the window.
    pub fn add(&mut self, base: Vec<u128>, seen: Vec<Sighting>) -> io::Result<()> {
        for k in base {
            if self.base.insert(k) {
                self.bytes += 40;
            }
        }
        for s in seen {
            match self.novel.get_mut(&s.key) {
                Some(old) => {
                    if s.order < old.order {
                        *old = s;
                    }
                }
                None => {
                    self.bytes += 120 + event_bytes(&s.event);
                    self.novel.insert(s.key, s);
                }
            }
        }
        if self.base.len() + self.novel.len() > self.max_keys || self.bytes > self.max_bytes {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.db.is_none() {
            self.db = Some(open_db(&self.dir, "novelty.db", NOVELTY_SCHEMA)?);
        }
        let db = self.db.as_mut().expect("opened above");
        let e = |e: rusqlite::Error| io_err("novelty.db", e);
        let tx = db.transaction().map_err(e)?;
        {
            let mut ins = tx
                .prepare("INSERT OR IGNORE INTO base(k) VALUES (?1)")
                .map_err(e)?;
            for k in self.base.drain() {
                ins.execute([&blob(k)[..]]).map_err(e)?;
            }
            let mut up = tx
                .prepare(
                    "INSERT INTO novel(k, dim, ident, ts, tn, fi, rec, ev) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)
                     ON CONFLICT(k) DO UPDATE SET dim=excluded.dim, ident=excluded.ident,
                       ts=excluded.ts, tn=excluded.tn, fi=excluded.fi, rec=excluded.rec, ev=excluded.ev
                     WHERE (excluded.ts, excluded.tn, excluded.fi, excluded.rec)
                         < (novel.ts, novel.tn, novel.fi, novel.rec)",
                )
                .map_err(e)?;
            for (_, s) in self.novel.drain() {
                let (ts, tn) = s.order.ts();
                let mut ev = Vec::new();
                codec::put_event(&mut ev, &s.event);
                up.execute(rusqlite::params![
                    &blob(s.key)[..],
                    s.dim,
                    &blob(s.ident)[..],
                    ts,
                    tn,
                    s.order.file,
                    s.order.record as i64,
                    ev
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        self.bytes = 0;
        self.spills += 1;
        Ok(())
    }

    /// The novelty findings, ordered by event (time, file, record) then rule id.
    pub fn finish(mut self, emit: &mut dyn FnMut(Finding)) -> io::Result<()> {
        if self.db.is_none() {
            let mut out: Vec<(Order, u8, u128, Finding)> = Vec::new();
            let mut first: HashMap<u128, &Sighting> = HashMap::new();
            for s in self.novel.values() {
                if !self.base.contains(&s.ident) {
                    match first.get(&s.ident) {
                        Some(o) if o.order <= s.order => {}
                        _ => {
                            first.insert(s.ident, s);
                        }
                    }
                }
                if !self.base.contains(&s.key) {
                    let rank = NOVEL[s.dim as usize].3;
                    out.push((
                        s.order,
                        rank,
                        s.key,
                        value_finding(s.dim, s.key, (*s.event).clone()),
                    ));
                }
            }
            for (ident, s) in first {
                out.push((
                    s.order,
                    IDENTITY_RANK,
                    ident,
                    identity_finding(ident, (*s.event).clone()),
                ));
            }
            out.sort_by_key(|a| (a.0, a.1, a.2));
            for (_, _, _, f) in out {
                emit(f);
            }
            return Ok(());
        }
        self.spill()?;
        let db = self.db.as_ref().expect("spilled");
        let e = |e: rusqlite::Error| io_err("novelty.db", e);
        let mut q = db
            .prepare(
                "SELECT ts, tn, fi, rec, CASE dim WHEN 3 THEN 0 WHEN 2 THEN 1 WHEN 0 THEN 3 WHEN 4 THEN 4 ELSE 5 END AS rank,
                        dim, k, ev
                   FROM novel n WHERE NOT EXISTS (SELECT 1 FROM base b WHERE b.k = n.k)
                 UNION ALL
                 SELECT ts, tn, fi, rec, 2 AS rank, 255 AS dim, ident AS k, ev FROM (
                   SELECT n.*, row_number() OVER (PARTITION BY ident ORDER BY ts, tn, fi, rec) AS rn
                     FROM novel n WHERE NOT EXISTS (SELECT 1 FROM base b WHERE b.k = n.ident))
                  WHERE rn = 1
                 ORDER BY 1, 2, 3, 4, 5, 7",
            )
            .map_err(e)?;
        let mut rows = q.query([]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            let dim: i64 = r.get(5).map_err(e)?;
            let k: Vec<u8> = r.get(6).map_err(e)?;
            let ev: Vec<u8> = r.get(7).map_err(e)?;
            let ev = codec::Reader(&ev[..]).event()?;
            let f = if dim == 255 {
                identity_finding(unblob(&k), ev)
            } else {
                value_finding(dim as u8, unblob(&k), ev)
            };
            emit(f);
        }
        Ok(())
    }
}

fn novelty_value(ev: &Event, dim: u8) -> String {
    let v = match dim {
        0 => &ev.source_ip,
        1 => &ev.user_agent,
        2 => &ev.location,
        4 => return ev.source_ip.as_deref().and_then(subnet_of).unwrap_or_default(),
        _ => &ev.action,
    };
    v.as_deref().unwrap_or_default().to_string()
}

fn value_finding(dim: u8, k: u128, event: Event) -> Finding {
    let (what, title, level, _) = NOVEL[dim as usize];
    let id = event.actor.clone().unwrap_or_else(|| "(unknown)".into());
    let v = novelty_value(&event, dim);
    Finding {
        id: key_id(k),
        kind: FindingKind::Novelty,
        rule_id: format!("novelty.{what}"),
        title: title.into(),
        level,
        detail: Some(format!("{what} {v:?} never seen for {id} in the baseline")),
        event,
    }
}

fn identity_finding(k: u128, event: Event) -> Finding {
    let id = event.actor.clone().unwrap_or_else(|| "(unknown)".into());
    Finding {
        id: key_id(k),
        kind: FindingKind::Novelty,
        rule_id: "novelty.identity".into(),
        title: "Identity not seen in the baseline".into(),
        level: Level::Medium,
        detail: Some(format!("{id} has no activity in the baseline")),
        event,
    }
}

// ---------------------------------------------------------------------------------------
// aggregation

/// One event that matched a `| count()` rule.
pub(crate) struct AggHit {
    pub rule: usize,
    /// The group value, redacted (shown in the detail).
    pub group: String,
    /// [`key`] of the raw group value.
    pub gkey: u128,
    /// [`key`] of the raw counted value (`count(field)`), if the event has one.
    pub vkey: Option<u128>,
    pub order: Order,
    pub event: Arc<Event>,
}

/// Hits of `| count()` rules; in memory up to a limit, then in SQLite.
pub(crate) struct Aggs {
    hits: Vec<AggHit>,
    bytes: usize,
    max_hits: usize,
    max_bytes: usize,
    db: Option<rusqlite::Connection>,
    dir: Arc<SpillDir>,
    /// Times the state moved to disk.
    pub spills: u64,
}

const AGG_SCHEMA: &str = "
CREATE TABLE agg(rule INTEGER, grp TEXT, gkey BLOB, vkey BLOB, ts INTEGER, tn INTEGER,
                 fi INTEGER, rec INTEGER, ev BLOB);";

enum EvRef {
    Mem(Arc<Event>),
    Blob(Vec<u8>),
}

impl EvRef {
    fn get(self) -> io::Result<Event> {
        match self {
            EvRef::Mem(a) => Ok(Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone())),
            EvRef::Blob(b) => codec::Reader(&b[..]).event(),
        }
    }
}

struct AggRow {
    group: String,
    gkey: u128,
    vkey: Option<u128>,
    order: Order,
    ev: EvRef,
}

impl Aggs {
    pub fn new(max_hits: usize, max_bytes: usize, dir: Arc<SpillDir>) -> Self {
        Aggs {
            hits: Vec::new(),
            bytes: 0,
            max_hits,
            max_bytes,
            db: None,
            dir,
            spills: 0,
        }
    }

    pub fn add(&mut self, hits: Vec<AggHit>) -> io::Result<()> {
        for h in hits {
            self.bytes += 120 + h.group.len() + event_bytes(&h.event);
            self.hits.push(h);
        }
        if self.hits.len() > self.max_hits || self.bytes > self.max_bytes {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.db.is_none() {
            self.db = Some(open_db(&self.dir, "aggregation.db", AGG_SCHEMA)?);
        }
        let db = self.db.as_mut().expect("opened above");
        let e = |e: rusqlite::Error| io_err("aggregation.db", e);
        let tx = db.transaction().map_err(e)?;
        {
            let mut ins = tx
                .prepare("INSERT INTO agg(rule, grp, gkey, vkey, ts, tn, fi, rec, ev) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)")
                .map_err(e)?;
            for h in self.hits.drain(..) {
                let (ts, tn) = h.order.ts();
                let mut ev = Vec::new();
                codec::put_event(&mut ev, &h.event);
                ins.execute(rusqlite::params![
                    h.rule as i64,
                    h.group,
                    &blob(h.gkey)[..],
                    h.vkey.map(|v| blob(v).to_vec()),
                    ts,
                    tn,
                    h.order.file,
                    h.order.record as i64,
                    ev
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        self.bytes = 0;
        self.spills += 1;
        Ok(())
    }

    /// The aggregation findings: per rule (in rule order), per group (sorted by value).
    pub fn finish(mut self, rules: &[Rule], emit: &mut dyn FnMut(Finding)) -> io::Result<()> {
        if self.db.is_none() {
            let windowed = |r: usize| {
                rules[r]
                    .aggregation
                    .as_ref()
                    .is_some_and(|a| a.timeframe.is_some())
            };
            self.hits.sort_by(|a, b| {
                let va = if windowed(a.rule) { None } else { a.vkey };
                let vb = if windowed(b.rule) { None } else { b.vkey };
                (a.rule, &a.group, a.gkey, va, a.order).cmp(&(b.rule, &b.group, b.gkey, vb, b.order))
            });
            let mut it = std::mem::take(&mut self.hits).into_iter().peekable();
            while let Some(r) = it.peek().map(|h| h.rule) {
                let mut rows = std::iter::from_fn(|| {
                    if it.peek().is_some_and(|h| h.rule == r) {
                        it.next().map(|h| AggRow {
                            group: h.group,
                            gkey: h.gkey,
                            vkey: h.vkey,
                            order: h.order,
                            ev: EvRef::Mem(h.event),
                        })
                    } else {
                        None
                    }
                });
                aggregate_rule(&rules[r], &mut rows, emit)?;
            }
            return Ok(());
        }
        self.spill()?;
        let db = self.db.as_ref().expect("spilled");
        let e = |e: rusqlite::Error| io_err("aggregation.db", e);
        for (ri, rule) in rules.iter().enumerate() {
            let Some(a) = &rule.aggregation else { continue };
            let order = if a.timeframe.is_some() {
                "grp, gkey, ts, tn, fi, rec"
            } else {
                "grp, gkey, vkey, ts, tn, fi, rec"
            };
            let mut q = db
                .prepare(&format!(
                    "SELECT grp, gkey, vkey, ts, tn, fi, rec, ev FROM agg WHERE rule = ?1 ORDER BY {order}"
                ))
                .map_err(e)?;
            let mut res = q.query([ri as i64]).map_err(e)?;
            let mut failed: Option<io::Error> = None;
            let mut rows = std::iter::from_fn(|| {
                let r = match res.next() {
                    Ok(Some(r)) => r,
                    Ok(None) => return None,
                    Err(x) => {
                        failed = Some(e(x));
                        return None;
                    }
                };
                let row = (|| -> rusqlite::Result<AggRow> {
                    let gk: Vec<u8> = r.get(1)?;
                    let vk: Option<Vec<u8>> = r.get(2)?;
                    Ok(AggRow {
                        group: r.get(0)?,
                        gkey: unblob(&gk),
                        vkey: vk.map(|v| unblob(&v)),
                        order: Order::from_ts(r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
                        ev: EvRef::Blob(r.get(7)?),
                    })
                })();
                match row {
                    Ok(r) => Some(r),
                    Err(x) => {
                        failed = Some(e(x));
                        None
                    }
                }
            });
            aggregate_rule(rule, &mut rows, emit)?;
            if let Some(x) = failed {
                return Err(x);
            }
        }
        Ok(())
    }
}

/// Runs one `| count()` rule over its hits, sorted by group, then (without timeframe)
/// counted value, then event order.
///
/// With a timeframe, a sliding window per group: a finding when the count crosses the
/// threshold, on the event that crossed it, and the window restarts after it. The state
/// is the window's events (`count()`) or its distinct values with their last sighting
/// (`count(field)`): a window larger than the threshold fires. Without a timeframe the
/// group is judged as a whole, on its last event, with counters only.
fn aggregate_rule(
    rule: &Rule,
    rows: &mut dyn Iterator<Item = AggRow>,
    emit: &mut dyn FnMut(Finding),
) -> io::Result<()> {
    let Some(a) = &rule.aggregation else {
        return Ok(());
    };
    let tf = a.timeframe.map(chrono::Duration::seconds);
    let mut rows = rows.peekable();
    let fire = |emit: &mut dyn FnMut(Finding), n: usize, row: AggRow| -> io::Result<()> {
        let what = match &a.field {
            Some(f) => format!("distinct {f}"),
            None => "events".into(),
        };
        let by =
            a.by.as_deref()
                .map(|b| format!(" by {b}={}", row.group))
                .unwrap_or_default();
        let within = a.timeframe.map(|s| format!(" within {s}s")).unwrap_or_default();
        let ev = row.ev.get()?;
        emit(Finding {
            id: stable_id(&[&rule.id, &ev.file, &ev.record.to_string(), &row.group]),
            kind: FindingKind::Aggregate,
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            level: rule.level,
            detail: Some(format!("{n} {what}{by}{within} ({} {})", a.op.sym(), a.threshold)),
            event: ev,
        });
        Ok(())
    };
    while let Some(first) = rows.next() {
        let (group, gkey) = (first.group.clone(), first.gkey);
        let mut pending = Some(first);
        let mut take = || -> Option<AggRow> {
            if let Some(r) = pending.take() {
                return Some(r);
            }
            if matches!(rows.peek(), Some(r) if r.gkey == gkey && r.group == group) {
                rows.next()
            } else {
                None
            }
        };
        match tf {
            Some(tf) => {
                let mut times: VecDeque<DateTime<Utc>> = VecDeque::new();
                let mut last: HashMap<u128, DateTime<Utc>> = HashMap::new();
                let mut live: BTreeSet<(DateTime<Utc>, u128)> = BTreeSet::new();
                while let Some(row) = take() {
                    let t = row.order.time.unwrap_or_default();
                    let n = if a.field.is_none() {
                        while times.front().is_some_and(|&f| f + tf <= t) {
                            times.pop_front();
                        }
                        times.push_back(t);
                        times.len()
                    } else {
                        while let Some(&(lt, v)) = live.first() {
                            if lt + tf > t {
                                break;
                            }
                            live.pop_first();
                            last.remove(&v);
                        }
                        if let Some(v) = row.vkey {
                            if let Some(old) = last.insert(v, t) {
                                live.remove(&(old, v));
                            }
                            live.insert((t, v));
                        }
                        last.len()
                    };
                    if a.op.apply(n as f64, a.threshold) {
                        fire(emit, n, row)?;
                        times.clear();
                        last.clear();
                        live.clear();
                    }
                }
            }
            None => {
                let mut events = 0usize;
                let mut distinct = 0usize;
                let mut prev: Option<u128> = None;
                let mut latest: Option<AggRow> = None;
                while let Some(row) = take() {
                    events += 1;
                    if row.vkey.is_some() && row.vkey != prev {
                        distinct += 1;
                        prev = row.vkey;
                    }
                    if latest.as_ref().is_none_or(|l| l.order <= row.order) {
                        latest = Some(row);
                    }
                }
                let n = if a.field.is_some() { distinct } else { events };
                if let Some(row) = latest {
                    if a.op.apply(n as f64, a.threshold) {
                        fire(emit, n, row)?;
                    }
                }
            }
        }
    }
    Ok(())
}
