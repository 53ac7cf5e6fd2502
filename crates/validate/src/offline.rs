//! Checks that need no request.
//!
//! PyPI API tokens are macaroons (`pypi-` + base64url of the binary v2 format): their
//! caveats say which projects the token may upload to and when it expires. PyPI has no
//! read-only endpoint that proves a token live, so an unexpired token is `unknown` (with
//! what its caveats say) and an expired one `dead`.

use crate::engine::{verdict, Inputs};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use firebreak_core::{Validation, ValidationStatus};
use serde_json::Value;

/// A decoded macaroon: its location, identifier and first-party caveats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macaroon {
    /// Location (e.g. `pypi.org`).
    pub location: String,
    /// Identifier (PyPI: the token's id).
    pub identifier: Vec<u8>,
    /// First-party caveat identifiers.
    pub caveats: Vec<Vec<u8>>,
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Reads fields until EOS: `(type, data)` pairs.
fn section(b: &[u8], pos: &mut usize) -> Option<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    loop {
        let t = varint(b, pos)?;
        if t == 0 {
            return Some(out);
        }
        let n = usize::try_from(varint(b, pos)?).ok()?;
        let end = pos.checked_add(n)?;
        let data = b.get(*pos..end)?.to_vec();
        *pos = end;
        out.push((t, data));
        if out.len() > 64 {
            return None;
        }
    }
}

/// Decodes a macaroon in the binary v2 format (what PyPI issues).
pub fn decode_macaroon(b64: &str) -> Option<Macaroon> {
    let eng = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let b = eng.decode(b64.trim()).ok()?;
    if b.first() != Some(&2) {
        return None;
    }
    let mut pos = 1;
    let head = section(&b, &mut pos)?;
    let mut m = Macaroon {
        location: String::new(),
        identifier: Vec::new(),
        caveats: Vec::new(),
    };
    for (t, d) in head {
        match t {
            1 => m.location = String::from_utf8_lossy(&d).into_owned(),
            2 => m.identifier = d,
            _ => {}
        }
    }
    loop {
        if *b.get(pos)? == 0 {
            pos += 1;
            break;
        }
        let c = section(&b, &mut pos)?;
        let first_party = !c.iter().any(|(t, _)| *t == 4);
        if let Some((_, id)) = c.into_iter().find(|(t, _)| *t == 2) {
            if first_party {
                m.caveats.push(id);
            }
        }
        if m.caveats.len() > 64 {
            return None;
        }
    }
    // the signature field (type 6, 32 bytes) closes it
    let t = varint(&b, &mut pos)?;
    let n = varint(&b, &mut pos)?;
    if t != 6 || n != 32 {
        return None;
    }
    Some(m)
}

/// What PyPI's caveats say: `(projects, expires, not_before, user)`.
fn read_caveats(
    m: &Macaroon,
    identity: &mut std::collections::BTreeMap<String, Value>,
) -> (Option<i64>, Option<i64>) {
    let (mut exp, mut nbf) = (None, None);
    for c in &m.caveats {
        let Ok(v) = serde_json::from_slice::<Value>(c) else {
            continue;
        };
        match &v {
            // current format: [tag, ...]
            Value::Array(a) => match a.first().and_then(Value::as_i64) {
                Some(0) => {
                    exp = a.get(1).and_then(Value::as_i64);
                    nbf = a.get(2).and_then(Value::as_i64);
                }
                Some(1) => {
                    identity.insert("projects".into(), a.get(1).cloned().unwrap_or(Value::Null));
                }
                Some(2) => {
                    identity.insert("project_ids".into(), a.get(1).cloned().unwrap_or(Value::Null));
                }
                Some(3) => {
                    identity.insert("user_id".into(), a.get(1).cloned().unwrap_or(Value::Null));
                }
                _ => {}
            },
            // legacy format
            Value::Object(o) => {
                if let Some(p) = o.get("permissions") {
                    match p {
                        Value::String(s) if s == "user" => {
                            identity.insert("scope".into(), "user (every project of the account)".into());
                        }
                        Value::Object(po) => {
                            if let Some(pr) = po.get("projects") {
                                identity.insert("projects".into(), pr.clone());
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(e) = o.get("exp").and_then(Value::as_i64) {
                    exp = Some(e);
                }
                if let Some(n) = o.get("nbf").and_then(Value::as_i64) {
                    nbf = Some(n);
                }
            }
            _ => {}
        }
    }
    (exp, nbf)
}

pub(crate) fn pypi(id: &str, inputs: &Inputs) -> Validation {
    let Some(tok) = inputs.get("token") else {
        return verdict(id, ValidationStatus::Unknown, Some("no token".into()));
    };
    let Some(body) = tok.expose().strip_prefix("pypi-") else {
        return verdict(
            id,
            ValidationStatus::Error,
            Some("not a PyPI token (no pypi- prefix)".into()),
        );
    };
    let Some(m) = decode_macaroon(body) else {
        return verdict(
            id,
            ValidationStatus::Error,
            Some("not a well-formed macaroon (binary v2 format)".into()),
        );
    };
    let mut v = verdict(id, ValidationStatus::Unknown, None);
    v.identity.insert("location".into(), m.location.clone().into());
    if let Ok(s) = std::str::from_utf8(&m.identifier) {
        if s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic()) {
            v.identity.insert("token_id".into(), s.into());
        }
    }
    let (exp, nbf) = read_caveats(&m, &mut v.identity);
    let ts = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339());
    if let Some(e) = exp {
        v.identity
            .insert("expires_at".into(), ts(e).unwrap_or_default().into());
    }
    if !v.identity.contains_key("projects")
        && !v.identity.contains_key("scope")
        && !v.identity.contains_key("project_ids")
    {
        v.identity
            .insert("scope".into(), "user (no project restriction)".into());
    }
    let now = chrono::Utc::now().timestamp();
    match exp {
        Some(e) if e < now => {
            v.status = ValidationStatus::Dead;
            v.reason = Some(format!(
                "expired at {} (macaroon caveat, decoded offline)",
                ts(e).unwrap_or_default()
            ));
        }
        _ => {
            v.reason = Some(match nbf {
                Some(n) if n > now => "not valid yet (macaroon caveat); PyPI has no read-only check".into(),
                _ => "caveats decoded offline; PyPI documents no read-only check, so liveness is not proven"
                    .into(),
            });
        }
    }
    v
}

/// Builds a v2 macaroon (tests and examples): location, identifier, caveats, a zero signature.
pub fn encode_macaroon(location: &str, identifier: &[u8], caveats: &[&[u8]]) -> String {
    fn field(out: &mut Vec<u8>, t: u8, d: &[u8]) {
        out.push(t);
        let mut n = d.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(d);
    }
    let mut b = vec![2u8];
    field(&mut b, 1, location.as_bytes());
    field(&mut b, 2, identifier);
    b.push(0);
    for c in caveats {
        field(&mut b, 2, c);
        b.push(0);
    }
    b.push(0);
    field(&mut b, 6, &[0u8; 32]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::SecretString;

    fn tok(caveats: &[&[u8]]) -> Inputs {
        Inputs::one(
            "token",
            SecretString::new(format!(
                "pypi-{}",
                encode_macaroon("pypi.org", b"0e6b1d2c-6a43-4b3e-9a8f-3f1f5d0c1a2b", caveats)
            )),
        )
    }

    #[test]
    fn pypi_tokens_start_like_pypi_tokens() {
        // every PyPI token starts `pypi-AgEIcHlwaS5vcmc` (v2, location pypi.org)
        let t = tok(&[]);
        assert!(t
            .get("token")
            .unwrap()
            .expose()
            .starts_with("pypi-AgEIcHlwaS5vcmc"));
    }

    #[test]
    fn project_scoped_and_expired_tokens() {
        let future = chrono::Utc::now().timestamp() + 3600;
        let v = pypi(
            "pypi.token",
            &tok(&[br#"[1,["firebreak-demo"]]"#, format!("[0,{future},0]").as_bytes()]),
        );
        assert_eq!(v.status, ValidationStatus::Unknown);
        assert_eq!(v.identity["projects"], serde_json::json!(["firebreak-demo"]));
        assert!(v.identity.contains_key("expires_at"));
        let v = pypi(
            "pypi.token",
            &tok(&[
                br#"{"version": 1, "permissions": {"projects": ["a"]}}"#,
                br#"{"exp": 1000, "nbf": 0}"#,
            ]),
        );
        assert_eq!(v.status, ValidationStatus::Dead, "{v:?}");
        assert_eq!(v.identity["projects"], serde_json::json!(["a"]));
        let v = pypi("pypi.token", &tok(&[br#"{"version": 1, "permissions": "user"}"#]));
        assert!(v.identity["scope"].as_str().unwrap().starts_with("user"));
    }

    #[test]
    fn malformed_tokens_are_errors_not_dead() {
        for t in ["pypi-AgEI", "pypi-!!!!", "pypi-", "pypi-AQ"] {
            let v = pypi("pypi.token", &Inputs::one("token", SecretString::new(t)));
            assert_eq!(v.status, ValidationStatus::Error, "{t}");
        }
    }
}
