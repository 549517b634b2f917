#!/usr/bin/env bash
# nginx: the TLS / auth front-end of HAPI, as its own master process (not the system service).
#
#   tests/servers/nginx/part.sh install|start|stop|status
#
#   https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT  server cert from STATE_DIR/pki, optional client certs
#   http://127.0.0.1:$FHIR_NGINX_HTTP_PORT    same locations except /mtls
#   http://127.0.0.1:$FHIR_NGINX_FILES_PORT   bulk export files of /oidcfiles/fhir (refuses Authorization)
#   slow-server.py on 127.0.0.1:$FHIR_SLOW_PORT, upstream of /slow
#
# `start` also starts the pki part (nginx needs its certificates) and renders nginx.conf.template
# and locations.conf.template into STATE_DIR/nginx. Runtime files: STATE_DIR/nginx/{nginx.conf,
# locations.conf,htpasswd,nginx.pid,access.log,error.log,slow.pid,slow.log,tmp/}.
# Env: FHIR_SLOW_DELAY (seconds the slow upstream waits, default 3)
set -euo pipefail
PART=nginx
LOG_TAG=$PART
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PART_PORTS="$FHIR_NGINX_HTTPS_PORT $FHIR_NGINX_HTTP_PORT $FHIR_NGINX_FILES_PORT $FHIR_SLOW_PORT"

HERE=$SERVERS_DIR/nginx
NGINX_DIR=$STATE_DIR/nginx
PKI_DIR=$STATE_DIR/pki
BASIC_USER=fhir-user
BASIC_PASSWORD=fhir-pass
STATIC_TOKEN=static-test-token
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
PROBE=https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT/unavailable/

part_install() {
    [ -x "$NGINX_BIN" ] || die "nginx not found: run scripts/bootstrap.sh"
    command -v python3 >/dev/null || die "python3 not found: run scripts/bootstrap.sh"
    "$NGINX_BIN" -V 2>&1 | grep -q -- '--with-http_auth_request_module' ||
        die "$NGINX_BIN lacks the http_auth_request module"
}

part_status() {
    local code
    if ! pid_alive "$NGINX_DIR/nginx.pid" 'nginx: master' || ! pid_alive "$NGINX_DIR/slow.pid" slow-server.py; then
        status_line down
        return 1
    fi
    code=$(http_code "$PROBE" --cacert "$PKI_DIR/ca.pem")
    status_line up "pid $(pid_of "$NGINX_DIR/nginx.pid") https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT" \
        "http://127.0.0.1:$FHIR_NGINX_HTTP_PORT (probe /unavailable/ -> $code)"
    [ "$code" = 503 ]
}

part_start() {
    local nginx=("$NGINX_BIN" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log") p code
    part_install
    "$SERVERS_DIR/pki/part.sh" start
    mkdir -p "$NGINX_DIR/tmp"
    # htpasswd (apr1) generated fresh at every start
    printf '%s:%s\n' "$BASIC_USER" "$(openssl passwd -apr1 "$BASIC_PASSWORD")" >"$NGINX_DIR/htpasswd"
    # Workers must read htpasswd and write tmp/ below STATE_DIR, which may not be accessible to
    # "nobody": when started by root they run as root (loopback-only test server).
    # shellcheck disable=SC2034  # read by render
    USER_LINE=""
    # shellcheck disable=SC2034  # read by render
    [ "$(id -u)" != 0 ] || USER_LINE="user root;"
    # shellcheck disable=SC2034  # read by render: the provider's token endpoint, for /smart/fhir
    SMART_TOKEN_URL="http://127.0.0.1:$FHIR_OIDC_PORT/token"
    render "$HERE/nginx.conf.template" "$NGINX_DIR/nginx.conf"
    render "$HERE/locations.conf.template" "$NGINX_DIR/locations.conf"

    spawn "$NGINX_DIR/slow.log" "$NGINX_DIR/slow.pid" python3 -u "$HERE/slow-server.py" "$FHIR_SLOW_PORT" "${FHIR_SLOW_DELAY:-3}"
    if ! wait_for_port "$FHIR_SLOW_PORT" 10 "$(pid_of "$NGINX_DIR/slow.pid")"; then
        tail -n 20 "$NGINX_DIR/slow.log" >&2
        part_stop
        die "slow-server did not listen on $FHIR_SLOW_PORT"
    fi
    if ! "${nginx[@]}" -t -q 2>"$NGINX_DIR/config-test.log"; then
        cat "$NGINX_DIR/config-test.log" >&2
        part_stop
        die "nginx configuration test failed"
    fi
    if ! "${nginx[@]}"; then
        tail -n 20 "$NGINX_DIR/error.log" >&2
        part_stop
        die "nginx failed to start"
    fi
    for p in "$FHIR_NGINX_HTTPS_PORT" "$FHIR_NGINX_HTTP_PORT" "$FHIR_NGINX_FILES_PORT"; do
        if ! wait_for_port "$p" 10; then
            tail -n 20 "$NGINX_DIR/error.log" >&2
            part_stop
            die "nginx is not listening on $p"
        fi
    done
    code=$(http_code "$PROBE" --cacert "$PKI_DIR/ca.pem")
    if [ "$code" != 503 ]; then
        tail -n 20 "$NGINX_DIR/error.log" >&2
        part_stop
        die "self-check $PROBE returned '$code', expected 503"
    fi
    log "running (pid $(pid_of "$NGINX_DIR/nginx.pid")) https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT" \
        "http://127.0.0.1:$FHIR_NGINX_HTTP_PORT; slow upstream on $FHIR_SLOW_PORT"
}

part_stop() {
    local ok=0
    kill_pidfile "$NGINX_DIR/nginx.pid" 'nginx: master' 'nginx master' || ok=1
    kill_pidfile "$NGINX_DIR/slow.pid" slow-server.py slow-server || ok=1
    return $ok
}

part_env() {
    local https=https://127.0.0.1:$FHIR_NGINX_HTTPS_PORT
    write_env \
        "FHIR_NGINX_HTTPS=$https" \
        "FHIR_NGINX_HTTP=http://127.0.0.1:$FHIR_NGINX_HTTP_PORT" \
        "FHIR_NGINX_FILES=http://127.0.0.1:$FHIR_NGINX_FILES_PORT" \
        "FHIR_NGINX_ACCESS_LOG=$NGINX_DIR/access.log" \
        "FHIR_NGINX_ERROR_LOG=$NGINX_DIR/error.log" \
        "FHIR_BASIC_USER=$BASIC_USER" \
        "FHIR_BASIC_PASSWORD=$BASIC_PASSWORD" \
        "FHIR_STATIC_TOKEN=$STATIC_TOKEN" \
        "FHIR_SLOW_URL=$https/slow/" \
        "FHIR_UNAVAILABLE_URL=$https/unavailable/fhir"
}

part_main "$@"
