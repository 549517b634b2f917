#!/usr/bin/env bash
# Stop the HAPI FHIR test server started by start.sh. Idempotent.
#
#   tests/servers/hapi/stop.sh STATE_DIR
#
# Sends TERM, waits up to $HAPI_STOP_TIMEOUT seconds (default 30; 120 while a first run still has to
# write its class-data archive at exit, which takes ~15 s), then KILL.
set -uo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 STATE_DIR" >&2
	exit 2
fi
STATE_DIR="$1"
PIDFILE="$STATE_DIR/hapi.pid"
CDSFILE="$STATE_DIR/hapi.cds"
if [ -f "$CDSFILE" ]; then
	TIMEOUT="${HAPI_STOP_TIMEOUT:-120}"
else
	TIMEOUT="${HAPI_STOP_TIMEOUT:-30}"
fi

# A first run (no class-data archive yet) writes one at JVM exit; publish it if complete.
finish_cds() { # clean-exit?
	[ -f "$CDSFILE" ] || return 0
	local pending
	pending="$(cat "$CDSFILE" 2>/dev/null || true)"
	if [ -n "$pending" ] && [ -s "$pending" ]; then
		if [ "$1" = yes ]; then
			mv -f "$pending" "${pending%.*.tmp}"
		else
			rm -f "$pending"
		fi
	fi
	rm -f "$CDSFILE"
}

if [ ! -f "$PIDFILE" ]; then
	echo "HAPI FHIR not running (no $PIDFILE)"
	finish_cds no
	exit 0
fi
PID="$(cat "$PIDFILE" 2>/dev/null || true)"

is_our_server() {
	[ -n "$PID" ] && kill -0 "$PID" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null | grep -q 'fhirtest.hapi.HapiTestServer'
}

if ! is_our_server; then
	echo "HAPI FHIR not running (stale pid ${PID:-?})"
	rm -f "$PIDFILE"
	finish_cds no
	exit 0
fi

kill -TERM "$PID" 2>/dev/null
deadline=$(($(date +%s) + TIMEOUT))
while is_our_server && [ "$(date +%s)" -lt "$deadline" ]; do
	sleep 0.2
done
clean=yes
if is_our_server; then
	echo "HAPI FHIR (pid $PID) did not stop after ${TIMEOUT}s; sending KILL" >&2
	clean=no
	kill -KILL "$PID" 2>/dev/null
	for _ in $(seq 1 50); do
		is_our_server || break
		sleep 0.1
	done
fi
if is_our_server; then
	echo "stop.sh: failed to stop pid $PID" >&2
	exit 1
fi
rm -f "$PIDFILE"
finish_cds "$clean"
echo "HAPI FHIR stopped (pid $PID)"
