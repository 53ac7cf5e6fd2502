//! An incident's progress, computed from the store on every call.
//!
//! Nothing here is cached: [`status`] reads the incident, its playbook, the latest
//! inventory snapshots, the rotation records and runs (`firebreak rotate`'s tables in the
//! same store) and the recorded hunt / scan / census outputs each time, so a dashboard
//! polling it sees a rotation progress while it runs.
//!
//! A task's state (exclusive; the counts add up to `secrets.total`), most urgent first:
//! - `live`: the old (leaked) credential still works: its latest recorded validation
//!   (`firebreak validate` over the leaked values, recorded with `incident record --kind
//!   validate`) says `live`, and no rotation revoked it since;
//! - `verified`: a new value is in place (the provider's own timestamp, in the latest
//!   inventory snapshot, shows the secret written at or after the proof time; or a
//!   replacing key) **and** the old credential is proven dead at its source: a recorded
//!   validation says `dead`, firebreak's rotation run revoked it (`done`), or the old key
//!   is gone from the provider;
//! - `rewritten`: a new value is in place, but nothing proves the old one dead (a new
//!   value in CircleCI is not proof: the stolen one may still work at its source);
//! - `rotated`: firebreak rotated it (a rotation record, or its rotation run reached
//!   `done`, which revokes the old credential) at or after the proof time, but no later
//!   inventory confirms it yet;
//! - `stopped`: its latest rotation run stopped or rolled back (the old credential is
//!   still valid);
//! - `manual`: its latest rotation run holds it as a manual step;
//! - `confirmed`: a person confirmed it done (`firebreak incident confirm`) where
//!   firebreak cannot check it: a kind no API lists, a manual step, a value rewritten
//!   whose old credential no check reaches. A person's word, never counted as verified;
//! - `not_checked`: a kind no API lists, not confirmed yet;
//! - `pending`: nothing yet.
//!
//! The proof time is the window's end when the window is closed (a value written inside
//! the exposure window was exposed too), else its start.

use crate::{Error, Result};
use chrono::{DateTime, Utc};
use firebreak_providers::{Item, Kind, Provider};
use firebreak_rotate::plan::{Plan, SourceSpec};
use firebreak_rotate::State;
use firebreak_store::{fmt_time, IncidentRow, IncidentTask, RotationRunView, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How urgent a task state is (0 first): `live` (a stolen credential works), `stopped`,
/// `pending`, `manual` and `not_checked`, `rewritten`, `confirmed`, `rotated`, `verified`.
pub fn urgency(state: &str) -> u8 {
    match state {
        "live" => 0,
        "stopped" => 1,
        "pending" => 2,
        "manual" | "not_checked" => 3,
        "rewritten" => 4,
        "confirmed" => 5,
        "rotated" => 6,
        "verified" => 7,
        _ => 8,
    }
}

/// The states a person may close with `incident confirm` (firebreak cannot check them
/// itself): never `live` (the stolen credential works: revoke it and record a
/// validation), nor `rotated` / `verified` (already proven better than a person's word).
pub fn confirmable(state: &str) -> bool {
    matches!(
        state,
        "not_checked" | "manual" | "pending" | "stopped" | "rewritten" | "confirmed"
    )
}

/// The incident's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentInfo {
    /// Name.
    pub name: String,
    /// Breached providers.
    pub providers: Vec<String>,
    /// Exposure window.
    pub window: WindowInfo,
    /// When the incident was created (RFC 3339).
    pub created_at: String,
}

/// An exposure window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowInfo {
    /// Start (RFC 3339).
    pub start: String,
    /// End (RFC 3339), `null` while the window is open.
    pub end: Option<String>,
}

/// Secrets of the playbook by state (exclusive: they add up to `total`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretCounts {
    /// Tasks in the playbook.
    pub total: usize,
    /// Of them, listed by an inventory snapshot in the store: all of them when the playbook
    /// was built from snapshots; otherwise those in the latest snapshot of their provider
    /// (a key replaced since counts).
    pub inventoried: usize,
    /// The old credential still works (a recorded validation says so). Most urgent.
    #[serde(default)]
    pub live: usize,
    /// Rotated by firebreak, not yet confirmed by an inventory.
    pub rotated: usize,
    /// New value in place and the old credential proven dead.
    pub verified: usize,
    /// New value in place; the old credential not proven dead.
    #[serde(default)]
    pub rewritten: usize,
    /// Held as manual steps by their rotation run.
    pub manual: usize,
    /// Nothing done yet.
    pub pending: usize,
    /// Rotation stopped or rolled back (old credential still valid).
    #[serde(default)]
    pub stopped: usize,
    /// Kinds no API lists (CircleCI OAuth authorisations, personal API tokens): nothing
    /// can prove them done; a person follows the task's steps. Never counted as done.
    #[serde(default)]
    pub not_checked: usize,
    /// Confirmed done by a person (`incident confirm`), where firebreak cannot check.
    /// Not left to do, but never counted as verified.
    #[serde(default)]
    pub confirmed: usize,
}

impl SecretCounts {
    /// Tasks left to do: live, pending, manual, stopped, rewritten and not checked.
    pub fn left(&self) -> usize {
        self.live + self.pending + self.manual + self.stopped + self.rewritten + self.not_checked
    }
}

/// Rotation runs covering the playbook's secrets (runs created after the window start).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationCounts {
    /// Runs covering at least one task.
    pub runs: usize,
    /// Secrets (of those runs, covering a task) done.
    pub done: usize,
    /// Secrets being rotated right now (issuing ... revoking, rolling back).
    pub in_progress: usize,
    /// Secrets stopped or rolled back.
    pub stopped: usize,
    /// Secrets in those runs covering a task.
    pub total: usize,
    /// Of them, manual steps.
    #[serde(default)]
    pub manual: usize,
    /// Of them, not started yet.
    #[serde(default)]
    pub queued: usize,
}

/// Findings by level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severities {
    /// Critical.
    pub critical: usize,
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// Informational.
    pub informational: usize,
}

impl Severities {
    /// Total.
    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.informational
    }
    fn add(&mut self, level: &str) {
        match level {
            "critical" => self.critical += 1,
            "high" => self.high += 1,
            "medium" => self.medium += 1,
            "low" => self.low += 1,
            _ => self.informational += 1,
        }
    }
}

/// Recorded hunts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HuntCounts {
    /// Hunt outputs recorded.
    pub runs: usize,
    /// Their findings by level.
    pub findings: Severities,
}

/// Recorded scans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Scan outputs recorded.
    pub runs: usize,
    /// Leaked-secret findings.
    pub findings: usize,
    /// Distinct secrets (fingerprints) among them.
    #[serde(default)]
    pub distinct_secrets: usize,
}

/// Recorded censuses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusCounts {
    /// Census outputs recorded.
    pub runs: usize,
    /// Artifacts published in the window.
    pub artifacts: usize,
    /// Of them, with findings (indicators, secrets, checksum mismatches).
    pub flagged: usize,
}

/// One task of the playbook and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Secret name.
    pub secret: String,
    /// `provider/scope`, e.g. `circleci/gh/acme/app`.
    pub scope: String,
    /// `live`, `stopped`, `pending`, `manual`, `not_checked`, `rewritten`, `confirmed`,
    /// `rotated` or `verified`.
    pub state: String,
    /// The person's confirmation the state rests on (`confirmed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<ConfirmationInfo>,
    /// The latest recorded verdict on the old (leaked) value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_validation: Option<serde_json::Value>,
    /// What it unlocks (blast radius).
    pub unlocks: String,
    /// Audit logs to hunt for its misuse.
    pub hunt_logs: Vec<String>,
    /// True when `unlocks` is inferred from the name, not verified.
    pub inferred: bool,
    /// `provider/kind/scope/name`.
    #[serde(default)]
    pub identity: String,
    /// Kind (`env_var`, `actions_secret`...).
    #[serde(default)]
    pub kind: String,
    /// What the state rests on (e.g. `updated_at in snapshot 3`, `rotation record`).
    #[serde(default)]
    pub evidence: Option<String>,
    /// When it was rotated (the time the state rests on), RFC 3339.
    #[serde(default)]
    pub rotated_at: Option<String>,
    /// The engine state in its latest rotation run (`issuing`, `done`...), if any.
    #[serde(default)]
    pub rotation_state: Option<String>,
    /// That run's id.
    #[serde(default)]
    pub rotation_run: Option<String>,
    /// Present in the latest inventory snapshot of its provider.
    #[serde(default)]
    pub in_inventory: bool,
}

/// Who confirmed a task done, when, and what they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationInfo {
    /// Who (`--by`, else `$USER`).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// What they did, in their words.
    pub note: String,
    /// The state firebreak itself sees (`not_checked`, `manual`, `pending`...).
    pub unconfirmed_state: String,
}

/// An inventory snapshot the status rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: i64,
    /// Provider.
    pub provider: String,
    /// Organisation.
    pub org: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Items.
    pub items: i64,
    /// Per-scope errors (scopes not fully inventoried).
    pub errors: i64,
}

/// The whole status (the shape `firebreak incident status --format json` prints and the
/// dashboard renders; documented in `docs/incident.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The incident.
    pub incident: IncidentInfo,
    /// Secrets by state.
    pub secrets: SecretCounts,
    /// Rotation runs.
    pub rotation: RotationCounts,
    /// Hunts.
    pub hunts: HuntCounts,
    /// Scans.
    pub scans: ScanCounts,
    /// Census.
    pub census: CensusCounts,
    /// The playbook, task by task.
    pub tasks: Vec<TaskStatus>,
    /// The latest change among everything the status rests on (RFC 3339).
    pub updated_at: String,
    /// When this status was computed (RFC 3339).
    #[serde(default)]
    pub generated_at: String,
    /// Rotation proof time: a write at or after it counts as a rotation (RFC 3339).
    #[serde(default)]
    pub proof_after: String,
    /// Latest inventory snapshot per breached provider and organisation.
    #[serde(default)]
    pub snapshots: Vec<SnapshotInfo>,
    /// Breached providers with no inventory snapshot in the store.
    #[serde(default)]
    pub providers_not_inventoried: Vec<String>,
}

/// One line of `firebreak incident list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSummary {
    /// Name.
    pub name: String,
    /// Breached providers.
    pub providers: Vec<String>,
    /// Exposure window.
    pub window: WindowInfo,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Tasks in the playbook.
    pub tasks: usize,
}

fn window_info(i: &IncidentRow) -> WindowInfo {
    WindowInfo {
        start: fmt_time(i.window_start),
        end: i.window_end.map(fmt_time),
    }
}

/// Every incident in the store, oldest first.
pub fn list(store: &Store) -> Result<Vec<IncidentSummary>> {
    let mut out = Vec::new();
    for i in store.incidents()? {
        let tasks = store.incident_tasks(i.id)?.len();
        out.push(IncidentSummary {
            window: window_info(&i),
            name: i.name,
            providers: i.providers,
            created_at: fmt_time(i.created_at),
            tasks,
        });
    }
    Ok(out)
}

/// Keeps the keyed fingerprints (HMAC under the store's key, never plain hashes) of the
/// old values the user gave for an incident's tasks, by variable name: the whole value,
/// and its last 4 characters (what CircleCI's API shows of a stored value), so that a
/// leaked value stored again is caught.
pub fn keep_old_values(
    store: &mut Store,
    incident_id: i64,
    values: &firebreak_core::values::Values,
    tasks: &[IncidentTask],
) -> Result<()> {
    let names: BTreeSet<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let mut out = Vec::new();
    for (name, v, _) in values.iter() {
        if !names.contains(name) {
            continue;
        }
        let tail = firebreak_store::keyed::tail(v.expose())
            .map(|t| store.keyed_fingerprint(t.as_bytes()))
            .transpose()?;
        out.push(firebreak_store::keyed::OldValue {
            name: name.to_string(),
            fingerprint: store.keyed_fingerprint(v.expose().as_bytes())?,
            tail_fingerprint: tail,
        });
    }
    if !out.is_empty() {
        store.set_old_values(incident_id, &out)?;
    }
    Ok(())
}

/// The incident row, or [`Error::NoIncident`].
pub fn load_incident(store: &Store, name: &str) -> Result<IncidentRow> {
    store.incident(name)?.ok_or_else(|| Error::NoIncident {
        path: store.path().display().to_string(),
        name: name.to_string(),
    })
}

/// The time at or after which a write counts as a rotation: the window's end when closed,
/// else its start.
pub fn proof_after(i: &IncidentRow) -> DateTime<Utc> {
    i.window_end.unwrap_or(i.window_start).max(i.window_start)
}

fn parse_t(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The task identities a plan's secret covers: its sinks, and the keys a deploy-key
/// source replaces, and manual steps drafted from an inventory item.
pub fn covered(spec: &firebreak_rotate::plan::SecretSpec) -> Vec<Cover> {
    let mut v: Vec<Cover> = spec
        .sinks
        .iter()
        .map(|k| {
            let (p, kd, scope, name) = k.identity();
            Cover::Exact(firebreak_providers::model::identity(p, kd, &scope, &name))
        })
        .collect();
    match &spec.source {
        SourceSpec::DeployKey {
            github_repo: Some(repo),
            title,
            ..
        } => v.push(Cover::Exact(firebreak_providers::model::identity(
            Provider::Github,
            Kind::DeployKey,
            repo,
            title,
        ))),
        SourceSpec::DeployKey {
            circleci_project: Some(project),
            ..
        } => {
            // drafted as `checkout-key SCOPE FINGERPRINT`: that key; else every checkout key
            match spec
                .name
                .strip_prefix("checkout-key ")
                .and_then(|r| r.strip_prefix(project.as_str()))
                .map(str::trim)
                .filter(|r| !r.is_empty())
            {
                Some(fp) => v.push(Cover::Exact(firebreak_providers::model::identity(
                    Provider::Circleci,
                    Kind::CheckoutKey,
                    project,
                    fp,
                ))),
                None => v.push(Cover::Prefix(format!(
                    "{}/{}/{}/",
                    Provider::Circleci,
                    Kind::CheckoutKey,
                    project
                ))),
            }
        }
        SourceSpec::CircleciRunner {
            resource_class,
            nickname,
        } => {
            // drafted as `runner-token CLASS NICK#ID`: that token; else the nickname's tokens
            match spec
                .name
                .strip_prefix("runner-token ")
                .and_then(|r| r.strip_prefix(resource_class.as_str()))
                .map(str::trim)
                .filter(|r| !r.is_empty())
            {
                Some(n) => v.push(Cover::Exact(firebreak_providers::model::identity(
                    Provider::Circleci,
                    Kind::RunnerToken,
                    resource_class,
                    n,
                ))),
                None => v.push(Cover::Prefix(format!(
                    "{}/{}/{}/{nickname}#",
                    Provider::Circleci,
                    Kind::RunnerToken,
                    resource_class
                ))),
            }
        }
        SourceSpec::Manual { .. } | SourceSpec::AwsIam { .. }
            if spec.sinks.is_empty() || matches!(spec.source, SourceSpec::AwsIam { .. }) =>
        {
            // drafted as `PROVIDER KIND SCOPE NAME` (manual steps; the AWS keys AWS named,
            // `incident init --aws-key-ids`)
            let parts: Vec<&str> = spec.name.splitn(4, ' ').collect();
            if parts.len() == 4 && parts[0].parse::<Provider>().is_ok() && parts[1].parse::<Kind>().is_ok() {
                v.push(Cover::Exact(format!(
                    "{}/{}/{}/{}",
                    parts[0], parts[1], parts[2], parts[3]
                )));
            }
        }
        _ => {}
    }
    v
}

/// How a plan secret covers task identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    /// One identity.
    Exact(String),
    /// Every identity with this prefix.
    Prefix(String),
}

impl Cover {
    fn matches(&self, identity: &str) -> bool {
        match self {
            Cover::Exact(s) => s == identity,
            Cover::Prefix(p) => identity.starts_with(p.as_str()),
        }
    }
}

/// Engine state of one plan secret in one run.
#[derive(Debug, Clone)]
struct EngineRow {
    run_id: String,
    /// As stored (shown as is).
    state: String,
    updated_at: Option<DateTime<Utc>>,
}

impl EngineRow {
    /// The state, when it is one the engine knows.
    fn parsed(&self) -> Option<State> {
        self.state.parse().ok()
    }
}

/// Ended with the old credential valid.
fn is_stopped(s: Option<State>) -> bool {
    matches!(s, Some(State::Stopped | State::RolledBack))
}

/// Rotation runs relevant to the incident: per task identity, the latest covering run's
/// state; and the counts.
fn rotation_view(
    runs: &[RotationRunView],
    tasks: &[IncidentTask],
    since: DateTime<Utc>,
) -> (HashMap<String, EngineRow>, RotationCounts, Option<DateTime<Utc>>) {
    let mut per_task: HashMap<String, EngineRow> = HashMap::new();
    let mut counts = RotationCounts::default();
    let mut latest: Option<DateTime<Utc>> = None;
    for run in runs {
        if parse_t(&run.created_at).is_some_and(|t| t < since) {
            continue;
        }
        let Ok(plan) = Plan::parse(&run.plan, &format!("(plan of run {})", run.run_id)) else {
            continue;
        };
        let covers: HashMap<&str, Vec<Cover>> = plan
            .secrets
            .iter()
            .map(|s| (s.name.as_str(), covered(s)))
            .collect();
        let mut run_covers = false;
        for sec in &run.secrets {
            let Some(cv) = covers.get(sec.secret.as_str()) else {
                continue;
            };
            let hit: Vec<&IncidentTask> = tasks
                .iter()
                .filter(|t| cv.iter().any(|c| c.matches(&t.identity)))
                .collect();
            if hit.is_empty() {
                continue;
            }
            run_covers = true;
            counts.total += 1;
            match sec.state.parse::<State>().ok() {
                Some(State::Done) => counts.done += 1,
                Some(State::Manual) => counts.manual += 1,
                Some(State::Pending) => counts.queued += 1,
                s if is_stopped(s) => counts.stopped += 1,
                _ => counts.in_progress += 1,
            }
            let upd = parse_t(&sec.updated_at);
            latest = latest.max(upd);
            for t in hit {
                // runs are oldest first: a later run overrides
                per_task.insert(
                    t.identity.clone(),
                    EngineRow {
                        run_id: run.run_id.clone(),
                        state: sec.state.clone(),
                        updated_at: upd,
                    },
                );
            }
        }
        if run_covers {
            counts.runs += 1;
            latest = latest.max(parse_t(&run.updated_at));
        }
    }
    (per_task, counts, latest)
}

/// The status of incident `name`, computed from the store now.
pub fn status(store: &Store, name: &str) -> Result<Status> {
    let inc = load_incident(store, name)?;
    let tasks = store.incident_tasks(inc.id)?;
    let confirmations = store.task_confirmations(inc.id)?;
    let proof = proof_after(&inc);
    let mut updated = inc.created_at;

    // ---- latest inventory per (provider, org) of the providers involved
    let providers: BTreeSet<String> = inc
        .providers
        .iter()
        .cloned()
        .chain(tasks.iter().map(|t| t.provider.as_str().to_string()))
        .collect();
    let mut latest: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in store.list_snapshots()? {
        if providers.contains(m.provider.as_str()) {
            latest.insert((m.provider.as_str().to_string(), m.org.clone()), m.id);
        }
    }
    let mut inventory: HashMap<String, (Item, i64, DateTime<Utc>)> = HashMap::new();
    let mut snapshots = Vec::new();
    let mut ids: Vec<i64> = latest.values().copied().collect();
    ids.sort();
    for id in ids {
        let snap = store.load_snapshot(id)?;
        updated = updated.max(snap.meta.finished_at);
        snapshots.push(SnapshotInfo {
            id,
            provider: snap.meta.provider.as_str().to_string(),
            org: snap.meta.org.clone(),
            finished_at: fmt_time(snap.meta.finished_at),
            items: snap.meta.item_count,
            errors: snap.meta.error_count,
        });
        for it in snap.items {
            inventory.insert(it.identity(), (it, id, snap.meta.finished_at));
        }
    }
    let not_inventoried: Vec<String> = inc
        .providers
        .iter()
        .filter(|p| !snapshots.iter().any(|s| &s.provider == *p))
        .cloned()
        .collect();

    // ---- rotation records and runs
    let mut records: HashMap<String, DateTime<Utc>> = HashMap::new();
    for r in store.rotation_records()? {
        let e = records.entry(r.identity).or_insert(r.rotated_at);
        *e = (*e).max(r.rotated_at);
    }
    let runs = store.rotation_runs_view()?;
    let (engine, rotation, run_latest) = rotation_view(&runs, &tasks, inc.window_start);
    if let Some(t) = run_latest {
        updated = updated.max(t);
    }

    // ---- recorded validations of the old values, latest per variable name
    let mut validations: HashMap<String, (DateTime<Utc>, serde_json::Value)> = HashMap::new();
    for e in store.incident_events(inc.id)? {
        if e.kind != "validation" {
            continue;
        }
        let (Some(n), Some(at)) = (e.detail.get("name").and_then(|v| v.as_str()), e.at) else {
            continue;
        };
        let cur = validations.entry(n.to_string()).or_insert((at, e.detail.clone()));
        if at >= cur.0 {
            *cur = (at, e.detail.clone());
        }
    }

    // ---- keyed fingerprints of the old values (`incident init --values`)
    let old_values: HashMap<String, firebreak_store::keyed::OldValue> = store
        .old_values(inc.id)?
        .into_iter()
        .map(|o| (o.name.clone(), o))
        .collect();

    // ---- tasks
    let from_snapshots = inc.origin["snapshots"].as_array().is_some_and(|a| !a.is_empty());
    let mut secrets = SecretCounts {
        total: tasks.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(tasks.len());
    for t in &tasks {
        let inv = inventory.get(&t.identity);
        let provider_t = inv.and_then(|(it, _, _)| it.last_written());
        let eng = engine.get(&t.identity);
        let rec_t = records.get(&t.identity).copied().filter(|x| *x >= proof);
        if let Some(r) = rec_t {
            updated = updated.max(r);
        }
        let done_t = eng
            .filter(|e| e.parsed() == Some(State::Done))
            .and_then(|e| e.updated_at)
            .filter(|x| *x >= proof);
        let fb_t = rec_t.max(done_t);
        // keys replaced by a new key: the old identity is gone from a snapshot taken after
        // the rotation, and a key of the same scope written after the proof time is there
        let replaced =
            if inv.is_none() && matches!(t.kind, Kind::CheckoutKey | Kind::DeployKey | Kind::RunnerToken) {
                let prefix = format!("{}/{}/{}/", t.provider, t.kind, t.scope);
                inventory
                    .iter()
                    .filter(|(id, (_, _, fin))| id.starts_with(&prefix) && fb_t.is_none_or(|f| *fin >= f))
                    .filter_map(|(_, (it, sid, _))| it.last_written().map(|w| (w, *sid)))
                    .filter(|(w, _)| *w >= proof)
                    .max()
            } else {
                None
            };
        let stop_after = eng
            .filter(|e| is_stopped(e.parsed()))
            .map(|e| e.updated_at.unwrap_or(proof));
        let old = validations.get(&t.name);
        let old_status = old.and_then(|(_, d)| d.get("status").and_then(|v| v.as_str()));
        let old_at = old.map(|(at, _)| *at);
        let old_note = |what: &str| {
            format!(
                "old value {what} per {} at {}",
                old.and_then(|(_, d)| d.get("validator").and_then(|v| v.as_str()))
                    .unwrap_or("validation"),
                old_at.map(fmt_time).unwrap_or_default()
            )
        };
        // a rotation run that finished after the check revoked what the check saw
        let revoked_after = |at: Option<DateTime<Utc>>| done_t.is_some_and(|d| at.is_none_or(|a| d >= a));
        let old_live = old_status == Some("live") && !revoked_after(old_at);
        // the value stored now against the leaked one: CircleCI shows the last 4
        // characters of a stored value, kept by the store as a keyed fingerprint
        let tails = match (
            old_values
                .get(&t.name)
                .and_then(|o| o.tail_fingerprint.as_deref()),
            inv.and_then(|(it, _, _)| it.flags.tail_fingerprint.as_deref()),
        ) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        // GitLab returns whole values (and no timestamp): the store's keyed fingerprint of
        // the value stored now against the leaked one's
        let same_value = match (
            old_values.get(&t.name).map(|o| o.fingerprint.as_str()),
            inv.and_then(|(it, _, _)| it.flags.value_fingerprint.as_deref()),
        ) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        let restored_tail = tails == Some(true) && provider_t.is_some_and(|p| p >= proof);
        let restored = restored_tail || same_value == Some(true);
        // the new value in place, by the provider's own records
        let in_place = if same_value == Some(false) && provider_t.is_none_or(|p| p < proof) {
            let (_, sid, fin) = inv.expect("inventory item");
            Some((
                format!(
                    "new value: the value stored in snapshot {sid} differs from the leaked one (keyed fingerprints; the provider keeps no write time)"
                ),
                Some(*fin),
            ))
        } else if provider_t.is_some_and(|p| p >= proof) && !restored {
            let (it, sid, _) = inv.expect("inventory item");
            let field = if it.updated_at.is_some_and(|u| Some(u) == provider_t) {
                "updated_at"
            } else {
                "created_at"
            };
            let tail_note = if tails == Some(false) {
                " (its last 4 characters differ from the leaked value's)"
            } else {
                ""
            };
            Some((
                format!("new value: {field} in snapshot {sid}{tail_note}"),
                provider_t,
            ))
        } else {
            replaced.map(|(w, sid)| {
                (
                    format!("replaced by a new key in snapshot {sid} (the old key is gone)"),
                    Some(w),
                )
            })
        };
        // the old credential proven dead at its source
        let dead_proof = if replaced.is_some() {
            Some("the old key is gone from the provider".to_string())
        } else if done_t.is_some() {
            Some(format!(
                "old credential revoked at its source by rotation run {}",
                eng.map(|e| e.run_id.as_str()).unwrap_or("?")
            ))
        } else if old_status == Some("dead") {
            Some(old_note("dead"))
        } else {
            None
        };
        let (state, evidence, at) = match () {
            _ if t.kind.is_unlisted() => (
                "not_checked",
                Some(format!(
                    "not checked: no API lists this kind, so firebreak cannot see it done. {}",
                    firebreak_rotate::plan::unlisted_instructions(t.kind, &t.scope)
                )),
                None,
            ),
            _ if old_live => (
                "live",
                Some(format!("{}: revoke it at its source now", old_note("still LIVE"))),
                None,
            ),
            _ if stop_after
                .is_some_and(|s| provider_t.is_none_or(|p| p <= s) && fb_t.is_none_or(|f| f <= s)) =>
            {
                (
                    "stopped",
                    Some(format!(
                        "rotation run {} {}",
                        eng.map(|e| e.run_id.as_str()).unwrap_or("?"),
                        eng.map(|e| e.state.as_str()).unwrap_or("?")
                    )),
                    None,
                )
            }
            _ if restored_tail => (
                "pending",
                Some(
                    "written again after the window, but the value stored now ends in the same 4 characters as the leaked one (CircleCI's masked value): the leaked value was most likely stored again; rotate it at the source".to_string(),
                ),
                None,
            ),
            _ if restored => (
                "pending",
                Some(format!(
                    "the value stored now is the leaked one (keyed fingerprints, snapshot {}): rotate it at the source",
                    inv.map(|(_, sid, _)| *sid).unwrap_or_default()
                )),
                None,
            ),
            _ if in_place.is_some() && dead_proof.is_some() => {
                let (ev, at) = in_place.clone().expect("in place");
                (
                    "verified",
                    Some(format!("{ev}; {}", dead_proof.clone().expect("proof"))),
                    at,
                )
            }
            _ if in_place.is_some() => {
                let (ev, at) = in_place.clone().expect("in place");
                (
                    "rewritten",
                    Some(format!(
                        "{ev}; the old credential is not proven dead: check it with `firebreak validate` and record the result (`incident record --kind validate`)"
                    )),
                    at,
                )
            }
            _ if fb_t.is_some() => {
                let ev = if rec_t.is_some() && rec_t >= done_t {
                    "rotation record".to_string()
                } else {
                    format!(
                        "rotation run {} done",
                        eng.map(|e| e.run_id.as_str()).unwrap_or("?")
                    )
                };
                ("rotated", Some(ev), fb_t)
            }
            _ if eng.is_some_and(|e| e.parsed() == Some(State::Manual)) => (
                "manual",
                Some(format!(
                    "rotation run {} manual step",
                    eng.map(|e| e.run_id.as_str()).unwrap_or("?")
                )),
                None,
            ),
            _ => (
                "pending",
                old.map(|_| old_note(old_status.unwrap_or("checked"))),
                None,
            ),
        };
        // a person's word closes what firebreak cannot check (never a live credential)
        let confirmation = confirmations.get(&t.identity);
        let (state, evidence, confirmed) = match confirmation {
            Some(c) if confirmable(state) => {
                updated = updated.max(c.confirmed_at);
                (
                    "confirmed",
                    Some(format!(
                        "confirmed by {} at {}: {} (a person's word; firebreak saw `{state}`)",
                        c.by,
                        fmt_time(c.confirmed_at),
                        c.note
                    )),
                    Some(ConfirmationInfo {
                        by: c.by.clone(),
                        at: fmt_time(c.confirmed_at),
                        note: c.note.clone(),
                        unconfirmed_state: state.to_string(),
                    }),
                )
            }
            _ => (state, evidence, None),
        };
        match state {
            "live" => secrets.live += 1,
            "confirmed" => secrets.confirmed += 1,
            "rewritten" => secrets.rewritten += 1,
            "verified" => secrets.verified += 1,
            "rotated" => secrets.rotated += 1,
            "stopped" => secrets.stopped += 1,
            "manual" => secrets.manual += 1,
            "not_checked" => secrets.not_checked += 1,
            _ => secrets.pending += 1,
        }
        if !t.kind.is_unlisted() && (from_snapshots || inv.is_some() || replaced.is_some()) {
            secrets.inventoried += 1;
        }
        out.push(TaskStatus {
            secret: t.name.clone(),
            scope: format!("{}/{}", t.provider, t.scope),
            state: state.to_string(),
            confirmed,
            unlocks: t.unlocks.clone(),
            hunt_logs: t.hunt_logs.clone(),
            inferred: t.inferred,
            identity: t.identity.clone(),
            kind: t.kind.as_str().to_string(),
            evidence,
            rotated_at: at.map(fmt_time),
            rotation_state: eng.map(|e| e.state.clone()),
            rotation_run: eng.map(|e| e.run_id.clone()),
            in_inventory: inv.is_some(),
            old_validation: old.map(|(_, d)| d.clone()),
        });
    }

    // the most urgent first (stable: the playbook's order within a state)
    out.sort_by_key(|t| urgency(&t.state));

    // ---- recorded hunts / scans / census
    let mut hunts = HuntCounts::default();
    let mut scans = ScanCounts::default();
    let mut census = CensusCounts::default();
    for r in store.incident_records(inc.id)? {
        updated = updated.max(r.recorded_at);
        match r.kind.as_str() {
            "hunt" => hunts.runs += 1,
            "scan" => scans.runs += 1,
            "census" => census.runs += 1,
            _ => {}
        }
    }
    let mut fps = BTreeSet::new();
    for e in store.incident_events(inc.id)? {
        match e.kind.as_str() {
            "hunt_finding" => hunts.findings.add(e.severity.as_deref().unwrap_or("")),
            "scan_finding" => {
                scans.findings += 1;
                if let Some(fp) = e.detail.get("fingerprint").and_then(|v| v.as_str()) {
                    fps.insert(fp.to_string());
                }
            }
            "census_artifact" => {
                census.artifacts += 1;
                if e.severity.as_deref() == Some("flagged") {
                    census.flagged += 1;
                }
            }
            _ => {}
        }
    }
    scans.distinct_secrets = fps.len();

    Ok(Status {
        incident: IncidentInfo {
            name: inc.name.clone(),
            providers: inc.providers.clone(),
            window: window_info(&inc),
            created_at: fmt_time(inc.created_at),
        },
        secrets,
        rotation,
        hunts,
        scans,
        census,
        tasks: out,
        updated_at: fmt_time(updated),
        generated_at: fmt_time(Utc::now()),
        proof_after: fmt_time(proof),
        snapshots,
        providers_not_inventoried: not_inventoried,
    })
}
