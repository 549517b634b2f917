#!/usr/bin/env bash
# Usage: tests/servers/oidc/smoke.sh   (after `tests/servers/services.sh start oidc`, same
# FHIR_SERVICES_DIR / FHIR_PORTS_FILE)
# End-to-end check of the provider + gateway with curl. Takes ~TTL+2 seconds.
# Prints "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
LOG_TAG=oidc-smoke
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ -s "$STATE_DIR/env/oidc.env" ] || die "$STATE_DIR/env/oidc.env not found: start the oidc part first"
# shellcheck disable=SC1091  # generated at run time
. "$STATE_DIR/env/oidc.env"

pass=0 fail=0
check() { # check NAME CONDITION-RESULT(0/1) [detail]
    if [[ "$2" == 0 ]]; then
        pass=$((pass + 1))
        echo "ok   - $1"
    else
        fail=$((fail + 1))
        echo "FAIL - $1 ${3:-}"
    fi
}
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];process.stdout.write(v===undefined?"":String(v))})' "$1"; }
lines() { grep -c "$1" "$FHIR_OIDC_TOKEN_LOG" || [ $? = 1 ]; } # 1: no line matches (prints 0)

disc="$(curl -fsS "$FHIR_OIDC_ISSUER/.well-known/openid-configuration")"
[[ "$(json issuer <<<"$disc")" == "$FHIR_OIDC_ISSUER" ]]
check "discovery issuer" $?
[[ "$(json token_endpoint <<<"$disc")" == "$FHIR_OIDC_TOKEN_URL" ]]
check "discovery token_endpoint" $?
introspect_url="$(json introspection_endpoint <<<"$disc")"
[[ -n "$introspect_url" ]]
check "discovery introspection_endpoint" $?

issued0="$(lines '"event":"token_issued"')"
basic="$(curl -sS -u "$FHIR_OIDC_CLIENT_ID:$FHIR_OIDC_CLIENT_SECRET" -d grant_type=client_credentials "$FHIR_OIDC_TOKEN_URL")"
tok="$(json access_token <<<"$basic")"
[[ -n "$tok" && "$(json token_type <<<"$basic")" == Bearer && "$(json expires_in <<<"$basic")" == "$FHIR_OIDC_TOKEN_TTL" ]]
check "client_secret_basic token" $? "$basic"

post="$(curl -sS -d grant_type=client_credentials -d "client_id=$FHIR_OIDC_POST_CLIENT_ID" -d "client_secret=$FHIR_OIDC_POST_CLIENT_SECRET" -d 'scope=system/*.read' "$FHIR_OIDC_TOKEN_URL")"
ptok="$(json access_token <<<"$post")"
[[ -n "$ptok" && "$(json scope <<<"$post")" == 'system/*.read' ]]
check "client_secret_post token with scope" $? "$post"

[[ "$(lines '"event":"token_issued"')" -eq $((issued0 + 2)) ]]
check "two token_issued log lines" $?

code="$(curl -sS -o /tmp/smoke.$$ -w '%{http_code}' -u "$FHIR_OIDC_CLIENT_ID:wrong" -d grant_type=client_credentials "$FHIR_OIDC_TOKEN_URL")"
[[ "$code" == 401 && "$(json error </tmp/smoke.$$)" == invalid_client ]]
check "wrong secret -> 401 invalid_client" $?
code="$(curl -sS -o /tmp/smoke.$$ -w '%{http_code}' -u "$FHIR_OIDC_POST_CLIENT_ID:$FHIR_OIDC_POST_CLIENT_SECRET" -d grant_type=client_credentials "$FHIR_OIDC_TOKEN_URL")"
[[ "$code" == 401 ]]
check "post client via basic -> 401" $?
code="$(curl -sS -o /tmp/smoke.$$ -w '%{http_code}' -d grant_type=client_credentials -d "client_id=$FHIR_OIDC_CLIENT_ID" -d "client_secret=$FHIR_OIDC_CLIENT_SECRET" "$FHIR_OIDC_TOKEN_URL")"
[[ "$code" == 401 ]]
check "basic client via post -> 401" $?
rm -f /tmp/smoke.$$
[[ "$(lines '"error":"invalid_client"')" -ge 3 ]]
check "grant_error invalid_client log lines" $?

code="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$FHIR_OIDC_GATEWAY/check")"
[[ "$code" == 200 ]]
check "gateway /check fresh token -> 200" $? "$code"
intro="$(curl -sS -H "Authorization: Bearer $tok" "$FHIR_OIDC_GATEWAY/introspect")"
[[ "$(json active <<<"$intro")" == true && "$(json client_id <<<"$intro")" == "$FHIR_OIDC_CLIENT_ID" ]]
check "gateway /introspect active + client_id" $? "$intro"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer bogus-token-value" "$FHIR_OIDC_GATEWAY/check")"
[[ "$code" == 401 ]]
check "gateway /check bogus token -> 401" $?
code="$(curl -sS -o /dev/null -w '%{http_code}' "$FHIR_OIDC_GATEWAY/check")"
[[ "$code" == 401 ]]
check "gateway /check no token -> 401" $?

sleep $((FHIR_OIDC_TOKEN_TTL + 1))
intro="$(curl -sS -u gateway:gateway-secret -d "token=$tok" "$introspect_url")"
[[ "$(json active <<<"$intro")" == false ]]
check "introspection active:false after TTL" $? "$intro"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$FHIR_OIDC_GATEWAY/check")"
[[ "$code" == 401 ]]
check "gateway /check expired token -> 401" $?

echo "$pass passed, $fail failed"
[[ "$fail" == 0 ]]
