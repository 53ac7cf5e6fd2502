//! Indexes and artifacts over HTTP: the bundled sample channel and PyPI export served by a
//! local server as a static file host does (plus a redirect, a failing subdir and a
//! missing file), read through the census as URLs.

use firebreak_census::index::{IndexKind, Location};
use firebreak_census::ioc::IocSet;
use firebreak_census::{run, CensusOptions, Status};
use firebreak_core::TimeWindow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const WINDOW: &str = "2022-12-19..2023-01-13";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/census")
}

/// Serves `testdata/census` read-only: `/redirect/X` answers 302 to `/X`, `/fail/...`
/// answers 500, anything else is a file or 404. Returns the base URL and the requests.
fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let root = testdata();
    let app = axum::Router::new().fallback(move |m: axum::http::Method, u: Uri| {
        let s2 = s2.clone();
        let root = root.clone();
        async move {
            s2.lock().unwrap().push(format!("{m} {}", u.path()));
            let path = u.path().trim_start_matches('/').to_string();
            if let Some(rest) = path.strip_prefix("redirect/") {
                return (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("/{rest}"))],
                    Vec::new(),
                )
                    .into_response();
            }
            if path.starts_with("fail/") || path.contains("..") {
                return (StatusCode::INTERNAL_SERVER_ERROR, "trouble").into_response();
            }
            match std::fs::read(root.join(&path)) {
                Ok(b) if root.join(&path).is_file() => (StatusCode::OK, b).into_response(),
                _ => (StatusCode::NOT_FOUND, "not found").into_response(),
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), seen)
}

fn opts() -> CensusOptions {
    let mut o = CensusOptions::new(WINDOW.parse::<TimeWindow>().unwrap());
    o.http.max_retries = 0;
    o.http.connect_timeout = std::time::Duration::from_secs(2);
    o.http.timeout = std::time::Duration::from_secs(10);
    o
}

#[test]
fn a_channel_url_is_read_like_the_local_channel_and_points_at_the_remote_files() {
    let (base, seen) = serve();
    let url = format!("{base}/channel/");
    let local = run(&[testdata().join("channel")], &opts(), None);
    let remote = run(&[PathBuf::from(&url)], &opts(), None);
    assert_eq!(remote.indexes[0].error, None, "{:?}", remote.indexes[0]);
    assert_eq!(remote.indexes[0].kind, Some(IndexKind::Conda));
    // no channeldata.json: the common subdirs were tried, two exist
    assert_eq!(remote.indexes[0].files_read, 2);
    let names = |r: &firebreak_census::CensusReport| {
        let mut v: Vec<String> = r.artifacts.iter().map(|a| a.artifact.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&remote), names(&local));
    assert!(!names(&remote).is_empty());
    for a in &remote.artifacts {
        assert_eq!(a.index, url);
        assert!(a.source.starts_with(&url), "{}", a.source);
        assert!(!a.source.contains("firebreak-census-"), "{}", a.source);
        assert_eq!(a.path, None);
        let u = a.url.as_deref().unwrap();
        assert!(u.starts_with(&url) && u.ends_with(&a.artifact), "{u}");
        assert_eq!(a.status, Status::Remote, "{}", a.artifact);
    }
    let reqs = seen.lock().unwrap().clone();
    assert!(
        reqs.contains(&"GET /channel/channeldata.json".to_string()),
        "{reqs:?}"
    );
    assert!(reqs.contains(&"GET /channel/noarch/repodata.json".to_string()));
    // nothing downloaded unless asked
    assert!(
        !reqs.iter().any(|r| r.ends_with(".conda") || r.ends_with(".bz2")),
        "{reqs:?}"
    );
}

#[test]
fn downloaded_artifacts_are_checked_like_local_ones_and_keep_their_url() {
    let (base, seen) = serve();
    let mut o = opts();
    o.download = true;
    o.ioc = Some(IocSet::load(&testdata().join("ioc.toml")).unwrap());
    let url = format!("{base}/redirect/channel/noarch/repodata.json");
    let r = run(&[PathBuf::from(&url)], &o, None);
    assert_eq!(r.indexes[0].error, None, "{:?}", r.indexes[0]);
    let evil = r
        .artifacts
        .iter()
        .find(|a| a.artifact == "evilpkg-2.0-py_0.tar.bz2")
        .expect("evilpkg in the window");
    assert_eq!(evil.status, Status::Flagged, "{evil:?}");
    assert!(
        evil.findings.iter().any(|f| f.kind() == "ioc_file_name"),
        "{:?}",
        evil.findings
    );
    assert_eq!(evil.path, None);
    assert!(evil
        .url
        .as_deref()
        .unwrap()
        .ends_with("/noarch/evilpkg-2.0-py_0.tar.bz2"));
    assert_eq!(evil.checksum, firebreak_census::ChecksumState::Verified);
    let reqs = seen.lock().unwrap().clone();
    assert!(reqs
        .iter()
        .any(|r| r == "GET /redirect/channel/noarch/repodata.json"));
    assert!(
        reqs.iter().any(|r| r == "GET /channel/noarch/repodata.json"),
        "{reqs:?}"
    );
    // the file downloaded once (through the redirect)
    assert_eq!(
        reqs.iter()
            .filter(|r| *r == "GET /channel/noarch/evilpkg-2.0-py_0.tar.bz2")
            .count(),
        1,
        "{reqs:?}"
    );
}

#[test]
fn a_pypi_document_url_and_a_failing_or_missing_index_are_reported_by_url() {
    let (base, _) = serve();
    let mut o = opts();
    o.download = true;
    o.ioc = Some(IocSet::load(&testdata().join("ioc.toml")).unwrap());
    let pypi = format!("{base}/pypi/tinypkg/json");
    let fail = format!("{base}/fail/repodata.json");
    let missing = format!("{base}/nothing/here/");
    let r = run(
        &[
            PathBuf::from(&pypi),
            PathBuf::from(&fail),
            PathBuf::from(&missing),
        ],
        &o,
        None,
    );
    assert_eq!(r.indexes[0].kind, Some(IndexKind::Pypi), "{:?}", r.indexes[0]);
    assert!(
        r.indexes[1].error.as_deref().unwrap().contains("HTTP 500"),
        "{:?}",
        r.indexes[1]
    );
    assert!(r.indexes[1].error.as_deref().unwrap().contains(&fail));
    let e2 = r.indexes[2].error.as_deref().unwrap();
    assert!(e2.contains(&missing) && e2.contains("no conda channel"), "{e2}");
    assert_eq!(r.summary.indexes_failed, 2);
    // the PyPI export's own file URLs point elsewhere (files.pythonhosted.org): each
    // download failure is named on its record, never fatal
    for a in &r.artifacts {
        assert_eq!(a.index, pypi);
        assert!(a.source.starts_with(&pypi), "{}", a.source);
        match a.status {
            Status::Ok | Status::Flagged => assert!(a.url.is_some()),
            _ => assert!(
                a.error.as_deref().unwrap_or("").contains("download failed"),
                "{a:?}"
            ),
        }
    }
    assert!(!r.artifacts.is_empty());
}

#[test]
fn location_of_a_mirrored_entry_is_its_url() {
    // the library's own unit: a jsonl index with relative paths served over HTTP
    let (base, _) = serve();
    let r = run(&[PathBuf::from(format!("{base}/index.jsonl"))], &opts(), None);
    assert_eq!(r.indexes[0].kind, Some(IndexKind::Jsonl), "{:?}", r.indexes[0]);
    for a in &r.artifacts {
        assert!(a.path.is_none(), "{a:?}");
        if let Some(u) = &a.url {
            assert!(u.starts_with("http"), "{u}");
        }
    }
    let _ = Location::Unknown;
}
