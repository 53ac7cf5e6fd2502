//! `firebreak incident init`: an incident and its playbook, from an inventory.

use crate::blast::{self, Blast, Values};
use crate::record::{self, RecordKind};
use crate::{Error, Result};
use chrono::Utc;
use firebreak_core::{TimeWindow, Validation, ValidationStatus};
use firebreak_providers::{Item, Kind, Provider};
use firebreak_store::{IncidentRow, IncidentTask, Store};
use firebreak_validate::{Catalogue, Checker};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Check the values at their providers with the validator catalogue of `firebreak
    /// validate`, mapping what each live credential reaches (read-only requests made with
    /// the credentials themselves, each to its own provider).
    pub verify_credentials: bool,
    /// The checker for `verify_credentials` (catalogue, `--endpoint` overrides, rate
    /// limits); it should map (`Options::map`). `None`: the built-in catalogue at the
    /// providers' public endpoints, with access maps.
    pub checker: Option<Arc<Checker>>,
    /// The access key ids AWS named as exposed (`--aws-key-ids`): one task each.
    pub aws_key_ids: crate::aws_keys::KeyIdList,
    /// IAM client to name each listed key's user (`GetAccessKeyLastUsed`); `None`: the
    /// keys are decoded offline only.
    pub iam: Option<firebreak_rotate::aws::IamClient>,
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
            checker: None,
            aws_key_ids: Default::default(),
            iam: None,
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
    /// Credential checks that failed or proved nothing (`--verify-credentials`: verdict
    /// `unknown` or `error`), one line each naming the variables and the reason.
    pub verify_errors: Vec<String>,
    /// Credentials checked (`--verify-credentials`), by verdict (`live`, `dead`,
    /// `unknown`, `error`).
    pub verdicts: BTreeMap<String, usize>,
    /// Variables of credentials proven live at init: recorded as a `validate` record, so
    /// their tasks show `live` until proven dead.
    pub live: Vec<String>,
    /// The access keys AWS named (`--aws-key-ids`), looked up: one task each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aws_keys: Vec<crate::aws_keys::AwsKey>,
    /// Lines of the key-id list that are not key ids, with why (never their content).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aws_key_id_bad_lines: Vec<(usize, String)>,
    /// The rotation drafted for the listed keys (a `firebreak rotate` plan, TOML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_draft: Option<String>,
}

/// Reads inventory items from JSON Lines (`firebreak inventory --format jsonl`) or the
/// one JSON document (`--format json`, `{"items": [...], "errors": [...]}`): error
/// records are skipped, unreadable lines (or array positions) are returned by number.
pub fn read_inventory_jsonl(text: &str) -> (Vec<Item>, Vec<usize>) {
    let (vals, mut bad) = firebreak_core::jsonl::records(text, "items");
    let mut items = Vec::new();
    for (n, v) in vals {
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
            Err(_) => bad.push(n),
        }
    }
    bad.sort_unstable();
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

/// Blast radius of one item from its kind, name and the values, with no request: an AWS
/// key id among the values (under the item's name or its pair) gives the account.
fn blast_offline(item: &Item, values: &Values) -> Blast {
    let b = blast::infer(item);
    if values.is_empty() {
        return b;
    }
    let name = item.name.as_str();
    let (id_name, _) = aws_pair(name).unwrap_or((name.to_string(), String::new()));
    let key_id = [id_name.as_str(), name]
        .iter()
        .filter_map(|n| values.get(n))
        .map(|v| v.expose().trim().to_string())
        .find(|v| blast::is_aws_key_id(v));
    match key_id {
        Some(kid) => blast::with_aws_key_id(b, &kid),
        None => b,
    }
}

/// One credential of the values checked at its provider.
#[derive(Debug)]
struct Checked {
    /// The variable of its first part and its line.
    name: String,
    line: usize,
    /// The variables of its other parts.
    partners: Vec<String>,
    /// The validator's name in words.
    title: String,
    /// The AWS access key id, for AWS keys (shown redacted only).
    key_id: Option<firebreak_core::SecretString>,
    /// The verdict and access map.
    validation: Validation,
}

impl Checked {
    /// True when `name` is one of the credential's parts.
    fn covers(&self, name: &str) -> bool {
        self.name == name || self.partners.iter().any(|p| p == name)
    }
}

/// How good a verdict is as evidence for a blast radius (lower first).
fn rank(s: ValidationStatus) -> u8 {
    match s {
        ValidationStatus::Live => 0,
        ValidationStatus::Dead => 1,
        ValidationStatus::Unknown => 2,
        ValidationStatus::Error => 3,
    }
}

/// The check of the credential `name` is part of: the best verdict, its own first.
fn check_of<'a>(checked: &'a [Checked], name: &str) -> Option<&'a Checked> {
    checked
        .iter()
        .filter(|c| c.covers(name))
        .min_by_key(|c| (rank(c.validation.status), c.name != name))
}

/// The checker of `opts`, or the built-in catalogue at the public endpoints with maps.
fn checker_of(opts: &InitOptions) -> Result<Arc<Checker>> {
    if let Some(c) = &opts.checker {
        return Ok(c.clone());
    }
    let cat = Catalogue::builtin().map_err(|e| {
        Error::Input(format!(
            "built-in validators: {}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ))
    })?;
    Ok(Arc::new(Checker::new(
        Arc::new(cat),
        firebreak_validate::Options {
            map: true,
            ..Default::default()
        },
    )))
}

/// Checks every credential of the values the catalogue recognises and has every part
/// of (an AWS key id alone is not checked: its account is decoded offline), each at its
/// own provider, concurrently (the checker bounds it). Verdicts other than `live` and
/// `dead` are collected as errors, naming the variables, never a value.
async fn check_values(ck: Arc<Checker>, values: &Values, errors: &mut Vec<String>) -> Vec<Checked> {
    let planned = match firebreak_validate::plan_values(ck.catalogue(), values, None) {
        Ok((p, _unrecognised)) => p,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in planned.into_iter().enumerate() {
        let Some(v) = ck.catalogue().get(&p.validator) else {
            continue;
        };
        let complete = v
            .spec
            .inputs
            .iter()
            .all(|inp| inp.optional || p.inputs.get(&inp.name).is_some());
        if !complete {
            continue;
        }
        let title = v.spec.name.clone();
        let ck = ck.clone();
        set.spawn(async move {
            let validation = ck.check(&p.validator, &p.inputs).await;
            let key_id = p
                .validator
                .starts_with("aws.")
                .then(|| p.inputs.get("key_id").cloned())
                .flatten();
            (
                i,
                Checked {
                    name: p.name,
                    line: p.line,
                    partners: p.partners,
                    title,
                    key_id,
                    validation,
                },
            )
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(x) => out.push(x),
            Err(e) => errors.push(format!("a credential check failed: {e}")),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    let out: Vec<Checked> = out.into_iter().map(|(_, c)| c).collect();
    for c in &out {
        let v = &c.validation;
        if matches!(v.status, ValidationStatus::Unknown | ValidationStatus::Error) {
            let with = if c.partners.is_empty() {
                String::new()
            } else {
                format!(" with {}", c.partners.join(", "))
            };
            errors.push(format!(
                "{}{with} [{}]: {}: {}",
                c.name,
                v.validator,
                v.status,
                v.reason.as_deref().unwrap_or("no reason given")
            ));
        }
    }
    out
}

/// Blast radii of the items: offline, then sharpened by the checks of their values.
fn blasts_of(
    items: &[Item],
    opts: &InitOptions,
    checked: &[Checked],
    keys: &[crate::aws_keys::AwsKey],
) -> Vec<Blast> {
    items
        .iter()
        .map(|it| {
            if it.kind == firebreak_providers::Kind::AwsAccessKey {
                if let Some(k) = keys.iter().find(|k| k.key_id == it.name) {
                    return crate::aws_keys::blast_of(k);
                }
            }
            let b = blast_offline(it, &opts.values);
            match check_of(checked, &it.name) {
                Some(c) => {
                    blast::with_validation(b, &c.validation, &c.title, c.key_id.as_ref().map(|k| k.expose()))
                }
                None => b,
            }
        })
        .collect()
}

/// Creates the incident and its playbook (one task per secret stored in the breached
/// providers). With `verify_credentials`, the checks run on a private runtime: call
/// this outside an async context then, or use [`init_async`].
pub fn init(store: &mut Store, opts: &InitOptions) -> Result<InitOutcome> {
    let (out, items, origin) = gather(store, opts)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Input(format!("cannot start a runtime: {e}")))?;
    let (out, items, checked) = rt.block_on(online(opts, out, items))?;
    finish(store, opts, out, &items, &checked, origin)
}

/// [`init`] for async callers.
pub async fn init_async(store: &mut Store, opts: &InitOptions) -> Result<InitOutcome> {
    let (out, items, origin) = gather(store, opts)?;
    let (out, items, checked) = online(opts, out, items).await?;
    finish(store, opts, out, &items, &checked, origin)
}

/// The requests of an init: the values checked at their providers
/// (`verify_credentials`), the listed AWS keys looked up in IAM; the keys become items.
async fn online(
    opts: &InitOptions,
    mut out: InitOutcome,
    mut items: Vec<Item>,
) -> Result<(InitOutcome, Vec<Item>, Vec<Checked>)> {
    let mut checked = Vec::new();
    if opts.verify_credentials && !opts.values.is_empty() {
        let ck = checker_of(opts)?;
        checked = check_values(ck, &opts.values, &mut out.verify_errors).await;
    }
    out.aws_key_id_bad_lines = opts.aws_key_ids.bad.clone();
    if !opts.aws_key_ids.ids.is_empty() {
        use crate::aws_keys;
        let mut keys = aws_keys::look_up(opts.iam.as_ref(), &opts.aws_key_ids).await;
        aws_keys::find_holders(&mut keys, &items, &opts.values);
        let provider = opts.providers[0];
        out.aws_draft = Some(aws_keys::draft(&keys, &items, provider).to_toml());
        for k in &keys {
            items.push(aws_keys::item_of(k, provider));
        }
        out.aws_keys = keys;
        items.sort_by_key(|i| i.identity());
        items.dedup_by_key(|i| i.identity());
    }
    Ok((out, items, checked))
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
    if opts.providers.contains(&Provider::Circleci) {
        let orgs = circleci_orgs(store, &out.snapshots, &items)?;
        items.extend(orgs.iter().flat_map(|o| unlisted_items(o)));
    }
    link_keys(store, &mut items)?;
    // one task covers both ends of a key: a deploy key that is a checkout key's other end
    // has no task of its own (the checkout key's task names it)
    let linked: BTreeSet<String> = items
        .iter()
        .filter(|i| i.kind == Kind::CheckoutKey)
        .filter_map(|i| i.flags.same_key_as.clone())
        .collect();
    items.retain(|i| {
        !(matches!(i.kind, Kind::DeployKey | Kind::ProjectDeployKey) && linked.contains(&i.identity()))
    });
    items.sort_by_key(|i| i.identity());
    items.dedup_by_key(|i| i.identity());
    Ok((out, items, origin))
}

/// Links each CircleCI checkout key that has no `same_key_as` yet to the GitHub or
/// GitLab deploy key with the same SHA-256 fingerprint, among the items and the latest
/// GitHub and GitLab snapshots in the store (inventoried separately, breached or not).
fn link_keys(store: &Store, items: &mut [Item]) -> Result<()> {
    if !items.iter().any(|i| {
        i.kind == Kind::CheckoutKey && i.flags.same_key_as.is_none() && i.flags.fingerprint_sha256.is_some()
    }) {
        return Ok(());
    }
    let mut by_fp: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |i: &Item| {
        if matches!(i.kind, Kind::DeployKey | Kind::ProjectDeployKey) {
            if let Some(f) = &i.flags.fingerprint_sha256 {
                by_fp.entry(f.clone()).or_insert_with(|| i.identity());
            }
        }
    };
    items.iter().for_each(&mut add);
    let mut latest: BTreeMap<(Provider, String), i64> = BTreeMap::new();
    for m in store.list_snapshots()? {
        if matches!(m.provider, Provider::Github | Provider::Gitlab) {
            latest.insert((m.provider, m.org.clone()), m.id);
        }
    }
    for id in latest.values() {
        store.load_snapshot(*id)?.items.iter().for_each(&mut add);
    }
    for i in items
        .iter_mut()
        .filter(|i| i.kind == Kind::CheckoutKey && i.flags.same_key_as.is_none())
    {
        if let Some(other) = i.flags.fingerprint_sha256.as_ref().and_then(|f| by_fp.get(f)) {
            i.flags.same_key_as = Some(other.clone());
        }
    }
    Ok(())
}

/// The CircleCI organisations of the playbook: those of the snapshots used, else those
/// the items' scopes name (`gh/org/repo` → `gh/org`).
fn circleci_orgs(store: &Store, snapshots: &[i64], items: &[Item]) -> Result<BTreeSet<String>> {
    let mut orgs = BTreeSet::new();
    for id in snapshots {
        let s = store.load_snapshot(*id)?;
        if s.meta.provider == Provider::Circleci {
            let o = &s.meta.org;
            orgs.insert(if o.contains('/') {
                o.clone()
            } else {
                format!("gh/{o}")
            });
        }
    }
    if orgs.is_empty() {
        for it in items.iter().filter(|i| i.provider == Provider::Circleci) {
            let mut p = it.scope.splitn(3, '/');
            if let (Some(v), Some(o), Some(_)) = (p.next(), p.next(), p.next()) {
                orgs.insert(format!("{v}/{o}"));
            }
        }
    }
    Ok(orgs)
}

/// The tasks of the CircleCI kinds no API lists, for organisation `org`: its OAuth
/// authorisations with the VCS and its users' personal API tokens. They are never
/// inventoried; `incident status` counts them `not_checked` until a person confirms them.
pub fn unlisted_items(org: &str) -> Vec<Item> {
    [
        (
            Kind::OauthAuthorization,
            "OAuth authorisation of the CircleCI app (VCS)",
        ),
        (Kind::PersonalApiToken, "personal API tokens of every user"),
    ]
    .into_iter()
    .map(|(kind, name)| Item {
        provider: Provider::Circleci,
        kind,
        scope: org.to_string(),
        name: name.to_string(),
        created_at: None,
        updated_at: None,
        flags: firebreak_providers::Flags {
            detail: Some(firebreak_rotate::plan::unlisted_instructions(kind, org)),
            ..Default::default()
        },
    })
    .collect()
}

/// Saves the incident and its tasks, and records the `live` verdicts of the checks as a
/// `validate` record (as `incident record --kind validate` would), so the tasks of a
/// credential proven live show `live` until proven dead.
fn finish(
    store: &mut Store,
    opts: &InitOptions,
    mut out: InitOutcome,
    items: &[Item],
    checked: &[Checked],
    origin: serde_json::Value,
) -> Result<InitOutcome> {
    let blasts = blasts_of(items, opts, checked, &out.aws_keys);
    let mut tasks = Vec::with_capacity(items.len());
    for (it, b) in items.iter().zip(blasts) {
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
    for c in checked {
        *out.verdicts
            .entry(c.validation.status.as_str().to_string())
            .or_default() += 1;
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
    out.live = record_live(store, opts, &tasks, checked)?;
    Ok(out)
}

/// Records the `live` verdicts, one `firebreak validate` result row per variable of a
/// live credential that has a task (its first part and its partners: an AWS key's id and
/// secret). Returns the variables recorded. Verdicts other than `live` are not recorded:
/// a value given at init may not be the leaked one, so `dead` is no proof of revocation.
fn record_live(
    store: &mut Store,
    opts: &InitOptions,
    tasks: &[IncidentTask],
    checked: &[Checked],
) -> Result<Vec<String>> {
    let task_names: BTreeSet<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for c in checked
        .iter()
        .filter(|c| c.validation.status == ValidationStatus::Live)
    {
        let mut v = c.validation.clone();
        v.access = None;
        for n in std::iter::once(&c.name).chain(&c.partners) {
            if !task_names.contains(n.as_str()) || names.contains(n) {
                continue;
            }
            let line = opts.values.line_of(n).unwrap_or(c.line);
            rows.push((
                rows.len() + 1,
                serde_json::json!({"type": "result", "name": n, "line": line, "validator": v.validator,
                                   "partners": c.partners, "validation": v}),
            ));
            names.push(n.clone());
        }
    }
    if rows.is_empty() {
        return Ok(names);
    }
    let (events, _) = record::events_of(RecordKind::Validate, &rows);
    record::record_events(
        store,
        &opts.name,
        RecordKind::Validate,
        "incident init --verify-credentials (the values given, checked at their providers)",
        &events,
        0,
        serde_json::json!({"live": names}),
    )?;
    Ok(names)
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Input(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blast::Method;
    use firebreak_core::{Access, AccessMap, SecretString};
    use firebreak_providers::{Flags, Kind};

    fn item(name: &str) -> Item {
        Item {
            provider: Provider::Circleci,
            kind: Kind::EnvVar,
            scope: "gh/acme/app".into(),
            name: name.into(),
            created_at: None,
            updated_at: None,
            flags: Flags::default(),
        }
    }

    fn checked(
        name: &str,
        partners: &[&str],
        id: &str,
        status: ValidationStatus,
        access: Option<AccessMap>,
    ) -> Checked {
        Checked {
            name: name.into(),
            line: 1,
            partners: partners.iter().map(|p| p.to_string()).collect(),
            title: id.into(),
            key_id: None,
            validation: Validation {
                validator: id.into(),
                status,
                identity: Default::default(),
                reason: None,
                checked_at: Utc::now(),
                access,
            },
        }
    }

    #[test]
    fn a_variable_takes_the_best_verdict_of_the_credentials_it_is_part_of() {
        let c = vec![
            checked(
                "AWS_SECRET_ACCESS_KEY",
                &[],
                "x.secret",
                ValidationStatus::Dead,
                None,
            ),
            checked(
                "AWS_ACCESS_KEY_ID",
                &["AWS_SECRET_ACCESS_KEY"],
                "aws.access_key",
                ValidationStatus::Live,
                None,
            ),
            checked("GH_TOKEN", &[], "github.token", ValidationStatus::Unknown, None),
        ];
        // a live credential it is a part of beats its own dead one
        assert_eq!(
            check_of(&c, "AWS_SECRET_ACCESS_KEY").map(|c| c.validation.validator.as_str()),
            Some("aws.access_key")
        );
        assert_eq!(
            check_of(&c, "AWS_ACCESS_KEY_ID").map(|c| c.name.as_str()),
            Some("AWS_ACCESS_KEY_ID")
        );
        assert_eq!(
            check_of(&c, "GH_TOKEN").map(|c| c.validation.status),
            Some(ValidationStatus::Unknown)
        );
        assert!(check_of(&c, "NPM_TOKEN").is_none());
        // same verdict: its own credential first
        let c = vec![
            checked("A", &["B"], "v.one", ValidationStatus::Dead, None),
            checked("B", &[], "v.two", ValidationStatus::Dead, None),
        ];
        assert_eq!(check_of(&c, "B").map(|c| c.name.as_str()), Some("B"));
    }

    #[test]
    fn the_blast_radius_of_each_part_comes_from_its_validation() {
        let mut values = Values::default();
        values.insert("AWS_ACCESS_KEY_ID", SecretString::new("AKIABZVKIUSNUVNBPQYJ"), 1);
        let mut opts = InitOptions::new("x", vec![Provider::Circleci], "2022-12-21..".parse().unwrap());
        opts.values = values;
        let items = vec![
            item("AWS_ACCESS_KEY_ID"),
            item("AWS_SECRET_ACCESS_KEY"),
            item("NPM_TOKEN"),
        ];
        // no check: the key id decoded offline, for both halves of the pair
        let b = blasts_of(&items, &opts, &[], &[]);
        assert_eq!(
            b.iter().map(|b| b.method).collect::<Vec<_>>(),
            [Method::KeyIdDecoding, Method::KeyIdDecoding, Method::Name]
        );
        let map = AccessMap {
            principal: Some("arn:aws:iam::123837392027:user/ci".into()),
            resources: vec![Access {
                resource: "*".into(),
                permission: "Allow *".into(),
                via: "policy admin (attached)".into(),
            }],
            ..AccessMap::default()
        };
        let mut c = checked(
            "AWS_ACCESS_KEY_ID",
            &["AWS_SECRET_ACCESS_KEY"],
            "aws.access_key",
            ValidationStatus::Live,
            Some(map),
        );
        c.validation.identity.insert(
            "arn".into(),
            serde_json::json!("arn:aws:iam::123837392027:user/ci"),
        );
        c.key_id = Some(SecretString::new("AKIABZVKIUSNUVNBPQYJ"));
        let b = blasts_of(&items, &opts, &[c], &[]);
        for x in &b[..2] {
            assert_eq!(x.method, Method::Validated);
            assert_eq!(x.aws_account.as_deref(), Some("123837392027"));
            assert!(
                x.unlocks.contains("arn:aws:iam::123837392027:user/ci"),
                "{}",
                x.unlocks
            );
            assert!(x.unlocks.contains("* (Allow *)"), "{}", x.unlocks);
        }
        assert!(b[2].inferred());
    }

    #[test]
    fn live_verdicts_are_recorded_for_every_part_with_a_task() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("fb.db")).unwrap();
        let inv = dir.path().join("inv.jsonl");
        let lines: Vec<String> = [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "GH_TOKEN",
            "NPM_TOKEN",
        ]
        .iter()
        .map(|n| serde_json::to_string(&item(n)).unwrap())
        .collect();
        std::fs::write(&inv, lines.join("\n")).unwrap();
        let mut opts = InitOptions::new("x", vec![Provider::Circleci], "2022-12-21..".parse().unwrap());
        opts.inventory = InventorySource::File(inv);
        let checks = vec![
            checked(
                "AWS_ACCESS_KEY_ID",
                &["AWS_SECRET_ACCESS_KEY"],
                "aws.access_key",
                ValidationStatus::Live,
                None,
            ),
            checked("GH_TOKEN", &[], "github.token", ValidationStatus::Dead, None),
            // a live credential with no task: nothing to record
            checked("OTHER_TOKEN", &[], "npm.token", ValidationStatus::Live, None),
        ];
        let (out, items, origin) = gather(&store, &opts).unwrap();
        let out = finish(&mut store, &opts, out, &items, &checks, origin).unwrap();
        assert_eq!(out.live, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        assert_eq!(out.verdicts.get("live"), Some(&2));
        assert_eq!(out.verdicts.get("dead"), Some(&1));
        assert_eq!(out.by_method.get("validated"), Some(&2));
        let s = crate::status(&store, "x").unwrap();
        let state = |n: &str| s.tasks.iter().find(|t| t.secret == n).unwrap().state.clone();
        assert_eq!(state("AWS_ACCESS_KEY_ID"), "live");
        assert_eq!(state("AWS_SECRET_ACCESS_KEY"), "live");
        // a dead verdict at init is no proof the leaked value is dead: not recorded
        assert_eq!(state("GH_TOKEN"), "pending");
        assert_eq!(state("NPM_TOKEN"), "pending");
        assert_eq!(s.secrets.live, 2);
        let recs = store.incident_records(out.id).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].kind, "validate");
        assert_eq!(recs[0].items, 2);
    }

    #[test]
    fn only_complete_credentials_are_checked() {
        // a closed port: any request would be refused
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut eps = firebreak_validate::Endpoints::default();
        for n in ["aws", "github"] {
            eps.insert(
                n,
                url::Url::parse(&format!("http://127.0.0.1:{closed}/")).unwrap(),
            );
        }
        let ck = Arc::new(Checker::new(
            Arc::new(Catalogue::builtin().unwrap()),
            firebreak_validate::Options {
                endpoints: eps,
                map: true,
                max_retries: 0,
                timeout: std::time::Duration::from_secs(2),
                ..Default::default()
            },
        ));
        let token = "ghp_FIREBREAKtestTOKENnotREAL0123456789ab";
        let (values, _) = Values::parse(&format!(
            "AWS_ACCESS_KEY_ID=AKIABZVKIUSNUVNBPQYJ\nGH_TOKEN={token}\nCOLOR=blue\n"
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut errors = Vec::new();
        let c = rt.block_on(check_values(ck.clone(), &values, &mut errors));
        // the key id alone is not checked (no secret beside it); the token is, and its
        // provider cannot be reached: unknown, named without the value
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "GH_TOKEN");
        assert_eq!(c[0].validation.status, ValidationStatus::Unknown);
        assert_eq!(ck.requests(), 1);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("GH_TOKEN [github.token]: unknown: "),
            "{errors:?}"
        );
        assert!(!errors[0].contains(token));
    }
}
