//! `firebreak token issue|list|revoke`: admin helpers talking to a running `firebreak serve`.

use crate::output::{formats, OutputArgs};
use anyhow::Context;
use firebreak_core::output::Format;
use firebreak_core::{Exit, SecretString};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `firebreak token`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Base URL of the service.
    #[arg(
        long,
        global = true,
        env = "FIREBREAK_SERVER",
        default_value = "http://127.0.0.1:8420"
    )]
    pub server: String,
    /// File holding the admin credential (default: the FIREBREAK_ADMIN_TOKEN variable).
    #[arg(long, global = true, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Issue a token for (project, provider); prints it once on stdout.
    Issue {
        /// Project.
        #[arg(long)]
        project: String,
        /// CI provider (circleci, github, gitlab, ...).
        #[arg(long)]
        provider: String,
        /// Lifetime: seconds, or with units: 90m, 12h, 30d, 1h30m.
        #[arg(long)]
        ttl: Option<String>,
        /// `--format json`: the token and its metadata as one JSON object.
        #[command(flatten)]
        out: OutputArgs<IssueFormats>,
        /// Same as `--format json` (kept for scripts written before `--format`).
        #[arg(long, hide = true)]
        json: bool,
    },
    /// List token metadata (never the tokens).
    List {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        #[command(flatten)]
        out: OutputArgs<ListFormats>,
    },
    /// Revoke one token (--id), a provider's tokens in a project, a project's, or a provider's everywhere.
    Revoke {
        /// Token id (tok_...).
        #[arg(long, conflicts_with_all = ["project", "provider", "all_projects"])]
        id: Option<String>,
        /// Project.
        #[arg(long)]
        project: Option<String>,
        /// Provider.
        #[arg(long)]
        provider: Option<String>,
        /// With --provider: revoke that provider's tokens in every project.
        #[arg(long, requires = "provider", conflicts_with = "project")]
        all_projects: bool,
    },
}

formats!(
    /// `token issue`: the token alone (text), or one JSON object with its metadata. No
    /// `-o/--output`: the token goes to stdout only, never into a file created here.
    IssueFormats,
    [Text, Json],
    Some(Format::Text),
    false
);

formats!(
    /// `token list`: a table, one JSON document `{"tokens": [...]}`, or JSON Lines.
    ListFormats,
    [Text, Json, Jsonl],
    Some(Format::Text),
    true
);

/// Parses `3600`, `90m`, `12h`, `30d`, `1h30m` into seconds ([`firebreak_core::duration`]).
fn parse_ttl(s: &str) -> anyhow::Result<u64> {
    firebreak_core::duration::parse_secs(s).context("--ttl")
}

fn admin_credential(file: Option<&PathBuf>) -> anyhow::Result<SecretString> {
    let v = match file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("{}: cannot read admin token file", p.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        None => std::env::var("FIREBREAK_ADMIN_TOKEN")
            .map_err(|_| anyhow::anyhow!("set FIREBREAK_ADMIN_TOKEN or pass --admin-token-file"))?,
    };
    if v.is_empty() {
        anyhow::bail!("the admin credential is empty");
    }
    Ok(SecretString::new(v))
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let admin = admin_credential(args.admin_token_file.as_ref())?;
    let client = firebreak_serve::client::Client::new(&args.server, Some(admin));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match args.command {
            Cmd::Issue {
                project,
                provider,
                ttl,
                out,
                json,
            } => {
                let ttl = ttl.as_deref().map(parse_ttl).transpose()?;
                let r = client.issue(&project, &provider, ttl).await?;
                let mut w = out.writer()?;
                if json || out.format() == Format::Json {
                    writeln!(w, "{}", serde_json::to_string(&r)?)?;
                    w.flush()?;
                } else {
                    writeln!(w, "{}", r.token)?;
                    w.flush()?;
                    eprintln!(
                        "issued {} for project {} provider {}, expires {} (shown once: store it now)",
                        r.info.id, r.info.project, r.info.provider, r.info.expires_at
                    );
                }
            }
            Cmd::List {
                project,
                provider,
                out,
            } => {
                let toks = client.list(project.as_deref(), provider.as_deref()).await?;
                let mut w = out.writer()?;
                match out.format() {
                    Format::Jsonl => {
                        for t in &toks {
                            writeln!(w, "{}", serde_json::to_string(t)?)?;
                        }
                    }
                    Format::Json => {
                        serde_json::to_writer_pretty(&mut w, &serde_json::json!({ "tokens": toks }))?;
                        writeln!(w)?;
                    }
                    _ => {
                        writeln!(
                            w,
                            "{:<21} {:<20} {:<10} {:<6} {:<21} {:<21} {:<21}",
                            "ID", "PROJECT", "PROVIDER", "ORIGIN", "EXPIRES", "REVOKED", "LAST USED"
                        )?;
                        for t in &toks {
                            writeln!(
                                w,
                                "{:<21} {:<20} {:<10} {:<6} {:<21} {:<21} {:<21}",
                                t.id,
                                t.project,
                                t.provider,
                                t.origin,
                                t.expires_at,
                                t.revoked_at.as_deref().unwrap_or("-"),
                                t.last_used_at.as_deref().unwrap_or("-")
                            )?;
                        }
                    }
                }
                w.flush()?;
            }
            Cmd::Revoke {
                id,
                project,
                provider,
                all_projects,
            } => {
                let v = match (id, project, provider) {
                    (Some(id), _, _) => client.revoke_id(&id).await?,
                    (None, Some(p), prov) => client.revoke(Some(&p), prov.as_deref(), false).await?,
                    (None, None, Some(prov)) if all_projects => {
                        client.revoke(None, Some(&prov), true).await?
                    }
                    _ => anyhow::bail!("give --id, --project [--provider], or --provider --all-projects"),
                };
                let mut w = std::io::stdout().lock();
                writeln!(w, "{}", serde_json::to_string(&v)?)?;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("30d").unwrap(), 30 * 86400);
        assert_eq!(parse_ttl("90m").unwrap(), 5400);
        assert_eq!(parse_ttl("3600").unwrap(), 3600);
        assert_eq!(parse_ttl("1h30m").unwrap(), 5400);
        assert!(parse_ttl("x").is_err());
        assert!(parse_ttl("").is_err());
    }
}
