#!/usr/bin/env python3
"""Writes the bundled data of `firebreak drill` (deterministic: run it again, get the same bytes).

Everything here is synthetic, written for firebreak (Apache-2.0, like the project): the
organisation "acme", its IAM user, IPs from the documentation ranges (RFC 5737: 192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24), and the attacker's trail after a CircleCI-style breach.

    audit/cloudtrail-acme.json   CloudTrail as delivered to S3 ({"Records": [...]})
    audit/github-audit.ndjson    GitHub organisation audit-log export (NDJSON)
    audit/circleci-audit.csv     CircleCI audit-log CSV export
    census/index.jsonl           a package index (JSON Lines) of acme's published artifacts
    census/files/*               the artifacts; one wheel carries a planted dropper
    census/ioc.toml              indicators of that dropper
    values.env                   what the responder knows from the vault: the AWS access key id
                                 of the CI deploy user (an identifier, not a secret); the key id
                                 is fabricated so that it decodes to the account in the CloudTrail

Usage: python3 testdata/drill/make_drill_data.py   (from the repository root)
"""

import base64
import csv
import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
import zipfile
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = 123837392027
NS = uuid.UUID("6f1c2b9e-3b1a-4c53-9d0e-5d2b7e0a1f00")


def uid(*parts):
    return str(uuid.uuid5(NS, "/".join(str(p) for p in parts)))


def key_id_for(account, tail):
    """An AKIA key id that decodes to `account` (the documented encoding)."""
    z = (account << 7) | 0x25
    raw = z.to_bytes(6, "big") + tail
    return "AKIA" + base64.b32encode(raw).decode().rstrip("=")


KEY_ID = key_id_for(ACCOUNT, b"\x5a\x17\xc3\x09")
ATTACKER_KEY_ID = key_id_for(ACCOUNT, b"\x81\x44\x2e\x7d")
CI_IP = "198.51.100.24"  # acme's CI egress, seen all of December
ATTACKER_IP = "203.0.113.66"
ADMIN_IP = "192.0.2.10"


def t(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- CloudTrail
def ct(when, source, name, ip, ua, user="ci-deployer", key=KEY_ID, error=None, params=None, ro=True, resp=None):
    rec = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDARZ5KQ2X7DRILL0001",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": str(ACCOUNT),
            "accessKeyId": key,
            "userName": user,
        },
        "eventTime": iso(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": resp,
        "requestID": uid("req", iso(when), name),
        "eventID": uid("ct", iso(when), name, ip),
        "readOnly": ro,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": str(ACCOUNT),
        "eventCategory": "Management",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: {name}"
    return rec


def cloudtrail():
    recs = []
    cli = "aws-cli/2.9.8 Python/3.9.11 Linux/5.15.0 exe/x86_64.ubuntu.22 prompt/off command/s3.cp"
    # baseline: the CI deploy user uploads build artifacts every day from the CI egress IP
    d = t("2022-12-01T09:00:00Z")
    while d < t("2022-12-21T00:00:00Z"):
        recs.append(ct(d, "s3.amazonaws.com", "PutObject", CI_IP, cli,
                       params={"bucketName": "acme-artifacts", "key": f"builds/{d:%Y%m%d}/app.tar.gz"}, ro=False))
        recs.append(ct(d + timedelta(minutes=2), "ecr.amazonaws.com", "GetAuthorizationToken", CI_IP, cli))
        d += timedelta(days=1)
    # the window: normal CI activity goes on...
    d = t("2022-12-21T09:00:00Z")
    while d < t("2023-01-05T00:00:00Z"):
        recs.append(ct(d, "s3.amazonaws.com", "PutObject", CI_IP, cli,
                       params={"bucketName": "acme-artifacts", "key": f"builds/{d:%Y%m%d}/app.tar.gz"}, ro=False))
        d += timedelta(days=1)
    # ...and the attacker uses the stolen key from a new IP with boto3
    boto = "Boto3/1.26.37 Python/3.10.8 Linux/5.15.0 Botocore/1.29.37"
    a = t("2022-12-29T02:11:00Z")
    recs.append(ct(a, "sts.amazonaws.com", "GetCallerIdentity", ATTACKER_IP, boto))
    recs.append(ct(a + timedelta(minutes=1), "s3.amazonaws.com", "ListBuckets", ATTACKER_IP, boto))
    recs.append(ct(a + timedelta(minutes=2), "iam.amazonaws.com", "ListUsers", ATTACKER_IP, boto))
    recs.append(ct(a + timedelta(minutes=3), "iam.amazonaws.com", "GetAccountAuthorizationDetails", ATTACKER_IP, boto,
                   error="AccessDenied"))
    for i, api in enumerate(["ListRoles", "ListPolicies", "ListSecrets", "DescribeInstances", "GetSecretValue",
                             "ListFunctions20150331", "DescribeDBInstances", "ListAccessKeys"]):
        src = {"ListSecrets": "secretsmanager.amazonaws.com", "GetSecretValue": "secretsmanager.amazonaws.com",
               "DescribeInstances": "ec2.amazonaws.com", "ListFunctions20150331": "lambda.amazonaws.com",
               "DescribeDBInstances": "rds.amazonaws.com"}.get(api, "iam.amazonaws.com")
        recs.append(ct(a + timedelta(minutes=4, seconds=10 * i), src, api, ATTACKER_IP, boto, error="AccessDenied"))
    recs.append(ct(a + timedelta(minutes=9), "s3.amazonaws.com", "GetObject", ATTACKER_IP, boto,
                   params={"bucketName": "acme-artifacts", "key": "config/prod.env"}))
    # persistence: a new user and an access key for it
    p = t("2022-12-29T02:25:00Z")
    recs.append(ct(p, "iam.amazonaws.com", "CreateUser", ATTACKER_IP, boto, params={"userName": "svc-backup"}, ro=False))
    recs.append(ct(p + timedelta(minutes=1), "iam.amazonaws.com", "CreateAccessKey", ATTACKER_IP, boto,
                   params={"userName": "svc-backup"}, ro=False,
                   resp={"accessKey": {"userName": "svc-backup", "accessKeyId": ATTACKER_KEY_ID, "status": "Active"}}))
    recs.sort(key=lambda r: r["eventTime"])
    return {"Records": recs}


# ---------------------------------------------------------------- GitHub audit
def gh(when, action, actor, ip, repo=None, **extra):
    rec = {
        "@timestamp": int(when.timestamp() * 1000),
        "_document_id": uid("gh", iso(when), action, actor, repo)[:22],
        "action": action,
        "actor": actor,
        "actor_ip": ip,
        "actor_location": {"country_code": "US" if ip != ATTACKER_IP else "NL"},
        "org": "acme",
        "user_agent": "git/2.39.0",
        "operation_type": "access",
    }
    if repo:
        rec["repo"] = repo
        rec["repository"] = repo
    rec.update(extra)
    return rec


def github_audit():
    recs = []
    d = t("2022-12-01T09:05:00Z")
    while d < t("2023-01-05T00:00:00Z"):
        recs.append(gh(d, "git.clone", "acme-ci-bot", CI_IP, "acme/app", programmatic_access_type="OAuth access token"))
        d += timedelta(days=1)
    # the stolen OAuth token (CircleCI held it) clones every repository in minutes
    a = t("2022-12-28T23:40:00Z")
    repos = ["app", "api", "infra", "billing", "web", "mobile", "sdk-python", "sdk-js", "terraform", "secrets-ops",
             "docs", "ops-scripts"]
    for i, r in enumerate(repos):
        recs.append(gh(a + timedelta(minutes=2 * i), "git.clone", "acme-ci-bot", ATTACKER_IP, f"acme/{r}",
                       programmatic_access_type="OAuth access token", user_agent="git/2.34.1"))
    recs.append(gh(t("2022-12-29T00:20:00Z"), "public_key.create", "acme-ci-bot", ATTACKER_IP, "acme/infra",
                   title="backup", read_only=False))
    recs.append(gh(t("2023-01-06T10:00:00Z"), "org.update_member", "octocat", ADMIN_IP, None))
    recs.sort(key=lambda r: r["@timestamp"])
    return recs


# ---------------------------------------------------------------- CircleCI audit
def cc(when, action, actor, target, ip, success=True):
    j = lambda o: json.dumps(o)
    return [
        uid("cc", iso(when), action, actor),
        action,
        j({"id": uid("user", actor), "type": "user", "name": actor}),
        j(target),
        "{}",
        when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "{}",
        j({"id": uid("ccreq", iso(when), action), "ip_address": ip}),
        "true" if success else "false",
        "1",
        j({"id": uid("org", "acme"), "type": "organization", "name": "acme"}),
    ]


def circleci_audit():
    rows = []
    ctx = {"id": uid("ctx", "ctx-000"), "type": "context", "name": "ctx-000"}
    for day in range(1, 21, 3):
        w = t(f"2022-12-{day:02d}T10:00:00Z")
        rows.append(cc(w, "user.logged_in", "alice", {"id": uid("user", "alice"), "type": "user", "name": "alice"}, ADMIN_IP))
    # the session cookie stolen from an engineer's laptop: a login from a new IP, then secrets read
    a = t("2022-12-22T03:05:00Z")
    rows.append(cc(a, "user.logged_in", "alice", {"id": uid("user", "alice"), "type": "user", "name": "alice"}, ATTACKER_IP))
    rows.append(cc(a + timedelta(minutes=3), "context.secrets.accessed", "alice", ctx, ATTACKER_IP))
    rows.append(cc(a + timedelta(minutes=4), "project.env_var.create", "alice",
                   {"id": uid("proj", "repo-00001"), "type": "project", "name": "acme/repo-00001"}, ATTACKER_IP))
    rows.append(cc(a + timedelta(minutes=6), "project.ssh_key.create", "alice",
                   {"id": uid("proj", "repo-00002"), "type": "project", "name": "acme/repo-00002"}, ATTACKER_IP))
    rows.sort(key=lambda r: r[5])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "action", "actor", "target", "payload", "occurred_at", "metadata", "request", "success", "version", "scope"])
    w.writerows(rows)
    return buf.getvalue()


# ---------------------------------------------------------------- census
FIXED = (2022, 12, 28, 0, 0, 0)


def wheel(name, version, files):
    dist = f"{name.replace('-', '_')}-{version}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        entries = dict(files)
        entries[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        entries[f"{dist}.dist-info/WHEEL"] = "Wheel-Version: 1.0\nGenerator: make_drill_data\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        for path in sorted(entries):
            zi = zipfile.ZipInfo(path, FIXED)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, entries[path])
    return buf.getvalue()


def sdist(name, version, files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path in sorted(files):
            data = files[path].encode()
            ti = tarfile.TarInfo(f"{name}-{version}/{path}")
            ti.size = len(data)
            ti.mtime = 1672185600
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as g:
        g.write(raw.getvalue())
    return out.getvalue()


def census(root):
    files = os.path.join(root, "files")
    os.makedirs(files, exist_ok=True)
    sdk_clean = {"acme_sdk/__init__.py": "__version__ = '2.1.0'\n\ndef client():\n    return 'ok'\n"}
    sdk_bad = {
        "acme_sdk/__init__.py": "__version__ = '2.1.1'\nfrom . import _ci_exfil  # noqa\n\ndef client():\n    return 'ok'\n",
        # the planted dropper: inert (no network code), named by the IOC file
        "acme_sdk/_ci_exfil.py": "# planted by the drill: posts the environment to collector.evil.example\n"
                                 "ENDPOINT = 'https://collector.evil.example/c'\n",
    }
    arts = [
        ("acme-cli", "1.3.9", "acme-cli-1.3.9.tar.gz", sdist("acme-cli", "1.3.9", {"acme_cli.py": "print('1.3.9')\n"}), "2022-11-02T15:00:00Z"),
        ("acme-cli", "1.4.0", "acme-cli-1.4.0.tar.gz", sdist("acme-cli", "1.4.0", {"acme_cli.py": "print('1.4.0')\n"}), "2022-12-27T16:30:00Z"),
        ("acme-sdk", "2.1.0", "acme_sdk-2.1.0-py3-none-any.whl", wheel("acme-sdk", "2.1.0", sdk_clean), "2022-12-23T11:00:00Z"),
        ("acme-sdk", "2.1.1", "acme_sdk-2.1.1-py3-none-any.whl", wheel("acme-sdk", "2.1.1", sdk_bad), "2022-12-29T03:02:00Z"),
        ("acme-web", "0.9.0", "acme-web-0.9.0.tar.gz", sdist("acme-web", "0.9.0", {"web/app.js": "console.log('0.9')\n"}), "2023-01-09T08:00:00Z"),
    ]
    lines = []
    for name, version, fname, data, up in arts:
        with open(os.path.join(files, fname), "wb") as f:
            f.write(data)
        lines.append(json.dumps({
            "name": name, "version": version, "uploaded_at": up, "path": f"files/{fname}",
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "platform": "any",
        }))
    with open(os.path.join(root, "index.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(root, "ioc.toml"), "w") as f:
        f.write(
            '# Indicators of the dropper planted in the drill data (see testdata/drill/README.md).\n'
            'name = "drill: CI credential exfiltration"\n'
            'description = "Inert indicators planted in testdata/drill/census."\n\n'
            'file_names = [\n  { value = "**/_ci_exfil.py", description = "dropper module added to the SDK build" },\n]\n'
            'member_sha256 = []\nartifact_sha256 = []\n'
            'strings = [\n  { value = "collector.evil.example", description = "exfiltration endpoint" },\n]\n'
        )


def main():
    audit = os.path.join(HERE, "audit")
    os.makedirs(audit, exist_ok=True)
    with open(os.path.join(audit, "cloudtrail-acme.json"), "w") as f:
        json.dump(cloudtrail(), f, indent=1)
        f.write("\n")
    with open(os.path.join(audit, "github-audit.ndjson"), "w") as f:
        for r in github_audit():
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(audit, "circleci-audit.csv"), "w") as f:
        f.write(circleci_audit())
    census(os.path.join(HERE, "census"))
    with open(os.path.join(HERE, "values.env"), "w") as f:
        f.write(
            "# What the responder knows from the vault (firebreak incident init --values).\n"
            "# An AWS access key id is an identifier, not a secret: firebreak decodes its account.\n"
            f"AWS_ACCESS_KEY_ID={KEY_ID}\n"
        )


if __name__ == "__main__":
    main()
