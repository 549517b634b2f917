#!/usr/bin/env bash
# hapi: a throw-away HAPI FHIR JPA server (FHIR R4, in-memory H2) at
# http://127.0.0.1:$FHIR_HAPI_PORT/fhir.
#
#   tests/servers/hapi/part.sh install|start|stop|status
#
# install  builds the launcher with Maven (~/.m2 cache) into target/dist/<stamp>/; rebuilds only
#          when pom.xml/src (or the java version) change
# start    launches it (STATE_DIR/hapi/{hapi.log,hapi.pid}) and waits until GET /fhir/metadata
#          answers, then prints the startup time
# stop     TERM, wait, KILL; publishes the class-data archive a first run wrote at exit
#
# Env: HAPI_JAVA_OPTS      JVM options (replaces the defaults below)
#      HAPI_START_TIMEOUT  seconds to wait for readiness (default 300)
#      HAPI_STOP_TIMEOUT   seconds to wait after TERM (default 30; 120 while a first run still has
#                          to write its class-data archive, which takes ~15 s)
#      HAPI_CDS=0          disable the AppCDS class-data archive
#      HAPI_MVN_OPTS       extra mvn arguments (e.g. -o, -Dmaven.repo.local=...)
#      JAVA_HOME           JDK to use (default: java on PATH)
set -euo pipefail
PART=hapi
LOG_TAG=$PART
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PART_PORTS=$FHIR_HAPI_PORT

HERE=$SERVERS_DIR/hapi
D=$STATE_DIR/hapi
LOG=$D/hapi.log
PIDFILE=$D/hapi.pid
CDSFILE=$D/hapi.cds
BASE=http://127.0.0.1:$FHIR_HAPI_PORT/fhir
MATCH=fhirtest.hapi.HapiTestServer
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
JAVA_OPTS=${HAPI_JAVA_OPTS:--Xms128m -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dfile.encoding=UTF-8}

# dist_dir: where the build of the current sources goes (target/dist/<stamp>)
dist_dir() {
    local stamp
    stamp=$(cd "$HERE" && {
        find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        "$JAVA" -version 2>&1
    } | sha256sum | cut -c1-16)
    echo "$HERE/target/dist/$stamp"
}

# Each build goes to its own target/dist/<stamp>/ so a rebuild never rewrites a jar that another
# running server instance still uses.
part_install() {
    local dist t0
    command -v mvn >/dev/null || die "mvn not found: run scripts/bootstrap.sh"
    dist=$(dist_dir)
    mkdir -p "$HERE/target"
    (
        flock 9
        cd "$HERE"
        [ ! -s "$dist/launch.args" ] || exit 0
        log "building the HAPI launcher (the first build downloads dependencies into ~/.m2)"
        t0=$(now)
        # shellcheck disable=SC2086  # HAPI_MVN_OPTS is a list of arguments
        if ! mvn -B -q ${HAPI_MVN_OPTS:-} compile jar:jar dependency:build-classpath \
            -Dmdep.outputFile=target/classpath.txt >target/build.log 2>&1; then
            tail -40 target/build.log >&2
            die "maven build failed (see $HERE/target/build.log)"
        fi
        rm -rf "$dist.tmp"
        mkdir -p "$dist.tmp"
        cp target/hapi-test-server.jar "$dist.tmp/launcher.jar"
        # Java @argfile: keeps the long classpath off the command line.
        printf -- '-cp\n"%s:%s"\n' "$dist/launcher.jar" "$(cat target/classpath.txt)" >"$dist.tmp/launch.args"
        # Older builds are no longer needed (a running JVM keeps its already-open files).
        find target/dist -mindepth 1 -maxdepth 1 ! -name "$(basename "$dist")" ! -name "$(basename "$dist").tmp" -exec rm -rf {} +
        mv "$dist.tmp" "$dist"
        log "build done in $(elapsed "$t0") s"
    ) 9>"$HERE/target/.build.lock"
}

part_status() {
    local code
    if ! pid_alive "$PIDFILE" "$MATCH"; then
        status_line down
        return 1
    fi
    code=$(http_code "$BASE/metadata?_summary=true")
    status_line up "pid $(pid_of "$PIDFILE") $BASE (metadata $code)"
    [ "$code" = 200 ]
}

part_start() {
    local dist cds_opts=() pending pid t0
    dist=$(dist_dir)
    [ -s "$dist/launch.args" ] || die "the launcher for these sources is not built: run tests/servers/services.sh install"
    mkdir -p "$D"
    # AppCDS: the first run dumps a class-data archive when it is stopped (part_stop moves it into
    # place); later runs map it, which cuts startup by roughly a third.
    rm -f "$CDSFILE"
    if [ "${HAPI_CDS:-1}" != 0 ]; then
        if [ -s "$dist/hapi.jsa" ]; then
            cds_opts=("-XX:SharedArchiveFile=$dist/hapi.jsa" -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off)
        else
            pending=$dist/hapi.jsa.$$.tmp
            cds_opts=("-XX:ArchiveClassesAtExit=$pending" -Xlog:cds=off -Xlog:cds+dynamic=off)
            echo "$pending" >"$CDSFILE"
        fi
    fi
    t0=$(now)
    : >"$LOG"
    # shellcheck disable=SC2086  # JAVA_OPTS is a list of arguments
    spawn "$LOG" "$PIDFILE" "$JAVA" $JAVA_OPTS "${cds_opts[@]}" "@$dist/launch.args" "$MATCH" "$FHIR_HAPI_PORT"
    pid=$(pid_of "$PIDFILE")
    if ! wait_for_http "$BASE/metadata" "${HAPI_START_TIMEOUT:-300}" "$pid"; then
        tail -60 "$LOG" >&2
        part_stop
        die "HAPI FHIR did not answer $BASE/metadata (pid $pid; log above: $LOG)"
    fi
    log "HAPI FHIR ready at $BASE (pid $pid) after $(elapsed "$t0") s"
}

# A first run (no class-data archive yet) writes one at JVM exit; publish it if complete.
finish_cds() { # CLEAN-EXIT(yes|no)
    local pending
    [ -f "$CDSFILE" ] || return 0
    pending=$(cat "$CDSFILE")
    if [ -n "$pending" ] && [ -s "$pending" ]; then
        if [ "$1" = yes ]; then mv -f "$pending" "${pending%.*.tmp}"; else rm -f "$pending"; fi
    fi
    rm -f "$CDSFILE"
}

part_stop() {
    local limit=${HAPI_STOP_TIMEOUT:-30} clean=no
    [ ! -f "$CDSFILE" ] || limit=${HAPI_STOP_TIMEOUT:-120}
    ! pid_alive "$PIDFILE" "$MATCH" || clean=yes
    kill_pidfile "$PIDFILE" "$MATCH" "HAPI FHIR" "$limit"
    [ "$KILLED" = 0 ] || clean=no
    finish_cds "$clean"
}

part_env() { write_env "FHIR_HAPI_URL=$BASE"; }

part_main "$@"
