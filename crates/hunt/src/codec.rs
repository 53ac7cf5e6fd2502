//! A compact binary form of findings and events for the hunt's temporary files and
//! databases: length-prefixed strings, no escaping, no field names. Written and read by
//! the same process only (no stability across versions).

use crate::engine::{Finding, FindingKind};
use crate::source::{Event, SourceKind, ALL_SOURCES};
use chrono::{TimeZone, Utc};
use firebreak_core::Level;
use std::io::{self, Read};

const NONE: u32 = u32::MAX;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&NONE.to_le_bytes()),
    }
}

fn level_code(l: Level) -> u8 {
    match l {
        Level::Informational => 0,
        Level::Low => 1,
        Level::Medium => 2,
        Level::High => 3,
        Level::Critical => 4,
    }
}

fn level_of(c: u8) -> Level {
    match c {
        0 => Level::Informational,
        1 => Level::Low,
        3 => Level::High,
        4 => Level::Critical,
        _ => Level::Medium,
    }
}

/// Appends an event.
pub(crate) fn put_event(out: &mut Vec<u8>, e: &Event) {
    match e.time {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.timestamp().to_le_bytes());
            out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
        }
        None => out.push(0),
    }
    out.push(ALL_SOURCES.iter().position(|s| *s == e.source).unwrap_or(0) as u8);
    for s in [
        &e.actor,
        &e.actor_type,
        &e.action,
        &e.target,
        &e.source_ip,
        &e.user_agent,
        &e.outcome,
        &e.error_code,
        &e.location,
        &e.region,
        &e.event_id,
    ] {
        put_opt(out, s);
    }
    put_str(out, &e.file);
    out.extend_from_slice(&e.line.to_le_bytes());
    out.extend_from_slice(&e.record.to_le_bytes());
}

/// Appends a finding.
pub(crate) fn put_finding(out: &mut Vec<u8>, f: &Finding) {
    put_str(out, &f.id);
    out.push(match f.kind {
        FindingKind::Rule => 0,
        FindingKind::Aggregate => 1,
        FindingKind::Novelty => 2,
    });
    put_str(out, &f.rule_id);
    put_str(out, &f.title);
    out.push(level_code(f.level));
    put_opt(out, &f.detail);
    put_event(out, &f.event);
}

fn bad() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "hunt state: damaged temporary record")
}

/// Reads what [`put_event`] / [`put_finding`] wrote.
pub(crate) struct Reader<R: Read>(pub R);

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.0.read_exact(&mut b)?;
        Ok(b)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }
    fn opt(&mut self) -> io::Result<Option<String>> {
        let n = u32::from_le_bytes(self.bytes()?);
        if n == NONE {
            return Ok(None);
        }
        let mut v = vec![0u8; n as usize];
        self.0.read_exact(&mut v)?;
        String::from_utf8(v).map(Some).map_err(|_| bad())
    }
    fn str(&mut self) -> io::Result<String> {
        self.opt()?.ok_or_else(bad)
    }

    /// An event.
    pub fn event(&mut self) -> io::Result<Event> {
        let time = match self.u8()? {
            1 => {
                let s = i64::from_le_bytes(self.bytes()?);
                let n = u32::from_le_bytes(self.bytes()?);
                Some(Utc.timestamp_opt(s, n).single().ok_or_else(bad)?)
            }
            _ => None,
        };
        let source: SourceKind = *ALL_SOURCES.get(self.u8()? as usize).ok_or_else(bad)?;
        Ok(Event {
            time,
            source,
            actor: self.opt()?,
            actor_type: self.opt()?,
            action: self.opt()?,
            target: self.opt()?,
            source_ip: self.opt()?,
            user_agent: self.opt()?,
            outcome: self.opt()?,
            error_code: self.opt()?,
            location: self.opt()?,
            region: self.opt()?,
            event_id: self.opt()?,
            file: self.str()?,
            line: u64::from_le_bytes(self.bytes()?),
            record: u64::from_le_bytes(self.bytes()?),
        })
    }

    /// A finding; `None` at the end of the input.
    pub fn finding(&mut self) -> io::Result<Option<Finding>> {
        let mut len = [0u8; 4];
        match self.0.read(&mut len[..1])? {
            0 => return Ok(None),
            _ => self.0.read_exact(&mut len[1..])?,
        }
        let n = u32::from_le_bytes(len);
        let mut id = vec![0u8; n as usize];
        self.0.read_exact(&mut id)?;
        let id = String::from_utf8(id).map_err(|_| bad())?;
        let kind = match self.u8()? {
            0 => FindingKind::Rule,
            1 => FindingKind::Aggregate,
            _ => FindingKind::Novelty,
        };
        Ok(Some(Finding {
            id,
            kind,
            rule_id: self.str()?,
            title: self.str()?,
            level: level_of(self.u8()?),
            detail: self.opt()?,
            event: self.event()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_round_trip() {
        let ev = Event {
            time: Some(Utc.timestamp_opt(1_672_833_600, 123_456_789).unwrap()),
            source: SourceKind::AzureActivity,
            actor: Some("a é \u{1F600}".into()),
            user_agent: Some(String::new()),
            file: "f.json".into(),
            line: 7,
            record: u64::MAX,
            ..Event::default()
        };
        let fs = [
            Finding {
                id: "1".into(),
                kind: FindingKind::Aggregate,
                rule_id: "r".into(),
                title: "t".into(),
                level: Level::Critical,
                detail: Some("d".into()),
                event: ev.clone(),
            },
            Finding {
                id: String::new(),
                kind: FindingKind::Novelty,
                rule_id: "n".into(),
                title: String::new(),
                level: Level::Informational,
                detail: None,
                event: Event::default(),
            },
        ];
        let mut buf = Vec::new();
        for f in &fs {
            put_finding(&mut buf, f);
        }
        let mut r = Reader(&buf[..]);
        for f in &fs {
            let g = r.finding().unwrap().unwrap();
            assert_eq!(
                serde_json::to_string(f).unwrap(),
                serde_json::to_string(&g).unwrap()
            );
        }
        assert!(r.finding().unwrap().is_none());
        // a damaged record is an error, not a panic
        assert!(Reader(&buf[..10]).finding().is_err());
    }
}
