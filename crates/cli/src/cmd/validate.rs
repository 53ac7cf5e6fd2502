//! `firebreak validate`: does a credential still work at its provider, and whose is it?
//! Also the `--validate` flags of `firebreak scan`.

use anyhow::Context;
use firebreak_core::values::Values;
use firebreak_core::{Exit, SecretString, Validation, ValidationStatus};
use firebreak_validate::{Catalogue, Checker, Endpoints, Options, Planned};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// How validators run (shared by `validate` and `scan --validate`).
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Override a provider's base URL (repeatable), e.g. `--endpoint github=https://ghe.example/api/v3`,
    /// `--endpoint gitlab=https://gitlab.example/api/v4`, `--endpoint aws=http://127.0.0.1:5000`,
    /// `--endpoint vault=https://vault.example:8200`. Names: `firebreak validate --list`.
    #[arg(long = "endpoint", value_name = "NAME=URL")]
    pub endpoints: Vec<String>,
    /// Add validators from the YAML files of this directory (repeatable; same id replaces).
    #[arg(long, value_name = "DIR")]
    pub validators: Vec<PathBuf>,
    /// Requests per second to any one host.
    #[arg(long, value_name = "N", default_value_t = 10.0)]
    pub validate_rate: f64,
    /// Checks in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub validate_concurrency: usize,
    /// Timeout of one request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub validate_timeout: u64,
    /// For each live credential, map what it can reach with read calls: AWS (IAM
    /// principal, attached / inline / group policies: actions on resources; `--endpoint
    /// aws_iam=URL`), GitHub (scopes, organisations, repositories with permissions),
    /// GitLab (user, scopes, projects with roles, groups), GCP service-account keys (IAM
    /// bindings in the key's project via Cloud Asset; `--endpoint gcp_asset=URL`).
    #[arg(long)]
    pub map: bool,
}

impl CheckArgs {
    /// The catalogue (built-in plus `--validators`), problems naming file and line.
    pub fn catalogue(&self) -> anyhow::Result<Catalogue> {
        let mut cat = Catalogue::builtin().map_err(|e| {
            anyhow::anyhow!(
                "built-in validators: {}",
                e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            )
        })?;
        for d in &self.validators {
            let errs = cat.add_dir(d);
            if !errs.is_empty() {
                anyhow::bail!(
                    "{}",
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
        Ok(cat)
    }

    /// A checker with these settings.
    pub fn checker(&self) -> anyhow::Result<Arc<Checker>> {
        if self.validate_rate.is_nan() || self.validate_rate <= 0.0 {
            anyhow::bail!("--validate-rate must be above 0");
        }
        let endpoints =
            Endpoints::parse(&crate::config::endpoints(&self.endpoints)).map_err(|e| anyhow::anyhow!(e))?;
        Ok(Arc::new(Checker::new(
            Arc::new(self.catalogue()?),
            Options {
                rate_per_host: self.validate_rate,
                concurrency: self.validate_concurrency.max(1),
                timeout: std::time::Duration::from_secs(self.validate_timeout.max(1)),
                endpoints,
                map: self.map,
                ..Options::default()
            },
        )))
    }
}

/// The `--validate` flags of `firebreak scan`.
#[derive(clap::Args, Debug, Clone)]
pub struct ValidateArgs {
    /// Check each finding at its provider while its value is in memory (read-only
    /// requests): `live`, `dead`, `unknown` or `error`, and whose it is.
    #[arg(long)]
    pub validate: bool,
    /// With --validate: report only findings proven live.
    #[arg(long, requires = "validate")]
    pub only_live: bool,
    /// Validator settings.
    #[command(flatten)]
    pub check: CheckArgs,
}

impl ValidateArgs {
    /// A checker with these settings.
    pub fn checker(&self) -> anyhow::Result<Arc<Checker>> {
        self.check.checker()
    }
}

crate::output::formats!(
    /// `firebreak validate`: text (one line per credential, then a summary line), one JSON
    /// document `{"results": [...], "summary": {...}}`, JSON Lines (one result per line,
    /// then a `"type":"summary"` line).
    ValidateFormats,
    [Text, Json, Jsonl],
    Some(firebreak_core::output::Format::Text),
    true
);

/// Arguments of `firebreak validate`.
///
/// Exit codes: 0 nothing live, 1 at least one credential is live, 2 usage error,
/// 3 some values could not be read or checked (the rest were).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Values to check: `NAME=VALUE` lines (`-` reads stdin). With --type: one bare value
    /// per line, or one JSON document (a key file).
    #[arg(long, value_name = "FILE|-", required_unless_present = "list")]
    pub values: Option<PathBuf>,
    /// Check every value as this validator (e.g. `github.token`) instead of recognising it.
    #[arg(long = "type", value_name = "ID")]
    pub ty: Option<String>,
    /// List the validators (id, endpoint name, default base URL) and exit.
    #[arg(long)]
    pub list: bool,
    /// Output format and file.
    #[command(flatten)]
    pub out: crate::output::OutputArgs<ValidateFormats>,
    /// Validator settings.
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(serde::Serialize)]
struct Row<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    line: usize,
    validator: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    partners: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<&'a Validation>,
}

#[derive(serde::Serialize, Default)]
struct Summary {
    #[serde(rename = "type")]
    kind: &'static str,
    checked: usize,
    live: usize,
    dead: usize,
    unknown: usize,
    error: usize,
    unrecognised: Vec<String>,
    malformed_lines: Vec<usize>,
}

fn read_input(p: &PathBuf) -> anyhow::Result<(String, String)> {
    if p.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the values from stdin")?;
        Ok((s, "<stdin>".into()))
    } else {
        let s = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        Ok((s, p.display().to_string()))
    }
}

/// Bare values, one per line (or one JSON document, a key file), each named `line_N`.
fn bare_values(text: &str) -> Values {
    let mut out = Values::default();
    let trimmed = text.trim();
    if trimmed.starts_with('{') && serde_json::from_str::<serde_json::Value>(trimmed).is_ok() {
        let line = text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0) + 1;
        out.insert(&format!("line_{line}"), SecretString::new(trimmed), line);
        return out;
    }
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.insert(&format!("line_{}", i + 1), SecretString::new(l), i + 1);
    }
    out
}

/// A values file read and planned: the credentials to check, and what could not be
/// (both reported on stderr by file and line or name, never by value).
pub(crate) struct PlannedInput {
    /// How the file is named in messages (`<stdin>` for `-`).
    pub label: String,
    /// The credentials, each with its validator and parts.
    pub planned: Vec<Planned>,
    /// Names no validator recognises.
    pub unrecognised: Vec<String>,
    /// Lines that are not `NAME=VALUE`.
    pub malformed: Vec<usize>,
}

/// Reads `--values` (with `--type ty`: bare values) and pairs them into credentials.
pub(crate) fn plan_input(
    path: &PathBuf,
    ty: Option<&str>,
    checker: &Checker,
) -> anyhow::Result<PlannedInput> {
    let (text, label) = read_input(path)?;
    let mut malformed = Vec::new();
    let values = if ty.is_some() {
        bare_values(&text)
    } else {
        let (v, bad) = Values::parse(&text);
        for l in &bad {
            eprintln!("firebreak: {label}:{l}: not a NAME=VALUE line (skipped; the value is not shown)");
        }
        malformed = bad;
        v
    };
    drop(text);
    let (planned, unrecognised) =
        firebreak_validate::plan_values(checker.catalogue(), &values, ty).map_err(|e| anyhow::anyhow!(e))?;
    for n in &unrecognised {
        eprintln!(
            "firebreak: {label}: {n}: no validator recognises this value (try --type; see `firebreak validate --list`)"
        );
    }
    Ok(PlannedInput {
        label,
        planned,
        unrecognised,
        malformed,
    })
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    if args.list {
        let cat = args.check.catalogue()?;
        let mut out = std::io::stdout().lock();
        for v in cat.iter() {
            let check = match &v.spec.check {
                firebreak_validate::spec::Check::Http(h) => format!(
                    "{} {}",
                    h.method,
                    h.path.as_deref().or(h.url.as_deref()).unwrap_or("")
                ),
                firebreak_validate::spec::Check::AwsSts => "sts:GetCallerIdentity (SigV4)".into(),
                firebreak_validate::spec::Check::GcpServiceAccount => "JWT-bearer token exchange".into(),
                firebreak_validate::spec::Check::PypiMacaroon => "offline (macaroon caveats)".into(),
            };
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                v.spec.id,
                v.spec.endpoint.as_deref().unwrap_or("-"),
                v.spec.base.as_deref().unwrap_or("(needs --endpoint)"),
                check,
                v.spec.name
            )?;
        }
        return Ok(Exit::Clean);
    }
    let checker = args.check.checker()?;
    let path = args
        .values
        .as_ref()
        .expect("clap requires --values without --list");
    let PlannedInput {
        label,
        planned,
        unrecognised,
        malformed,
    } = plan_input(path, args.ty.as_deref(), &checker)?;
    let mut summary = Summary {
        kind: "summary",
        unrecognised,
        malformed_lines: malformed,
        ..Summary::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let results: Vec<(Planned, Validation)> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, p) in planned.into_iter().enumerate() {
            let ck = checker.clone();
            set.spawn(async move {
                let v = ck.check(&p.validator, &p.inputs).await;
                (i, p, v)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(x) = r {
                out.push(x);
            }
        }
        out.sort_by_key(|(i, _, _)| *i);
        out.into_iter().map(|(_, p, v)| (p, v)).collect()
    });
    for (_, v) in &results {
        summary.checked += 1;
        match v.status {
            ValidationStatus::Live => summary.live += 1,
            ValidationStatus::Dead => summary.dead += 1,
            ValidationStatus::Unknown => summary.unknown += 1,
            ValidationStatus::Error => summary.error += 1,
        }
    }
    let mut sink = args.out.writer()?;
    let rows: Vec<Row> = results
        .iter()
        .map(|(p, v)| Row {
            kind: "result",
            name: &p.name,
            line: p.line,
            validator: Some(&p.validator),
            partners: &p.partners,
            validation: Some(v),
        })
        .collect();
    match args.out.format() {
        firebreak_core::output::Format::Text => {
            for (r, (_, v)) in rows.iter().zip(&results) {
                let with = if r.partners.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", r.partners.join(", "))
                };
                writeln!(
                    sink,
                    "{label}:{}: {}{with} [{}]: {}",
                    r.line,
                    r.name,
                    r.validator.unwrap_or("-"),
                    firebreak_scan::output::validation_text(v)
                )?;
            }
            writeln!(
                sink,
                "{} checked: {} live, {} dead, {} unknown, {} error; {} unrecognised, {} malformed lines",
                summary.checked,
                summary.live,
                summary.dead,
                summary.unknown,
                summary.error,
                summary.unrecognised.len(),
                summary.malformed_lines.len()
            )?;
        }
        f => crate::output::write_rows(&mut sink, f, "results", &rows, &summary)?,
    }
    sink.flush()?;
    Ok(Exit::from_outcome(
        summary.live > 0,
        summary.error + summary.malformed_lines.len(),
    ))
}
