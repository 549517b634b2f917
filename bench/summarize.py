#!/usr/bin/env python3
"""Summarise target/bench/results.txt (written by bench/run.sh) as Markdown: medians and ratios.

  summarize.py RESULTS_TXT
Only the standard library is used. Every figure printed comes from the measurement lines.
"""

import json
import statistics
import sys
from collections import defaultdict

MIB = 1024.0  # ru_maxrss is in KiB


def parse(path):
    header, data, rows = [], {}, defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                header.append(line[1:].strip())
            elif line.startswith("data set="):
                name, js = line[len("data set="):].split(" ", 1)
                data[name] = json.loads(js)
            elif line.startswith("set="):
                kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
                rows[(kv["set"], kv["mode"])].append(kv)
    return header, data, rows


def med(rows, key):
    vals = [float(r[key]) for r in rows if key in r and r[key] not in ("", "-1")]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


LABEL = {
    "pages": "fhir_search_pages (C ABI)",
    "resources": "fhir_search_resources (C ABI)",
    "all": "fhir_search_all (C ABI)",
    "curl-known": "curl, one process, known page URLs",
    "curl-follow": "curl per page + grep next link",
    "kindling": "fhir_kindling (Python) query.all()",
    "kindling-models": "fhir_kindling .all() + .resources",
    "fhirpy": "fhirpy fetch_all()",
}
ORDER = list(LABEL)


def table(set_name, data, rows):
    d = data[set_name]
    out = [f"Data set `{set_name}`: {d['count']:,} Patients, {d['pages']:,} pages of {d['page_size']}, "
           f"{d['total_bytes']:,} bytes in all; average page {d['avg_page_bytes']:,} bytes "
           f"({d['avg_page_bytes'] / 1048576:.2f} MiB), average resource {d['avg_resource_bytes']:,} bytes.",
           "",
           "| client | resources | runs | wall time (median) s | resources/s | baseline peak RSS MiB "
           "| peak RSS MiB (median) | peak − baseline MiB | (peak − baseline) / page size |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    walls = {}
    for mode in ORDER:
        rs = rows.get((set_name, mode))
        if not rs:
            continue
        wall = med(rs, "wall_s")
        walls[mode] = wall
        n = med(rs, "resources")
        if n is None:  # curl does not parse: all pages were transferred
            pages = med(rs, "pages")
            n = d["count"] if pages == d["pages"] else None
        peak = med(rs, "peak_rss_kb")
        base = med(rs, "baseline_peak_kb")
        delta = (peak - base) if peak is not None and base is not None else None
        per_page = (delta * 1024 / d["avg_page_bytes"]) if delta is not None else None
        out.append(
            f"| {LABEL[mode]} | {fmt(n, ',.0f')} | {len(rs)} | {fmt(wall, '.3f')} "
            f"| {fmt(n / wall if n and wall else None, ',.0f')} | {fmt(base / MIB if base else None, '.1f')} "
            f"| {fmt(peak / MIB if peak else None, '.1f')} | {fmt(delta / MIB if delta is not None else None, '.1f')} "
            f"| {fmt(per_page, '.1f')} |")
        spread = [float(r["wall_s"]) for r in rs]
        out[-1] += ""  # keep the row; the spread goes below
        walls[mode + "#spread"] = (min(spread), max(spread))
    xf = rows.get((set_name, "curl-known"))
    if xf and med(xf, "xfer_s") is not None:
        out.append("")
        out.append(f"curl, one process: the wall time includes starting curl; the sum of curl's own "
                   f"per-transfer times (`time_total`) is {med(xf, 'xfer_s'):.3f} s (median).")
    out.append("")
    out.append("Wall-time spread (min – max over the runs): " + "; ".join(
        f"{m} {walls[m + '#spread'][0]:.3f}–{walls[m + '#spread'][1]:.3f} s"
        for m in ORDER if m + "#spread" in walls) + ".")
    return out, walls


def ratios(walls):
    out = []
    pairs = [("pages", "curl-known"), ("resources", "curl-known"), ("all", "curl-known"),
             ("pages", "curl-follow"), ("kindling", "pages"), ("kindling", "resources"),
             ("kindling-models", "resources"), ("fhirpy", "resources")]
    for a, b in pairs:
        if walls.get(a) and walls.get(b):
            out.append(f"| {LABEL[a]} ÷ {LABEL[b]} | {walls[a] / walls[b]:.2f} |")
    if out:
        out = ["| ratio of median wall times | × |", "|---|---:|"] + out
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    header, data, rows = parse(sys.argv[1])
    lines = ["## Machine and versions", ""] + [f"- {h}" for h in header] + [""]
    for s in data:
        if True:
            lines.append(f"## Set `{s}`")
            lines.append("")
            t, walls = table(s, data, rows)
            lines += t
            r = ratios(walls)
            if r:
                lines += [""] + r
            lines.append("")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
