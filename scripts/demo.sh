#!/usr/bin/env bash
# The one-command demo: build and install the library, start a local HAPI FHIR server, generate a
# small synthetic data set (patients with conditions and observations), and run the C quickstart,
# which connects, uploads, searches with paging and prints a summary. Stops the server at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
scripts/bootstrap.sh build services
PREFIX=$REPO/target/install
scripts/install.sh "$PREFIX" >/dev/null
mkdir -p target/c target/demo
PKG="env PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config"
# shellcheck disable=SC2046  # pkg-config prints one flag per word
cc -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -pedantic $($PKG --cflags fhir_kindling) \
    examples/quickstart.c -o target/c/quickstart $($PKG --libs fhir_kindling) -Wl,-rpath,"$PREFIX/lib"
python3 scripts/gen-demo-data.py --patients 40 >target/demo/synthetic.json

trap 'tests/servers/services.sh stop hapi' EXIT
tests/servers/services.sh start hapi
# shellcheck disable=SC1090  # generated at run time
. "$(tests/servers/services.sh env)"
echo
echo "== quickstart (examples/quickstart.c) against the local HAPI FHIR server"
FHIR_API_URL=$FHIR_HAPI_URL target/c/quickstart target/demo/synthetic.json
