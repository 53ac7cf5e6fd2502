//! `firebreak inventory`: list every secret stored in a CI provider, save it as a
//! snapshot; `inventory list | diff | verify` work on saved snapshots (docs/inventory.md).

use crate::output::{formats, OutputArgs};
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use firebreak_core::output::Format;
use firebreak_core::window::parse_time;
use firebreak_core::Exit;
use firebreak_inventory as inv;
use firebreak_providers::{circleci, github, gitlab, load_token, HttpConfig, Provider};
use firebreak_store::{NewSnapshot, Store};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `firebreak inventory`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// List saved snapshots.
    List(ListArgs),
    /// Compare two snapshots: added, removed, changed (last write time or flags).
    Diff(DiffArgs),
    /// Mark each secret rotated / NOT rotated / unknown against a time (exit 1 if any NOT rotated
    /// or still stored in a retired provider).
    Verify(VerifyArgs),
    /// Delete the secrets still stored in a CI provider you are retiring: only those whose
    /// replacement is proven in another provider's snapshot, unless --force. Journaled;
    /// run it again to resume.
    Purge(PurgeArgs),
}

#[derive(clap::Args, Debug)]
struct PurgeArgs {
    /// The provider being retired (its latest snapshot in the store says what it holds).
    #[arg(long, value_enum)]
    provider: ProviderArg,
    /// Only secrets whose scope starts with this (a project slug, a repository, a group).
    #[arg(long, value_name = "SCOPE")]
    scope: Option<String>,
    /// CircleCI: the organisation owning the contexts (`gh/acme`).
    #[arg(long)]
    org: Option<String>,
    /// Delete even secrets without a proven replacement (and keys, which have none by name).
    #[arg(long)]
    force: bool,
    /// Really delete (cannot be undone).
    #[arg(long, conflicts_with = "dry_run")]
    yes: bool,
    /// Print what would be deleted and kept, and why; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// API base URL of the retired provider.
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// Read the token from this file (first line) instead of CIRCLECI_TOKEN / GITHUB_TOKEN / GITLAB_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs<PurgeFormats>,
    #[command(flatten)]
    store: StoreArg,
}

formats!(
    /// `inventory purge`: a line per secret and a summary, one JSON document, JSON Lines.
    PurgeFormats,
    [Text, Json, Jsonl],
    Some(Format::Text),
    true
);

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProviderArg {
    Circleci,
    Github,
    Gitlab,
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Circleci => Provider::Circleci,
            ProviderArg::Github => Provider::Github,
            ProviderArg::Gitlab => Provider::Gitlab,
        }
    }
}

formats!(
    /// `firebreak inventory` and its subcommands: a table (`text`, also `table`), one JSON
    /// document, JSON Lines, CSV.
    InvFormats,
    [Text, Json, Jsonl, Csv],
    Some(Format::Text),
    true
);

#[derive(clap::Args, Debug)]
struct StoreArg {
    /// SQLite store file (default $XDG_DATA_HOME/firebreak/firebreak.db, created 0600).
    #[arg(long, env = "FIREBREAK_STORE", value_name = "PATH")]
    store: Option<PathBuf>,
}

impl StoreArg {
    fn open(&self) -> anyhow::Result<Store> {
        let p = self.store.clone().unwrap_or_else(firebreak_store::default_path);
        Ok(Store::open(&p)?)
    }
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Provider to inventory.
    #[arg(long, value_enum)]
    provider: Option<ProviderArg>,
    /// Organisation (CircleCI `org` or `gh/org`; GitHub org; GitLab group path or id —
    /// omit for GitLab to list every project the token can see).
    #[arg(long)]
    org: Option<String>,
    /// File with one project per line (CircleCI slug `gh/org/repo`, GitHub `owner/repo`,
    /// GitLab id or path) instead of listing the organisation's projects. `#` comments allowed.
    #[arg(long, value_name = "FILE")]
    projects_file: Option<PathBuf>,
    /// API base URL (CircleCI server `https://HOST/api/v2`, GitHub Enterprise
    /// `https://HOST/api/v3`, self-managed GitLab `https://HOST/api/v4`).
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// Read the token from this file (first line) instead of CIRCLECI_TOKEN / GITHUB_TOKEN / GITLAB_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// GitLab: also list instance (admin) variables.
    #[arg(long)]
    instance: bool,
    /// CircleCI: also read the GitHub side of the organisation (GITHUB_TOKEN, or
    /// --github-token-file): its repositories are candidate projects (found even when
    /// nobody follows them) and its deploy keys are matched to checkout keys.
    #[arg(long)]
    with_github: bool,
    /// CircleCI with --with-github: the GitHub API (default https://api.github.com).
    #[arg(long, value_name = "URL")]
    github_api_url: Option<String>,
    /// CircleCI with --with-github: read the GitHub token from this file.
    #[arg(long, value_name = "FILE")]
    github_token_file: Option<PathBuf>,
    /// CircleCI: also read the GitLab side (GITLAB_TOKEN, or --gitlab-token-file): for the
    /// projects CircleCI connects through GitLab, their GitLab deploy keys are matched to
    /// their checkout keys.
    #[arg(long)]
    with_gitlab: bool,
    /// CircleCI with --with-gitlab: the GitLab API (default https://gitlab.com/api/v4).
    #[arg(long, value_name = "URL")]
    gitlab_api_url: Option<String>,
    /// CircleCI with --with-gitlab: read the GitLab token from this file.
    #[arg(long, value_name = "FILE")]
    gitlab_token_file: Option<PathBuf>,
    /// CircleCI: the self-hosted runner API (default https://runner.circleci.com/api/v3
    /// for circleci.com, https://HOST/api/v3 for a server).
    #[arg(long, value_name = "URL")]
    runner_api_url: Option<String>,
    /// CircleCI: the runner namespace whose resource-class tokens are listed (default:
    /// the organisation's name).
    #[arg(long, value_name = "NAMESPACE")]
    runner_namespace: Option<String>,
    #[command(flatten)]
    out: OutputArgs<InvFormats>,
    /// Maximum requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Client-side rate limit, requests per second (shared by all tasks).
    #[arg(long, value_name = "RPS")]
    rate_limit: Option<f64>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Do not save the run as a snapshot.
    #[arg(long)]
    no_store: bool,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    out: OutputArgs<InvFormats>,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args, Debug)]
struct DiffArgs {
    /// Older snapshot id.
    a: i64,
    /// Newer snapshot id.
    b: i64,
    #[command(flatten)]
    out: OutputArgs<InvFormats>,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// Rotation deadline: a secret last written at or after it is rotated (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    rotated_after: String,
    /// Snapshot(s) to verify (default: the latest snapshot of each provider).
    #[arg(long, value_name = "ID")]
    snapshot: Vec<i64>,
    /// Provider the team has retired: every secret still stored there is flagged. Repeatable.
    #[arg(long, value_enum, value_name = "PROVIDER")]
    retired_provider: Vec<ProviderArg>,
    #[command(flatten)]
    out: OutputArgs<InvFormats>,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.cmd {
        Some(Sub::List(a)) => list(a),
        Some(Sub::Diff(a)) => diff(a),
        Some(Sub::Verify(a)) => verify(a),
        Some(Sub::Purge(a)) => purge(a),
        None => inventory(args.run),
    }
}

fn read_projects(p: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read projects file {}", p.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn inventory(a: RunArgs) -> anyhow::Result<Exit> {
    let Some(provider) = a.provider.map(Provider::from) else {
        bail!("--provider is required (circleci, github, gitlab), or use a subcommand: list, diff, verify");
    };
    if provider != Provider::Gitlab && a.org.is_none() {
        bail!("--org is required for {provider}");
    }
    let projects = a.projects_file.as_ref().map(read_projects).transpose()?;
    let (var, default_url) = match provider {
        Provider::Circleci => (circleci::TOKEN_ENV, circleci::DEFAULT_API_URL),
        Provider::Github => (github::TOKEN_ENV, github::DEFAULT_API_URL),
        Provider::Gitlab => (gitlab::TOKEN_ENV, gitlab::DEFAULT_API_URL),
    };
    let token = load_token(var, a.token_file.as_deref())?;
    let api = a.api_url.clone().unwrap_or_else(|| default_url.to_string());
    let cfg = HttpConfig {
        timeout: Duration::from_secs(a.timeout.max(1)),
        requests_per_second: a.rate_limit,
        concurrency: a.concurrency.max(1),
        ..Default::default()
    };
    let tasks = (a.concurrency * 4).max(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let org = a.org.clone();
    let bar = progress_bar(provider);
    let result = rt.block_on(async {
        anyhow::Ok(match provider {
            Provider::Circleci => {
                let mut c = circleci::Client::new(&api, token, cfg.clone())?;
                if let Some(r) = &a.runner_api_url {
                    c = c.with_runner_url(r)?;
                }
                let gh = if a.with_github {
                    let t = load_token(github::TOKEN_ENV, a.github_token_file.as_deref())?;
                    let u = a
                        .github_api_url
                        .clone()
                        .unwrap_or_else(|| github::DEFAULT_API_URL.to_string());
                    Some(github::Client::new(&u, t, cfg.clone())?)
                } else {
                    None
                };
                let gl = if a.with_gitlab {
                    let t = load_token(gitlab::TOKEN_ENV, a.gitlab_token_file.as_deref())?;
                    let u = a
                        .gitlab_api_url
                        .clone()
                        .unwrap_or_else(|| gitlab::DEFAULT_API_URL.to_string());
                    Some(gitlab::Client::new(&u, t, cfg)?)
                } else {
                    None
                };
                let _t = tick(&bar, c.http().clone());
                let opts = inv::CircleciOptions {
                    projects,
                    tasks,
                    github: gh,
                    gitlab: gl,
                    runner_namespace: a.runner_namespace.clone(),
                    pipeline_pages: 10,
                };
                inv::collect_circleci_with(&c, org.as_deref().unwrap_or_default(), &opts).await
            }
            Provider::Github => {
                let c = github::Client::new(&api, token, cfg)?;
                let _t = tick(&bar, c.http().clone());
                inv::collect_github(&c, org.as_deref().unwrap_or_default(), projects, tasks).await
            }
            Provider::Gitlab => {
                let c = gitlab::Client::new(&api, token, cfg)?;
                let _t = tick(&bar, c.http().clone());
                inv::collect_gitlab(&c, org.as_deref(), projects, a.instance, tasks).await
            }
        })
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let result = result?;
    let mut out = a.out.writer()?;
    inv::write_inventory_findings(
        &mut out,
        &result.items,
        &result.errors,
        &result.findings,
        a.out.format(),
    )?;
    out.flush()?;
    let secs = (result.finished_at - result.started_at).num_milliseconds() as f64 / 1000.0;
    let mut summary = format!(
        "firebreak inventory: {provider} {}: {} secrets in {} projects, {} errors, {} requests ({} retries, {} rate-limited) in {secs:.1}s",
        result.org,
        result.items.len(),
        result.projects,
        result.errors.len(),
        result.stats.requests,
        result.stats.retries,
        result.stats.rate_limited,
    );
    if !result.vcs_only.is_empty() {
        summary.push_str(&format!(
            "; {} GitHub repositories have no CircleCI project the token can see",
            result.vcs_only.len()
        ));
    }
    if !result.findings.is_empty() {
        summary.push_str(&format!(
            "; {} secret(s) found in plain-text variable values (records \"finding\")",
            result.findings.len()
        ));
    }
    if !a.no_store {
        let mut store = a.store.open()?;
        let id = store.save_snapshot(&NewSnapshot {
            provider,
            org: &result.org,
            started_at: result.started_at,
            finished_at: result.finished_at,
            items: &result.items,
            errors: &result.errors,
            stats: serde_json::to_value(result.stats)?,
        })?;
        summary.push_str(&format!("; snapshot {id} saved in {}", store.path().display()));
    }
    crate::output::note!("{summary}");
    Ok(if !result.errors.is_empty() {
        Exit::Partial
    } else if !result.findings.is_empty() {
        Exit::Found
    } else {
        Exit::Clean
    })
}

fn list(a: ListArgs) -> anyhow::Result<Exit> {
    let store = a.store.open()?;
    let snaps = store.list_snapshots()?;
    let mut out = a.out.writer()?;
    match a.out.format() {
        Format::Jsonl => {
            for s in &snaps {
                writeln!(out, "{}", serde_json::to_string(s)?)?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "snapshots": snaps }))?;
            writeln!(out)?;
        }
        f => {
            let sep = if f == Format::Csv { "," } else { "  " };
            writeln!(
                out,
                "{}",
                [
                    "id",
                    "provider",
                    "org",
                    "started_at",
                    "finished_at",
                    "items",
                    "errors"
                ]
                .join(sep)
            )?;
            for s in &snaps {
                writeln!(
                    out,
                    "{}",
                    [
                        s.id.to_string(),
                        s.provider.to_string(),
                        s.org.clone(),
                        firebreak_store::fmt_time(s.started_at),
                        firebreak_store::fmt_time(s.finished_at),
                        s.item_count.to_string(),
                        s.error_count.to_string()
                    ]
                    .join(sep)
                )?;
            }
        }
    }
    out.flush()?;
    Ok(Exit::Clean)
}

fn diff(a: DiffArgs) -> anyhow::Result<Exit> {
    let store = a.store.open()?;
    let sa = store.load_snapshot(a.a)?;
    let sb = store.load_snapshot(a.b)?;
    let d = inv::diff(&sa.items, &sb.items);
    let mut out = a.out.writer()?;
    inv::write_diff(&mut out, &d, a.out.format())?;
    out.flush()?;
    Ok(if d.is_empty() { Exit::Clean } else { Exit::Found })
}

fn verify(a: VerifyArgs) -> anyhow::Result<Exit> {
    let cut = parse_time(&a.rotated_after).map_err(|e| anyhow::anyhow!("--rotated-after: {e}"))?;
    let store = a.store.open()?;
    let ids: Vec<i64> = if a.snapshot.is_empty() {
        Provider::ALL
            .iter()
            .filter_map(|p| store.latest_snapshot_id(Some(*p)).transpose())
            .collect::<Result<_, _>>()?
    } else {
        a.snapshot.clone()
    };
    if ids.is_empty() {
        bail!(
            "no snapshot in {}: run `firebreak inventory --provider ...` first",
            store.path().display()
        );
    }
    let mut items = Vec::new();
    let mut errors = 0usize;
    for id in &ids {
        let s = store.load_snapshot(*id)?;
        errors += s.errors.len();
        items.extend(s.items);
    }
    let retired: Vec<Provider> = a.retired_provider.iter().map(|p| Provider::from(*p)).collect();
    let lookup_err = std::cell::RefCell::new(None);
    let (rows, sum) = inv::verify(
        &items,
        cut,
        |it| match store.last_rotation(&inv::item_key(it)) {
            Ok(t) => t,
            Err(e) => {
                lookup_err.borrow_mut().get_or_insert(e);
                None
            }
        },
        &retired,
    );
    if let Some(e) = lookup_err.into_inner() {
        return Err(e.into());
    }
    let mut out = a.out.writer()?;
    inv::write_verify(&mut out, &rows, &sum, a.out.format())?;
    out.flush()?;
    if errors > 0 {
        eprintln!(
            "firebreak inventory verify: warning: snapshot(s) {ids:?} recorded {errors} listing errors; secrets in failed scopes are missing"
        );
    }
    Ok(if sum.not_rotated > 0 || sum.in_retired_provider > 0 {
        Exit::Found
    } else if errors > 0 {
        Exit::Partial
    } else {
        Exit::Clean
    })
}

/// A spinner on stderr (only on a terminal, never in CI or pipes).
fn progress_bar(provider: Provider) -> Option<indicatif::ProgressBar> {
    if !firebreak_core::output::progress_enabled() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_prefix(format!("inventory {provider}"));
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Updates the spinner with the client's request counters every 200 ms until dropped.
fn tick(bar: &Option<indicatif::ProgressBar>, http: firebreak_providers::http::Http) -> Option<Ticker> {
    let bar = bar.clone()?;
    let task = tokio::spawn(async move {
        loop {
            let s = http.stats();
            bar.set_message(format!(
                "{} requests, {} retries, {} rate-limited",
                s.requests, s.retries, s.rate_limited
            ));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Some(Ticker(task))
}

/// Stops the spinner's updater when dropped.
struct Ticker(tokio::task::JoinHandle<()>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(serde::Serialize)]
struct PurgeRow<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    secret: String,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replacement: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    journal: Option<String>,
}

fn purge(a: PurgeArgs) -> anyhow::Result<Exit> {
    use firebreak_inventory::purge as pg;
    use firebreak_store::purge::PurgeEntry;
    if !a.yes && !a.dry_run {
        bail!("deleting secrets cannot be undone: pass --yes to delete, or --dry-run to see the plan first");
    }
    let provider = Provider::from(a.provider);
    let mut store = a.store.open()?;
    let Some(id) = store.latest_snapshot_id(Some(provider))? else {
        bail!(
            "store {}: no snapshot of {provider}: run `firebreak inventory --provider {provider} ...` first",
            store.path().display()
        );
    };
    let retired = store.load_snapshot(id)?;
    let mut elsewhere = Vec::new();
    for p in Provider::ALL.iter().filter(|p| **p != provider) {
        if let Some(oid) = store.latest_snapshot_id(Some(*p))? {
            elsewhere.extend(store.load_snapshot(oid)?.items);
        }
    }
    let plan = pg::plan(&retired.items, &elsewhere, a.scope.as_deref(), a.force);
    let mut rows: Vec<PurgeRow> = Vec::new();
    let (mut deleted, mut kept, mut failed) = (0usize, 0usize, 0usize);
    if a.dry_run {
        for c in &plan {
            if c.deletes() {
                deleted += 1;
            } else {
                kept += 1;
            }
            rows.push(PurgeRow {
                kind: "secret",
                secret: c.item.identity(),
                action: if c.deletes() { "would_delete" } else { "kept" },
                replacement: c.replacement.as_deref(),
                reason: c.keep_reason.clone(),
                journal: None,
            });
        }
    } else {
        let (var, default_url) = match provider {
            Provider::Circleci => (circleci::TOKEN_ENV, circleci::DEFAULT_API_URL),
            Provider::Github => (github::TOKEN_ENV, github::DEFAULT_API_URL),
            Provider::Gitlab => (gitlab::TOKEN_ENV, gitlab::DEFAULT_API_URL),
        };
        let token = load_token(var, a.token_file.as_deref())?;
        let api = a.api_url.clone().unwrap_or_else(|| default_url.to_string());
        let cfg = HttpConfig::default();
        let clients = match provider {
            Provider::Circleci => pg::Clients::Circleci(
                circleci::Client::new(&api, token, cfg)?,
                a.org.clone().unwrap_or_else(|| retired.meta.org.clone()),
            ),
            Provider::Github => pg::Clients::Github(github::Client::new(&api, token, cfg)?),
            Provider::Gitlab => pg::Clients::Gitlab(gitlab::Client::new(&api, token, cfg)?),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let prov = provider.as_str();
        for c in &plan {
            let identity = c.item.identity();
            let earlier = store
                .last_purge(&identity)?
                .map(|e| format!("{} at {}", e.step, firebreak_store::fmt_time(e.at)));
            if !c.deletes() {
                kept += 1;
                rows.push(PurgeRow {
                    kind: "secret",
                    secret: identity,
                    action: "kept",
                    replacement: None,
                    reason: c.keep_reason.clone(),
                    journal: earlier,
                });
                continue;
            }
            // journaled (and synced) before the request goes out
            let mut e = PurgeEntry::now(prov, &identity, "deleting");
            e.replacement = c.replacement.clone();
            store.journal_purge(&e)?;
            let res = rt.block_on(pg::delete(&clients, &c.item));
            let (step, reason) = match &res {
                Ok(pg::Deleted::Deleted) => ("deleted", None),
                Ok(pg::Deleted::Gone) => ("gone", Some("not there any more (deleted earlier)".to_string())),
                Err(m) => ("failed", Some(m.clone())),
            };
            let mut e = PurgeEntry::now(prov, &identity, step);
            e.replacement = c.replacement.clone();
            e.detail = reason.clone();
            store.journal_purge(&e)?;
            match step {
                "failed" => failed += 1,
                _ => deleted += 1,
            }
            rows.push(PurgeRow {
                kind: "secret",
                secret: identity,
                action: step,
                replacement: c.replacement.as_deref(),
                reason,
                journal: earlier,
            });
        }
    }
    let summary = serde_json::json!({
        "type": "summary", "provider": provider.as_str(), "snapshot": id, "dry_run": a.dry_run,
        "deleted": deleted, "kept": kept, "failed": failed,
    });
    let mut w = a.out.writer()?;
    match a.out.format() {
        f @ (Format::Json | Format::Jsonl) => {
            crate::output::write_rows(&mut w, f, "secrets", &rows, &summary)?
        }
        _ => {
            for r in &rows {
                let mut line = format!("{:<13} {}", r.action.to_uppercase(), r.secret);
                if let Some(x) = r.replacement {
                    line.push_str(&format!(" (replaced by {x})"));
                }
                if let Some(x) = &r.reason {
                    line.push_str(&format!(": {x}"));
                }
                if let Some(x) = &r.journal {
                    line.push_str(&format!(" [journal: {x}]"));
                }
                writeln!(w, "{line}")?;
            }
            writeln!(
                w,
                "{provider} snapshot {id}: {} {deleted}, kept {kept}, failed {failed}",
                if a.dry_run { "would delete" } else { "deleted" }
            )?;
        }
    }
    w.flush()?;
    if a.dry_run {
        return Ok(Exit::Clean);
    }
    Ok(Exit::from_outcome(kept > 0, failed))
}
