//! The directory walk behind [`crate::Scanner::scan_paths`]: every regular
//! file under a directory, honouring ignore files the way git and ripgrep do.
//!
//! What is honoured (unless `no_ignore`), with the precedence of the `ignore`
//! crate's walker (which this walk replaced and is tested against):
//! - `.ignore` files, in the directory and its parents (the nearest match
//!   wins, and any `.ignore` match beats any git rule);
//! - `.gitignore` files, in the directory and its parents (the nearest match
//!   wins; as with `require_git(false)`, they apply inside and outside git
//!   repositories alike, across nested repositories too), then the
//!   `info/exclude` files of the repositories on the way (`.git` directories,
//!   or `.git` files naming their git directory, as worktrees and submodules do);
//! - the user's global git excludes (`core.excludesFile`);
//! - the same files in the parents of the directory the walk starts from.
//!
//! `.git` entries are never listed; symbolic links are not followed (nor
//! listed); hidden files are walked like any other. The walk lists a
//! directory once, learns from its entries which ignore files exist (no probe
//! of absent `.gitignore` or `.git` paths), and takes each entry's type from
//! the directory listing: one `getdents` per directory, no `stat` per entry.
//! Several threads list directories at once ([`walk_parallel`]): a tree whose
//! directories are not in the cache waits on the disk for each listing.

use firebreak_core::Problem;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The ignore rules of one directory, linked to its parent's.
#[derive(Debug, Default)]
struct Level {
    parent: Option<Arc<Level>>,
    /// `.ignore`.
    ignore: Option<Gitignore>,
    /// `.gitignore`.
    git: Option<Gitignore>,
    /// `.git/info/exclude` (repository roots only).
    exclude: Option<Gitignore>,
    /// A parent of the walk's starting directory: matched with absolute paths.
    above_root: bool,
    /// Some level from here up has a matcher.
    any: bool,
}

/// How `path` fares against the chain from `level` up. Levels inside the walk
/// match the path as walked; the parents of the walk's root (always the end of
/// the chain) match the absolute path, which `abs` makes, once, when reached.
fn matched(level: &Level, path: &Path, is_dir: bool, abs: &dyn Fn(&Path) -> Option<PathBuf>) -> Match<()> {
    // The first match of each kind, nearest level first: `.ignore`, `.gitignore`, exclude.
    let mut found = [Match::None, Match::None, Match::None];
    let mut check = |l: &Level, p: &Path| {
        for (g, m) in [&l.ignore, &l.git, &l.exclude].into_iter().zip(found.iter_mut()) {
            if let (Some(g), true) = (g, m.is_none()) {
                *m = g.matched(p, is_dir).map(|_| ());
            }
        }
    };
    let mut cur = Some(level).filter(|l| l.any);
    while let Some(l) = cur.filter(|l| !l.above_root) {
        check(l, path);
        cur = l.parent.as_deref().filter(|l| l.any);
    }
    if cur.is_some() {
        if let Some(abs_path) = abs(path) {
            while let Some(l) = cur {
                check(l, &abs_path);
                cur = l.parent.as_deref().filter(|l| l.any);
            }
        }
    }
    let [ignore, git, exclude] = found;
    if !ignore.is_none() {
        ignore
    } else if !git.is_none() {
        git
    } else {
        exclude
    }
}

/// The user's global git excludes, read once per process.
fn global() -> &'static Option<Gitignore> {
    static GLOBAL: OnceLock<Option<Gitignore>> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let (g, _err) = Gitignore::global();
        (!g.is_empty()).then_some(g)
    })
}

/// A walk error at `path` (an unreadable directory, a bad ignore file): a [`Problem`] of
/// kind `error` whose message names the path, as the scan summary reports it.
fn walk_problem(path: &Path, e: &dyn std::fmt::Display) -> Problem {
    let p = path.display().to_string();
    let message = format!("{p}: {e}");
    Problem::new(p, message).kind("error")
}

/// Builds the matcher of one ignore file in `dir`; errors (a bad glob, an
/// unreadable file) are appended to `errors`, the rest of the file still counts.
fn load(dir: &Path, file: &Path, errors: &mut Vec<Problem>) -> Option<Gitignore> {
    let mut b = GitignoreBuilder::new(dir);
    if let Some(e) = b.add(file) {
        errors.push(walk_problem(file, &e));
    }
    match b.build() {
        Ok(g) if !g.is_empty() => Some(g),
        Ok(_) => None,
        Err(e) => {
            errors.push(walk_problem(file, &e));
            None
        }
    }
}

/// The ignore rules of `dir`, given which ignore entries its listing holds.
fn level_for(
    dir: &Path,
    parent: Option<Arc<Level>>,
    has: (bool, bool, bool),
    above_root: bool,
    errors: &mut Vec<Problem>,
) -> Arc<Level> {
    let (has_ignore, has_gitignore, git_entry) = has;
    let ignore = has_ignore
        .then(|| load(dir, &dir.join(".ignore"), errors))
        .flatten();
    let git = has_gitignore
        .then(|| load(dir, &dir.join(".gitignore"), errors))
        .flatten();
    let exclude = if git_entry {
        git_dir(dir)
            .map(|g| g.join("info/exclude"))
            .filter(|f| f.is_file())
            .and_then(|f| load(dir, &f, errors))
    } else {
        None
    };
    let any =
        ignore.is_some() || git.is_some() || exclude.is_some() || parent.as_ref().is_some_and(|p| p.any);
    Arc::new(Level {
        parent,
        ignore,
        git,
        exclude,
        above_root,
        any,
    })
}

/// The git directory of the repository rooted at `dir`: `dir/.git` when it is
/// a directory; when it is a file (a worktree), the `commondir` (where `info/`
/// lives) of the git directory its `gitdir:` line names. None when there is no
/// `commondir` there (a submodule), as for the `ignore` crate.
fn git_dir(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let gitdir = dir.join(text.strip_prefix("gitdir:")?.trim());
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    Some(gitdir.join(common.trim()))
}

/// The rules of the parents of `root` (absolute), outermost first.
fn parents(root: &Path, errors: &mut Vec<Problem>) -> Option<Arc<Level>> {
    let abs = std::fs::canonicalize(root).ok()?;
    let mut chain: Option<Arc<Level>> = None;
    let ancestors: Vec<&Path> = abs.ancestors().skip(1).collect();
    for dir in ancestors.into_iter().rev() {
        let has = (
            dir.join(".ignore").is_file(),
            dir.join(".gitignore").is_file(),
            dir.join(".git").exists(),
        );
        chain = Some(level_for(dir, chain, has, true, errors));
    }
    chain
}

/// A directory still to list, with its parent's ignore rules.
type Pending = (PathBuf, Option<Arc<Level>>);

/// What every directory of one walk shares: the settings, the ignore rules of
/// the root's parents and the global excludes, and the root's absolute path
/// (made once, when a parent's rule needs it).
struct Walk<'a> {
    root: &'a Path,
    no_ignore: bool,
    global: &'static Option<Gitignore>,
    abs_root: OnceLock<Option<PathBuf>>,
}

impl Walk<'_> {
    fn new(root: &Path, no_ignore: bool) -> Walk<'_> {
        Walk {
            root,
            no_ignore,
            global: if no_ignore { &None } else { global() },
            abs_root: OnceLock::new(),
        }
    }

    /// The starting point: the root with the rules of its parents.
    fn start(&self, errors: &mut Vec<Problem>) -> Pending {
        let top = if self.no_ignore {
            None
        } else {
            parents(self.root, errors)
        };
        (self.root.to_path_buf(), top)
    }

    /// Lists one directory: its files not ignored go to `file`, its
    /// subdirectories not ignored to `subdirs`. False when `file` said stop.
    fn list(
        &self,
        (dir, parent): Pending,
        entries: &mut Vec<(std::ffi::OsString, std::fs::FileType)>,
        subdirs: &mut Vec<Pending>,
        errors: &mut Vec<Problem>,
        file: &mut dyn FnMut(PathBuf) -> bool,
    ) -> bool {
        let abs = |p: &Path| -> Option<PathBuf> {
            let base = self
                .abs_root
                .get_or_init(|| std::fs::canonicalize(self.root).ok())
                .as_ref()?;
            Some(base.join(p.strip_prefix(self.root).ok()?))
        };
        entries.clear();
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) => {
                errors.push(walk_problem(&dir, &e));
                return true;
            }
        };
        for e in listing {
            match e.and_then(|e| Ok((e.file_name(), e.file_type()?))) {
                Ok(x) => entries.push(x),
                Err(e) => errors.push(walk_problem(&dir, &e)),
            }
        }
        let level = if self.no_ignore {
            None
        } else {
            let name_is = |n: &str, want_file: bool| {
                entries
                    .iter()
                    .any(|(name, t)| name == OsStr::new(n) && (!want_file || t.is_file()))
            };
            let has = (
                name_is(".ignore", true),
                name_is(".gitignore", true),
                name_is(".git", false),
            );
            Some(if has.0 || has.1 || has.2 {
                level_for(&dir, parent, has, false, errors)
            } else {
                match parent {
                    Some(p) => p,
                    None => Arc::new(Level::default()),
                }
            })
        };
        let check = level.as_ref().is_some_and(|l| l.any) || self.global.is_some();
        for (name, t) in entries.drain(..) {
            if name == ".git" || t.is_symlink() || !(t.is_dir() || t.is_file()) {
                continue;
            }
            let path = dir.join(&name);
            if check {
                let is_dir = t.is_dir();
                let mut m = match &level {
                    Some(l) => matched(l, &path, is_dir, &abs),
                    None => Match::None,
                };
                if m.is_none() {
                    if let Some(g) = self.global {
                        m = g.matched(&path, is_dir).map(|_| ());
                    }
                }
                if m.is_ignore() {
                    continue;
                }
            }
            if t.is_dir() {
                subdirs.push((path, level.clone()));
            } else if !file(path) {
                return false;
            }
        }
        true
    }
}

/// Calls `file` with every regular file under `root` (not ignored unless
/// `no_ignore`), stopping early when it returns false; returns false then.
/// Directories that cannot be listed and ignore files that do not parse are
/// appended to `errors` as (path, message), and the walk goes on. One thread,
/// depth first: the tests' reference for [`walk_parallel`], which the scanner uses.
#[cfg(test)]
pub(crate) fn walk(
    root: &Path,
    no_ignore: bool,
    errors: &mut Vec<Problem>,
    file: &mut dyn FnMut(PathBuf) -> bool,
) -> bool {
    let w = Walk::new(root, no_ignore);
    let mut stack = vec![w.start(errors)];
    let mut entries = Vec::new();
    while let Some(dir) = stack.pop() {
        if !w.list(dir, &mut entries, &mut stack, errors, file) {
            return false;
        }
    }
    true
}

/// The shared state of a walk by several threads: directories still to list,
/// and how many are being listed (the walk ends when both are none).
struct Shared {
    stack: Vec<Pending>,
    busy: usize,
    stop: bool,
}

/// Every file under `root` as the tests' sequential `walk` lists them, by
/// `threads` threads listing directories at once, each calling its own `file`
/// callback, made by `make_file` (in no set order).
/// Several listings in flight keep the disk busy when directories are not in
/// the cache, where one walker waits on each directory in turn. Returns false
/// when a callback said stop, and the errors of all threads.
pub(crate) fn walk_parallel<'f>(
    root: &Path,
    no_ignore: bool,
    threads: usize,
    make_file: &(dyn Fn() -> Box<dyn FnMut(PathBuf) -> bool + Send + 'f> + Sync),
) -> (bool, Vec<Problem>) {
    let w = Walk::new(root, no_ignore);
    let mut errors = Vec::new();
    let start = w.start(&mut errors);
    let state = std::sync::Mutex::new(Shared {
        stack: vec![start],
        busy: 0,
        stop: false,
    });
    let ready = std::sync::Condvar::new();
    // A thread that panics stops the others (which would wait for it forever).
    struct OnPanic<'s>(&'s std::sync::Mutex<Shared>, &'s std::sync::Condvar);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
                self.1.notify_all();
            }
        }
    }
    let worker = || -> (bool, Vec<Problem>) {
        let _stop_others = OnPanic(&state, &ready);
        let mut file = make_file();
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        let mut subdirs = Vec::new();
        let mut live = true;
        loop {
            let dir = {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if s.stop {
                        return (false, errors);
                    }
                    if let Some(d) = s.stack.pop() {
                        s.busy += 1;
                        break d;
                    }
                    if s.busy == 0 {
                        return (live, errors);
                    }
                    s = ready.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            };
            live = w.list(dir, &mut entries, &mut subdirs, &mut errors, &mut *file);
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.busy -= 1;
            if !live {
                s.stop = true;
                ready.notify_all();
                return (false, errors);
            }
            let woke = !subdirs.is_empty() || s.busy == 0;
            s.stack.append(&mut subdirs);
            drop(s);
            if woke {
                ready.notify_all();
            }
        }
    };
    let results: Vec<(bool, Vec<Problem>)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads.max(1)).map(|_| scope.spawn(worker)).collect();
        let mut all = vec![worker()];
        all.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("directory walker panicked")),
        );
        all
    });
    let mut live = true;
    for (l, e) in results {
        live &= l;
        errors.extend(e);
    }
    (live, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The files the `ignore` crate's walker lists with the settings this walk
    /// replaced (the reference).
    fn reference(root: &Path, no_ignore: bool) -> BTreeSet<PathBuf> {
        let mut b = ignore::WalkBuilder::new(root);
        b.hidden(false)
            .parents(!no_ignore)
            .ignore(!no_ignore)
            .git_ignore(!no_ignore)
            .git_global(!no_ignore)
            .git_exclude(!no_ignore)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|e| e.file_name() != ".git");
        b.build()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .map(|e| e.into_path())
            .collect()
    }

    /// The files of our walk, alone and with 1, 2 and 4 threads (which must
    /// list the same files, each once).
    fn ours(root: &Path, no_ignore: bool) -> BTreeSet<PathBuf> {
        let mut got = BTreeSet::new();
        let mut errors = Vec::new();
        assert!(walk(root, no_ignore, &mut errors, &mut |p| {
            got.insert(p);
            true
        }));
        assert!(errors.is_empty(), "{errors:?}");
        for threads in [1, 2, 4] {
            let seen = std::sync::Mutex::new(Vec::new());
            let make = || -> Box<dyn FnMut(PathBuf) -> bool + Send + '_> {
                Box::new(|p| {
                    seen.lock().unwrap().push(p);
                    true
                })
            };
            let (live, errors) = walk_parallel(root, no_ignore, threads, &make);
            assert!(live && errors.is_empty(), "{errors:?}");
            let mut seen = seen.into_inner().unwrap();
            seen.sort();
            let n = seen.len();
            seen.dedup();
            assert_eq!(n, seen.len(), "a file listed twice with {threads} threads");
            assert_eq!(
                seen.into_iter().collect::<BTreeSet<_>>(),
                got,
                "{threads} threads"
            );
        }
        got
    }

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn lists_what_the_ignore_crate_lists() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path();
        // Above the walk's root: a .gitignore and a .ignore that still apply.
        put(top, ".gitignore", "*.parentgit\n");
        put(top, ".ignore", "*.parentignore\n");
        let root = top.join("walk");
        let r = root.as_path();
        put(
            r,
            ".gitignore",
            "*.log\n/anchored.txt\nbuild/\n!keep.log\ndeep/**/x.txt\n",
        );
        put(r, "a.log", "");
        put(r, "keep.log", "");
        put(r, "anchored.txt", "");
        put(r, "sub/anchored.txt", "");
        put(r, "build/out.txt", "");
        put(r, "sub/build/out.txt", "");
        put(r, "deep/1/2/x.txt", "");
        put(r, "deep/1/2/y.txt", "");
        put(r, "f.parentgit", "");
        put(r, "f.parentignore", "");
        put(r, ".hidden/file", "");
        put(r, ".env", "");
        // A nested .gitignore re-including what the outer one ignores, and a .ignore
        // that beats it.
        put(r, "sub/.gitignore", "!*.log\n*.tmp\n");
        put(r, "sub/b.log", "");
        put(r, "sub/c.tmp", "");
        put(r, "sub/.ignore", "c.tmp\n!d.tmp\nsecret.*\n");
        put(r, "sub/d.tmp", "");
        put(r, "sub/secret.txt", "");
        // A nested repository: its .git is skipped, its info/exclude applies inside it,
        // and the outer .gitignore no longer does.
        put(r, "repo/.git/HEAD", "ref: refs/heads/main\n");
        put(r, "repo/.git/info/exclude", "excluded.txt\n");
        put(r, "repo/excluded.txt", "");
        put(r, "repo/inner.log", "");
        put(r, "repo/.gitignore", "*.tmp\n");
        put(r, "repo/z.tmp", "");
        put(r, "repo/dir/.git", "gitdir: elsewhere\n");
        put(r, "repo/dir/kept.txt", "");
        // A worktree: its .git file names a git directory elsewhere, whose
        // commondir holds info/exclude. A submodule's (no commondir) is not read.
        put(r, "gitdirs/main/info/exclude", "wt-excluded.txt\n");
        put(r, "gitdirs/main/worktrees/wt/commondir", "../..\n");
        // (git writes the path absolute; the `ignore` crate reads a relative one
        // against the process's working directory, this walk against the worktree.)
        let wt_gitdir = r.join("gitdirs/main/worktrees/wt");
        put(r, "wt/.git", &format!("gitdir: {}\n", wt_gitdir.display()));
        put(r, "wt/wt-excluded.txt", "");
        put(r, "wt/wt-kept.txt", "");
        put(r, "gitdirs/sm/info/exclude", "sm-excluded.txt\n");
        put(
            r,
            "sm/.git",
            &format!("gitdir: {}\n", r.join("gitdirs/sm").display()),
        );
        put(r, "sm/sm-excluded.txt", "");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(r.join("keep.log"), r.join("link.log")).unwrap();
            std::os::unix::fs::symlink(r.join("sub"), r.join("linkdir")).unwrap();
        }
        for no_ignore in [false, true] {
            let want = reference(r, no_ignore);
            assert!(want.len() >= 10, "{want:?}");
            assert_eq!(ours(r, no_ignore), want, "no_ignore {no_ignore}");
        }
        // The walk's own ignore files, seen from a subdirectory as parents.
        let sub = r.join("sub");
        assert_eq!(ours(&sub, false), reference(&sub, false));
        // And a root given relative to the working directory (not changed: tests
        // run in parallel), through `..` up to `/`.
        let cwd = std::env::current_dir().unwrap();
        let mut rel = PathBuf::new();
        for _ in cwd.ancestors().skip(1) {
            rel.push("..");
        }
        rel.push(r.strip_prefix("/").unwrap());
        assert_eq!(ours(&rel, false), reference(&rel, false));
    }

    #[test]
    fn an_unreadable_directory_is_an_error_and_the_rest_is_listed() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "ok.txt", "");
        let mut errors = Vec::new();
        let mut got = Vec::new();
        walk(&d.path().join("missing"), false, &mut errors, &mut |p| {
            got.push(p);
            true
        });
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("missing"), "{errors:?}");
        // Stops when told to.
        let mut n = 0;
        assert!(!walk(d.path(), false, &mut Vec::new(), &mut |_| {
            n += 1;
            false
        }));
        assert_eq!(n, 1);
        // The same with several threads: the error reported once, and a stop
        // ends every thread's walk (a tree of 40 directories is not listed whole).
        let none = || -> Box<dyn FnMut(PathBuf) -> bool + Send> { Box::new(|_| true) };
        let (live, errors) = walk_parallel(&d.path().join("missing"), false, 2, &none);
        assert!(live);
        assert_eq!(errors.len(), 1, "{errors:?}");
        for i in 0..40 {
            for j in 0..5 {
                put(d.path(), &format!("d{i}/f{j}.txt"), "");
            }
        }
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let stop = || -> Box<dyn FnMut(PathBuf) -> bool + Send + '_> {
            Box::new(|_| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                false
            })
        };
        let (live, errors) = walk_parallel(d.path(), false, 3, &stop);
        assert!(!live && errors.is_empty(), "{errors:?}");
        assert!(calls.into_inner() <= 3, "every thread stops at its first file");
    }
}
