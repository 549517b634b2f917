#!/usr/bin/env bash
# Run the FHIR-server part of the integration suite against a second, different server: the
# Helios FHIR Server (Rust, SQLite in memory). Its first build takes ~35 minutes on 2 cores,
# so it is not part of scripts/test-all.sh; the binary is cached in target/helios.
#   scripts/conformance.sh            build (once) + start Helios + run the suite + stop
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
HELIOS_VERSION=0.2.7
# shellcheck source=tests/servers/ports.env
. "${FHIR_PORTS_FILE:-tests/servers/ports.env}"
PORT=${HELIOS_PORT:-$FHIR_HELIOS_PORT}
ROOT=$REPO/target/helios
STATE=$REPO/target/helios-state
BIN=$ROOT/bin/hfs

if [ ! -x "$BIN" ] || [ "$(cat "$ROOT/.version" 2>/dev/null)" != "$HELIOS_VERSION" ]; then
    echo "conformance: building helios-hfs $HELIOS_VERSION (first time: about 35 minutes on 2 cores)"
    CARGO_TARGET_DIR=$REPO/target/helios-build nice -n 10 cargo install helios-hfs --version "$HELIOS_VERSION" --locked --root "$ROOT"
    echo "$HELIOS_VERSION" >"$ROOT/.version"
fi

mkdir -p "$STATE"
# Helios reads the FHIR R4 SearchParameter definitions from DATA_DIR/search-parameters-r4.json
# (without them it knows only a minimal set, and `identifier` searches are refused). They are the
# spec's search-parameters.json, shipped in HAPI's validation resources on Maven Central.
DATA=$REPO/target/helios-data
if [ ! -s "$DATA/search-parameters-r4.json" ]; then
    mkdir -p "$DATA"
    mvn -B -q dependency:copy -Dartifact=ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4:8.8.0 \
        -DoutputDirectory="$DATA" -Dmdep.stripVersion=true
    unzip -p "$DATA/hapi-fhir-validation-resources-r4.jar" org/hl7/fhir/r4/model/sp/search-parameters.json \
        >"$DATA/search-parameters-r4.json"
    rm -f "$DATA/hapi-fhir-validation-resources-r4.jar"
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "conformance: port $PORT is taken" >&2
    exit 1
fi
BASE=http://127.0.0.1:$PORT
"$BIN" --port "$PORT" --host 127.0.0.1 --database-url :memory: --base-url "$BASE" --enable-versioning --return-gone --data-dir "$DATA" >"$STATE/helios.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    if curl -fsS "$BASE/metadata" -o /dev/null 2>/dev/null; then break; fi
    if ! kill -0 $PID 2>/dev/null; then
        echo "conformance: Helios exited:" >&2
        tail -20 "$STATE/helios.log" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fsS "$BASE/metadata" -o /dev/null || {
    echo "conformance: Helios did not answer /metadata" >&2
    tail -20 "$STATE/helios.log" >&2
    exit 1
}
echo "conformance: Helios $HELIOS_VERSION up at $BASE"
# The tests that need only a FHIR server (no gateway, proxy or OIDC provider).
# One test at a time: Helios' in-memory SQLite aborts concurrent transactions ("table is locked").
FHIR_HAPI_URL=$BASE cargo test --locked --test integration -- --ignored --test-threads=1 \
    upload_1000 paging_through_1200 crud_history a_failed_transaction
