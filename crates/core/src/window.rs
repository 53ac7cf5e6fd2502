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
    #[error("window {} must look like START..END or START.. (RFC 3339 times, YYYY-MM-DD dates, `now`, or durations ago such as 7d)", crate::secret::quote_untrusted(.0))]
    MissingSeparator(String),
    /// One side is not a time.
    #[error("{} is not an RFC 3339 time (e.g. 2023-01-04T00:00:00Z), a date (2023-01-04), `now`, or a duration ago (7d, now-36h)", crate::secret::quote_untrusted(.0))]
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

/// Parses an RFC 3339 time (any offset, converted to UTC), a bare `YYYY-MM-DD` date
/// (midnight UTC), or a time relative to now: `now`, `now-7d`, or a bare duration meaning
/// that long ago (`7d`, `36h`, `90m`, `2w`: see [`crate::duration::parse_secs`]).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, WindowError> {
    parse_time_at(s, Utc::now())
}

/// [`parse_time`] with "now" given (tests, and one `now` shared by both ends of a window).
pub fn parse_time_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, WindowError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let rel = t
        .strip_prefix("now-")
        .or_else(|| t.strip_prefix("NOW-"))
        .unwrap_or(t);
    // a relative time is digits followed by a unit (not a bare number: a year or a
    // typo would read as seconds)
    if rel.starts_with(|c: char| c.is_ascii_digit())
        && rel.chars().any(|c| c.is_ascii_alphabetic())
        && !rel.contains(['-', ':', 'T'])
    {
        if let Ok(secs) = crate::duration::parse_secs(rel) {
            if let Some(ago) = i64::try_from(secs).ok().and_then(chrono::Duration::try_seconds) {
                if let Some(t) = now.checked_sub_signed(ago) {
                    return Ok(t);
                }
            }
        }
    }
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
        let now = Utc::now();
        let start = parse_time_at(a, now)?;
        let end = if b.trim().is_empty() {
            None
        } else {
            Some(parse_time_at(b, now)?)
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
    fn relative_times_count_back_from_now() {
        let now = parse_time("2023-01-10T00:00:00Z").unwrap();
        assert_eq!(parse_time_at("now", now).unwrap(), now);
        assert_eq!(
            parse_time_at("7d", now).unwrap(),
            parse_time("2023-01-03T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time_at("now-36h", now).unwrap(),
            parse_time("2023-01-08T12:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time_at("1w", now).unwrap(),
            parse_time("2023-01-03T00:00:00Z").unwrap()
        );
        // a bare number is not a relative time, nor is a date
        assert!(parse_time_at("2023", now).is_err());
        assert_eq!(
            parse_time_at("2023-01-04", now).unwrap(),
            parse_time("2023-01-04T00:00:00Z").unwrap()
        );
        assert!(parse_time_at("7x", now).is_err());
        let w: TimeWindow = "7d..now".parse().unwrap();
        assert_eq!(w.end.unwrap() - w.start, chrono::Duration::days(7));
        assert!("now..7d".parse::<TimeWindow>().is_err());
    }

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
