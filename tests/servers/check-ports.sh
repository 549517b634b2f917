#!/usr/bin/env bash
# Proof that tests/servers/ports.env is the only place the services' ports are defined.
#
#   tests/servers/check-ports.sh [--static] [SHIFT]
#
# static   `git grep` finds none of the ports of ports.env anywhere else in the repository, except
#          in documentation (*.md), in usage comments of examples/*.c and in fuzz seeds (data)
# dynamic  (skipped with --static) writes a copy of ports.env with every port moved by SHIFT
#          (default 100) to target/ports-check/ports.env, starts every service with
#          FHIR_PORTS_FILE pointing at it and its own FHIR_SERVICES_DIR (target/ports-check/state),
#          checks that `services.sh status` is all up, that services.env and every rendered
#          config name only the moved ports, and that requests go through on them: HAPI
#          directly; nginx HTTPS (Bundle links point back at the moved port) and HTTP with basic
#          auth; a token from the OIDC provider accepted by nginx's /oidc location (nginx ->
#          gateway -> provider); /slow (nginx -> slow-server); the proxy for plain HTTP and a
#          CONNECT tunnel to the moved HTTPS port. Then it stops them and checks the ports are free.
# Runs beside services on the default ports (nothing is shared but the build caches).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
DEFAULT_PORTS=$REPO/tests/servers/ports.env

log() { echo "check-ports: $*" >&2; }
die() {
    echo "check-ports: FAILED: $*" >&2
    exit 1
}

static=0
if [ "${1:-}" = --static ]; then
    static=1
    shift
fi
SHIFT=${1:-100}

# ---------------------------------------------------------------------------- static
ports=$(sed -n 's/^FHIR_[A-Z0-9_]*_PORT=\([0-9]*\)$/\1/p' "$DEFAULT_PORTS")
pattern=$(echo "$ports" | paste -sd '|')
excludes=(':!tests/servers/ports.env' ':!*.md' ':!fuzz/seeds')
# in examples/*.c only comment lines (" * FHIR_API_URL=http://127.0.0.1:PORT/fhir ./quickstart")
hits=$(git grep -nwE "$pattern" -- . "${excludes[@]}" | grep -Ev '^examples/[^:]*\.c:[0-9]+:[[:space:]]*(/?\*|//)' || [ $? = 1 ])
[ -z "$hits" ] || die "ports of tests/servers/ports.env hard-coded elsewhere:
$hits"
log "static: the ports $(echo "$ports" | paste -sd ' ') appear only in tests/servers/ports.env and docs"
[ $static = 0 ] || exit 0

# ---------------------------------------------------------------------------- dynamic
WORK=$REPO/target/ports-check
mkdir -p "$WORK"
awk -F= -v s="$SHIFT" '/^FHIR_[A-Z0-9_]*_PORT=[0-9]+$/ { print $1 "=" $2 + s; next } { print }' \
    "$DEFAULT_PORTS" >"$WORK/ports.env"
export FHIR_PORTS_FILE=$WORK/ports.env FHIR_SERVICES_DIR=$WORK/state
SERVICES=tests/servers/services.sh

cleanup() {
    local rc=$?
    log "stopping the services of the moved port set"
    "$SERVICES" stop >&2 || rc=1
    exit $rc
}
trap cleanup EXIT
"$SERVICES" start
"$SERVICES" status
set -a
# shellcheck disable=SC1091  # generated at run time
. "$FHIR_SERVICES_DIR/services.env"
set +a

moved=" $(sed -n 's/^FHIR_[A-Z0-9_]*_PORT=\([0-9]*\)$/\1/p' "$FHIR_PORTS_FILE" | paste -sd ' ') "
for p in $ports; do
    case $moved in *" $p "*) die "SHIFT $SHIFT maps a port onto default port $p" ;; esac
done

# no default port in what was generated
generated=("$FHIR_SERVICES_DIR/services.env" "$FHIR_SERVICES_DIR/nginx/nginx.conf"
    "$FHIR_SERVICES_DIR/nginx/locations.conf" "$FHIR_SERVICES_DIR/proxy/tinyproxy.conf")
if grep -nwE "$pattern" "${generated[@]}"; then die "a default port appears in the generated files above"; fi
for f in "${generated[@]}"; do [ -s "$f" ] || die "$f is missing"; done

check() { # NAME EXPECTED-CODE CURL-ARGS...
    local name=$1 want=$2 code
    shift 2
    code=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 20 "$@") || code="curl exit $?"
    [ "$code" = "$want" ] || die "$name: got $code, want $want ($*)"
    log "ok $name -> $code"
}
CA=(--cacert "$FHIR_TEST_CA")
check "HAPI $FHIR_HAPI_URL" 200 "$FHIR_HAPI_URL/metadata?_summary=true"
check "nginx HTTPS /fhir" 200 "${CA[@]}" "$FHIR_NGINX_HTTPS/fhir/Patient?_count=1"
grep -q "\"url\": *\"$FHIR_NGINX_HTTPS/fhir/Patient" "$WORK/body" ||
    die "the Bundle's self link does not point at $FHIR_NGINX_HTTPS: $(head -c 400 "$WORK/body")"
log "ok Bundle self link points at $FHIR_NGINX_HTTPS/fhir"
check "nginx HTTP /basic/fhir" 200 -u "$FHIR_BASIC_USER:$FHIR_BASIC_PASSWORD" "$FHIR_NGINX_HTTP/basic/fhir/metadata?_summary=true"
check "nginx /slow" 200 "${CA[@]}" "${FHIR_SLOW_URL}?delay=0"
check "OIDC discovery" 200 "$FHIR_OIDC_ISSUER/.well-known/openid-configuration"
grep -q "\"issuer\":\"http://127.0.0.1:$FHIR_OIDC_PORT\"" "$WORK/body" || die "issuer is not on port $FHIR_OIDC_PORT"
check "OIDC token" 200 -u "$FHIR_OIDC_CLIENT_ID:$FHIR_OIDC_CLIENT_SECRET" -d grant_type=client_credentials "$FHIR_OIDC_TOKEN_URL"
token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$WORK/body")
[ -n "$token" ] || die "no access_token in $(cat "$WORK/body")"
check "nginx /oidc/fhir with the token" 200 "${CA[@]}" -H "Authorization: Bearer $token" "$FHIR_NGINX_HTTPS/oidc/fhir/metadata?_summary=true"
check "nginx /oidc/fhir without a token" 401 "${CA[@]}" "$FHIR_NGINX_HTTPS/oidc/fhir/metadata?_summary=true"
check "proxy, plain HTTP" 200 -x "$FHIR_PROXY_URL" "$FHIR_NGINX_HTTP/fhir/metadata?_summary=true"
check "proxy, CONNECT tunnel" 200 -x "$FHIR_PROXY_URL" "${CA[@]}" "$FHIR_NGINX_HTTPS/fhir/metadata?_summary=true"
grep -q "CONNECT 127.0.0.1:$FHIR_NGINX_HTTPS_PORT " "$FHIR_PROXY_LOG" || die "no CONNECT to $FHIR_NGINX_HTTPS_PORT in $FHIR_PROXY_LOG"
log "ok tinyproxy logged CONNECT 127.0.0.1:$FHIR_NGINX_HTTPS_PORT"

trap - EXIT
"$SERVICES" stop
for p in $FHIR_HAPI_PORT $FHIR_OIDC_PORT $FHIR_OIDC_GATEWAY_PORT $FHIR_NGINX_HTTPS_PORT $FHIR_NGINX_HTTP_PORT $FHIR_NGINX_FILES_PORT $FHIR_SLOW_PORT $FHIR_PROXY_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is still open after stop"; fi
done
log "every service moved with the ports file (all ports +$SHIFT) and stopped again"
