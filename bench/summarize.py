#!/usr/bin/env python3
"""Summarise target/bench/results.txt (written by bench/run.sh) as Markdown, and draw the chart.

  summarize.py RESULTS_TXT [CHART_PNG]

Every figure printed comes from the measurement lines: medians over the rounds with [min–max],
ratios paired per round (the two runs of one round ran one after the other) then their median.
The chart needs matplotlib (bench/run.sh installs it in its venv); without it only the text is
written.
"""

import re
import statistics
import sys
from collections import defaultdict

KIB_PER_MIB = 1024.0
# The per-request floors beside the library: libcurl, and the Rust HTTP stack alone (bench/stack_floor).
FLOORS = {"curl": "libcurl (one easy handle)", "hyper": "hyper-util client alone (stack_floor)", "reqwest": "reqwest alone (stack_floor)"}


def parse(path):
    header, rows, cg = [], defaultdict(dict), {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                header.append(line[1:].strip())
            elif line.startswith("callgrind "):
                kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
                cg[(kv["case"], kv["name"])] = int(kv["instructions"] or 0)
            elif line.startswith("case="):
                kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
                rows[(kv["case"], kv["name"])][int(kv["run"])] = kv
    return header, rows, cg


def vals(rows, key, field, scale=1.0):
    return [float(kv[field]) * scale for kv in rows.get(key, {}).values() if field in kv]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits=3):
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def spread(xs, digits=3):
    if not xs:
        return "–"
    return f"{fmt(med(xs), digits)} [{fmt(min(xs), digits)}–{fmt(max(xs), digits)}]"


def paired(rows, a, b, field="wall_s", invert=False):
    """Per-round ratio a/b (b/a when invert), median [min–max]."""
    ra, rb = rows.get(a, {}), rows.get(b, {})
    out = []
    for run in sorted(set(ra) & set(rb)):
        x, y = float(ra[run][field]), float(rb[run][field])
        if x > 0 and y > 0:
            out.append(y / x if invert else x / y)
    if not out:
        return "–", None
    return f"{med(out):.2f}× [{min(out):.2f}–{max(out):.2f}]", med(out)


def cpu_count(header):
    """The number of CPUs from run.sh's "# cpu N x MODEL" line, None without it."""
    for h in header:
        m = re.match(r"cpu (\d+) x", h)
        if m:
            return int(m.group(1))
    return None


def names(rows, case):
    return sorted({n for (c, n) in rows if c == case})


def search_table(rows, cg, case, pages, out):
    out.append("| client | wall s | CPU s | ctx switches (voluntary) | peak VmHWM MiB | VmHWM − baseline MiB | ÷ libcurl wall (paired) | instructions (search only) |")
    out.append("|---|---|---|---|---|---|---|---|")
    order = [n for n in ["curl", "curl-simdjson", "pages-new", "resources-new", "all-new", "all-thp", "pages-base", "resources-base", "all-base", "kindling", "fhirpy", "fhirclient"] if (case, n) in rows]
    fixed = {"new": cg.get(("request", "get0-new")), "base": cg.get(("request", "get0-base")), "curl": cg.get(("request", "curl0")), "simdjson": cg.get((case, "curl-simdjson0"))}
    for n in order:
        key = (case, n)
        wall = vals(rows, key, "wall_s")
        cpu = vals(rows, key, "cpu_s")
        vcsw = vals(rows, key, "vcsw")
        hwm = vals(rows, key, "hwm_kb", 1 / KIB_PER_MIB) or vals(rows, key, "peak_rss_kb", 1 / KIB_PER_MIB)
        base = vals(rows, key, "base_hwm_kb", 1 / KIB_PER_MIB) or vals(rows, key, "baseline_peak_kb", 1 / KIB_PER_MIB)
        delta = [h - b for h, b in zip(hwm, base)] if base else []
        ratio = paired(rows, key, (case, "curl"))[0] if n != "curl" else "1"
        instr = cg.get(key)
        variant = "curl" if n == "curl" else n.rsplit("-", 1)[-1]
        if instr and fixed.get(variant):
            instr_s = f"{(instr - fixed[variant]) / 1e6:.1f} M ({(instr - fixed[variant]) / pages:,.0f}/page)"
        else:
            instr_s = "–"
        peers = {"curl": "libcurl floor (one easy handle, memmem)", "curl-simdjson": "libcurl + simdjson DOM parse of each page (a validating floor)", "kindling": "Python fhir_kindling `query.all()`", "fhirpy": "Python fhirpy `fetch_all()`", "fhirclient": "Python fhirclient `perform_resources_iter()`"}
        peers["all-thp"] = "`fhir_search_all`, the program with glibc's huge pages (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`)"
        label = peers[n] if n in peers else f"`fhir_search_{n.rsplit('-', 1)[0]}` ({n.rsplit('-', 1)[1]})"
        out.append(f"| {label} | {spread(wall)} | {spread(cpu)} | {fmt(med(vcsw), 0) if vcsw else '–'} | {fmt(med(hwm), 1) if hwm else '–'} | {fmt(med(delta), 1) if delta else '–'} | {ratio} | {instr_s} |")


def main():
    path = sys.argv[1]
    chart = sys.argv[2] if len(sys.argv) > 2 else None
    header, rows, cg = parse(path)
    out = ["# Benchmark results", "", "```"] + header + ["```", ""]
    rounds = max((len(v) for v in rows.values()), default=0)
    out.append(f"Every figure: median [min–max] of {rounds} interleaved rounds; ratios paired per round. Wall and CPU time of the measured call only (CPU: every thread of the process). Context switches: voluntary, summed over the process's threads.")
    out.append("")
    sizes = [("static10k", 100, "Static pages: 10,000 Patients, 100 pages of 100 (13.99 MB)"), ("static100k", 1000, "Static pages: 100,000 Patients, 1,000 pages of 100 (139.9 MB)")]
    ncpu = cpu_count(header)
    server_cpu = f"CPU {ncpu - 1}" if ncpu else "the last CPU"
    apart = [(f"{c}-apart", p, f"{t} — client on CPU 0, nginx on {server_cpu}") for c, p, t in sizes]
    for case, pages, title in sizes + apart:
        if any(c == case for c, _ in rows):
            out += [f"## {title}", ""]
            if case.endswith("-apart"):
                out += [f"The library (new) and libcurl again on the same nginx, right after the unpinned rounds: each client pinned to CPU 0 (`taskset -c 0`), nginx's worker to {server_cpu}. They never share a CPU, as with a server on another host; unpinned, the kernel sometimes places both on one CPU. Instructions: not measured for this placement.", ""]
            search_table(rows, cg, case, pages, out)
            for mode in ["pages", "resources", "all"]:
                for v in ["new", "base"]:
                    if (case, f"{mode}-{v}") in rows and mode != "pages":
                        r, _ = paired(rows, (case, f"{mode}-{v}"), (case, f"pages-{v}"))
                        out.append(f"\n`{mode}` ÷ `pages` ({v}): {r}")
            if (case, "curl-simdjson") in rows:
                for mode in ["pages", "resources", "all"]:
                    if (case, f"{mode}-new") in rows:
                        r, _ = paired(rows, (case, f"{mode}-new"), (case, "curl-simdjson"))
                        out.append(f"\n`{mode}` ÷ libcurl + simdjson (wall): {r}")
            if (case, "all-thp") in rows:
                r, _ = paired(rows, (case, "all-thp"), (case, "pages-new"))
                out.append(f"\n`all` with glibc's huge pages ÷ `pages`: {r}")
            if (case, "pages-base") in rows:
                for mode in ["pages", "resources", "all"]:
                    r, _ = paired(rows, (case, f"{mode}-new"), (case, f"{mode}-base"))
                    out.append(f"\n`{mode}` new ÷ base: {r}")
            out.append("")
    if any(c.endswith("-apart") for c, _ in rows):
        out += ["## Placement: `fhir_search_pages` ÷ libcurl wall (paired), unpinned vs apart", ""]
        for case, label in [("static10k", "10,000 Patients"), ("static100k", "100,000 Patients")]:
            if (f"{case}-apart", "pages-new") in rows:
                unpinned = paired(rows, (case, "pages-new"), (case, "curl"))[0]
                pinned = paired(rows, (f"{case}-apart", "pages-new"), (f"{case}-apart", "curl"))[0]
                out.append(f"- {label}: unpinned {unpinned}; apart (client on CPU 0, nginx on {server_cpu}) {pinned}")
        out.append("")
    for case, title in [("request", ""), ("request-apart", " — client on CPU 0, nginx on the last CPU")]:
        if not any(c == case for c, _ in rows):
            continue
        out += [f"## Per request: 2,000 GETs of a 2-byte body, one handle, one thread{title}", "", "| client | µs per request (wall) | µs per request (CPU) | ctx switches per request | instructions per request | ÷ libcurl wall (paired) |", "|---|---|---|---|---|---|"]
        for n in [x for x in ["curl", "hyper", "reqwest", "get-new", "get-base"] if (case, x) in rows]:
            key = (case, n)
            wall = vals(rows, key, "wall_s", 1e6 / 2000)
            cpu = vals(rows, key, "cpu_s", 1e6 / 2000)
            vcsw = vals(rows, key, "vcsw", 1 / 2000)
            # Instructions do not depend on the placement: those of the unpinned runs.
            fixed = cg.get(("request", f"{n}0" if n in FLOORS else n.replace("get-", "get0-")))
            instr = cg.get(("request", n))
            per = f"{(instr - fixed) / 2000:,.0f}" if instr and fixed else "–"
            ratio = paired(rows, key, (case, "curl"))[0] if n != "curl" else "1"
            label = FLOORS.get(n) or f"fhir_server_request ({n.split('-')[1]})"
            out.append(f"| {label} | {spread(wall, 1)} | {spread(cpu, 1)} | {fmt(med(vcsw), 3)} | {per} | {ratio} |")
        out.append("")
    if any(c == "threads" for c, _ in rows):
        out += ["## Threads: GETs of a 2-byte body", "", "| client | requests/s | CPU s |", "|---|---|---|"]
        for n, label in [("curl-t1", "libcurl, 1 thread × 4,000"), ("curl-t8", "libcurl, 8 threads × 1,000, an easy handle each"), ("hyper-t1", "hyper-util alone, 1 thread × 4,000"), ("hyper-t8", "hyper-util alone, 8 threads × 1,000, a client each"), ("reqwest-t1", "reqwest alone, 1 thread × 4,000"), ("reqwest-t8", "reqwest alone, 8 threads × 1,000, a client each"), ("t1-new", "one handle, 1 thread × 4,000 (new)"), ("t8-new", "one handle shared by 8 threads × 1,000 (new)"), ("t1-base", "one handle, 1 thread (base)"), ("t8-base", "one handle shared by 8 threads (base)")]:
            key = ("threads", n)
            if key in rows:
                reqs = [float(kv["requests"]) / float(kv["wall_s"]) for kv in rows[key].values()]
                out.append(f"| {label} | {spread(reqs, 0)} | {spread(vals(rows, key, 'cpu_s'))} |")
        for a, b, what in [("t8-new", "curl-t8", "8 threads, one shared handle ÷ libcurl handle per thread (throughput)"), ("t8-new", "t1-new", "8 threads ÷ 1 thread, our handle (throughput)"), ("t8-base", "curl-t8", "base: 8 threads ÷ libcurl (throughput)"), ("hyper-t8", "curl-t8", "hyper-util alone, 8 threads ÷ libcurl (throughput)"), ("reqwest-t8", "curl-t8", "reqwest alone, 8 threads ÷ libcurl (throughput)"), ("t8-new", "reqwest-t8", "8 threads, our handle ÷ reqwest alone (throughput)")]:
            if ("threads", a) in rows and ("threads", b) in rows:
                # throughput ratio = (req_a/wall_a) / (req_b/wall_b)
                ra, rb = rows[("threads", a)], rows[("threads", b)]
                rs = [(float(ra[k]["requests"]) / float(ra[k]["wall_s"])) / (float(rb[k]["requests"]) / float(rb[k]["wall_s"])) for k in sorted(set(ra) & set(rb))]
                out.append(f"\n{what}: {med(rs):.2f}× [{min(rs):.2f}–{max(rs):.2f}]")
        out.append("")
    if any(c == "prefetch" for c, _ in rows):
        out += ["## Prefetch: 2,000 Patients in 20 pages, each answered 50 ms late, callback sleeping 50 ms per page", "", "| library | wall s |", "|---|---|"]
        for n in [x for x in ["sleep-base", "sleep-new"] if ("prefetch", x) in rows]:
            out.append(f"| `fhir_search_pages` ({n.split('-')[1]}) | {spread(vals(rows, ('prefetch', n), 'wall_s'))} |")
        out.append("\nSequential lower bound without overlap: 20 × (50 + 50) ms = 2.0 s (plus transfer); with full overlap: ≈ 20 × 50 ms + 50 ms = 1.05 s.")
        if ("prefetch", "sleep-base") in rows:
            out.append(f"\nnew ÷ base: {paired(rows, ('prefetch', 'sleep-new'), ('prefetch', 'sleep-base'))[0]}")
        out.append("")
    if any(c == "upload" for c, _ in rows):
        out += ["## Upload into HAPI FHIR (tests/servers)", "", "| client | resources | wall s | ÷ fhir_kindling (paired) |", "|---|---|---|---|"]
        for n in names(rows, "upload"):
            key = ("upload", n)
            res = med(vals(rows, key, "resources"))
            ratio = paired(rows, key, ("upload", "kindling"))[0] if n != "kindling" and ("upload", "kindling") in rows else "1"
            label = "Python fhir_kindling `add_all()`" if n == "kindling" else f"`fhir_resource_create_all`, {n.split('-')[0][1:]} in flight"
            out.append(f"| {label} | {fmt(res, 0)} | {spread(vals(rows, key, 'wall_s'))} | {ratio} |")
        out.append("")
    if any(c == "hapi" for c, _ in rows):
        out += ["## Paging on HAPI FHIR: the uploaded Patients, pages of 100", "", "| client | pages | MB received | wall s | CPU s | ÷ libcurl gzip wall (paired) |", "|---|---|---|---|---|---|"]
        for n, label in [("curl-gzip", "libcurl, gzip asked for"), ("pages-new", "`fhir_search_pages`")]:
            key = ("hapi", n)
            if key not in rows:
                continue
            ratio = paired(rows, key, ("hapi", "curl-gzip"))[0] if n != "curl-gzip" and ("hapi", "curl-gzip") in rows else "1"
            mb = med(vals(rows, key, "bytes", 1e-6))
            out.append(f"| {label} | {fmt(med(vals(rows, key, 'pages')), 0)} | {fmt(mb, 1)} | {spread(vals(rows, key, 'wall_s'))} | {spread(vals(rows, key, 'cpu_s'))} | {ratio} |")
        out.append("")
    print("\n".join(out))
    if chart:
        draw(rows, chart)


def draw(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no matplotlib: {path} not drawn)", file=sys.stderr)
        return
    panels = []
    for case, title, unit, field, scale, items in [
        ("static10k", "Paging 10,000 Patients (static pages): CPU time", "ms", "cpu_s", 1e3, [("curl", "libcurl floor"), ("curl-simdjson", "libcurl + simdjson"), ("pages-base", "pages (0.2.0)"), ("pages-new", "pages"), ("resources-base", "resources (0.2.0)"), ("resources-new", "resources"), ("all-base", "all (0.2.0)"), ("all-new", "all")]),
        ("static100k", "Paging 100,000 Patients: wall time", "ms", "wall_s", 1e3, [("curl", "libcurl floor"), ("curl-simdjson", "libcurl + simdjson"), ("pages-base", "pages (0.2.0)"), ("pages-new", "pages"), ("all-base", "all (0.2.0)"), ("all-new", "all")]),
        ("request", "One GET of a tiny body: CPU time", "µs", "cpu_s", 1e6 / 2000, [("curl", "libcurl"), ("hyper", "hyper-util alone"), ("reqwest", "reqwest alone"), ("get-base", "0.2.0"), ("get-new", "now")]),
        ("prefetch", "20 pages 50 ms late, callback 50 ms: wall time", "s", "wall_s", 1.0, [("sleep-base", "0.2.0 (sequential)"), ("sleep-new", "now (prefetch)")]),
        ("upload", "2,000 Patients into HAPI: wall time", "s", "wall_s", 1.0, [(n, {"kindling": "Python fhir_kindling add_all"}.get(n, f"create_all, {n.split('-')[0][1:]} in flight")) for n in names(rows, "upload")]),
    ]:
        bars = [(label, vals(rows, (case, n), field, scale)) for n, label in items if (case, n) in rows]
        if bars:
            panels.append((title, unit, bars))
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 * len(panels) + 0.5))
    if len(panels) == 1:
        axes = [axes]
    for ax, (title, unit, bars) in zip(axes, panels):
        labels = [b[0] for b in bars]
        meds = [statistics.median(b[1]) for b in bars]
        lo = [m - min(b[1]) for m, b in zip(meds, bars)]
        hi = [max(b[1]) - m for m, b in zip(meds, bars)]
        colors = ["#888888" if ("curl" in lab or "0.2.0" in lab or "kindling" in lab or "alone" in lab) else "#2a7ab9" for lab in labels]
        ax.barh(labels, meds, xerr=[lo, hi], color=colors, capsize=3)
        ax.set_title(f"{title} — median, whiskers min–max ({unit})", fontsize=9)
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
        for y, m in enumerate(meds):
            ax.text(m, y, f" {m:.3g}", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
