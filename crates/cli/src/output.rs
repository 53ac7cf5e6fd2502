//! The output flags every command shares (docs/output.md): `--format/-f FORMAT`, one
//! [`Format`] type whose names mean the same shape everywhere, and `-o/--output FILE`
//! (always a file; commands that write a directory take `--out-dir`).
//!
//! Each command names the formats it accepts with a [`Formats`] marker type, so that
//! its `--help` lists exactly those, and any other is refused by clap as a usage error
//! (exit 2) naming the accepted ones.

use anyhow::Context as _;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use firebreak_core::output::Format;
use std::io::Write;
use std::marker::PhantomData;
use std::path::PathBuf;

pub use firebreak_core::output::{quiet, set_quiet};

/// `eprintln!` for summaries, progress and notes: silent under `--quiet`.
macro_rules! note {
    ($($t:tt)*) => {
        if !$crate::output::quiet() {
            eprintln!($($t)*);
        }
    };
}
pub(crate) use note;

/// The formats a command accepts, and its default.
pub trait Formats {
    /// Accepted by `--format`, in the order help lists them.
    const ACCEPTED: &'static [Format];
    /// Used without `--format`; `None` when the command decides (e.g. by TTY).
    const DEFAULT: Option<Format>;
    /// Whether the command offers `-o/--output FILE`.
    const FILE: bool = true;
}

/// Declares a [`Formats`] marker type: `formats!(Name, [Text, Json], Some(Text), true);`
/// (the last argument: whether the command offers `-o/--output FILE`).
macro_rules! formats {
    ($(#[$m:meta])* $name:ident, [$($f:ident),+], $default:expr, $file:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl $crate::output::Formats for $name {
            const ACCEPTED: &'static [firebreak_core::output::Format] =
                &[$(firebreak_core::output::Format::$f),+];
            const DEFAULT: Option<firebreak_core::output::Format> = $default;
            const FILE: bool = $file;
        }
    };
}
pub(crate) use formats;

/// `--format/-f FORMAT` and `-o/--output FILE`, flattened into a command's arguments
/// (`#[command(flatten)] out: OutputArgs<MyFormats>`).
pub struct OutputArgs<F> {
    /// The format asked for, or the command's default.
    pub format: Option<Format>,
    /// The file to write instead of stdout.
    pub output: Option<PathBuf>,
    _formats: PhantomData<F>,
}

impl<F> std::fmt::Debug for OutputArgs<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputArgs")
            .field("format", &self.format)
            .field("output", &self.output)
            .finish()
    }
}

/// A writer whose errors name it: what [`OutputArgs::writer`] writes through.
struct Named<W> {
    inner: W,
    name: String,
}

impl<W> Named<W> {
    /// `e` with the destination's name in front; same kind.
    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("cannot write {}: {e}", self.name))
    }
}

impl<W: Write> Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.named(e))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.named(e))
    }
}

impl<F: Formats> OutputArgs<F> {
    /// The format asked for, else the command's default, else `fallback`.
    pub fn format_or(&self, fallback: Format) -> Format {
        self.format.or(F::DEFAULT).unwrap_or(fallback)
    }

    /// The format asked for, or the command's default (`Text` when it has none).
    pub fn format(&self) -> Format {
        self.format_or(Format::Text)
    }

    /// Where the output goes: the `--output` file (created or truncated) or stdout,
    /// buffered either way; flush it before returning.
    /// A failed write names where it went (`cannot write out.json: No space left on
    /// device`, `cannot write standard output: …`); its kind is kept, so a closed pipe
    /// still ends the command quietly.
    pub fn writer(&self) -> anyhow::Result<Box<dyn Write + Send>> {
        Ok(match &self.output {
            Some(p) => Box::new(std::io::BufWriter::new(Named {
                inner: std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
                name: p.display().to_string(),
            })),
            None => Box::new(std::io::BufWriter::with_capacity(
                64 << 10,
                Named {
                    inner: std::io::stdout(),
                    name: "standard output".to_string(),
                },
            )),
        })
    }

    /// True when the output goes to stdout (colour and TTY defaults apply only there).
    pub fn to_stdout(&self) -> bool {
        self.output.is_none()
    }
}

impl<F: Formats> clap::Args for OutputArgs<F> {
    fn augment_args(cmd: Command) -> Command {
        let values = F::ACCEPTED.iter().map(|f| {
            let v = PossibleValue::new(f.as_str()).help(f.description());
            if *f == Format::Text {
                v.alias("table")
            } else {
                v
            }
        });
        let parser = PossibleValuesParser::new(values).map(|s| s.parse::<Format>().unwrap_or(Format::Text));
        let mut format = Arg::new("format")
            .long("format")
            .short('f')
            .value_name("FORMAT")
            .action(ArgAction::Set)
            .value_parser(parser)
            .help("Output format (docs/output.md)");
        if let Some(d) = F::DEFAULT {
            format = format.default_value(d.as_str());
        }
        let cmd = cmd.arg(format);
        if !F::FILE {
            return cmd;
        }
        cmd.arg(
            Arg::new("output")
                .long("output")
                .short('o')
                .value_name("FILE")
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(PathBuf))
                .help("Write the output to this file instead of stdout"),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl<F: Formats> FromArgMatches for OutputArgs<F> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            format: m.get_one::<Format>("format").copied(),
            output: if F::FILE {
                m.get_one::<PathBuf>("output").cloned()
            } else {
                None
            },
            _formats: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Writes `rows` and their `summary` as one JSON document (`{KEY: [...], "summary":
/// {...}}`) or as JSON Lines (one row per line, then the summary line): the machine
/// formats of the commands that report a list and a summary (`validate`, `revoke`,
/// `inventory purge`).
pub fn write_rows<R: serde::Serialize, S: serde::Serialize>(
    sink: &mut dyn Write,
    format: Format,
    key: &str,
    rows: &[R],
    summary: &S,
) -> anyhow::Result<()> {
    if format == Format::Json {
        let mut doc = serde_json::Map::new();
        doc.insert(key.to_string(), serde_json::to_value(rows)?);
        doc.insert("summary".into(), serde_json::to_value(summary)?);
        serde_json::to_writer_pretty(&mut *sink, &doc)?;
        writeln!(sink)?;
    } else {
        for r in rows {
            serde_json::to_writer(&mut *sink, r)?;
            writeln!(sink)?;
        }
        serde_json::to_writer(&mut *sink, summary)?;
        writeln!(sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with `kind`.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(self.0))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from(self.0))
        }
    }

    #[test]
    fn write_errors_name_the_destination_and_keep_their_kind() {
        for kind in [std::io::ErrorKind::StorageFull, std::io::ErrorKind::BrokenPipe] {
            let mut w = Named {
                inner: Failing(kind),
                name: "out.json".into(),
            };
            for e in [
                w.write(b"x").unwrap_err(),
                w.write_all(b"x").unwrap_err(),
                w.flush().unwrap_err(),
            ] {
                assert_eq!(e.kind(), kind);
                assert!(e.to_string().starts_with("cannot write out.json: "), "{e}");
            }
        }
    }
}
