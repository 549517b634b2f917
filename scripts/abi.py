#!/usr/bin/env python3
"""The ABI of libfhir_kindling as text, and the check against the last release (docs/ABI.md).

    scripts/abi.py dump LIB HEADER            print the ABI listing (what abi/VERSION.txt holds)
    scripts/abi.py check LIB HEADER VERSION   compare with the newest abi/X.Y.Z.txt; exit 1 on an
                                              unannounced removal or change

The listing has one line per item, sorted, whitespace normalised:
    symbol NAME                       a function the shared library exports (nm -D --defined-only)
    function PROTOTYPE                each function of the header, as declared
    callback TYPEDEF                  each function-pointer type
    enum TYPE NAME = VALUE            each enumerator (result codes, log levels)
    struct TYPE { FIELD; ... }        each struct whose fields are public (opaque ones are omitted)
    define NAME VALUE                 each macro constant except the version macros

A line of the baseline missing from the current listing is a removal (nothing of that name now)
or a change (same name, different text). Both fail unless abi/announced.txt lists the name with a
reason and the SONAME changes (a new 0.x minor, or a new major); enumerators never may change
(codes are only ever added). Lines only in the current listing are additions: printed, allowed.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ABI_DIR = REPO / "abi"
VERSION_MACROS = {"FHIR_KINDLING_VERSION_MAJOR", "FHIR_KINDLING_VERSION_MINOR", "FHIR_KINDLING_VERSION_PATCH"}


def norm(text):
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([*(),;{}\[\]])\s*", r"\1", text)
    text = re.sub(r"([,;{])", r"\1 ", text)
    text = re.sub(r"\*(?=[A-Za-z_])", "* ", text)  # "char **json_out" -> "char** json_out"
    text = re.sub(r"(?<=[A-Za-z0-9_])\*", " *", text)
    return text.strip()


def header_items(path):
    src = Path(path).read_text()
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    items = []
    for m in re.finditer(r"^[ \t]*#define[ \t]+([A-Za-z_]\w*)[ \t]+(\S[^\n]*)$", src, flags=re.M):
        if m.group(1) not in VERSION_MACROS:
            items.append(f"define {m.group(1)} {m.group(2).strip()}")
    body = re.sub(r"^[ \t]*#[^\n]*$", " ", src, flags=re.M)
    body = re.sub(r'extern\s+"C"\s*{', " ", body)
    # enums: typedef enum [tag] { A = 0, ... } name;
    for m in re.finditer(r"typedef\s+enum\s*\w*\s*{([^}]*)}\s*(\w+)\s*;", body):
        value = -1
        for part in m.group(1).split(","):
            part = part.strip()
            if not part:
                continue
            name, _, expr = part.partition("=")
            value = int(expr.strip(), 0) if expr.strip() else value + 1
            items.append(f"enum {m.group(2)} {name.strip()} = {value}")
    # structs with a body: their layout is ABI
    for m in re.finditer(r"typedef\s+struct\s*\w*\s*{([^}]*)}\s*(\w+)\s*;", body):
        fields = "; ".join(norm(f) for f in m.group(1).split(";") if f.strip())
        items.append(f"struct {m.group(2)} {{ {fields}; }}")
    body = re.sub(r"typedef\s+(enum|struct)\s*\w*\s*{[^}]*}\s*\w+\s*;", " ", body)
    for decl in body.split(";"):
        d = norm(decl)
        if not d or d == "}":
            continue
        d = d.lstrip("} ").strip()
        if d.startswith("typedef"):
            if "(*" in d:
                items.append(f"callback {d[len('typedef '):]}")
            continue  # opaque struct typedefs carry no layout
        if "(" in d:
            items.append(f"function {d}")
    return items


def symbols(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    return [f"symbol {line.split()[-1]}" for line in out.splitlines() if line.split() and line.split()[-1]]


def listing(lib, header):
    return sorted(set(symbols(lib) + header_items(header)))


def key(line):
    """The name an item is known by: a change keeps the key, a removal loses it."""
    kind, rest = line.split(" ", 1)
    if kind == "function":
        return kind, re.search(r"(\w+)\(", rest).group(1)
    if kind == "callback":
        return kind, re.search(r"\(\*\s*(\w+)\)", rest).group(1)
    if kind == "enum":
        return kind, rest.split()[1]
    return kind, rest.split()[0]


def vtuple(v):
    return tuple(int(x) for x in v.split("."))


def soname_of(version):
    major, minor, _ = vtuple(version)
    return f"0.{minor}" if major == 0 else str(major)


def announced():
    path = Path(os.environ.get("FHIR_ABI_ANNOUNCED", ABI_DIR / "announced.txt"))
    names = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(":")
                if not reason.strip():
                    sys.exit(f"abi: {path}: '{line}' has no reason (NAME: reason)")
                names[name.strip()] = reason.strip()
    return names


def check(lib, header, version):
    baselines = sorted((p for p in ABI_DIR.glob("*.txt") if re.fullmatch(r"\d+\.\d+\.\d+\.txt", p.name)),
                       key=lambda p: vtuple(p.stem))
    if not baselines:
        sys.exit("abi: no baseline abi/X.Y.Z.txt")
    base_path = baselines[-1]
    base = [line for line in base_path.read_text().splitlines() if line and not line.startswith("#")]
    now = listing(lib, header)
    now_set, base_set = set(now), set(base)
    now_keys = {key(line): line for line in now}
    notes = announced()
    new_soname = soname_of(version) != soname_of(base_path.stem)
    failures = []
    for line in base:
        if line in now_set:
            continue
        k = key(line)
        what = f"changed: {line}\n      now: {now_keys[k]}" if k in now_keys else f"removed: {line}"
        if k[0] == "enum":
            failures.append(f"{what}\n      (result codes and enumerators are only ever added)")
        elif k[1] in notes and new_soname:
            print(f"abi: announced {what}\n      reason: {notes[k[1]]}")
        elif k[1] in notes:
            failures.append(f"{what}\n      (announced, but version {version} keeps the SONAME of "
                            f"{base_path.stem}: a change needs a new 0.x minor)")
        else:
            failures.append(what)
    added = [line for line in now if line not in base_set and key(line) not in {key(b) for b in base}]
    for line in added:
        print(f"abi: added: {line}")
    print(f"abi: {len(now)} items now, {len(base)} in {base_path.relative_to(REPO)}, {len(added)} added")
    if failures:
        print(f"abi: FAILED: {len(failures)} unannounced removal(s) or change(s) against "
              f"{base_path.relative_to(REPO)} (docs/ABI.md says how to announce one):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "dump":
        print("\n".join(listing(sys.argv[2], sys.argv[3])))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        return check(*sys.argv[2:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
