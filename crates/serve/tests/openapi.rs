//! The OpenAPI description matches the router, and live responses match its schemas.

mod common;

use common::{start, Backend};
use serde_json::Value;
use std::collections::BTreeSet;

fn spec() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi/serve.openapi.yaml"
    );
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    serde_json::to_value(y).unwrap()
}

fn spec_routes(s: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, ops) in s["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&m.as_str()) {
                out.insert((m.clone(), path.clone()));
            }
        }
    }
    out
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = root;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(root, cur)
        }
        None => v,
    }
}

/// Structural validation: types, required properties, enums, array items, allOf.
fn validate(root: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(root, schema);
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(root, sub, v, at)?;
        }
    }
    if v.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            return Err(format!("{at}: expected {t}, got {v}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req {
            let k = r.as_str().unwrap();
            if v.get(k).is_none() {
                return Err(format!("{at}: missing required {k}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (s.get("properties").and_then(Value::as_object), v.as_object()) {
        for (k, ps) in props {
            if let Some(x) = obj.get(k) {
                validate(root, ps, x, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(root, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn spec_lists_exactly_the_routes_served() {
    let s = spec();
    let from_spec = spec_routes(&s);
    let from_code: BTreeSet<(String, String)> = firebreak_serve::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        from_spec, from_code,
        "docs/openapi/serve.openapi.yaml and server::ROUTES differ"
    );
}

fn concrete(path: &str) -> String {
    path.replace("{project}", "numpy")
        .replace("{token_id}", "tok_0000000000000000")
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut rb = http.request(m, format!("{base}{path}"));
    if let Some(b) = bearer {
        rb = rb.bearer_auth(b);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn check(root: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let op = &root["paths"][path][method];
    let resp = &op["responses"][status.to_string()];
    assert!(
        !resp.is_null(),
        "{method} {path}: status {status} is not in the spec (body {body})"
    );
    let resp = resolve(root, resp);
    let schema = &resp["content"]["application/json"]["schema"];
    validate(root, schema, body, &format!("{method} {path} {status}")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_serves_every_route_and_responses_match_schemas() {
    let root = spec();
    let env = start(Backend::Sqlite, "").await;
    let http = reqwest::Client::new();
    let base = env.url();
    let admin = Some(common::ADMIN);

    // Every listed route exists (an unauthenticated call is refused, not 404 "no such route").
    for (m, p) in firebreak_serve::ROUTES {
        let (st, body) = call(&http, &base, m, &concrete(p), None, None).await;
        assert!(
            body["error"] != "not_found" || *p == "/v1/admin/tokens/{token_id}",
            "{m} {p}: route not served ({st})"
        );
        assert_ne!(st, 405, "{m} {p}");
    }
    let (st, body) = call(&http, &base, "get", "/v1/nope", None, None).await;
    assert_eq!(st, 404);
    assert_eq!(body["error"], "not_found");

    let mut seen = Vec::new();
    let mut rec = |m: &str, p: &str, st: u16, b: Value| {
        check(&root, m, p, st, &b);
        seen.push((m.to_string(), p.to_string(), st));
        b
    };
    let (s, b) = call(&http, &base, "get", "/healthz", None, None).await;
    rec("get", "/healthz", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/admin/projects",
        admin,
        Some(serde_json::json!({"name": "numpy"})),
    )
    .await;
    rec("post", "/v1/admin/projects", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/admin/projects",
        None,
        Some(serde_json::json!({"name": "numpy"})),
    )
    .await;
    rec("post", "/v1/admin/projects", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/admin/projects/numpy/publishers",
        admin,
        Some(serde_json::json!({"provider": "circleci", "org_id": "o", "project_id": "p"})),
    )
    .await;
    rec("post", "/v1/admin/projects/{project}/publishers", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/admin/tokens",
        admin,
        Some(serde_json::json!({"project": "numpy", "provider": "circleci"})),
    )
    .await;
    let issued = rec("post", "/v1/admin/tokens", s, b);
    let tok = issued["token"].as_str().unwrap().to_string();
    let (s, b) = call(&http, &base, "get", "/v1/admin/tokens?project=numpy", admin, None).await;
    rec("get", "/v1/admin/tokens", s, b);
    let (s, b) = call(&http, &base, "post", "/v1/tokens/verify", Some(&tok), None).await;
    rec("post", "/v1/tokens/verify", s, b);
    let sha = env.stage("numpy/a.conda", b"a");
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/projects/numpy/publish",
        Some(&tok),
        Some(serde_json::json!({"artifact": "numpy/a.conda", "sha256": sha})),
    )
    .await;
    rec("post", "/v1/projects/{project}/publish", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/projects/numpy/publish",
        Some(&tok),
        Some(serde_json::json!({"artifact": "numpy/a.conda", "sha256": sha})),
    )
    .await;
    rec("post", "/v1/projects/{project}/publish", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/projects/numpy/publish",
        Some(&tok),
        Some(serde_json::json!({"artifact": "numpy/b.conda", "sha256": sha})),
    )
    .await;
    rec("post", "/v1/projects/{project}/publish", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/oidc/exchange",
        None,
        Some(serde_json::json!({"token": "x.y.z", "project": "numpy"})),
    )
    .await;
    rec("post", "/v1/oidc/exchange", s, b);
    let (s, b) = call(
        &http,
        &base,
        "post",
        "/v1/admin/revoke",
        admin,
        Some(serde_json::json!({"project": "numpy", "provider": "circleci"})),
    )
    .await;
    rec("post", "/v1/admin/revoke", s, b);
    let id = issued["id"].as_str().unwrap();
    let (s, b) = call(
        &http,
        &base,
        "delete",
        &format!("/v1/admin/tokens/{id}"),
        admin,
        None,
    )
    .await;
    rec("delete", "/v1/admin/tokens/{token_id}", s, b);
    let (s, b) = call(&http, &base, "post", "/v1/tokens/verify", Some(&tok), None).await;
    rec("post", "/v1/tokens/verify", s, b);
    let statuses: BTreeSet<u16> = seen.iter().map(|x| x.2).collect();
    assert!(
        statuses.is_superset(&[200, 201, 401, 404].into_iter().collect()),
        "{statuses:?}"
    );
    env.finish().await;
}
