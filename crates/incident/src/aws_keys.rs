//! `incident init --aws-key-ids FILE`: the access key ids AWS named as exposed.
//!
//! After the CircleCI breach AWS e-mailed customers the ids of the access keys it had
//! seen stored in CircleCI, one per line. Each becomes a playbook task: the account is
//! decoded from the id offline; IAM's `GetAccessKeyLastUsed` (signed with the responder's
//! own credentials) names the IAM user that owns it and its last use; the CI variables
//! holding it are found when `--values` gives their values; and a rotation is drafted
//! (`aws_iam` source for that user, the variables as sinks).
//!
//! A line that is not a key id is named by number, never echoed: people paste secret
//! keys into such lists by mistake.

use crate::blast::{self, Blast, Method, Values};
use chrono::{DateTime, SecondsFormat, Utc};
use firebreak_providers::{Flags, Item, Kind, Provider};
use firebreak_rotate::aws::IamClient;
use firebreak_rotate::plan::{draft_from_inventory, InventoryItem, Plan, SecretSpec, SourceSpec};
use serde::Serialize;

/// The key ids of a list, and its lines that are not key ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyIdList {
    /// `(line, key id)`, in file order, each id once.
    pub ids: Vec<(usize, String)>,
    /// `(line, why)` of lines that are not key ids (1-based).
    pub bad: Vec<(usize, String)>,
}

/// Reads a key-id list: one id per line (`AKIA…` or `ASIA…`, 20 characters); blank lines
/// and `#` comments are skipped; surrounding quotes, commas and spaces are ignored; an id
/// listed twice counts once.
pub fn parse_key_ids(text: &str) -> KeyIdList {
    let mut out = KeyIdList::default();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let id = l.trim_matches(|c: char| c == '"' || c == '\'' || c == ',' || c == ';' || c.is_whitespace());
        if looks_like_key_id(id) {
            if !out.ids.iter().any(|(_, x)| x == id) {
                out.ids.push((i + 1, id.to_string()));
            }
        } else {
            out.bad.push((
                i + 1,
                format!(
                    "not an AWS access key id (AKIA or ASIA and 16 more letters or digits; {} characters here, not shown)",
                    id.chars().count()
                ),
            ));
        }
    }
    out
}

/// `AKIA`/`ASIA` and 16 upper-case letters or digits. Key ids issued since 2019 use only
/// the base32 alphabet (A-Z, 2-7) and encode their account; older ones (and emulators')
/// may hold other digits: they are accepted, their account is then unknown.
pub fn looks_like_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// One key of the list, looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsKey {
    /// Line of the list.
    pub line: usize,
    /// The access key id (an identifier, not a secret: AWS's notice lists it).
    pub key_id: String,
    /// Account decoded from the id.
    pub account: Option<String>,
    /// IAM user that owns it (`GetAccessKeyLastUsed`).
    pub user: Option<String>,
    /// Its last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Service of its last use.
    pub last_service: Option<String>,
    /// Region of its last use.
    pub last_region: Option<String>,
    /// Why IAM could not say (no caller credentials, another account, no such key...).
    pub error: Option<String>,
    /// Inventory identities holding it (found through `--values`).
    pub holders: Vec<String>,
}

/// Looks each key up in IAM (when a client is given) and decodes its account.
pub async fn look_up(iam: Option<&IamClient>, list: &KeyIdList) -> Vec<AwsKey> {
    let mut out = Vec::with_capacity(list.ids.len());
    for (line, id) in &list.ids {
        let mut k = AwsKey {
            line: *line,
            key_id: id.clone(),
            account: blast::aws_account_from_key_id(id),
            user: None,
            last_used_at: None,
            last_service: None,
            last_region: None,
            error: None,
            holders: Vec::new(),
        };
        match iam {
            None => {
                k.error = Some(
                    "not looked up in IAM: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the account to name each key's IAM user)"
                        .into(),
                )
            }
            Some(c) => match c.access_key_last_used(id).await {
                Ok(u) => {
                    k.user = Some(u.user);
                    k.last_used_at = u.last_used_at;
                    k.last_service = u.service;
                    k.last_region = u.region;
                }
                Err(e) => {
                    let hint = match e.code() {
                        Some("AccessDenied") => {
                            " (the key belongs to another account than the caller's, or the caller may not call iam:GetAccessKeyLastUsed)"
                        }
                        Some("NoSuchEntity") => " (deleted already, or in another account)",
                        _ => "",
                    };
                    k.error = Some(format!("{e}{hint}"));
                }
            },
        }
        out.push(k);
    }
    out
}

/// The inventory items holding each key: an `…ACCESS_KEY_ID` variable whose value (in
/// `values`) is the key id, and its `…SECRET_ACCESS_KEY` partner in the same place.
pub fn find_holders(keys: &mut [AwsKey], items: &[Item], values: &Values) {
    for k in keys.iter_mut() {
        let mut held = Vec::new();
        for it in items {
            let Some(v) = values.get(&it.name) else { continue };
            if v.expose().trim() != k.key_id {
                continue;
            }
            held.push(it.identity());
            let up = it.name.to_ascii_uppercase();
            if let Some(prefix) = up.strip_suffix("ACCESS_KEY_ID") {
                let partner = format!("{}SECRET_ACCESS_KEY", &it.name[..prefix.len()]);
                if let Some(p) = items.iter().find(|p| {
                    p.provider == it.provider && p.kind == it.kind && p.scope == it.scope && p.name == partner
                }) {
                    held.push(p.identity());
                }
            }
        }
        held.sort();
        held.dedup();
        k.holders = held;
    }
}

/// The task item of a key: under the breached `provider` (it was exposed there), kind
/// `aws_access_key`, scope `aws:ACCOUNT`, named by its id.
pub fn item_of(k: &AwsKey, provider: Provider) -> Item {
    let mut detail = Vec::new();
    if let Some(u) = &k.user {
        detail.push(format!("user {u}"));
    }
    match k.last_used_at {
        Some(t) => detail.push(format!(
            "last used {}{}{}",
            t.to_rfc3339_opts(SecondsFormat::Secs, true),
            k.last_service
                .as_deref()
                .map(|s| format!(" with {s}"))
                .unwrap_or_default(),
            k.last_region
                .as_deref()
                .map(|r| format!(" in {r}"))
                .unwrap_or_default()
        )),
        None if k.user.is_some() => detail.push("never used".into()),
        None => {}
    }
    detail.push(format!("listed at line {}", k.line));
    Item {
        provider,
        kind: Kind::AwsAccessKey,
        scope: format!("aws:{}", k.account.as_deref().unwrap_or("unknown-account")),
        name: k.key_id.clone(),
        created_at: None,
        updated_at: None,
        flags: Flags {
            detail: Some(detail.join(", ")),
            ..Default::default()
        },
    }
}

/// The blast radius of a key.
pub fn blast_of(k: &AwsKey) -> Blast {
    let acct = k.account.clone().unwrap_or_else(|| "(undecodable)".into());
    let mut b = match &k.user {
        Some(u) => {
            let mut b = Blast::new(
                format!(
                    "AWS account {acct} as IAM user {u} (named by AWS as exposed; owner from iam:GetAccessKeyLastUsed)"
                ),
                vec![format!(
                    "{} of account {acct} (userIdentity.accessKeyId = {}, userIdentity.userName = {u})",
                    blast::logs::CLOUDTRAIL,
                    k.key_id
                )],
                Method::Iam,
            );
            b.principal = Some(format!("arn:aws:iam::{acct}:user/{u}"));
            b.hunt_actors = vec![format!("arn:aws:iam::{acct}:user/{u}")];
            b
        }
        None => Blast::new(
            format!(
                "AWS account {acct} (named by AWS as exposed; decoded offline from the key id; its IAM user unknown: {})",
                k.error.as_deref().unwrap_or("not looked up")
            ),
            vec![format!(
                "{} of account {acct} (userIdentity.accessKeyId = {})",
                blast::logs::CLOUDTRAIL,
                k.key_id
            )],
            Method::KeyIdDecoding,
        ),
    };
    b.aws_account = k.account.clone();
    b
}

/// The rotation drafted for the keys: per key, an `aws_iam` source for its user with the
/// variables holding it as sinks (drafted as `firebreak rotate plan` drafts them), or a
/// manual step when its user or holders are unknown. Named `PROVIDER aws_access_key
/// aws:ACCOUNT KEYID` so that `incident status` links the rotation to the task.
pub fn draft(keys: &[AwsKey], items: &[Item], provider: Provider) -> Plan {
    let mut plan = Plan {
        version: 1,
        ..Default::default()
    };
    for k in keys {
        let it = item_of(k, provider);
        let name = format!("{} {} {} {}", it.provider, it.kind, it.scope, it.name);
        let held: Vec<InventoryItem> = items
            .iter()
            .filter(|i| k.holders.contains(&i.identity()))
            .map(|i| InventoryItem {
                provider: i.provider,
                kind: i.kind,
                scope: i.scope.clone(),
                name: i.name.clone(),
                flags: i.flags.clone(),
            })
            .collect();
        let (sub, _) = draft_from_inventory(&held);
        let sinks: Vec<_> = sub.secrets.into_iter().flat_map(|s| s.sinks).collect();
        let source = match (&k.user, sinks.is_empty()) {
            (Some(u), false) => SourceSpec::AwsIam {
                user: u.clone(),
                region: "us-east-1".into(),
                endpoint: None,
            },
            _ => {
                let inv = InventoryItem {
                    provider: it.provider,
                    kind: it.kind,
                    scope: it.scope.clone(),
                    name: it.name.clone(),
                    flags: it.flags.clone(),
                };
                let (p, _) = draft_from_inventory(std::slice::from_ref(&inv));
                p.secrets
                    .into_iter()
                    .next()
                    .map(|s| s.source)
                    .unwrap_or(SourceSpec::Manual {
                        instructions: "rotate this key in IAM".into(),
                    })
            }
        };
        if !sinks.is_empty() {
            for s in &sinks {
                match s.provider() {
                    Provider::Circleci => plan.providers.circleci = Some(Default::default()),
                    Provider::Github => plan.providers.github = Some(Default::default()),
                    Provider::Gitlab => plan.providers.gitlab = Some(Default::default()),
                }
            }
        }
        plan.secrets.push(SecretSpec {
            name,
            source,
            sinks,
            verify: None,
            shared: false,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::SecretString;

    // key ids built at run time from an account id (never a literal AWS key in source)
    fn key_for(account: u64, tail: u64) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let first6: u64 = (account << 7) | (1 << 47);
        let bits: u128 = (u128::from(first6) << 32) | u128::from(tail & 0xffff_ffff);
        let body: String = (0..16)
            .rev()
            .map(|i| A[((bits >> (i * 5)) & 31) as usize] as char)
            .collect();
        format!("AKIA{body}")
    }

    #[test]
    fn the_list_names_bad_lines_without_echoing_them() {
        let k1 = key_for(123456789012, 7);
        let k2 = key_for(210987654321, 9);
        let text = format!(
            "# AWS notice\n{k1}\n\n\"{k2}\",\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz\n{k1}\nAKIA123\n"
        );
        let l = parse_key_ids(&text);
        assert_eq!(l.ids, vec![(2, k1.clone()), (4, k2.clone())]);
        assert_eq!(l.bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![5, 7]);
        assert!(!l.bad[0].1.contains("wJalr"), "{}", l.bad[0].1);
        assert_eq!(
            blast::aws_account_from_key_id(&k1).as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn holders_tasks_and_drafts() {
        let k1 = key_for(123456789012, 7);
        let it = |name: &str| Item {
            provider: Provider::Circleci,
            kind: Kind::EnvVar,
            scope: "gh/acme/app".into(),
            name: name.into(),
            created_at: None,
            updated_at: None,
            flags: Flags::default(),
        };
        let items = vec![it("AWS_ACCESS_KEY_ID"), it("AWS_SECRET_ACCESS_KEY"), it("OTHER")];
        let mut values = Values::default();
        values.insert("AWS_ACCESS_KEY_ID", SecretString::new(k1.clone()), 1);
        let mut keys = vec![
            AwsKey {
                line: 1,
                key_id: k1.clone(),
                account: blast::aws_account_from_key_id(&k1),
                user: Some("deployer".into()),
                last_used_at: None,
                last_service: None,
                last_region: None,
                error: None,
                holders: vec![],
            },
            AwsKey {
                line: 2,
                key_id: key_for(123456789012, 8),
                account: Some("123456789012".into()),
                user: None,
                last_used_at: None,
                last_service: None,
                last_region: None,
                error: Some("AccessDenied".into()),
                holders: vec![],
            },
        ];
        find_holders(&mut keys, &items, &values);
        assert_eq!(
            keys[0].holders,
            vec![
                "circleci/env_var/gh/acme/app/AWS_ACCESS_KEY_ID".to_string(),
                "circleci/env_var/gh/acme/app/AWS_SECRET_ACCESS_KEY".to_string()
            ]
        );
        assert!(keys[1].holders.is_empty());
        let t = item_of(&keys[0], Provider::Circleci);
        assert_eq!(
            t.identity(),
            format!("circleci/aws_access_key/aws:123456789012/{k1}")
        );
        assert!(t.flags.detail.as_deref().unwrap().contains("user deployer"));
        let b = blast_of(&keys[0]);
        assert_eq!(b.method, Method::Iam);
        assert_eq!(
            b.principal.as_deref(),
            Some("arn:aws:iam::123456789012:user/deployer")
        );
        assert_eq!(blast_of(&keys[1]).method, Method::KeyIdDecoding);
        let plan = draft(&keys, &items, Provider::Circleci);
        assert_eq!(plan.secrets.len(), 2);
        let s0 = &plan.secrets[0];
        assert!(matches!(&s0.source, SourceSpec::AwsIam { user, .. } if user == "deployer"));
        assert_eq!(s0.sinks.len(), 2);
        assert!(plan.providers.circleci.is_some());
        // unknown user: a manual step naming the key, never an aws_iam source without a user
        assert!(
            matches!(&plan.secrets[1].source, SourceSpec::Manual { instructions } if instructions.contains(&keys[1].key_id))
        );
        // the draft parses as a plan (sinks where it revokes), and names the task
        let text = plan.to_toml();
        let back = Plan::parse(&text, "draft.toml").expect("a valid plan");
        assert_eq!(
            back.secrets[0].name,
            format!("circleci aws_access_key aws:123456789012 {k1}")
        );
    }
}
