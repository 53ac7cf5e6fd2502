//! A borrowed JSON tree: strings without escapes point into the input buffer, objects
//! are small vectors (records have a few dozen keys), and top-level keys that no rule
//! or normaliser needs are skipped without allocating.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// A JSON value borrowing from the record's bytes where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer larger than `i64::MAX`.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Node<'a>>),
    /// An object, keys in document order.
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a dotted path (`userIdentity.sessionContext.attributes.mfaAuthenticated`).
    /// Arrays on the way are searched element by element; every value reached is passed to `f`.
    /// A key that itself contains dots (`protoPayload.@type`) is found too: the longest key
    /// prefix that exists wins.
    pub fn visit_path<'s>(&'s self, path: &str, f: &mut dyn FnMut(&'s Node<'a>)) {
        if path.is_empty() {
            f(self);
            return;
        }
        match self {
            Node::Obj(m) => {
                for (k, v) in m {
                    if let Some(rest) = path.strip_prefix(k.as_ref()) {
                        if rest.is_empty() {
                            f(v);
                        } else if let Some(rest) = rest.strip_prefix('.') {
                            v.visit_path(rest, f);
                        }
                    }
                }
            }
            Node::Arr(items) => {
                for it in items {
                    it.visit_path(path, f);
                }
            }
            _ => {}
        }
    }

    /// The first value at `path`, if any: a member whose key is `path` itself (dots
    /// included) first, then the dotted path.
    pub fn path<'s>(&'s self, path: &str) -> Option<&'s Node<'a>> {
        if let Some(v) = self.get(path) {
            return Some(v);
        }
        let mut out = None;
        self.visit_path(path, &mut |n| {
            if out.is_none() {
                out = Some(n);
            }
        });
        out
    }

    /// The string form of the first scalar at `path` (numbers and booleans formatted).
    pub fn path_str(&self, path: &str) -> Option<Cow<'_, str>> {
        self.path(path).and_then(|n| n.scalar_str())
    }

    /// The string form of a scalar; `None` for null, arrays and objects.
    pub fn scalar_str(&self) -> Option<Cow<'_, str>> {
        match self {
            Node::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Node::Int(i) => Some(Cow::Owned(i.to_string())),
            Node::UInt(u) => Some(Cow::Owned(u.to_string())),
            Node::Float(x) => Some(Cow::Owned(fmt_float(*x))),
            Node::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// The text a Sigma value is matched against: a scalar's string form
    /// ([`Node::scalar_str`]), an object's or array's compact JSON text (members in
    /// document order, as DuckDB's `json_extract_string` renders them); `None` for null.
    pub fn match_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Node::Null => None,
            Node::Obj(_) | Node::Arr(_) => {
                let mut out = String::new();
                self.write_json(&mut out);
                Some(Cow::Owned(out))
            }
            other => other.scalar_str(),
        }
    }

    /// Appends the compact JSON text of the value (object members in document order;
    /// numbers as `serde_json` writes them: `7.0` stays `7.0`).
    pub fn write_json(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::UInt(u) => out.push_str(&u.to_string()),
            Node::Float(x) => out.push_str(&serde_json::Value::from(*x).to_string()),
            Node::Str(s) => out.push_str(&serde_json::Value::String(s.to_string()).to_string()),
            Node::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Node::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.to_string()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The numeric value of a number or numeric string.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Node::Int(i) => Some(*i as f64),
            Node::UInt(u) => Some(*u as f64),
            Node::Float(x) => Some(*x),
            Node::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Converts to an owned `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::UInt(u) => Value::from(*u),
            Node::Float(x) => Value::from(*x),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Arr(a) => Value::Array(a.iter().map(|n| n.to_value()).collect()),
            Node::Obj(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect()),
        }
    }
}

/// Formats a float like JSON would (integral floats without `.0`).
pub fn fmt_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Parses one JSON value fully.
pub fn parse(bytes: &[u8]) -> Result<Node<'_>, serde_json::Error> {
    parse_filtered(bytes, None)
}

/// Parses one JSON value; when `keep` is given and the value is an object, only its
/// top-level members named in `keep` are materialised (others are skipped).
pub fn parse_filtered<'a>(
    bytes: &'a [u8],
    keep: Option<&HashSet<String>>,
) -> Result<Node<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let n = NodeSeed { keep }.deserialize(&mut de)?;
    de.end()?;
    Ok(n)
}

impl<'de> de::Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        NodeSeed { keep: None }.deserialize(d)
    }
}

struct NodeSeed<'k> {
    keep: Option<&'k HashSet<String>>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(NodeVisitor { keep: self.keep })
    }
}

struct NodeVisitor<'k> {
    keep: Option<&'k HashSet<String>>,
}

struct KeySeed;
impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        struct KV;
        impl<'de> Visitor<'de> for KV {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(KV)
    }
}

impl<'de> Visitor<'de> for NodeVisitor<'_> {
    type Value = Node<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(i64::try_from(v).map(Node::Int).unwrap_or(Node::UInt(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Node::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(n) = seq.next_element_seed(NodeSeed { keep: None })? {
            v.push(n);
        }
        Ok(Node::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut v = Vec::with_capacity(8);
        while let Some(k) = map.next_key_seed(KeySeed)? {
            if let Some(keep) = self.keep {
                if !keep.contains(k.as_ref()) {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            }
            let val = map.next_value_seed(NodeSeed { keep: None })?;
            v.push((k, val));
        }
        Ok(Node::Obj(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_and_walks_paths() {
        let src = br#"{"a":{"b":[{"c":1},{"c":"x"}]},"p.q":{"r":true},"s":"e\"s"}"#;
        let n = parse(src).unwrap();
        let mut seen = vec![];
        n.visit_path("a.b.c", &mut |v| seen.push(v.scalar_str().unwrap().to_string()));
        assert_eq!(seen, ["1", "x"]);
        assert_eq!(n.path_str("p.q.r").unwrap(), "true");
        assert_eq!(n.path_str("s").unwrap(), "e\"s");
        let keep: HashSet<String> = ["s".to_string()].into();
        let f = parse_filtered(src, Some(&keep)).unwrap();
        assert!(f.get("a").is_none());
        assert!(f.get("s").is_some());
    }

    #[test]
    fn objects_and_arrays_match_as_compact_json_in_document_order() {
        let n = parse(br#"{"o":{"z":1.0,"a":"\u00e9 \"q\" \/","n":null,"l":[1,2e3,true]},"s":"x"}"#).unwrap();
        assert_eq!(
            n.get("o").unwrap().match_text().unwrap(),
            r#"{"z":1.0,"a":"é \"q\" /","n":null,"l":[1,2000.0,true]}"#
        );
        assert_eq!(n.get("s").unwrap().match_text().unwrap(), "x");
        assert_eq!(Node::Null.match_text(), None);
    }
}
