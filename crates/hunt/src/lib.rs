//! Audit-log hunter: log sources to normalised events, Sigma rules, novelty, query compilers.

#![warn(missing_docs)]
