//! Sigma rules to queries: Athena (CloudTrail `cloudtrail_logs`), BigQuery (GCP audit
//! logs export `cloudaudit_googleapis_com_activity`), KQL (`SigninLogs`, `AzureActivity`)
//! and DuckDB over the raw JSON files. Rules or features a target cannot express are
//! reported with the reason.

use crate::engine::RuleSet;
use crate::sigma::{Cond, FieldCond, Rule, Selection, StrMatch, Unsupported, ValMatch};
use crate::source::SourceKind;
use std::fmt::Write as _;
use std::str::FromStr;

/// A query engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Amazon Athena over the CloudTrail table from the AWS docs (`cloudtrail_logs`).
    Athena,
    /// BigQuery over the Cloud Audit Logs sink (`cloudaudit_googleapis_com_activity`).
    Bigquery,
    /// Kusto (Log Analytics / Sentinel): `SigninLogs`, `AzureActivity`.
    Kql,
    /// DuckDB over the raw exported JSON files.
    Duckdb,
    /// Spark SQL over a view of records (`firebreak_SOURCE`, one JSON text per row in
    /// column `r`) made from the raw exported files by [`spark_setup`].
    Spark,
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "athena" => Ok(Target::Athena),
            "bigquery" => Ok(Target::Bigquery),
            "kql" => Ok(Target::Kql),
            "duckdb" => Ok(Target::Duckdb),
            "spark" => Ok(Target::Spark),
            _ => Err(format!(
                "unknown target {}; one of athena, bigquery, kql, duckdb, spark",
                firebreak_core::secret::quote_untrusted(s)
            )),
        }
    }
}

impl Target {
    /// True when the target engine holds a table (or files) of `src` logs; a rule of
    /// another source has nothing to query there.
    pub fn reads(self, src: SourceKind) -> bool {
        match self {
            Target::Athena => src == SourceKind::Cloudtrail,
            Target::Bigquery => src == SourceKind::Gcp,
            Target::Kql => matches!(src, SourceKind::AzureSignin | SourceKind::AzureActivity),
            Target::Duckdb | Target::Spark => src != SourceKind::Circleci,
        }
    }
}

/// In the reason a rule is not compiled: a field through an array (the native engine and
/// DuckDB match any element; the other targets do not express that).
pub const PER_ELEMENT: &str = "per-element matching is not compiled";

/// In the reason a rule is not compiled: a field that holds an object, which the
/// target's column does not read as JSON text (the native engine and DuckDB match an
/// object as its JSON text; a string compared with it in this target never matches).
pub const OBJECT_TEXT: &str =
    "can never fire in this target: matching an object as its JSON text is not compiled";

/// In the reason a rule is not compiled: the target holds no table of the log source.
pub const NO_TABLE: &str = "table for this log source";

/// Options of the compilers.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Target engine.
    pub target: Target,
    /// Table (Athena, BigQuery) or file glob (DuckDB) to query; defaults per target.
    pub table: Option<String>,
}

/// One compiled query.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compiled {
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Source the query reads.
    pub source: SourceKind,
    /// The boolean filter alone.
    pub filter: String,
    /// The full query.
    pub query: String,
    /// Spark: the statements that make the records view the query reads (run once per
    /// source before its queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
}

/// Compiles every rule of a set; returns the queries and the rules that could not be compiled.
pub fn compile(rules: &RuleSet, opts: &CompileOptions) -> (Vec<Compiled>, Vec<Unsupported>) {
    let mut out = Vec::new();
    let mut unsup = Vec::new();
    for r in &rules.rules {
        let mut any = false;
        let mut reasons = Vec::new();
        for &src in &r.sources {
            match compile_rule(r, src, opts) {
                Ok(c) => {
                    any = true;
                    out.push(c)
                }
                Err(e) => reasons.push(format!("{src}: {e}")),
            }
        }
        if !any {
            unsup.push(Unsupported {
                file: r.file.clone(),
                rule: r.title.clone(),
                reason: reasons.join("; "),
            });
        }
    }
    (out, unsup)
}

/// Compiles one rule for one source.
pub fn compile_rule(r: &Rule, src: SourceKind, opts: &CompileOptions) -> Result<Compiled, String> {
    let t = opts.target;
    if !t.reads(src) {
        return Err(format!("no {t:?} {NO_TABLE}"));
    }
    if r.aggregation.is_some() {
        return Err("count aggregation over a sliding timeframe is only run by the native engine".into());
    }
    let filter = cond(r, &r.cond, src, t)?;
    let table = opts.table.clone();
    let id = sql_str(&r.id);
    let mut setup = None;
    let query = match t {
        Target::Spark => {
            let (id_path, time_path) = record_paths(src);
            setup = Some(spark_setup(src, table.as_deref()));
            format!(
                "SELECT {} AS rule_id, get_json_object(r, '{time_path}') AS event_time, get_json_object(r, '{id_path}') AS event_id, r AS record\nFROM {}\nWHERE {filter};",
                spark_str(&r.id),
                spark_view(src)
            )
        }
        Target::Duckdb => {
            let (from, id_path, time_path) = duckdb_from(src, table.as_deref());
            format!(
                "SELECT {id} AS rule_id, json_extract_string(r, '{time_path}') AS event_time, json_extract_string(r, '{id_path}') AS event_id, r AS record\nFROM {from}\nWHERE {filter};"
            )
        }
        Target::Athena => format!(
            "SELECT {id} AS rule_id, eventtime, eventid, eventsource, eventname, useridentity.arn, sourceipaddress, useragent, errorcode\nFROM {}\nWHERE {filter};",
            table.unwrap_or_else(|| "cloudtrail_logs".into())
        ),
        Target::Bigquery => format!(
            "SELECT {id} AS rule_id, timestamp, insertId, protopayload_auditlog.methodName, protopayload_auditlog.authenticationInfo.principalEmail, protopayload_auditlog.requestMetadata.callerIp\nFROM `{}`\nWHERE {filter};",
            table.unwrap_or_else(|| "PROJECT.DATASET.cloudaudit_googleapis_com_activity".into())
        ),
        Target::Kql => {
            let tbl = table.unwrap_or_else(|| {
                if src == SourceKind::AzureSignin { "SigninLogs" } else { "AzureActivity" }.into()
            });
            format!("{tbl}\n| where {filter}\n| extend rule_id = {}", kql_str(&r.id))
        }
    };
    Ok(Compiled {
        rule_id: r.id.clone(),
        title: r.title.clone(),
        source: src,
        filter,
        query,
        setup,
    })
}

/// The record's id and time paths of a source (JSONPath, `$.a.b`).
pub fn record_paths(src: SourceKind) -> (&'static str, &'static str) {
    let (_, id, time) = duckdb_from(src, None);
    (id, time)
}

/// The Spark view holding a source's records (`firebreak_cloudtrail`...).
pub fn spark_view(src: SourceKind) -> String {
    format!("firebreak_{}", src.name().replace('-', "_"))
}

/// Spark SQL statements that read the raw exported files at `path` (a file, directory or
/// glob; default `logs/`; gzip read by extension) into the view [`spark_view`]: one row
/// per record, its JSON text in column `r`. Each file is read whole and unwrapped the way
/// the native reader does: the source's wrapper (`Records`, `records`, `value`, `items`),
/// a JSON array, JSON Lines, or one document.
pub fn spark_setup(src: SourceKind, path: Option<&str>) -> String {
    let files = format!("{}_files", spark_view(src));
    let wrappers: &[&str] = match src {
        SourceKind::Cloudtrail => &["Records"],
        SourceKind::AzureSignin | SourceKind::AzureActivity => &["records"],
        SourceKind::AzureAudit | SourceKind::AzureRisk => &["records", "value"],
        SourceKind::GoogleWorkspace => &["items"],
        _ => &[],
    };
    let mut cases = String::new();
    for w in wrappers {
        let _ = write!(
            cases,
            "WHEN from_json(value, 'STRUCT<`{w}`: ARRAY<STRING>>').`{w}` IS NOT NULL THEN from_json(value, 'STRUCT<`{w}`: ARRAY<STRING>>').`{w}`\n    "
        );
    }
    format!(
        "CREATE OR REPLACE TEMPORARY VIEW {files} USING text OPTIONS (path {}, wholetext 'true', recursiveFileLookup 'true');\n\
         CREATE OR REPLACE TEMPORARY VIEW {} AS\n\
         SELECT r FROM (SELECT explode(CASE\n    {cases}\
         WHEN startswith(ltrim(value), '[') THEN from_json(value, 'ARRAY<STRING>')\n    \
         WHEN forall(filter(split(value, '\\n'), l -> trim(l) <> ''), l -> startswith(trim(l), '{{')) THEN filter(split(value, '\\n'), l -> trim(l) <> '')\n    \
         ELSE array(value) END) AS r FROM {files}) WHERE r IS NOT NULL;",
        spark_str(path.unwrap_or("logs/")),
        spark_view(src)
    )
}

/// The combined Spark query: one scan of a source's view, one row per (event, matching
/// rule).
pub fn spark_combined(compiled: &[Compiled], src: SourceKind) -> Option<String> {
    let cs: Vec<&Compiled> = compiled.iter().filter(|c| c.source == src).collect();
    if cs.is_empty() {
        return None;
    }
    let (id_path, _) = record_paths(src);
    let mut cases = String::new();
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            cases.push_str(",\n    ");
        }
        let _ = write!(cases, "CASE WHEN {} THEN {} END", c.filter, spark_str(&c.rule_id));
    }
    Some(format!(
        "SELECT event_id, rule_id FROM (\n  SELECT get_json_object(r, '{id_path}') AS event_id, explode(array(\n    {cases})) AS rule_id\n  FROM {}\n) WHERE rule_id IS NOT NULL;",
        spark_view(src)
    ))
}

/// A Spark SQL string literal: backslashes and quotes escaped (Spark reads escapes in
/// literals).
fn spark_str(s: &str) -> String {
    let mut o = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            _ => o.push(c),
        }
    }
    o.push('\'');
    o
}

/// A native (Rust `regex`) pattern as Java's `Pattern` reads it the same way: Unicode
/// classes and case folding (`(?U)`), `$` at the very end as end of text (`\z`; Java's
/// `$` also matches before a final line break), `(?P<name>` as `(?<name>`.
fn java_regex(r: &str) -> String {
    let mut p = r.replace("(?P<", "(?<");
    if p.ends_with('$') && !p.ends_with("\\$") {
        p.pop();
        p.push_str("\\z");
    }
    format!("(?U){p}")
}

/// A JSONPath for Spark's `get_json_object` (`$.a.b`).
fn spark_path(path: &str) -> String {
    format!("$.{path}")
}

/// DuckDB `FROM` clause for a source: (from, id path, time path).
pub fn duckdb_from(src: SourceKind, files: Option<&str>) -> (String, &'static str, &'static str) {
    let files = sql_str(files.unwrap_or("logs/**/*.json*"));
    let objs = format!("read_json_objects({files}, format='auto', maximum_object_size=1073741824)");
    match src {
        SourceKind::Cloudtrail => (
            // `{"Records":[...]}` files and JSON Lines (one event per line), as the native reader
            format!("(SELECT unnest(CASE WHEN json_exists(json, '$.Records') THEN json_extract(json, '$.Records[*]') ELSE [json] END) AS r FROM {objs})"),
            "$.eventID",
            "$.eventTime",
        ),
        SourceKind::AzureSignin | SourceKind::AzureActivity => (
            format!("(SELECT unnest(CASE WHEN json_exists(json, '$.records') THEN json_extract(json, '$.records[*]') ELSE [json] END) AS r FROM {objs})"),
            "$.correlationId",
            "$.time",
        ),
        // diagnostic exports (`records`) and Microsoft Graph pages (`value`)
        SourceKind::AzureAudit | SourceKind::AzureRisk => (
            format!("(SELECT unnest(CASE WHEN json_exists(json, '$.records') THEN json_extract(json, '$.records[*]') WHEN json_exists(json, '$.value') THEN json_extract(json, '$.value[*]') ELSE [json] END) AS r FROM {objs})"),
            if src == SourceKind::AzureAudit { "$.correlationId" } else { "$.id" },
            "$.time",
        ),
        // Reports API pages (`items`)
        SourceKind::GoogleWorkspace => (
            format!("(SELECT unnest(CASE WHEN json_exists(json, '$.items') THEN json_extract(json, '$.items[*]') ELSE [json] END) AS r FROM {objs})"),
            "$.id.uniqueQualifier",
            "$.id.time",
        ),
        SourceKind::Gcp => (format!("(SELECT json AS r FROM {objs})"), "$.insertId", "$.timestamp"),
        SourceKind::Github => (format!("(SELECT json AS r FROM {objs})"), "$._document_id", "$.@timestamp"),
        SourceKind::M365 => (format!("(SELECT json AS r FROM {objs})"), "$.Id", "$.CreationTime"),
        SourceKind::Okta => (format!("(SELECT json AS r FROM {objs})"), "$.uuid", "$.published"),
        // Graph pages (`value`); `riskEventType` derived from `@odata.type` as the native
        // reader does ([`SourceKind::derive`])
        SourceKind::AzurePim => (
            format!("(SELECT CASE WHEN json_exists(x, '$.riskEventType') OR json_type(x, '$.\"@odata.type\"') IS DISTINCT FROM 'VARCHAR' THEN x ELSE json_merge_patch(x, json_object('riskEventType', regexp_replace(json_extract_string(x, '$.\"@odata.type\"'), '^#microsoft\\.graph\\.', ''))) END AS r FROM (SELECT unnest(CASE WHEN json_exists(json, '$.value') THEN json_extract(json, '$.value[*]') ELSE [json] END) AS x FROM {objs}))"),
            "$.id",
            "$.lastScannedDateTime",
        ),
        SourceKind::Firebreak | SourceKind::Circleci => {
            (format!("(SELECT json AS r FROM {objs})"), "$.request_id", "$.time")
        }
    }
}

/// The combined DuckDB query: one scan, one row per (event, matching rule).
pub fn duckdb_combined(compiled: &[Compiled], src: SourceKind, files: &str) -> Option<String> {
    let cs: Vec<&Compiled> = compiled.iter().filter(|c| c.source == src).collect();
    if cs.is_empty() {
        return None;
    }
    let (from, id_path, _) = duckdb_from(src, Some(files));
    let mut cases = String::new();
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            cases.push_str(",\n    ");
        }
        let _ = write!(cases, "CASE WHEN {} THEN {} END", c.filter, sql_str(&c.rule_id));
    }
    Some(format!(
        "SELECT event_id, rule_id FROM (\n  SELECT json_extract_string(r, '{id_path}') AS event_id, unnest([\n    {cases}]) AS rule_id\n  FROM {from}\n) WHERE rule_id IS NOT NULL;"
    ))
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn kql_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            _ => o.push(c),
        }
    }
    o.push('"');
    o
}

fn cond(r: &Rule, c: &Cond, src: SourceKind, t: Target) -> Result<String, String> {
    let (and, or, not) = match t {
        Target::Kql => ("and", "or", "not"),
        _ => ("AND", "OR", "NOT"),
    };
    Ok(match c {
        Cond::Sel(i) => match &r.selections[*i] {
            Selection::Keywords(_) => return Err("keyword search over whole records is not compiled".into()),
            Selection::Maps(ms) => {
                let mut alts = Vec::new();
                for m in ms {
                    let mut parts = Vec::new();
                    for f in m {
                        parts.push(field(f, src, t)?);
                    }
                    alts.push(if parts.is_empty() {
                        "true".into()
                    } else {
                        format!("({})", parts.join(&format!(" {and} ")))
                    });
                }
                if alts.len() == 1 {
                    alts.pop().unwrap()
                } else {
                    format!("({})", alts.join(&format!(" {or} ")))
                }
            }
        },
        Cond::Not(x) => match t {
            Target::Kql => format!("{not}({})", cond(r, x, src, t)?),
            _ => format!("(NOT COALESCE({}, false))", cond(r, x, src, t)?),
        },
        Cond::And(xs) => {
            let v: Result<Vec<_>, _> = xs.iter().map(|x| cond(r, x, src, t)).collect();
            format!("({})", v?.join(&format!(" {and} ")))
        }
        Cond::Or(xs) => {
            let v: Result<Vec<_>, _> = xs.iter().map(|x| cond(r, x, src, t)).collect();
            format!("({})", v?.join(&format!(" {or} ")))
        }
    })
}

/// The expression reading a native field path in a target. Err when not mapped.
pub fn field_expr(path: &str, src: SourceKind, t: Target) -> Result<String, String> {
    if path.contains(['\'', '"', '\\']) {
        return Err(format!("field {path:?} has quotes"));
    }
    match t {
        Target::Spark => {
            if src == SourceKind::Cloudtrail && path.starts_with("resources") {
                return Err("array field `resources` (per-element matching) is not compiled".into());
            }
            if path.contains(['[', ']', '*', '$']) || path.split('.').any(str::is_empty) {
                return Err(format!("field {path:?} is not a plain JSON path for Spark"));
            }
            Ok(format!("get_json_object(r, '{}')", spark_path(path)))
        }
        Target::Duckdb => Ok(format!(
            "json_extract(r, '{}')",
            duckdb_path(path, crate::mapping::schema(src))
        )),
        Target::Athena => {
            let (head, rest) = path.split_once('.').unwrap_or((path, ""));
            let h = head.to_ascii_lowercase();
            const COLS: &[&str] = &[
                "eventversion",
                "eventtime",
                "eventsource",
                "eventname",
                "awsregion",
                "sourceipaddress",
                "useragent",
                "errorcode",
                "errormessage",
                "requestid",
                "eventid",
                "eventtype",
                "apiversion",
                "readonly",
                "recipientaccountid",
                "sharedeventid",
                "vpcendpointid",
                "managementevent",
                "eventcategory",
            ];
            const JSONCOLS: &[&str] = &[
                "requestparameters",
                "responseelements",
                "additionaleventdata",
                "serviceeventdetails",
            ];
            if rest.is_empty() && COLS.contains(&h.as_str()) {
                return Ok(format!("CAST({h} AS VARCHAR)"));
            }
            if JSONCOLS.contains(&h.as_str()) {
                return Ok(if rest.is_empty() {
                    h
                } else {
                    format!("json_extract_scalar({h}, '$.{rest}')")
                });
            }
            if h == "useridentity" && !rest.is_empty() {
                return Ok(format!(
                    "CAST(useridentity.{} AS VARCHAR)",
                    rest.to_ascii_lowercase()
                ));
            }
            Err(format!(
                "field {path:?} is not a column of the Athena CloudTrail table"
            ))
        }
        Target::Bigquery => {
            if let Some(rest) = path.strip_prefix("protoPayload.") {
                for (p, col) in [
                    ("request.", "requestJson"),
                    ("response.", "responseJson"),
                    ("metadata.", "metadataJson"),
                ] {
                    if let Some(r) = rest.strip_prefix(p) {
                        return Ok(format!("JSON_VALUE(protopayload_auditlog.{col}, '$.{r}')"));
                    }
                }
                if rest.starts_with("serviceData") || rest.starts_with("authorizationInfo") {
                    return Err(format!(
                        "field {path:?} (nested repeated/serviceData) is not compiled for BigQuery"
                    ));
                }
                return Ok(format!("CAST(protopayload_auditlog.{rest} AS STRING)"));
            }
            match path.split('.').next().unwrap_or(path) {
                "severity" | "logName" | "resource" | "insertId" | "labels" => {
                    Ok(format!("CAST({path} AS STRING)"))
                }
                _ => Err(format!(
                    "field {path:?} is not a column of the BigQuery audit log table"
                )),
            }
        }
        Target::Kql => kql_field(path, src),
    }
}

fn pascal(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fn kql_field(path: &str, src: SourceKind) -> Result<String, String> {
    let fixed = match (src, path) {
        (SourceKind::AzureSignin, "time") | (SourceKind::AzureActivity, "time") => "TimeGenerated",
        (SourceKind::AzureSignin, "resultType") => "ResultType",
        (SourceKind::AzureSignin, "resultDescription") => "ResultDescription",
        (SourceKind::AzureSignin, "callerIpAddress" | "properties.ipAddress") => "IPAddress",
        (SourceKind::AzureSignin, "properties.location.countryOrRegion") => {
            "tostring(LocationDetails.countryOrRegion)"
        }
        (SourceKind::AzureSignin, "properties.riskEventTypes_v2") => "tostring(RiskEventTypes_V2)",
        (SourceKind::AzureActivity, "operationName") => "OperationNameValue",
        (SourceKind::AzureActivity, "category") => "CategoryValue",
        (SourceKind::AzureActivity, "resultType") => "ActivityStatusValue",
        (SourceKind::AzureActivity, "resultSignature") => "ActivitySubstatusValue",
        (SourceKind::AzureActivity, "callerIpAddress") => "CallerIpAddress",
        (SourceKind::AzureActivity, "resourceId") => "_ResourceId",
        (SourceKind::AzureActivity, "level") => "Level",
        (SourceKind::AzureActivity, "caller") => "Caller",
        _ => "",
    };
    if !fixed.is_empty() {
        return Ok(fixed.to_string());
    }
    if let Some(rest) = path.strip_prefix("properties.") {
        return Ok(match src {
            SourceKind::AzureSignin => match rest.split_once('.') {
                None => pascal(rest),
                Some((h, t)) => format!("tostring({}.{t})", pascal(h)),
            },
            _ => format!("tostring(Properties_d.{rest})"),
        });
    }
    Err(format!(
        "field {path:?} has no {} column",
        if src == SourceKind::AzureSignin {
            "SigninLogs"
        } else {
            "AzureActivity"
        }
    ))
}

/// The paths a field reads for `src`: as written, then the mapped raw paths
/// ([`crate::mapping`]). A path through an array is refused (per-element matching is not
/// compiled); a path with no column in the target is left out (it cannot hold a value
/// there); none left is an error.
fn field_paths(f: &FieldCond, src: SourceKind, t: Target) -> Result<Vec<(String, String)>, String> {
    let sc = crate::mapping::schema(src);
    let mut out = Vec::new();
    let mut first_err = None;
    for p in std::iter::once(&f.field).chain(f.alts_for(Some(src))) {
        // DuckDB matches array elements (`[*]` and `list_transform`); the others do not
        if t != Target::Duckdb {
            if let Some(a) = sc.array_on(p) {
                return Err(format!(
                    "field {p:?} reads through the array `{a}` ({PER_ELEMENT})"
                ));
            }
            if sc.holds_object(p) && f.exists.is_none() && f.vals.iter().any(|v| !matches!(v, ValMatch::Null))
            {
                return Err(format!("field {p:?} holds an object ({OBJECT_TEXT})"));
            }
        }
        match field_expr(p, src, t) {
            // two names for one column (`eventname`, `eventName` in Athena): read it once
            Ok(x) if out.iter().any(|(_, y)| *y == x) => {}
            Ok(x) => out.push((p.clone(), x)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if out.is_empty() {
        return Err(first_err.unwrap_or_else(|| format!("field {:?} has no column", f.field)));
    }
    Ok(out)
}

/// `COALESCE` of expressions (the first non-null), or the one expression.
fn coalesce_expr(xs: Vec<String>, t: Target) -> String {
    if xs.len() == 1 {
        return xs.into_iter().next().unwrap_or_default();
    }
    let f = if t == Target::Kql { "coalesce" } else { "COALESCE" };
    format!("{f}({})", xs.join(", "))
}

/// True when a string value of a rule could equal or contain the text of a JSON number
/// (digits, sign, point, exponent).
fn could_match_number(v: &ValMatch) -> bool {
    let num = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    match v {
        ValMatch::Str { alts, .. } => alts.iter().any(|a| match a {
            StrMatch::Exact(s) | StrMatch::Prefix(s) | StrMatch::Suffix(s) | StrMatch::Contains(s) => num(s),
            StrMatch::Glob(_, g) => num(&g.replace(['*', '?'], "")),
            StrMatch::Re(_) => true,
        }),
        _ => false,
    }
}

/// DuckDB JSONPath of a native path: each segment quoted, `[*]` after each array the
/// source declares on the way (`target[*]."alternateId"`: every element's member).
fn duckdb_path(path: &str, sc: &crate::mapping::Schema) -> String {
    let segs: Vec<&str> = path.split('.').collect();
    let mut out = String::from("$");
    for (i, seg) in segs.iter().enumerate() {
        let _ = write!(out, ".\"{seg}\"");
        if i + 1 < segs.len() && sc.arrays.iter().any(|a| *a == segs[..=i].join(".")) {
            out.push_str("[*]");
        }
    }
    out
}

/// DuckDB: the values (a `JSON[]`) a field reads, as the native engine reads them: at
/// each path (every element's value through a declared array), the first path holding a
/// non-null value (`COALESCE`), arrays there replaced by their elements.
fn duckdb_values(paths: &[(String, String)], src: SourceKind) -> String {
    let sc = crate::mapping::schema(src);
    let base = |p: &str| {
        let jp = duckdb_path(p, sc);
        if jp.contains("[*]") {
            format!("json_extract(r, '{jp}')")
        } else {
            format!("list_filter([json_extract(r, '{jp}')], e -> e IS NOT NULL)")
        }
    };
    let bases: Vec<String> = paths.iter().map(|(p, _)| base(p)).collect();
    let chosen = if bases.len() == 1 {
        bases[0].clone()
    } else {
        let mut c = String::from("CASE");
        for b in &bases {
            let _ = write!(
                c,
                " WHEN list_bool_or(list_transform({b}, e -> json_type(e) <> 'NULL')) THEN {b}"
            );
        }
        let _ = write!(c, " ELSE flatten([{}]) END", bases.join(", "));
        c
    };
    format!("flatten(list_transform({chosen}, e -> CASE WHEN json_type(e) = 'ARRAY' THEN json_extract(e, '$[*]') ELSE [e] END))")
}

/// DuckDB: the text of one value `v` (a JSON element) as the native engine renders it:
/// a string unquoted, an object or array as its JSON text, and, when `numeric`, a JSON
/// double by its value's shortest form with no `.0` (`7.0` → `7`, `1e3` → `1000`).
fn duckdb_text(numeric: bool) -> String {
    if numeric {
        "(CASE WHEN json_type(v) = 'DOUBLE' THEN regexp_replace(CAST(CAST(v AS DOUBLE) AS VARCHAR), '\\.0$', '') ELSE json_extract_string(v, '$') END)".into()
    } else {
        "json_extract_string(v, '$')".into()
    }
}

/// DuckDB: a field condition over its values: `exists` by their count, `null` when there
/// is none or one is null, any other value when one element matches it.
fn duckdb_field(f: &FieldCond, paths: &[(String, String)], src: SourceKind) -> Result<String, String> {
    let vals = duckdb_values(paths, src);
    if let Some(want) = f.exists {
        return Ok(format!("(len({vals}) {} 0)", if want { ">" } else { "=" }));
    }
    let numeric = f.vals.iter().any(could_match_number);
    let x = duckdb_text(numeric);
    let any = |pred: &str, empty: bool| {
        format!("COALESCE(list_bool_or(list_transform({vals}, v -> {pred})), {empty})")
    };
    let mut per_value = Vec::new();
    for v in &f.vals {
        per_value.push(match v {
            ValMatch::Null => (true, "json_type(v) = 'NULL'".to_string()),
            _ => (false, value(&x, v, Target::Duckdb)?),
        });
    }
    if f.all {
        let parts: Vec<String> = per_value.iter().map(|(null, p)| any(p, *null)).collect();
        return Ok(if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            format!("({})", parts.join(" AND "))
        });
    }
    // any value: one pass over the elements; `null` also holds when there is none
    let null = per_value.iter().any(|(n, _)| *n);
    let preds: Vec<&str> = per_value.iter().map(|(_, p)| p.as_str()).collect();
    let pred = if preds.len() == 1 {
        preds[0].to_string()
    } else {
        format!("({})", preds.join(" OR "))
    };
    Ok(any(&pred, null))
}

/// Spark: the text of the value at `path` as the native engine renders scalars: a JSON
/// number by its value's shortest form with no `.0` (`7.0` → `7`, `1e3` → `1000`), a
/// string as it is (`from_json` with a DOUBLE field reads numbers only, never a string
/// such as "1.10").
fn spark_number_text(path: &str) -> String {
    let segs: Vec<&str> = path.split('.').collect();
    let mut schema = String::from("DOUBLE");
    for s in segs.iter().rev() {
        schema = format!("STRUCT<`{s}`: {schema}>");
    }
    let access: String = segs.iter().map(|s| format!(".`{s}`")).collect();
    let num = format!("from_json(r, {}){access}", spark_str(&schema));
    format!(
        "(CASE WHEN {num} IS NOT NULL THEN regexp_replace(CAST({num} AS STRING), '\\\\.0$', '') ELSE get_json_object(r, '{}') END)",
        spark_path(path)
    )
}

/// Spark: the key at `path` is present (even with a null value).
fn spark_exists(path: &str) -> String {
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (format!("get_json_object(r, '{}')", spark_path(p)), k),
        None => ("r".to_string(), path),
    };
    format!(
        "COALESCE(array_contains(json_object_keys({parent}), {}), false)",
        spark_str(key)
    )
}

fn field(f: &FieldCond, src: SourceKind, t: Target) -> Result<String, String> {
    let paths = field_paths(f, src, t)?;
    if t == Target::Duckdb {
        return duckdb_field(f, &paths, src);
    }
    if let Some(want) = f.exists {
        let e = match t {
            Target::Spark => {
                let xs: Vec<String> = paths.iter().map(|(p, _)| spark_exists(p)).collect();
                if xs.len() == 1 {
                    xs.into_iter().next().unwrap_or_default()
                } else {
                    format!("({})", xs.join(" OR "))
                }
            }
            Target::Kql => {
                let xs: Vec<String> = paths.iter().map(|(_, x)| format!("isnotempty({x})")).collect();
                if xs.len() == 1 {
                    xs.into_iter().next().unwrap_or_default()
                } else {
                    format!("({})", xs.join(" or "))
                }
            }
            _ => format!(
                "({} IS NOT NULL)",
                coalesce_expr(paths.iter().map(|(_, x)| x.clone()).collect(), t)
            ),
        };
        return Ok(if want { e } else { format!("(NOT {e})") });
    }
    // Spark: a number in a record reads as the native engine renders it (`7.0` as `7`),
    // where a value the rule compares could be a number's text
    let numeric = t == Target::Spark && f.vals.iter().any(could_match_number);
    let x = coalesce_expr(
        paths
            .into_iter()
            .map(|(p, x)| if numeric { spark_number_text(&p) } else { x })
            .collect(),
        t,
    );
    let mut parts = Vec::new();
    for v in &f.vals {
        parts.push(value(&x, v, t)?);
    }
    let j = match (f.all, t) {
        (true, Target::Kql) => " and ",
        (true, _) => " AND ",
        (false, Target::Kql) => " or ",
        (false, _) => " OR ",
    };
    Ok(if parts.len() == 1 {
        parts.pop().unwrap()
    } else {
        format!("({})", parts.join(j))
    })
}

fn value(x: &str, v: &ValMatch, t: Target) -> Result<String, String> {
    match v {
        ValMatch::Null => Ok(match t {
            Target::Kql => format!("isempty({x})"),
            _ => format!("({x} IS NULL)"),
        }),
        ValMatch::Num(op, n) => Ok(match t {
            Target::Duckdb | Target::Athena => format!("(TRY_CAST({x} AS DOUBLE) {} {n})", op.sym()),
            Target::Spark => format!("(try_cast({x} AS DOUBLE) {} {n})", op.sym()),
            Target::Bigquery => format!("(SAFE_CAST({x} AS FLOAT64) {} {n})", op.sym()),
            Target::Kql => format!(
                "(todouble({x}) {} {n})",
                if op.sym() == "=" { "==" } else { op.sym() }
            ),
        }),
        ValMatch::Cidr(_, _, net) => match t {
            Target::Athena => Ok(format!("contains({}, CAST({x} AS IPADDRESS))", sql_str(net))),
            Target::Kql if !net.contains(':') => Ok(format!("ipv4_is_in_range({x}, {})", kql_str(net))),
            _ => Err("cidr is not compiled for this target".into()),
        },
        ValMatch::Str { alts, cased } => {
            let mut out = Vec::new();
            for a in alts {
                out.push(strmatch(x, a, *cased, t));
            }
            Ok(if out.len() == 1 {
                out.pop().unwrap()
            } else {
                format!("({})", out.join(if t == Target::Kql { " or " } else { " OR " }))
            })
        }
    }
}

fn strmatch(x: &str, m: &StrMatch, cased: bool, t: Target) -> String {
    if t == Target::Kql {
        let sfx = if cased { "_cs" } else { "" };
        return match m {
            StrMatch::Exact(s) => format!("{x} {} {}", if cased { "==" } else { "=~" }, kql_str(s)),
            StrMatch::Prefix(s) => format!("{x} startswith{sfx} {}", kql_str(s)),
            StrMatch::Suffix(s) => format!("{x} endswith{sfx} {}", kql_str(s)),
            StrMatch::Contains(s) => format!("{x} contains{sfx} {}", kql_str(s)),
            StrMatch::Glob(r, _) | StrMatch::Re(r) => format!("{x} matches regex {}", kql_str(r.as_str())),
        };
    }
    let lx = if cased {
        x.to_string()
    } else {
        format!("lower({x})")
    };
    if t == Target::Spark {
        let q = spark_str;
        return match m {
            StrMatch::Exact(s) => format!("{lx} = {}", q(s)),
            StrMatch::Prefix(s) => format!("startswith({lx}, {})", q(s)),
            StrMatch::Suffix(s) => format!("endswith({lx}, {})", q(s)),
            StrMatch::Contains(s) => format!("contains({lx}, {})", q(s)),
            StrMatch::Glob(r, _) | StrMatch::Re(r) => format!("({x} RLIKE {})", q(&java_regex(r.as_str()))),
        };
    }
    let q = |s: &str| sql_str(s);
    match (m, t) {
        (StrMatch::Exact(s), _) => format!("{lx} = {}", q(s)),
        (StrMatch::Prefix(s), Target::Bigquery) => format!("STARTS_WITH({lx}, {})", q(s)),
        (StrMatch::Suffix(s), Target::Bigquery) => format!("ENDS_WITH({lx}, {})", q(s)),
        (StrMatch::Contains(s), Target::Bigquery) => format!("STRPOS({lx}, {}) > 0", q(s)),
        (StrMatch::Prefix(s), Target::Duckdb) => format!("starts_with({lx}, {})", q(s)),
        (StrMatch::Suffix(s), Target::Duckdb) => format!("ends_with({lx}, {})", q(s)),
        (StrMatch::Contains(s), Target::Duckdb) => format!("contains({lx}, {})", q(s)),
        (StrMatch::Prefix(s), _) => format!("starts_with({lx}, {})", q(s)),
        (StrMatch::Suffix(s), _) => format!("{lx} LIKE {} ESCAPE '\\'", q(&format!("%{}", like_escape(s)))),
        (StrMatch::Contains(s), _) => format!("strpos({lx}, {}) > 0", q(s)),
        (StrMatch::Glob(r, _) | StrMatch::Re(r), Target::Duckdb) => {
            format!("regexp_matches({x}, {})", q(r.as_str()))
        }
        (StrMatch::Glob(r, _) | StrMatch::Re(r), Target::Athena) => {
            format!("regexp_like({x}, {})", q(r.as_str()))
        }
        (StrMatch::Glob(r, _) | StrMatch::Re(r), _) => format!("REGEXP_CONTAINS({x}, {})", q(r.as_str())),
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_each_target() {
        let mut rs = RuleSet::default();
        rs.add_text(
            "t.yml",
            "title: t\nid: x\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventName: [ListBuckets, 'Get*']\n    requestParameters.bucketName|contains: prod\n  f:\n    userIdentity.type: AWSService\n  condition: s and not f\n",
        )
        .unwrap();
        let (c, u) = compile(
            &rs,
            &CompileOptions {
                target: Target::Athena,
                table: None,
            },
        );
        assert!(u.is_empty());
        assert!(
            c[0].query
                .contains("json_extract_scalar(requestparameters, '$.bucketName')"),
            "{}",
            c[0].query
        );
        assert!(c[0].query.contains("useridentity.type"));
        let (c, _) = compile(
            &rs,
            &CompileOptions {
                target: Target::Duckdb,
                table: Some("x/*.json".into()),
            },
        );
        assert!(
            c[0].query.contains("json_extract(r, '$.\"eventName\"')"),
            "{}",
            c[0].query
        );
        let (c, u) = compile(
            &rs,
            &CompileOptions {
                target: Target::Kql,
                table: None,
            },
        );
        assert!(c.is_empty());
        assert_eq!(u.len(), 1);
    }
}
