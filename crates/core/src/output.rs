//! Output conventions: formats, colour (`NO_COLOR`), TTY detection.

use serde::{Deserialize, Serialize};
use std::io::IsTerminal;

/// Output formats offered by the subcommands (each accepts the subset that fits,
/// through `--format`/`-f`; docs/output.md lists them per command). The same name
/// means the same shape everywhere: `json` is one JSON document, `jsonl` one JSON
/// object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// conda-forge's census shape, `{"<subdir>": ["<file name>", ...]}` (census only).
    Conda,
}

impl Format {
    /// Every format, in the order help lists them.
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Jsonl,
        Format::Csv,
        Format::Sarif,
        Format::Conda,
    ];

    /// The name given to `--format` (`text`, `json`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Sarif => "sarif",
            Format::Conda => "conda",
        }
    }

    /// One line on the shape, for help texts.
    pub fn description(self) -> &'static str {
        match self {
            Format::Text => "human text or table",
            Format::Json => "one JSON document",
            Format::Jsonl => "JSON Lines: one JSON object per line",
            Format::Csv => "comma-separated values with a header",
            Format::Sarif => "SARIF 2.1.0 (code scanning)",
            Format::Conda => "conda-forge's census shape: {\"<subdir>\": [\"<file>\", ...]}",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    /// Parses a format name; `table` is read as `text`.
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "table" {
            return Ok(Format::Text);
        }
        Format::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            format!(
                "unknown format {}; one of {}",
                crate::secret::quote_untrusted(s),
                names.join(", ")
            )
        })
    }
}

/// True when stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// True when stderr is a terminal (progress bars go there).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// `--color`: `auto` (the default), `always` or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour on a TTY when `NO_COLOR` is unset or empty.
    Auto,
    /// Colour even when not on a TTY or when `NO_COLOR` is set (a flag overrides it).
    Always,
    /// No colour.
    Never,
}

static COLOR: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets the process-wide colour choice (the `--color` flag), read by [`color_enabled`].
pub fn set_color_choice(c: ColorChoice) {
    let v = match c {
        ColorChoice::Auto => 0,
        ColorChoice::Always => 1,
        ColorChoice::Never => 2,
    };
    COLOR.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// Colour follows `--color` ([`set_color_choice`]); with `auto`, it is used only on a TTY
/// and when `NO_COLOR` is unset or empty (no-color.org).
pub fn color_enabled() -> bool {
    match COLOR.load(std::sync::atomic::Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            !no_color && stdout_is_tty()
        }
    }
}

/// Progress bars are shown only when stderr is a TTY and `CI` is not set.
pub fn progress_enabled() -> bool {
    !quiet() && stderr_is_tty() && std::env::var_os("CI").is_none()
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets `--quiet` (once, before a command runs): no progress bars, summaries or notes.
pub fn set_quiet(q: bool) {
    QUIET.store(q, std::sync::atomic::Ordering::Relaxed);
}

/// True under `--quiet`.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        }
        assert_eq!("table".parse::<Format>(), Ok(Format::Text));
        assert!("yaml".parse::<Format>().unwrap_err().contains("jsonl"));
    }
}
