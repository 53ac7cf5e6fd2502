//! `firebreak drill`: a complete incident on bundled data, with no network and no setup.
//!
//! 1. starts the provider simulator in this process with a seeded organisation `acme`
//!    (its CI logs hold planted leaked AWS keys) and the rotation source simulator;
//! 2. inventories the breached provider (CircleCI) into the store;
//! 3. creates the incident (window 2022-12-21..2023-01-05) and its playbook, with the
//!    bundled `values.env` (the CI deploy user's AWS key id, decoded to its account);
//! 4. scans the CI logs (CircleCI job logs, GitHub Actions run logs) for leaked secrets;
//! 5. hunts the bundled audit logs (CloudTrail, GitHub, CircleCI) holding an attacker's
//!    trail, with a baseline for novelty;
//! 6. rotates every secret it can (environment and context variables through the source
//!    simulator, checkout keys through CircleCI; SSH keys stay manual);
//! 7. inventories again: the provider's timestamps verify the rotations;
//! 8. runs the census over the bundled artifacts (one carries a planted dropper);
//! 9. writes the report.
//!
//! The bundled data (`testdata/drill/`) is embedded in the binary and written to the work
//! directory, so the drill runs from any copy of the binary.

use crate::blast;
use crate::playbook::{InitOptions, InventorySource};
use crate::record::{self, RecordKind};
use crate::report;
use crate::status::Status;
use anyhow::Context as _;
use firebreak_core::{SecretString, TimeWindow};
use firebreak_http::HttpConfig;
use firebreak_providers::sim::{SimConfig, Simulator};
use firebreak_providers::{circleci, github, Provider};
use firebreak_rotate::plan::{Plan, ProviderConn, SinkSpec, SourceSpec};
use firebreak_rotate::sim_source::SourceSim;
use firebreak_store::{NewSnapshot, Store};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The bundled data, embedded (path relative to the data directory, bytes).
pub const DATA: &[(&str, &[u8])] = &[
    (
        "audit/cloudtrail-acme.json",
        include_bytes!("../../../testdata/drill/audit/cloudtrail-acme.json"),
    ),
    (
        "audit/github-audit.ndjson",
        include_bytes!("../../../testdata/drill/audit/github-audit.ndjson"),
    ),
    (
        "audit/circleci-audit.csv",
        include_bytes!("../../../testdata/drill/audit/circleci-audit.csv"),
    ),
    (
        "census/index.jsonl",
        include_bytes!("../../../testdata/drill/census/index.jsonl"),
    ),
    (
        "census/ioc.toml",
        include_bytes!("../../../testdata/drill/census/ioc.toml"),
    ),
    (
        "census/files/acme-cli-1.3.9.tar.gz",
        include_bytes!("../../../testdata/drill/census/files/acme-cli-1.3.9.tar.gz"),
    ),
    (
        "census/files/acme-cli-1.4.0.tar.gz",
        include_bytes!("../../../testdata/drill/census/files/acme-cli-1.4.0.tar.gz"),
    ),
    (
        "census/files/acme-web-0.9.0.tar.gz",
        include_bytes!("../../../testdata/drill/census/files/acme-web-0.9.0.tar.gz"),
    ),
    (
        "census/files/acme_sdk-2.1.0-py3-none-any.whl",
        include_bytes!("../../../testdata/drill/census/files/acme_sdk-2.1.0-py3-none-any.whl"),
    ),
    (
        "census/files/acme_sdk-2.1.1-py3-none-any.whl",
        include_bytes!("../../../testdata/drill/census/files/acme_sdk-2.1.1-py3-none-any.whl"),
    ),
    ("values.env", include_bytes!("../../../testdata/drill/values.env")),
];

/// The drill's exposure window (the CircleCI breach of December 2022).
pub const WINDOW: &str = "2022-12-21T00:00:00Z..2023-01-05T00:00:00Z";
/// The baseline the hunt compares with.
pub const BASELINE: &str = "2022-12-01T00:00:00Z..2022-12-21T00:00:00Z";
/// The simulated organisation.
pub const ORG: &str = "acme";

/// A progress callback: one line per step.
pub type Progress = Box<dyn Fn(&str) + Send + Sync>;

/// Options of [`run`].
pub struct DrillOptions {
    /// Where the report goes.
    pub out: PathBuf,
    /// Work directory (data, plan, token files; the store unless `store` is given).
    pub work: PathBuf,
    /// Store file (default `WORK/drill.db`).
    pub store: Option<PathBuf>,
    /// Simulator seed.
    pub seed: u64,
    /// Projects per provider in the simulator.
    pub projects: usize,
    /// Called with one line per step.
    pub progress: Option<Progress>,
}

impl DrillOptions {
    /// Defaults: seed 2023, 12 projects.
    pub fn new(out: PathBuf, work: PathBuf) -> Self {
        DrillOptions {
            out,
            work,
            store: None,
            seed: 2023,
            projects: 12,
            progress: None,
        }
    }
}

/// One step's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Step name.
    pub name: String,
    /// Wall time, seconds.
    pub seconds: f64,
    /// What it did.
    pub summary: String,
}

/// What the drill did.
#[derive(Debug, Clone, Serialize)]
pub struct DrillOutcome {
    /// Incident name.
    pub incident: String,
    /// Store file.
    pub store: PathBuf,
    /// `report.html`.
    pub report_html: PathBuf,
    /// `report.md`.
    pub report_markdown: PathBuf,
    /// The status at the end.
    pub status: Status,
    /// Steps.
    pub steps: Vec<Step>,
    /// Leaked secrets planted in the simulator's CI logs.
    pub leaks_planted: usize,
    /// Of them, found by the scan (by fingerprint).
    pub leaks_found: usize,
    /// Rotation: secrets done / stopped / manual / unfinished.
    pub rotation: firebreak_rotate::Summary,
    /// Total wall time, seconds.
    pub seconds: f64,
}

/// Writes the embedded data under `dir`.
pub fn write_data(dir: &Path) -> anyhow::Result<()> {
    for (rel, bytes) in DATA {
        let p = dir.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

fn write_private(p: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o
        .open(p)
        .with_context(|| format!("cannot create {}", p.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Runs the drill on a private runtime (call outside an async context).
pub fn run(opts: &DrillOptions) -> anyhow::Result<DrillOutcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(opts))
}

struct Clock<'a> {
    t0: Instant,
    last: Instant,
    steps: Vec<Step>,
    progress: Option<&'a (dyn Fn(&str) + Send + Sync)>,
    n: usize,
}

impl Clock<'_> {
    fn done(&mut self, name: &str, summary: String) {
        let now = Instant::now();
        let secs = (now - self.last).as_secs_f64();
        self.last = now;
        self.n += 1;
        if let Some(p) = self.progress {
            p(&format!("[{}/10] {name:<10} {summary} ({secs:.1}s)", self.n));
        }
        self.steps.push(Step {
            name: name.to_string(),
            seconds: secs,
            summary,
        });
    }
}

fn unique_name(store: &Store, base: &str) -> anyhow::Result<String> {
    if store.incident(base)?.is_none() {
        return Ok(base.to_string());
    }
    for i in 2.. {
        let n = format!("{base}-{i}");
        if store.incident(&n)?.is_none() {
            return Ok(n);
        }
    }
    unreachable!()
}

/// Runs the drill (inside a multi-threaded Tokio runtime).
pub async fn run_async(opts: &DrillOptions) -> anyhow::Result<DrillOutcome> {
    let mut clock = Clock {
        t0: Instant::now(),
        last: Instant::now(),
        steps: Vec::new(),
        progress: opts.progress.as_deref(),
        n: 0,
    };
    let window: TimeWindow = WINDOW.parse()?;
    let baseline: TimeWindow = BASELINE.parse()?;
    std::fs::create_dir_all(&opts.work).with_context(|| format!("cannot create {}", opts.work.display()))?;
    let data = opts.work.join("data");
    write_data(&data)?;
    let store_path = opts.store.clone().unwrap_or_else(|| opts.work.join("drill.db"));
    let mut store = Store::open(&store_path)?;

    // ---- 1. simulators
    // the simulated npm registry accepts one token, shaped like a real one so that
    // validators recognise it: the drill's stolen value that still works (a CircleCI
    // variable was rotated, but the old npm token was never revoked at npm)
    let npm_token = {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let body: String = (0..36)
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect();
        SecretString::new(format!("npm_{body}"))
    };
    let sim = Simulator::start(SimConfig {
        seed: opts.seed,
        projects: opts.projects.max(3),
        org: ORG.into(),
        log_projects: 3,
        page_size: 100,
        npm_token: Some(npm_token.clone()),
        ..SimConfig::default()
    })
    .await
    .context("cannot start the provider simulator")?;
    let src = SourceSim::start()
        .await
        .context("cannot start the source simulator")?;
    let cc_token_file = opts.work.join("circleci.token");
    let gh_token_file = opts.work.join("github.token");
    write_private(&cc_token_file, sim.config().circleci_token.expose())?;
    write_private(&gh_token_file, sim.config().github_token.expose())?;
    let hc = HttpConfig::default();
    let cc = circleci::Client::new(
        &sim.circleci_url(),
        sim.config().circleci_token.clone(),
        hc.clone(),
    )?;
    let gh = github::Client::new(&sim.github_url(), sim.config().github_token.clone(), hc.clone())?;
    clock.done(
        "simulate",
        format!(
            "organisation {ORG}: {} projects on CircleCI and GitHub, {} leaked secrets planted in CI logs",
            opts.projects.max(3),
            sim.leaked().len()
        ),
    );

    // ---- 2. inventory
    let inv = firebreak_inventory::collect_circleci(&cc, ORG, None, 16).await;
    anyhow::ensure!(
        inv.errors.is_empty(),
        "inventory of the simulator failed: {:?}",
        inv.errors.first().map(|e| &e.message)
    );
    let snap1 = store.save_snapshot(&NewSnapshot {
        provider: Provider::Circleci,
        org: &inv.org,
        started_at: inv.started_at,
        finished_at: inv.finished_at,
        items: &inv.items,
        errors: &inv.errors,
        stats: serde_json::to_value(inv.stats)?,
    })?;
    clock.done(
        "inventory",
        format!(
            "{} CircleCI secrets in {} projects (snapshot {snap1}): {}",
            inv.items.len(),
            inv.projects,
            kind_counts(&inv.items)
        ),
    );

    // ---- 3. incident
    let name = unique_name(&store, "drill")?;
    let mut io = InitOptions::new(&name, vec![Provider::Circleci], window);
    io.inventory = InventorySource::Snapshot(snap1);
    let values_text = std::fs::read_to_string(data.join("values.env"))?;
    io.values = blast::Values::parse(&values_text).0;
    let init = crate::playbook::init_async(&mut store, &io).await?;
    clock.done(
        "incident",
        format!(
            "incident {name}: {} tasks; blast radius by method: {}",
            init.tasks,
            init.by_method
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    // ---- 4. scan CI logs
    let rules = Arc::new(firebreak_scan::RuleSet::builtin().context("built-in scan rules")?);
    let scanner =
        firebreak_scan::Scanner::with_shared_rules(rules.clone(), firebreak_scan::ScanOptions::default());
    let mut scan_values: Vec<(usize, Value)> = Vec::new();
    let mut logs = 0usize;
    let mut scan_errors = Vec::new();
    let add = |name: &str,
               data: &[u8],
               at: Option<chrono::DateTime<chrono::Utc>>,
               out: &mut Vec<(usize, Value)>| {
        let rep = scanner.scan_reader(name, data);
        let text = String::from_utf8_lossy(data);
        let lines: Vec<&str> = text.lines().collect();
        for f in rep.findings {
            let mut v = serde_json::to_value(&f).unwrap_or_default();
            if let Some(t) = at {
                v["time"] = json!(firebreak_store::fmt_time(t));
            }
            if f.rule_id == "aws.access_key_id" {
                let line = lines
                    .get(f.line.saturating_sub(1) as usize)
                    .copied()
                    .unwrap_or("");
                if let Some(kid) = blast::aws_key_ids_in(line)
                    .into_iter()
                    .find(|k| firebreak_core::fingerprint(k.as_bytes()) == f.fingerprint)
                {
                    let b = blast::with_aws_key_id(blast::by_name("AWS_ACCESS_KEY_ID"), &kid);
                    v["account_id"] = json!(b.aws_account);
                    v["unlocks"] = json!(b.unlocks);
                }
            }
            out.push((out.len() + 1, v));
        }
    };
    let slugs = cc
        .list_projects(ORG)
        .await
        .context("CircleCI projects of the simulator")?;
    for slug in &slugs {
        let mut rx = cc.job_logs(slug, None);
        while let Some(r) = rx.recv().await {
            match r {
                Ok(log) => {
                    logs += 1;
                    add(&log.name, &log.data, None, &mut scan_values);
                }
                Err(e) => scan_errors.push(e.to_string()),
            }
        }
    }
    let repos = gh
        .list_org_repos(ORG)
        .await
        .into_result()
        .context("GitHub repositories of the simulator")?;
    for repo in &repos {
        let runs = gh.list_runs(&repo.full_name, None).await;
        if let Some(e) = &runs.error {
            scan_errors.push(e.to_string());
        }
        for run in runs.items {
            match gh.run_log(&repo.full_name, run.id).await {
                Ok(rl) => match rl.entries() {
                    Ok(entries) => {
                        logs += 1;
                        for (n, bytes) in entries {
                            add(&n, &bytes, run.created_at, &mut scan_values);
                        }
                    }
                    Err(e) => scan_errors.push(e),
                },
                Err(e) => scan_errors.push(e.to_string()),
            }
        }
    }
    let (scan_events, _) = record::events_of(RecordKind::Scan, &scan_values);
    let found: BTreeSet<String> = scan_events
        .iter()
        .filter_map(|e| {
            e.detail
                .get("fingerprint")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let planted = sim.leaked();
    let leaks_found = planted.iter().filter(|l| found.contains(&l.fingerprint)).count();
    record::record_events(
        &mut store,
        &name,
        RecordKind::Scan,
        "drill: CircleCI job logs and GitHub Actions run logs (simulator)",
        &scan_events,
        0,
        json!({"logs": logs, "errors": scan_errors}),
    )?;
    clock.done(
        "scan",
        format!(
            "{logs} CI logs: {} findings; {leaks_found} of {} planted leaks found",
            scan_events.len(),
            planted.len()
        ),
    );

    // ---- 5. hunt
    let hrules = firebreak_hunt::RuleSet::builtin().context("built-in hunt rules")?;
    let hopts = firebreak_hunt::HuntOptions {
        window: Some(window),
        baseline: Some(baseline),
        source: None,
        ..Default::default()
    };
    let audit = data.join("audit");
    let hrep = tokio::task::block_in_place(|| firebreak_hunt::hunt(&[audit], &hrules, &hopts));
    let hvals: Vec<(usize, Value)> = hrep
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| (i + 1, serde_json::to_value(f).unwrap_or_default()))
        .collect();
    let (hunt_events, _) = record::events_of(RecordKind::Hunt, &hvals);
    let mut sources: Vec<String> = hrep
        .files
        .iter()
        .filter_map(|f| f.source.map(|s| s.name().to_string()))
        .collect();
    sources.sort();
    sources.dedup();
    record::record_events(
        &mut store,
        &name,
        RecordKind::Hunt,
        "drill: bundled audit logs (CloudTrail, GitHub, CircleCI)",
        &hunt_events,
        hrep.malformed as usize,
        json!({"sources": sources, "records": hrep.records, "records_in_window": hrep.in_window}),
    )?;
    let high = hrep
        .findings
        .iter()
        .filter(|f| f.level >= firebreak_core::Level::High)
        .count();
    clock.done(
        "hunt",
        format!(
            "{} audit records ({} in the window): {} findings, {high} high or critical",
            hrep.records,
            hrep.in_window,
            hrep.findings.len()
        ),
    );

    // ---- 6. rotate
    let items: Vec<firebreak_rotate::plan::InventoryItem> = inv
        .items
        .iter()
        .filter_map(|i| serde_json::from_value(serde_json::to_value(i).ok()?).ok())
        .collect();
    let (mut plan, _) = firebreak_rotate::plan::draft_from_inventory(&items);
    plan.providers.circleci = Some(ProviderConn {
        api_url: Some(sim.circleci_url()),
        token_file: Some(cc_token_file.display().to_string()),
        ..Default::default()
    });
    for s in &mut plan.secrets {
        if matches!(s.source, SourceSpec::Manual { .. }) && !s.sinks.is_empty() {
            // the issuer of every variable is the source simulator; it holds the old value
            s.source = SourceSpec::Http { url: src.url() };
            let _old: SecretString = src.seed(&s.name);
        }
        for k in &mut s.sinks {
            if let SinkSpec::CircleciContext { owner_slug, .. } = k {
                *owner_slug = Some(format!("gh/{ORG}"));
            }
        }
        // a runner token is refused without a sink: the drill's runner hosts keep their
        // launch-agent configuration in the work directory
        if let SourceSpec::CircleciRunner { resource_class, .. } = &s.source {
            if s.sinks.is_empty() {
                let dir = opts.work.join("runners").join(resource_class.replace('/', "_"));
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let cfg = dir.join(format!("{}.yaml", s.name.rsplit('#').next().unwrap_or("token")));
                write_private(
                    &cfg,
                    &format!(
                        "api:\n  auth_token: (the stolen token)\n  url: {}\nrunner:\n  name: drill-runner\n",
                        sim.circleci_url()
                    ),
                )?;
                s.sinks.push(SinkSpec::CircleciRunnerConfig {
                    resource_class: resource_class.clone(),
                    path: cfg.display().to_string(),
                    key: "auth_token".into(),
                    field: firebreak_rotate::plan::Field::Value,
                });
            }
        }
    }
    plan.validate("(drill plan)")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan_path = opts.work.join("plan.toml");
    std::fs::write(&plan_path, plan.to_toml())?;
    let rot = rotate(&store_path, &plan, &plan_path).await?;
    clock.done(
        "rotate",
        format!(
            "{} done, {} manual, {} stopped, {} unfinished (run {})",
            rot.done, rot.manual, rot.stopped, rot.unfinished, rot.run_id
        ),
    );

    // ---- 7. verify: inventory again
    let inv2 = firebreak_inventory::collect_circleci(&cc, ORG, None, 16).await;
    let snap2 = store.save_snapshot(&NewSnapshot {
        provider: Provider::Circleci,
        org: &inv2.org,
        started_at: inv2.started_at,
        finished_at: inv2.finished_at,
        items: &inv2.items,
        errors: &inv2.errors,
        stats: serde_json::to_value(inv2.stats)?,
    })?;
    let st = crate::status(&store, &name)?;
    clock.done(
        "verify",
        format!(
            "snapshot {snap2}: {} verified, {} rotated, {} manual, {} pending, {} not checked (no API lists them: OAuth authorisations, personal API tokens)",
            st.secrets.verified, st.secrets.rotated, st.secrets.manual, st.secrets.pending, st.secrets.not_checked
        ),
    );

    // ---- 8. prove: the leaked values checked at their source
    let proof = prove(&mut store, &name, &sim, &npm_token).await?;
    let st = crate::status(&store, &name)?;
    clock.done(
        "prove",
        format!(
            "{} leaked value(s) checked at their provider: {}; incident: {} LIVE, {} verified, {} rewritten",
            proof.0, proof.1, st.secrets.live, st.secrets.verified, st.secrets.rewritten
        ),
    );

    // ---- 9. census
    let mut copts = firebreak_census::CensusOptions::new(window);
    copts.ioc = Some(firebreak_census::ioc::IocSet::load(
        &data.join("census/ioc.toml"),
    )?);
    copts.scanner = Some(firebreak_scan::Scanner::with_shared_rules(
        rules,
        firebreak_scan::ScanOptions::default(),
    ));
    let index = data.join("census/index.jsonl");
    let crep = tokio::task::block_in_place(|| firebreak_census::run(&[index], &copts, None));
    let cvals: Vec<(usize, Value)> = crep
        .artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| (i + 1, serde_json::to_value(a).unwrap_or_default()))
        .collect();
    let (census_events, _) = record::events_of(RecordKind::Census, &cvals);
    record::record_events(
        &mut store,
        &name,
        RecordKind::Census,
        "drill: bundled package index (census/index.jsonl)",
        &census_events,
        crep.summary.problems,
        json!({"entries": crep.summary.entries, "in_window": crep.summary.in_window}),
    )?;
    clock.done(
        "census",
        format!(
            "{} artifacts published, {} in the window, {} flagged",
            crep.summary.entries, crep.summary.in_window, crep.summary.artifacts_with_findings
        ),
    );

    // ---- 10. report
    let rd = report::gather(&store, &name)?;
    let w = report::write(&rd, &opts.out)?;
    clock.done("report", format!("{}", w.html.display()));

    src_shutdown(src);
    sim.shutdown().await;
    Ok(DrillOutcome {
        incident: name,
        store: store_path,
        report_html: w.html,
        report_markdown: w.markdown,
        status: rd.status,
        leaks_planted: planted.len(),
        leaks_found,
        rotation: rot,
        seconds: clock.t0.elapsed().as_secs_f64(),
        steps: clock.steps,
    })
}

/// Checks two leaked values the responder holds with `firebreak validate`'s engine against
/// the simulated providers and records the verdicts: the old npm token, never revoked at
/// npm although its CircleCI variable was rotated (LIVE), and an old GitHub token that
/// was revoked (dead).
async fn prove(
    store: &mut Store,
    name: &str,
    sim: &firebreak_providers::sim::SimHandle,
    npm_token: &SecretString,
) -> anyhow::Result<(usize, String)> {
    let tasks = store.incident_tasks(crate::status::load_incident(store, name)?.id)?;
    let has = |n: &str| tasks.iter().any(|t| t.name == n);
    anyhow::ensure!(has("NPM_TOKEN"), "the drill's playbook has no NPM_TOKEN");
    let mut values = firebreak_core::values::Values::default();
    values.insert("NPM_TOKEN", npm_token.clone(), 1);
    values.insert(
        "GITHUB_TOKEN",
        SecretString::new("ghp_RevokedLongAgoRevokedLongAgo01234567"),
        2,
    );
    let cat = Arc::new(firebreak_validate::Catalogue::builtin().map_err(|e| anyhow::anyhow!("{e:?}"))?);
    let mut eps = firebreak_validate::Endpoints::default();
    eps.insert("github", url::Url::parse(&sim.github_url())?);
    eps.insert("npm", url::Url::parse(&sim.npm_url())?);
    let ck = firebreak_validate::Checker::new(
        cat.clone(),
        firebreak_validate::Options {
            endpoints: eps,
            ..Default::default()
        },
    );
    let (planned, _) =
        firebreak_validate::plan_values(&cat, &values, None).map_err(|e| anyhow::anyhow!(e))?;
    let mut rows = Vec::new();
    let mut words = Vec::new();
    for p in &planned {
        let v = ck.check(&p.validator, &p.inputs).await;
        words.push(format!(
            "{} {}",
            p.name,
            if v.status == firebreak_core::ValidationStatus::Live {
                "LIVE".to_string()
            } else {
                v.status.to_string()
            }
        ));
        rows.push((p.line, json!({"type": "result", "name": p.name, "line": p.line, "validator": p.validator, "validation": v})));
    }
    let (events, _) = record::events_of(RecordKind::Validate, &rows);
    record::record_events(
        store,
        name,
        RecordKind::Validate,
        "(drill: firebreak validate)",
        &events,
        0,
        json!({}),
    )?;
    Ok((planned.len(), words.join(", ")))
}

fn src_shutdown(src: SourceSim) {
    drop(src);
}

/// `env_var 20, checkout_key 13, …`: the inventory by kind.
fn kind_counts(items: &[firebreak_providers::Item]) -> String {
    let mut by: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for i in items {
        *by.entry(i.kind.as_str()).or_default() += 1;
    }
    by.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a rotation of `plan` to the end, journalled in the store.
async fn rotate(
    store_path: &Path,
    plan: &Plan,
    plan_path: &Path,
) -> anyhow::Result<firebreak_rotate::Summary> {
    let journal = firebreak_rotate::Journal::open(store_path)?;
    let shown = plan_path.display().to_string();
    let (j, p) = (journal.clone(), plan.clone());
    let run_id =
        tokio::task::spawn_blocking(move || firebreak_rotate::engine::create_run(&j, &p, &shown)).await??;
    let (key, _) = firebreak_rotate::SealKey::generate();
    let rid = run_id.clone();
    let engine = tokio::task::spawn_blocking(move || {
        firebreak_rotate::Engine::new(
            journal,
            key,
            &rid,
            firebreak_rotate::RunOptions {
                concurrency: 8,
                ..Default::default()
            },
        )
    })
    .await??;
    let engine = Arc::new(engine);
    Ok(engine.run().await?)
}
