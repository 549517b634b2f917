#!/usr/bin/env bash
# oidc: an OpenID Connect provider (node oidc-provider, issuer http://127.0.0.1:$FHIR_OIDC_PORT)
# and its token-introspection gateway (http://127.0.0.1:$FHIR_OIDC_GATEWAY_PORT/check).
#
#   tests/servers/oidc/part.sh install|start|stop|status
#
# install  npm ci into tests/servers/oidc/node_modules when it is missing or was installed from
#          another package-lock.json / Node major (stamp node_modules/.fhir-oidc-install-stamp)
# start    starts provider.mjs and gateway.mjs, waits until discovery and /healthz answer and the
#          gateway's client can introspect. Output: STATE_DIR/oidc.log; pids:
#          STATE_DIR/oidc-{provider,gateway}.pid; STATE_DIR/oidc-tokens.log and gateway.log are
#          truncated, so counts start at 0 (see README.md for their format)
#
# Env: OIDC_TOKEN_TTL (seconds, default 8), OIDC_START_TIMEOUT (default 60),
#      OIDC_STRICT_AUTH_METHOD=0, OIDC_VERBOSE=1 (see README.md)
set -euo pipefail
PART=oidc
LOG_TAG=$PART
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PART_PORTS="$FHIR_OIDC_PORT $FHIR_OIDC_GATEWAY_PORT"

HERE=$SERVERS_DIR/oidc
ISSUER=http://127.0.0.1:$FHIR_OIDC_PORT
GATEWAY=http://127.0.0.1:$FHIR_OIDC_GATEWAY_PORT
TTL=${OIDC_TOKEN_TTL:-8}
NAMES="provider gateway"

pidfile() { echo "$STATE_DIR/oidc-$1.pid"; }
install_stamp() {
    echo "$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1) node-$(node -p 'process.versions.node.split(".")[0]')"
}

part_install() {
    local stamp=$HERE/node_modules/.fhir-oidc-install-stamp want
    command -v node >/dev/null || die "node not found: run scripts/bootstrap.sh"
    command -v npm >/dev/null || die "npm not found: run scripts/bootstrap.sh"
    want=$(install_stamp)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$HERE/node_modules/oidc-provider/package.json" ]; then
        return 0
    fi
    log "installing npm dependencies (npm ci)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
}

part_status() {
    local name code
    for name in $NAMES; do
        if ! pid_alive "$(pidfile "$name")" "node .*$name.mjs"; then
            status_line down "($name not running)"
            return 1
        fi
    done
    code=$(http_code "$ISSUER/.well-known/openid-configuration")
    status_line up "$ISSUER (discovery $code), gateway $GATEWAY/check"
    [ "$code" = 200 ]
}

# discovery FIELD: one field of the provider's discovery document
discovery() {
    curl -fsS --max-time 5 "$ISSUER/.well-known/openid-configuration" |
        node -e 'let s = ""; process.stdin.on("data", (d) => { s += d; }).on("end", () => {
            const v = JSON.parse(s)[process.argv[1]];
            if (typeof v !== "string" || !v) process.exit(1);
            process.stdout.write(v);
        });' "$1"
}

fail() {
    log "$1"
    tail -n 40 "$STATE_DIR/oidc.log" >&2
    part_stop
    die "start failed (log above: $STATE_DIR/oidc.log)"
}

part_start() {
    local name issuer introspection probe
    if [ "$(cat "$HERE/node_modules/.fhir-oidc-install-stamp" 2>/dev/null)" != "$(install_stamp)" ]; then
        die "npm dependencies are not installed: run tests/servers/services.sh install"
    fi
    # The SMART clients' keys (generated once per STATE_DIR, like the certificates).
    "$SERVERS_DIR/pki/part.sh" start >/dev/null
    : >"$STATE_DIR/oidc-tokens.log"
    : >"$STATE_DIR/gateway.log"
    echo "=== start $(date -u +%FT%TZ) ttl=${TTL}s ===" >>"$STATE_DIR/oidc.log"
    (
        cd "$HERE"
        spawn "$STATE_DIR/oidc.log" "$(pidfile provider)" \
            env OIDC_TOKEN_TTL="$TTL" OIDC_PORT="$FHIR_OIDC_PORT" OIDC_SMART_KEYS_DIR="$STATE_DIR/pki/smart" \
            node provider.mjs "$STATE_DIR"
        spawn "$STATE_DIR/oidc.log" "$(pidfile gateway)" \
            env OIDC_ISSUER="$ISSUER" OIDC_GATEWAY_PORT="$FHIR_OIDC_GATEWAY_PORT" node gateway.mjs "$STATE_DIR"
    )
    wait_for_http "$ISSUER/.well-known/openid-configuration" "${OIDC_START_TIMEOUT:-60}" "$(pid_of "$(pidfile provider)")" ||
        fail "the provider did not answer $ISSUER/.well-known/openid-configuration"
    wait_for_http "$GATEWAY/healthz" "${OIDC_START_TIMEOUT:-60}" "$(pid_of "$(pidfile gateway)")" ||
        fail "the gateway did not answer $GATEWAY/healthz"
    issuer=$(discovery issuer) || fail "discovery has no issuer"
    [ "$issuer" = "$ISSUER" ] || fail "discovery says issuer $issuer, expected $ISSUER"
    discovery token_endpoint >/dev/null || fail "discovery has no token_endpoint"
    introspection=$(discovery introspection_endpoint) || fail "discovery has no introspection_endpoint"
    # The gateway's own client must be able to introspect (catches a broken setup here rather
    # than as a confusing 503 from /check later).
    probe=$(curl -sS --max-time 5 -u gateway:gateway-secret -d token=startup-probe "$introspection" 2>&1) ||
        fail "introspection request failed: $probe"
    [[ $probe == *'"active":false'* ]] || fail "introspection as client 'gateway' failed: $probe"
    log "OIDC provider $ISSUER and gateway $GATEWAY up (token ttl ${TTL}s)"
}

part_stop() {
    local name ok=0
    for name in $NAMES; do
        kill_pidfile "$(pidfile "$name")" "node .*$name.mjs" "$name" 5 || ok=1
    done
    return $ok
}

part_env() {
    local token_url
    token_url=$(discovery token_endpoint) || die "cannot read the token endpoint from $ISSUER"
    write_env \
        "FHIR_OIDC_ISSUER=$ISSUER" \
        "FHIR_OIDC_TOKEN_URL=$token_url" \
        "FHIR_OIDC_CLIENT_ID=fhir-client" \
        "FHIR_OIDC_CLIENT_SECRET=fhir-secret" \
        "FHIR_OIDC_POST_CLIENT_ID=fhir-client-post" \
        "FHIR_OIDC_POST_CLIENT_SECRET=fhir-secret-post" \
        "FHIR_OIDC_TOKEN_TTL=$TTL" \
        "FHIR_OIDC_TOKEN_LOG=$STATE_DIR/oidc-tokens.log" \
        "FHIR_OIDC_GATEWAY=$GATEWAY" \
        "FHIR_SMART_RS384_CLIENT_ID=smart-rs384" \
        "FHIR_SMART_ES384_CLIENT_ID=smart-es384" \
        "FHIR_SMART_JWKS_URI_CLIENT_ID=smart-jwks-uri" \
        "FHIR_SMART_RSA_KID=rsa-2048" \
        "FHIR_SMART_RSA4096_KID=rsa-4096" \
        "FHIR_SMART_EC_KID=p384" \
        "FHIR_SMART_JWKS_URI=$ISSUER/test-jwks/smart-jwks-uri.json"
}

part_main "$@"
