//! OIDC ID-token verification against configured issuers (GitHub Actions, CircleCI).
//!
//! Keys come from the issuer's discovery document (`jwks_uri`), are cached, and are refetched
//! when a token names an unknown `kid` (at most once per `jwks_refetch_min_interval_secs`).
//! Only RS256 and ES256 are accepted; the key type must match the algorithm.

use crate::config::{
    CircleciPublisher, GithubPublisher, IssuerConfig, OidcProvider, OidcSettings, TrustedPublisher,
};
use base64::Engine;
use firebreak_http::{Http, HttpConfig, Method, Request};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Keys are refetched after this age even without an unknown `kid`.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

/// Largest discovery document or key set accepted from an issuer.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A verified token's claims and the issuer that vouched for them.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The issuer configuration that matched.
    pub issuer: IssuerConfig,
    /// All claims.
    pub claims: Map<String, Value>,
    /// `sub` claim (empty when absent).
    pub sub: String,
    /// `jti` claim.
    pub jti: String,
    /// `exp` claim (Unix seconds).
    pub exp: i64,
}

struct CachedKeys {
    keys: JwkSet,
    fetched_at: Instant,
}

/// Verifies ID tokens; holds the JWKS cache.
pub struct Verifier {
    settings: OidcSettings,
    http: Http,
    cache: tokio::sync::Mutex<HashMap<String, CachedKeys>>,
}

fn b64json(seg: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A denial reason (safe to log: never contains the token).
pub type Denial = String;

impl Verifier {
    /// Creates a verifier for the configured issuers.
    pub fn new(settings: OidcSettings) -> Verifier {
        // Fetches run while the key cache is locked (verifications wait on them): a short
        // timeout and few, quick retries; waits on an issuer's rate limit are bounded too.
        let cfg = HttpConfig {
            timeout: Duration::from_secs(10),
            max_retries: 2,
            max_rate_limit_retries: 1,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            max_wait: Duration::from_secs(2),
            ..HttpConfig::default()
        };
        let http = Http::anonymous(cfg).expect("http client");
        Verifier {
            settings,
            http,
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Pre-loads the signing keys of `issuer` (the `iss` of a configured issuer) as if just
    /// fetched from its `jwks_uri`: verification then needs no network until the keys age
    /// out or a token names an unknown `kid` (for tests, fuzzing and offline drills).
    pub async fn preload_keys(&self, issuer: &str, keys: JwkSet) {
        self.cache.lock().await.insert(
            issuer.to_string(),
            CachedKeys {
                keys,
                fetched_at: Instant::now(),
            },
        );
    }

    /// Peeks at the unverified `iss` and `sub` (at most 200 characters each), for
    /// the audit record of a denial: recorded there as claimed, never as the actor.
    pub fn peek_iss_sub(jwt: &str) -> (Option<String>, Option<String>) {
        let Some(payload) = jwt.split('.').nth(1).and_then(b64json) else {
            return (None, None);
        };
        let s = |k: &str| {
            payload
                .get(k)
                .and_then(Value::as_str)
                .map(|v| v.chars().take(200).collect())
        };
        (s("iss"), s("sub"))
    }

    async fn fetch_keys(&self, iss: &IssuerConfig) -> Result<JwkSet, Denial> {
        let disc_url = iss.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                iss.issuer.trim_end_matches('/')
            )
        });
        let disc_u = url::Url::parse(&disc_url)
            .map_err(|e| format!("issuer discovery {disc_url} failed: bad URL: {e}"))?;
        let disc: Value = self
            .get_document(disc_u)
            .await
            .map_err(|e| format!("issuer discovery {disc_url} failed: {e}"))?
            .json("GET")
            .map_err(|e| format!("issuer discovery {disc_url}: bad document: {e}"))?;
        if disc.get("issuer").and_then(Value::as_str) != Some(iss.issuer.as_str()) {
            return Err(format!(
                "issuer discovery {disc_url}: issuer field does not match"
            ));
        }
        let jwks_uri = disc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("issuer discovery {disc_url}: no jwks_uri"))?;
        let u = url::Url::parse(jwks_uri).map_err(|e| format!("jwks_uri: {e}"))?;
        if u.scheme() != "https" && !self.settings.allow_insecure_http {
            return Err("jwks_uri must use https".into());
        }
        self.get_document(u)
            .await
            .map_err(|e| format!("JWKS fetch failed: {e}"))?
            .json::<JwkSet>("GET")
            .map_err(|e| format!("JWKS: bad document: {e}"))
    }

    /// GETs an issuer's document (idempotent: retried after a 5xx or a timeout), at most
    /// [`MAX_DOCUMENT_BYTES`] long.
    async fn get_document(&self, u: url::Url) -> Result<firebreak_http::Response, firebreak_http::HttpError> {
        let mut req = Request::new(Method::GET, u);
        req.max_body = Some(MAX_DOCUMENT_BYTES);
        self.http.execute(req).await
    }

    async fn key_for(&self, iss: &IssuerConfig, kid: &str) -> Result<Jwk, Denial> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let min_gap = Duration::from_secs(self.settings.jwks_refetch_min_interval_secs);
        let need_fetch = match cache.get(&iss.issuer) {
            None => true,
            Some(c) if now.duration_since(c.fetched_at) > MAX_KEY_AGE => true,
            Some(c) => c.keys.find(kid).is_none() && now.duration_since(c.fetched_at) >= min_gap,
        };
        if need_fetch {
            match self.fetch_keys(iss).await {
                Ok(keys) => {
                    cache.insert(
                        iss.issuer.clone(),
                        CachedKeys {
                            keys,
                            fetched_at: now,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    if !cache.contains_key(&iss.issuer) {
                        return Err(e);
                    }
                }
            }
        }
        cache
            .get(&iss.issuer)
            .and_then(|c| c.keys.find(kid).cloned())
            .ok_or_else(|| "unknown signing key id".to_string())
    }

    /// Verifies signature, issuer, audience, exp, nbf and iat. `now` is Unix seconds.
    /// The caller checks `jti` replay and publisher claims.
    pub async fn verify(&self, jwt: &str, now: i64) -> Result<Verified, Denial> {
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("malformed JWT".into());
        }
        let header = b64json(parts[0]).ok_or("malformed JWT header")?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let alg = match alg {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "none" | "None" | "NONE" | "" => return Err("JWT algorithm none is not allowed".into()),
            a if a.starts_with("HS") => return Err(format!("JWT algorithm {a} is not allowed")),
            a => {
                return Err(format!(
                    "JWT algorithm {} is not allowed",
                    a.chars().take(16).collect::<String>()
                ))
            }
        };
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or("JWT header has no kid")?;
        let payload = b64json(parts[1]).ok_or("malformed JWT payload")?;
        let iss_claim = payload
            .get("iss")
            .and_then(Value::as_str)
            .ok_or("JWT has no iss")?;
        let issuer = self
            .settings
            .issuers
            .iter()
            .find(|i| i.issuer == iss_claim)
            .cloned()
            .ok_or("untrusted issuer")?;
        let jwk = self.key_for(&issuer, kid).await?;
        let key_ok = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
            _ => false,
        };
        if !key_ok {
            return Err("JWT algorithm does not match the issuer's key".into());
        }
        if let Some(ka) = &jwk.common.key_algorithm {
            if format!("{ka:?}") != format!("{alg:?}") {
                return Err("JWT algorithm does not match the issuer's key".into());
            }
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| "issuer key is unusable".to_string())?;
        let mut v = Validation::new(alg);
        v.set_issuer(&[&issuer.issuer]);
        v.set_audience(&[&issuer.audience]);
        v.leeway = self.settings.clock_skew_secs;
        v.validate_nbf = true;
        v.validate_exp = true;
        v.set_required_spec_claims(&["exp", "iss", "aud", "iat"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature => "JWT signature is invalid".to_string(),
                K::ExpiredSignature => "JWT has expired".to_string(),
                K::ImmatureSignature => "JWT is not valid yet (nbf)".to_string(),
                K::InvalidIssuer => "untrusted issuer".to_string(),
                K::InvalidAudience => "JWT audience does not match".to_string(),
                K::InvalidAlgorithm => "JWT algorithm does not match the issuer's key".to_string(),
                K::MissingRequiredClaim(c) => format!("JWT lacks required claim {c}"),
                _ => "JWT is invalid".to_string(),
            }
        })?;
        let claims = data.claims;
        let skew = self.settings.clock_skew_secs as i64;
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or("JWT iat is not a number")?;
        if iat > now + skew {
            return Err("JWT issued in the future (iat)".into());
        }
        if iat < now - self.settings.max_token_age_secs as i64 {
            return Err("JWT is too old (iat)".into());
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or("JWT exp is not a number")?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or("JWT has no jti")?
            .to_string();
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(Verified {
            issuer,
            claims,
            sub,
            jti,
            exp,
        })
    }
}

fn claim_str<'a>(c: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    c.get(k).and_then(Value::as_str)
}

fn claim_text(c: &Map<String, Value>, k: &str) -> Option<String> {
    match c.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn github_matches(p: &GithubPublisher, c: &Map<String, Value>) -> bool {
    claim_str(c, "repository") == Some(p.repository.as_str())
        && claim_text(c, "repository_owner_id").as_deref() == Some(p.repository_owner_id.as_str())
        && claim_str(c, "job_workflow_ref") == Some(p.job_workflow_ref.as_str())
        && p.environment
            .as_deref()
            .is_none_or(|e| claim_str(c, "environment") == Some(e))
}

fn circleci_matches(p: &CircleciPublisher, c: &Map<String, Value>) -> bool {
    claim_str(c, "oidc.circleci.com/org-id") == Some(p.org_id.as_str())
        && claim_str(c, "oidc.circleci.com/project-id") == Some(p.project_id.as_str())
}

/// Matches verified claims against a project's trusted publishers.
pub fn match_publisher(
    provider: OidcProvider,
    claims: &Map<String, Value>,
    publishers: &[TrustedPublisher],
) -> Result<(), Denial> {
    if provider == OidcProvider::Circleci {
        match claims.get("oidc.circleci.com/ssh-rerun") {
            Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                return Err("CircleCI job was rerun with SSH (oidc.circleci.com/ssh-rerun is true)".into())
            }
            _ => return Err("CircleCI token lacks oidc.circleci.com/ssh-rerun".into()),
        }
    }
    let hit = publishers.iter().any(|p| match (provider, p) {
        (OidcProvider::Github, TrustedPublisher::Github(g)) => github_matches(g, claims),
        (OidcProvider::Circleci, TrustedPublisher::Circleci(cc)) => circleci_matches(cc, claims),
        _ => false,
    });
    if hit {
        Ok(())
    } else {
        Err("claims do not match any trusted publisher of the project".into())
    }
}
