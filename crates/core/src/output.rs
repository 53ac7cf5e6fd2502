//! Output conventions: formats, colour (`NO_COLOR`), TTY detection.

use serde::{Deserialize, Serialize};
use std::io::IsTerminal;

/// Output formats offered by the subcommands (each accepts the subset that fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Human text or table.
    Text,
    /// One JSON document.
    Json,
    /// JSON Lines: one object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
    /// SARIF 2.1.0.
    Sarif,
}

/// True when stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// True when stderr is a terminal (progress bars go there).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Colour is used only on a TTY and when `NO_COLOR` is unset or empty (no-color.org).
pub fn color_enabled() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && stdout_is_tty()
}

/// Progress bars are shown only when stderr is a TTY and `CI` is not set.
pub fn progress_enabled() -> bool {
    stderr_is_tty() && std::env::var_os("CI").is_none()
}
