//! The fuzz target bodies: `fn(&[u8])`, one per parser or server input.
//!
//! Each body feeds the input to the library API the `firebreak` binary uses, then checks
//! invariants that must hold for *any* input (errors name the input, skipped archive
//! entries never reach the visitor, no finding or response carries a secret value whole).
//! A body panics when an invariant breaks; the code under test must never panic, hang,
//! or use unbounded memory.

pub mod archive;
pub mod census;
pub mod hunt;
pub mod jwt;
pub mod providers;
pub mod rules;
pub mod serve;
pub mod sigma;

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
    pub name: &'static str,
    /// What it feeds.
    pub about: &'static str,
    /// The body.
    pub run: fn(&[u8]),
    /// Largest input worth generating (libFuzzer `-max_len`, and the mutator's bound).
    pub max_len: usize,
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "hunt_cloudtrail",
        about: "hunt reader + CloudTrail decoder + built-in Sigma pack (source forced)",
        run: hunt::cloudtrail,
        max_len: 64 << 10,
    },
    Target {
        name: "hunt_github",
        about: "hunt reader + GitHub audit-log decoder (JSON array / NDJSON)",
        run: hunt::github,
        max_len: 64 << 10,
    },
    Target {
        name: "hunt_circleci",
        about: "hunt reader + CircleCI audit-log CSV decoder (JSON columns)",
        run: hunt::circleci,
        max_len: 64 << 10,
    },
    Target {
        name: "hunt_gcp",
        about: "hunt reader + GCP Cloud Audit Logs decoder",
        run: hunt::gcp,
        max_len: 64 << 10,
    },
    Target {
        name: "hunt_azure",
        about: "hunt reader + source detection + Azure sign-in / activity and firebreak audit decoders",
        run: hunt::azure,
        max_len: 64 << 10,
    },
    Target {
        name: "sigma_rule",
        about: "Sigma rule parser, matcher and query compilers (Athena, BigQuery, KQL, DuckDB)",
        run: sigma::rule,
        max_len: 16 << 10,
    },
    Target {
        name: "sigma_condition",
        about: "Sigma condition and aggregation parser (the input is the condition string)",
        run: sigma::condition,
        max_len: 4 << 10,
    },
    Target {
        name: "archive_zip",
        about: "archive walker and scanner on zip (and .whl / .jar)",
        run: archive::zip,
        max_len: 256 << 10,
    },
    Target {
        name: "archive_tar",
        about: "archive walker and scanner on tar",
        run: archive::tar,
        max_len: 256 << 10,
    },
    Target {
        name: "archive_gzip",
        about: "archive walker and scanner on gzip (.gz, .tar.gz)",
        run: archive::gzip,
        max_len: 256 << 10,
    },
    Target {
        name: "archive_bzip2",
        about: "archive walker and scanner on bzip2 (.bz2, .tar.bz2)",
        run: archive::bzip2,
        max_len: 256 << 10,
    },
    Target {
        name: "archive_zstd",
        about: "archive walker and scanner on zstd (.zst, .tar.zst)",
        run: archive::zstd,
        max_len: 256 << 10,
    },
    Target {
        name: "archive_conda",
        about: "archive walker, scanner and census member checks on .conda (zip of .tar.zst)",
        run: archive::conda,
        max_len: 256 << 10,
    },
    Target {
        name: "scan_text",
        about: "scanner on text and streams: windows, chunk edges, line/column, redaction",
        run: archive::text,
        max_len: 128 << 10,
    },
    Target {
        name: "rule_pack",
        about: "scan rule-pack loader: YAML schema, regex compilation, examples, matching",
        run: rules::pack,
        max_len: 16 << 10,
    },
    Target {
        name: "providers_circleci",
        about: "CircleCI response decoders (v2 pages, v1.1 projects / builds / logs)",
        run: providers::circleci,
        max_len: 32 << 10,
    },
    Target {
        name: "providers_github",
        about: "GitHub response decoders and the Actions run-log zip reader",
        run: providers::github,
        max_len: 64 << 10,
    },
    Target {
        name: "providers_gitlab",
        about: "GitLab response decoders (one-or-many lists)",
        run: providers::gitlab,
        max_len: 32 << 10,
    },
    Target {
        name: "providers_http",
        about: "shared HTTP layer: Link, Retry-After, rate-limit reset headers, timestamps",
        run: providers::http,
        max_len: 4 << 10,
    },
    Target {
        name: "jwt_verify",
        about: "OIDC ID-token verifier (JWT header, payload, signature, claims, publishers)",
        run: jwt::verify,
        max_len: 8 << 10,
    },
    Target {
        name: "serve_http",
        about: "token-service router in-process: every route, headers, bodies (SQLite store)",
        run: serve::http,
        max_len: 16 << 10,
    },
    Target {
        name: "census_index",
        about: "census index readers: conda repodata, PyPI JSON, JSON Lines, detection",
        run: census::index,
        max_len: 64 << 10,
    },
    Target {
        name: "census_ioc",
        about: "census IOC file loader (TOML / YAML) and matchers",
        run: census::ioc,
        max_len: 16 << 10,
    },
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Splits the first byte off as a selector (0 when empty).
pub(crate) fn split_selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((s, rest)) => (*s, rest),
        None => (0, data),
    }
}

/// Runs the target called `name` on `data` (what each `fuzz/fuzz_targets/*.rs` calls).
///
/// # Panics
/// When `name` is not a target, and whenever the target finds a bug.
pub fn run(name: &str, data: &[u8]) {
    match find(name) {
        Some(t) => (t.run)(data),
        None => panic!("unknown fuzz target {name}"),
    }
}

/// A scratch directory for this process (`$TMPDIR/firebreak-fuzz-<pid>/<name>`), created
/// on first use. Directories left by processes that are gone (fuzzers exit without
/// cleaning up) are removed then.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let tmp = std::env::temp_dir();
    SWEEP.call_once(|| {
        if let Ok(rd) = std::fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = n
                    .strip_prefix("firebreak-fuzz-")
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
    });
    let d = tmp
        .join(format!("firebreak-fuzz-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}
