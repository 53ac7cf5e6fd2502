//! Inventory of secrets stored in CI providers: snapshots, diff, verify.

#![warn(missing_docs)]
