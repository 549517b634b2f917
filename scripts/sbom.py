#!/usr/bin/env python3
"""The release's software bill of materials, from `cargo metadata` and Cargo.lock (no extra tool).

    scripts/sbom.py SBOM_OUT [NOTICES_OUT]

SBOM_OUT: a CycloneDX 1.5 JSON document describing what the shipped library contains: the crate
itself and every crate linked into it (normal dependencies, transitively, for
x86_64-unknown-linux-gnu, as `cargo tree` resolves them; build dependencies, proc macros and
dev-dependencies are not shipped and not listed), each with its version, purl, licence expression, the crates.io
SHA-256 from Cargo.lock and its dependencies. Deterministic: the timestamp is SOURCE_DATE_EPOCH
(scripts/dist.sh sets the last commit's time) and the serial number a UUID derived from the lock
file, so the same sources give the same bytes.

NOTICES_OUT: the licence texts of those crates (their LICENSE*/COPYING*/NOTICE* files as
published), which the MIT/BSD/ISC licences require to accompany a binary that contains them.
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

TARGET = "x86_64-unknown-linux-gnu"
REPO = Path(__file__).resolve().parent.parent


def cargo_metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", TARGET],
        cwd=REPO, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def lock_checksums():
    """name@version -> sha256 from Cargo.lock (registry packages only)."""
    sums, name, version, in_pkg = {}, None, None, False
    for line in (REPO / "Cargo.lock").read_text().splitlines():
        if line.startswith("["):
            in_pkg, name, version = line == "[[package]]", None, None
        elif not in_pkg:
            continue
        elif line.startswith("name = "):
            name = line.split('"')[1]
        elif line.startswith("version = "):
            version = line.split('"')[1]
        elif line.startswith("checksum = ") and name and version:
            sums[f"{name}@{version}"] = line.split('"')[1]
    return sums


def shipped(meta):
    """The package ids linked into the library and their edges, as cargo builds it: `cargo tree`
    with normal edges only, proc macros left out (they run in the compiler), the real feature
    resolution (cargo metadata's resolve unifies dev-dependency features too)."""
    by_name_version = {(p["name"], p["version"]): p["id"] for p in meta["packages"]}
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal,no-proc-macro", "--target", TARGET,
         "--prefix", "depth", "-f", "{p}"],
        cwd=REPO, check=True, capture_output=True, text=True).stdout
    deps, stack = {}, []
    for line in out.splitlines():
        digits = len(line) - len(line.lstrip("0123456789"))
        if not digits:
            continue
        depth, rest = int(line[:digits]), line[digits:].split()
        pid = by_name_version[(rest[0], rest[1].lstrip("v"))]
        del stack[depth:]
        if stack:
            deps.setdefault(stack[-1], set()).add(pid)
        deps.setdefault(pid, set())
        stack.append(pid)
    root = meta["resolve"]["root"]
    return root, {k: sorted(v) for k, v in deps.items()}


def purl(pkg):
    return f"pkg:cargo/{pkg['name']}@{pkg['version']}"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    meta = cargo_metadata()
    pkgs = {p["id"]: p for p in meta["packages"]}
    sums = lock_checksums()
    root, deps = shipped(meta)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lock_hash = hashlib.sha256((REPO / "Cargo.lock").read_bytes()).hexdigest()

    def component(pkg, kind):
        c = {"type": kind, "bom-ref": purl(pkg), "name": pkg["name"], "version": pkg["version"],
             "purl": purl(pkg)}
        if pkg.get("description"):
            c["description"] = " ".join(pkg["description"].split())
        if pkg.get("license"):
            c["licenses"] = [{"expression": pkg["license"]}]
        checksum = sums.get(f"{pkg['name']}@{pkg['version']}")
        if checksum:
            c["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        refs = []
        if pkg.get("repository"):
            refs.append({"type": "vcs", "url": pkg["repository"]})
        if pkg.get("source", "") and pkg["source"].startswith("registry+"):
            refs.append({"type": "distribution",
                         "url": f"https://crates.io/crates/{pkg['name']}/{pkg['version']}"})
        if refs:
            c["externalReferences"] = refs
        return c

    ids = sorted((i for i in deps if i != root), key=lambda i: (pkgs[i]["name"], pkgs[i]["version"]))
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"fhir_kindling-sbom:{lock_hash}")),
        "version": 1,
        "metadata": {
            "timestamp": stamp,
            "tools": {"components": [{"type": "application", "name": "fhir_kindling scripts/sbom.py"}]},
            "component": component(pkgs[root], "library"),
            "properties": [{"name": "cargo:target", "value": TARGET}],
        },
        "components": [component(pkgs[i], "library") for i in ids],
        "dependencies": [{"ref": purl(pkgs[i]), "dependsOn": [purl(pkgs[d]) for d in deps[i]]}
                         for i in [root] + ids],
    }
    Path(sys.argv[1]).write_text(json.dumps(bom, indent=2) + "\n")

    if len(sys.argv) == 3:
        parts = ["Third-party software linked into libfhir_kindling, with its licence texts as published.\n"]
        for i in ids:
            p = pkgs[i]
            crate_dir = Path(p["manifest_path"]).parent
            files = sorted(f for f in crate_dir.iterdir()
                           if f.is_file() and f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")))
            parts.append(f"\n{'=' * 78}\n{p['name']} {p['version']} ({p.get('license') or 'see below'})\n{'=' * 78}\n")
            if not files:
                parts.append(f"(no licence file in the published crate; licence: {p.get('license')})\n")
            for f in files:
                parts.append(f"\n--- {f.name} ---\n{f.read_text(errors='replace')}")
        Path(sys.argv[2]).write_text("".join(parts))
    print(f"sbom: {len(ids)} crates linked into {pkgs[root]['name']} {pkgs[root]['version']}", file=sys.stderr)


if __name__ == "__main__":
    main()
