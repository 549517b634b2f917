#!/usr/bin/env bash
# Streaming-search benchmark: bounded memory of fhir_search_pages / fhir_search_resources over
# 100,000 Patients, and paging speed against curl and the Python libraries on 10,000 Patients.
# A benchmark, not a test: nothing here is run by `make test` or cargo test.
#
#   bench/run.sh            build, install what is missing, generate data, measure, summarise
#
# Environment (all optional):
#   BENCH_REPEAT=3          runs per measurement (the median is reported)
#   BENCH_BIG=100000        Patients of the memory data set
#   BENCH_SMALL=10000       Patients of the speed data set
#   BENCH_PAGE_SIZE=100     entries per page (both sets)
#   BENCH_PORT=18999        loopback port of the benchmark's nginx
#   BENCH_PY_PEERS=1        0 skips the Python peers (fhir_kindling, fhirpy)
#   BENCH_PY_BIG=1          0 skips the single fhir_kindling run on the big set (memory only)
#   BENCH_NO_INSTALL=1      never call apt-get / pip (fail instead)
#   BENCH_EXTRA=1           0 skips the two extra memory sets: BENCH_BIG Patients in pages of
#                           BENCH_WIDE_PAGE_SIZE=1000 (does the peak follow the page size?) and
#                           BENCH_HUGE=400000 Patients in pages of BENCH_PAGE_SIZE (does it grow with N?)
#
# What it does (state under target/bench/, removed by nothing; delete it to start afresh):
#   1. cargo build --release; gcc -O2 bench/stream_bench.c against target/release/libfhir_kindling.a
#   2. nginx from Debian (apt-get install nginx-light if missing), run as its own master process
#      with -p target/bench/nginx (not the system service), on 127.0.0.1:$BENCH_PORT only
#   3. a venv target/bench/venv with fhir-kindling and fhirpy from PyPI
#   4. bench/gen_pages.py: the static paged searchsets (target/bench/data-N-pP)
#   5. the measurements, each in its own process, appended to target/bench/results.txt
#   6. bench/summarize.py: medians and ratios -> target/bench/results.md
# nginx is stopped on exit (also on error or Ctrl-C); no process is left behind.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
STATE=$ROOT/target/bench
REPEAT=${BENCH_REPEAT:-3}
BIG=${BENCH_BIG:-100000}
SMALL=${BENCH_SMALL:-10000}
PAGE=${BENCH_PAGE_SIZE:-100}
PORT=${BENCH_PORT:-18999}
PY_PEERS=${BENCH_PY_PEERS:-1}
NO_INSTALL=${BENCH_NO_INSTALL:-0}
EXTRA=${BENCH_EXTRA:-1}
WIDE_PAGE=${BENCH_WIDE_PAGE_SIZE:-1000}
HUGE=${BENCH_HUGE:-400000}
BASE=http://127.0.0.1:$PORT/fhir
QUERY="Patient?_count=$PAGE"
RESULTS=$STATE/results.txt
# Versions measured for BENCHMARKS.md; fhir-kindling 1.0.3 needs httpx < 0.28 (it passes the
# `proxies=` argument that httpx 0.28 removed).
PY_PACKAGES=${BENCH_PY_PACKAGES:-"fhir-kindling==1.0.3 fhirpy==2.3.1 httpx<0.28"}

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

mkdir -p "$STATE"

# ---- 1. library and benchmark program ------------------------------------------------------
log "building the library (cargo build --release)"
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
(cd "$ROOT" && cargo build --release)
LIB_A=$ROOT/target/release/libfhir_kindling.a
[ -f "$LIB_A" ] || die "$LIB_A missing after the build"
command -v gcc >/dev/null || {
    [ "$NO_INSTALL" = 1 ] && die "gcc not found"
    as_root apt-get install -y gcc libc6-dev
}
# Linked statically: the measured program keeps this build even if target/ is rebuilt meanwhile.
gcc -std=c99 -O2 -Wall -Wextra -pedantic -I"$ROOT/include" "$BENCH/stream_bench.c" -o "$STATE/stream_bench" \
    "$LIB_A" -lpthread -ldl -lm

# ---- 2. nginx ------------------------------------------------------------------------------
NGINX_BIN=$(command -v nginx || true)
[ -n "$NGINX_BIN" ] || { [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx; } || true
if [ -z "$NGINX_BIN" ]; then
    [ "$NO_INSTALL" = 1 ] && die "nginx not found"
    log "installing nginx (Debian package; only its binary is used, the system service is not needed)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light ||
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
command -v curl >/dev/null || {
    [ "$NO_INSTALL" = 1 ] && die "curl not found"
    as_root apt-get install -y curl
}

NGX_DIR=$STATE/nginx
NGX_PID=
stop_nginx() {
    if [ -n "$NGX_PID" ]; then
        kill -QUIT "$NGX_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$NGX_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$NGX_PID" 2>/dev/null || true
        wait "$NGX_PID" 2>/dev/null || true
        NGX_PID=
    fi
}
trap stop_nginx EXIT
trap 'exit 130' INT TERM

start_nginx() { # DATA_DIR
    local data=$1 user_line=""
    [ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);" # workers read target/ as we do
    mkdir -p "$NGX_DIR"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi}
    sed -e "s|@STATE@|$NGX_DIR|g" -e "s|@DATA@|$data|g" -e "s|@PORT@|$PORT|g" -e "s|@USER_LINE@|$user_line|" \
        "$BENCH/nginx.conf.template" >"$NGX_DIR/nginx.conf"
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
        die "port $PORT is already in use (set BENCH_PORT)"
    fi
    "$NGINX_BIN" -t -q -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf" -e "$NGX_DIR/error.log" ||
        die "nginx configuration test failed ($NGX_DIR/nginx.conf)"
    "$NGINX_BIN" -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf" -e "$NGX_DIR/error.log" &
    NGX_PID=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null --max-time 1 "$BASE/metadata" && return 0
        kill -0 "$NGX_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$NGX_DIR/error.log" >&2 || true
    die "nginx did not start on 127.0.0.1:$PORT"
}

# ---- 3. Python peers -----------------------------------------------------------------------
VENV=$STATE/venv
if [ "$PY_PEERS" = 1 ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    # shellcheck disable=SC2086
    if ! "$VENV/bin/python" -c 'import fhir_kindling, fhirpy' 2>/dev/null; then
        [ "$NO_INSTALL" = 1 ] && die "fhir_kindling / fhirpy missing in $VENV"
        log "pip install $PY_PACKAGES"
        "$VENV/bin/pip" install -q $PY_PACKAGES
    fi
fi

# ---- 4. data -------------------------------------------------------------------------------
gen() { # COUNT [PAGE_SIZE] -> prints the data directory
    local n=$1 p=${2:-$PAGE}
    local dir=$STATE/data-$n-p$p
    if ! python3 - "$dir/MANIFEST.json" "$n" "$p" "$BASE" <<'EOF' 2>/dev/null; then
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if (m["count"], m["page_size"], m["base_url"]) == (int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]) else 1)
EOF
        log "generating $n Patients in pages of $p -> $dir"
        rm -rf "$dir"
        python3 "$BENCH/gen_pages.py" --count "$n" --page-size "$p" --base-url "$BASE" --out "$dir" >&2
    fi
    echo "$dir"
}
BIG_DIR=$(gen "$BIG")
SMALL_DIR=$(gen "$SMALL")
if [ "$EXTRA" = 1 ]; then
    WIDE_DIR=$(gen "$BIG" "$WIDE_PAGE")
    HUGE_DIR=$(gen "$HUGE")
fi

# ---- 5. measurements -----------------------------------------------------------------------
{
    echo "# bench/run.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (uncommitted changes)')"
    echo "# cpu $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "# mem $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "# $("$NGINX_BIN" -v 2>&1); $(curl --version | head -n 1 | cut -d' ' -f1-2); $(gcc --version | head -n 1); $(rustc --version)"
    [ "$PY_PEERS" = 1 ] && echo "# python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'); $("$VENV/bin/pip" list 2>/dev/null | grep -iE '^(fhir-kindling|fhirpy|httpx|requests|orjson|fhir.resources|pydantic) ' | tr -s ' ' | paste -sd, -)"
} >"$RESULTS"
manifest() { cat "$1/MANIFEST.json"; }

run() { # SET CMD...: one measurement line, tagged with the data set and run number
    local set=$1
    shift
    local line
    line=$("$@") || die "failed: $*"
    echo "set=$set run=$r $line" | tee -a "$RESULTS" >&2
}

log "memory: $BIG Patients, pages of $PAGE"
echo "data set=big $(manifest "$BIG_DIR")" >>"$RESULTS"
start_nginx "$BIG_DIR"
big_pages=$(((BIG + PAGE - 1) / PAGE))
for ((r = 1; r <= REPEAT; r++)); do
    for mode in pages resources all; do
        run big "$STATE/stream_bench" "$mode" "$BASE" "$QUERY"
    done
    run big "$BENCH/curl_loop.sh" known "$BASE" "$big_pages"
done
if [ "$PY_PEERS" = 1 ] && [ "${BENCH_PY_BIG:-1}" = 1 ]; then
    r=1 # once: fhir_kindling's all() holds every page, for the memory comparison only
    run big "$VENV/bin/python" "$BENCH/py_peers.py" kindling "$BASE"
fi
stop_nginx

if [ "$EXTRA" = 1 ]; then
    for spec in "wide $WIDE_DIR $WIDE_PAGE $BIG" "huge $HUGE_DIR $PAGE $HUGE"; do
        read -r sname dir psize count <<<"$spec"
        log "memory ($sname): $count Patients, pages of $psize"
        echo "data set=$sname $(manifest "$dir")" >>"$RESULTS"
        start_nginx "$dir"
        for ((r = 1; r <= REPEAT; r++)); do
            for mode in pages resources all; do
                run "$sname" "$STATE/stream_bench" "$mode" "$BASE" "Patient?_count=$psize"
            done
        done
        stop_nginx
    done
fi

log "speed: $SMALL Patients, pages of $PAGE"
echo "data set=small $(manifest "$SMALL_DIR")" >>"$RESULTS"
start_nginx "$SMALL_DIR"
small_pages=$(((SMALL + PAGE - 1) / PAGE))
for ((r = 1; r <= REPEAT; r++)); do
    for mode in pages resources all; do
        run small "$STATE/stream_bench" "$mode" "$BASE" "$QUERY"
    done
    run small "$BENCH/curl_loop.sh" known "$BASE" "$small_pages"
    run small "$BENCH/curl_loop.sh" follow "$BASE/$QUERY" "$((small_pages + 1))"
    if [ "$PY_PEERS" = 1 ]; then
        for lib in kindling kindling-models fhirpy; do
            run small "$VENV/bin/python" "$BENCH/py_peers.py" "$lib" "$BASE"
        done
    fi
done
stop_nginx

# ---- 6. summary ----------------------------------------------------------------------------
python3 "$BENCH/summarize.py" "$RESULTS" | tee "$STATE/results.md"
echo >&2
echo "raw figures: $RESULTS; summary: $STATE/results.md" >&2
