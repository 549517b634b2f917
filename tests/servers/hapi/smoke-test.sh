#!/usr/bin/env bash
# `COND && ok ... || bad ...` is meant here: ok and bad always succeed.
# shellcheck disable=SC2015
# Smoke test for a running HAPI test server (see part.sh). Needs curl + python3.
#
#   tests/servers/hapi/smoke-test.sh [BASE_URL]     (default http://127.0.0.1:$FHIR_HAPI_PORT/fhir)
#
# Creates test data (Patients with family names SmokeTx/SmokeExp/SmokeLoad) and cleans most of it up.
set -euo pipefail
LOG_TAG=hapi-smoke
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
B="${1:-http://127.0.0.1:$FHIR_HAPI_PORT/fhir}"
B="${B%/}"
CT='Content-Type: application/fhir+json'
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
FAIL=0
ok() { echo "ok   - $*"; }
bad() {
    echo "FAIL - $*"
    FAIL=1
}
js() { python3 -c "import json,sys; b=json.load(open(sys.argv[1])); print($2)" "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

code=$(curl -s -o "$TMP/m.json" -w '%{http_code}' "$B/metadata")
[ "$code" = 200 ] && [ "$(js "$TMP/m.json" 'b["resourceType"]')" = CapabilityStatement ] &&
    ok "GET /metadata -> 200 CapabilityStatement (fhirVersion $(js "$TMP/m.json" 'b["fhirVersion"]'))" || bad "metadata ($code)"

code=$(curl -s -D "$TMP/h" -o "$TMP/p.json" -w '%{http_code}' -X POST -H "$CT" \
    -d '{"resourceType":"Patient","name":[{"family":"SmokeTx","given":["Ann"]}]}' "$B/Patient")
LOC=$(grep -i '^location:' "$TMP/h" | tr -d '\r' | awk '{print $2}')
[ "$code" = 201 ] && ok "POST Patient -> 201, Location $LOC" || bad "POST Patient ($code)"
ID=$(js "$TMP/p.json" 'b["id"]')
code=$(curl -s -o "$TMP/g.json" -w '%{http_code}' "$B/Patient/$ID")
[ "$code" = 200 ] && [ "$(js "$TMP/g.json" 'b["name"][0]["family"]')" = SmokeTx ] && ok "GET Patient/$ID -> 200" || bad "GET Patient ($code)"

for cid in smoke-client-id 424242; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$CT" \
        -d "{\"resourceType\":\"Patient\",\"id\":\"$cid\",\"name\":[{\"family\":\"SmokeTx\"}]}" "$B/Patient/$cid")
    [[ "$code" == 20[01] ]] && ok "PUT client-assigned Patient/$cid -> $code" || bad "PUT Patient/$cid ($code)"
done

cat >"$TMP/tx.json" <<'J'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:8f2c8c7e-0001-4c1e-9a43-000000000001","resource":{"resourceType":"Patient","name":[{"family":"SmokeTx"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:8f2c8c7e-0001-4c1e-9a43-000000000002","resource":{"resourceType":"Patient","name":[{"family":"SmokeTx"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:8f2c8c7e-0001-4c1e-9a43-000000000003","resource":{"resourceType":"Patient","name":[{"family":"SmokeTx"}]},"request":{"method":"POST","url":"Patient"}}]}
J
code=$(curl -s -o "$TMP/txr.json" -w '%{http_code}' -X POST -H "$CT" --data-binary @"$TMP/tx.json" "$B")
st=$(js "$TMP/txr.json" '" ".join(e["response"]["status"].split()[0] for e in b["entry"])')
[ "$code" = 200 ] && [ "$st" = "201 201 201" ] && ok "transaction with 3 Patients -> 200, entry statuses: $st" || bad "transaction ($code, $st)"

cat >"$TMP/batch.json" <<'J'
{"resourceType":"Bundle","type":"batch","entry":[
 {"resource":{"resourceType":"Patient","name":[{"family":"SmokeTx"}]},"request":{"method":"POST","url":"Patient"}},
 {"request":{"method":"GET","url":"Patient/smoke-does-not-exist"}}]}
J
code=$(curl -s -o "$TMP/br.json" -w '%{http_code}' -X POST -H "$CT" --data-binary @"$TMP/batch.json" "$B")
st=$(js "$TMP/br.json" '" ".join(e["response"]["status"].split()[0] for e in b["entry"])')
[ "$code" = 200 ] && [ "$st" = "201 404" ] && ok "batch -> 200, entry statuses: $st" || bad "batch ($code, $st)"

curl -s -o "$TMP/c.json" "$B/Patient?family=SmokeTx&_summary=count"
TOTAL=$(js "$TMP/c.json" 'b.get("total")')
[ "$TOTAL" = 7 ] && ok "Patient?family=SmokeTx&_summary=count -> total $TOTAL" || bad "_summary=count total=$TOTAL (want 7)"

curl -s -o "$TMP/s1.json" "$B/Patient?family=SmokeTx&_count=2"
NEXT=$(js "$TMP/s1.json" '[l["url"] for l in b.get("link",[]) if l["relation"]=="next"][0]')
[ -n "$NEXT" ] && [ "$(js "$TMP/s1.json" 'len(b["entry"])')" = 2 ] && ok "Patient?_count=2 -> 2 entries, next: $NEXT" || bad "search page 1"
seen=2
while [ -n "$NEXT" ]; do
    curl -s -o "$TMP/sn.json" "$NEXT"
    seen=$((seen + $(js "$TMP/sn.json" 'len(b.get("entry",[]))')))
    NEXT=$(js "$TMP/sn.json" '([l["url"] for l in b.get("link",[]) if l["relation"]=="next"]+[""])[0]')
done
[ "$seen" = 7 ] && ok "following next links returned all $seen Patients" || bad "paging returned $seen (want 7)"

FWD=(-H 'X-Forwarded-Prefix: /basic' -H "X-Forwarded-Host: 127.0.0.1:$FHIR_NGINX_HTTPS_PORT" -H 'X-Forwarded-Proto: https')
curl -s "${FWD[@]}" -o "$TMP/f.json" "$B/Patient?family=SmokeTx&_count=2"
FN=$(js "$TMP/f.json" '[l["url"] for l in b["link"] if l["relation"]=="next"][0]')
FU=$(js "$TMP/f.json" 'b["entry"][0]["fullUrl"]')
[[ "$FN" == "https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT/basic/fhir?_getpages="* ]] && [[ "$FU" == "https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT/basic/fhir/Patient/"* ]] &&
    ok "with X-Forwarded-*: next $FN ; fullUrl $FU" || bad "forwarded links: next=$FN fullUrl=$FU"

code=$(curl -s -o "$TMP/d.json" -w '%{http_code}' -X DELETE "$B/Patient?family=SmokeTx")
curl -s -o "$TMP/c2.json" "$B/Patient?family=SmokeTx&_summary=count"
[[ "$code" == 20[04] ]] && [ "$(js "$TMP/c2.json" 'b["total"]')" = 0 ] &&
    ok "conditional DELETE Patient?family=SmokeTx (7 matches) -> $code, remaining 0" || bad "conditional delete ($code)"

code=$(curl -s -o "$TMP/nf.json" -w '%{http_code}' "$B/Patient/smoke-does-not-exist")
[ "$code" = 404 ] && [ "$(js "$TMP/nf.json" 'b["resourceType"]')" = OperationOutcome ] &&
    ok "GET missing Patient -> 404 OperationOutcome: $(js "$TMP/nf.json" 'b["issue"][0]["diagnostics"]')" || bad "404 ($code)"

curl -s -o /dev/null -X PUT -H "$CT" -d '{"resourceType":"Patient","id":"smoke-exp","name":[{"family":"SmokeExp"}]}' "$B/Patient/smoke-exp"
t0=$(now_ms)
curl -s -o /dev/null -X DELETE "$B/Patient?family=SmokeExp&_expunge=true"
while [ "$(curl -s -o /dev/null -w '%{http_code}' "$B/Patient/smoke-exp/_history")" = 200 ] && [ $(($(now_ms) - t0)) -lt 60000 ]; do sleep 0.2; done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/Patient/smoke-exp/_history")" != 200 ] &&
    ok "DELETE ...&_expunge=true (batch2 delete-expunge job) done after $(($(now_ms) - t0)) ms" || bad "delete expunge"

python3 - "$TMP/load.json" <<'P'
import json, sys
e = [{"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
      "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:smoke-load", "value": str(i)}],
                   "name": [{"family": "SmokeLoad", "given": [f"P{i}"]}], "gender": "female", "birthDate": "1980-01-01"},
      "request": {"method": "POST", "url": "Patient"}} for i in range(1000)]
json.dump({"resourceType": "Bundle", "type": "transaction", "entry": e}, open(sys.argv[1], "w"))
P
t0=$(now_ms)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$CT" --data-binary @"$TMP/load.json" "$B")
t1=$(now_ms)
curl -s -o "$TMP/c3.json" "$B/Patient?family=SmokeLoad&_summary=count"
[ "$code" = 200 ] && ok "transaction with 1000 Patients -> $code in $((t1 - t0)) ms (count now $(js "$TMP/c3.json" 'b["total"]'))" || bad "1000-Patient transaction ($code)"

code=$(curl -s -o "$TMP/ex.json" -w '%{http_code}' -X POST -H "$CT" \
    -d '{"resourceType":"Parameters","parameter":[{"name":"expungeEverything","valueBoolean":true}]}' "$B/\$expunge")
curl -s -o "$TMP/c4.json" "$B/Patient?_summary=count"
[ "$code" = 200 ] && ok "POST /\$expunge expungeEverything -> 200, Patients left: $(js "$TMP/c4.json" 'b["total"]')" || bad "\$expunge ($code)"

[ "$FAIL" = 0 ] && echo "ALL OK" || {
    echo "SOME CHECKS FAILED"
    exit 1
}
