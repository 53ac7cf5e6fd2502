//! Every validator a built-in scan rule names exists in the built-in catalogue, and
//! accepts the secret the rule finds in its own examples as one of its inputs (so that
//! `scan --validate` can check what the rule finds).

use std::sync::{Arc, Mutex};

#[test]
fn rules_name_validators_that_exist_and_fit() {
    let cat = firebreak_validate::Catalogue::builtin().unwrap();
    let rules = firebreak_scan::rules::builtin_defs().unwrap();
    let mut named = 0;
    let mut problems = Vec::new();
    for (origin, r) in &rules {
        let Some(id) = &r.validator else { continue };
        named += 1;
        let Some(v) = cat.get(id) else {
            problems.push(format!("{origin}: rule {}: no validator {id}", r.id));
            continue;
        };
        let set = firebreak_scan::RuleSet::compile(vec![(origin.clone(), r.clone())]).unwrap();
        let found: Arc<Mutex<Vec<String>>> = Arc::default();
        let f2 = found.clone();
        let opts = firebreak_scan::ScanOptions {
            on_secret: Some(Arc::new(move |_f, secret: &[u8]| {
                f2.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(secret).into_owned());
            })),
            ..firebreak_scan::ScanOptions::default()
        };
        let scanner = firebreak_scan::Scanner::new(set, opts);
        for ex in &r.examples {
            found.lock().unwrap().clear();
            scanner.scan_bytes("example", ex.as_bytes());
            for secret in found.lock().unwrap().iter() {
                let fits = (0..v.spec.inputs.len()).any(|i| v.patterns[i].is_some() && v.shape_ok(i, secret));
                if !fits {
                    problems.push(format!(
                        "{origin}: rule {}: the secret of example {ex:?} does not fit validator {id}",
                        r.id
                    ));
                }
            }
        }
    }
    assert!(named >= 20, "only {named} rules name a validator");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
