//! `firebreak-fuzz-seeds [DIR] [TARGET...]`: writes the seed corpus of each target (all by
//! default) into `DIR/<target>/` (default `fuzz/corpus`). Run by `scripts/fuzz`.

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| firebreak_adversarial::repo_root().join("fuzz/corpus"));
    let names: Vec<String> = args.collect();
    let mut failed = false;
    for t in firebreak_adversarial::targets::TARGETS {
        if !names.is_empty() && !names.iter().any(|n| n == t.name) {
            continue;
        }
        match firebreak_adversarial::seeds::write_corpus(t.name, &dir) {
            Ok(n) => println!("{}: {n} seeds", t.name),
            Err(e) => {
                eprintln!("{}: cannot write seeds under {}: {e}", t.name, dir.display());
                failed = true;
            }
        }
    }
    for n in &names {
        if firebreak_adversarial::targets::find(n).is_none() {
            eprintln!("unknown target {n}");
            failed = true;
        }
    }
    std::process::exit(i32::from(failed) * 2);
}
