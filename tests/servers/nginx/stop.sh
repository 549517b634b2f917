#!/usr/bin/env bash
# Stop the nginx test front-end and its slow upstream started by start.sh.
# Usage: tests/servers/nginx/stop.sh STATE_DIR      (idempotent)
# Only the processes recorded in STATE_DIR/nginx/*.pid are signalled.
set -uo pipefail

STATE_DIR=${1:-${FHIR_SERVICES_DIR:-}}
[ -n "$STATE_DIR" ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
D="$STATE_DIR/nginx"

stop_pidfile() { # FILE CMDLINE-SUBSTRING LABEL
    local pid i
    [ -s "$1" ] || { rm -f "$1"; return 0; }
    pid=$(cat "$1")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$3: pid $pid did not exit after TERM, sending KILL" >&2
            # children first (nginx workers), then the process itself
            pkill -KILL -P "$pid" 2>/dev/null
            kill -KILL "$pid" 2>/dev/null
        fi
        echo "$3: stopped (pid $pid)"
    fi
    rm -f "$1"
}

stop_pidfile "$D/nginx.pid" "nginx: master" nginx
stop_pidfile "$D/slow.pid" slow-server.py slow-server
exit 0
