//! The embedded SQLite store: snapshots, journals, migrations.

#![warn(missing_docs)]
