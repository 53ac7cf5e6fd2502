//! Checking one artifact: locate it, hash it, compare with the index, open it
//! with the scanner's archive walker and check every member against the
//! indicators (and, with `--scan`, the leak scanner).

use crate::index::{Entry, Location};
use crate::ioc::IocSet;
use crate::{ArtifactRecord, ChecksumState, Finding, Status};
use aho_corasick::AhoCorasick;
use firebreak_core::finding::stable_id;
use firebreak_scan::archive::{self, Kind, Limits, Member, Notice, Source, Visitor};
use firebreak_scan::Scanner;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;

/// Members up to this size are scanned from memory; bigger ones are streamed.
const IN_MEMORY_MEMBER: usize = 16 << 20;

/// Names of artifacts that must open as archives: failing to is corruption.
const ARCHIVE_SUFFIXES: &[&str] = &[
    ".conda", ".whl", ".zip", ".jar", ".egg", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.zst",
    ".tar.xz", ".gz", ".bz2", ".zst", ".nupkg",
];

/// What the checks need.
pub(crate) struct Checker<'a> {
    pub ioc: Option<&'a IocSet>,
    pub scanner: Option<&'a Scanner>,
    pub limits: Limits,
}

impl Checker<'_> {
    /// True when members are opened for checks (IOC or scanner).
    pub fn checks_requested(&self) -> bool {
        self.ioc.is_some() || self.scanner.is_some()
    }

    /// Builds the record of one in-window entry.
    pub fn check(&self, e: &Entry) -> ArtifactRecord {
        let mut rec = ArtifactRecord::from_entry(e);
        let path = match &e.location {
            Location::Local(p) => p.clone(),
            Location::Remote(_) => {
                rec.status = Status::Remote;
                rec.checksum = ChecksumState::NotLocal;
                return rec;
            }
            Location::Unknown => {
                rec.status = Status::Missing;
                rec.checksum = ChecksumState::NotLocal;
                rec.error = Some("the index gives no path or URL for this artifact".into());
                return rec;
            }
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                rec.status = Status::Missing;
                rec.checksum = ChecksumState::NotLocal;
                rec.error = Some(format!("{} is not a regular file", path.display()));
                return rec;
            }
            Err(err) => {
                rec.status = Status::Missing;
                rec.checksum = ChecksumState::NotLocal;
                rec.error = Some(format!("{}: {err}", path.display()));
                return rec;
            }
        };
        rec.size = Some(meta.len());
        // 1. Whole-file digests.
        let (sha, md5) = match hash_file(&path, e.md5.is_some() && e.sha256.is_none()) {
            Ok(h) => h,
            Err(err) => {
                rec.status = Status::Corrupt;
                rec.checksum = ChecksumState::Unverified;
                rec.error = Some(format!("{}: cannot read: {err}", path.display()));
                return rec;
            }
        };
        rec.sha256 = Some(sha.clone());
        rec.checksum = ChecksumState::Unverified;
        let mismatch_id = |alg: &str| stable_id(&["checksum_mismatch", alg, &e.artifact, &e.source]);
        if let Some(want) = &e.sha256 {
            if *want == sha {
                rec.checksum = ChecksumState::Verified;
            } else {
                rec.checksum = ChecksumState::Mismatch;
                rec.findings.push(Finding::ChecksumMismatch {
                    id: mismatch_id("sha256"),
                    algorithm: "sha256".into(),
                    expected: want.clone(),
                    actual: sha.clone(),
                });
            }
        } else if let (Some(want), Some(got)) = (&e.md5, &md5) {
            if want == got {
                rec.checksum = ChecksumState::Verified;
            } else {
                rec.checksum = ChecksumState::Mismatch;
                rec.findings.push(Finding::ChecksumMismatch {
                    id: mismatch_id("md5"),
                    algorithm: "md5".into(),
                    expected: want.clone(),
                    actual: got.clone(),
                });
            }
        }
        if let Some(want) = e.size {
            if want != meta.len() {
                if rec.checksum != ChecksumState::Mismatch {
                    rec.checksum = ChecksumState::Mismatch;
                }
                rec.findings.push(Finding::SizeMismatch {
                    id: mismatch_id("size"),
                    expected: want,
                    actual: meta.len(),
                });
            }
        }
        if let Some(ioc) = self.ioc {
            if let Some(i) = ioc.artifact_match(&sha) {
                let ind = &ioc.artifact_sha256[i];
                rec.findings.push(Finding::IocArtifactSha256 {
                    id: stable_id(&["ioc_artifact_sha256", &ind.value, &e.artifact]),
                    indicator: ind.value.clone(),
                    description: ind.description.clone(),
                });
            }
            for i in ioc.match_name(&e.artifact, &e.artifact) {
                rec.findings.push(name_finding(ioc, i, &e.artifact, None));
            }
        }
        // 2. Open it and check every member.
        let mut v = MemberCheck::new(&e.artifact, self);
        let opened = match std::fs::File::open(&path) {
            Ok(f) => {
                let mut r = io::BufReader::with_capacity(1 << 20, f);
                archive::walk(&e.artifact, Source::Reader(&mut r), &self.limits, &mut v).is_some()
            }
            Err(err) => {
                v.broken.push(format!("{}: cannot open: {err}", path.display()));
                true
            }
        };
        if !opened {
            let lower = e.artifact.to_ascii_lowercase();
            if let Some(suf) = ARCHIVE_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
                if *suf == ".tar.xz" {
                    rec.warnings.push(format!(
                        "{}: xz-compressed archives are not opened; members not checked",
                        path.display()
                    ));
                } else {
                    v.broken.push(format!(
                        "{}: named like a {suf} archive but is not one (unrecognised content)",
                        path.display()
                    ));
                }
            } else {
                // A plain file: it is its own only member.
                match std::fs::File::open(&path) {
                    Ok(mut f) => {
                        let m = Member {
                            path: &e.artifact,
                            size: Some(meta.len()),
                            depth: 0,
                        };
                        if let Err(err) = v.member(&m, &mut f) {
                            v.broken.push(format!("{}: {err}", path.display()));
                        }
                    }
                    Err(err) => v.broken.push(format!("{}: cannot open: {err}", path.display())),
                }
            }
        }
        rec.members = Some(v.members);
        rec.findings.append(&mut v.findings);
        rec.warnings.append(&mut v.notices);
        if !v.broken.is_empty() {
            rec.error = Some(format!("corrupt: {}", v.broken.join("; ")));
            if rec.checksum != ChecksumState::Mismatch {
                rec.status = Status::Corrupt;
            }
        }
        if rec.status == Status::Ok && rec.checksum == ChecksumState::Mismatch {
            rec.status = Status::ChecksumMismatch;
        }
        // an intact artifact carrying an indicator or a secret is not "ok"
        if rec.status == Status::Ok && rec.findings.iter().any(Finding::flags) {
            rec.status = Status::Flagged;
        }
        rec
    }
}

fn name_finding(ioc: &IocSet, i: usize, artifact: &str, member: Option<&str>) -> Finding {
    let ind = &ioc.file_names[i];
    Finding::IocFileName {
        id: stable_id(&["ioc_file_name", &ind.value, artifact, member.unwrap_or("")]),
        indicator: ind.value.clone(),
        description: ind.description.clone(),
        member: member.map(str::to_string),
    }
}

/// SHA-256 (and MD5 when asked) of a file, streamed.
fn hash_file(path: &Path, want_md5: bool) -> io::Result<(String, Option<String>)> {
    let mut f = std::fs::File::open(path)?;
    let mut sha = Sha256::new();
    let mut md5 = want_md5.then(Md5::new);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        if let Some(m) = &mut md5 {
            m.update(&buf[..n]);
        }
    }
    Ok((
        hex::encode(sha.finalize()),
        md5.map(|m| hex::encode(m.finalize())),
    ))
}

/// The archive visitor: checks each member.
struct MemberCheck<'a> {
    artifact: &'a str,
    c: &'a Checker<'a>,
    members: u64,
    findings: Vec<Finding>,
    broken: Vec<String>,
    notices: Vec<String>,
}

impl<'a> MemberCheck<'a> {
    fn new(artifact: &'a str, c: &'a Checker<'a>) -> Self {
        MemberCheck {
            artifact,
            c,
            members: 0,
            findings: Vec::new(),
            broken: Vec::new(),
            notices: Vec::new(),
        }
    }
}

/// The member's path inside its innermost archive.
fn inner_path(full: &str) -> &str {
    full.rsplit('!').next().unwrap_or(full)
}

impl Visitor for MemberCheck<'_> {
    fn member(&mut self, m: &Member<'_>, r: &mut dyn Read) -> io::Result<()> {
        self.members += 1;
        let full = m.path;
        let inner = inner_path(full);
        if let Some(ioc) = self.c.ioc {
            for i in ioc.match_name(inner, full) {
                self.findings
                    .push(name_finding(ioc, i, self.artifact, Some(full)));
            }
        }
        let want_hash = self.c.ioc.is_some_and(|i| i.wants_member_hashes());
        let strings = self.c.ioc.and_then(|i| i.strings_automaton());
        if !want_hash && strings.is_none() && self.c.scanner.is_none() {
            return Ok(());
        }
        let mut tee = Tee {
            inner: r,
            sha: want_hash.then(Sha256::new),
            strings: strings.map(|(ac, max_len)| StreamMatcher::new(ac, max_len)),
        };
        if let Some(scanner) = self.c.scanner {
            let mut head = Vec::new();
            (&mut tee)
                .take(IN_MEMORY_MEMBER as u64 + 1)
                .read_to_end(&mut head)?;
            let report = if head.len() <= IN_MEMORY_MEMBER {
                scanner.scan_bytes(full, &head)
            } else {
                let chained = io::Cursor::new(head).chain(&mut tee);
                scanner.scan_reader(full, chained)
            };
            for f in report.findings {
                self.findings.push(Finding::Secret(Box::new(f)));
            }
            for issue in report.summary.errors {
                self.notices
                    .push(format!("{}: scanner: {}", issue.file, issue.message));
            }
        }
        io::copy(&mut tee, &mut io::sink())?;
        if let (Some(ioc), Some(sha)) = (self.c.ioc, tee.sha.take()) {
            let hex = hex::encode(sha.finalize());
            if let Some(i) = ioc.member_hash_match(&hex) {
                let ind = &ioc.member_sha256[i];
                self.findings.push(Finding::IocMemberSha256 {
                    id: stable_id(&["ioc_member_sha256", &ind.value, self.artifact, full]),
                    indicator: ind.value.clone(),
                    description: ind.description.clone(),
                    member: full.to_string(),
                });
            }
        }
        if let (Some(ioc), Some(sm)) = (self.c.ioc, tee.strings.take()) {
            for (i, offset) in sm.finish() {
                let ind = &ioc.strings[i];
                self.findings.push(Finding::IocString {
                    id: stable_id(&["ioc_string", &ind.value, self.artifact, full]),
                    indicator: ind.value.clone(),
                    description: ind.description.clone(),
                    member: full.to_string(),
                    offset,
                });
            }
        }
        Ok(())
    }

    fn notice(&mut self, n: Notice) {
        if n.kind.is_error() {
            self.broken.push(format!("{}: {}", n.path, n.message));
        } else {
            self.notices.push(format!("{}: skipped: {}", n.path, n.message));
        }
    }

    fn archive_opened(&mut self, path: &str, _kind: Kind) {
        // Nested archives are opened, not visited: check their names here.
        if path == self.artifact {
            return;
        }
        if let Some(ioc) = self.c.ioc {
            for i in ioc.match_name(inner_path(path), path) {
                self.findings
                    .push(name_finding(ioc, i, self.artifact, Some(path)));
            }
        }
    }
}

/// A reader that hashes and string-matches what passes through it.
struct Tee<'r, 'a> {
    inner: &'r mut dyn Read,
    sha: Option<Sha256>,
    strings: Option<StreamMatcher<'a>>,
}

impl Read for Tee<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(s) = &mut self.sha {
            s.update(&buf[..n]);
        }
        if let Some(m) = &mut self.strings {
            m.feed(&buf[..n]);
        }
        Ok(n)
    }
}

/// Finds the first offset of each pattern in a stream fed in pieces.
struct StreamMatcher<'a> {
    ac: &'a AhoCorasick,
    keep: usize,
    carry: Vec<u8>,
    /// Absolute offset of `carry[0]`.
    carry_at: u64,
    first: Vec<Option<u64>>,
}

impl<'a> StreamMatcher<'a> {
    fn new(ac: &'a AhoCorasick, max_len: usize) -> Self {
        StreamMatcher {
            ac,
            keep: max_len.saturating_sub(1),
            carry: Vec::new(),
            carry_at: 0,
            first: vec![None; ac.patterns_len()],
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.carry.extend_from_slice(chunk);
        for m in self.ac.find_overlapping_iter(&self.carry[..]) {
            let i = m.pattern().as_usize();
            let at = self.carry_at + m.start() as u64;
            if self.first[i].is_none_or(|f| at < f) {
                self.first[i] = Some(at);
            }
        }
        if self.carry.len() > self.keep {
            let drop = self.carry.len() - self.keep;
            self.carry.drain(..drop);
            self.carry_at += drop as u64;
        }
    }

    fn finish(self) -> Vec<(usize, u64)> {
        self.first
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| o.map(|o| (i, o)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_matcher_finds_patterns_across_chunk_edges() {
        let ac = AhoCorasick::new(["evil.example", "zz"]).unwrap();
        let mut m = StreamMatcher::new(&ac, 12);
        let text = b"aaaa evil.example bbbb evil.example";
        for c in text.chunks(3) {
            m.feed(c);
        }
        assert_eq!(m.finish(), vec![(0, 5)]);
    }
}
