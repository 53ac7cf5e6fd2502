//! [`StoreSource`]: the status computed from the firebreak store on every request.

use crate::{SourceError, StatusSource};
use firebreak_store::Store;
use serde_json::Value;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Reads incidents from the firebreak store with `firebreak_incident::status` and
/// `firebreak_incident::list`. Keeps one connection (SQLite in WAL mode: each request sees
/// everything committed before it, such as the steps of a rotation running in another
/// process) and never writes through it.
pub struct StoreSource {
    store: Mutex<Store>,
    default_incident: Option<String>,
}

impl std::fmt::Debug for StoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSource")
            .field("default_incident", &self.default_incident)
            .finish_non_exhaustive()
    }
}

fn map_err(e: firebreak_incident::Error) -> SourceError {
    match e {
        firebreak_incident::Error::NoIncident { .. } | firebreak_incident::Error::NoIncidents { .. } => {
            SourceError::NotFound(e.to_string())
        }
        other => SourceError::Unavailable(other.to_string()),
    }
}

impl StoreSource {
    /// Opens the store at `path`. The file must exist: the dashboard only reads, so a
    /// wrong path is an error rather than a new empty store. With `default_incident`, that
    /// incident must exist; without, requests that name no incident get the most recent.
    pub fn open(path: &Path, default_incident: Option<String>) -> anyhow::Result<StoreSource> {
        if !path.is_file() {
            anyhow::bail!(
                "store {}: no such file (create an incident with `firebreak incident init`, or pass --store)",
                path.display()
            );
        }
        let store = Store::open(path)?;
        if let Some(name) = &default_incident {
            firebreak_incident::status(&store, name)?;
        }
        Ok(StoreSource {
            store: Mutex::new(store),
            default_incident,
        })
    }

    /// Wraps an open store.
    pub fn new(store: Store, default_incident: Option<String>) -> StoreSource {
        StoreSource {
            store: Mutex::new(store),
            default_incident,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Most findings of each list sent to the page (the report has them all).
pub const MAX_LISTED: usize = 100;

/// The report's summary, "Do next" list and findings as the page gets them (`brief` in
/// the status JSON): each list cut to [`MAX_LISTED`], with its full length beside it.
fn dashboard_brief(mut b: firebreak_incident::report::Brief) -> serde_json::Result<Value> {
    let (hunt_total, leaks_total, flagged_total) = (b.hunt.len(), b.leaks.len(), b.flagged.len());
    b.hunt.truncate(MAX_LISTED);
    b.leaks.truncate(MAX_LISTED);
    b.flagged.truncate(MAX_LISTED);
    let mut v = serde_json::to_value(&b)?;
    v["hunt_total"] = hunt_total.into();
    v["leaks_total"] = leaks_total.into();
    v["flagged_total"] = flagged_total.into();
    Ok(v)
}

impl StatusSource for StoreSource {
    fn status(&self, incident: Option<&str>) -> Result<Value, SourceError> {
        let store = self.lock();
        let name = firebreak_incident::resolve_name(&store, incident.or(self.default_incident.as_deref()))
            .map_err(map_err)?;
        let data = firebreak_incident::report::gather(&store, &name).map_err(map_err)?;
        let mut v = serde_json::to_value(&data.status)
            .map_err(|e| SourceError::Unavailable(format!("status of {name:?}: {e}")))?;
        let brief = firebreak_incident::report::brief(&data);
        v["brief"] = dashboard_brief(brief)
            .map_err(|e| SourceError::Unavailable(format!("summary of {name:?}: {e}")))?;
        Ok(v)
    }

    fn incidents(&self) -> Result<Value, SourceError> {
        let store = self.lock();
        let list = firebreak_incident::list(&store).map_err(map_err)?;
        serde_json::to_value(&list).map_err(|e| SourceError::Unavailable(format!("incident list: {e}")))
    }
}
