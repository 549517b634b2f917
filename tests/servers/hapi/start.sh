#!/usr/bin/env bash
# Start a throw-away HAPI FHIR JPA server (FHIR R4, in-memory H2) on 127.0.0.1 for integration tests.
#
#   tests/servers/hapi/start.sh STATE_DIR [PORT]
#
# PORT defaults to $HAPI_PORT, else 18080. Base URL: http://127.0.0.1:PORT/fhir
# Writes STATE_DIR/hapi.log, STATE_DIR/hapi.pid, STATE_DIR/hapi.port.
# Builds the launcher on first use (Maven, ~/.m2 cache); rebuilds only when pom.xml/src (or the java
# version) change. Waits until GET /fhir/metadata answers, then prints the startup time.
#
# Env: HAPI_JAVA_OPTS      JVM options (replaces the defaults below)
#      HAPI_START_TIMEOUT  seconds to wait for readiness (default 300)
#      HAPI_CDS=0          disable the AppCDS class-data archive (faster starts after the first stop)
#      HAPI_MVN_OPTS       extra mvn arguments (e.g. -o, -Dmaven.repo.local=...)
#      JAVA_HOME           JDK to use (default: java on PATH)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 STATE_DIR [PORT]" >&2
	exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="$1"
PORT="${2:-${HAPI_PORT:-18080}}"
TIMEOUT="${HAPI_START_TIMEOUT:-300}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
JAVA_OPTS="${HAPI_JAVA_OPTS:--Xms128m -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dfile.encoding=UTF-8}"
BASE="http://127.0.0.1:${PORT}/fhir"

case "$PORT" in '' | *[!0-9]*) echo "start.sh: invalid port '$PORT'" >&2; exit 2 ;; esac
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
LOG="$STATE_DIR/hapi.log"
PIDFILE="$STATE_DIR/hapi.pid"

is_our_server() { # PID
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'fhirtest.hapi.HapiTestServer'
}

# ---- already running for this STATE_DIR? -------------------------------------------------
if [ -f "$PIDFILE" ]; then
	OLD_PID="$(cat "$PIDFILE" 2>/dev/null || true)"
	if is_our_server "$OLD_PID"; then
		OLD_PORT="$(cat "$STATE_DIR/hapi.port" 2>/dev/null || true)"
		if [ "$OLD_PORT" = "$PORT" ] && curl -sf -o /dev/null --max-time 5 "$BASE/metadata"; then
			echo "HAPI FHIR already running (pid $OLD_PID) at $BASE"
			exit 0
		fi
		echo "start.sh: a HAPI server (pid $OLD_PID, port ${OLD_PORT:-?}) already runs for $STATE_DIR; run stop.sh first" >&2
		exit 1
	fi
	rm -f "$PIDFILE"
fi

if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${PORT}/"; then
	echo "start.sh: port $PORT on 127.0.0.1 is already in use" >&2
	exit 1
fi

# ---- build (only if sources changed) ------------------------------------------------------
# Each build goes to its own target/dist/<stamp>/ so a rebuild never rewrites a jar that another
# running server instance still uses.
mkdir -p "$HERE/target"
STAMP="$(cd "$HERE" && { find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; "$JAVA" -version 2>&1; } |
	sha256sum | cut -c1-16)"
DIST="$HERE/target/dist/$STAMP"
(
	flock 9
	cd "$HERE"
	if [ ! -s "$DIST/launch.args" ]; then
		echo "Building HAPI launcher (the first build downloads dependencies into ~/.m2)..."
		t0=$(date +%s)
		# shellcheck disable=SC2086
		if ! mvn -B -q ${HAPI_MVN_OPTS:-} compile jar:jar dependency:build-classpath \
			-Dmdep.outputFile=target/classpath.txt >target/build.log 2>&1; then
			echo "start.sh: maven build failed (see $HERE/target/build.log):" >&2
			tail -40 target/build.log >&2
			exit 1
		fi
		rm -rf "$DIST.tmp"
		mkdir -p "$DIST.tmp"
		cp target/hapi-test-server.jar "$DIST.tmp/launcher.jar"
		# Java @argfile: keeps the long classpath off the command line.
		printf -- '-cp\n"%s:%s"\n' "$DIST/launcher.jar" "$(cat target/classpath.txt)" >"$DIST.tmp/launch.args"
		# Older builds are no longer needed (a running JVM keeps its already-open files).
		find target/dist -mindepth 1 -maxdepth 1 ! -name "$STAMP" ! -name "$STAMP.tmp" -exec rm -rf {} +
		mv "$DIST.tmp" "$DIST"
		echo "Build done in $(($(date +%s) - t0)) s"
	fi
) 9>"$HERE/target/.build.lock"

# ---- AppCDS: the first run dumps a class-data archive when it is stopped (stop.sh moves it into
# place); later runs map it, which cuts startup by roughly a third. -----------------------------
CDS_OPTS=""
rm -f "$STATE_DIR/hapi.cds"
if [ "${HAPI_CDS:-1}" != 0 ]; then
	if [ -s "$DIST/hapi.jsa" ]; then
		CDS_OPTS="-XX:SharedArchiveFile=$DIST/hapi.jsa -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"
	else
		PENDING="$DIST/hapi.jsa.$$.tmp"
		CDS_OPTS="-XX:ArchiveClassesAtExit=$PENDING -Xlog:cds=off -Xlog:cds+dynamic=off"
		echo "$PENDING" >"$STATE_DIR/hapi.cds"
	fi
fi

# ---- launch -------------------------------------------------------------------------------
START_NS=$(date +%s%N)
# shellcheck disable=SC2086
nohup "$JAVA" $JAVA_OPTS $CDS_OPTS "@$DIST/launch.args" fhirtest.hapi.HapiTestServer "$PORT" \
	>"$LOG" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$PIDFILE"
echo "$PORT" >"$STATE_DIR/hapi.port"

# ---- wait for readiness: poll /fhir/metadata ---------------------------------------------
while :; do
	if curl -sf -o /dev/null --max-time 5 "$BASE/metadata"; then
		ELAPSED_MS=$((($(date +%s%N) - START_NS) / 1000000))
		printf 'HAPI FHIR ready at %s (pid %s) after %d.%03d s\n' "$BASE" "$PID" \
			$((ELAPSED_MS / 1000)) $((ELAPSED_MS % 1000))
		exit 0
	fi
	if ! kill -0 "$PID" 2>/dev/null; then
		echo "start.sh: HAPI server process $PID exited during startup; last log lines:" >&2
		tail -60 "$LOG" >&2
		rm -f "$PIDFILE"
		exit 1
	fi
	if [ $((($(date +%s%N) - START_NS) / 1000000000)) -ge "$TIMEOUT" ]; then
		echo "start.sh: HAPI server not ready after ${TIMEOUT}s; last log lines:" >&2
		tail -60 "$LOG" >&2
		"$HERE/stop.sh" "$STATE_DIR" >&2 || true
		exit 1
	fi
	sleep 0.25
done
