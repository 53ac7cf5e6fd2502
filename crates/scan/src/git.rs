//! Git history scanning (`firebreak scan --git PATH`), with gix.
//!
//! Every commit reachable from any reference (branches, tags, remotes, stash,
//! HEAD) is visited oldest first (by committer time, ancestors first on
//! ties). Each blob is scanned once, however many commits and paths hold it;
//! its findings name the path and the first commit in that order whose tree
//! holds the blob: the commit that introduced it. Trees already seen are not
//! walked again, so the cost follows the number of distinct trees and blobs,
//! not commits times files. Blobs that are archives are walked like files.

use crate::scanner::{ScanReport, Scanner};
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::Path;

/// Why a repository could not be scanned at all.
#[derive(Debug, thiserror::Error)]
#[error("git repository {path}: {message}")]
pub struct GitError {
    /// The repository path as given.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// A blob to scan: its id, the path it first appeared at, the introducing commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobOrigin {
    /// Blob object id.
    pub blob: gix::ObjectId,
    /// Path inside the repository.
    pub path: String,
    /// Commit (hex) that introduced the blob at that path.
    pub commit: String,
}

/// Lists every distinct blob of every commit reachable from any reference,
/// each with the commit that introduced it. Returns the blobs and the number
/// of commits walked; problems with single objects are pushed to `errors`.
pub fn blob_origins(
    repo: &gix::Repository,
    errors: &mut Vec<String>,
) -> Result<(Vec<BlobOrigin>, u64), String> {
    let mut tips = Vec::new();
    let refs = repo.references().map_err(|e| e.to_string())?;
    for r in refs.all().map_err(|e| e.to_string())? {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("reference: {e}"));
                continue;
            }
        };
        // Refs pointing at non-commits (e.g. a tag on a blob) are skipped.
        if let Ok(c) = r.peel_to_commit() {
            tips.push(c.id);
        }
    }
    if let Ok(h) = repo.head_id() {
        tips.push(h.detach());
    }
    tips.sort();
    tips.dedup();
    let mut commits = Vec::new();
    if !tips.is_empty() {
        let walk = repo.rev_walk(tips).all().map_err(|e| e.to_string())?;
        for (idx, info) in walk.enumerate() {
            let info = match info {
                Ok(i) => i,
                Err(e) => {
                    errors.push(format!("commit walk: {e}"));
                    continue;
                }
            };
            let commit = match repo.find_commit(info.id) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(format!("commit {}: {e}", info.id));
                    continue;
                }
            };
            let time = commit.time().map(|t| t.seconds).unwrap_or(0);
            let tree = match commit.tree_id() {
                Ok(t) => t.detach(),
                Err(e) => {
                    errors.push(format!("commit {}: {e}", info.id));
                    continue;
                }
            };
            commits.push((time, std::cmp::Reverse(idx), info.id, tree));
        }
    }
    commits.sort();
    let n_commits = commits.len() as u64;
    let mut seen_trees: HashSet<gix::ObjectId> = HashSet::new();
    let mut seen_blobs: HashSet<gix::ObjectId> = HashSet::new();
    let mut out = Vec::new();
    for (_, _, commit, root) in commits {
        let commit_hex = commit.to_string();
        let mut stack = vec![(root, String::new())];
        while let Some((tree_id, prefix)) = stack.pop() {
            if !seen_trees.insert(tree_id) {
                continue;
            }
            let tree = match repo.find_tree(tree_id) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(format!("tree {tree_id} in commit {commit_hex}: {e}"));
                    continue;
                }
            };
            let decoded = match tree.decode() {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("tree {tree_id} in commit {commit_hex}: {e}"));
                    continue;
                }
            };
            for e in &decoded.entries {
                let name = String::from_utf8_lossy(e.filename.as_ref());
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                let id = e.oid.to_owned();
                if e.mode.is_tree() {
                    stack.push((id, path));
                } else if e.mode.is_blob() && seen_blobs.insert(id) {
                    out.push(BlobOrigin {
                        blob: id,
                        path,
                        commit: commit_hex.clone(),
                    });
                }
            }
        }
    }
    Ok((out, n_commits))
}

impl Scanner {
    /// Scans the whole history of the git repository at `path` (see the
    /// module docs). Fails only when the repository can't be opened or its
    /// references can't be listed; unreadable objects are errors in the summary.
    pub fn scan_git(&self, path: &Path) -> Result<ScanReport, GitError> {
        let err = |m: String| GitError {
            path: path.display().to_string(),
            message: m,
        };
        let mut repo = gix::open(path).map_err(|e| err(e.to_string()))?;
        repo.object_cache_size_if_unset(32 << 20);
        let mut errors = Vec::new();
        let (blobs, commits) = blob_origins(&repo, &mut errors).map_err(err)?;
        let mut report = ScanReport::default();
        report.summary.commits = commits;
        for e in errors {
            report.summary.error(path.display().to_string(), e);
        }
        let sync = repo.into_sync();
        let partial = self.install(|| {
            blobs
                .par_iter()
                .map_init(
                    || sync.to_thread_local(),
                    |repo, b| {
                        let mut rep = ScanReport::default();
                        match repo.find_object(b.blob) {
                            Ok(obj) => self.scan_data(&b.path, &obj.data, Some(&b.commit), &mut rep),
                            Err(e) => rep
                                .summary
                                .error(b.path.clone(), format!("{} (blob {}): {e}", b.path, b.blob)),
                        }
                        rep
                    },
                )
                .reduce(ScanReport::default, |mut a, b| {
                    a.merge(b);
                    a
                })
        });
        report.merge(partial);
        Ok(self.finish(report))
    }
}
