#!/usr/bin/env bash
# The C API surface, checked against the built library and the sources:
#   - the shared library exports only fhir_ symbols, and exactly the functions of the header;
#   - the header declares no unprefixed function, type or macro;
#   - the Rust core (everything outside src/ffi) names no C function: it does not know it is
#     behind a C layer (mentions of the fhir_kindling crate or Python library are fine).
# Usage: scripts/check-api.sh [path/to/libfhir_kindling.so]   (default: target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
lib=${1:-target/release/libfhir_kindling.so}
header=include/fhir_kindling.h
fail=0
[ -f "$lib" ] || {
    echo "check-api: $lib not found (cargo build --release first)" >&2
    exit 1
}

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
stray=$(grep -v '^fhir_' <<<"$exported" || true)
if [ -n "$stray" ]; then
    echo "check-api: $lib exports symbols without the fhir_ prefix:" >&2
    echo "$stray" >&2
    fail=1
fi

# Prototypes start in column 0 with their return type; the name is the word before the first '('.
prototypes=$(grep -E '^[A-Za-z_][A-Za-z0-9_ *]*[ *][A-Za-z_][A-Za-z0-9_]*\(' "$header" |
    grep -vE '^typedef' | sed -E 's/^([^(]*[ *])([A-Za-z_][A-Za-z0-9_]*)\(.*/\2/' | sort)
declared=$(grep '^fhir_' <<<"$prototypes" || true)
if grep -qv '^fhir_' <<<"$prototypes"; then
    echo "check-api: the header declares functions without the fhir_ prefix:" >&2
    grep -v '^fhir_' <<<"$prototypes" >&2
    fail=1
fi
if ! diff <(echo "$declared") <(echo "$exported") >/dev/null; then
    echo "check-api: the header's functions and the library's exports differ (< header, > library):" >&2
    diff <(echo "$declared") <(echo "$exported") | grep '^[<>]' >&2
    fail=1
fi

unprefixed=$(grep -oE '^(#define [A-Za-z_][A-Za-z0-9_]*|typedef .*[ *(]([A-Za-z_][A-Za-z0-9_]*)[);]* *[;(])' "$header" |
    grep -vE '#define (FHIR_|fhir_)|typedef .*(fhir_[a-z_]+)' || true)
if [ -n "$unprefixed" ]; then
    echo "check-api: the header declares names without the fhir_/FHIR_ prefix:" >&2
    echo "$unprefixed" >&2
    fail=1
fi

c_names=$(grep -rnE 'fhir_[a-z]|FHIR_(OK|ERR_|DEFAULT_|KINDLING_)' src --include='*.rs' | grep -v '^src/ffi/' |
    grep -v 'fhir_kindling' || true)
if [ -n "$c_names" ]; then
    echo "check-api: the Rust core names C functions (keep them in src/ffi):" >&2
    echo "$c_names" >&2
    fail=1
fi

[ "$fail" = 0 ] || exit 1
echo "check-api: $(wc -l <<<"$exported") fhir_ functions exported, all declared; no unprefixed name; core free of C names"
