#!/usr/bin/env bash
# Fuzz the parsers (fuzz/fuzz_targets, entry points in src/fuzzing.rs) for a short while each.
#   scripts/fuzz.sh [SECONDS] [TARGET...]   SECONDS per target (default 30); all targets by default
# Installs cargo-fuzz (pinned) when missing, builds every target once with the nightly toolchain
# (debug assertions on, so an integer overflow is a crash too), then runs each from the committed
# seeds (fuzz/seeds/<target>) plus what earlier runs found (target/fuzz/corpus/<target>, scratch),
# FUZZ_JOBS at a time (default 2). Exits non-zero when a target crashes, naming the input file.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

# shellcheck source=scripts/versions.env
. scripts/versions.env
DURATION=${1:-30}
[ $# -eq 0 ] || shift
JOBS=${FUZZ_JOBS:-2}
WORK=$REPO/target/fuzz

# Provisioning (cargo-fuzz, pinned in scripts/versions.env) belongs to scripts/bootstrap.sh.
scripts/bootstrap.sh fuzz

mkdir -p "$WORK"
cd fuzz
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
t0=$(date +%s)
if ! cargo +nightly fuzz build --debug-assertions >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    exit 1
fi
echo "fuzz: built the targets in $(($(date +%s) - t0)) s"
BIN=$REPO/fuzz/target/x86_64-unknown-linux-gnu/release
cd "$REPO"

run_one() {
    local t=$1 corpus=$WORK/corpus/$1 artifacts=$WORK/artifacts/$1/
    mkdir -p "$corpus" "$artifacts"
    cp fuzz/seeds/"$t"/* "$corpus"/
    "$BIN/$t" "$corpus" -max_total_time="$DURATION" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$WORK/$t.log" 2>&1
}

failed=()
# FUZZ_JOBS targets at a time; each one's verdict is read from its log below.
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

echo "fuzz: results ($DURATION s each)"
for t in "${targets[@]}"; do
    log=$WORK/$t.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | head -1)
    if [ -n "$crash" ] || [ -z "$secs" ]; then
        failed+=("$t")
        echo "  $t: ${execs:-?} execs, CRASH: ${crash:-no final stats, see $log}"
    else
        echo "  $t: $execs execs in $secs s, 0 crashes"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    for t in "${failed[@]}"; do
        echo
        echo "=== $t ($WORK/$t.log)"
        grep -v '^#[0-9]' "$WORK/$t.log" | tail -60
    done
    echo
    echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}; reproduce with" \
        "'cd fuzz && cargo +nightly fuzz run --debug-assertions TARGET ARTIFACT'" >&2
    exit 1
fi
