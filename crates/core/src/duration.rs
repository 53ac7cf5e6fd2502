//! Durations as people type them: `3600` (seconds), `90m`, `12h`, `30d`, `1w`, `1h30m`, `1.5h`.
//!
//! One parser for every command-line and rule-file duration (a token's `--ttl`, a Sigma
//! rule's `timeframe`). Units and combinations are [`humantime`]'s (`s`, `m`, `h`, `d`,
//! `w`, and their long forms, `1h30m` or `1h 30m`); a bare number is seconds, which
//! humantime alone rejects. Sub-second parts are refused: every consumer counts whole
//! seconds.

use crate::secret::quote_untrusted;

/// Why a duration could not be parsed. Shows the input only quoted and cut
/// ([`quote_untrusted`]): it may come from an untrusted rule file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a duration ({reason}); expected e.g. 3600, 90m, 12h, 30d, 1h30m", quote_untrusted(.input))]
pub struct DurationError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a duration into whole seconds: a bare number of seconds (`3600`), or numbers
/// with units (`90m`, `12h`, `30d`, `1w`, `1h30m`). Surrounding blanks are ignored.
pub fn parse_secs(s: &str) -> Result<u64, DurationError> {
    let t = s.trim();
    let err = |reason: String| DurationError {
        input: s.to_string(),
        reason,
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| err("too large".into()));
    }
    // humantime's own messages echo part of the input (an unknown unit): say why
    // without it.
    let d = humantime::parse_duration(t).map_err(|e| {
        err(match e {
            humantime::DurationError::InvalidCharacter(i) => format!("unexpected character at {i}"),
            humantime::DurationError::NumberExpected(i) => format!("a number expected at {i}"),
            humantime::DurationError::UnknownUnit { start, .. } => format!("unknown unit at {start}"),
            humantime::DurationError::NumberOverflow => "too large".into(),
            humantime::DurationError::Empty => "empty".into(),
        })
    })?;
    if d.subsec_nanos() != 0 {
        return Err(err("not a whole number of seconds".into()));
    }
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_forms() {
        assert_eq!(parse_secs("3600"), Ok(3600));
        assert_eq!(parse_secs("0"), Ok(0));
        assert_eq!(parse_secs("15s"), Ok(15));
        assert_eq!(parse_secs("90m"), Ok(5400));
        assert_eq!(parse_secs("12h"), Ok(12 * 3600));
        assert_eq!(parse_secs("7d"), Ok(7 * 86400));
        assert_eq!(parse_secs("30d"), Ok(30 * 86400));
        assert_eq!(parse_secs("1w"), Ok(7 * 86400));
        assert_eq!(parse_secs("1h30m"), Ok(5400));
        assert_eq!(parse_secs("1h 30m"), Ok(5400));
        assert_eq!(parse_secs(" 2d "), Ok(2 * 86400));
        // humantime also takes fractions that come out whole.
        assert_eq!(parse_secs("1.5h"), Ok(5400));
    }

    #[test]
    fn refuses_what_is_not_a_whole_duration() {
        for bad in [
            "",
            " ",
            "x",
            "m",
            "-5m",
            "1.5",
            "5 parsecs",
            "500ms",
            "99999999999999999999999",
        ] {
            assert!(parse_secs(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_secs("1500ms"),
            Err(DurationError {
                input: "1500ms".into(),
                reason: "not a whole number of seconds".into()
            })
        );
    }

    #[test]
    fn error_names_the_input_quoted() {
        let e = parse_secs("1.5").unwrap_err().to_string();
        assert!(e.contains("\"1.5\""), "{e}");
        assert!(e.contains("90m"), "{e}");
        // A unit that could be a secret is not echoed, whole or in part.
        let e = parse_secs("5AKIAIOSFODNN7EXAMPLE").unwrap_err().to_string();
        assert!(!e.contains("AKIAIOSFODNN7EXAMPLE"), "{e}");
        assert!(e.contains("unknown unit at 1"), "{e}");
    }
}
