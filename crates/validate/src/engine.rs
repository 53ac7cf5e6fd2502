//! Running validators: one HTTP client per origin (per-host rate limit, timeouts, the
//! shared HTTP layer's retry rules), bounded concurrency, one check per credential per
//! run, and verdicts that never call a credential dead without the provider saying so.

use crate::spec::{Catalogue, Check, Compiled, HttpCheck, Match};
use firebreak_core::{fingerprint, redact, SecretString, Validation, ValidationStatus};
use firebreak_http::{Auth, Body, Http, HttpConfig, HttpError, Replay, Request, Response};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use url::Url;

/// Base URL overrides (`--endpoint NAME=URL`): tests, GitHub Enterprise, self-managed
/// GitLab, a Vault server.
#[derive(Debug, Clone, Default)]
pub struct Endpoints(BTreeMap<String, Url>);

impl Endpoints {
    /// Parses `NAME=URL` items.
    pub fn parse(items: &[String]) -> Result<Endpoints, String> {
        let mut m = BTreeMap::new();
        for it in items {
            let (k, v) = it
                .split_once('=')
                .ok_or_else(|| format!("--endpoint {it}: expected NAME=URL"))?;
            let u = Url::parse(v.trim()).map_err(|e| format!("--endpoint {k}: bad URL {v}: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(format!("--endpoint {k}: the URL must be http or https"));
            }
            m.insert(k.trim().to_string(), u);
        }
        Ok(Endpoints(m))
    }
    /// The override for `name`.
    pub fn get(&self, name: &str) -> Option<&Url> {
        self.0.get(name)
    }
    /// Adds or replaces one.
    pub fn insert(&mut self, name: &str, url: Url) {
        self.0.insert(name.to_string(), url);
    }
}

/// How validation runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per second per host.
    pub rate_per_host: f64,
    /// Checks in flight at once.
    pub concurrency: usize,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Base URL overrides.
    pub endpoints: Endpoints,
    /// Retries after a 5xx or a timeout (the checks are read-only).
    pub max_retries: u32,
    /// Map what each live credential can reach (AWS, GitHub, GitLab, GCP service-account
    /// keys): more read requests.
    pub map: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate_per_host: 10.0,
            concurrency: 16,
            timeout: Duration::from_secs(10),
            endpoints: Endpoints::default(),
            max_retries: 2,
            map: false,
        }
    }
}

/// The parts of one credential, by input name. Values stay in [`SecretString`]s.
#[derive(Debug, Clone, Default)]
pub struct Inputs(pub BTreeMap<String, SecretString>);

impl Inputs {
    /// One input.
    pub fn one(name: &str, v: SecretString) -> Inputs {
        let mut m = BTreeMap::new();
        m.insert(name.to_string(), v);
        Inputs(m)
    }
    /// A value.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }
    /// Replaces every value in `msg` by its redacted form.
    pub fn hide(&self, msg: &str) -> String {
        let mut s = msg.to_string();
        let mut vals: Vec<&SecretString> = self.0.values().filter(|v| v.expose().len() >= 4).collect();
        vals.sort_by_key(|v| std::cmp::Reverse(v.expose().len()));
        for v in vals {
            if s.contains(v.expose()) {
                s = s.replace(v.expose(), &redact(v.expose()));
            }
        }
        s
    }
    fn key(&self, id: &str) -> String {
        let mut k = id.to_string();
        for (n, v) in &self.0 {
            k.push('\0');
            k.push_str(n);
            k.push('=');
            k.push_str(&fingerprint(v.expose().as_bytes()));
        }
        k
    }
}

/// Runs validators.
pub struct Checker {
    catalogue: Arc<Catalogue>,
    opts: Options,
    clients: Mutex<HashMap<String, Http>>,
    cache: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Validation>>>>,
    sem: Semaphore,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("validators", &self.catalogue.len())
            .finish()
    }
}

pub(crate) fn verdict(id: &str, status: ValidationStatus, reason: Option<String>) -> Validation {
    Validation {
        validator: id.to_string(),
        status,
        identity: BTreeMap::new(),
        reason,
        checked_at: chrono::Utc::now(),
        access: None,
    }
}

impl Checker {
    /// A checker over `catalogue`.
    pub fn new(catalogue: Arc<Catalogue>, opts: Options) -> Checker {
        let c = opts.concurrency.max(1);
        Checker {
            catalogue,
            opts,
            clients: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            sem: Semaphore::new(c),
        }
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Requests sent so far, over every host.
    pub fn requests(&self) -> u64 {
        self.clients
            .lock()
            .expect("clients lock")
            .values()
            .map(|h| h.stats().requests)
            .sum()
    }

    /// Checks one credential with validator `id`. The same credential is checked once
    /// per run: later calls get the first verdict.
    pub async fn check(&self, id: &str, inputs: &Inputs) -> Validation {
        let Some(v) = self.catalogue.get(id) else {
            return verdict(
                id,
                ValidationStatus::Error,
                Some(format!("no validator named {id}")),
            );
        };
        for (i, inp) in v.spec.inputs.iter().enumerate() {
            match inputs.get(&inp.name) {
                None if inp.optional => {}
                None => {
                    return verdict(
                        id,
                        ValidationStatus::Unknown,
                        Some(format!(
                            "cannot check without its {} (not found beside it)",
                            inp.name
                        )),
                    )
                }
                Some(val) if !v.shape_ok(i, val.expose()) => {
                    return verdict(
                        id,
                        ValidationStatus::Error,
                        Some(format!(
                            "the {} does not have the shape this validator expects",
                            inp.name
                        )),
                    )
                }
                Some(_) => {}
            }
        }
        let cell = {
            let mut c = self.cache.lock().expect("cache lock");
            c.entry(inputs.key(id)).or_default().clone()
        };
        cell.get_or_init(|| async {
            let _permit = self.sem.acquire().await.expect("semaphore never closed");
            let mut out = self.run(v, inputs).await;
            if self.opts.map && out.status == ValidationStatus::Live {
                out.access = self.map(v, &out, inputs).await;
                if let Some(a) = out.access.as_mut() {
                    for e in a.errors.iter_mut() {
                        *e = inputs.hide(e);
                    }
                }
            }
            out.reason = out.reason.map(|r| inputs.hide(&r));
            for val in out.identity.values_mut() {
                if let serde_json::Value::String(s) = val {
                    *s = inputs.hide(s);
                }
            }
            out
        })
        .await
        .clone()
    }

    /// Checks one credential again, bypassing this run's cache (after a revocation);
    /// the new verdict replaces the cached one.
    pub async fn check_fresh(&self, id: &str, inputs: &Inputs) -> Validation {
        self.cache.lock().expect("cache lock").remove(&inputs.key(id));
        self.check(id, inputs).await
    }

    /// The base URL validator `v` sends to (an `--endpoint` override, else its default).
    pub fn base_of(&self, v: &Compiled) -> Option<Url> {
        self.base(v)
    }

    /// The `--endpoint` override named `name`.
    pub(crate) fn endpoint(&self, name: &str) -> Option<Url> {
        self.opts.endpoints.get(name).cloned()
    }

    async fn map(
        &self,
        v: &Compiled,
        out: &Validation,
        inputs: &Inputs,
    ) -> Option<firebreak_core::AccessMap> {
        match v.spec.id.as_str() {
            "aws.access_key" => {
                let iam = self
                    .opts
                    .endpoints
                    .get("aws_iam")
                    .or_else(|| self.opts.endpoints.get("aws"))
                    .cloned()
                    .unwrap_or_else(|| Url::parse("https://iam.amazonaws.com/").expect("URL"));
                Some(crate::map::aws(self, &iam, out, inputs).await)
            }
            "github.token" => {
                let base = self.base(v)?;
                let token = inputs.get("token")?.expose().to_string();
                Some(crate::map::github(self, &base, out, &token).await)
            }
            // GitLab tokens sent as `PRIVATE-TOKEN` (personal, project, group access
            // tokens), not runner tokens
            id if id.starts_with("gitlab.") => {
                let Check::Http(h) = &v.spec.check else {
                    return None;
                };
                let (_, t) = h
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("private-token"))?;
                let token = render(t, inputs, false);
                let base = self.base(v)?;
                Some(crate::map::gitlab(self, &base, out, &token).await)
            }
            _ if matches!(v.spec.check, Check::GcpServiceAccount) => {
                let token_endpoint = self.base(v)?;
                let asset = self
                    .opts
                    .endpoints
                    .get("gcp_asset")
                    .cloned()
                    .unwrap_or_else(|| Url::parse(crate::gcp::CLOUD_ASSET).expect("URL"));
                Some(crate::gcp::map(self, &token_endpoint, &asset, out, inputs).await)
            }
            _ => None,
        }
    }

    fn client(&self, url: &Url) -> Result<Http, HttpError> {
        let origin = url.origin().ascii_serialization();
        let mut m = self.clients.lock().expect("clients lock");
        if let Some(h) = m.get(&origin) {
            return Ok(h.clone());
        }
        let cfg = HttpConfig {
            timeout: self.opts.timeout,
            connect_timeout: self.opts.timeout.min(Duration::from_secs(5)),
            max_retries: self.opts.max_retries,
            requests_per_second: Some(self.opts.rate_per_host),
            concurrency: self.opts.concurrency.max(1),
            max_wait: Duration::from_secs(30),
            ..HttpConfig::default()
        };
        let h = Http::new(url, Auth::None, cfg)?;
        m.insert(origin, h.clone());
        Ok(h)
    }

    fn base(&self, v: &Compiled) -> Option<Url> {
        let name = v.spec.endpoint.as_deref()?;
        if let Some(u) = self.opts.endpoints.get(name) {
            return Some(u.clone());
        }
        v.spec.base.as_deref().and_then(|b| Url::parse(b).ok())
    }

    async fn run(&self, v: &Compiled, inputs: &Inputs) -> Validation {
        let id = &v.spec.id;
        match &v.spec.check {
            Check::Http(h) => self.http_check(v, h, inputs).await,
            Check::AwsSts => match self.base(v) {
                Some(b) => crate::aws::check(self, id, &b, inputs).await,
                None => verdict(id, ValidationStatus::Unknown, Some("no endpoint".into())),
            },
            Check::GcpServiceAccount => match self.base(v) {
                Some(b) => crate::gcp::check(self, id, &b, inputs).await,
                None => verdict(id, ValidationStatus::Unknown, Some("no endpoint".into())),
            },
            Check::PypiMacaroon => crate::offline::pypi(id, inputs),
        }
    }

    /// Sends `req` through the client of its origin. Validators only read: the request
    /// may be replayed after an ambiguous failure.
    pub(crate) async fn send(&self, mut req: Request) -> Result<Response, HttpError> {
        req.replay = Replay::Safe;
        req.any_status = true;
        let http = self.client(&req.url)?;
        http.execute(req).await
    }

    /// Sends `req`; a failure after retries (timeout, connection, 5xx) is `unknown`,
    /// named by `shown` (the request's template, never the URL sent).
    pub(crate) async fn send_checked(
        &self,
        req: Request,
        id: &str,
        shown: &str,
    ) -> Result<Response, Validation> {
        self.send(req).await.map_err(|e| {
            verdict(
                id,
                ValidationStatus::Unknown,
                Some(format!("{shown}: {}", describe_http_error(&e))),
            )
        })
    }

    async fn http_check(&self, v: &Compiled, h: &HttpCheck, inputs: &Inputs) -> Validation {
        let (req, shown) = match self.build_request(v, h, inputs) {
            Ok(x) => x,
            Err(v) => return v,
        };
        let resp = match self.send_checked(req, &v.spec.id, &shown).await {
            Ok(r) => r,
            Err(v) => return v,
        };
        judge(v, h, &resp, &shown)
    }

    /// Builds the request of an HTTP template (a check or a revocation) and the words
    /// that name it in messages (the template, never the URL sent). A request that
    /// cannot be built is an `error` or `unknown` verdict.
    #[allow(clippy::result_large_err)] // the error is the verdict itself, built once per check
    pub(crate) fn build_request(
        &self,
        v: &Compiled,
        h: &HttpCheck,
        inputs: &Inputs,
    ) -> Result<(Request, String), Validation> {
        let id = &v.spec.id;
        let (url, shown) = match (&h.path, &h.url) {
            (Some(p), _) => {
                let Some(base) = self.base(v) else {
                    return Err(verdict(
                        id,
                        ValidationStatus::Unknown,
                        Some(format!(
                            "no {} endpoint known: pass --endpoint {}=URL",
                            v.spec.endpoint.as_deref().unwrap_or("?"),
                            v.spec.endpoint.as_deref().unwrap_or("NAME")
                        )),
                    ));
                };
                let b = base.as_str().trim_end_matches('/');
                let shown = format!("{} {b}{p}", h.method);
                match Url::parse(&format!("{b}{}", render(p, inputs, true))) {
                    Ok(u) => (u, shown),
                    Err(e) => {
                        return Err(verdict(
                            id,
                            ValidationStatus::Error,
                            Some(format!("{shown}: bad URL: {e}")),
                        ))
                    }
                }
            }
            (None, Some(t)) => {
                let shown = format!("{} {t}", h.method);
                let u = match Url::parse(&render(t, inputs, false)) {
                    Ok(u) => u,
                    Err(_) => {
                        return Err(verdict(
                            id,
                            ValidationStatus::Error,
                            Some(format!("{shown}: the value is not a URL")),
                        ))
                    }
                };
                let host = u.host_str().unwrap_or("").to_ascii_lowercase();
                if u.scheme() != "https" || !v.spec.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
                    return Err(verdict(
                        id,
                        ValidationStatus::Error,
                        Some(format!(
                            "{shown}: refusing to send the value to {host}: not one of {}",
                            v.spec.hosts.join(", ")
                        )),
                    ));
                }
                let u = match v
                    .spec
                    .endpoint
                    .as_deref()
                    .and_then(|n| self.opts.endpoints.get(n))
                {
                    Some(o) => {
                        let mut x = o.clone();
                        x.set_path(&format!("{}{}", o.path().trim_end_matches('/'), u.path()));
                        x.set_query(u.query());
                        x
                    }
                    None => u,
                };
                (u, shown)
            }
            (None, None) => return Err(verdict(id, ValidationStatus::Error, Some("no request".into()))),
        };
        let method = reqwest::Method::from_bytes(h.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = Request::new(method, url);
        for (k, t) in &h.headers {
            let val = render(t, inputs, false);
            let (Ok(k), Ok(mut val)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(&val),
            ) else {
                return Err(verdict(
                    id,
                    ValidationStatus::Error,
                    Some(format!("{shown}: header {k} cannot carry the value")),
                ));
            };
            val.set_sensitive(t.contains("{{"));
            req.headers.push((k, val));
        }
        if let Some([u, p]) = &h.basic {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                render(u, inputs, false),
                render(p, inputs, false)
            ));
            let mut val = reqwest::header::HeaderValue::from_str(&format!("Basic {b}"))
                .expect("base64 is a valid header");
            val.set_sensitive(true);
            req.headers.push((reqwest::header::AUTHORIZATION, val));
        }
        if !h.form.is_empty() {
            let mut f = url::form_urlencoded::Serializer::new(String::new());
            for (k, t) in &h.form {
                f.append_pair(k, &render(t, inputs, false));
            }
            req.body = Some(Body::Bytes {
                content_type: "application/x-www-form-urlencoded".into(),
                bytes: f.finish().into_bytes(),
            });
        } else if let Some(j) = &h.json {
            req.body = Some(Body::Json(render_json(j, inputs)));
        }
        Ok((req, shown))
    }
}

/// An HTTP error in words, without the URL (which may carry the value).
pub(crate) fn describe_http_error(e: &HttpError) -> String {
    match e {
        HttpError::Status { status, .. } => format!("HTTP {status}"),
        HttpError::Transport { message, .. } => message.clone(),
        HttpError::Decode { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn render(t: &str, inputs: &Inputs, url_encode: bool) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = after[..j].trim();
        let v = inputs.get(name).map(|s| s.expose()).unwrap_or("");
        if url_encode {
            out.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        } else {
            out.push_str(v);
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

fn render_json(v: &serde_json::Value, inputs: &Inputs) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(render(s, inputs, false)),
        Value::Array(a) => Value::Array(a.iter().map(|x| render_json(x, inputs)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), render_json(x, inputs)))
                .collect(),
        ),
        x => x.clone(),
    }
}

pub(crate) fn matches(m: &Match, resp: &Response, json: Option<&serde_json::Value>) -> bool {
    if !m.status.is_empty() && !m.status.contains(&resp.status) {
        return false;
    }
    if !m.json.is_empty() || !m.json_exists.is_empty() {
        let Some(j) = json else { return false };
        for (p, want) in &m.json {
            let Some(got) = j.pointer(p) else { return false };
            let ok = match want {
                serde_json::Value::Array(any) => any.contains(got),
                w => w == got,
            };
            if !ok {
                return false;
            }
        }
        if m.json_exists
            .iter()
            .any(|p| j.pointer(p).is_none_or(|x| x.is_null()))
        {
            return false;
        }
    }
    let body = String::from_utf8_lossy(&resp.body);
    m.body_contains.iter().all(|s| body.contains(s.as_str()))
}

fn judge(v: &Compiled, h: &HttpCheck, resp: &Response, shown: &str) -> Validation {
    let id = &v.spec.id;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let needs_json = !h.live.json.is_empty() || !h.live.json_exists.is_empty();
    if matches(&h.live, resp, json.as_ref()) {
        let mut out = verdict(id, ValidationStatus::Live, None);
        out.identity = extract(v, resp, json.as_ref());
        return out;
    }
    if h.dead.iter().any(|d| matches(d, resp, json.as_ref())) {
        return verdict(
            id,
            ValidationStatus::Dead,
            Some(format!("{shown}: HTTP {} (refused)", resp.status)),
        );
    }
    if resp.status == 429 || resp.status >= 500 {
        return verdict(
            id,
            ValidationStatus::Unknown,
            Some(format!("{shown}: HTTP {}", resp.status)),
        );
    }
    if needs_json && json.is_none() && h.live.status.contains(&resp.status) {
        return verdict(
            id,
            ValidationStatus::Error,
            Some(format!(
                "{shown}: HTTP {}: the reply is not the JSON the provider documents",
                resp.status
            )),
        );
    }
    verdict(
        id,
        ValidationStatus::Unknown,
        Some(format!("{shown}: unexpected reply HTTP {}", resp.status)),
    )
}

fn extract(
    v: &Compiled,
    resp: &Response,
    json: Option<&serde_json::Value>,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for (k, e) in &v.spec.identity {
        let val = if let Some(p) = &e.json {
            json.and_then(|j| j.pointer(p)).filter(|x| !x.is_null()).cloned()
        } else if let Some(hname) = &e.header {
            resp.header(hname)
                .map(|s| serde_json::Value::String(s.to_string()))
        } else {
            None
        };
        let Some(mut val) = val else { continue };
        if let (Some(sep), serde_json::Value::String(s)) = (&e.split, &val) {
            val = serde_json::Value::Array(
                s.split(sep.as_str())
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|x| serde_json::Value::String(x.to_string()))
                    .collect(),
            );
        }
        out.insert(k.clone(), val);
    }
    out
}
