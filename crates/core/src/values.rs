//! Values the responder holds (`--values FILE`): `NAME=VALUE` lines, read once and kept in
//! memory only, as [`SecretString`]s. Used by `incident init` (blast radius), `validate`
//! and `revoke`. Never stored, never printed.

use crate::SecretString;
use std::collections::BTreeMap;

/// `NAME=VALUE` lines (optional `export `, optional quotes, `#` comments).
#[derive(Debug, Default, Clone)]
pub struct Values {
    by_name: BTreeMap<String, (SecretString, usize)>,
}

impl Values {
    /// Parses `NAME=VALUE` lines. Returns the values and the 1-based numbers of lines that
    /// could not be read. A name given twice keeps its last value.
    pub fn parse(text: &str) -> (Values, Vec<usize>) {
        let mut v = Values::default();
        let mut bad = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let l = l.strip_prefix("export ").unwrap_or(l);
            match l.split_once('=') {
                Some((k, val)) if !k.trim().is_empty() && !k.contains(char::is_whitespace) => {
                    let val = val.trim();
                    let val = val
                        .strip_prefix('"')
                        .and_then(|x| x.strip_suffix('"'))
                        .or_else(|| val.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                        .unwrap_or(val);
                    v.by_name
                        .insert(k.trim().to_string(), (SecretString::new(val), i + 1));
                }
                _ => bad.push(i + 1),
            }
        }
        (v, bad)
    }
    /// Adds (or replaces) one value read from `line`.
    pub fn insert(&mut self, name: &str, value: SecretString, line: usize) {
        self.by_name.insert(name.to_string(), (value, line));
    }
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.by_name.get(name).map(|(v, _)| v)
    }
    /// The 1-based line `name` was read from.
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).map(|(_, l)| *l)
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
    /// Names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
    /// `(name, value, line)`, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString, usize)> {
        self.by_name.iter().map(|(k, (v, l))| (k.as_str(), v, *l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_names_bad_ones() {
        let (v, bad) = Values::parse("# c\nexport A=1\nB=\"two\"\nnot a line\nC='x=y'\n");
        assert_eq!(v.len(), 3);
        assert_eq!(v.get("B").unwrap().expose(), "two");
        assert_eq!(v.get("C").unwrap().expose(), "x=y");
        assert_eq!(v.line_of("A"), Some(2));
        assert_eq!(bad, vec![4]);
    }
}
