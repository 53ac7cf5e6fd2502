//! Field mappings as data (the role of pySigma's processing pipelines) and the fields each
//! log source's records can hold.
//!
//! One YAML file per source in `crates/hunt/mappings/<source>.yml`, embedded in the binary:
//!
//! ```yaml
//! source: gcp              # the `--source` name
//! open: false              # true: records hold fields not listed (free-form logs)
//! fields:                  # raw paths records can hold; `x.*` = anything under `x`
//!   - protoPayload.methodName
//!   - protoPayload.request.*
//! arrays:                  # paths that hold arrays (searched element by element)
//!   - protoPayload.authorizationInfo
//! mappings:                # a name SigmaHQ's rules use -> raw path(s), tried in order
//!   gcp.audit.method_name: protoPayload.methodName
//!   DeviceDetail.*: properties.deviceDetail.*   # a prefix: the rest of the name is kept
//! ```
//!
//! A rule's field is looked up as written first; when the record has no value there,
//! the mapped raw paths are tried in order, and the first that has a (non-null) value is
//! used (SQL `COALESCE`). A record that literally holds the Sigma name (an ECS-shaped
//! record) still matches as before; a raw export now matches too.

use crate::source::{SourceKind, ALL_SOURCES};
use serde_yaml_ng::Value as Y;
use std::collections::HashMap;
use std::sync::OnceLock;

/// What firebreak knows of one source's records: the fields they can hold and the names
/// SigmaHQ's rules use for them.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The source.
    pub source: SourceKind,
    /// Records may hold fields not listed (free-form logs): no field is unknown.
    pub open: bool,
    /// Raw paths records can hold (`x.*`: anything under `x`).
    pub fields: Vec<String>,
    /// Paths that hold arrays.
    pub arrays: Vec<String>,
    /// Sigma name (or `prefix.*`) -> raw paths, in file order.
    pub mappings: Vec<(String, Vec<String>)>,
}

/// The data files: (source, YAML text).
pub const MAPPING_FILES: &[(SourceKind, &str)] = &[
    (SourceKind::Cloudtrail, include_str!("../mappings/cloudtrail.yml")),
    (SourceKind::Github, include_str!("../mappings/github.yml")),
    (SourceKind::Circleci, include_str!("../mappings/circleci.yml")),
    (SourceKind::Gcp, include_str!("../mappings/gcp.yml")),
    (
        SourceKind::AzureSignin,
        include_str!("../mappings/azure-signin.yml"),
    ),
    (
        SourceKind::AzureActivity,
        include_str!("../mappings/azure-activity.yml"),
    ),
    (SourceKind::Firebreak, include_str!("../mappings/firebreak.yml")),
    (
        SourceKind::AzureAudit,
        include_str!("../mappings/azure-audit.yml"),
    ),
    (SourceKind::AzureRisk, include_str!("../mappings/azure-risk.yml")),
    (SourceKind::M365, include_str!("../mappings/m365.yml")),
    (
        SourceKind::GoogleWorkspace,
        include_str!("../mappings/google-workspace.yml"),
    ),
    (SourceKind::Okta, include_str!("../mappings/okta.yml")),
    (SourceKind::AzurePim, include_str!("../mappings/azure-pim.yml")),
];

/// The schema of a source.
pub fn schema(src: SourceKind) -> &'static Schema {
    static ALL: OnceLock<HashMap<SourceKind, Schema>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let mut m = HashMap::new();
        for (src, text) in MAPPING_FILES {
            let s = parse_schema(*src, text).unwrap_or_else(|e| panic!("mappings/{src}.yml: {e}"));
            m.insert(*src, s);
        }
        for s in ALL_SOURCES {
            m.entry(s).or_insert_with(|| Schema {
                source: s,
                open: true,
                fields: Vec::new(),
                arrays: Vec::new(),
                mappings: Vec::new(),
            });
        }
        m
    });
    &all[&src]
}

fn strings(v: Option<&Y>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Y::Null) => Ok(Vec::new()),
        Some(Y::String(s)) => Ok(vec![s.clone()]),
        Some(Y::Sequence(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or(format!("{what}: not a string"))
            })
            .collect(),
        Some(_) => Err(format!("{what}: a string or a list of strings")),
    }
}

/// Parses one mapping file (see the module docs for the format).
pub fn parse_schema(src: SourceKind, text: &str) -> Result<Schema, String> {
    let v: Y = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let name = v.get("source").and_then(|s| s.as_str()).unwrap_or_default();
    if name != src.name() {
        return Err(format!("`source: {name}` is not {}", src.name()));
    }
    let mut mappings = Vec::new();
    if let Some(m) = v.get("mappings") {
        let m = m.as_mapping().ok_or("`mappings` must be a mapping")?;
        for (k, to) in m {
            let k = k.as_str().ok_or("mapping keys must be strings")?.to_string();
            let to = strings(Some(to), &k)?;
            if k.ends_with(".*") != to.iter().all(|t| t.ends_with(".*")) {
                return Err(format!("{k}: a prefix (`x.*`) maps to prefixes only"));
            }
            mappings.push((k, to));
        }
    }
    Ok(Schema {
        source: src,
        open: v.get("open").and_then(|o| o.as_bool()).unwrap_or(false),
        fields: strings(v.get("fields"), "fields")?,
        arrays: strings(v.get("arrays"), "arrays")?,
        mappings,
    })
}

impl Schema {
    /// The raw paths mapped to a Sigma field name, in order (without the name itself).
    pub fn alternatives(&self, field: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, to) in &self.mappings {
            if k == field {
                out.extend(to.iter().cloned());
            } else if let Some(pre) = k.strip_suffix('*') {
                if let Some(rest) = field.strip_prefix(pre).filter(|r| !r.is_empty()) {
                    out.extend(to.iter().map(|t| format!("{}{rest}", &t[..t.len() - 1])));
                }
            }
        }
        let mut seen = vec![field.to_string()];
        out.retain(|p| {
            let new = !seen.contains(p);
            seen.push(p.clone());
            new
        });
        out
    }

    /// True when records of this source can hold `path` (listed, under a listed `x.*`,
    /// or an object holding a listed field), or the source is open.
    pub fn knows(&self, path: &str) -> bool {
        self.open || self.lists(path)
    }

    /// True when `path` is listed (whatever `open` says).
    pub fn lists(&self, path: &str) -> bool {
        self.fields.iter().any(|f| {
            if let Some(pre) = f.strip_suffix(".*") {
                path == pre || path.strip_prefix(pre).is_some_and(|r| r.starts_with('.'))
            } else {
                f == path || f.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
            }
        })
    }

    /// True when the field, as written or through a mapping, can hold a value.
    pub fn resolves(&self, field: &str) -> bool {
        self.knows(field) || self.alternatives(field).iter().any(|p| self.knows(p))
    }

    /// True when the listed fields say `path` holds an object: a field under it is
    /// listed (`path.x`, or `path.*`). (`x.*` alone says nothing of what `x.y` holds.)
    pub fn holds_object(&self, path: &str) -> bool {
        self.fields.iter().any(|f| {
            f.strip_prefix(path)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|r| !r.is_empty())
        })
    }

    /// The array-holding path `path` goes through or ends at, if any.
    pub fn array_on(&self, path: &str) -> Option<&str> {
        self.arrays
            .iter()
            .find(|a| path == a.as_str() || path.strip_prefix(a.as_str()).is_some_and(|r| r.starts_with('.')))
            .map(|a| a.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_has_a_valid_file_whose_mappings_resolve() {
        for s in ALL_SOURCES {
            assert!(MAPPING_FILES.iter().any(|(k, _)| *k == s), "no mappings/{s}.yml");
            let sc = schema(s);
            for (k, to) in &sc.mappings {
                for t in to {
                    let probe = t
                        .strip_suffix(".*")
                        .map(|p| format!("{p}.x"))
                        .unwrap_or(t.clone());
                    assert!(sc.lists(&probe), "{s}: {k} -> {t}: not a listed field");
                }
            }
        }
    }

    #[test]
    fn alternatives_exact_and_prefix() {
        let s = parse_schema(
            SourceKind::AzureSignin,
            "source: azure-signin\nfields: [properties.*, resultType]\narrays: [properties.riskEventTypes_v2]\nmappings:\n  ResultType: [resultType, properties.status.errorCode]\n  DeviceDetail.*: properties.deviceDetail.*\n",
        )
        .unwrap();
        assert_eq!(
            s.alternatives("ResultType"),
            ["resultType", "properties.status.errorCode"]
        );
        assert_eq!(
            s.alternatives("DeviceDetail.isCompliant"),
            ["properties.deviceDetail.isCompliant"]
        );
        assert!(s.alternatives("DeviceDetail").is_empty());
        assert!(s.resolves("DeviceDetail.deviceId"));
        assert!(!s.resolves("Status"));
        assert!(s.knows("properties"));
        assert!(!s.knows("prop"));
        assert_eq!(
            s.array_on("properties.riskEventTypes_v2"),
            Some("properties.riskEventTypes_v2")
        );
        assert_eq!(s.array_on("properties.riskEventTypes"), None);
        assert!(s.holds_object("properties"));
        assert!(!s.holds_object("properties.status"));
        assert!(!s.holds_object("resultType"));
        assert!(parse_schema(SourceKind::Gcp, "source: github\n").is_err());
        assert!(parse_schema(SourceKind::Gcp, "source: gcp\nmappings: {a.*: b}\n").is_err());
    }
}
