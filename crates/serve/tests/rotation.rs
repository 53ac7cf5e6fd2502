//! Rotation under load: tokens for a provider are rotated (issue new, hand it out, revoke
//! old once no client still uses it) while clients publish continuously. No publish may fail.

mod common;

use common::{start, Backend};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

async fn rotation_under_load(b: Backend) {
    let env = Arc::new(start(b, "").await);
    env.admin.create_project("numpy").await.unwrap();
    let first = env.admin.issue("numpy", "circleci", Some(3600)).await.unwrap();
    let tokens = Arc::new(RwLock::new(vec![first.token.clone()]));
    let ids = Arc::new(RwLock::new(vec![first.info.id.clone()]));
    let generation = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicUsize::new(0));
    const CLIENTS: usize = 4;
    let in_use: Arc<Vec<AtomicU64>> = Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());

    let mut workers = Vec::new();
    for w in 0..CLIENTS {
        let (env, tokens, generation, stop, published, in_use) = (
            env.clone(),
            tokens.clone(),
            generation.clone(),
            stop.clone(),
            published.clone(),
            in_use.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let g = generation.load(Ordering::SeqCst);
                in_use[w].store(g, Ordering::SeqCst);
                let tok = tokens.read().unwrap()[g as usize].clone();
                let art = format!("numpy/noarch/w{w}-{n}.conda");
                let sha = env.stage(&art, format!("{w}-{n}").as_bytes());
                match env
                    .anon
                    .publish(&tok, "numpy", &art, &sha, Some("circleci"))
                    .await
                {
                    Ok(v) => {
                        assert_eq!(v["status"], "published");
                        published.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(format!("{art}: {e}")),
                }
                n += 1;
            }
            failures
        }));
    }

    for round in 1..=5u64 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        // 1. Issue the new token and hand it out.
        let new = env.admin.issue("numpy", "circleci", Some(3600)).await.unwrap();
        tokens.write().unwrap().push(new.token.clone());
        ids.write().unwrap().push(new.info.id.clone());
        generation.store(round, Ordering::SeqCst);
        // 2. Wait until every client has moved to it (its in-flight request uses the new token).
        while in_use.iter().any(|g| g.load(Ordering::SeqCst) < round) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // 3. Revoke the old one.
        let old = ids.read().unwrap()[(round - 1) as usize].clone();
        let r = env.admin.revoke_id(&old).await.unwrap();
        assert_eq!(r["count"], 1);
        let old_tok = tokens.read().unwrap()[(round - 1) as usize].clone();
        assert_eq!(
            env.anon.verify(&old_tok).await.unwrap_err().status(),
            Some(401),
            "revocation is immediate"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "publishes failed during rotation: {failures:?}"
    );
    assert!(
        published.load(Ordering::SeqCst) >= 20,
        "clients kept publishing ({})",
        published.load(Ordering::SeqCst)
    );
    let list = env.admin.list(Some("numpy"), Some("circleci")).await.unwrap();
    assert_eq!(list.len(), 6);
    assert_eq!(list.iter().filter(|t| t.revoked_at.is_none()).count(), 1);
    Arc::try_unwrap(env).ok().expect("workers done").finish().await;
}

both_backends!(rotation_under_load);
