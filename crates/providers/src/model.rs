//! What the connectors report: the shared model of `firebreak-core` ([`firebreak_core::model`]),
//! re-exported, and its link to the HTTP layer's errors.

pub use firebreak_core::model::*;

/// An [`ItemError`] for a request of the HTTP layer that failed while inventorying `scope`.
pub fn item_error(provider: Provider, scope: &str, e: &crate::http::HttpError) -> ItemError {
    ItemError {
        provider,
        scope: scope.to_string(),
        request: e.request(),
        status: e.status(),
        message: e.to_string(),
    }
}
