//! The AWS validator against moto's STS and IAM, with moto's IAM authentication on: a key
//! that exists is live and names its user; a deleted key is dead; a wrong secret for a
//! real key id is unknown (the pairing may be wrong), never dead.

use firebreak_core::{SecretString, ValidationStatus};
use firebreak_http::aws::{query_request, xml_tag, AwsCredentials};
use firebreak_http::{Auth, Http, HttpConfig, Request};
use firebreak_validate::{Catalogue, Checker, Endpoints, Inputs, Options};
use std::sync::Arc;
use std::time::Duration;

struct Moto(std::process::Child, String);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto with IAM authentication after `free` unauthenticated actions (its
/// `INITIAL_NO_AUTH_ACTION_COUNT`).
fn moto(free: u32) -> Option<Moto> {
    let bin = std::env::var("FIREBREAK_MOTO_SERVER").expect(
        "FIREBREAK_MOTO_SERVER is not set: run scripts/test (or scripts/setup.d/60-moto.sh, then source .tools/env.d/moto.sh)",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", free.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto");
    let m = Moto(child, format!("http://127.0.0.1:{port}/"));
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(m);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("moto did not listen");
}

async fn iam(url: &str, action: &str, params: &[(&str, &str)], creds: &AwsCredentials) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let http = Http::new(&u, Auth::None, HttpConfig::default()).unwrap();
    let mut req: Request =
        query_request(&u, "iam", "us-east-1", "2010-05-08", action, params, creds).unwrap();
    req.any_status = true;
    let r = http.execute(req).await.unwrap();
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

fn key_of(xml: &str) -> AwsCredentials {
    AwsCredentials {
        access_key_id: xml_tag(xml, "AccessKeyId").unwrap().to_string(),
        secret_access_key: SecretString::new(xml_tag(xml, "SecretAccessKey").unwrap()),
        session_token: None,
    }
}

#[tokio::test]
async fn live_dead_and_mispaired_aws_keys() {
    let Some(m) = moto(4) else { return };
    let anon = AwsCredentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: SecretString::new("setup-before-auth-is-on"),
        session_token: None,
    };
    assert_eq!(
        iam(&m.1, "CreateUser", &[("UserName", "deployer")], &anon)
            .await
            .0,
        200
    );
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let (s, _) = iam(
        &m.1,
        "PutUserPolicy",
        &[
            ("UserName", "deployer"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ],
        &anon,
    )
    .await;
    assert_eq!(s, 200);
    let a = key_of(
        &iam(&m.1, "CreateAccessKey", &[("UserName", "deployer")], &anon)
            .await
            .1,
    );
    let b = key_of(
        &iam(&m.1, "CreateAccessKey", &[("UserName", "deployer")], &anon)
            .await
            .1,
    );
    // from here on moto authenticates every request
    let (s, body) = iam(
        &m.1,
        "DeleteAccessKey",
        &[("UserName", "deployer"), ("AccessKeyId", &b.access_key_id)],
        &a,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // a group with a managed policy (made with key a, authenticated): the access map
    // follows the user into it
    assert_eq!(
        iam(&m.1, "CreateGroup", &[("GroupName", "releasers")], &a)
            .await
            .0,
        200
    );
    assert_eq!(
        iam(
            &m.1,
            "AddUserToGroup",
            &[("GroupName", "releasers"), ("UserName", "deployer")],
            &a
        )
        .await
        .0,
        200
    );
    let s3 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::acme-releases/*"}]}"#;
    let (s, body) = iam(
        &m.1,
        "CreatePolicy",
        &[("PolicyName", "release-upload"), ("PolicyDocument", s3)],
        &a,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let arn = xml_tag(&body, "Arn").unwrap().to_string();
    assert_eq!(
        iam(
            &m.1,
            "AttachGroupPolicy",
            &[("GroupName", "releasers"), ("PolicyArn", &arn)],
            &a
        )
        .await
        .0,
        200
    );

    let cat = Arc::new(Catalogue::builtin().unwrap());
    let mut eps = Endpoints::default();
    eps.insert("aws", url::Url::parse(&m.1).unwrap());
    let ck = Checker::new(
        cat,
        Options {
            endpoints: eps,
            ..Options::default()
        },
    );
    let inputs = |c: &AwsCredentials, secret: &SecretString| {
        let mut i = Inputs::one("key_id", SecretString::new(c.access_key_id.clone()));
        i.0.insert("secret".into(), secret.clone());
        i
    };
    let live = ck
        .check("aws.access_key", &inputs(&a, &a.secret_access_key))
        .await;
    assert_eq!(live.status, ValidationStatus::Live, "{live:?}");
    assert!(
        live.identity["arn"].as_str().unwrap().ends_with(":user/deployer"),
        "{live:?}"
    );
    let dead = ck
        .check("aws.access_key", &inputs(&b, &b.secret_access_key))
        .await;
    assert_eq!(dead.status, ValidationStatus::Dead, "{dead:?}");
    assert!(
        dead.reason.as_deref().unwrap().contains("InvalidClientTokenId"),
        "{dead:?}"
    );
    let wrong = ck
        .check("aws.access_key", &inputs(&a, &b.secret_access_key))
        .await;
    assert_eq!(wrong.status, ValidationStatus::Unknown, "{wrong:?}");
    for v in [&live, &dead, &wrong] {
        let t = serde_json::to_string(v).unwrap();
        assert!(!t.contains(a.secret_access_key.expose()) && !t.contains(b.secret_access_key.expose()));
    }
}

#[tokio::test]
async fn a_leaked_key_deactivates_itself() {
    use firebreak_validate::RevokeStatus;
    let Some(m) = moto(4) else { return };
    let anon = AwsCredentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: SecretString::new("setup-before-auth-is-on"),
        session_token: None,
    };
    assert_eq!(iam(&m.1, "CreateUser", &[("UserName", "ci")], &anon).await.0, 200);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let (s, _) = iam(
        &m.1,
        "PutUserPolicy",
        &[
            ("UserName", "ci"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ],
        &anon,
    )
    .await;
    assert_eq!(s, 200);
    let leaked = key_of(&iam(&m.1, "CreateAccessKey", &[("UserName", "ci")], &anon).await.1);
    let admin = key_of(&iam(&m.1, "CreateAccessKey", &[("UserName", "ci")], &anon).await.1);
    let cat = Arc::new(Catalogue::builtin().unwrap());
    let mut eps = Endpoints::default();
    eps.insert("aws", url::Url::parse(&m.1).unwrap());
    let ck = Checker::new(
        cat,
        Options {
            endpoints: eps,
            ..Options::default()
        },
    );
    let mut inputs = Inputs::one("key_id", SecretString::new(leaked.access_key_id.clone()));
    inputs.0.insert("secret".into(), leaked.secret_access_key.clone());
    let r = ck.revoke("aws.access_key", &inputs).await;
    // real AWS refuses an inactive key at once (revoked); moto's authentication does not
    // look at the status, so its check afterwards still passes (accepted)
    assert!(
        matches!(r.status, RevokeStatus::Revoked | RevokeStatus::Accepted),
        "{r:?}"
    );
    assert_eq!(r.request.as_deref(), Some("POST iam:UpdateAccessKey"));
    let (s, list) = iam(&m.1, "ListAccessKeys", &[("UserName", "ci")], &admin).await;
    assert_eq!(s, 200, "{list}");
    let i = list.find(&leaked.access_key_id).expect("the key is listed");
    let after = &list[i..];
    assert!(
        after[..after.find("</member>").unwrap()].contains("<Status>Inactive</Status>"),
        "{list}"
    );
    let t = serde_json::to_string(&r).unwrap();
    assert!(!t.contains(leaked.secret_access_key.expose()));
}
