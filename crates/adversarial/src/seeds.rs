//! Seed corpora: files from `testdata/` plus inputs synthesised here.
//!
//! `firebreak-fuzz-seeds DIR` (this crate's binary, run by `scripts/fuzz`) writes each
//! target's seeds into `DIR/<target>/`; `tests/adversarial/replay.rs` uses the same function. Seeds are
//! small (each at most the target's `max_len`), so nothing large is committed or copied.

use crate::targets::{find, jwt, serve as serve_t};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// One seed input.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Where it came from (a `testdata/` path or `synth:<what>`).
    pub origin: String,
    /// The bytes.
    pub data: Vec<u8>,
}

fn synth(what: &str, data: impl Into<Vec<u8>>) -> Seed {
    Seed {
        origin: format!("synth:{what}"),
        data: data.into(),
    }
}

/// Reads testdata files matching `rel` (a file, or a directory walked recursively),
/// cut to `max_len`, with `prefix` prepended (a selector byte).
fn files(out: &mut Vec<Seed>, rel: &str, max_len: usize, prefix: &[u8], keep: impl Fn(&Path) -> bool) {
    let root = crate::repo_root();
    let mut stack = vec![root.join(rel)];
    let mut found = Vec::new();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    stack.push(e.path());
                }
            }
        } else if p.is_file() && keep(&p) {
            found.push(p);
        }
    }
    found.sort();
    for p in found {
        if let Ok(mut d) = std::fs::read(&p) {
            d.truncate(max_len.saturating_sub(prefix.len()));
            let mut data = prefix.to_vec();
            data.extend_from_slice(&d);
            let origin = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            out.push(Seed { origin, data });
        }
    }
}

fn any(_: &Path) -> bool {
    true
}

fn ext(e: &'static [&'static str]) -> impl Fn(&Path) -> bool {
    move |p: &Path| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        e.iter().any(|x| n.ends_with(x))
    }
}

/// A zip of `(name, data)` entries (deflated), built with the zip crate.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (n, d) in entries {
        w.start_file(*n, o).expect("zip entry");
        w.write_all(d).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// A zip with a symlink entry `name -> target` and a regular file.
pub fn zip_with_symlink(name: &str, target: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    w.add_symlink(name, target, o).expect("symlink");
    w.start_file("ok.txt", o).expect("zip entry");
    w.write_all(b"regular file\n").expect("zip write");
    w.finish().expect("zip finish").into_inner()
}

/// Tar entry kinds for [`tar_raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarKind {
    /// Regular file.
    File,
    /// Symbolic link (data is the link target).
    Symlink,
    /// Hard link (data is the link target).
    HardLink,
}

/// A tar written header by header, so that names the tar crate refuses (`../x`, `/etc/x`)
/// can be written as an attacker would.
pub fn tar_raw(entries: &[(&str, TarKind, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_ustar();
        {
            let raw = h.as_old_mut();
            let n = name.as_bytes();
            raw.name[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
        }
        h.set_mode(0o644);
        h.set_mtime(1_672_531_200);
        match kind {
            TarKind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
            }
            TarKind::Symlink | TarKind::HardLink => {
                h.set_entry_type(if *kind == TarKind::Symlink {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                let raw = h.as_old_mut();
                raw.linkname[..data.len().min(100)].copy_from_slice(&data[..data.len().min(100)]);
            }
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        if *kind == TarKind::File {
            out.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            out.extend(std::iter::repeat_n(0u8, pad));
        }
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

/// Gzip of `data`.
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// Bzip2 of `data`.
pub fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(data).expect("bzip2");
    e.finish().expect("bzip2")
}

/// Zstandard of `data`.
pub fn zst(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

/// A CI log with two fake secrets.
pub fn log() -> Vec<u8> {
    format!(
        "step 1\nexport AWS_ACCESS_KEY_ID={}\nGITHUB_TOKEN={}\ndone\n",
        crate::fake::AWS_KEY_ID,
        crate::fake::GITHUB_PAT
    )
    .into_bytes()
}

fn archive_members() -> Vec<(&'static str, TarKind, &'static [u8])> {
    let log: &'static [u8] = Box::leak(log().into_boxed_slice());
    vec![
        ("build/log.txt", TarKind::File, log),
        ("../escape.txt", TarKind::File, b"traversal"),
        ("/etc/cron.d/evil", TarKind::File, b"absolute"),
        ("a/../../b", TarKind::File, b"inner traversal"),
        ("link", TarKind::Symlink, b"../../../etc/passwd"),
        ("hard", TarKind::HardLink, b"/etc/shadow"),
        ("after/ok.txt", TarKind::File, log),
    ]
}

/// A conda-style package: a zip holding `info-*.tar.zst` and `pkg-*.tar.zst`.
pub fn conda_of(files: &[(&str, TarKind, &[u8])]) -> Vec<u8> {
    let inner = zst(&tar_raw(files));
    let info = zst(&tar_raw(&[(
        "info/index.json",
        TarKind::File,
        b"{\"name\":\"pkg\",\"version\":\"1.0\"}",
    )]));
    zip_of(&[
        ("metadata.json", b"{\"conda_pkg_format_version\": 2}"),
        ("info-pkg-1.0-0.tar.zst", &info),
        ("pkg-pkg-1.0-0.tar.zst", &inner),
    ])
}

fn sigma_conditions() -> Vec<&'static str> {
    vec![
        "sel_a",
        "sel_a and not filter_1",
        "1 of sel_* or keywords",
        "all of them",
        "(sel_a or sel_b) and not (filter_1)",
        "sel_a | count() by userIdentity.arn > 3",
        "sel_b | count(sourceIPAddress) by eventName >= 2",
        "sel_a near sel_b",
        "2 of sel_*",
        "not not not sel_a",
        "((((sel_a))))",
    ]
}

fn circleci_csv_tricky() -> &'static str {
    "id,action,occurred_at,actor,target,request,success\n\
1,context.secrets.accessed,2023-01-04 12:00:00.000 UTC,\"{\"\"name\"\":\"\"bot\"\",\"\"id\"\":\"\"u1\"\"}\",\"{\"\"name\"\":\"\"prod\"\"}\",\"{\"\"ip_address\"\":\"\"192.0.2.1\"\"}\",true\n\
2,\"project.env_var.create\",\"2023-01-04T12:01:00Z\",\"{\"\"name\"\":\"\"multi\nline\"\"}\",\"a \"\"quoted\"\"\ntarget\",,false\n\
3,bad,row\n\
4,\"unterminated,2023-01-04T12:02:00Z,x,y,z,true\n"
}

fn http_blocks() -> Vec<&'static str> {
    vec![
        "429\nretry-after: 3\nx-ratelimit-reset: 1700000000\n",
        "403\nx-ratelimit-remaining: 0\nx-ratelimit-reset: 1e300\n",
        "403\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\n",
        "200\nlink: <https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=3>; rel=\"next\"\n",
        "200\nlink: <?page=2>; rel=next\nx-next-page: 2\n",
        "429\nratelimit-reset: 60\n",
        "200\nx: #joda/inst 2023-04-14T21:20:14+0000\n",
    ]
}

fn provider_bodies(target: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<(u8, serde_json::Value)> = Vec::new();
    match target {
        "providers_circleci" => {
            v.push((0, json!([{"vcs_url":"https://github.com/acme/app","username":"acme","reponame":"app","vcs_type":"github"}])));
            v.push((1, json!({"items":[{"name":"AWS_SECRET_ACCESS_KEY","value":"xxxx1234","created-at":"2023-01-01T00:00:00Z"}],"next_page_token":"abc"})));
            v.push((
                2,
                json!({"name":"X","created_at":"#joda/inst 2023-04-14T21:20:14+0000"}),
            ));
            v.push((3, json!({"items":[{"fingerprint":"aa:bb","type":"deploy-key","preferred":true,"public-key":"ssh-ed25519 AAAA","created-at":"2023-01-01T00:00:00.000Z"}],"next_page_token":null})));
            v.push((
                5,
                json!({"ssh_keys":[{"hostname":"example.com","fingerprint":"aa:bb"}]}),
            ));
            v.push((
                6,
                json!({"items":[{"id":"c1","name":"prod","created_at":"2023-01-01T00:00:00Z"}]}),
            ));
            v.push((
                8,
                json!({"items":[{"variable":"TOKEN","created_at":"2023-01-01T00:00:00Z","updated_at":null}]}),
            ));
            v.push((
                10,
                json!([{"build_num":12,"start_time":"2023-01-04T00:00:00Z","queued_at":null}]),
            ));
            v.push((11, json!({"steps":[{"name":"build","actions":[{"index":0,"output_url":"https://circle-artifacts.example/x"}]}]})));
            v.push((
                12,
                json!([{"message":String::from_utf8_lossy(&log()),"type":"out"}]),
            ));
        }
        "providers_github" => {
            v.push((0, json!([{"id":1,"full_name":"acme/app"}])));
            v.push((1, json!({"name":"NPM_TOKEN","created_at":"2023-01-01T00:00:00Z","updated_at":"2023-01-02T00:00:00Z","visibility":"private"})));
            v.push((2, json!([{"id":7,"title":"deploy","key":"ssh-ed25519 AAAA","read_only":true,"created_at":"2023-01-01T00:00:00Z"}])));
            v.push((
                3,
                json!({"key_id":"k1","key":"hBT5WZEj8ZoOv6TYJsfWq7MxTEQopZO5/IT3ZCVQPzs="}),
            ));
            v.push((
                4,
                json!([{"id":99,"name":"ci","created_at":"2023-01-04T00:00:00Z"}]),
            ));
            v.push((5, json!({"total_count":1,"secrets":[{"name":"A"}],"environments":[{"name":"prod"}],"workflow_runs":[{"id":1}]})));
        }
        _ => {
            v.push((0, json!([{"id":1,"path_with_namespace":"acme/app"}])));
            v.push((1, json!({"id":2,"full_path":"acme/sub"})));
            v.push((2, json!([{"key":"DEPLOY_TOKEN","value":"glpat-xxxxxxxxxxxxxxxxxxxx","variable_type":"env_var","protected":true,"masked":true,"environment_scope":"*"}])));
        }
    }
    let mut out: Vec<Vec<u8>> = v
        .into_iter()
        .map(|(s, j)| {
            let mut d = vec![s];
            d.extend_from_slice(j.to_string().as_bytes());
            d
        })
        .collect();
    if target == "providers_github" {
        let mut d = vec![7u8];
        d.extend(zip_of(&[
            ("build/1_step.txt", &log()),
            ("build/2_other.txt", b"ok\n"),
        ]));
        out.push(d);
    }
    out
}

fn jwts() -> Vec<String> {
    let gh = jwt::github_claims();
    let cci = jwt::circleci_claims();
    let mut out = vec![jwt::sign_es256(&gh, jwt::KID), jwt::sign_es256(&cci, jwt::KID)];
    // alg none
    let hdr = jwt::b64u(br#"{"alg":"none","kid":"fuzz-ec-1","typ":"JWT"}"#);
    out.push(format!("{hdr}.{}.", jwt::b64u(gh.to_string().as_bytes())));
    // HS256 with the public key as secret
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(jwt::KID.into());
    out.push(
        jsonwebtoken::encode(
            &h,
            &gh,
            &jsonwebtoken::EncodingKey::from_secret(jwt::public_pem().as_bytes()),
        )
        .expect("hs256"),
    );
    // huge kid, expired, future iat, nbf in the future, exp as a string, no jti
    out.push(jwt::sign_es256(&gh, &"k".repeat(2000)));
    let mut c = gh.clone();
    c["exp"] = json!(jwt::IAT + 60);
    out.push(jwt::sign_es256(&c, jwt::KID));
    let mut c = gh.clone();
    c["iat"] = json!(jwt::EXP - 60);
    out.push(jwt::sign_es256(&c, jwt::KID));
    let mut c = gh.clone();
    c["nbf"] = json!(jwt::EXP - 60);
    out.push(jwt::sign_es256(&c, jwt::KID));
    let mut c = gh.clone();
    c["exp"] = json!("tomorrow");
    out.push(jwt::sign_es256(&c, jwt::KID));
    let mut c = gh.clone();
    c["exp"] = json!(i64::MAX);
    c["iat"] = json!(i64::MIN);
    out.push(jwt::sign_es256(&c, jwt::KID));
    let mut c = gh;
    c.as_object_mut().expect("object").remove("jti");
    out.push(jwt::sign_es256(&c, jwt::KID));
    out.push("not.a.jwt".into());
    out.push("e30.e30.".into());
    out
}

fn serve_requests() -> Vec<Vec<u8>> {
    let req = |route: u8, cred: u8, flags: u8, param: &str, body: &str| {
        let mut v = vec![route, cred, flags];
        v.extend_from_slice(param.as_bytes());
        v.push(b'\n');
        v.extend_from_slice(body.as_bytes());
        v
    };
    let gh = jwt::sign_es256(&jwt::github_claims(), jwt::KID);
    vec![
        req(0, 0, 0, "", ""),
        req(1, 1, 0, "", r#"{"name":"newproj"}"#),
        req(
            2,
            1,
            0,
            "acme",
            r#"{"provider":"github","repository":"a/b","repository_owner_id":"1","job_workflow_ref":"a/b/.github/workflows/x.yml@refs/heads/main"}"#,
        ),
        req(3, 1, 0, "project=acme&provider=github", ""),
        // found by libFuzzer: a duplicate query field got axum's plain-text rejection
        req(3, 1, 0, "project=acme&provider=github&provider=gitlab", ""),
        req(
            4,
            1,
            0,
            "",
            r#"{"project":"acme","provider":"github","ttl_secs":60}"#,
        ),
        req(5, 1, 0, "tok_0123456789abcdef", ""),
        req(6, 1, 0, "", r#"{"provider":"circleci","all_projects":true}"#),
        req(
            7,
            2,
            0,
            "acme",
            r#"{"artifact":"acme/pkg/a.whl","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
        ),
        req(
            7,
            2,
            0,
            "acme",
            r#"{"artifact":"acme/../../etc/passwd","sha256":"00"}"#,
        ),
        req(8, 2, 0, "", r#"{"project":"acme","provider":"github"}"#),
        req(8, 3, 0, "", ""),
        req(8, 4, 0, "", ""),
        req(
            8,
            5,
            0,
            "fbu_0000000000000000000000000000000000000000000000000",
            "",
        ),
        req(9, 0, 0, "", &format!(r#"{{"token":"{gh}","project":"acme"}}"#)),
        req(9, 0, 1, "", "{not json"),
        req(9, 0, 0, "", &"x".repeat(5000)),
        req(10, 0, 0, "/v1/../../etc/passwd?x=%00", ""),
        req(1, 6, 2, "bad request id \u{1}", r#"{"name":"x"}"#),
    ]
}

/// Every seed of `target` (empty for an unknown target).
pub fn seeds(target: &str) -> Vec<Seed> {
    let Some(t) = find(target) else { return Vec::new() };
    let max = t.max_len;
    let mut out = Vec::new();
    match target {
        "hunt_cloudtrail" => {
            files(&mut out, "testdata/hunt", max, b"", |p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("cloudtrail"))
            });
            files(
                &mut out,
                "testdata/cloudtrail/invictus-aws-2023-07-10/CloudTrail",
                max,
                b"",
                |p| std::fs::metadata(p).map(|m| m.len() < 2048).unwrap_or(false),
            );
        }
        "hunt_github" => files(&mut out, "testdata/hunt", max, b"", |p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("github"))
        }),
        "hunt_circleci" => {
            files(&mut out, "testdata/hunt", max, b"", |p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("circleci"))
            });
            out.push(synth("csv-newlines-quotes", circleci_csv_tricky()));
        }
        "hunt_gcp" => files(&mut out, "testdata/hunt", max, b"", |p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gcp"))
        }),
        "hunt_azure" => files(&mut out, "testdata/hunt", max, b"", |p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("azure") || n.starts_with("firebreak"))
        }),
        "sigma_rule" => files(&mut out, "crates/hunt/rules", max, b"", ext(&[".yml", ".yaml"])),
        "sigma_condition" => {
            for c in sigma_conditions() {
                out.push(synth("condition", c));
            }
        }
        "archive_zip" => {
            files(
                &mut out,
                "testdata/secrets/credsweeper/tests/samples",
                max,
                b"",
                ext(&[".zip", ".docx", ".xlsx", ".jar", ".apk"]),
            );
            files(&mut out, "testdata/census/pypi", max, b"", ext(&[".whl"]));
            out.push(synth(
                "zip-traversal",
                zip_of(&[
                    ("../../escape.txt", &log()),
                    ("/abs.txt", &log()),
                    ("ok/log.txt", &log()),
                ]),
            ));
            out.push(synth(
                "zip-symlink",
                zip_with_symlink("evil", "../../../etc/passwd"),
            ));
            out.push(synth(
                "zip-nested",
                zip_of(&[
                    ("inner.zip", &zip_of(&[("log.txt", &log())])),
                    ("x.tar.gz", &gz(&tar_raw(&archive_members()))),
                ]),
            ));
        }
        "archive_tar" => {
            files(
                &mut out,
                "testdata/secrets/credsweeper/tests/samples",
                max,
                b"",
                ext(&[".tar"]),
            );
            out.push(synth("tar-traversal-links", tar_raw(&archive_members())));
        }
        "archive_gzip" => {
            files(
                &mut out,
                "testdata/secrets/credsweeper/tests/samples",
                max,
                b"",
                ext(&[".gz", ".tgz"]),
            );
            files(&mut out, "testdata/census/pypi", max, b"", ext(&[".tar.gz"]));
            out.push(synth("gz-tar", gz(&tar_raw(&archive_members()))));
            out.push(synth("gz-text", gz(&log())));
            let mut multi = gz(&log());
            multi.extend(gz(b"second member\n"));
            out.push(synth("gz-multi-member", multi));
        }
        "archive_bzip2" => {
            files(
                &mut out,
                "testdata/secrets/credsweeper/tests/samples",
                max,
                b"",
                ext(&[".bz2"]),
            );
            files(&mut out, "testdata/census", max, b"", ext(&[".tar.bz2"]));
            out.push(synth("bz2-tar", bz2(&tar_raw(&archive_members()))));
        }
        "archive_zstd" => {
            out.push(synth("zst-tar", zst(&tar_raw(&archive_members()))));
            out.push(synth("zst-text", zst(&log())));
            out.push(synth("zst-gz", zst(&gz(&log()))));
        }
        "archive_conda" => {
            files(&mut out, "testdata/census/channel", max, b"", ext(&[".conda"]));
            out.push(synth("conda-traversal", conda_of(&archive_members())));
        }
        "scan_text" => {
            files(
                &mut out,
                "testdata/secrets/credsweeper/tests/samples",
                4096,
                b"",
                |p| {
                    std::fs::metadata(p).map(|m| m.len() < 4096).unwrap_or(false)
                        && !ext(&[".zip", ".gz", ".bz2", ".tar", ".jks", ".class", ".p12"])(p)
                },
            );
            out.push(synth("log", log()));
        }
        "rule_pack" => {
            let root = crate::repo_root().join("crates/scan/rules");
            let mut names: Vec<_> = std::fs::read_dir(&root)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            names.sort();
            for p in names {
                let Ok(text) = std::fs::read_to_string(&p) else {
                    continue;
                };
                // Cut big files into packs of a few rules each.
                let mut chunks = text.split("\n  - id:");
                let head = chunks.next().unwrap_or_default().to_string();
                let mut cur = head.clone();
                let mut n = 0;
                for c in chunks {
                    cur.push_str("\n  - id:");
                    cur.push_str(c);
                    n += 1;
                    if n == 4 {
                        out.push(Seed {
                            origin: p.display().to_string(),
                            data: std::mem::replace(&mut cur, head.clone()).into_bytes(),
                        });
                        n = 0;
                    }
                }
                if n > 0 {
                    out.push(Seed {
                        origin: p.display().to_string(),
                        data: cur.into_bytes(),
                    });
                }
            }
            out.retain(|s| s.data.len() <= max);
        }
        "providers_circleci" | "providers_github" | "providers_gitlab" => {
            for b in provider_bodies(target) {
                out.push(synth("response", b));
            }
            // found by libFuzzer: a body that is the decode error's own fixed prefix (the
            // leak check must look at the message's form, not search for the body in it)
            out.push(synth(
                "response",
                b"GET https://api.example.invalid/fuzz: unexpected response body: ".to_vec(),
            ));
        }
        "providers_http" => {
            for b in http_blocks() {
                out.push(synth("headers", b));
            }
        }
        "jwt_verify" => {
            for j in jwts() {
                out.push(synth("jwt", j));
            }
        }
        "serve_http" => {
            for r in serve_requests() {
                out.push(synth("request", r));
            }
        }
        "census_index" => {
            files(
                &mut out,
                "testdata/census/channel",
                max,
                &[0],
                ext(&["repodata.json"]),
            );
            files(&mut out, "testdata/census/pypi", max, &[1], |p| {
                p.file_name().is_some_and(|n| n == "json")
            });
            files(&mut out, "testdata/census/index.jsonl", max, &[2], any);
            files(&mut out, "testdata/census/index.jsonl", max, &[3], any);
            files(
                &mut out,
                "testdata/census/channel/noarch/repodata.json",
                max,
                &[3],
                any,
            );
        }
        "census_ioc" => {
            files(&mut out, "testdata/census/ioc.toml", max, &[0], any);
            out.push(synth(
                "ioc-yaml",
                b"\x01name: y\nfile_names: [\"**/*.sh\", {value: \"x\", description: d}]\nstrings: [abc]\nmember_sha256: [\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"]\n".to_vec(),
            ));
        }
        _ => {}
    }
    let _ = serve_t::ADMIN;
    for s in &mut out {
        s.data.truncate(max);
    }
    out
}

/// Writes every seed of `target` into `dir/<target>/` (file names are content hashes,
/// as libFuzzer names corpus files). Returns how many were written.
pub fn write_corpus(target: &str, dir: &Path) -> std::io::Result<usize> {
    use sha2_like::hex_digest;
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    let seeds = seeds(target);
    for s in &seeds {
        std::fs::write(d.join(hex_digest(&s.data)), &s.data)?;
    }
    Ok(seeds.len())
}

/// A tiny non-cryptographic content hash for corpus file names (FNV-1a, 128 bits).
mod sha2_like {
    pub fn hex_digest(data: &[u8]) -> String {
        let mut a: u64 = 0xcbf2_9ce4_8422_2325;
        let mut b: u64 = 0x8422_2325_cbf2_9ce4;
        for &x in data {
            a ^= x as u64;
            a = a.wrapping_mul(0x0000_0100_0000_01b3);
            b = b.rotate_left(5) ^ (x as u64);
            b = b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        format!("{a:016x}{b:016x}")
    }
}
