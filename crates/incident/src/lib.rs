//! The incident workflow behind `firebreak incident`, `firebreak report` and `firebreak drill`.
//!
//! An incident lives in the store (see `firebreak_store`, migration 2): its exposure
//! window, the breached providers, and a playbook with one task per secret the breached
//! providers held (rotate it; verify the rotation; hunt the logs of what it unlocks).
//!
//! - [`blast`]: what a secret unlocks (AWS key id → account id, GitHub token → owner and
//!   scopes, deploy key → repository, otherwise inferred from the name) and which audit
//!   logs to hunt;
//! - [`playbook`]: [`init`] creates an incident from an inventory snapshot;
//! - [`status()`]: the progress, computed from the store on every call (so a dashboard
//!   polling it sees a rotation progress live); [`list`] lists incidents;
//! - [`confirm()`]: a person's word that a task firebreak cannot check is done;
//! - [`record`]: ingests hunt / scan / census JSON Lines outputs into an incident;
//! - [`report`]: the self-contained HTML and Markdown report;
//! - [`drill`]: a complete incident on bundled data against the in-process simulator.
//!
//! See `docs/incident.md`.

#![warn(missing_docs)]

pub mod aws_keys;
pub mod blast;
pub mod confirm;
pub mod drill;
pub mod playbook;
pub mod record;
pub mod report;
pub mod status;

pub use confirm::{confirm, ConfirmOutcome, ConfirmRequest};
pub use playbook::{init, InitOptions, InitOutcome};
pub use record::{record_file, RecordKind, RecordOutcome};
pub use status::{list, status, IncidentSummary, Status};

/// Errors of the incident workflow. Each names the incident, file or store at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] firebreak_store::StoreError),
    /// No incident with that name.
    #[error("store {path}: no incident named {name:?} (see `firebreak incident list`)")]
    NoIncident {
        /// Store file.
        path: String,
        /// The name asked for.
        name: String,
    },
    /// The store holds no incident at all (when no name is given).
    #[error("store {path}: no incident yet (create one with `firebreak incident init`)")]
    NoIncidents {
        /// Store file.
        path: String,
    },
    /// An incident with that name exists already.
    #[error("store {path}: an incident named {name:?} exists already")]
    Exists {
        /// Store file.
        path: String,
        /// The name.
        name: String,
    },
    /// Bad input (file, argument).
    #[error("{0}")]
    Input(String),
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

/// Resolves an optional incident name: the given one, else the only / most recent
/// incident in the store.
pub fn resolve_name(store: &firebreak_store::Store, name: Option<&str>) -> Result<String> {
    if let Some(n) = name {
        return Ok(n.to_string());
    }
    store
        .incidents()?
        .into_iter()
        .last()
        .map(|i| i.name)
        .ok_or_else(|| Error::NoIncidents {
            path: store.path().display().to_string(),
        })
}
