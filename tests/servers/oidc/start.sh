#!/usr/bin/env bash
# Usage: start.sh STATE_DIR
# Starts the OIDC provider (127.0.0.1:18090) and the token gateway
# (127.0.0.1:18091), waits until both answer, then writes STATE_DIR/oidc.env.
# Env: OIDC_TOKEN_TTL (seconds, default 8), OIDC_START_TIMEOUT (default 60),
#      OIDC_PORT / OIDC_GATEWAY_PORT (default 18090 / 18091).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 STATE_DIR" >&2
  exit 2
fi
mkdir -p "$1"
state="$(cd "$1" && pwd)"

port="${OIDC_PORT:-18090}"
gateway_port="${OIDC_GATEWAY_PORT:-18091}"
issuer="http://127.0.0.1:$port"
gateway="http://127.0.0.1:$gateway_port"
ttl="${OIDC_TOKEN_TTL:-8}"
timeout_s="${OIDC_START_TIMEOUT:-60}"

"$here/install.sh"

# Refuse to start twice on the same state dir; stale pid files are ignored.
for name in provider gateway; do
  pidfile="$state/oidc-$name.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "start.sh: $name already running (pid $(cat "$pidfile")); run stop.sh $state first" >&2
    exit 1
  fi
  rm -f "$pidfile"
done

# Ports must be free, or we would wait on someone else's server.
for p in "$port" "$gateway_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "start.sh: 127.0.0.1:$p is already in use" >&2
    exit 1
  fi
done

rm -f "$state/oidc.env"
: > "$state/oidc-tokens.log"
: > "$state/gateway.log"

cd "$here"
echo "=== start $(date -u +%FT%TZ) ttl=${ttl}s ===" >> "$state/oidc.log"
OIDC_TOKEN_TTL="$ttl" OIDC_PORT="$port" node provider.mjs "$state" >> "$state/oidc.log" 2>&1 < /dev/null &
echo $! > "$state/oidc-provider.pid"
OIDC_ISSUER="$issuer" OIDC_GATEWAY_PORT="$gateway_port" node gateway.mjs "$state" >> "$state/oidc.log" 2>&1 < /dev/null &
echo $! > "$state/oidc-gateway.pid"

fail() {
  echo "start.sh: $1" >&2
  echo "--- tail of $state/oidc.log ---" >&2
  tail -n 40 "$state/oidc.log" >&2 || true
  "$here/stop.sh" "$state" >/dev/null 2>&1 || true
  exit 1
}

deadline=$((SECONDS + timeout_s))
discovery=""
while true; do
  for name in provider gateway; do
    kill -0 "$(cat "$state/oidc-$name.pid")" 2>/dev/null || fail "$name process exited during startup"
  done
  if [[ -z "$discovery" ]]; then
    discovery="$(curl -fsS --max-time 2 "$issuer/.well-known/openid-configuration" 2>/dev/null || true)"
  fi
  if [[ -n "$discovery" ]] && curl -fsS -o /dev/null --max-time 2 "$gateway/healthz" 2>/dev/null; then
    break
  fi
  (( SECONDS < deadline )) || fail "timed out after ${timeout_s}s waiting for $issuer and $gateway"
  sleep 0.2
done

token_url="$(printf '%s' "$discovery" | node -e '
let s = ""; process.stdin.on("data", (d) => { s += d; }).on("end", () => {
  const d = JSON.parse(s);
  if (d.issuer !== process.argv[1] || !d.token_endpoint || !d.introspection_endpoint) process.exit(1);
  process.stdout.write(d.token_endpoint);
});' "$issuer")" || fail "discovery document is missing issuer/token_endpoint/introspection_endpoint"

# The gateway's own client must be able to introspect (catches a broken setup
# here rather than as a confusing 503 from /check later).
introspection_url="$(printf '%s' "$discovery" | node -e '
let s = ""; process.stdin.on("data", (d) => { s += d; }).on("end", () => {
  process.stdout.write(JSON.parse(s).introspection_endpoint);
});')"
probe="$(curl -fsS --max-time 5 -u gateway:gateway-secret -d token=startup-probe "$introspection_url" 2>&1)" || true
if [[ "$probe" != *'"active":false'* ]]; then
  fail "introspection as client 'gateway' failed: $probe"
fi

cat > "$state/oidc.env.tmp" <<ENV
export FHIR_OIDC_ISSUER=$issuer
export FHIR_OIDC_TOKEN_URL=$token_url
export FHIR_OIDC_CLIENT_ID=fhir-client
export FHIR_OIDC_CLIENT_SECRET=fhir-secret
export FHIR_OIDC_POST_CLIENT_ID=fhir-client-post
export FHIR_OIDC_POST_CLIENT_SECRET=fhir-secret-post
export FHIR_OIDC_TOKEN_TTL=$ttl
$(printf 'export FHIR_OIDC_TOKEN_LOG=%q' "$state/oidc-tokens.log")
export FHIR_OIDC_GATEWAY=$gateway
ENV
mv "$state/oidc.env.tmp" "$state/oidc.env"
echo "start.sh: OIDC provider $issuer and gateway $gateway up (token ttl ${ttl}s); env in $state/oidc.env"
