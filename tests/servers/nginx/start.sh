#!/usr/bin/env bash
# Start the nginx test front-end (own master process, not the system service).
#
# Usage: tests/servers/nginx/start.sh STATE_DIR
#
#   https://127.0.0.1:18443  (server cert from STATE_DIR/pki, optional client certs)
#   http://127.0.0.1:18081
#   + slow-server.py on 127.0.0.1:18082 (upstream of /slow/)
#
# Runtime files: STATE_DIR/nginx/{nginx.conf,locations.conf,htpasswd,nginx.pid,
#                access.log,error.log,slow.pid,slow.log,tmp/}
# Idempotent: returns 0 if our nginx is already running.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${1:-${FHIR_SERVICES_DIR:-}}
[ -n "$STATE_DIR" ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

HTTPS_PORT=18443
HTTP_PORT=18081
SLOW_PORT=18082
HAPI_PORT=18080
OIDC_CHECK_PORT=18091
SLOW_DELAY=${FHIR_SLOW_DELAY:-3}
BASIC_USER=fhir-user
BASIC_PASSWORD=fhir-pass

NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
PYTHON=${FHIR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 )}
D="$STATE_DIR/nginx"
PKI="$STATE_DIR/pki"

die() { echo "nginx: ERROR: $*" >&2; exit 1; }

pid_alive() { # FILE NAME-SUBSTRING
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
who_has_port() { ss -ltnpH "sport = :$1" 2>/dev/null || true; }
wait_port() { # PORT SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do port_in_use "$1" && return 0; sleep 0.1; done
    return 1
}

[ -x "$NGINX_BIN" ] || die "nginx binary not found (run tests/servers/services.sh install)"
[ -n "$PYTHON" ] || die "python3 not found (needed for the /slow/ upstream)"

if pid_alive "$D/nginx.pid" "nginx: master" && pid_alive "$D/slow.pid" slow-server.py; then
    echo "nginx: already running (pid $(cat "$D/nginx.pid"))"
    exit 0
fi
# half-running leftovers from an earlier failed start: clean up first
"$HERE/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true

for p in $HTTPS_PORT $HTTP_PORT $SLOW_PORT; do
    if port_in_use "$p"; then
        die "port 127.0.0.1:$p is already in use by another process: $(who_has_port "$p")"
    fi
done

"$HERE/../pki/make-ca.sh" "$STATE_DIR" >/dev/null

mkdir -p "$D/tmp"
# htpasswd (apr1) generated fresh at every start
printf '%s:%s\n' "$BASIC_USER" "$(openssl passwd -apr1 "$BASIC_PASSWORD")" >"$D/htpasswd"

USER_LINE=""
if [ "$(id -u)" = 0 ]; then
    # workers must read htpasswd and write tmp/ below STATE_DIR, which may not be
    # accessible to "nobody" -> run workers as root (loopback-only test server).
    USER_LINE="user root;"
fi

render() {
    sed -e "s|@NGINX_DIR@|$D|g" -e "s|@PKI_DIR@|$PKI|g" \
        -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@HAPI_PORT@|$HAPI_PORT|g" -e "s|@OIDC_CHECK_PORT@|$OIDC_CHECK_PORT|g" \
        -e "s|@SLOW_PORT@|$SLOW_PORT|g" -e "s|@USER_LINE@|$USER_LINE|g" "$1" >"$2"
}
render "$HERE/nginx.conf.template" "$D/nginx.conf"
render "$HERE/locations.conf.template" "$D/locations.conf"

# from here on, a failure must not leave a half-started instance behind
started=0
cleanup_on_failure() { [ "$started" = 1 ] || "$HERE/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true; }
trap cleanup_on_failure EXIT

# ---- slow upstream -------------------------------------------------------------
nohup setsid "$PYTHON" -u "$HERE/slow-server.py" "$SLOW_PORT" "$SLOW_DELAY" \
    >>"$D/slow.log" 2>&1 </dev/null &
echo $! >"$D/slow.pid"
wait_port "$SLOW_PORT" 10 || { tail -n 20 "$D/slow.log" >&2; die "slow-server did not listen on $SLOW_PORT"; }

# ---- nginx ---------------------------------------------------------------------
NGX=("$NGINX_BIN" -p "$D" -c "$D/nginx.conf" -e "$D/error.log")
if ! "${NGX[@]}" -t -q 2>"$D/config-test.log"; then
    cat "$D/config-test.log" >&2
    die "nginx configuration test failed"
fi
"${NGX[@]}" || { tail -n 20 "$D/error.log" >&2; die "nginx failed to start"; }

for p in $HTTPS_PORT $HTTP_PORT; do
    wait_port "$p" 10 || { tail -n 20 "$D/error.log" >&2; die "nginx is not listening on $p"; }
done
for _ in $(seq 50); do [ -s "$D/nginx.pid" ] && break; sleep 0.1; done

code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" \
    "https://127.0.0.1:$HTTPS_PORT/unavailable/" || true)
[ "$code" = 503 ] || { tail -n 20 "$D/error.log" >&2; die "self-check https://127.0.0.1:$HTTPS_PORT/unavailable/ returned '$code', expected 503"; }

started=1
echo "nginx: running (pid $(cat "$D/nginx.pid")) https://127.0.0.1:$HTTPS_PORT http://127.0.0.1:$HTTP_PORT; slow upstream pid $(cat "$D/slow.pid") on $SLOW_PORT"
