#!/usr/bin/env bash
# The ABI check (docs/ABI.md): the exported symbols of the release library (nm -D) and the
# header's functions, callback types, enumerators, public structs and constants, against the
# baseline of the last release (the newest abi/X.Y.Z.txt). Fails on a removal or change that
# abi/announced.txt does not announce (with a reason, and only with a new SONAME); prints additions.
#   scripts/check-abi.sh [LIB]          LIB: default target/release/libfhir_kindling.so
#   scripts/check-abi.sh --dump [LIB]   print the current listing (for a new abi/VERSION.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
dump=0
if [ "${1:-}" = --dump ]; then
    dump=1
    shift
fi
lib=${1:-target/release/libfhir_kindling.so}
[ -f "$lib" ] || {
    echo "check-abi: $lib not found (cargo build --release first)" >&2
    exit 1
}
if [ $dump = 1 ]; then
    exec python3 scripts/abi.py dump "$lib" include/fhir_kindling.h
fi
VERSION=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
# The SONAME rule: 0.MINOR while the major version is 0, MAJOR after.
MAJOR=${VERSION%%.*}
rest=${VERSION#*.}
if [ "$MAJOR" = 0 ]; then want=libfhir_kindling.so.0.${rest%%.*}; else want=libfhir_kindling.so.$MAJOR; fi
got=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$got" != "$want" ]; then
    echo "check-abi: $lib has SONAME '$got'; version $VERSION needs $want" >&2
    exit 1
fi
python3 scripts/abi.py check "$lib" include/fhir_kindling.h "$VERSION"
