//! `firebreak incident confirm`: a person's word that a task firebreak cannot check is done.
//!
//! Some tasks no record can prove: the kinds no API lists (CircleCI OAuth authorisations,
//! personal API tokens), manual rotation steps, a value rewritten where no check reaches
//! the old credential. Whoever did the work confirms it with what they did; `incident
//! status` then shows the task `confirmed` (with who, when and the note), counts it apart
//! from `verified`, and no longer counts it as left to do. A task whose stolen credential is
//! proven `live` is never closed this way: revoke it and record a validation. Confirmations
//! are append-only rows of the store (`incident_confirmations`); `--withdraw` adds a row
//! that withdraws one.

use crate::status::{confirmable, load_incident, status};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use firebreak_core::secret::redact_spans;
use firebreak_store::{Store, TaskConfirmation};
use serde::{Deserialize, Serialize};

/// Which tasks to confirm, and the person's word.
#[derive(Debug, Clone, Default)]
pub struct ConfirmRequest {
    /// Tasks by identity (`circleci/oauth_authorization/gh/acme/...`) or secret name (when
    /// the name is unique in the incident).
    pub tasks: Vec<String>,
    /// Every task of these kinds (`oauth_authorization`, `personal_api_token`...).
    pub kinds: Vec<String>,
    /// With `kinds`: only tasks whose scope (`provider/scope` or `scope`) is this.
    pub scope: Option<String>,
    /// What was done (required, non-empty). Secrets in it are redacted before it is stored.
    pub note: String,
    /// Who confirms.
    pub by: String,
    /// Withdraw the selected tasks' confirmations instead.
    pub withdraw: bool,
    /// The time to record (default: now).
    pub at: Option<DateTime<Utc>>,
}

/// One selected task and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedTask {
    /// The task's identity.
    pub identity: String,
    /// Its secret name.
    pub secret: String,
    /// Its state before (`not_checked`, `manual`...).
    pub was: String,
    /// `confirmed`, `withdrawn`, or `skipped`.
    pub outcome: String,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `confirm` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmOutcome {
    /// The incident.
    pub incident: String,
    /// Every selected task.
    pub tasks: Vec<ConfirmedTask>,
    /// The note as stored (secrets redacted).
    pub note: String,
}

/// Confirms (or withdraws the confirmation of) the selected tasks of incident `name`.
///
/// Refused whole, recording nothing, when the selection is empty or ambiguous, when the
/// note is empty, or when a selected task's stolen credential is proven `live`. Tasks
/// already `rotated` or `verified` are skipped (firebreak proved them; a person's word
/// adds nothing).
pub fn confirm(store: &mut Store, name: &str, req: &ConfirmRequest) -> Result<ConfirmOutcome> {
    let inc = load_incident(store, name)?;
    if req.tasks.is_empty() && req.kinds.is_empty() {
        return Err(Error::Input(
            "name the tasks to confirm: --task IDENTITY|SECRET (repeatable) or --kind KIND".into(),
        ));
    }
    let note = req.note.trim();
    if !req.withdraw && note.is_empty() {
        return Err(Error::Input(
            "--note is required: say what was done (e.g. \"revoked the CircleCI OAuth app at github.com/settings/applications and re-authorised it\")".into(),
        ));
    }
    let note = redact_note(note);
    let st = status(store, name)?;

    // selection, in the status order (most urgent first), each task once
    let mut picked: Vec<usize> = Vec::new();
    for sel in &req.tasks {
        let by_id: Vec<usize> = (0..st.tasks.len())
            .filter(|&i| st.tasks[i].identity == *sel)
            .collect();
        let hits = if by_id.is_empty() {
            (0..st.tasks.len())
                .filter(|&i| st.tasks[i].secret == *sel)
                .collect()
        } else {
            by_id
        };
        match hits.len() {
            0 => {
                return Err(Error::Input(format!(
                    "incident {name}: no task {sel:?} (a task identity or secret name; see `firebreak incident status {name} --all`)"
                )))
            }
            1 => picked.extend(hits),
            _ => {
                let ids: Vec<&str> = hits.iter().map(|&i| st.tasks[i].identity.as_str()).collect();
                return Err(Error::Input(format!(
                    "incident {name}: {sel:?} names {} tasks; give one identity: {}",
                    hits.len(),
                    ids.join(", ")
                )));
            }
        }
    }
    for k in &req.kinds {
        let hits: Vec<usize> = (0..st.tasks.len())
            .filter(|&i| {
                let t = &st.tasks[i];
                t.kind == *k
                    && req.scope.as_deref().is_none_or(|s| {
                        t.scope == s || t.scope.split_once('/').is_some_and(|(_, sc)| sc == s)
                    })
            })
            .collect();
        if hits.is_empty() {
            return Err(Error::Input(format!(
                "incident {name}: no task of kind {k:?}{}",
                req.scope
                    .as_deref()
                    .map(|s| format!(" in scope {s:?}"))
                    .unwrap_or_default()
            )));
        }
        picked.extend(hits);
    }
    picked.sort_unstable();
    picked.dedup();

    if !req.withdraw {
        let live: Vec<&str> = picked
            .iter()
            .filter(|&&i| st.tasks[i].state == "live")
            .map(|&i| st.tasks[i].secret.as_str())
            .collect();
        if !live.is_empty() {
            return Err(Error::Input(format!(
                "incident {name}: {} still LIVE (the stolen credential works at its source); a person's word cannot close it: revoke it, then record a validation (`firebreak validate ... | firebreak incident record {name} --kind validate -`)",
                live.join(", ")
            )));
        }
    }

    let mut rows = Vec::new();
    let mut out = Vec::new();
    for &i in &picked {
        let t = &st.tasks[i];
        let was = t
            .confirmed
            .as_ref()
            .map(|c| c.unconfirmed_state.clone())
            .unwrap_or_else(|| t.state.clone());
        let (outcome, reason) = if req.withdraw {
            if t.confirmed.is_some() {
                ("withdrawn", None)
            } else {
                ("skipped", Some("not confirmed".to_string()))
            }
        } else if confirmable(&t.state) {
            ("confirmed", None)
        } else {
            (
                "skipped",
                Some(format!(
                    "already {}: firebreak proved it ({})",
                    t.state,
                    t.evidence.as_deref().unwrap_or("-")
                )),
            )
        };
        if outcome != "skipped" {
            rows.push(TaskConfirmation {
                identity: t.identity.clone(),
                confirmed_at: req.at.unwrap_or_else(Utc::now),
                by: req.by.clone(),
                note: note.clone(),
                withdrawn: req.withdraw,
            });
        }
        out.push(ConfirmedTask {
            identity: t.identity.clone(),
            secret: t.secret.clone(),
            was,
            outcome: outcome.to_string(),
            reason,
        });
    }
    store.add_task_confirmations(inc.id, &rows)?;
    Ok(ConfirmOutcome {
        incident: name.to_string(),
        tasks: out,
        note,
    })
}

/// A note with the secrets a person may paste into it redacted: what the leak scanner's
/// rules find, and any long random-looking word (a note has no reason to hold one; the
/// scanner's rules want context such as a variable name, which a note lacks).
fn redact_note(note: &str) -> String {
    let mut spans = crate::record::secrets().secret_spans(note);
    let b = note.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || b"+/=_-.".contains(&c);
    let mut i = 0;
    while i < b.len() {
        if !word(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && word(b[i]) {
            i += 1;
        }
        let w = &b[start..i];
        let letters = w.iter().any(u8::is_ascii_alphabetic);
        let digits = w.iter().any(u8::is_ascii_digit);
        if w.len() >= 20
            && letters
            && digits
            && firebreak_scan::entropy::shannon(w) >= 3.5
            && !w.contains(&b'.')
        {
            spans.push(start..i);
        }
    }
    redact_spans(note, spans).into_owned()
}
