#!/usr/bin/env bash
# The Go module's checks against the installed library and the running test services:
# gofmt, go vet, go test -race (tests and Example functions), then the Example tests again linked
# statically (-tags fhir_kindling_static, checked to need no libfhir_kindling.so).
#
#   bindings/go/test.sh              (services.env sourced: FHIR_HAPI_URL, ...)
#
# Env: FHIR_KINDLING_PREFIX  install prefix of the library (default <repo>/target/install,
#                            written by scripts/install.sh)
#      GO                    the go command (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX="$(realpath -m "${FHIR_KINDLING_PREFIX:-$REPO/target/install}")"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -f "$PREFIX/lib/pkgconfig/fhir_kindling.pc" ]; then
    echo "test.sh: no library under $PREFIX; install it first: scripts/install.sh $PREFIX" >&2
    exit 2
fi
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CGO_ENABLED=1
export GOTOOLCHAIN=local # never download a toolchain; the module has no dependencies either
export GOFLAGS=-mod=mod
cd "$HERE"
unformatted="$("$("$GO" env GOROOT)/bin/gofmt" -l . "$REPO/examples/go")"
if [ -n "$unformatted" ]; then
    echo "test.sh: gofmt would change: $unformatted" >&2
    exit 1
fi
echo "== go vet; go test -race (dynamic, pkg-config)"
"$GO" vet ./...
CGO_LDFLAGS="-Wl,-rpath,$PREFIX/lib" "$GO" test -race -count=1 ./...

echo "== static link (-tags fhir_kindling_static): Example tests"
mkdir -p "$REPO/target/go"
CGO_CFLAGS="$(pkg-config --cflags fhir_kindling)" CGO_LDFLAGS="$(pkg-config --libs-only-L fhir_kindling)" \
    "$GO" test -tags fhir_kindling_static -c -o "$REPO/target/go/fhirkindling-static.test" .
if ldd "$REPO/target/go/fhirkindling-static.test" | grep -q libfhir_kindling; then
    echo "test.sh: the static build still needs libfhir_kindling.so" >&2
    exit 1
fi
"$REPO/target/go/fhirkindling-static.test" -test.run '^Example' -test.count=1
