//! `--verify-credentials`: sts:GetCallerIdentity against moto in server mode (PyPI
//! `moto[server]`, installed by scripts/setup.d/60-moto.sh, which exports
//! FIREBREAK_MOTO_SERVER) and GitHub `GET /user` against a one-shot local server. The
//! values given never reach the store.

use firebreak_incident::blast::Values;
use firebreak_incident::playbook::{InitOptions, InventorySource};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_rotate::aws::{AwsCredentials, IamClient};
use firebreak_store::Store;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let bin = std::env::var("FIREBREAK_MOTO_SERVER").unwrap_or_else(|_| {
        panic!("FIREBREAK_MOTO_SERVER is not set: run scripts/setup.d/60-moto.sh (or scripts/test) and source .tools/env.d/moto.sh")
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} missing: run scripts/setup.d/60-moto.sh"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    }
}

/// Answers one `GET /user` like GitHub does for a classic token; returns the base URL.
fn fake_github() -> (String, std::thread::JoinHandle<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let body = r#"{"login":"acme-ci-bot","id":42}"#;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-OAuth-Scopes: repo, workflow\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        req
    });
    (base, h)
}

fn item(name: &str) -> Item {
    Item {
        provider: Provider::Circleci,
        kind: Kind::EnvVar,
        scope: "gh/acme/app".into(),
        name: name.into(),
        created_at: None,
        updated_at: None,
        flags: Flags::default(),
    }
}

#[test]
fn sts_and_github_name_the_principal() {
    let m = moto();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = AwsCredentials {
        access_key_id: "AKIAFIREBREAKTEST000".into(),
        secret_access_key: firebreak_core::SecretString::new("firebreak-test-secret-key-not-real-00000"),
        session_token: None,
    };
    let iam = IamClient::new(Some(&m.url), "us-east-1", admin).unwrap();
    let (kid, sk) = rt.block_on(async {
        iam.create_user("ci-deployer").await.unwrap();
        iam.create_access_key("ci-deployer").await.unwrap()
    });
    drop(rt);
    let token = "ghp_FIREBREAKtestTOKENnotREAL0123456789ab";
    let (gh, server) = fake_github();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fb.db");
    let mut store = Store::open(&db).unwrap();
    let inv = dir.path().join("inv.jsonl");
    let lines: Vec<String> = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GH_TOKEN"]
        .iter()
        .map(|n| serde_json::to_string(&item(n)).unwrap())
        .collect();
    std::fs::write(&inv, lines.join("\n")).unwrap();
    let mut o = InitOptions::new(
        "cci",
        vec![Provider::Circleci],
        "2022-12-21..2023-01-05".parse().unwrap(),
    );
    o.inventory = InventorySource::File(inv);
    o.values = Values::parse(&format!(
        "AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={}\nGH_TOKEN={token}\n",
        sk.expose()
    ))
    .0;
    o.verify_credentials = true;
    o.aws_endpoint = Some(m.url.clone());
    o.github_api = Some(gh);
    let out = firebreak_incident::init(&mut store, &o).unwrap();
    assert!(out.verify_errors.is_empty(), "{:?}", out.verify_errors);
    assert_eq!(out.by_method.get("sts_get_caller_identity"), Some(&2));
    assert_eq!(out.by_method.get("github_user"), Some(&1));
    let req = server.join().unwrap();
    assert!(req.starts_with("GET /user "), "{req}");

    let s = firebreak_incident::status(&store, "cci").unwrap();
    let aws = s
        .tasks
        .iter()
        .find(|t| t.secret == "AWS_SECRET_ACCESS_KEY")
        .unwrap();
    assert!(aws.unlocks.contains(":user/ci-deployer"), "{}", aws.unlocks);
    assert!(!aws.inferred);
    let ghtask = s.tasks.iter().find(|t| t.secret == "GH_TOKEN").unwrap();
    assert!(
        ghtask.unlocks.contains("acme-ci-bot") && ghtask.unlocks.contains("repo, workflow"),
        "{}",
        ghtask.unlocks
    );
    drop(store);

    // no value reached the store (database and its WAL)
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(w) = std::fs::read(dir.path().join("fb.db-wal")) {
        bytes.extend(w);
    }
    let hay = String::from_utf8_lossy(&bytes);
    for v in [sk.expose(), token, kid.as_str()] {
        assert!(!hay.contains(v), "a value reached the store");
    }
}
