#!/usr/bin/env bash
# Every test, on a fresh machine: lints, the header check, Rust unit and wire tests (httpmock),
# then the real services (HAPI FHIR, nginx with TLS, oidc-provider, tinyproxy) are installed and
# started, and the Rust integration tests, the C test program (under valgrind), the C++ header
# check, the CMake consumer and the C examples run against them. Services are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
t0=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

step "tools"
scripts/ensure-tools.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "format and lints"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

step "header is up to date (cbindgen)"
scripts/gen-header.sh --check

step "Rust unit and wire tests"
cargo test --locked

# One-shot runs: skip HAPI's class-data archive (it costs ~15 s at the first stop).
export HAPI_CDS=${HAPI_CDS:-0}

step "services: install and start"
tests/servers/services.sh install
trap 'step "services: stop"; tests/servers/services.sh stop || true' EXIT
tests/servers/services.sh start
set -a
# shellcheck disable=SC1091
. "${FHIR_SERVICES_DIR:-$REPO/target/services}/services.env"
set +a

step "Rust integration tests against the real services"
cargo test --locked --test integration --test integration_env -- --ignored

step "C and C++: header, test program under valgrind, static link, CMake consumer, examples"
FHIR_API_URL=$FHIR_HAPI_URL make --no-print-directory c-test

step "Go (cgo) consumer against the same library"
FHIR_API_URL=$FHIR_HAPI_URL examples/go/run.sh

step "C# (Mono P/Invoke) consumer against the same library"
FHIR_API_URL=$FHIR_HAPI_URL examples/csharp/run.sh

step "demo data through the quickstart"
python3 scripts/gen-demo-data.py --patients 20 > target/c/demo.json
FHIR_API_URL=$FHIR_HAPI_URL target/c/quickstart target/c/demo.json

step "all tests passed in $(( $(date +%s) - t0 ))s"
