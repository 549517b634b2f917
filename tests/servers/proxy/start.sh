#!/usr/bin/env bash
# Start a private tinyproxy instance (HTTP forward proxy) on 127.0.0.1:18888.
#
# Usage: tests/servers/proxy/start.sh STATE_DIR
#
# Allows clients from 127.0.0.1 only; CONNECT is allowed to port 18443 (nginx
# HTTPS) only.  Log: STATE_DIR/proxy/tinyproxy.log (LogLevel Info), pid file:
# STATE_DIR/proxy/tinyproxy.pid.  Idempotent: returns 0 if already running.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${1:-${FHIR_SERVICES_DIR:-}}
[ -n "$STATE_DIR" ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

PROXY_PORT=18888
CONNECT_PORT=18443
D="$STATE_DIR/proxy"
TINYPROXY=${TINYPROXY_BIN:-$(command -v tinyproxy || echo /usr/bin/tinyproxy)}

die() { echo "proxy: ERROR: $*" >&2; exit 1; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "tinyproxy.*$D/tinyproxy.conf"
}

[ -x "$TINYPROXY" ] || die "tinyproxy not found (run tests/servers/services.sh install)"

if pid_alive "$D/tinyproxy.pid" && port_in_use "$PROXY_PORT"; then
    echo "proxy: already running (pid $(cat "$D/tinyproxy.pid"))"
    exit 0
fi
"$HERE/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true

if port_in_use "$PROXY_PORT"; then
    die "port 127.0.0.1:$PROXY_PORT is already in use by another process: $(ss -ltnpH "sport = :$PROXY_PORT" 2>/dev/null)"
fi

mkdir -p "$D"
USER_LINES=""
# tinyproxy warns when no User is set and keeps the current user; that is what
# we want (the log/pid files live in STATE_DIR, which may not be writable by
# the "tinyproxy"/"nobody" user).
sed -e "s|@PROXY_DIR@|$D|g" -e "s|@PROXY_PORT@|$PROXY_PORT|g" \
    -e "s|@CONNECT_PORT@|$CONNECT_PORT|g" -e "s|@USER_LINES@|$USER_LINES|g" \
    "$HERE/tinyproxy.conf.template" >"$D/tinyproxy.conf"
rm -f "$D/tinyproxy.pid"

# -d: stay in the foreground (we background it ourselves); tinyproxy still
# writes its PidFile and LogFile.
nohup setsid "$TINYPROXY" -d -c "$D/tinyproxy.conf" >>"$D/stdout.log" 2>&1 </dev/null &
PID=$!

for _ in $(seq 100); do
    port_in_use "$PROXY_PORT" && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if ! port_in_use "$PROXY_PORT"; then
    tail -n 20 "$D/stdout.log" "$D/tinyproxy.log" >&2 2>/dev/null || true
    kill "$PID" 2>/dev/null || true
    die "tinyproxy did not start listening on $PROXY_PORT"
fi
echo "$PID" >"$D/tinyproxy.pid"
echo "proxy: running (pid $PID) http://127.0.0.1:$PROXY_PORT, log $D/tinyproxy.log"
