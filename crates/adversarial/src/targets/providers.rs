//! Provider response decoders and the shared HTTP layer's header parsers.

use super::split_selector;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use firebreak_providers::circleci::{self, Body};
use firebreak_providers::github::{DeployKey, PublicKey, Repo, Run, RunLog, Secret};
use firebreak_providers::gitlab::{Group, Project, Variable};
use firebreak_providers::http::{
    link_next, parse_reset, parse_retry_after, parse_ts, rate_limit_wait, OneOrMany, Response,
};
use firebreak_providers::HttpError;
use serde::de::DeserializeOwned;
use url::Url;

fn url() -> Url {
    Url::parse("https://api.example.invalid/fuzz").expect("url")
}

fn response(body: &[u8]) -> Response {
    Response {
        status: 200,
        headers: HeaderMap::new(),
        body: body.to_vec(),
        url: url(),
    }
}

/// A decode error must name the request and never quote the body.
fn check_err(e: &HttpError, body: &[u8]) {
    let msg = e.to_string();
    assert!(
        msg.contains("api.example.invalid/fuzz"),
        "decode errors name the request: {msg}"
    );
    // serde messages can quote a value from the body; the client keeps only a category
    // and a position. Checked on the message's form, not by searching for the body in
    // it: a body equal to part of the fixed text (libFuzzer built one from the message's
    // own prefix) would otherwise look like a leak.
    if let Some((_, detail)) = msg.split_once("unexpected response body: ") {
        const CATEGORIES: [&str; 4] = [
            "I/O error",
            "invalid JSON",
            "JSON does not match the expected schema",
            "truncated JSON",
        ];
        let ok = detail.rsplit_once(" at line ").is_some_and(|(cat, pos)| {
            CATEGORIES.contains(&cat)
                && pos
                    .split_once(" column ")
                    .is_some_and(|(l, c)| l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok())
        });
        assert!(
            ok,
            "decode errors carry a category and a position only: {detail:?}"
        );
    } else if body.len() >= 24 {
        if let Ok(s) = std::str::from_utf8(body) {
            assert!(!msg.contains(s), "errors must not quote the body");
        }
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) {
    if let Err(e) = response(body).json::<T>("GET") {
        check_err(&e, body);
    }
}

const CIRCLECI: [Body; 18] = [
    Body::Projects,
    Body::EnvVarPage,
    Body::EnvVar,
    Body::CheckoutKeyPage,
    Body::CheckoutKey,
    Body::Settings,
    Body::ContextPage,
    Body::Context,
    Body::ContextVarPage,
    Body::ContextVar,
    Body::Builds,
    Body::Build,
    Body::LogLines,
    Body::ProjectTokens,
    Body::PipelinePage,
    Body::Project,
    Body::RunnerResourceClasses,
    Body::RunnerTokens,
];

/// CircleCI: the first byte selects the kind of response.
pub fn circleci(data: &[u8]) {
    let (sel, body) = split_selector(data);
    let kind = CIRCLECI[sel as usize % CIRCLECI.len()];
    if let Err(e) = circleci::decode_body(kind, body, &url()) {
        check_err(&e, body);
    }
}

/// GitHub: the first byte selects the kind of response; run-log zips are opened too.
pub fn github(data: &[u8]) {
    let (sel, body) = split_selector(data);
    match sel % 8 {
        0 => decode::<Vec<Repo>>(body),
        1 => decode::<Secret>(body),
        2 => decode::<Vec<DeployKey>>(body),
        3 => decode::<PublicKey>(body),
        4 => decode::<Vec<Run>>(body),
        5 => {
            // list bodies wrapped in an object field, as `list` reads them
            if let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice(body) {
                for f in ["secrets", "environments", "workflow_runs"] {
                    if let Some(v) = m.remove(f) {
                        let _ = serde_json::from_value::<Vec<Secret>>(v.clone());
                        let _ = serde_json::from_value::<Vec<Run>>(v);
                    }
                }
            }
        }
        _ => {
            let log = RunLog {
                name: "github:o/r/runs/1".into(),
                run_id: 1,
                zip: body.to_vec(),
            };
            match log.entries() {
                Ok(entries) => {
                    for (name, _) in entries {
                        assert!(
                            name.starts_with("github:o/r/runs/1!"),
                            "entries are named under the run"
                        );
                    }
                }
                Err(m) => assert!(m.starts_with("github:o/r/runs/1"), "errors name the run: {m}"),
            }
        }
    }
}

/// GitLab: the first byte selects the kind of response.
pub fn gitlab(data: &[u8]) {
    let (sel, body) = split_selector(data);
    match sel % 3 {
        0 => decode::<OneOrMany<Project>>(body),
        1 => decode::<OneOrMany<Group>>(body),
        _ => decode::<OneOrMany<Variable>>(body),
    }
}

/// Header parsers: the input is `name: value` lines and a status on the first line.
pub fn http(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .filter(|s| (100..600).contains(s))
        .unwrap_or(429);
    let mut headers = HeaderMap::new();
    for l in lines {
        let (n, v) = l.split_once(':').unwrap_or((l, ""));
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.trim().as_bytes()),
            HeaderValue::from_str(v.trim()),
        ) {
            headers.append(n, v);
        }
        let now = chrono::Utc::now();
        let _ = parse_retry_after(v, now);
        let _ = parse_reset(v, now);
        let _ = parse_ts(Some(v));
    }
    let _ = link_next(&headers);
    let resp = Response {
        status,
        headers,
        body: Vec::new(),
        url: url(),
    };
    let _ = rate_limit_wait(&resp);
    if let Some(next) = link_next(&resp.headers) {
        let _ = url().join(&next);
    }
}
