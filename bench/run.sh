#!/usr/bin/env bash
# The performance benchmark of the C ABI against a libcurl floor and the Python libraries (issue 13).
# A benchmark, not a test: `make bench` runs it; scripts/test-all.sh does not (too slow, too noisy).
#
#   bench/run.sh                build, install what is missing, generate data, measure, summarise
#
# Cases (every measurement in its own process; the cases of one round run one after the other,
# BENCH_REPEAT rounds, so that the peers of a figure are interleaved and ratios are paired per round):
#   static10k / static100k  10,000 / 100,000 Patients in pages of 100 on nginx: fhir_search_pages,
#                           fhir_search_resources, fhir_search_all; curl_pages (libcurl, one easy
#                           handle, memmem for the next link: the floor); curl_simdjson (the same
#                           loop with each page parsed by simdjson's DOM parser: a validating
#                           floor, bench/curl_simdjson.cpp); Python fhir_kindling
#                           query.all(), fhirpy fetch_all() and fhirclient
#                           perform_resources_iter() (10k only)
#   static10k-apart / static100k-apart
#                           the three searches of the library (not the base variant) and curl_pages
#                           again on the same data, right after the unpinned rounds: each client
#                           pinned to CPU 0, nginx's worker(s) to the last CPU (taskset). On 2 CPUs
#                           the kernel sometimes places client and nginx on one CPU (loopback
#                           wake-ups keep them together; the wall time is then the sum of both
#                           processes' CPU) and sometimes on two, so the unpinned ratios mix both;
#                           apart is the production-like placement (the server on another host).
#                           With the 10k pages, the request case too (request-apart).
#                           Only with 2 CPUs or more and taskset (util-linux). Also fhir_search_all
#                           with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 ("all-thp": the program opts
#                           into transparent huge pages for its large allocations)
#   request                 2,000 GETs of a 2-byte body on one handle; the same with libcurl, and
#                           with the Rust HTTP stack the library is built on, alone (bench/stack_floor:
#                           hyper-util's client without anything on top, and reqwest configured as
#                           the library configures it)
#   threads                 one handle shared by 8 threads (1,000 GETs each) and by 1 thread (4,000);
#                           libcurl with an easy handle per thread, the same counts; stack_floor's two
#                           stacks with a client per thread, the same counts
#   prefetch                2,000 Patients in 20 pages, each answered 50 ms late, the page callback
#                           sleeping 50 ms
#   upload                  BENCH_UPLOAD Patients into the test HAPI server (tests/servers; started
#                           when not running) with fhir_resource_create_all, batches of
#                           BENCH_UPLOAD_BATCH, 1 and BENCH_UPLOAD_PARALLEL transactions in flight;
#                           Python fhir_kindling add_all() of the same resources
#   hapi                    then paging those Patients on HAPI (pages of 100): fhir_search_pages
#                           against libcurl asking for gzip (CURL_PAGES_GZIP=1), BENCH_REPEAT rounds
# Instructions: one run of the static10k and request cases under callgrind (valgrind).
#
# Environment (all optional):
#   BENCH_REPEAT=5          rounds (every figure is the median of this many runs, min and max beside)
#   BENCH_PORT / BENCH_DELAY_PORT  loopback ports of the benchmark's nginx and of its delay server;
#                           default: FHIR_BENCH_PORT / FHIR_BENCH_DELAY_PORT of $FHIR_PORTS_FILE, else
#                           18999 / 18998
#   BENCH_BASELINE_LIB=PATH a libfhir_kindling.a (with its fhir_kindling.h beside it) of another
#                           build: every library case runs with it too ("base" rows: before/after)
#   BENCH_PY_PEERS=1        0 skips the Python peers
#   BENCH_UPLOAD=2000       0 skips the upload case; BENCH_UPLOAD_BATCH=250, BENCH_UPLOAD_PARALLEL=4,
#                           BENCH_UPLOAD_REPEAT=3 rounds (HAPI slows down as it fills), BENCH_UPLOAD_TIMEOUT=300 s
#   BENCH_APART=1           0 skips the static10k-apart / static100k-apart cases
#   BENCH_CALLGRIND=1       0 skips the instruction counts
#   BENCH_NO_INSTALL=1      never call apt-get / pip (fail instead)
#
# State under target/bench/ (data, venv, nginx prefix, results.txt, results.md, chart.png).
# nginx, the delay server and (when this script started them) the test services are stopped on
# exit; nothing is left running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
STATE=$ROOT/target/bench
REPEAT=${BENCH_REPEAT:-5}
if [ -n "${FHIR_PORTS_FILE:-}" ]; then
    # shellcheck disable=SC1090  # the caller's ports file
    . "$FHIR_PORTS_FILE"
fi
PORT=${BENCH_PORT:-${FHIR_BENCH_PORT:-18999}}
DELAY_PORT=${BENCH_DELAY_PORT:-${FHIR_BENCH_DELAY_PORT:-18998}}
PY_PEERS=${BENCH_PY_PEERS:-1}
UPLOAD=${BENCH_UPLOAD:-2000}
UPLOAD_BATCH=${BENCH_UPLOAD_BATCH:-250}
UPLOAD_PARALLEL=${BENCH_UPLOAD_PARALLEL:-4}
APART=${BENCH_APART:-1}
CALLGRIND=${BENCH_CALLGRIND:-1}
NO_INSTALL=${BENCH_NO_INSTALL:-0}
BASELINE_LIB=${BENCH_BASELINE_LIB:-}
BASE=http://127.0.0.1:$PORT/fhir
SLOW_BASE=http://127.0.0.1:$PORT/slow/fhir
RESULTS=$STATE/results.txt
# fhir-kindling 1.0.3 needs httpx < 0.28 (it passes the `proxies=` argument httpx 0.28 removed).
PY_PACKAGES=${BENCH_PY_PACKAGES:-"fhir-kindling==1.0.3 fhirpy==2.3.1 fhirclient==4.3.1 httpx<0.28 matplotlib==3.9.2"}

log() { printf '\n== %s\n' "$*" >&2; }
die() {
    printf 'bench/run.sh: ERROR: %s\n' "$*" >&2
    exit 1
}
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}
need_deb() { # COMMAND_OR_FILE PACKAGE
    if [ -e "$1" ] || command -v "$1" >/dev/null 2>&1; then return 0; fi
    [ "$NO_INSTALL" = 1 ] && die "$1 missing (Debian package $2)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$2"
}

mkdir -p "$STATE"

# ---- 1. programs ---------------------------------------------------------------------------
log "building the library (cargo build --release)"
(cd "$ROOT" && cargo build --release --lib)
need_deb gcc gcc
need_deb /usr/include/curl/curl.h libcurl4-openssl-dev
need_deb g++ g++
need_deb /usr/include/simdjson.h libsimdjson-dev
need_deb nginx nginx-light
need_deb valgrind valgrind
need_deb curl curl
# The apart cases (section 5) pin processes with taskset, and find nginx's workers with pgrep.
APART_SKIP=
if [ "$APART" != 1 ]; then
    APART_SKIP="BENCH_APART=$APART"
elif [ "$(nproc)" -lt 2 ]; then
    APART_SKIP="fewer than 2 CPUs (nproc: $(nproc))"
elif ! command -v taskset >/dev/null; then
    APART_SKIP="no taskset (Debian package util-linux)"
else
    need_deb pgrep procps
fi
LAST_CPU=$(($(nproc) - 1))
build_bench() { # LIB_A INCLUDE_DIR OUT [CFLAGS...]
    local lib=$1 inc=$2 out=$3
    shift 3
    # Linked statically: the measured program keeps this build even if target/ is rebuilt.
    gcc -std=c99 -O2 -g -Wall -Wextra -I"$BENCH" -I"$inc" "$@" "$BENCH/stream_bench.c" -o "$out" \
        "$lib" -lpthread -ldl -lm
}
build_bench "$ROOT/target/release/libfhir_kindling.a" "$ROOT/include" "$STATE/stream_bench" -DBENCH_PARALLEL_UPLOADS
VARIANTS=(new)
if [ -n "$BASELINE_LIB" ]; then
    build_bench "$BASELINE_LIB" "$(dirname "$BASELINE_LIB")" "$STATE/stream_bench_base"
    VARIANTS+=(base)
fi
gcc -O2 -g -Wall -Wextra -I"$BENCH" "$BENCH/curl_pages.c" -o "$STATE/curl_pages" -lcurl -lpthread
g++ -std=c++17 -O2 -g -Wall -Wextra -I"$BENCH" "$BENCH/curl_simdjson.cpp" -o "$STATE/curl_simdjson" \
    -lsimdjson -lcurl
prog() { [ "$1" = new ] && echo "$STATE/stream_bench" || echo "$STATE/stream_bench_base"; }
# The Rust stack alone, locked to the versions the library links (bench/stack_floor/Cargo.lock).
log "building bench/stack_floor (cargo build --release)"
cargo build --release --locked --quiet --manifest-path "$BENCH/stack_floor/Cargo.toml" \
    --target-dir "$STATE/stack_floor"
FLOOR=$STATE/stack_floor/release/stack_floor

# ---- 2. Python peers (and matplotlib for the chart) ----------------------------------------
VENV=$STATE/venv
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
    [ "$NO_INSTALL" = 1 ] && die "$VENV missing"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
if ! "$PY" -c 'import fhir_kindling, fhirpy, fhirclient, matplotlib' 2>/dev/null; then
    [ "$NO_INSTALL" = 1 ] && die "fhir_kindling / fhirpy / fhirclient / matplotlib missing in $VENV"
    log "pip install $PY_PACKAGES"
    # shellcheck disable=SC2086  # a list of requirement specifiers
    "$VENV/bin/pip" install -q $PY_PACKAGES
fi

# ---- 3. data -------------------------------------------------------------------------------
gen() { # COUNT BASE_URL NAME -> prints the data directory
    local dir=$STATE/data-$3
    if ! python3 - "$dir/MANIFEST.json" "$1" "$2" <<'EOF' 2>/dev/null; then
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if (m["count"], m["page_size"], m["base_url"]) == (int(sys.argv[2]), 100, sys.argv[3]) else 1)
EOF
        log "generating $1 Patients in pages of 100 -> $dir"
        rm -rf "$dir"
        python3 "$BENCH/gen_pages.py" --count "$1" --page-size 100 --base-url "$2" --out "$dir" >&2
    fi
    echo "$dir"
}
D10K=$(gen 10000 "$BASE" 10k)
D100K=$(gen 100000 "$BASE" 100k)
DSLOW=$(gen 2000 "$SLOW_BASE" slow)
UPLOAD_FILE=$STATE/upload-$UPLOAD.json
if [ "$UPLOAD" -gt 0 ] && [ ! -s "$UPLOAD_FILE" ]; then
    # The Patients of the 10k pages without id and meta: what a client uploads.
    python3 - "$D10K" "$UPLOAD" "$UPLOAD_FILE" <<'EOF'
import json, os, sys
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
res, k = [], 1
while len(res) < n and os.path.exists(f"{src}/page-{k}.json"):
    for e in json.load(open(f"{src}/page-{k}.json"))["entry"]:
        r = e["resource"]
        r.pop("id", None)
        r.pop("meta", None)
        res.append(r)
    k += 1
json.dump(res[:n], open(out, "w"), separators=(",", ":"))
EOF
fi

# ---- 4. servers ----------------------------------------------------------------------------
NGX_DIR=$STATE/nginx
NGX_PID=
DELAY_PID=
SERVICES_STARTED=0
SERVICES=$ROOT/tests/servers/services.sh
stop_all() {
    if [ -n "$NGX_PID" ]; then
        kill -QUIT "$NGX_PID" 2>/dev/null || true
        wait "$NGX_PID" 2>/dev/null || true
    fi
    if [ -n "$DELAY_PID" ]; then
        kill "$DELAY_PID" 2>/dev/null || true
        wait "$DELAY_PID" 2>/dev/null || true
    fi
    if [ "$SERVICES_STARTED" = 1 ]; then "$SERVICES" stop >&2 || true; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

start_nginx() { # DATA_DIR
    local user_line=""
    [ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);"
    mkdir -p "$NGX_DIR"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi}
    sed -e "s|@STATE@|$NGX_DIR|g" -e "s|@DATA@|$1|g" -e "s|@SLOW_DATA@|$DSLOW|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@DELAY_PORT@|$DELAY_PORT|g" -e "s|@USER_LINE@|$user_line|" \
        "$BENCH/nginx.conf.template" >"$NGX_DIR/nginx.conf"
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
        die "port $PORT is already in use (set BENCH_PORT or FHIR_BENCH_PORT)"
    fi
    nginx -t -q -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf" -e "$NGX_DIR/error.log" ||
        die "nginx configuration test failed ($NGX_DIR/nginx.conf)"
    nginx -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf" -e "$NGX_DIR/error.log" &
    NGX_PID=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null --max-time 1 "$BASE/metadata" && return 0
        sleep 0.1
    done
    die "nginx did not start on 127.0.0.1:$PORT"
}
stop_nginx() {
    kill -QUIT "$NGX_PID" 2>/dev/null || true
    wait "$NGX_PID" 2>/dev/null || true
    NGX_PID=
}
python3 "$BENCH/delay_server.py" "$DELAY_PORT" 50 &
DELAY_PID=$!

# ---- 5. measurements -----------------------------------------------------------------------
{
    echo "# bench/run.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# git $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && [ -n "$(git status --porcelain --untracked-files=no)" ] && echo ' (uncommitted changes)')"
    echo "# baseline ${BASELINE_LIB:-none}"
    echo "# cpu $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# mem $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "# $(nginx -v 2>&1); libcurl $(curl-config --version 2>/dev/null || echo ?); $(gcc --version | head -n 1); $(rustc --version)"
    echo "# python $("$PY" -c 'import sys; print(sys.version.split()[0])'); $("$VENV/bin/pip" list 2>/dev/null | grep -iE '^(fhir-kindling|fhirpy|httpx|matplotlib) ' | tr -s ' ' | paste -sd, -)"
} >"$RESULTS"

r=0
run() { # CASE NAME CMD... : one line of results
    local case=$1 name=$2 line
    shift 2
    line=$("$@") || die "failed: $*"
    echo "case=$case name=$name run=$r $line" | tee -a "$RESULTS" >&2
}
run_soft() { # as run, but a failure or BENCH_UPLOAD_TIMEOUT (s) is noted, not fatal (a server's bad day)
    local case=$1 name=$2 line
    shift 2
    if line=$(timeout "${BENCH_UPLOAD_TIMEOUT:-300}" "$@"); then
        echo "case=$case name=$name run=$r $line" | tee -a "$RESULTS" >&2
    else
        echo "# case=$case name=$name run=$r did not complete (exit $?)" | tee -a "$RESULTS" >&2
    fi
}

# A checking run of each search before the measured ones: every Patient arrives, once. (The
# measured page callback does not count entries: that is the caller's work, see stream_bench.c.)
check_counts() { # EXPECTED BASE
    local v m line
    for v in "${VARIANTS[@]}"; do
        for m in pages resources all; do
            line=$(STREAM_BENCH_COUNT=1 "$(prog "$v")" "$m" "$2") || die "checking run failed: $m ($v)"
            case " $line " in
                *" resources=$1 "*) ;;
                *) die "checking run: $m ($v) did not hand over $1 Patients: $line" ;;
            esac
        done
    done
}

# The placement "apart" (see the head of this script): client and nginx's worker(s) pinned to
# different CPUs for these rounds only; the workers are unpinned afterwards, so the cases after
# them run as before.
pin_nginx_workers() { # CPU_LIST: the affinity of nginx's workers (the children of the master)
    local w workers
    workers=$(pgrep -P "$NGX_PID") || die "no nginx worker process under the master $NGX_PID"
    for w in $workers; do
        taskset -pc "$1" "$w" >/dev/null || die "taskset -pc $1 $w (nginx worker) failed"
    done
}
apart_rounds() { # CASE: the new library's three searches and curl_pages, on the nginx running now
    local case=$1 m
    if [ -n "$APART_SKIP" ]; then
        log "$case skipped: $APART_SKIP"
        return 0
    fi
    log "$case: clients on CPU 0, nginx's worker on CPU $LAST_CPU ($REPEAT rounds)"
    pin_nginx_workers "$LAST_CPU"
    for ((r = 1; r <= REPEAT; r++)); do
        for m in pages resources all; do run "$case" "$m-new" taskset -c 0 "$STATE/stream_bench" "$m" "$BASE"; done
        # The same collecting search in a program that lets glibc ask for transparent huge pages
        # for its large allocations (glibc 2.35+; the library does not ask for them itself).
        run "$case" all-thp env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 taskset -c 0 "$STATE/stream_bench" all "$BASE"
        run "$case" curl taskset -c 0 "$STATE/curl_pages" pages "$BASE/Patient?_count=100"
        run "$case" curl-simdjson taskset -c 0 "$STATE/curl_simdjson" pages "$BASE/Patient?_count=100"
        # Once (with the 10k pages): the per-request case in the same placement, where a
        # request's wall time is the round trip, not the scheduler's choice of CPU.
        if [ "$case" = static10k-apart ]; then
            run request-apart get-new taskset -c 0 "$STATE/stream_bench" get 2000 "$BASE" tiny
            run request-apart curl taskset -c 0 "$STATE/curl_pages" get 2000 "$BASE/tiny"
            for stack in hyper reqwest; do
                run request-apart "$stack" taskset -c 0 "$FLOOR" "$stack" get 2000 "$BASE/tiny"
            done
        fi
    done
    pin_nginx_workers "0-$LAST_CPU"
}

log "static pages: 10,000 and 100,000 Patients; per request; threads; prefetch ($REPEAT rounds)"
start_nginx "$D10K"
check_counts 10000 "$BASE"
for ((r = 1; r <= REPEAT; r++)); do
    for v in "${VARIANTS[@]}"; do
        for m in pages resources all; do run static10k "$m-$v" "$(prog "$v")" "$m" "$BASE"; done
        run request "get-$v" "$(prog "$v")" get 2000 "$BASE" tiny
        run threads "t1-$v" "$(prog "$v")" threads 1 4000 "$BASE" tiny
        run threads "t8-$v" "$(prog "$v")" threads 8 1000 "$BASE" tiny
        run prefetch "sleep-$v" "$(prog "$v")" sleep 50 "$SLOW_BASE"
    done
    run static10k curl "$STATE/curl_pages" pages "$BASE/Patient?_count=100"
    run static10k curl-simdjson "$STATE/curl_simdjson" pages "$BASE/Patient?_count=100"
    run request curl "$STATE/curl_pages" get 2000 "$BASE/tiny"
    run threads curl-t1 "$STATE/curl_pages" threads 1 4000 "$BASE/tiny"
    run threads curl-t8 "$STATE/curl_pages" threads 8 1000 "$BASE/tiny"
    for stack in hyper reqwest; do
        run request "$stack" "$FLOOR" "$stack" get 2000 "$BASE/tiny"
        run threads "$stack-t1" "$FLOOR" "$stack" threads 1 4000 "$BASE/tiny"
        run threads "$stack-t8" "$FLOOR" "$stack" threads 8 1000 "$BASE/tiny"
    done
    if [ "$PY_PEERS" = 1 ]; then
        run static10k kindling "$PY" "$BENCH/py_peers.py" kindling "$BASE"
        run static10k fhirpy "$PY" "$BENCH/py_peers.py" fhirpy "$BASE"
        run static10k fhirclient "$PY" "$BENCH/py_peers.py" fhirclient "$BASE"
    fi
done
apart_rounds static10k-apart
if [ "$CALLGRIND" = 1 ]; then
    log "instructions (callgrind, one run each)"
    cg() { # CASE NAME CMD...
        local case=$1 name=$2 out
        shift 2
        out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        echo "callgrind case=$case name=$name instructions=$out" | tee -a "$RESULTS" >&2
    }
    for v in "${VARIANTS[@]}"; do
        for m in pages resources all; do cg static10k "$m-$v" "$(prog "$v")" "$m" "$BASE"; done
        cg request "get-$v" "$(prog "$v")" get 2000 "$BASE" tiny
        # The fixed cost of one process (handle, warm-up request), subtracted by summarize.py.
        cg request "get0-$v" "$(prog "$v")" get 0 "$BASE" tiny
    done
    cg static10k curl "$STATE/curl_pages" pages "$BASE/Patient?_count=100"
    cg static10k curl-simdjson "$STATE/curl_simdjson" pages "$BASE/Patient?_count=100"
    cg static10k curl-simdjson0 "$STATE/curl_simdjson" warm "$BASE/Patient?_count=100"
    cg request curl "$STATE/curl_pages" get 2000 "$BASE/tiny"
    cg request curl0 "$STATE/curl_pages" get 0 "$BASE/tiny"
    for stack in hyper reqwest; do
        cg request "$stack" "$FLOOR" "$stack" get 2000 "$BASE/tiny"
        cg request "${stack}0" "$FLOOR" "$stack" get 0 "$BASE/tiny"
    done
fi
stop_nginx

start_nginx "$D100K"
check_counts 100000 "$BASE"
for ((r = 1; r <= REPEAT; r++)); do
    for v in "${VARIANTS[@]}"; do
        for m in pages resources all; do run static100k "$m-$v" "$(prog "$v")" "$m" "$BASE"; done
    done
    run static100k curl "$STATE/curl_pages" pages "$BASE/Patient?_count=100"
    run static100k curl-simdjson "$STATE/curl_simdjson" pages "$BASE/Patient?_count=100"
done
apart_rounds static100k-apart
stop_nginx

if [ "$UPLOAD" -gt 0 ]; then
    log "upload: $UPLOAD Patients into HAPI (batches of $UPLOAD_BATCH)"
    if ! "$SERVICES" status >/dev/null 2>&1; then
        "$SERVICES" start hapi >&2
        SERVICES_STARTED=1
    fi
    # shellcheck disable=SC1090  # written by services.sh start
    . "$("$SERVICES" env)"
    HAPI=${FHIR_HAPI_URL:?services.env has no FHIR_HAPI_URL}
    for ((r = 1; r <= ${BENCH_UPLOAD_REPEAT:-3}; r++)); do
        run_soft upload "p1-new" "$STATE/stream_bench" upload "$UPLOAD_FILE" "$UPLOAD_BATCH" 1 "$HAPI"
        run_soft upload "p$UPLOAD_PARALLEL-new" "$STATE/stream_bench" upload "$UPLOAD_FILE" "$UPLOAD_BATCH" "$UPLOAD_PARALLEL" "$HAPI"
        if [ "$PY_PEERS" = 1 ]; then
            run_soft upload kindling "$PY" "$BENCH/py_peers.py" kindling-upload "$HAPI" "$UPLOAD_FILE" "$UPLOAD_BATCH"
        fi
    done
    # Paging what was uploaded, on the real server: the library against a libcurl loop that asks
    # for gzip as the library does (the server's work dominates here).
    log "paging the uploaded Patients on HAPI, pages of 100 ($REPEAT rounds)"
    for ((r = 1; r <= REPEAT; r++)); do
        run_soft hapi pages-new "$STATE/stream_bench" pages "$HAPI" "Patient?_count=100"
        run_soft hapi curl-gzip env CURL_PAGES_GZIP=1 "$STATE/curl_pages" pages "$HAPI/Patient?_count=100"
    done
fi

# ---- 6. summary ----------------------------------------------------------------------------
"$PY" "$BENCH/summarize.py" "$RESULTS" "$STATE/chart.png" | tee "$STATE/results.md"
echo >&2
echo "raw figures: $RESULTS; summary: $STATE/results.md; chart: $STATE/chart.png" >&2
