//! `firebreak revoke`: revoke leaked credentials at their provider, where the provider
//! documents how, and prove them dead with a fresh check. Journaled in the store (keyed
//! fingerprints only) so that a run cut short is resumed by running it again.

use crate::cmd::incident::StoreArg;
use crate::cmd::validate::{plan_input, CheckArgs, PlannedInput};
use anyhow::Context;
use firebreak_core::{Exit, Validation, ValidationStatus};
use firebreak_store::keyed::RevocationEntry;
use firebreak_validate::{Planned, Revocation, RevokeStatus};
use std::io::Write;
use std::path::PathBuf;

crate::output::formats!(
    /// `firebreak revoke`: text (one line per credential, then a summary line), one JSON
    /// document `{"results": [...], "summary": {...}}`, JSON Lines (one result per line,
    /// then a `"type":"summary"` line; `incident record --kind revoke` reads it).
    RevokeFormats,
    [Text, Json, Jsonl],
    Some(firebreak_core::output::Format::Text),
    true
);

/// Arguments of `firebreak revoke`.
///
/// Exit codes: 0 every credential is proven dead (revoked now or earlier, or dead
/// already); 1 some still need a person (manual steps, no API, revocation accepted but
/// the credential still works); 2 usage error (including neither --yes nor --dry-run);
/// 3 some revocations failed or some lines could not be read (the rest were done).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Credentials to revoke: `NAME=VALUE` lines (`-` reads stdin). With --type: one
    /// bare value per line, or one JSON document (a key file).
    #[arg(long, value_name = "FILE|-")]
    pub values: PathBuf,
    /// Treat every value as this validator's credential (e.g. `github.token`).
    #[arg(long = "type", value_name = "ID")]
    pub ty: Option<String>,
    /// Revoke only these variables (repeatable; default: every recognised value).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// Really revoke: revocation cannot be undone (AWS keys are deactivated, which can).
    #[arg(long, conflicts_with = "dry_run")]
    pub yes: bool,
    /// Print what would be sent, naming each request by its template; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Record the outcome in this incident: a credential proven dead counts as the old
    /// value of the task with its variable name.
    #[arg(long, value_name = "NAME")]
    pub incident: Option<String>,
    /// Store (journal and incident).
    #[command(flatten)]
    pub store: StoreArg,
    /// Output format and file.
    #[command(flatten)]
    pub out: crate::output::OutputArgs<RevokeFormats>,
    /// Validator settings (`--endpoint NAME=URL` and the rest).
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(serde::Serialize)]
struct Row<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    line: usize,
    validator: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    partners: &'a [String],
    /// What was done earlier (from the journal), when this run found it dead already.
    #[serde(skip_serializing_if = "Option::is_none")]
    earlier: Option<&'a str>,
    revocation: &'a Revocation,
    /// The latest check of the credential (after the revocation, or the one that found
    /// it dead already).
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<&'a Validation>,
}

#[derive(serde::Serialize, Default)]
struct Summary {
    #[serde(rename = "type")]
    kind: &'static str,
    credentials: usize,
    revoked: usize,
    already_dead: usize,
    accepted: usize,
    manual: usize,
    unsupported: usize,
    failed: usize,
    unrecognised: Vec<String>,
    malformed_lines: Vec<usize>,
}

struct Done {
    planned: Planned,
    earlier: Option<String>,
    revocation: Revocation,
}

fn entry(
    fp: &str,
    p: &Planned,
    incident: Option<&str>,
    step: &str,
    r: Option<&Revocation>,
) -> RevocationEntry {
    let mut e = RevocationEntry::now(fp, &p.validator, &p.name, step);
    e.incident = incident.map(str::to_string);
    e.request = r.and_then(|r| r.request.clone());
    e.detail = r.and_then(|r| r.reason.clone());
    e
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    if !args.yes && !args.dry_run {
        anyhow::bail!(
            "revocation cannot be undone: pass --yes to revoke, or --dry-run to see the requests first"
        );
    }
    let checker = args.check.checker()?;
    let PlannedInput {
        label,
        mut planned,
        unrecognised,
        malformed,
    } = plan_input(&args.values, args.ty.as_deref(), &checker)?;
    let mut summary = Summary {
        kind: "summary",
        unrecognised,
        malformed_lines: malformed,
        ..Summary::default()
    };
    if !args.only.is_empty() {
        for o in &args.only {
            if !planned.iter().any(|p| &p.name == o) {
                anyhow::bail!("--only {o}: no recognised credential of that name in {label}");
            }
        }
        planned.retain(|p| args.only.contains(&p.name));
    }

    if args.dry_run {
        let mut sink = args.out.writer()?;
        for p in &planned {
            let how = checker
                .catalogue()
                .get(&p.validator)
                .and_then(|v| firebreak_validate::revoke::describe(v, &checker))
                .unwrap_or_else(|| "no documented revocation: revoke it in the provider's console".into());
            writeln!(
                sink,
                "{label}:{}: {} [{}]: would check it, then {how}",
                p.line, p.name, p.validator
            )?;
        }
        writeln!(sink, "{} credential(s); nothing sent (--dry-run)", planned.len())?;
        sink.flush()?;
        return Ok(Exit::Clean);
    }

    let mut store = args.store.open()?;
    if let Some(name) = &args.incident {
        // fail on a missing incident before revoking anything
        firebreak_incident::status::load_incident(&store, name)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut done: Vec<Done> = Vec::new();
    for p in planned {
        let fp = store.keyed_fingerprint(
            p.inputs
                .get(&first_input(&checker, &p))
                .map(|v| v.expose().as_bytes())
                .unwrap_or_default(),
        )?;
        let earlier = store.last_revocation(&fp, &p.validator)?;
        // one check first: a credential dead already needs no request (resuming a run
        // that was cut short after its revocation lands here)
        let before = rt.block_on(checker.check(&p.validator, &p.inputs));
        if before.status == ValidationStatus::Dead {
            let r = Revocation {
                validator: p.validator.clone(),
                status: RevokeStatus::AlreadyDead,
                request: None,
                reason: before.reason.clone(),
                after: Some(before),
            };
            store.journal_revocation(&entry(
                &fp,
                &p,
                args.incident.as_deref(),
                "already_dead",
                Some(&r),
            ))?;
            done.push(Done {
                planned: p,
                earlier: earlier.map(|e| format!("{} at {}", e.step, firebreak_store::fmt_time(e.at))),
                revocation: r,
            });
            continue;
        }
        // journaled (and synced) before the request goes out
        store.journal_revocation(&entry(&fp, &p, args.incident.as_deref(), "sending", None))?;
        let r = rt.block_on(checker.revoke(&p.validator, &p.inputs));
        store.journal_revocation(&entry(
            &fp,
            &p,
            args.incident.as_deref(),
            r.status.as_str(),
            Some(&r),
        ))?;
        done.push(Done {
            planned: p,
            earlier: earlier.map(|e| format!("{} at {}", e.step, firebreak_store::fmt_time(e.at))),
            revocation: r,
        });
    }
    for d in &done {
        summary.credentials += 1;
        match d.revocation.status {
            RevokeStatus::Revoked => summary.revoked += 1,
            RevokeStatus::AlreadyDead => summary.already_dead += 1,
            RevokeStatus::Accepted => summary.accepted += 1,
            RevokeStatus::Manual => summary.manual += 1,
            RevokeStatus::Unsupported => summary.unsupported += 1,
            RevokeStatus::Failed => summary.failed += 1,
        }
    }
    let rows: Vec<Row> = done
        .iter()
        .map(|d| Row {
            kind: "result",
            name: &d.planned.name,
            line: d.planned.line,
            validator: &d.planned.validator,
            partners: &d.planned.partners,
            earlier: d.earlier.as_deref(),
            revocation: &d.revocation,
            validation: d.revocation.after.as_ref(),
        })
        .collect();
    if let Some(name) = &args.incident {
        let vals: Vec<(usize, serde_json::Value)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i + 1, serde_json::to_value(r).expect("rows serialise")))
            .collect();
        let (events, _) =
            firebreak_incident::record::events_of(firebreak_incident::RecordKind::Revoke, &vals);
        firebreak_incident::record::record_events(
            &mut store,
            name,
            firebreak_incident::RecordKind::Revoke,
            &format!("firebreak revoke --values {label}"),
            &events,
            summary.malformed_lines.len(),
            serde_json::json!({"revoked": summary.revoked, "already_dead": summary.already_dead, "failed": summary.failed}),
        )?;
    }
    let mut sink = args.out.writer()?;
    match args.out.format() {
        firebreak_core::output::Format::Text => {
            for r in &rows {
                let with = if r.partners.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", r.partners.join(", "))
                };
                let why = r
                    .revocation
                    .reason
                    .as_deref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default();
                let earlier = r.earlier.map(|e| format!(" (journal: {e})")).unwrap_or_default();
                writeln!(
                    sink,
                    "{label}:{}: {}{with} [{}]: {}{why}{earlier}",
                    r.line,
                    r.name,
                    r.validator,
                    r.revocation.status.as_str().to_uppercase().replace('_', " "),
                )?;
            }
            writeln!(
                sink,
                "{} credential(s): {} revoked, {} dead already, {} accepted but not proven dead, {} manual, {} without an API, {} failed; {} unrecognised, {} malformed lines",
                summary.credentials,
                summary.revoked,
                summary.already_dead,
                summary.accepted,
                summary.manual,
                summary.unsupported,
                summary.failed,
                summary.unrecognised.len(),
                summary.malformed_lines.len()
            )?;
        }
        f => crate::output::write_rows(&mut sink, f, "results", &rows, &summary)?,
    }
    sink.flush()?;
    let open = summary.accepted + summary.manual + summary.unsupported;
    Ok(Exit::from_outcome(
        open > 0,
        summary.failed + summary.malformed_lines.len(),
    ))
}

fn first_input(ck: &firebreak_validate::Checker, p: &Planned) -> String {
    ck.catalogue()
        .get(&p.validator)
        .map(|v| v.spec.inputs[0].name.clone())
        .unwrap_or_else(|| "token".into())
}
