//! The source simulator: an HTTP credential issuer speaking the command / HTTP source
//! protocol (`POST /` with `{"op": "issue" | "lookup" | "revoke" | "fetch", ...}`), with a
//! validity timeline (issued_at / revoked_at per credential) and a count of issue calls per
//! idempotency key, for the crash test, drills and benchmarks.
//!
//! Like a real, non-idempotent issuer, a second `issue` with the same key issues a second
//! credential (and is counted): the engine must look a key up before issuing again.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use firebreak_core::SecretString;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One credential on the timeline (no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredView {
    /// Secret it belongs to.
    pub secret: String,
    /// Id.
    pub id: String,
    /// SHA-256 hex of the value.
    pub fingerprint: String,
    /// Idempotency key of the issue (`None` for seeded credentials).
    pub idempotency_key: Option<String>,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

struct Cred {
    view: CredView,
    value: SecretString,
    previous_ids: Vec<String>,
}

#[derive(Default)]
struct St {
    creds: Vec<Cred>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<String, usize>,
    /// Credentials of each secret, in issue order (keeps `add` O(credentials of the secret)).
    by_secret: HashMap<String, Vec<usize>>,
    /// Credentials by fingerprint (keeps `accepts` O(1)).
    by_fp: HashMap<String, Vec<usize>>,
    active: HashMap<String, String>,
    issue_calls: HashMap<String, u32>,
    next: u64,
    no_fetch: bool,
}

impl St {
    fn add(&mut self, secret: &str, key: Option<&str>, value: SecretString) -> usize {
        self.next += 1;
        let id = format!("cred-{}", self.next);
        // the new credential replaces every credential of the secret still valid
        let prev: Vec<String> = self
            .by_secret
            .get(secret)
            .into_iter()
            .flatten()
            .map(|&j| &self.creds[j].view)
            .filter(|v| v.revoked_at.is_none())
            .map(|v| v.id.clone())
            .collect();
        let i = self.creds.len();
        self.by_secret.entry(secret.to_string()).or_default().push(i);
        self.by_fp.entry(value.fingerprint()).or_default().push(i);
        self.creds.push(Cred {
            view: CredView {
                secret: secret.into(),
                id: id.clone(),
                fingerprint: value.fingerprint(),
                idempotency_key: key.map(str::to_string),
                issued_at: Utc::now(),
                revoked_at: None,
            },
            value,
            previous_ids: prev,
        });
        self.by_id.insert(id.clone(), i);
        if let Some(k) = key {
            self.by_key.insert(k.to_string(), i);
        }
        self.active.insert(secret.to_string(), id);
        i
    }

    fn reply(&self, i: usize) -> Value {
        let c = &self.creds[i];
        json!({"id": c.view.id, "credential": c.value.expose(), "previous_ids": c.previous_ids})
    }
}

/// A running source simulator.
pub struct SourceSim {
    st: Arc<Mutex<St>>,
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

async fn handle(
    State(st): State<Arc<Mutex<St>>>,
    Json(req): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let mut s = st.lock().expect("source sim");
    let secret = req["secret"].as_str().unwrap_or("").to_string();
    let ok = axum::http::StatusCode::OK;
    match req["op"].as_str().unwrap_or("") {
        "issue" => {
            let Some(key) = req["idempotency_key"].as_str() else {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    Json(json!({"error": "idempotency_key required"})),
                );
            };
            *s.issue_calls.entry(key.to_string()).or_default() += 1;
            let v = crate::sources::random_value(32, "alnum", Some("simcred_"));
            let i = s.add(&secret, Some(key), v);
            (ok, Json(s.reply(i)))
        }
        "lookup" => {
            let key = req["idempotency_key"].as_str().unwrap_or("");
            match s.by_key.get(key) {
                Some(&i) => (ok, Json(s.reply(i))),
                None => (ok, Json(json!({"found": false}))),
            }
        }
        "revoke" => {
            let id = req["id"].as_str().unwrap_or("");
            match s.by_id.get(id).copied() {
                Some(i) => {
                    if s.creds[i].view.revoked_at.is_none() {
                        s.creds[i].view.revoked_at = Some(Utc::now());
                    }
                    (ok, Json(json!({"ok": true})))
                }
                None => (
                    axum::http::StatusCode::OK,
                    Json(json!({"ok": true, "note": "unknown id"})),
                ),
            }
        }
        "fetch" => {
            if s.no_fetch {
                return (ok, Json(json!({"error": "fetch unsupported"})));
            }
            let id = req["id"].as_str().unwrap_or("");
            match s.by_id.get(id) {
                Some(&i) if s.creds[i].view.revoked_at.is_none() => {
                    (ok, Json(json!({"credential": s.creds[i].value.expose()})))
                }
                _ => (ok, Json(json!({"found": false}))),
            }
        }
        _ => (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "unknown op"})),
        ),
    }
}

impl SourceSim {
    /// Starts on 127.0.0.1 (any free port) inside the current Tokio runtime.
    pub async fn start() -> std::io::Result<SourceSim> {
        let st = Arc::new(Mutex::new(St::default()));
        let app = Router::new().route("/", post(handle)).with_state(st.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SourceSim {
            st,
            addr,
            shutdown: Some(tx),
        })
    }

    /// The protocol endpoint (`http` source `url`).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Seeds the current credential of `secret` (before a rotation); returns its value.
    pub fn seed(&self, secret: &str) -> SecretString {
        let mut s = self.st.lock().expect("source sim");
        let v = crate::sources::random_value(32, "alnum", Some("simcred_"));
        s.add(secret, None, v.clone());
        v
    }

    /// Makes `fetch` unsupported (so failures stop instead of rolling back).
    pub fn set_no_fetch(&self, on: bool) {
        self.st.lock().expect("source sim").no_fetch = on;
    }

    /// Every credential, in issue order.
    pub fn timeline(&self) -> Vec<CredView> {
        self.st
            .lock()
            .expect("source sim")
            .creds
            .iter()
            .map(|c| c.view.clone())
            .collect()
    }

    /// Issue calls per idempotency key.
    pub fn issue_calls(&self) -> HashMap<String, u32> {
        self.st.lock().expect("source sim").issue_calls.clone()
    }

    /// True when a credential with this fingerprint exists and is not revoked.
    pub fn accepts(&self, fp: &str) -> bool {
        let s = self.st.lock().expect("source sim");
        s.by_fp
            .get(fp)
            .into_iter()
            .flatten()
            .any(|&i| s.creds[i].view.revoked_at.is_none())
    }
}

impl Drop for SourceSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
