//! `firebreak incident`: create an incident and its playbook from the inventory, list
//! incidents, show where one stands, record hunt / scan / census outputs into it.
//! See docs/incident.md.

use crate::output::{formats, OutputArgs};
use anyhow::Context as _;
use firebreak_core::output::Format;
use firebreak_core::{Exit, TimeWindow};
use firebreak_incident::blast::Values;
use firebreak_incident::playbook::{InitOptions, InventorySource};
use firebreak_incident::{RecordKind, Status};
use firebreak_providers::Provider;
use firebreak_store::Store;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `firebreak incident`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Create an incident: window, breached providers, and a playbook with one task per
    /// secret they hold (rotate; verify; hunt the logs of what it unlocks).
    Init(Box<InitArgs>),
    /// List the incidents in the store.
    List(ListArgs),
    /// Show where an incident stands (computed from the store now).
    Status(StatusArgs),
    /// Record a hunt, scan or census output (JSON Lines or JSON) into an incident.
    Record(RecordArgs),
    /// Confirm, as a person, tasks firebreak cannot check done: kinds no API lists
    /// (CircleCI OAuth authorisations, personal API tokens), manual steps. Status shows
    /// them `confirmed` (who, when, what), never `verified`; a LIVE credential is refused.
    Confirm(ConfirmArgs),
}

/// Store location (shared by the subcommands).
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArg {
    /// SQLite store file (default $XDG_DATA_HOME/firebreak/firebreak.db, created 0600).
    #[arg(long, env = "FIREBREAK_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,
}

impl StoreArg {
    /// Opens the store.
    pub fn open(&self) -> anyhow::Result<Store> {
        let p = self.store.clone().unwrap_or_else(firebreak_store::default_path);
        Ok(Store::open(&p)?)
    }
}

formats!(
    /// `incident init` and `incident status`: text, or one JSON document.
    DocFormats,
    [Text, Json],
    Some(Format::Text),
    true
);

formats!(
    /// `incident list`: a table, one JSON document `{"incidents": [...]}`, or JSON Lines.
    ListFormats,
    [Text, Json, Jsonl],
    Some(Format::Text),
    true
);

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(clap::Args, Debug)]
struct InitArgs {
    /// Incident name (unique in the store).
    name: String,
    /// Breached provider. Repeatable.
    #[arg(long = "provider", value_enum, required = true)]
    providers: Vec<ProviderArg>,
    /// Exposure window `START..[END]` (RFC 3339 or YYYY-MM-DD, UTC; open end = still exposed).
    #[arg(long, value_name = "START..[END]")]
    window: TimeWindow,
    /// Where the secrets come from: a snapshot id of the store, or a JSON Lines file written
    /// by `firebreak inventory --format jsonl` (or `json`). Default: the latest snapshot of each breached
    /// provider (and organisation) in the store.
    #[arg(long, value_name = "SNAPSHOT|FILE")]
    from_inventory: Option<String>,
    /// `NAME=VALUE` file of values you hold (e.g. from your vault) to sharpen the blast
    /// radius: AWS key ids are decoded to their account. Never printed; the store keeps
    /// only keyed fingerprints (HMAC under its own key) of each value and of its last 4
    /// characters, so that a leaked value stored again is caught by `incident status`.
    #[arg(long, value_name = "FILE")]
    values: Option<PathBuf>,
    /// With --values: check each value the validator catalogue recognises at its provider
    /// (as `firebreak validate --map` does) and take the blast radius from what the
    /// provider says it reaches: AWS principal and policies, GitHub login, organisations
    /// and repositories... A credential proven live is recorded so its task shows `live`.
    /// Read-only calls made with the credentials themselves.
    #[arg(long)]
    verify_credentials: bool,
    /// The access key ids AWS named as exposed (its e-mail's list: one id per line; `#`
    /// comments). Each becomes a task; with AWS credentials of the account in the
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), IAM's
    /// GetAccessKeyLastUsed names its user and last use, and a rotation is drafted
    /// (`--draft-plan`). A line that is not a key id is named, never shown.
    #[arg(long, value_name = "FILE")]
    aws_key_ids: Option<PathBuf>,
    /// IAM endpoint for --aws-key-ids (default https://iam.amazonaws.com/).
    #[arg(long, value_name = "URL", requires = "aws_key_ids")]
    aws_iam_endpoint: Option<String>,
    /// Write the rotation drafted for the --aws-key-ids keys to FILE (a `firebreak rotate`
    /// plan: an aws_iam source per key whose user and variables are known, else a manual
    /// step).
    #[arg(long, value_name = "FILE", requires = "aws_key_ids")]
    draft_plan: Option<PathBuf>,
    /// Validator settings for --verify-credentials (`--endpoint NAME=URL`...); access maps
    /// are always made here.
    #[command(flatten)]
    check: crate::cmd::validate::CheckArgs,
    #[command(flatten)]
    out: OutputArgs<DocFormats>,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    out: OutputArgs<ListFormats>,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    /// Incident name (default: the most recent).
    name: Option<String>,
    /// `--format json`: the status document described in docs/incident.md.
    #[command(flatten)]
    out: OutputArgs<DocFormats>,
    /// Text: list every task, not only those left to do.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum KindArg {
    Hunt,
    Scan,
    Census,
    /// `firebreak validate` output over the leaked (old) values.
    Validate,
}

#[derive(clap::Args, Debug)]
struct RecordArgs {
    /// Incident name.
    name: String,
    /// What the file holds: `firebreak hunt`, `scan`, `census` or `validate` output
    /// (`validate` over the leaked values: their verdicts decide `live` and `verified`).
    #[arg(long, value_enum)]
    kind: KindArg,
    /// The output file (JSON Lines or the one-document JSON); `-` reads stdin.
    file: PathBuf,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args, Debug)]
struct ConfirmArgs {
    /// Incident name (default: the most recent).
    name: Option<String>,
    /// A task: its identity (as `incident status --all --format json` prints it) or its
    /// secret name when unique. Repeatable.
    #[arg(long = "task", value_name = "IDENTITY|SECRET")]
    tasks: Vec<String>,
    /// Every task of this kind (`oauth_authorization`, `personal_api_token`,
    /// `project_api_token`...). Repeatable.
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<String>,
    /// With --kind: only the tasks of this scope (`circleci/gh/acme` or `gh/acme`).
    #[arg(long, value_name = "SCOPE", requires = "kinds")]
    scope: Option<String>,
    /// What was done, in words (required; secrets in it are redacted before it is stored).
    #[arg(long, value_name = "TEXT", required_unless_present = "withdraw")]
    note: Option<String>,
    /// Who confirms (default: $USER).
    #[arg(long, value_name = "WHO")]
    by: Option<String>,
    /// Withdraw the selected tasks' confirmations (they go back to what firebreak sees).
    #[arg(long)]
    withdraw: bool,
    #[command(flatten)]
    out: OutputArgs<DocFormats>,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs `firebreak incident`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.cmd {
        Sub::Init(a) => init(*a),
        Sub::List(a) => list(a),
        Sub::Status(a) => status(a),
        Sub::Record(a) => record(a),
        Sub::Confirm(a) => confirm(a),
    }
}

fn init(a: InitArgs) -> anyhow::Result<Exit> {
    let mut store = a.store.open()?;
    let providers: Vec<Provider> = a.providers.iter().map(|p| (*p).into()).collect();
    let mut opts = InitOptions::new(&a.name, providers, a.window);
    opts.inventory = match a.from_inventory.as_deref() {
        None => InventorySource::Latest,
        Some(s) => match s.parse::<i64>() {
            Ok(id) => InventorySource::Snapshot(id),
            Err(_) => InventorySource::File(PathBuf::from(s)),
        },
    };
    let mut bad_value_lines = Vec::new();
    if let Some(p) = &a.values {
        let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let (v, bad) = Values::parse(&text);
        for l in &bad {
            eprintln!(
                "incident init: {}:{l}: not a NAME=VALUE line, skipped",
                p.display()
            );
        }
        bad_value_lines = bad;
        opts.values = v;
    }
    if a.verify_credentials && a.values.is_none() {
        anyhow::bail!("--verify-credentials needs --values FILE (the inventory never holds values)");
    }
    if let Some(p) = &a.aws_key_ids {
        let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let list = firebreak_incident::aws_keys::parse_key_ids(&text);
        for (l, why) in &list.bad {
            eprintln!("incident init: {}:{l}: {why}, skipped", p.display());
        }
        if list.ids.is_empty() {
            anyhow::bail!("{}: no AWS access key id in it", p.display());
        }
        use firebreak_rotate::aws::{AwsCredentials, FromEnv, IamClient};
        opts.iam = match AwsCredentials::from_env() {
            Ok(c) => Some(IamClient::new(a.aws_iam_endpoint.as_deref(), "us-east-1", c)?),
            Err(_) => {
                eprintln!(
                    "incident init: no AWS credentials in the environment: the keys of {} are decoded offline only (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the account to name their IAM users)",
                    p.display()
                );
                None
            }
        };
        opts.aws_key_ids = list;
    }
    opts.verify_credentials = a.verify_credentials;
    if a.verify_credentials {
        let mut check = a.check.clone();
        check.map = true;
        opts.checker = Some(check.checker()?);
    } else if !a.check.endpoints.is_empty() {
        eprintln!("incident init: --endpoint is used only with --verify-credentials (no value was checked)");
    }
    let out = firebreak_incident::init(&mut store, &opts)?;
    for l in &out.bad_lines {
        eprintln!(
            "incident init: {}:{l}: not an inventory item, skipped",
            a.from_inventory.as_deref().unwrap_or("-")
        );
    }
    for p in &out.providers_not_inventoried {
        eprintln!(
            "incident init: provider {p} has no inventory: run `firebreak inventory --provider {p} ...` then re-create the incident"
        );
    }
    for e in &out.verify_errors {
        eprintln!("incident init: credential check failed: {e}");
    }
    if let (Some(p), Some(d)) = (&a.draft_plan, &out.aws_draft) {
        let head = format!(
            "# Drafted by `firebreak incident init {} --aws-key-ids`: one secret per key AWS named.\n# An aws_iam source needs the CI variables holding the key as sinks (found through --values);\n# a manual step says what to do by hand. Review, then: firebreak rotate run --plan {}\n\n",
            a.name,
            p.display()
        );
        std::fs::write(p, format!("{head}{d}")).with_context(|| format!("cannot write {}", p.display()))?;
    }
    let mut w = a.out.writer()?;
    match a.out.format() {
        Format::Json => writeln!(w, "{}", serde_json::to_string_pretty(&out)?)?,
        _ => {
            let from = if out.snapshots.is_empty() {
                a.from_inventory.clone().unwrap_or_default()
            } else {
                let ids: Vec<String> = out.snapshots.iter().map(|i| i.to_string()).collect();
                format!("snapshot(s) {}", ids.join(", "))
            };
            writeln!(
                w,
                "incident {} created in {}: {} task(s) from {from}",
                out.name,
                store.path().display(),
                out.tasks,
            )?;
            let methods: Vec<String> = out.by_method.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(w, "blast radius by method: {}", methods.join(", "))?;
            if !out.verdicts.is_empty() {
                let verdicts: Vec<String> = out.verdicts.iter().map(|(k, v)| format!("{v} {k}")).collect();
                writeln!(
                    w,
                    "credentials checked at their providers: {}",
                    verdicts.join(", ")
                )?;
            }
            if !out.live.is_empty() {
                writeln!(
                    w,
                    "LIVE now (recorded; their tasks show live until proven dead): {}",
                    out.live.join(", ")
                )?;
            }
            if !out.aws_keys.is_empty() {
                let named = out.aws_keys.iter().filter(|k| k.user.is_some()).count();
                writeln!(
                    w,
                    "AWS keys named as exposed: {} ({named} with their IAM user named by IAM)",
                    out.aws_keys.len()
                )?;
                for k in &out.aws_keys {
                    writeln!(
                        w,
                        "  {} account {} user {}{}",
                        k.key_id,
                        k.account.as_deref().unwrap_or("?"),
                        k.user.as_deref().unwrap_or("?"),
                        k.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                    )?;
                }
                match &a.draft_plan {
                    Some(p) => writeln!(w, "their rotation is drafted in {}", p.display())?,
                    None => writeln!(w, "draft their rotation with --draft-plan FILE")?,
                }
            }
            writeln!(w, "next: firebreak incident status {}", out.name)?;
        }
    }
    w.flush()?;
    let partial = !out.providers_not_inventoried.is_empty()
        || !out.bad_lines.is_empty()
        || !out.verify_errors.is_empty()
        || !bad_value_lines.is_empty()
        || !out.aws_key_id_bad_lines.is_empty()
        || out.aws_keys.iter().any(|k| k.error.is_some());
    Ok(if partial { Exit::Partial } else { Exit::Clean })
}

fn list(a: ListArgs) -> anyhow::Result<Exit> {
    let store = a.store.open()?;
    let v = firebreak_incident::list(&store)?;
    let mut w = a.out.writer()?;
    match a.out.format() {
        Format::Jsonl => {
            for i in &v {
                writeln!(w, "{}", serde_json::to_string(i)?)?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, &serde_json::json!({ "incidents": v }))?;
            writeln!(w)?;
        }
        _ => {
            if v.is_empty() {
                writeln!(w, "no incident in {}", store.path().display())?;
            } else {
                writeln!(w, "{:<24}  {:<18}  {:<52}  TASKS", "NAME", "PROVIDERS", "WINDOW")?;
                for i in &v {
                    writeln!(
                        w,
                        "{:<24}  {:<18}  {:<52}  {}",
                        i.name,
                        i.providers.join(","),
                        format!("{}..{}", i.window.start, i.window.end.as_deref().unwrap_or("")),
                        i.tasks
                    )?;
                }
            }
        }
    }
    w.flush()?;
    Ok(Exit::Clean)
}

/// Prints a status as text.
pub fn write_status_text(w: &mut dyn Write, s: &Status, all: bool) -> std::io::Result<()> {
    writeln!(
        w,
        "incident {}  providers {}  window {}..{}",
        s.incident.name,
        s.incident.providers.join(","),
        s.incident.window.start,
        s.incident.window.end.as_deref().unwrap_or("")
    )?;
    let c = &s.secrets;
    writeln!(
        w,
        "secrets   {} total, {} inventoried: {} LIVE, {} verified, {} rewritten, {} rotated, {} pending, {} manual, {} stopped, {} not checked (no API lists them), {} confirmed by hand",
        c.total, c.inventoried, c.live, c.verified, c.rewritten, c.rotated, c.pending, c.manual, c.stopped, c.not_checked, c.confirmed
    )?;
    let r = &s.rotation;
    writeln!(
        w,
        "rotation  {} run(s): {} done, {} in progress, {} queued, {} stopped, {} manual (of {})",
        r.runs, r.done, r.in_progress, r.queued, r.stopped, r.manual, r.total
    )?;
    let f = &s.hunts.findings;
    writeln!(
        w,
        "hunts     {} run(s): {} critical, {} high, {} medium, {} low, {} informational",
        s.hunts.runs, f.critical, f.high, f.medium, f.low, f.informational
    )?;
    writeln!(
        w,
        "scans     {} run(s): {} finding(s), {} distinct secret(s)",
        s.scans.runs, s.scans.findings, s.scans.distinct_secrets
    )?;
    writeln!(
        w,
        "census    {} run(s): {} artifact(s) in the window, {} flagged",
        s.census.runs, s.census.artifacts, s.census.flagged
    )?;
    for p in &s.providers_not_inventoried {
        writeln!(w, "NOT inventoried: {p}")?;
    }
    // the most urgent first: a stolen credential that still works leads
    let mut shown: Vec<_> = s
        .tasks
        .iter()
        .filter(|t| all || !matches!(t.state.as_str(), "verified" | "rotated"))
        .collect();
    shown.sort_by_key(|t| firebreak_incident::status::urgency(&t.state));
    if !shown.is_empty() {
        writeln!(w)?;
        writeln!(w, "{:<9}  {:<28}  {:<40}  UNLOCKS", "STATE", "SECRET", "WHERE")?;
        for t in shown {
            writeln!(
                w,
                "{:<9}  {:<28}  {:<40}  {}{}",
                if t.state == "live" {
                    "LIVE"
                } else {
                    t.state.as_str()
                },
                t.secret,
                t.scope,
                t.unlocks,
                if t.inferred { " (inferred)" } else { "" }
            )?;
            if t.state == "live" {
                if let Some(e) = &t.evidence {
                    writeln!(w, "           {e}")?;
                }
            }
        }
    }
    writeln!(w, "updated {}", s.updated_at)?;
    Ok(())
}

fn status(a: StatusArgs) -> anyhow::Result<Exit> {
    let store = a.store.open()?;
    let name = firebreak_incident::resolve_name(&store, a.name.as_deref())?;
    let s = firebreak_incident::status(&store, &name)?;
    let mut w = a.out.writer()?;
    match a.out.format() {
        Format::Json => writeln!(w, "{}", serde_json::to_string_pretty(&s)?)?,
        _ => write_status_text(&mut w, &s, a.all)?,
    }
    w.flush()?;
    Ok(if s.secrets.left() > 0 {
        Exit::Found
    } else {
        Exit::Clean
    })
}

fn confirm(a: ConfirmArgs) -> anyhow::Result<Exit> {
    let mut store = a.store.open()?;
    let name = firebreak_incident::resolve_name(&store, a.name.as_deref())?;
    let by =
        a.by.or_else(|| std::env::var("USER").ok())
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "unknown".to_string());
    let req = firebreak_incident::ConfirmRequest {
        tasks: a.tasks,
        kinds: a.kinds,
        scope: a.scope,
        note: a.note.unwrap_or_default(),
        by,
        withdraw: a.withdraw,
        at: None,
    };
    let out = firebreak_incident::confirm(&mut store, &name, &req)?;
    let mut w = a.out.writer()?;
    match a.out.format() {
        Format::Json => writeln!(w, "{}", serde_json::to_string_pretty(&out)?)?,
        _ => {
            for t in &out.tasks {
                match &t.reason {
                    Some(r) => writeln!(w, "{:<10} {}  ({r})", t.outcome, t.identity)?,
                    None => writeln!(w, "{:<10} {}  (was {})", t.outcome, t.identity, t.was)?,
                }
            }
            let n = |o: &str| out.tasks.iter().filter(|t| t.outcome == o).count();
            writeln!(
                w,
                "incident {name}: {} confirmed, {} withdrawn, {} skipped",
                n("confirmed"),
                n("withdrawn"),
                n("skipped")
            )?;
        }
    }
    w.flush()?;
    Ok(Exit::Clean)
}

fn record(a: RecordArgs) -> anyhow::Result<Exit> {
    let mut store = a.store.open()?;
    let kind = match a.kind {
        KindArg::Hunt => RecordKind::Hunt,
        KindArg::Scan => RecordKind::Scan,
        KindArg::Census => RecordKind::Census,
        KindArg::Validate => RecordKind::Validate,
    };
    let out = firebreak_incident::record_file(&mut store, &a.name, kind, &a.file)?;
    for l in out.malformed_lines.iter().take(50) {
        eprintln!(
            "incident record: {}:{l}: not a {} record, skipped",
            out.source,
            kind.as_str()
        );
    }
    writeln!(
        std::io::stdout().lock(),
        "recorded {} {} item(s) from {} into incident {} (record {}); {} malformed line(s)",
        out.items,
        kind.as_str(),
        out.source,
        a.name,
        out.record_id,
        out.malformed_lines.len()
    )?;
    Ok(if out.malformed_lines.is_empty() {
        Exit::Clean
    } else {
        Exit::Partial
    })
}
