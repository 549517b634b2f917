#!/usr/bin/env bash
# The ABI check must fail on what it is there to catch. Against scratch copies in target/abi-selftest:
#   1. a changed signature in the header (fhir_search_limit's limit: uint64_t -> uint32_t)   -> fails
#   2. a removed function (fhir_history gone from header and library)                      -> fails
#   3. a renumbered result code (FHIR_ERR_TIMEOUT = 6 -> 60)                                -> fails
#   4. case 1 announced in abi/announced.txt, version still 0.2.x                            -> fails
#   5. an added function only                                                               -> passes, printed
# The scratch libraries are built from the baseline's symbol list (empty functions, same SONAME).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=target/abi-selftest
rm -rf "$D"
mkdir -p "$D"
SONAME=libfhir_kindling.so.0.2
base=abi/0.2.0.txt

# fakelib OUT [SYMBOL-TO-DROP] [SYMBOL-TO-ADD]
fakelib() {
    grep '^symbol ' "$base" | awk '{print $2}' | grep -vx "${2:-none}" |
        awk '{print "void " $1 "(void) {}"}' >"$1.c"
    [ -z "${3:-}" ] || echo "void $3(void) {}" >>"$1.c"
    cc -shared -fPIC -w -Wl,-soname,$SONAME -o "$1" "$1.c"
}

# expect CODE PATTERN LIB HEADER [VERSION]
expect() {
    local want=$1 pattern=$2 rc=0
    python3 scripts/abi.py check "$3" "$4" "${5:-0.2.1}" >"$D/out" 2>&1 || rc=$?
    if [ "$rc" != "$want" ] || ! grep -q -- "$pattern" "$D/out"; then
        echo "abi self-test: expected exit $want and '$pattern', got exit $rc:" >&2
        cat "$D/out" >&2
        exit 1
    fi
    echo "abi self-test: ok: $(grep -m1 -- "$pattern" "$D/out" | sed 's/^ *//')"
}

fakelib "$D/lib.so"
sed '/^fhir_result fhir_search_limit(/,/;/ s/uint64_t limit,/uint32_t limit,/' include/fhir_kindling.h >"$D/changed.h"
expect 1 'changed: function fhir_result fhir_search_limit' "$D/lib.so" "$D/changed.h"

fakelib "$D/lib-removed.so" fhir_history
python3 - "$D/removed.h" <<'PY'
import re, sys
src = open("include/fhir_kindling.h").read()
src = re.sub(r"fhir_result fhir_history\([^;]*;", "", src)
open(sys.argv[1], "w").write(src)
PY
expect 1 'removed: symbol fhir_history' "$D/lib-removed.so" "$D/removed.h"
expect 1 'removed: function fhir_result fhir_history' "$D/lib-removed.so" "$D/removed.h"

sed 's/FHIR_ERR_TIMEOUT = 6,/FHIR_ERR_TIMEOUT = 60,/' include/fhir_kindling.h >"$D/renumbered.h"
expect 1 'only ever added' "$D/lib.so" "$D/renumbered.h"

{
    cat abi/announced.txt
    echo "fhir_search_limit: self-test"
} >"$D/announced.txt"
export FHIR_ABI_ANNOUNCED=$D/announced.txt
expect 1 'keeps the SONAME' "$D/lib.so" "$D/changed.h" 0.2.1
expect 0 'announced changed' "$D/lib.so" "$D/changed.h" 0.3.0
unset FHIR_ABI_ANNOUNCED

fakelib "$D/lib-added.so" none fhir_selftest_added
sed 's/^const char \*fhir_version(void);/&\nvoid fhir_selftest_added(void);/' include/fhir_kindling.h >"$D/added.h"
expect 0 'added: function void fhir_selftest_added(void)' "$D/lib-added.so" "$D/added.h"
echo "abi self-test: the check fails on each injected change and passes additions"
