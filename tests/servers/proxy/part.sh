#!/usr/bin/env bash
# proxy: a private tinyproxy (HTTP forward proxy) at http://127.0.0.1:$FHIR_PROXY_PORT.
#
#   tests/servers/proxy/part.sh install|start|stop|status
#
# Clients from 127.0.0.1 only; CONNECT only to $FHIR_NGINX_HTTPS_PORT (nginx HTTPS). Renders
# tinyproxy.conf.template into STATE_DIR/proxy/tinyproxy.conf. Log: STATE_DIR/proxy/tinyproxy.log
# (LogLevel Info), pid file STATE_DIR/proxy/tinyproxy.pid.
set -euo pipefail
PART=proxy
LOG_TAG=$PART
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PART_PORTS=$FHIR_PROXY_PORT

HERE=$SERVERS_DIR/proxy
PROXY_DIR=$STATE_DIR/proxy
PIDFILE=$PROXY_DIR/tinyproxy.pid
TINYPROXY=$(command -v tinyproxy || echo /usr/bin/tinyproxy)

part_install() { [ -x "$TINYPROXY" ] || die "tinyproxy not found: run scripts/bootstrap.sh"; }

part_status() {
    if ! pid_alive "$PIDFILE" tinyproxy || ! port_in_use "$FHIR_PROXY_PORT"; then
        status_line down
        return 1
    fi
    status_line up "pid $(pid_of "$PIDFILE") http://127.0.0.1:$FHIR_PROXY_PORT log $PROXY_DIR/tinyproxy.log"
}

part_start() {
    part_install
    mkdir -p "$PROXY_DIR"
    render "$HERE/tinyproxy.conf.template" "$PROXY_DIR/tinyproxy.conf"
    # -d: stay in the foreground (spawn detaches it); tinyproxy still writes its LogFile. It
    # writes its PidFile too, with the same pid.
    spawn "$PROXY_DIR/stdout.log" "$PIDFILE" "$TINYPROXY" -d -c "$PROXY_DIR/tinyproxy.conf"
    if ! wait_for_port "$FHIR_PROXY_PORT" 10 "$(pid_of "$PIDFILE")"; then
        tail -n 20 "$PROXY_DIR/stdout.log" "$PROXY_DIR/tinyproxy.log" >&2
        part_stop
        die "tinyproxy did not listen on $FHIR_PROXY_PORT"
    fi
    log "running (pid $(pid_of "$PIDFILE")) http://127.0.0.1:$FHIR_PROXY_PORT, log $PROXY_DIR/tinyproxy.log"
}

part_stop() { kill_pidfile "$PIDFILE" tinyproxy tinyproxy; }

part_env() {
    write_env \
        "FHIR_PROXY_URL=http://127.0.0.1:$FHIR_PROXY_PORT" \
        "FHIR_PROXY_LOG=$PROXY_DIR/tinyproxy.log"
}

part_main "$@"
