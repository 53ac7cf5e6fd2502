#!/usr/bin/env python3
"""Builds a large CloudTrail corpus by replicating the real sample's records.

Each copy gets new eventIDs and times shifted by whole hours, and is written as
CloudTrail delivers it to S3: {"Records":[...]} files of about 8 MB.
usage: hunt_corpus.py SAMPLE_DIR OUT_DIR MIN_MB
"""
import json, os, sys, glob, uuid, datetime as dt

src, out, min_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = []
for f in sorted(glob.glob(os.path.join(src, "*.json"))):
    recs.extend(json.load(open(f))["Records"])
os.makedirs(out, exist_ok=True)
target = min_mb * 1024 * 1024
total, copy, fileno = 0, 0, 0
buf, size = [], 0
def flush():
    global buf, size, fileno, total
    if not buf:
        return
    data = '{"Records":[' + ",".join(buf) + "]}"
    with open(os.path.join(out, f"123837392027_CloudTrail_us-east-1_{fileno:05d}.json"), "w") as fh:
        fh.write(data)
    total += len(data)
    fileno += 1
    buf, size = [], 0
while total + size < target:
    shift = dt.timedelta(hours=copy)
    for r in recs:
        r2 = dict(r)
        r2["eventID"] = str(uuid.UUID(int=(copy << 64) | (hash(r["eventID"]) & (2**64 - 1)), version=4))
        t = dt.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ") + shift
        r2["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        s = json.dumps(r2, separators=(",", ":"))
        buf.append(s)
        size += len(s) + 1
        if size >= 8 * 1024 * 1024:
            flush()
    copy += 1
flush()
print(f"{fileno} files, {total / 1048576:.0f} MB, {copy} copies of {len(recs)} records", file=sys.stderr)
