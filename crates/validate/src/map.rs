//! Access maps: what a live credential can reach, read with the credential itself (read
//! calls only, through the one HTTP layer). What cannot be read is said in `errors`: the
//! map is then incomplete, not empty.
//!
//! - AWS access key: the principal (`GetCallerIdentity`, from the validation); for an IAM
//!   user its attached and inline policies and those of its groups
//!   (`ListAttachedUserPolicies`, `ListUserPolicies`/`GetUserPolicy`, `ListGroupsForUser`,
//!   `ListAttachedGroupPolicies`, `ListGroupPolicies`/`GetGroupPolicy`,
//!   `GetPolicy`/`GetPolicyVersion`), for an assumed role the role's: each statement's
//!   actions on which resources. Errors: `iam:Action: HTTP 403 AccessDenied`.
//! - GitHub token: scopes (`X-OAuth-Scopes`, from the validation), organisations
//!   (`GET /user/orgs`), repositories with the highest permission held
//!   (`GET /user/repos`, `Link` pagination, at most [`MAX_PAGES`] pages).
//! - GitLab personal, project or group access token (`PRIVATE-TOKEN`): the user
//!   (`GET /user`: `username`, a bot user for project and group tokens), scopes (from the
//!   validation's `GET /personal_access_tokens/self`), projects it is a member of with
//!   the role held (`GET /projects?membership=true&simple=false`:
//!   `permissions.project_access` / `group_access`, the higher, by GitLab's role names),
//!   groups (`GET /groups?min_access_level=10`) as organisations; `X-Next-Page` (else
//!   `Link`) pagination, at most [`MAX_PAGES`] pages. A scope short of `read_api` gives
//!   `HTTP 403 insufficient_scope` errors.
//! - GCP service-account key: see `gcp::map` (Cloud Asset `searchAllIamPolicies` over
//!   the key's project: each binding naming the account, its role on the resource).

use crate::engine::{Checker, Inputs};
use firebreak_core::{Access, AccessMap, Validation};
use firebreak_http::aws::{query_request, xml_tag, AwsCredentials};
use firebreak_http::Request;
use serde_json::Value;
use url::Url;

/// Most pages read from one listing.
const MAX_PAGES: usize = 10;

fn members(xml: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<member>") {
        let after = &rest[i + 8..];
        let Some(j) = after.find("</member>") else { break };
        out.push(&after[..j]);
        rest = &after[j + 9..];
    }
    out
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// The statements of an IAM policy document as accesses.
pub fn policy_accesses(doc: &str, via: &str) -> Vec<Access> {
    let Ok(v) = serde_json::from_str::<Value>(doc) else {
        return vec![Access {
            resource: "?".into(),
            permission: "policy document not readable".into(),
            via: via.to_string(),
        }];
    };
    let stmts = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in stmts {
        let effect = s.get("Effect").and_then(Value::as_str).unwrap_or("Allow");
        let (actions, not) = match s.get("NotAction") {
            Some(n) => (as_list(Some(n)), true),
            None => (as_list(s.get("Action")), false),
        };
        let resources = match s.get("NotResource") {
            Some(n) => as_list(Some(n))
                .into_iter()
                .map(|r| format!("everything but {r}"))
                .collect(),
            None => as_list(s.get("Resource")),
        };
        let perm = format!(
            "{effect} {}{}",
            if not { "all but " } else { "" },
            actions.join(", ")
        );
        for r in if resources.is_empty() {
            vec!["*".to_string()]
        } else {
            resources
        } {
            out.push(Access {
                resource: r,
                permission: perm.clone(),
                via: via.to_string(),
            });
        }
    }
    out
}

struct Iam<'a> {
    ck: &'a Checker,
    base: Url,
    creds: AwsCredentials,
}

impl Iam<'_> {
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, String> {
        let mut p: Vec<(&str, &str)> = params.to_vec();
        p.push(("MaxItems", "100"));
        let req = query_request(
            &self.base,
            "iam",
            "us-east-1",
            "2010-05-08",
            action,
            &p,
            &self.creds,
        )
        .map_err(|e| format!("iam:{action}: {e}"))?;
        let r = self
            .ck
            .send(req)
            .await
            .map_err(|e| format!("iam:{action}: {}", crate::engine::describe_http_error(&e)))?;
        let text = String::from_utf8_lossy(&r.body).into_owned();
        if r.status >= 300 {
            return Err(format!(
                "iam:{action}: HTTP {} {}",
                r.status,
                xml_tag(&text, "Code").unwrap_or("")
            ));
        }
        Ok(text)
    }

    /// Attached and inline policies of a user, role or group, as accesses.
    async fn policies(&self, kind: &str, name: &str, via_prefix: &str, map: &mut AccessMap) {
        let (attached, inline, get_inline, key) = match kind {
            "user" => (
                "ListAttachedUserPolicies",
                "ListUserPolicies",
                "GetUserPolicy",
                "UserName",
            ),
            "role" => (
                "ListAttachedRolePolicies",
                "ListRolePolicies",
                "GetRolePolicy",
                "RoleName",
            ),
            _ => (
                "ListAttachedGroupPolicies",
                "ListGroupPolicies",
                "GetGroupPolicy",
                "GroupName",
            ),
        };
        match self.call(attached, &[(key, name)]).await {
            Ok(xml) => {
                map.truncated |= xml_tag(&xml, "IsTruncated") == Some("true");
                for m in members(&xml) {
                    let (Some(pname), Some(arn)) = (xml_tag(m, "PolicyName"), xml_tag(m, "PolicyArn")) else {
                        continue;
                    };
                    let via = format!("{via_prefix}policy {pname} (attached)");
                    let version = match self.call("GetPolicy", &[("PolicyArn", arn)]).await {
                        Ok(x) => xml_tag(&x, "DefaultVersionId").map(str::to_string),
                        Err(e) => {
                            map.errors.push(e);
                            None
                        }
                    };
                    let Some(version) = version else {
                        map.resources.push(Access {
                            resource: "?".into(),
                            permission: format!("policy {arn} (document not readable)"),
                            via,
                        });
                        continue;
                    };
                    match self
                        .call("GetPolicyVersion", &[("PolicyArn", arn), ("VersionId", &version)])
                        .await
                    {
                        Ok(x) => map.resources.extend(policy_accesses(
                            &pct_decode(xml_tag(&x, "Document").unwrap_or("")),
                            &via,
                        )),
                        Err(e) => map.errors.push(e),
                    }
                }
            }
            Err(e) => map.errors.push(e),
        }
        match self.call(inline, &[(key, name)]).await {
            Ok(xml) => {
                for pname in members(&xml) {
                    let pname = pname.trim();
                    match self.call(get_inline, &[(key, name), ("PolicyName", pname)]).await {
                        Ok(x) => map.resources.extend(policy_accesses(
                            &pct_decode(xml_tag(&x, "PolicyDocument").unwrap_or("")),
                            &format!("{via_prefix}policy {pname} (inline)"),
                        )),
                        Err(e) => map.errors.push(e),
                    }
                }
            }
            Err(e) => map.errors.push(e),
        }
    }
}

/// The resource part of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`):
/// `user/path/NAME` of `arn:aws:iam::ACCT:user/path/NAME`, `assumed-role/ROLE/SESSION` of
/// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`; empty when it is not an ARN.
fn arn_resource(arn: &str) -> &str {
    arn.splitn(6, ':').nth(5).unwrap_or("")
}

/// The access map of a live AWS key: its principal (from `GetCallerIdentity`), and the
/// policies of the user (and its groups) or role.
pub(crate) async fn aws(ck: &Checker, base: &Url, v: &Validation, inputs: &Inputs) -> AccessMap {
    let arn = v
        .identity
        .get("arn")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut map = AccessMap {
        principal: Some(arn.clone()),
        ..AccessMap::default()
    };
    let (Some(key_id), Some(secret)) = (inputs.get("key_id"), inputs.get("secret")) else {
        return map;
    };
    let iam = Iam {
        ck,
        base: base.clone(),
        creds: AwsCredentials {
            access_key_id: key_id.expose().to_string(),
            secret_access_key: secret.clone(),
            session_token: inputs.get("session_token").cloned(),
        },
    };
    let resource = arn_resource(&arn);
    if let Some(user) = resource.strip_prefix("user/") {
        let user = user.rsplit('/').next().unwrap_or(user);
        iam.policies("user", user, "", &mut map).await;
        match iam.call("ListGroupsForUser", &[("UserName", user)]).await {
            Ok(xml) => {
                for m in members(&xml) {
                    if let Some(g) = xml_tag(m, "GroupName") {
                        map.organisations.push(format!("group {g}"));
                        iam.policies("group", g, &format!("group {g}: "), &mut map).await;
                    }
                }
            }
            Err(e) => map.errors.push(e),
        }
    } else if let Some(role) = resource.strip_prefix("assumed-role/") {
        let role = role.split('/').next().unwrap_or(role);
        iam.policies("role", role, &format!("role {role}: "), &mut map)
            .await;
    } else if resource == "root" {
        map.resources.push(Access {
            resource: "*".into(),
            permission: "everything (the account's root user)".into(),
            via: "root credentials".into(),
        });
    }
    map
}

/// The access map of a live GitHub token: scopes, organisations, repositories.
pub(crate) async fn github(ck: &Checker, base: &Url, v: &Validation, token: &str) -> AccessMap {
    let mut map = AccessMap {
        principal: v
            .identity
            .get("login")
            .and_then(Value::as_str)
            .map(str::to_string),
        scopes: v
            .identity
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        ..AccessMap::default()
    };
    let b = base.as_str().trim_end_matches('/').to_string();
    let get = |url: Url| {
        let mut r = Request::new(reqwest::Method::GET, url);
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("a token is a header value");
        auth.set_sensitive(true);
        r.headers.push((reqwest::header::AUTHORIZATION, auth));
        r.headers.push((
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/vnd.github+json"),
        ));
        r
    };
    match ck
        .send(get(
            Url::parse(&format!("{b}/user/orgs?per_page=100")).expect("URL")
        ))
        .await
    {
        Ok(r) if r.status == 200 => {
            if let Ok(Value::Array(a)) = serde_json::from_slice::<Value>(&r.body) {
                map.organisations = a
                    .iter()
                    .filter_map(|o| o.get("login").and_then(Value::as_str).map(str::to_string))
                    .collect();
            }
        }
        Ok(r) => map.errors.push(format!("GET {b}/user/orgs: HTTP {}", r.status)),
        Err(e) => map.errors.push(format!(
            "GET {b}/user/orgs: {}",
            crate::engine::describe_http_error(&e)
        )),
    }
    let mut next = Some(Url::parse(&format!("{b}/user/repos?per_page=100")).expect("URL"));
    let mut pages = 0;
    while let Some(u) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            map.truncated = true;
            break;
        }
        match ck.send(get(u)).await {
            Ok(r) if r.status == 200 => {
                if let Ok(Value::Array(a)) = serde_json::from_slice::<Value>(&r.body) {
                    for repo in a {
                        let Some(name) = repo.get("full_name").and_then(Value::as_str) else {
                            continue;
                        };
                        let p = repo.get("permissions");
                        let has = |k: &str| p.and_then(|p| p.get(k)).and_then(Value::as_bool) == Some(true);
                        let perm = ["admin", "maintain", "push", "triage", "pull"]
                            .into_iter()
                            .find(|k| has(k))
                            .unwrap_or("pull");
                        map.resources.push(Access {
                            resource: name.to_string(),
                            permission: perm.to_string(),
                            via: if map.scopes.is_empty() {
                                "token".into()
                            } else {
                                format!("token scopes {}", map.scopes.join(", "))
                            },
                        });
                    }
                }
                next = firebreak_http::link_next(&r.headers)
                    .and_then(|n| Url::parse(&n).ok())
                    .filter(|n| n.origin() == base.origin());
            }
            Ok(r) => {
                map.errors.push(format!("GET {b}/user/repos: HTTP {}", r.status));
                break;
            }
            Err(e) => {
                map.errors.push(format!(
                    "GET {b}/user/repos: {}",
                    crate::engine::describe_http_error(&e)
                ));
                break;
            }
        }
    }
    map
}

/// GitLab's name for an access level (its documented roles): 10 Guest, 15 Planner, 20
/// Reporter, 30 Developer, 40 Maintainer, 50 Owner (5 Minimal access, 0 No access).
pub fn gitlab_role(level: u64) -> String {
    match level {
        0 => "No access".into(),
        5 => "Minimal access".into(),
        10 => "Guest".into(),
        15 => "Planner".into(),
        20 => "Reporter".into(),
        30 => "Developer".into(),
        40 => "Maintainer".into(),
        50 => "Owner".into(),
        n => format!("access level {n}"),
    }
}

/// An access level as GitLab sends it: a number (or, in its generated OpenAPI
/// description, a string holding one).
fn access_level(v: Option<&Value>) -> Option<u64> {
    let l = v?.get("access_level")?;
    l.as_u64()
        .or_else(|| l.as_str().and_then(|s| s.trim().parse().ok()))
}

/// What a GitLab error reply says, without anything it might echo at length.
fn gitlab_error(status: u16, body: &[u8]) -> String {
    let j: Option<Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| j.as_ref().and_then(|j| j.get(k)).and_then(Value::as_str);
    if field("error") == Some("insufficient_scope") {
        return format!(
            "HTTP {status} insufficient_scope: the token lacks the scope this needs ({})",
            field("scope").unwrap_or("api or read_api").replace(' ', " or ")
        );
    }
    match field("message").or(field("error")) {
        Some(m) => format!("HTTP {status} {}", m.chars().take(120).collect::<String>()),
        None => format!("HTTP {status}"),
    }
}

struct GitLab<'a> {
    ck: &'a Checker,
    /// The API base, `https://gitlab.com/api/v4` or the `gitlab` override.
    base: String,
    origin: url::Origin,
    token: &'a str,
}

impl GitLab<'_> {
    fn request(&self, url: Url) -> Request {
        let mut r = Request::new(reqwest::Method::GET, url);
        let mut t = reqwest::header::HeaderValue::from_str(self.token).expect("a token is a header value");
        t.set_sensitive(true);
        r.headers
            .push((reqwest::header::HeaderName::from_static("private-token"), t));
        r
    }

    /// `GET {base}{path}`: the JSON reply, or the error (named by the request, which
    /// carries no secret: the token travels in a header).
    async fn get(&self, path: &str) -> Result<Value, String> {
        let shown = format!("GET {}{path}", self.base);
        let url = Url::parse(&format!("{}{path}", self.base)).map_err(|e| format!("{shown}: {e}"))?;
        match self.ck.send(self.request(url)).await {
            Ok(r) if r.status == 200 => match serde_json::from_slice::<Value>(&r.body) {
                Ok(v) => Ok(v),
                Err(_) => Err(format!("{shown}: HTTP 200 but not the JSON GitLab documents")),
            },
            Ok(r) => Err(format!("{shown}: {}", gitlab_error(r.status, &r.body))),
            Err(e) => Err(format!("{shown}: {}", crate::engine::describe_http_error(&e))),
        }
    }

    /// Every item of a listing, following `X-Next-Page` (else `Link: rel="next"` on the
    /// same origin), at most [`MAX_PAGES`] pages. A failure is said in `map.errors`.
    async fn list(&self, path: &str, map: &mut AccessMap) -> Vec<Value> {
        let shown = format!("GET {}{path}", self.base);
        let mut out = Vec::new();
        let Ok(mut next) = Url::parse(&format!("{}{path}", self.base)).map(Some) else {
            map.errors.push(format!("{shown}: not a URL"));
            return out;
        };
        let mut pages = 0;
        while let Some(u) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                map.truncated = true;
                break;
            }
            let r = match self.ck.send(self.request(u.clone())).await {
                Ok(r) if r.status == 200 => r,
                Ok(r) => {
                    map.errors
                        .push(format!("{shown}: {}", gitlab_error(r.status, &r.body)));
                    break;
                }
                Err(e) => {
                    map.errors
                        .push(format!("{shown}: {}", crate::engine::describe_http_error(&e)));
                    break;
                }
            };
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(Value::Array(a)) => out.extend(a),
                _ => {
                    map.errors.push(format!(
                        "{shown}: page {pages} is not the JSON array GitLab documents"
                    ));
                    break;
                }
            }
            next = match r.header("x-next-page").map(str::trim).filter(|p| !p.is_empty()) {
                Some(p) => {
                    let mut n = u.clone();
                    let q: Vec<(String, String)> = u
                        .query_pairs()
                        .filter(|(k, _)| k != "page")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    n.query_pairs_mut().clear().extend_pairs(q).append_pair("page", p);
                    Some(n)
                }
                None => firebreak_http::link_next(&r.headers)
                    .and_then(|n| Url::parse(&n).ok())
                    .filter(|n| n.origin() == self.origin),
            };
        }
        out
    }
}

/// The access map of a live GitLab personal, project or group access token (sent as
/// `PRIVATE-TOKEN`): its user (`GET /user`; a project or group token's bot user), its
/// scopes (from the validation, else `GET /personal_access_tokens/self`), the projects it
/// is a member of with the role held (`GET /projects?membership=true&simple=false`,
/// `permissions.project_access` / `group_access`, the higher one), and its groups
/// (`GET /groups?min_access_level=10`) as organisations.
pub(crate) async fn gitlab(ck: &Checker, base: &Url, v: &Validation, token: &str) -> AccessMap {
    let mut map = AccessMap {
        scopes: v
            .identity
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        ..AccessMap::default()
    };
    let gl = GitLab {
        ck,
        base: base.as_str().trim_end_matches('/').to_string(),
        origin: base.origin(),
        token,
    };
    match gl.get("/user").await {
        Ok(u) => {
            let name = u.get("username").and_then(Value::as_str).unwrap_or("?");
            map.principal = Some(if u.get("bot").and_then(Value::as_bool) == Some(true) {
                format!("{name} (bot user of a project or group access token)")
            } else {
                name.to_string()
            });
        }
        Err(e) => {
            map.errors.push(e);
            map.principal = v.identity.get("user_id").map(|id| format!("user id {id}"));
        }
    }
    if map.scopes.is_empty() {
        match gl.get("/personal_access_tokens/self").await {
            Ok(t) => {
                map.scopes = as_list(t.get("scopes"));
            }
            Err(e) => map.errors.push(e),
        }
    }
    let via_scopes = if map.scopes.is_empty() {
        String::new()
    } else {
        format!(", token scopes {}", map.scopes.join(", "))
    };
    for p in gl
        .list("/projects?membership=true&per_page=100&simple=false", &mut map)
        .await
    {
        let Some(name) = p
            .get("path_with_namespace")
            .and_then(Value::as_str)
            .or_else(|| p.get("name").and_then(Value::as_str))
        else {
            continue;
        };
        let perms = p.get("permissions");
        let project = access_level(perms.and_then(|x| x.get("project_access")));
        let group = access_level(perms.and_then(|x| x.get("group_access")));
        let (permission, via) = match (project, group) {
            (None, None) => ("member (role not reported)".to_string(), "membership".to_string()),
            (p, g) if p >= g => (gitlab_role(p.unwrap_or(0)), "project membership".to_string()),
            (_, g) => (gitlab_role(g.unwrap_or(0)), "group membership".to_string()),
        };
        map.resources.push(Access {
            resource: name.to_string(),
            permission,
            via: format!("{via}{via_scopes}"),
        });
    }
    for g in gl
        .list("/groups?min_access_level=10&per_page=100", &mut map)
        .await
    {
        if let Some(path) = g.get("full_path").and_then(Value::as_str) {
            map.organisations.push(path.to_string());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_resources() {
        assert_eq!(
            arn_resource("arn:aws:iam::123456789012:user/ci/deployer"),
            "user/ci/deployer"
        );
        assert_eq!(
            arn_resource("arn:aws:sts::123456789012:assumed-role/ci/session-1"),
            "assumed-role/ci/session-1"
        );
        assert_eq!(arn_resource("arn:aws:iam::123456789012:root"), "root");
        assert_eq!(arn_resource("not an arn"), "");
    }

    #[test]
    fn policy_documents_become_accesses() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::releases/*"},
            {"Effect":"Deny","NotAction":"iam:*","NotResource":["arn:aws:iam::1:role/x"]}]}"#;
        let a = policy_accesses(doc, "policy ci (inline)");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].resource, "arn:aws:s3:::releases/*");
        assert_eq!(a[0].permission, "Allow s3:GetObject, s3:PutObject");
        assert_eq!(a[1].permission, "Deny all but iam:*");
        assert_eq!(a[1].resource, "everything but arn:aws:iam::1:role/x");
        let one = policy_accesses(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            "x",
        );
        assert_eq!(
            (one[0].resource.as_str(), one[0].permission.as_str()),
            ("*", "Allow *")
        );
        assert_eq!(pct_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(pct_decode("100%"), "100%");
    }

    #[test]
    fn gitlab_levels_have_their_documented_names() {
        let names: Vec<String> = [10, 15, 20, 30, 40, 50].into_iter().map(gitlab_role).collect();
        assert_eq!(
            names,
            ["Guest", "Planner", "Reporter", "Developer", "Maintainer", "Owner"]
        );
        assert_eq!(gitlab_role(60), "access level 60");
        let p = serde_json::json!({"project_access": {"access_level": 30}, "group_access": {"access_level": "40"}, "x": null});
        assert_eq!(access_level(p.get("project_access")), Some(30));
        assert_eq!(access_level(p.get("group_access")), Some(40));
        assert_eq!(access_level(p.get("x")), None);
        let e = gitlab_error(
            403,
            br#"{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api"}"#,
        );
        assert_eq!(
            e,
            "HTTP 403 insufficient_scope: the token lacks the scope this needs (api or read_api)"
        );
        assert_eq!(
            gitlab_error(404, br#"{"message":"404 Not Found"}"#),
            "HTTP 404 404 Not Found"
        );
    }
}
