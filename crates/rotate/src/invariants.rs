//! The invariant checker of the crash test: the source's validity timeline combined with
//! the sinks' write events.
//!
//! 1. A sink only ever holds a credential the source issued, and that credential is not
//!    revoked at any instant while the sink holds it (so a consumer reading the sink
//!    always gets a valid credential; equivalently, a credential is revoked only after
//!    every sink holding it has been overwritten).
//! 2. No idempotency key was issued more than once (no credential issued twice for one step).
//! 3. At most one credential was issued per secret by the rotation.
//! 4. Deleting a sink is a violation (its consumer has nothing).

use crate::sim_source::CredView;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One write to a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkEvent {
    /// Sink key (any stable string identifying the sink).
    pub sink: String,
    /// Order of the event in the provider's log.
    pub seq: u64,
    /// When it was applied.
    pub at: DateTime<Utc>,
    /// Fingerprint of the value written; `None` = deleted.
    pub fingerprint: Option<String>,
}

/// Checks invariants 1–4 at instant `now`; returns the violations (empty = fine).
pub fn check(
    timeline: &[CredView],
    events: &[SinkEvent],
    issue_calls: &HashMap<String, u32>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut v = Vec::new();
    let by_fp: HashMap<&str, &CredView> = timeline.iter().map(|c| (c.fingerprint.as_str(), c)).collect();
    let mut per_sink: HashMap<&str, Vec<&SinkEvent>> = HashMap::new();
    for e in events {
        per_sink.entry(e.sink.as_str()).or_default().push(e);
    }
    for (sink, mut evs) in per_sink {
        evs.sort_by_key(|e| (e.at, e.seq));
        for (k, e) in evs.iter().enumerate() {
            let until = evs.get(k + 1).map(|n| n.at);
            let Some(fp) = &e.fingerprint else {
                v.push(format!(
                    "sink {sink}: deleted at {} (its consumer had no credential)",
                    e.at.to_rfc3339()
                ));
                continue;
            };
            let Some(c) = by_fp.get(fp.as_str()) else {
                v.push(format!(
                    "sink {sink}: holds from {} a value (fp {}…) the source never issued",
                    e.at.to_rfc3339(),
                    &fp[..12.min(fp.len())]
                ));
                continue;
            };
            if c.issued_at > e.at {
                v.push(format!(
                    "sink {sink}: written at {} before credential {} was issued",
                    e.at.to_rfc3339(),
                    c.id
                ));
            }
            if let Some(r) = c.revoked_at {
                let held_until = until.unwrap_or(now);
                if r < held_until {
                    v.push(format!(
                        "sink {sink}: credential {} of {} revoked at {} while the sink still held it (until {})",
                        c.id,
                        c.secret,
                        r.to_rfc3339(),
                        until.map(|u| u.to_rfc3339()).unwrap_or_else(|| "now".into())
                    ));
                }
            }
        }
    }
    for (k, n) in issue_calls {
        if *n > 1 {
            v.push(format!("idempotency key {k} issued {n} times"));
        }
    }
    let mut per_secret: HashMap<&str, usize> = HashMap::new();
    for c in timeline.iter().filter(|c| c.idempotency_key.is_some()) {
        *per_secret.entry(c.secret.as_str()).or_default() += 1;
    }
    for (s, n) in per_secret {
        if n > 1 {
            v.push(format!("secret {s}: {n} credentials issued by one rotation"));
        }
    }
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn cred(id: &str, fp: &str, key: Option<&str>, issued: i64, revoked: Option<i64>) -> CredView {
        CredView {
            secret: "S".into(),
            id: id.into(),
            fingerprint: fp.into(),
            idempotency_key: key.map(str::to_string),
            issued_at: t(issued),
            revoked_at: revoked.map(t),
        }
    }

    fn ev(seq: u64, at: i64, fp: Option<&str>) -> SinkEvent {
        SinkEvent {
            sink: "a".into(),
            seq,
            at: t(at),
            fingerprint: fp.map(str::to_string),
        }
    }

    #[test]
    fn good_timeline_passes() {
        // old seeded at 0 and written at 1; new issued at 2, written at 3, old revoked at 5
        let tl = vec![
            cred("c1", "old", None, 0, Some(5)),
            cred("c2", "new", Some("k"), 2, None),
        ];
        let evs = vec![ev(0, 1, Some("old")), ev(1, 3, Some("new"))];
        let calls = HashMap::from([("k".to_string(), 1)]);
        assert!(check(&tl, &evs, &calls, t(10)).is_empty());
    }

    #[test]
    fn revoke_before_the_sink_moved_on_is_caught() {
        // the broken ordering: old revoked at 2, sink overwritten only at 3
        let tl = vec![
            cred("c1", "old", None, 0, Some(2)),
            cred("c2", "new", Some("k"), 1, None),
        ];
        let evs = vec![ev(0, 1, Some("old")), ev(1, 3, Some("new"))];
        let v = check(&tl, &evs, &HashMap::new(), t(10));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("revoked"));
        // a sink still holding a revoked credential now
        let tl = vec![cred("c1", "old", None, 0, Some(2))];
        assert_eq!(
            check(&tl, &[ev(0, 1, Some("old"))], &HashMap::new(), t(10)).len(),
            1
        );
    }

    #[test]
    fn unknown_values_double_issue_and_deletes_are_caught() {
        let tl = vec![
            cred("c1", "x", Some("k"), 0, None),
            cred("c2", "y", Some("k2"), 0, None),
        ];
        let evs = vec![ev(0, 1, Some("zzz")), ev(1, 2, None)];
        let calls = HashMap::from([("k".to_string(), 2)]);
        let v = check(&tl, &evs, &calls, t(10));
        assert!(v.iter().any(|m| m.contains("never issued")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("deleted")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("issued 2 times")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("2 credentials issued")), "{v:?}");
    }
}
