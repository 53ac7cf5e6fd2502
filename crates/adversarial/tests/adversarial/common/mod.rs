//! Shared helpers: the `firebreak` binary, running a child with a hang guard and
//! measuring its peak memory.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `firebreak` binary built for this test run (`cargo test --workspace` builds it).
pub fn bin() -> PathBuf {
    let p = assert_cmd::cargo::cargo_bin("firebreak");
    assert!(
        p.exists(),
        "{} is missing: build it first (`cargo build -p firebreak`; `scripts/test` builds the whole workspace)",
        p.display()
    );
    p
}

/// What a measured child did.
#[derive(Debug)]
pub struct Measured {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Peak resident set size (kB, `getrusage`/`wait4` `ru_maxrss`): includes file pages
    /// mapped by `mmap`.
    pub max_rss_kb: u64,
    /// Peak anonymous memory (kB), sampled from `/proc/PID/status` `RssAnon` every 20 ms.
    pub max_anon_kb: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// True when the hang guard killed it.
    pub killed: bool,
}

impl Measured {
    /// Stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Stderr as text.
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

fn rss_anon_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("RssAnon:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Writes a child's stdin.
pub type Feed = Box<dyn FnOnce(&mut dyn Write) + Send>;

/// Runs `cmd`, feeding stdin from `feed` (when given), killing it after `guard` (a hang
/// guard, not a timing assertion), and measures its peak memory.
pub fn run_measured(cmd: &mut Command, feed: Option<Feed>, guard: Duration) -> Measured {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if feed.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn child");
    let pid = child.id();
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let t_in = feed.map(|f| {
        let mut si = child.stdin.take().expect("stdin");
        std::thread::spawn(move || {
            f(&mut si);
            drop(si);
        })
    });
    let done = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let peak_anon = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, killed, peak_anon) = (done.clone(), killed.clone(), peak_anon.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(k) = rss_anon_kb(pid) {
                    peak_anon.fetch_max(k, Ordering::SeqCst);
                }
                if start.elapsed() > guard && !killed.swap(true, Ordering::SeqCst) {
                    // SAFETY: plain kill(2) of our own child.
                    unsafe {
                        libc::kill(pid as i32, libc::SIGKILL);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; `child` is never waited on through std.
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
    assert_eq!(r, pid as i32, "wait4 failed");
    done.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    if let Some(t) = t_in {
        let _ = t.join();
    }
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    Measured {
        code,
        stdout,
        stderr,
        max_rss_kb: ru.ru_maxrss as u64,
        max_anon_kb: peak_anon.load(Ordering::SeqCst),
        elapsed: start.elapsed(),
        killed: killed.load(Ordering::SeqCst),
    }
}

/// A `firebreak` command with colour and progress off and logs quiet.
pub fn firebreak() -> Command {
    let mut c = Command::new(bin());
    c.env("NO_COLOR", "1").env("CI", "1").env_remove("RUST_LOG");
    c
}
