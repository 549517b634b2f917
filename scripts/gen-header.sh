#!/usr/bin/env bash
# Regenerate include/fhir_kindling.h from the Rust sources with cbindgen.
# With --check, fail if the committed header differs from a fresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/versions.env
. scripts/versions.env
if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version | awk '{print $2}')" != "$CBINDGEN_VERSION" ]; then
    echo "gen-header: cbindgen $CBINDGEN_VERSION is needed: run scripts/bootstrap.sh build" >&2
    exit 1
fi
out=include/fhir_kindling.h
if [ "${1:-}" = "--check" ]; then
    tmp=$(mktemp)
    cbindgen --config cbindgen.toml --quiet --output "$tmp" .
    if ! diff -u "$out" "$tmp"; then
        echo "include/fhir_kindling.h is stale: run scripts/gen-header.sh and commit it" >&2
        rm -f "$tmp"
        exit 1
    fi
    rm -f "$tmp"
    echo "header up to date"
else
    cbindgen --config cbindgen.toml --quiet --output "$out" .
    echo "wrote $out"
fi
