//! Embeds every rule file (`*.yml`, `*.yaml`) under the package's `rules/` into the binary
//! as its built-in pack, deflated (firebreak-scan's converted to JSON first). Shared by firebreak-scan and firebreak-hunt (`build = "../scan/build.rs"`).
// The pattern analysis firebreak-scan runs on user rules, run here on the
// built-in ones (firebreak-hunt shares this script and does not use it).
// (It uses part of the module: the rest is dead code here.)
#[path = "src/analysis.rs"]
#[allow(dead_code)]
mod analysis;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("rules dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

fn main() {
    // Read when the script runs, not when it was compiled: a build script binary
    // can be reused for a checkout at another path (a shared target dir).
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR set by cargo");
    let root = Path::new(&manifest_dir).join("rules");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    // firebreak-scan's rules are embedded as JSON, converted here: the YAML
    // parser took 26 ms of every scan's start-up for the 1,000-rule pack, JSON
    // takes a few. JSON is YAML too, so the rules check reads either.
    // Every file is stored deflated (the two packs' 1.3 MB of text took 0.55 MB
    // off the stripped binary).
    let as_json = std::env::var("CARGO_PKG_NAME").as_deref() == Ok("firebreak-scan");
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut code = String::from(
        "/// Built-in rule files: (path relative to rules/, deflated contents).\npub static BUILTIN_RULE_FILES: &[(&str, &[u8])] = &[\n",
    );
    // Each built-in rule's pattern analysis: (id, fingerprint, Rust source).
    let mut analyses: Vec<(String, u64, String)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let text = if as_json {
            let value: serde_json::Value =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            for rule in value["rules"].as_array().into_iter().flatten() {
                let id = rule["id"].as_str().unwrap_or_default();
                let pattern = rule["pattern"].as_str().unwrap_or_default();
                let keywords: Vec<String> = rule["keywords"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect();
                let a = analysis::analyze(pattern, &keywords)
                    .unwrap_or_else(|e| panic!("{}: rule {id}: {e}", f.display()));
                analyses.push((
                    id.to_string(),
                    analysis::fingerprint(pattern, &keywords),
                    a.to_rust(),
                ));
            }
            serde_json::to_string(&value).expect("JSON")
        } else {
            text
        };
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(text.as_bytes()).expect("deflate");
        let packed = out_dir.join(format!("rule-file-{i}.deflate"));
        std::fs::write(&packed, z.finish().expect("deflate")).expect("write");
        writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            packed.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    code.push_str(
        "\n/// An embedded rule file's text (stored deflated by the build script).\n\
         pub(crate) fn inflate(z: &[u8]) -> String {\n\
         \x20   use std::io::Read as _;\n\
         \x20   let mut text = String::new();\n\
         \x20   flate2::read::DeflateDecoder::new(z)\n\
         \x20       .read_to_string(&mut text)\n\
         \x20       .expect(\"the build script deflates valid UTF-8\");\n\
         \x20   text\n\
         }\n",
    );
    let out = out_dir.join("builtin_rules.rs");
    std::fs::write(out, code).unwrap();
    if as_json {
        analyses.sort();
        let mut code = String::from(
            "/// The built-in rules' pattern analyses, made by the build script: (rule id,\n\
             /// fingerprint of its pattern and keywords, analysis), sorted by id.\n\
             pub(crate) static BUILTIN_ANALYSES: &[(&str, u64, Embedded)] = &[\n",
        );
        for (id, print, a) in &analyses {
            writeln!(code, "    ({id:?}, {print:#x}, {a}),").unwrap();
        }
        code.push_str("];\n");
        std::fs::write(out_dir.join("builtin_analysis.rs"), code).unwrap();
    }
}
