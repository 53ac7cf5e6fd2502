#!/usr/bin/env python3
"""Writes a gzip CloudTrail file in which every record matches built-in hunt rules.

usage: bench/hunt_matching.py OUT.json.gz MB [--distinct-ips]

Each record is an `sts:GetCallerIdentity` call (rule "AWS GetCallerIdentity (whoami)")
made with a boto3 user agent (rule "AWS call from a scripting user agent"), so
`firebreak hunt` produces two findings per record. The file is one CloudTrail
`{"Records":[...]}` document of about MB megabytes once inflated. Used to measure the
peak memory of a hunt whose findings grow with the input (docs/hunt.md, "Bounds").

Actors cycle over 1000 roles; with --distinct-ips every record has its own source IP, so
`--baseline` novelty has one new key per record.
"""

import gzip
import json
import sys
from datetime import datetime, timedelta, timezone


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, mb = sys.argv[1], float(sys.argv[2])
    distinct_ips = "--distinct-ips" in sys.argv[3:]
    target = int(mb * 1024 * 1024)
    t0 = datetime(2023, 1, 4, tzinfo=timezone.utc)
    written = 0
    n = 0
    with gzip.open(out, "wb", compresslevel=6) as f:
        head = b'{"Records":[\n'
        f.write(head)
        written += len(head)
        while written < target:
            ip = (
                f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
                if distinct_ips
                else f"203.0.113.{n % 7}"
            )
            rec = {
                "eventVersion": "1.08",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": f"AROAEXAMPLE{n % 1000:05d}:ci",
                    "arn": f"arn:aws:sts::123456789012:assumed-role/ci-{n % 1000}/ci",
                    "accountId": "123456789012",
                    "accessKeyId": f"ASIAEXAMPLE{n % 100000:09d}",
                },
                "eventTime": (t0 + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "sts.amazonaws.com",
                "eventName": "GetCallerIdentity",
                "awsRegion": "us-east-1",
                "sourceIPAddress": ip,
                "userAgent": "Boto3/1.26.0 md/Botocore#1.29.0 ua/2.0 os/linux#5.15 md/arch#x86_64 lang/python#3.11.0 cfg/retry-mode#legacy",
                "requestParameters": None,
                "responseElements": None,
                "requestID": f"{n:08x}-0000-4000-8000-000000000000",
                "eventID": f"{n:08x}-1111-4000-8000-000000000000",
                "readOnly": True,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": "123456789012",
                "eventCategory": "Management",
                "tlsDetails": {
                    "tlsVersion": "TLSv1.2",
                    "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                    "clientProvidedHostHeader": "sts.amazonaws.com",
                },
            }
            line = (b",\n" if n else b"") + json.dumps(rec, separators=(",", ":")).encode()
            f.write(line)
            written += len(line)
            n += 1
        f.write(b"\n]}\n")
    print(f"{out}: {n} records, {written / 1048576:.0f} MB inflated", file=sys.stderr)


if __name__ == "__main__":
    main()
