//! Hostile HTTP clients against `firebreak serve` (in-process, SQLite): oversized bodies,
//! slow bodies, slowloris headers, idle connections, huge headers, absurd JWT claims. The
//! server must refuse or time out each, and keep serving everybody else meanwhile.

use firebreak_adversarial::targets::{jwt, serve as svc};
use firebreak_serve::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Hang guard for one slow connection (not a timing assertion).
const GUARD: Duration = Duration::from_secs(60);
/// The request timeout configured below (also the header read timeout).
const TIMEOUT_SECS: u64 = 2;

struct Env {
    server: Option<Server>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Env {
    fn start() -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = svc::config(dir.path(), &dir.path().join("audit.jsonl").display().to_string());
        cfg.limits.request_timeout_secs = TIMEOUT_SECS;
        let server = rt.block_on(async {
            let s = Server::start(cfg).await.unwrap();
            s.state()
                .verifier()
                .preload_keys(jwt::GH_ISSUER, jwt::jwks())
                .await;
            s
        });
        Env {
            server: Some(server),
            rt,
            _dir: dir,
        }
    }
    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(20), s.shutdown()).await });
        }
    }
}

/// Sends raw bytes and reads the whole response (until the server closes or `GUARD`).
fn raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> u16 {
    resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn healthz(addr: SocketAddr) -> u16 {
    status(&raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ))
}

#[test]
fn oversized_bodies_are_refused() {
    let env = Env::start();
    let big = vec![b'x'; 1 << 20];
    // with a Content-Length
    let mut req = format!(
        "POST /v1/oidc/exchange HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let r = raw(env.addr(), &req);
    assert_eq!(status(&r), 413, "{}", &r[..r.len().min(200)]);
    // chunked, no length announced
    let mut req = b"POST /v1/admin/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..64 {
        req.extend_from_slice(format!("{:x}\r\n", 16 << 10).as_bytes());
        req.extend_from_slice(&vec![b'y'; 16 << 10]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = raw(env.addr(), &req);
    assert!(matches!(status(&r), 413 | 401), "{}", &r[..r.len().min(200)]);
    // a lying Content-Length far beyond the limit is refused before any body is read
    let r = raw(
        env.addr(),
        b"POST /v1/oidc/exchange HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(status(&r), 413, "{r}");
    assert_eq!(healthz(env.addr()), 200);
}

#[test]
fn huge_headers_are_refused() {
    let env = Env::start();
    let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 2 << 20));
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    let mut s = TcpStream::connect(env.addr()).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    let _ = s.write_all(&req); // the server may close mid-write
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let r = String::from_utf8_lossy(&out);
    assert!(
        r.is_empty() || status(&r) == 431 || status(&r) == 400,
        "{}",
        &r[..r.len().min(200)]
    );
    let many: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = raw(
        env.addr(),
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    );
    assert!(
        r.is_empty() || status(&r) == 431 || status(&r) == 400,
        "{}",
        &r[..r.len().min(200)]
    );
    assert_eq!(healthz(env.addr()), 200);
}

/// Opens a connection that sends `head` one byte at a time, one byte per `gap`, and
/// returns how long the server kept it open (until it closed it or answered).
fn trickle(
    addr: SocketAddr,
    head: &'static [u8],
    gap: Duration,
) -> std::thread::JoinHandle<(Duration, String)> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let start = Instant::now();
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            if start.elapsed() > GUARD {
                return (start.elapsed(), "still open at the hang guard".into());
            }
            if i < head.len() && s.write_all(&head[i..i + 1]).is_err() {
                break;
            }
            i += 1;
            let mut buf = [0u8; 4096];
            let deadline = Instant::now() + gap;
            let mut closed = false;
            while Instant::now() < deadline {
                match s.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                break;
            }
        }
        (start.elapsed(), String::from_utf8_lossy(&out).into_owned())
    })
}

#[test]
fn slowloris_headers_are_timed_out_and_others_served() {
    let env = Env::start();
    const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let slow: Vec<_> = (0..20)
        .map(|_| trickle(env.addr(), HEAD, Duration::from_millis(400)))
        .collect();
    // an idle connection that never sends a byte
    let idle = std::thread::spawn({
        let addr = env.addr();
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(GUARD)).unwrap();
            let start = Instant::now();
            let mut b = [0u8; 16];
            let _ = s.read(&mut b);
            start.elapsed()
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    // everybody else is served while the slow clients hold their connections
    for _ in 0..5 {
        assert_eq!(healthz(env.addr()), 200);
    }
    for t in slow {
        let (held, what) = t.join().unwrap();
        assert!(held < GUARD, "a slowloris connection was never timed out: {what}");
        assert!(
            !what.contains("200 OK"),
            "the trickled request must not complete: {what}"
        );
    }
    let held = idle.join().unwrap();
    assert!(held < GUARD, "an idle connection was never closed");
    assert_eq!(healthz(env.addr()), 200);
}

#[test]
fn slow_bodies_time_out_with_408() {
    let env = Env::start();
    const HEAD: &[u8] = b"POST /v1/admin/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fuzz-admin-credential-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"name\":\"";
    let mut req = HEAD.to_vec();
    req.extend(std::iter::repeat_n(b'a', 200));
    let req: &'static [u8] = Box::leak(req.into_boxed_slice());
    // the head arrives at once, then the body trickles
    let t = std::thread::spawn({
        let addr = env.addr();
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&req[..HEAD.len()]).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            let start = Instant::now();
            let mut out = Vec::new();
            for b in &req[HEAD.len()..] {
                if start.elapsed() > GUARD || s.write_all(std::slice::from_ref(b)).is_err() {
                    break;
                }
                let mut buf = [0u8; 1024];
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        out.extend_from_slice(&buf[..n]);
                        break;
                    }
                    Err(_) => {}
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(healthz(env.addr()), 200, "served while a body trickles");
    let r = t.join().unwrap();
    assert_eq!(status(&r), 408, "{r}");
}

#[test]
fn oidc_exchange_with_absurd_exp_is_not_an_internal_error() {
    let env = Env::start();
    let mut c = jwt::github_claims();
    let now = chrono::Utc::now().timestamp();
    c["iat"] = serde_json::json!(now - 5);
    c["nbf"] = serde_json::json!(now - 5);
    c["exp"] = serde_json::json!(i64::MAX);
    c["jti"] = serde_json::json!("absurd-exp");
    let t = jwt::sign_es256(&c, jwt::KID);
    let body = serde_json::json!({"token": t, "project": "acme"}).to_string();
    let req = format!(
        "POST /v1/oidc/exchange HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = raw(env.addr(), req.as_bytes());
    assert_eq!(status(&r), 201, "{r}");
    // and the jti is remembered: a replay is refused
    let r = raw(env.addr(), req.as_bytes());
    assert_eq!(status(&r), 401, "{r}");
    assert!(r.contains("replayed"), "{r}");
}
