//! GitLab access maps against the provider simulator: the token's user, scopes, the
//! projects it is a member of with the role GitLab reports (direct or through a group),
//! its groups, pagination (`X-Next-Page`) up to the page limit, and a token whose scopes
//! do not reach the API (403 `insufficient_scope`): the map says what it could not read.

use firebreak_core::{AccessMap, SecretString, ValidationStatus};
use firebreak_providers::sim::{SimConfig, SimHandle, Simulator};
use firebreak_validate::{Catalogue, Checker, Endpoints, Inputs, Options};
use std::sync::Arc;

const TOKEN: &str = "glpat-SimAdminToken1234567890";

async fn sim(projects: usize, page_size: usize) -> SimHandle {
    Simulator::start(SimConfig {
        projects,
        page_size,
        log_projects: 0,
        gitlab_token: SecretString::new(TOKEN),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn map(sim: &SimHandle, token: &str) -> (ValidationStatus, Option<AccessMap>, String) {
    let mut eps = Endpoints::default();
    eps.insert("gitlab", url::Url::parse(&sim.gitlab_url()).unwrap());
    let ck = Checker::new(
        Arc::new(Catalogue::builtin().unwrap()),
        Options {
            endpoints: eps,
            map: true,
            ..Options::default()
        },
    );
    let v = ck
        .check("gitlab.token", &Inputs::one("token", SecretString::new(token)))
        .await;
    let shown = format!("{v:?} {}", serde_json::to_string(&v).unwrap());
    assert!(!shown.contains(token), "the token is never shown: {shown}");
    (v.status, v.access, shown)
}

/// The simulator's memberships: Developer (30) of `sim-group`, Maintainer (40) of
/// `sim-group/sub-00`; project `i` lives in `sim-group` when `i % 3 == 0`, else in
/// `sub-00`; direct Maintainer of projects `i % 4 == 0`, Owner of `i % 4 == 1`.
fn expected(i: usize) -> (&'static str, &'static str) {
    let group = if i.is_multiple_of(3) { 30 } else { 40 };
    let direct = match i % 4 {
        0 => Some(40),
        1 => Some(50),
        _ => None,
    };
    let role = |l: u64| match l {
        30 => "Developer",
        40 => "Maintainer",
        _ => "Owner",
    };
    match direct {
        Some(d) if d >= group => (role(d), "project membership"),
        _ => (role(group), "group membership"),
    }
}

#[tokio::test]
async fn a_gitlab_token_maps_its_projects_roles_and_groups() {
    let s = sim(45, 20).await;
    let (status, access, _) = map(&s, TOKEN).await;
    assert_eq!(status, ValidationStatus::Live);
    let m = access.expect("a live token is mapped");
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert!(!m.truncated);
    assert_eq!(m.principal.as_deref(), Some("sim-admin"));
    assert_eq!(m.scopes, ["api"]);
    assert_eq!(m.organisations, ["sim-group", "sim-group/sub-00"]);
    // 45 projects over three pages of 20 (the simulator caps per_page=100 at 20)
    assert_eq!(m.resources.len(), 45);
    for (i, a) in m.resources.iter().enumerate() {
        let dir = if i.is_multiple_of(3) {
            "sim-group"
        } else {
            "sim-group/sub-00"
        };
        assert_eq!(a.resource, format!("{dir}/proj-{i:05}"));
        let (role, via) = expected(i);
        assert_eq!(a.permission, role, "{a:?}");
        assert_eq!(a.via, format!("{via}, token scopes api"), "{a:?}");
    }
    assert_eq!(m.resources[0].permission, "Maintainer");
    assert_eq!(m.resources[1].permission, "Owner");
    assert_eq!(m.resources[2].via, "group membership, token scopes api");
    assert_eq!(m.resources[3].permission, "Developer");
}

#[tokio::test]
async fn a_long_listing_stops_at_the_page_limit_and_says_so() {
    // 2 a page: 23 pages of projects, the map reads 10
    let s = sim(45, 2).await;
    let (_, access, _) = map(&s, TOKEN).await;
    let m = access.unwrap();
    assert!(m.truncated);
    assert_eq!(m.resources.len(), 20);
    assert_eq!(m.organisations.len(), 2, "two groups: one page each");
}

#[tokio::test]
async fn scopes_that_do_not_reach_the_api_leave_errors_not_an_empty_map() {
    let s = sim(5, 20).await;
    s.set_gitlab_token_scopes(&["read_user"]);
    let (status, access, shown) = map(&s, TOKEN).await;
    assert_eq!(status, ValidationStatus::Live, "{shown}");
    let m = access.unwrap();
    assert_eq!(m.principal.as_deref(), Some("sim-admin"), "read_user reads /user");
    assert_eq!(m.scopes, ["read_user"]);
    assert!(m.resources.is_empty());
    assert_eq!(m.errors.len(), 2, "{:?}", m.errors);
    assert!(m.errors[0].starts_with("GET http://"), "{:?}", m.errors);
    assert!(
        m.errors[0].ends_with(
            "/gitlab/api/v4/projects?membership=true&per_page=100&simple=false: HTTP 403 insufficient_scope: the token lacks the scope this needs (api or read_api)"
        ),
        "{:?}",
        m.errors
    );
    assert!(
        m.errors[1].contains("/groups?min_access_level=10"),
        "{:?}",
        m.errors
    );

    // a token that reaches nothing of the API: its user id from the validation instead
    let s = sim(5, 20).await;
    s.set_gitlab_token_scopes(&["read_repository"]);
    let (_, access, _) = map(&s, TOKEN).await;
    let m = access.unwrap();
    assert_eq!(m.principal.as_deref(), Some("user id 1"));
    assert_eq!(m.errors.len(), 3, "{:?}", m.errors);
    assert!(
        m.errors[0].contains("/user: HTTP 403 insufficient_scope"),
        "{:?}",
        m.errors
    );
    assert!(
        m.errors[0].ends_with("(api or read_api or read_user)"),
        "{:?}",
        m.errors
    );
}

#[tokio::test]
async fn a_dead_token_is_not_mapped() {
    let s = sim(3, 20).await;
    let (status, access, _) = map(&s, "glpat-RevokedLongAgo0987654321").await;
    assert_eq!(status, ValidationStatus::Dead);
    assert!(access.is_none());
}
