#!/usr/bin/env python3
"""Runs a DuckDB query file (from `firebreak hunt compile --target duckdb --combined`)
and prints the number of rows and the elapsed seconds. usage: hunt_duckdb.py QUERY.sql"""
import sys, time, duckdb
q = open(sys.argv[1]).read()
stmts = []
for s in q.split(";\n"):
    s = "\n".join(l for l in s.splitlines() if not l.strip().startswith("--")).strip()
    if s:
        stmts.append(s)
t = time.time()
con = duckdb.connect()
n = 0
for s in stmts:
    s = s.strip().rstrip(";")
    if s:
        n += len(con.execute(s).fetchall())
print(f"{n} {time.time() - t:.3f}")
