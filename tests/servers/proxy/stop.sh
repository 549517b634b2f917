#!/usr/bin/env bash
# Stop the tinyproxy instance started by start.sh (idempotent).
# Usage: tests/servers/proxy/stop.sh STATE_DIR
set -uo pipefail

STATE_DIR=${1:-${FHIR_SERVICES_DIR:-}}
[ -n "$STATE_DIR" ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
D="$STATE_DIR/proxy"
PIDFILE="$D/tinyproxy.pid"

[ -s "$PIDFILE" ] || { rm -f "$PIDFILE"; exit 0; }
PID=$(cat "$PIDFILE")
ours() {
    [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null | grep -q tinyproxy
}
if ours; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 100); do ours || break; sleep 0.1; done
    if ours; then
        echo "proxy: pid $PID ignored TERM, sending KILL" >&2
        kill -KILL "$PID" 2>/dev/null
        sleep 0.2
    fi
    echo "proxy: stopped (pid $PID)"
fi
rm -f "$PIDFILE"
exit 0
