//! Randomness checks used to gate generic rules.

/// Shannon entropy in bits per byte of `s`.
pub fn shannon(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// True for values that are obviously not real secrets: empty, templated
/// (`${{ secrets.X }}`, `${VAR}`, `{{ x }}`, `<your-token>`), repeated
/// characters (`xxxxxxxx`, `********`) or well-known placeholder words.
pub fn is_placeholder(value: &[u8]) -> bool {
    let v = match std::str::from_utf8(value) {
        Ok(v) => v.trim(),
        Err(_) => return false,
    };
    if v.len() < 4 {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("${")
        || lower.starts_with("$(")
        || lower.starts_with("{{")
        || lower.starts_with("%(")
        || (lower.starts_with('<') && lower.ends_with('>'))
        || (lower.starts_with('$') && lower[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        || lower.contains("${{")
    {
        return true;
    }
    let first = v.as_bytes()[0];
    if v.bytes().all(|b| b == first) {
        return true;
    }
    let distinct = {
        let mut seen = [false; 256];
        v.bytes()
            .filter(|&b| !std::mem::replace(&mut seen[b as usize], true))
            .count()
    };
    if distinct <= 2 {
        return true;
    }
    const WORDS: &[&str] = &[
        "your_",
        "your-",
        "yourtoken",
        "yourpassword",
        "yourkey",
        "placeholder",
        "changeme",
        "change_me",
        "example",
        "redacted",
        "xxxxxx",
        "******",
        "dummy",
        "replace_me",
        "replaceme",
        "insert_",
        "todo",
        "<token>",
        "<secret>",
        "password123",
        "notasecret",
        "not_a_secret",
        "sample",
    ];
    WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_orders_randomness() {
        assert_eq!(shannon(b"aaaa"), 0.0);
        assert!(shannon(b"abcd") > 1.9);
        assert!(shannon(b"q8Zr2LmX9vTa") > shannon(b"passwordpass"));
    }

    #[test]
    fn placeholders() {
        for p in [
            "",
            "${{ secrets.TOKEN }}",
            "<your-token-here>",
            "xxxxxxxx",
            "${API_KEY}",
            "$API_KEY",
            "changeme",
            "********",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        for s in ["q8Zr2LmX9vTa7Kp", "AKIAZ7Q3VOWRL4JD5NQK"] {
            assert!(!is_placeholder(s.as_bytes()), "{s}");
        }
    }
}
