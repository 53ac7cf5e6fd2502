//! CI provider connectors (CircleCI, GitHub, GitLab), shared HTTP layer, and the stateful provider simulator.
//!
//! - [`http`]: the shared HTTP layer (timeouts, retries with jittered backoff, rate limits,
//!   `Retry-After`, concurrency limit, pagination guards).
//! - [`circleci`], [`github`], [`gitlab`]: one client per provider, read and write sides.
//! - [`model`]: what an inventory reports (secret metadata, per-item errors).
//! - [`sim`]: the stateful simulator of the three providers' APIs (docs/simulator.md).

#![warn(missing_docs)]

pub mod circleci;
pub mod github;
pub mod gitlab;
/// The shared HTTP layer (re-exported from `firebreak-http`).
pub use firebreak_http as http;
pub mod model;
pub mod sim;

pub use http::{HttpConfig, HttpError};
pub use model::{Flags, Item, ItemError, Kind, Provider};

use firebreak_core::SecretString;
use std::path::Path;

/// The result of a paginated listing: the items gathered, and the error that stopped
/// it early (a failed page, or a repeated page token), if any.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    /// Items gathered (possibly partial when `error` is set).
    pub items: Vec<T>,
    /// Why the listing stopped early.
    pub error: Option<HttpError>,
}

impl<T> Listing<T> {
    /// A complete listing.
    pub fn ok(items: Vec<T>) -> Self {
        Listing { items, error: None }
    }
    /// A listing cut short by `error`.
    pub fn partial(items: Vec<T>, error: HttpError) -> Self {
        Listing {
            items,
            error: Some(error),
        }
    }
    /// The items, or the error when there was one.
    pub fn into_result(self) -> Result<Vec<T>, HttpError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.items),
        }
    }
}

/// Why a token could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Neither the file nor the variable gave a token.
    #[error("no token: set {var} or pass {file_hint}")]
    Missing {
        /// The environment variable consulted.
        var: String,
        /// How this command takes a token file (`--token-file`, `--github-token-file`,
        /// `token_file` in the plan).
        file_hint: String,
    },
    /// The token file could not be read.
    #[error("cannot read token file {path}: {message}")]
    File {
        /// Path.
        path: String,
        /// OS error.
        message: String,
    },
}

/// Loads a token from `file` (first line, trimmed) when given, else from the
/// environment variable `var`. The token is never logged.
pub fn load_token(var: &str, file: Option<&Path>) -> Result<SecretString, TokenError> {
    load_token_hinted(var, file, "--token-file")
}

/// [`load_token`] for a command whose token-file option is named `file_hint` (the error
/// names the option the command really takes).
pub fn load_token_hinted(
    var: &str,
    file: Option<&Path>,
    file_hint: &str,
) -> Result<SecretString, TokenError> {
    if let Some(p) = file {
        let s = std::fs::read_to_string(p).map_err(|e| TokenError::File {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        let t = s.lines().next().unwrap_or("").trim().to_string();
        if t.is_empty() {
            return Err(TokenError::File {
                path: p.display().to_string(),
                message: "file is empty".into(),
            });
        }
        return Ok(SecretString::new(t));
    }
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::new(v.trim().to_string())),
        _ => Err(TokenError::Missing {
            var: var.to_string(),
            file_hint: file_hint.to_string(),
        }),
    }
}
