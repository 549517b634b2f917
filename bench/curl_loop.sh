#!/usr/bin/env bash
# curl peers of bench/stream_bench.c on the same static pages (run by bench/run.sh).
#
#   curl_loop.sh follow URL [MAX_PAGES]
#       One curl process per page, following each page's `next` link: the URL is extracted from
#       the page with grep -o (the pages are compact JSON, written by gen_pages.py). This is what
#       a shell script paging a FHIR search would do; it includes process start-up per page.
#   curl_loop.sh known BASE_URL PAGES
#       ONE curl process fetching BASE/Patient?_count=100 and BASE/page-2.json ... page-PAGES.json
#       sequentially over one keep-alive connection (URLs known in advance, nothing parsed):
#       the transfer floor.
# Bodies are discarded (written to /dev/null or a temporary file); prints
#   mode=... pages=N bytes=B wall_s=S [xfer_s=S: `known` only, the sum of curl's time_total]
set -euo pipefail

now() { date +%s.%N; }

mode=${1:?usage: curl_loop.sh follow URL [MAX_PAGES] | known BASE_URL PAGES}
case "$mode" in
    follow)
        url=${2:?URL}
        max=${3:-100000} # bound on the loop, whatever the links say
        tmp=$(mktemp)
        trap 'rm -f "$tmp"' EXIT
        pages=0 bytes=0
        t0=$(now)
        while [ -n "$url" ] && [ "$pages" -lt "$max" ]; do
            curl -sS --fail -o "$tmp" "$url"
            pages=$((pages + 1))
            bytes=$((bytes + $(stat -c %s "$tmp")))
            url=$(grep -o '"relation":"next","url":"[^"]*"' "$tmp" | head -n 1 | sed 's/.*"url":"\([^"]*\)"/\1/' || true)
        done
        t1=$(now)
        ;;
    known)
        base=${2:?BASE_URL}
        n=${3:?PAGES}
        args=(-o /dev/null "$base/Patient?_count=100")
        for ((k = 2; k <= n; k++)); do args+=(-o /dev/null "$base/page-$k.json"); done
        t0=$(now)
        out=$(curl -sS --fail -w '%{size_download} %{time_total}\n' "${args[@]}")
        t1=$(now)
        pages=$(printf '%s\n' "$out" | wc -l)
        bytes=$(printf '%s\n' "$out" | awk '{s += $1} END {print s}')
        # curl's own per-transfer times, summed: the transfers without process start-up
        xfer=$(printf '%s\n' "$out" | awk '{s += $2} END {printf " xfer_s=%.4f", s}')
        ;;
    *)
        echo "curl_loop.sh: unknown mode '$mode'" >&2
        exit 2
        ;;
esac
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')
echo "mode=curl-$mode pages=$pages bytes=$bytes wall_s=$wall${xfer:-} version=$(curl --version | head -n 1 | cut -d' ' -f2)"
