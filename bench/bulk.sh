#!/usr/bin/env bash
# Bulk export benchmark: 100,000 resources exported and streamed by the library (line callback,
# and into a directory) against curl downloading the same files; wall time, throughput and peak
# RSS (VmHWM for the library's process, GNU time's maximum RSS for curl). A benchmark, not a test.
#
#   bench/bulk.sh
#
# The export server is a static nginx on loopback (not the system service): `$export` answers
# 202 with a Content-Location, the status URL answers the manifest, the files are NDJSON. So the
# figures are the client's, not a FHIR server's export speed.
#
# Environment (all optional):
#   BENCH_BULK_RESOURCES=100000   Patients exported
#   BENCH_BULK_FILES=20           files they are split into
#   BENCH_BULK_PARALLEL=4         parallel downloads (library and curl)
#   BENCH_REPEAT=3                runs per measurement (the median is reported)
#   BENCH_BULK_PORT=18997         loopback port of the benchmark's nginx
# State: target/bench-bulk/ (data, nginx, results.txt); nginx is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=$ROOT/target/bench-bulk
N=${BENCH_BULK_RESOURCES:-100000}
FILES=${BENCH_BULK_FILES:-20}
PAR=${BENCH_BULK_PARALLEL:-4}
REPEAT=${BENCH_REPEAT:-3}
PORT=${BENCH_BULK_PORT:-18997}
BASE=http://127.0.0.1:$PORT/fhir
DATA=$STATE/data-$N-$FILES
RESULTS=$STATE/results.txt

log() { printf '\n== %s\n' "$*" >&2; }
die() {
    printf 'bench/bulk.sh: ERROR: %s\n' "$*" >&2
    exit 1
}
for tool in nginx curl python3 gcc /usr/bin/time; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool not found"
done
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$STATE"

log "1. release build and the benchmark client"
(cd "$ROOT" && cargo build --release --quiet)
gcc -std=c99 -O2 -Wall -Wextra -pedantic -I"$ROOT/include" "$ROOT/bench/bulk_bench.c" -o "$STATE/bulk_bench" \
    "$ROOT/target/release/libfhir_kindling.a" -lpthread -ldl -lm

log "2. $N Patients in $FILES NDJSON files"
if [ ! -s "$DATA/manifest.json" ]; then
    rm -rf "$DATA.tmp" && mkdir -p "$DATA.tmp/fhir/files"
    python3 - "$DATA.tmp" "$N" "$FILES" "$BASE" <<'PY'
import json, sys
out, n, files, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per = -(-n // files)
entries = []
for f in range(files):
    lo, hi = f * per, min(n, (f + 1) * per)
    with open(f"{out}/fhir/files/{f}.ndjson", "w") as fh:
        for i in range(lo, hi):
            fh.write(json.dumps({"resourceType": "Patient", "id": f"p{i}",
                "meta": {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00.000+00:00"},
                "identifier": [{"system": "urn:bench", "value": str(i)}],
                "active": i % 2 == 0,
                "name": [{"use": "official", "family": f"Family{i}", "given": ["Bench", f"N{i % 97}"]}],
                "gender": ["male", "female"][i % 2], "birthDate": f"19{i % 100:02d}-0{1 + i % 9}-1{i % 10}",
                "address": [{"line": [f"{i} Main Street"], "city": "Springfield", "postalCode": f"{i % 100000:05d}", "country": "US"}]},
                separators=(",", ":")) + "\n")
    entries.append({"type": "Patient", "url": f"{base}/files/{f}.ndjson", "count": hi - lo})
with open(f"{out}/manifest.json", "w") as fh:
    json.dump({"transactionTime": "2024-01-01T00:00:00Z", "request": f"{base}/$export",
               "requiresAccessToken": False, "output": entries, "error": []}, fh)
PY
    mv "$DATA.tmp" "$DATA"
fi
du -sh "$DATA/fhir/files" >&2

log "3. nginx on 127.0.0.1:$PORT"
NGX=$STATE/nginx
mkdir -p "$NGX"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi}
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$NGX/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $DATA;
        location = "/fhir/\$export" {
            add_header Content-Location $BASE/status always;
            return 202;
        }
        location = /fhir/status {
            default_type application/json;
            alias $DATA/manifest.json;
        }
        location /fhir/files/ { default_type application/fhir+ndjson; }
    }
}
CONF
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then die "port $PORT is in use (set BENCH_BULK_PORT)"; fi
"$NGINX_BIN" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" &
NGX_PID=$!
trap 'kill -QUIT $NGX_PID 2>/dev/null || true; wait $NGX_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -sf -o /dev/null "$BASE/status" && break
    sleep 0.1
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$RESULTS"
log "4. the library: $REPEAT runs per mode, parallel $PAR"
for mode in callback dir; do
    for _ in $(seq "$REPEAT"); do
        rm -rf "$STATE/out"
        "$STATE/bulk_bench" "$BASE" "$mode" "$PAR" "$STATE/out" | tee -a "$RESULTS"
    done
done
log "5. curl: the same $FILES files to /dev/null, sequential and $PAR at a time"
urls=$(python3 -c 'import json,sys; print("\n".join(f["url"] for f in json.load(open(sys.argv[1]))["output"]))' "$DATA/manifest.json")
for par in 1 "$PAR"; do
    for _ in $(seq "$REPEAT"); do
        rm -f "$STATE/curl-rss"
        t0=$(date +%s.%N)
        # Each curl's peak RSS appended to one file (GNU time -a: one short write per process).
        printf '%s\n' "$urls" | xargs -P "$par" -I{} /usr/bin/time -f '%M' -a -o "$STATE/curl-rss" \
            curl -sf -o /dev/null -H 'Accept: application/fhir+ndjson' {}
        t1=$(date +%s.%N)
        rss=$(sort -n "$STATE/curl-rss" | tail -1)
        echo "curl parallel=$par secs=$(echo "$t1 - $t0" | bc -l | sed 's/^\./0./') max_rss_kb_per_process=$rss" | tee -a "$RESULTS"
    done
done
log "6. medians"
bytes=$(cat "$DATA"/fhir/files/*.ndjson | wc -c)
{
    echo "resources=$N files=$FILES bytes=$bytes parallel=$PAR repeat=$REPEAT"
    for mode in callback dir; do
        s=$(grep "^mode=$mode " "$RESULTS" | sed 's/.*secs=\([0-9.]*\).*/\1/' | median)
        h=$(grep "^mode=$mode " "$RESULTS" | sed 's/.*vmhwm_kb=\([0-9]*\).*/\1/' | median)
        echo "library $mode: ${s} s, $(echo "$N / $s" | bc) resources/s, $(echo "$bytes / $s / 1000000" | bc) MB/s, VmHWM ${h} kB"
    done
    for par in 1 "$PAR"; do
        s=$(grep "^curl parallel=$par " "$RESULTS" | sed 's/.*secs=\([0-9.]*\).*/\1/' | median)
        r=$(grep "^curl parallel=$par " "$RESULTS" | sed 's/.*process=\([0-9]*\).*/\1/' | median)
        echo "curl parallel=$par: ${s} s, $(echo "$bytes / $s / 1000000" | bc) MB/s, max RSS ${r} kB per curl process"
    done
} | tee "$STATE/summary.txt"
