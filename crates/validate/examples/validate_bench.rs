//! Benchmark: validate N values against local mocks with a per-host rate limit, and
//! compare the wall time with the rate bound (values per host / rate). Run with
//! `bench/validate.sh` (release build). Prints the ratio; 1.0 is the bound itself.
//!
//! Usage: validate_bench [VALUES] [HOSTS] [RATE]   (defaults 10000 20 50)

use firebreak_core::SecretString;
use firebreak_validate::spec::Check;
use firebreak_validate::{Catalogue, Checker, Endpoints, Inputs, Options};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let hosts: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let rate: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50.0);
    let cat = Arc::new(Catalogue::builtin().expect("catalogue"));
    // one HTTP validator per host, each with a single-input example
    let picks: Vec<_> = cat
        .iter()
        .filter(|v| {
            matches!(v.spec.check, Check::Http(_)) && v.spec.inputs.len() == 1 && v.spec.mock.is_some()
        })
        .filter(|v| matches!(&v.spec.check, Check::Http(h) if h.path.is_some()))
        // one validator per endpoint name: two sharing one (github.token and
        // github.legacy_token) would send twice the load to one host
        .filter({
            let mut seen = std::collections::BTreeSet::new();
            move |v| seen.insert(v.spec.endpoint.clone())
        })
        .take(hosts)
        .collect();
    assert_eq!(picks.len(), hosts, "not enough validators for {hosts} hosts");
    let mut eps = Endpoints::default();
    for v in &picks {
        let mock = v.spec.mock.clone().unwrap();
        let app = axum::Router::new().fallback(move || {
            let r = mock.live.clone();
            async move {
                use axum::response::IntoResponse;
                let mut resp = match (&r.body, &r.text) {
                    (Some(b), _) => axum::Json(b.clone()).into_response(),
                    (None, Some(t)) => t.clone().into_response(),
                    _ => ().into_response(),
                };
                *resp.status_mut() = axum::http::StatusCode::from_u16(r.status).unwrap();
                for (k, v) in &r.headers {
                    resp.headers_mut().insert(
                        axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        axum::http::HeaderValue::from_str(v).unwrap(),
                    );
                }
                resp
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        eps.insert(
            v.spec.endpoint.as_deref().unwrap(),
            url::Url::parse(&format!("http://{addr}")).unwrap(),
        );
    }
    let ck = Arc::new(Checker::new(
        cat.clone(),
        Options {
            endpoints: eps,
            rate_per_host: rate,
            concurrency: 256,
            ..Options::default()
        },
    ));
    // distinct values of the right shape: the example with a counter in its tail
    let mut jobs = Vec::with_capacity(n);
    for i in 0..n {
        let v = picks[i % hosts];
        let ex = v.spec.inputs[0].example.clone().unwrap();
        let tag = format!("{i:06}");
        let value = format!("{}{}", &ex[..ex.len() - tag.len()], tag);
        let value = if v.shape_ok(0, &value) { value } else { ex.clone() };
        jobs.push((
            v.spec.id.clone(),
            Inputs::one(&v.spec.inputs[0].name, SecretString::new(value)),
        ));
    }
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (id, inputs) in jobs {
        let ck = ck.clone();
        set.spawn(async move { ck.check(&id, &inputs).await.status });
    }
    let mut live = 0usize;
    while let Some(r) = set.join_next().await {
        if r.unwrap() == firebreak_core::ValidationStatus::Live {
            live += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let requests = ck.requests();
    let per_host = (requests as f64 / hosts as f64).ceil();
    let bound = per_host / rate;
    println!(
        "validate: {n} values ({requests} distinct requests) over {hosts} hosts at {rate} req/s per host: {secs:.2} s; rate bound {bound:.2} s; ratio {:.3}; {live} live",
        secs / bound
    );
}
