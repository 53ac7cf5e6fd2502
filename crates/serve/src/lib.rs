//! Upload-token service: per-provider expiring tokens, publishing, OIDC trusted publishing.

#![warn(missing_docs)]
