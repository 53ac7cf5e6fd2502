//! The simulator's banner says everything a new user needs: the walk-through it prints
//! (its tokens, organisation and the inventory command) returns a non-empty snapshot.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn the_banner_walk_through_inventories_something() {
    let bin = env!("CARGO_BIN_EXE_firebreak");
    let mut child = Command::new(bin)
        .args(["simulate", "--port", "0", "--projects", "3"])
        .env_remove("FIREBREAK_SIM_CIRCLECI_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    for _ in 0..8 {
        banner.push(lines.next().unwrap().unwrap());
    }
    let text = banner.join("\n");
    let token = banner
        .iter()
        .find_map(|l| l.strip_prefix("export CIRCLECI_TOKEN="))
        .unwrap_or_else(|| panic!("no CircleCI token in the banner:\n{text}"));
    let example = banner
        .iter()
        .find_map(|l| l.strip_prefix("e.g. firebreak "))
        .unwrap_or_else(|| panic!("no example command in the banner:\n{text}"));
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(bin)
        .args(example.split_whitespace())
        .args(["--format", "json", "--store"])
        .arg(dir.path().join("fb.db"))
        .env("CIRCLECI_TOKEN", token)
        .env_remove("FIREBREAK_STORE")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let items = out.matches("\"env_var\"").count();
    assert!(
        items > 0,
        "the banner's walk-through found nothing:\n{text}\n{out}"
    );
}
