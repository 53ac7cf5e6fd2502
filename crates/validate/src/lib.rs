//! Proof at the source: does a credential work, and whose is it?
//!
//! - [`spec`]: the validator catalogue, YAML data (`crates/validate/validators/*.yml`,
//!   embedded; `--validators DIR` adds more), one entry per credential type: how to prove
//!   it live and which identity fields to read.
//! - [`engine`]: runs validators through the one HTTP layer (timeouts, per-host rate
//!   limits, retries only of read-only requests), one check per credential per run.
//! - [`revoke`]: revokes a credential where its provider documents how, then checks it
//!   again to prove it dead.
//! - [`assemble`]: finds the other parts of a credential (an AWS secret beside its key
//!   id) among the values of a file or the findings of a scan.
//!
//! Verdicts: `live` (the provider accepted it), `dead` (the provider refused it as
//! unknown, revoked or expired), `unknown` (no proof either way: a timeout, a 5xx, a rate
//! limit, an unexpected reply, no check available) and `error` (the check could not be
//! made). `unknown` is never reported as dead. Values are sent only to their own
//! provider's endpoint, never logged, stored or printed.

#![warn(missing_docs)]

mod aws;
pub mod engine;
mod gcp;
pub mod map;
pub mod offline;
pub mod revoke;
pub mod spec;

pub use engine::{Checker, Endpoints, Inputs, Options};
pub use revoke::{Revocation, RevokeStatus};
pub use spec::{Catalogue, Compiled, SpecError, Validator};

use firebreak_core::values::Values;
use firebreak_core::SecretString;

/// A value seen somewhere, with what is known of where: a variable name (values files,
/// inventories), a file and line (scan findings).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Variable name, when known.
    pub name: Option<String>,
    /// File, when known.
    pub path: Option<String>,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// The value.
    pub value: SecretString,
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes()
        .zip(b.bytes())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count()
}

/// The inputs of validator `v` for the credential whose first part is `primary`, the
/// other parts taken from `others`: a value of the right shape (under a fitting name
/// when names are known) in the same file, the nearest line first, then the name that
/// shares the longest prefix with the primary's (`PROD_AWS_ACCESS_KEY_ID` pairs with
/// `PROD_AWS_SECRET_ACCESS_KEY`). Returns the inputs and the names or lines used.
pub fn assemble(v: &Compiled, primary: &Candidate, others: &[Candidate]) -> (Inputs, Vec<String>) {
    let mut inputs = Inputs::one(&v.spec.inputs[0].name, primary.value.clone());
    let mut used = Vec::new();
    for (i, inp) in v.spec.inputs.iter().enumerate().skip(1) {
        let best = others
            .iter()
            .filter(|c| c.value.expose() != primary.value.expose())
            .filter(|c| primary.path.is_none() || c.path == primary.path)
            .filter(|c| v.shape_ok(i, c.value.expose()))
            .filter(|c| match &c.name {
                Some(n) => v.name_ok(i, n).unwrap_or(v.patterns[i].is_some()),
                None => v.patterns[i].is_some(),
            })
            .min_by_key(|c| {
                let dist = match (primary.line, c.line) {
                    (Some(a), Some(b)) => a.abs_diff(b),
                    _ => 0,
                };
                let pre = match (&primary.name, &c.name) {
                    (Some(a), Some(b)) => common_prefix(a, b),
                    _ => 0,
                };
                (dist, std::cmp::Reverse(pre))
            });
        if let Some(c) = best {
            inputs.0.insert(inp.name.clone(), c.value.clone());
            used.push(match (&c.name, c.line) {
                (Some(n), _) => n.clone(),
                (None, Some(l)) => format!("line {l}"),
                (None, None) => inp.name.clone(),
            });
        }
    }
    (inputs, used)
}

/// One credential to check, drawn from a values file.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The variable holding the credential's first part.
    pub name: String,
    /// Its line in the file.
    pub line: usize,
    /// The validator.
    pub validator: String,
    /// Every part.
    pub inputs: Inputs,
    /// The other variables used as its parts.
    pub partners: Vec<String>,
}

/// What to check in a values file: each value recognised by a validator (or, with `ty`,
/// each value, as that type), with its partners. Values used only as another's partner
/// are not listed on their own; values no validator recognises are returned by name.
pub fn plan_values(
    cat: &Catalogue,
    values: &Values,
    ty: Option<&str>,
) -> Result<(Vec<Planned>, Vec<String>), String> {
    let cands: Vec<Candidate> = values
        .iter()
        .map(|(n, v, l)| Candidate {
            name: Some(n.to_string()),
            path: None,
            line: Some(l as u64),
            value: v.clone(),
        })
        .collect();
    let forced = match ty {
        Some(t) => Some(
            cat.get(t)
                .ok_or_else(|| format!("--type {t}: no such validator (see `firebreak validate --list`)"))?,
        ),
        None => None,
    };
    let mut planned = Vec::new();
    let mut unknown = Vec::new();
    for c in &cands {
        let name = c.name.as_deref().unwrap_or("");
        let v = match forced {
            Some(f) => Some(f),
            None => cat.recognise(c.value.expose(), Some(name)).into_iter().next(),
        };
        match v {
            Some(v) => {
                let (inputs, partners) = assemble(v, c, &cands);
                planned.push(Planned {
                    name: name.to_string(),
                    line: c.line.unwrap_or(0) as usize,
                    validator: v.spec.id.clone(),
                    inputs,
                    partners,
                });
            }
            None => unknown.push(name.to_string()),
        }
    }
    let partners: std::collections::BTreeSet<String> =
        planned.iter().flat_map(|p| p.partners.iter().cloned()).collect();
    unknown.retain(|n| !partners.contains(n));
    Ok((planned, unknown))
}

/// Validates scan findings while their values are in memory: `values` maps a finding's
/// fingerprint to its value, `named` gives the validator a rule names (`None`: recognise
/// the value by the catalogue's patterns). A credential's other parts (an AWS secret
/// beside its key id) are looked for among the findings of the same file, nearest line
/// first. Each distinct credential is checked once; every finding of it gets the verdict.
/// Findings whose value no validator recognises keep `validation: None`.
pub async fn validate_findings(
    ck: std::sync::Arc<Checker>,
    findings: &mut [firebreak_core::SecretFinding],
    values: &std::collections::HashMap<String, SecretString>,
    named: impl Fn(&firebreak_core::SecretFinding) -> Option<String>,
) {
    use std::collections::BTreeMap;
    let cands: Vec<Candidate> = findings
        .iter()
        .filter_map(|f| {
            Some(Candidate {
                name: None,
                path: Some(f.path.clone()),
                line: Some(f.line),
                value: values.get(&f.fingerprint)?.clone(),
            })
        })
        .collect();
    let mut by_path: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in &cands {
        by_path
            .entry(c.path.as_deref().unwrap_or(""))
            .or_default()
            .push(c);
    }
    let mut jobs: Vec<(usize, String, Inputs)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let Some(value) = values.get(&f.fingerprint) else {
            continue;
        };
        let id = match named(f) {
            Some(id) => Some(id),
            None => ck
                .catalogue()
                .recognise(value.expose(), None)
                .first()
                .map(|c| c.spec.id.clone()),
        };
        let Some(id) = id else { continue };
        let Some(v) = ck.catalogue().get(&id) else {
            continue;
        };
        // a finding that is another credential's second part (an AWS secret) is not the
        // first part of this one
        if !v.shape_ok(0, value.expose()) {
            continue;
        }
        let primary = Candidate {
            name: None,
            path: Some(f.path.clone()),
            line: Some(f.line),
            value: value.clone(),
        };
        let others: Vec<Candidate> = by_path
            .get(f.path.as_str())
            .map(|v| v.iter().map(|c| (*c).clone()).collect())
            .unwrap_or_default();
        let (inputs, _) = assemble(v, &primary, &others);
        jobs.push((i, id, inputs));
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, id, inputs) in jobs {
        let ck = ck.clone();
        set.spawn(async move { (i, ck.check(&id, &inputs).await) });
    }
    while let Some(r) = set.join_next().await {
        if let Ok((i, v)) = r {
            findings[i].validation = Some(v);
        }
    }
}
