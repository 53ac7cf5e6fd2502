//! `firebreak incident init`: an incident and its playbook, from an inventory.

use crate::blast::{self, Blast, Values};
use crate::{Error, Result};
use chrono::Utc;
use firebreak_core::TimeWindow;
use firebreak_providers::{Item, Provider};
use firebreak_store::{IncidentRow, IncidentTask, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the playbook's secrets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventorySource {
    /// The latest snapshot in the store of each breached provider (and organisation).
    Latest,
    /// One snapshot id of the store.
    Snapshot(i64),
    /// A JSON Lines file written by `firebreak inventory --format json`.
    File(PathBuf),
}

/// Options of [`init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Incident name (unique in the store).
    pub name: String,
    /// Breached providers.
    pub providers: Vec<Provider>,
    /// Exposure window.
    pub window: TimeWindow,
    /// Where the secrets come from.
    pub inventory: InventorySource,
    /// Values known to the responder (sharpen the blast radius; never stored).
    pub values: Values,
    /// Call `sts:GetCallerIdentity` / GitHub `GET /user` with the values given.
    pub verify_credentials: bool,
    /// STS endpoint (default `https://sts.amazonaws.com/`).
    pub aws_endpoint: Option<String>,
    /// Region used in the STS signature.
    pub aws_region: String,
    /// GitHub API base (default `https://api.github.com`).
    pub github_api: Option<String>,
}

impl InitOptions {
    /// Options with defaults: latest snapshots, no values, no API calls.
    pub fn new(name: &str, providers: Vec<Provider>, window: TimeWindow) -> Self {
        InitOptions {
            name: name.to_string(),
            providers,
            window,
            inventory: InventorySource::Latest,
            values: Values::default(),
            verify_credentials: false,
            aws_endpoint: None,
            aws_region: "us-east-1".into(),
            github_api: None,
        }
    }
}

/// What [`init`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitOutcome {
    /// Incident id.
    pub id: i64,
    /// Incident name.
    pub name: String,
    /// Tasks created.
    pub tasks: usize,
    /// Snapshots used.
    pub snapshots: Vec<i64>,
    /// Breached providers with no snapshot (nothing to build a playbook from).
    pub providers_not_inventoried: Vec<String>,
    /// Lines of an inventory file that could not be read (1-based).
    pub bad_lines: Vec<usize>,
    /// Tasks per blast-radius method (`name`, `inventory`, `key_id_decoding`...).
    pub by_method: BTreeMap<String, usize>,
    /// Credential checks that failed (`--verify-credentials`), one line each.
    pub verify_errors: Vec<String>,
}

/// Reads inventory items from JSON Lines (`firebreak inventory --format jsonl`) or the
/// one JSON document (`--format json`, `{"items": [...], "errors": [...]}`): error
/// records are skipped, unreadable lines (or array positions) are returned by number.
pub fn read_inventory_jsonl(text: &str) -> (Vec<Item>, Vec<usize>) {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    let t = text.trim_start();
    if t.starts_with('{') {
        if let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str::<serde_json::Value>(t) {
            if let Some(serde_json::Value::Array(a)) = doc.remove("items") {
                for (i, v) in a.into_iter().enumerate() {
                    match serde_json::from_value::<Item>(v) {
                        Ok(it) => items.push(it),
                        Err(_) => bad.push(i + 1),
                    }
                }
                return (items, bad);
            }
        }
    }
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) => {
                bad.push(i + 1);
                continue;
            }
        };
        // errors, and secrets found in variable values (`finding`, whose variable is an
        // item of its own), are not items
        if v.get("record")
            .and_then(|r| r.as_str())
            .is_some_and(|r| r != "item")
        {
            continue;
        }
        match serde_json::from_value::<Item>(v) {
            Ok(it) => items.push(it),
            Err(_) => bad.push(i + 1),
        }
    }
    (items, bad)
}

/// The pair name of an AWS key name (`..._ACCESS_KEY_ID` ↔ `..._SECRET_ACCESS_KEY`).
fn aws_pair(name: &str) -> Option<(String, String)> {
    if let Some(p) = name.strip_suffix("ACCESS_KEY_ID") {
        return Some((name.to_string(), format!("{p}SECRET_ACCESS_KEY")));
    }
    if let Some(p) = name.strip_suffix("SECRET_ACCESS_KEY") {
        return Some((format!("{p}ACCESS_KEY_ID"), name.to_string()));
    }
    None
}

/// An API check still to make for one item (`--verify-credentials`).
#[derive(Debug, Clone)]
enum Check {
    /// sts:GetCallerIdentity with this key id and the value of this secret-key name.
    Aws { key_id: String, secret_name: String },
    /// GitHub `GET /user` with the item's own value.
    Github,
}

/// Blast radius of one item from its kind, name and the values (no network), and the API
/// check that could sharpen it.
fn blast_offline(item: &Item, opts: &InitOptions) -> (Blast, Option<Check>) {
    let b = blast::infer(item);
    if opts.values.is_empty() {
        return (b, None);
    }
    let name = item.name.as_str();
    // AWS: a key id among the values (under this name or its pair)
    let (id_name, sk_name) = aws_pair(name).unwrap_or((name.to_string(), String::new()));
    let key_id = [id_name.as_str(), name]
        .iter()
        .filter_map(|n| opts.values.get(n))
        .map(|v| v.expose().trim().to_string())
        .find(|v| blast::is_aws_key_id(v));
    if let Some(kid) = key_id {
        let check = (!sk_name.is_empty() && opts.values.get(&sk_name).is_some()).then(|| Check::Aws {
            key_id: kid.clone(),
            secret_name: sk_name.clone(),
        });
        return (blast::with_aws_key_id(b, &kid), check);
    }
    if b.unlocks.starts_with("a GitHub token") && opts.values.get(name).is_some() {
        return (b, Some(Check::Github));
    }
    (b, None)
}

/// Makes an API check; failures are collected, the blast radius stays as it was.
async fn sharpen(
    b: Blast,
    item: &Item,
    check: &Check,
    opts: &InitOptions,
    errors: &mut Vec<String>,
) -> Blast {
    match check {
        Check::Aws { key_id, secret_name } => {
            let Some(sk) = opts.values.get(secret_name) else {
                return b;
            };
            match blast::sts_get_caller_identity(key_id, sk, opts.aws_endpoint.as_deref(), &opts.aws_region)
                .await
            {
                Ok(c) => blast::with_caller_identity(b, key_id, &c),
                Err(e) => {
                    errors.push(format!("{}: {e}", item.identity()));
                    b
                }
            }
        }
        Check::Github => {
            let Some(tok) = opts.values.get(&item.name) else {
                return b;
            };
            match blast::github_token_owner(tok, opts.github_api.as_deref()).await {
                Ok(o) => blast::with_github_owner(b, &o),
                Err(e) => {
                    errors.push(format!("{}: {e}", item.identity()));
                    b
                }
            }
        }
    }
}

/// Creates the incident and its playbook (one task per secret stored in the breached
/// providers). With `verify_credentials`, the API checks run on a private runtime: call
/// this outside an async context then, or use [`init_async`].
pub fn init(store: &mut Store, opts: &InitOptions) -> Result<InitOutcome> {
    let (mut out, items, origin) = gather(store, opts)?;
    let mut blasts: Vec<(Blast, Option<Check>)> = items.iter().map(|i| blast_offline(i, opts)).collect();
    if opts.verify_credentials && blasts.iter().any(|(_, c)| c.is_some()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Input(format!("cannot start a runtime: {e}")))?;
        blasts = rt.block_on(sharpen_all(blasts, &items, opts, &mut out.verify_errors));
    }
    finish(store, opts, out, &items, blasts, origin)
}

/// [`init`] for async callers.
pub async fn init_async(store: &mut Store, opts: &InitOptions) -> Result<InitOutcome> {
    let (mut out, items, origin) = gather(store, opts)?;
    let mut blasts: Vec<(Blast, Option<Check>)> = items.iter().map(|i| blast_offline(i, opts)).collect();
    if opts.verify_credentials {
        blasts = sharpen_all(blasts, &items, opts, &mut out.verify_errors).await;
    }
    finish(store, opts, out, &items, blasts, origin)
}

async fn sharpen_all(
    blasts: Vec<(Blast, Option<Check>)>,
    items: &[Item],
    opts: &InitOptions,
    errors: &mut Vec<String>,
) -> Vec<(Blast, Option<Check>)> {
    let mut out = Vec::with_capacity(blasts.len());
    for ((b, c), it) in blasts.into_iter().zip(items) {
        let b = match &c {
            Some(check) => sharpen(b, it, check, opts, errors).await,
            None => b,
        };
        out.push((b, None));
    }
    out
}

/// Checks the options and reads the items of the breached providers.
fn gather(store: &Store, opts: &InitOptions) -> Result<(InitOutcome, Vec<Item>, serde_json::Value)> {
    let path = store.path().display().to_string();
    if opts.name.trim().is_empty() {
        return Err(Error::Input("incident name must not be empty".into()));
    }
    if store.incident(&opts.name)?.is_some() {
        return Err(Error::Exists {
            path,
            name: opts.name.clone(),
        });
    }
    if opts.providers.is_empty() {
        return Err(Error::Input("give at least one --provider".into()));
    }
    let mut out = InitOutcome {
        name: opts.name.clone(),
        ..Default::default()
    };
    let mut items: Vec<Item> = Vec::new();
    let origin;
    match &opts.inventory {
        InventorySource::Latest => {
            let mut latest: BTreeMap<(Provider, String), i64> = BTreeMap::new();
            for m in store.list_snapshots()? {
                if opts.providers.contains(&m.provider) {
                    latest.insert((m.provider, m.org.clone()), m.id);
                }
            }
            for id in latest.values() {
                let s = store.load_snapshot(*id)?;
                items.extend(s.items);
                out.snapshots.push(*id);
            }
            out.snapshots.sort();
            origin = serde_json::json!({"snapshots": out.snapshots});
        }
        InventorySource::Snapshot(id) => {
            let s = store.load_snapshot(*id)?;
            if !opts.providers.contains(&s.meta.provider) {
                return Err(Error::Input(format!(
                    "snapshot {id} is of provider {}, not one of the breached providers given",
                    s.meta.provider
                )));
            }
            items.extend(s.items);
            out.snapshots.push(*id);
            origin = serde_json::json!({"snapshots": [id]});
        }
        InventorySource::File(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::Io {
                path: p.display().to_string(),
                message: e.to_string(),
            })?;
            let (its, bad) = read_inventory_jsonl(&text);
            items.extend(its.into_iter().filter(|i| opts.providers.contains(&i.provider)));
            out.bad_lines = bad;
            origin = serde_json::json!({"file": p.display().to_string(), "bad_lines": out.bad_lines});
        }
    }
    for p in &opts.providers {
        if !items.iter().any(|i| i.provider == *p) {
            out.providers_not_inventoried.push(p.as_str().to_string());
        }
    }
    if out.providers_not_inventoried.len() == opts.providers.len() {
        return Err(Error::Input(format!(
            "no inventory of {} in store {path}: run `firebreak inventory --provider ...` first (or give --from-inventory FILE)",
            out.providers_not_inventoried.join(", ")
        )));
    }
    items.sort_by_key(|i| i.identity());
    items.dedup_by_key(|i| i.identity());
    Ok((out, items, origin))
}

/// Saves the incident and its tasks.
fn finish(
    store: &mut Store,
    opts: &InitOptions,
    mut out: InitOutcome,
    items: &[Item],
    blasts: Vec<(Blast, Option<Check>)>,
    origin: serde_json::Value,
) -> Result<InitOutcome> {
    let mut tasks = Vec::with_capacity(items.len());
    for (it, (b, _)) in items.iter().zip(blasts) {
        let method = serde_json::to_value(b.method)?
            .as_str()
            .unwrap_or("?")
            .to_string();
        *out.by_method.entry(method).or_default() += 1;
        tasks.push(IncidentTask {
            identity: it.identity(),
            provider: it.provider,
            kind: it.kind,
            scope: it.scope.clone(),
            name: it.name.clone(),
            created_at: it.created_at,
            updated_at: it.updated_at,
            inferred: b.inferred(),
            detail: b.detail(),
            unlocks: b.unlocks,
            hunt_logs: b.hunt_logs,
        });
    }
    let row = IncidentRow {
        id: 0,
        name: opts.name.clone(),
        providers: opts.providers.iter().map(|p| p.as_str().to_string()).collect(),
        window_start: opts.window.start,
        window_end: opts.window.end,
        created_at: Utc::now(),
        origin,
    };
    out.id = store.create_incident(&row, &tasks)?;
    out.tasks = tasks.len();
    crate::status::keep_old_values(store, out.id, &opts.values, &tasks)?;
    Ok(out)
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Input(e.to_string())
    }
}
