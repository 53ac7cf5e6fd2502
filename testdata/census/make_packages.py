#!/usr/bin/env python3
"""Builds REAL package files with the tools that make them, for firebreak's census
tests and the bundled sample in testdata/census.

Needs the venv made by scripts/setup.d/50-conda-tools.sh (conda-package-handling,
zstandard, build, wheel, setuptools); run it with $FIREBREAK_CENSUS_PYTHON.

    make_packages.py JOBS.json

JOBS.json is a list of jobs, each one of:
    {"tool": "conda", "src": DIR, "out": FILE}    DIR holds info/index.json and the
        package files; FILE ends in .conda or .tar.bz2 (conda-package-handling).
    {"tool": "wheel", "src": DIR, "out": DIR}     pip wheel --no-build-isolation --no-deps --no-index
    {"tool": "sdist", "src": DIR, "out": DIR}     python -m build --sdist --no-isolation
Paths may be relative to the JOBS file's directory. Prints one line per file made.
"""
import json
import os
import subprocess
import sys


def files_under(d):
    out = []
    for root, _dirs, files in os.walk(d):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), d))
    return sorted(out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    jobs_file = os.path.abspath(sys.argv[1])
    base = os.path.dirname(jobs_file)
    with open(jobs_file) as f:
        jobs = json.load(f)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", SOURCE_DATE_EPOCH="1672531200")
    for job in jobs:
        src = os.path.join(base, job["src"])
        out = os.path.join(base, job["out"])
        tool = job["tool"]
        if tool == "conda":
            from conda_package_handling import api

            # api.create changes directory: use absolute paths only.
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if os.path.exists(out):
                os.remove(out)
            api.create(os.path.abspath(src), files_under(src), os.path.basename(out), out_folder=os.path.dirname(out))
            print(out)
        elif tool == "wheel":
            os.makedirs(out, exist_ok=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps", "--no-index", "-w", out, src],
                check=True, env=env, stdout=sys.stderr,
            )
            print(out)
        elif tool == "sdist":
            os.makedirs(out, exist_ok=True)
            subprocess.run(
                [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", out, src],
                check=True, env=env, stdout=subprocess.DEVNULL,
            )
            print(out)
        else:
            sys.exit(f"unknown tool {tool!r} in {jobs_file}")


if __name__ == "__main__":
    main()
