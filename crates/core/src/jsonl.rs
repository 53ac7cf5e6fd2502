//! Reading the JSON outputs firebreak writes (and users hand back): one JSON document
//! holding an array under a key (`{"items": [...]}`, `{"findings": [...]}`), a bare JSON
//! array, or JSON Lines. Every record keeps its position (1-based line, or position in
//! the array) so that a malformed one is named, counted and skipped, never fatal.

use serde_json::Value;

/// The records of `text` with their positions, and the positions of records that are
/// not JSON objects. A document whose array sits under `key` is read as that array; any
/// other single JSON document that is not an array is read as JSON Lines (its one line).
pub fn records(text: &str, key: &str) -> (Vec<(usize, Value)>, Vec<usize>) {
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(doc) = serde_json::from_str::<Value>(t) {
            let array = match doc {
                Value::Array(a) => Some(a),
                Value::Object(mut o) => match o.remove(key) {
                    Some(Value::Array(a)) => Some(a),
                    _ => None,
                },
                _ => None,
            };
            if let Some(a) = array {
                let mut vals = Vec::with_capacity(a.len());
                let mut bad = Vec::new();
                for (i, v) in a.into_iter().enumerate() {
                    if v.is_object() {
                        vals.push((i + 1, v));
                    } else {
                        bad.push(i + 1);
                    }
                }
                return (vals, bad);
            }
        }
    }
    let mut vals = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => vals.push((i + 1, v)),
            _ => bad.push(i + 1),
        }
    }
    (vals, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_arrays_and_lines_with_positions() {
        let (v, bad) = records(
            "{\"items\": [{\"a\": 1}, 2, {\"a\": 3}], \"errors\": []}",
            "items",
        );
        assert_eq!(v.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(bad, vec![2]);
        let (v, bad) = records("[{\"a\":1}]", "items");
        assert_eq!((v.len(), bad.len()), (1, 0));
        let (v, bad) = records("{\"a\":1}\n\nnot json\n[1]\n{\"b\":2}\n", "items");
        assert_eq!(v.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(bad, vec![3, 4]);
        // a one-line JSON Lines file without the key is a record, not a document
        let (v, _) = records("{\"findings\": 3}\n", "items");
        assert_eq!(v.len(), 1);
    }
}
