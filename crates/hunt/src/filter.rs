//! Which findings a hunt reports: a minimum level, and allow-lists of known actors and
//! source addresses (an operator's own automation, the office range). Allowed events
//! still count in the baseline: only the findings are held back, and counted
//! ([`crate::HuntReport::suppressed`]), never silently dropped.

use crate::engine::Finding;
use firebreak_core::Level;
use std::net::IpAddr;

/// An address or a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let (a, bits) = match t.split_once('/') {
            Some((a, b)) => (
                a,
                Some(b.parse::<u8>().map_err(|_| format!("{t}: bad prefix length"))?),
            ),
            None => (t, None),
        };
        let net: IpAddr = a.parse().map_err(|_| {
            format!("{t}: not an IP address or CIDR range (e.g. 203.0.113.0/24, 2001:db8::/32)")
        })?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(format!("{t}: prefix length above {max}"));
        }
        Ok(Cidr { net, bits })
    }
}

impl Cidr {
    /// True when `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, len) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)) << 96, u128::from(u32::from(i)) << 96, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V6(n), IpAddr::V4(i)) => match n.to_ipv4_mapped() {
                Some(n4) => (
                    u128::from(u32::from(n4)) << 96,
                    u128::from(u32::from(i)) << 96,
                    32,
                ),
                None => return false,
            },
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i4) => (
                    u128::from(u32::from(n)) << 96,
                    u128::from(u32::from(i4)) << 96,
                    32,
                ),
                None => return false,
            },
        };
        let bits = u32::from(self.bits.min(len));
        if bits == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - bits);
        a & mask == b & mask
    }
}

/// What a hunt reports.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Findings below this level are held back.
    pub min_level: Option<Level>,
    /// Actors (globs, case-insensitive: `arn:aws:iam::123456789012:role/deploy-*`,
    /// `dependabot[bot]`) whose findings are held back.
    pub allow_actors: Option<globset::GlobSet>,
    /// Source addresses and ranges whose findings are held back.
    pub allow_ips: Vec<Cidr>,
}

impl FindingFilter {
    /// Builds a filter; globs that do not parse are named.
    pub fn new(min_level: Option<Level>, actors: &[String], ips: &[String]) -> Result<FindingFilter, String> {
        let allow_actors = if actors.is_empty() {
            None
        } else {
            let mut b = globset::GlobSetBuilder::new();
            for a in actors {
                b.add(
                    globset::GlobBuilder::new(a)
                        .case_insensitive(true)
                        .literal_separator(false)
                        .build()
                        .map_err(|e| format!("--allow-actor {a}: {e}"))?,
                );
            }
            Some(b.build().map_err(|e| e.to_string())?)
        };
        let allow_ips = ips
            .iter()
            .map(|s| s.parse::<Cidr>().map_err(|e| format!("--allow-ip {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FindingFilter {
            min_level,
            allow_actors,
            allow_ips,
        })
    }

    /// True when nothing is held back.
    pub fn is_empty(&self) -> bool {
        self.min_level.is_none() && self.allow_actors.is_none() && self.allow_ips.is_empty()
    }

    /// True when `f` is reported.
    pub fn keeps(&self, f: &Finding) -> bool {
        if self.min_level.is_some_and(|m| f.level < m) {
            return false;
        }
        if let (Some(g), Some(a)) = (&self.allow_actors, &f.event.actor) {
            if g.is_match(a) {
                return false;
            }
        }
        if let Some(ip) = f
            .event
            .source_ip
            .as_deref()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
        {
            if self.allow_ips.iter().any(|c| c.contains(ip)) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges_of_both_families() {
        let c: Cidr = "203.0.113.0/24".parse().unwrap();
        assert!(c.contains("203.0.113.77".parse().unwrap()));
        assert!(!c.contains("203.0.114.1".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.9".parse().unwrap()));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!c.contains("2001:db9::1".parse().unwrap()));
        let one: Cidr = "198.51.100.7".parse().unwrap();
        assert!(one.contains("198.51.100.7".parse().unwrap()));
        assert!(!one.contains("198.51.100.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("office".parse::<Cidr>().is_err());
    }
}
