//! Time windows: `START..END`, half-open, RFC 3339 in UTC.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A half-open interval of time `[start, end)`. An open end means "until now / forever".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end; `None` when the window is still open.
    pub end: Option<DateTime<Utc>>,
}

/// Why a window or a time could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    /// The text has no `..` separator.
    #[error("window {} must look like START..END or START.. (RFC 3339 times or YYYY-MM-DD dates)", crate::secret::quote_untrusted(.0))]
    MissingSeparator(String),
    /// One side is not a time.
    #[error("{} is not an RFC 3339 time (e.g. 2023-01-04T00:00:00Z) or a date (2023-01-04)", crate::secret::quote_untrusted(.0))]
    BadTime(String),
    /// End is not after start.
    #[error("window end {end} is not after its start {start}")]
    Empty {
        /// The start as written.
        start: String,
        /// The end as written.
        end: String,
    },
}

/// Parses an RFC 3339 time (any offset, converted to UTC) or a bare `YYYY-MM-DD` date (midnight UTC).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, WindowError> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(ndt) = d.and_hms_opt(0, 0, 0) {
            return Ok(ndt.and_utc());
        }
    }
    Err(WindowError::BadTime(s.to_string()))
}

impl TimeWindow {
    /// Creates a window; `end` must be after `start` when given.
    pub fn new(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Result<Self, WindowError> {
        if let Some(e) = end {
            if e <= start {
                return Err(WindowError::Empty {
                    start: start.to_rfc3339(),
                    end: e.to_rfc3339(),
                });
            }
        }
        Ok(TimeWindow { start, end })
    }

    /// True when `t` lies in `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && self.end.is_none_or(|e| t < e)
    }
}

impl FromStr for TimeWindow {
    type Err = WindowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| WindowError::MissingSeparator(s.to_string()))?;
        let start = parse_time(a)?;
        let end = if b.trim().is_empty() {
            None
        } else {
            Some(parse_time(b)?)
        };
        TimeWindow::new(start, end)
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fmt_t = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        match self.end {
            Some(e) => write!(f, "{}..{}", fmt_t(self.start), fmt_t(e)),
            None => write!(f, "{}..", fmt_t(self.start)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_half_open_window() {
        let w: TimeWindow = "2022-12-21T00:00:00Z..2023-01-04".parse().unwrap();
        assert!(w.contains(parse_time("2022-12-21T00:00:00Z").unwrap()));
        assert!(w.contains(parse_time("2023-01-03T23:59:59Z").unwrap()));
        assert!(!w.contains(parse_time("2023-01-04T00:00:00Z").unwrap()));
        assert!(!w.contains(parse_time("2022-12-20T23:59:59Z").unwrap()));
        assert_eq!(w.to_string(), "2022-12-21T00:00:00Z..2023-01-04T00:00:00Z");
    }

    #[test]
    fn open_end_and_offsets() {
        let w: TimeWindow = "2023-01-01T02:00:00+02:00..".parse().unwrap();
        assert_eq!(w.start, parse_time("2023-01-01T00:00:00Z").unwrap());
        assert!(w.contains(parse_time("2030-01-01").unwrap()));
    }

    #[test]
    fn rejects_bad_windows() {
        assert!(matches!(
            "2023-01-01".parse::<TimeWindow>(),
            Err(WindowError::MissingSeparator(_))
        ));
        assert!(matches!(
            "yesterday..".parse::<TimeWindow>(),
            Err(WindowError::BadTime(_))
        ));
        assert!(matches!(
            "2023-01-02..2023-01-01".parse::<TimeWindow>(),
            Err(WindowError::Empty { .. })
        ));
    }
}
