#!/usr/bin/env bash
# Build and run the Go example (a program importing the fhirkindling module from
# bindings/go through a replace directive) against the installed library.
#
#   FHIR_API_URL=http://127.0.0.1:8080/fhir examples/go/run.sh
#
# Env: FHIR_KINDLING_PREFIX  install prefix of the library (default: <repo>/target/install,
#                            as written by `make install` / scripts/install.sh)
#      GO                    the go command (default: go on PATH, else /usr/local/go/bin/go)
#      GO_BUILD_ONLY=1       stop after go vet and the build (no server needed)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX="$(realpath -m "${FHIR_KINDLING_PREFIX:-$REPO/target/install}")"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
PC="$PREFIX/lib/pkgconfig/fhir_kindling.pc"
if [ ! -f "$PC" ]; then
    echo "run.sh: $PC not found; install the library first: scripts/install.sh $PREFIX" >&2
    exit 2
fi
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CGO_ENABLED=1
export CGO_LDFLAGS="-Wl,-rpath,$PREFIX/lib${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
export GOTOOLCHAIN=local # never download a toolchain; no module is fetched either
export GOFLAGS=-mod=mod

cd "$HERE"
"$GO" vet ./...
"$GO" build -o fhir-example .
echo "built $HERE/fhir-example against $PREFIX"
if [ "${GO_BUILD_ONLY:-0}" = 1 ]; then exit 0; fi
if [ -z "${FHIR_API_URL:-}" ]; then
    echo "run.sh: set FHIR_API_URL (e.g. http://127.0.0.1:8080/fhir), or GO_BUILD_ONLY=1" >&2
    exit 2
fi
exec ./fhir-example "$@"
