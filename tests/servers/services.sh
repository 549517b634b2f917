#!/usr/bin/env bash
# Orchestrator for the FHIR client integration-test services (all on 127.0.0.1).
#
#   tests/servers/services.sh install
#   tests/servers/services.sh start  [SERVICE...]   default: pki oidc hapi nginx proxy
#   tests/servers/services.sh stop   [SERVICE...]   default: all, in reverse order
#   tests/servers/services.sh status
#   tests/servers/services.sh env                   print the path of services.env
#
# SERVICE is one of: pki oidc hapi nginx proxy   (nginx implies pki)
#
# Runtime state goes to $FHIR_SERVICES_DIR (default: <repo>/target/services).
# After `start`, source STATE_DIR/services.env for the URLs, credentials, CA and
# client-cert paths and log files (see tests/servers/README.md).
#
# Env knobs:
#   FHIR_SERVICES_DIR          state directory
#   FHIR_HAPI_START_TIMEOUT    outer limit (s) for hapi/start.sh incl. a first Maven build (default 1800)
#   FHIR_OIDC_START_TIMEOUT    outer limit (s) for oidc/start.sh (default 300)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE_DIR=${FHIR_SERVICES_DIR:-$REPO/target/services}

ALL_SERVICES="pki oidc hapi nginx proxy"

# Debian bookworm versions this harness was written and verified against.
NGINX_VERSION=1.22.1-9+deb12u11
TINYPROXY_VERSION=1.11.1-2.1+deb12u1

HAPI_PORT=18080
OIDC_PORT=18090
OIDC_CHECK_PORT=18091
NGINX_HTTPS_PORT=18443
NGINX_HTTP_PORT=18081
SLOW_PORT=18082
PROXY_PORT=18888

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
who_has_port() { ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/  */ /g' || true; }

# pid_alive PIDFILE REGEX -> 0 if the pid in PIDFILE runs and its cmdline matches REGEX
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq -- "$2"
}

# pid files the oidc part may write (its layout is owned by tests/servers/oidc)
oidc_pidfiles() {
    local f
    for f in "$STATE_DIR"/oidc*.pid "$STATE_DIR"/oidc/*.pid; do
        [ -e "$f" ] && echo "$f"
    done
}
oidc_running() {
    local f
    for f in $(oidc_pidfiles); do pid_alive "$f" 'node' && return 0; done
    return 1
}

service_running() {
    case "$1" in
        pki) [ -s "$STATE_DIR/pki/ca.pem" ] ;;
        hapi) pid_alive "$STATE_DIR/hapi.pid" 'java' ;;
        oidc) oidc_running ;;
        nginx) pid_alive "$STATE_DIR/nginx/nginx.pid" 'nginx: master' ;;
        proxy) pid_alive "$STATE_DIR/proxy/tinyproxy.pid" 'tinyproxy' ;;
    esac
}

service_ports() {
    case "$1" in
        hapi) echo "$HAPI_PORT" ;;
        oidc) echo "$OIDC_PORT $OIDC_CHECK_PORT" ;;
        nginx) echo "$NGINX_HTTPS_PORT $NGINX_HTTP_PORT $SLOW_PORT" ;;
        proxy) echo "$PROXY_PORT" ;;
    esac
}

service_logs() {
    case "$1" in
        pki) ;;
        hapi) echo "$STATE_DIR/hapi.log" ;;
        oidc) ls "$STATE_DIR"/oidc*.log "$STATE_DIR"/gateway.log "$STATE_DIR"/oidc/*.log 2>/dev/null ;;
        nginx) echo "$STATE_DIR/nginx/error.log $STATE_DIR/nginx/slow.log" ;;
        proxy) echo "$STATE_DIR/proxy/tinyproxy.log $STATE_DIR/proxy/stdout.log" ;;
    esac
}

# ----------------------------------------------------------------------------- install
pkg_installed() { # PKG -> prints version if installed
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 == "installed" { print $2; found = 1 } END { exit !found }'
}

cmd_install() {
    local t0 want=() pkg ver have cand apt_updated=0 created_policy=0 installed_service_pkgs=0
    t0=$(now)
    # package=pinned-version ("" = any version is fine, install the candidate)
    local spec="nginx=$NGINX_VERSION nginx-common=$NGINX_VERSION tinyproxy=$TINYPROXY_VERSION
tinyproxy-bin=$TINYPROXY_VERSION openssl= curl= python3= iproute2="
    for item in $spec; do
        pkg=${item%%=*}
        ver=${item#*=}
        if have=$(pkg_installed "$pkg"); then
            if [ -n "$ver" ] && [ "$have" != "$ver" ]; then
                log "note: $pkg $have installed (harness verified with $ver); keeping it"
            fi
            continue
        fi
        want+=("$pkg" "$ver")
    done

    if [ ${#want[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "need root to apt-get install missing packages: ${want[*]}"
        log "apt-get update (missing packages)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
        apt_updated=1
        local args=() i
        for ((i = 0; i < ${#want[@]}; i += 2)); do
            pkg=${want[i]}
            ver=${want[i + 1]}
            case "$pkg" in nginx* | tinyproxy*) installed_service_pkgs=1 ;; esac
            if [ -n "$ver" ]; then
                cand=$(apt-cache madison "$pkg" 2>/dev/null | awk -F' *\\| *' -v v="$ver" '$2 == v { print $2; exit }')
                if [ -z "$cand" ]; then
                    log "WARNING: $pkg=$ver is no longer offered by the apt sources; installing the current candidate"
                    args+=("$pkg")
                else
                    args+=("$pkg=$ver")
                fi
            else
                args+=("$pkg")
            fi
        done
        # Do not let the packages' maintainer scripts start system nginx/tinyproxy.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        log "apt-get install ${args[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${args[@]}"
        local rc=$?
        [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
        [ $rc = 0 ] || die "apt-get install failed"
    fi

    if [ "$installed_service_pkgs" = 1 ]; then
        # We run our own instances; make sure no system service got started/enabled.
        local svc
        for svc in nginx tinyproxy; do
            if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
                systemctl disable --now "$svc" >/dev/null 2>&1 || true
            elif [ -x "/etc/init.d/$svc" ] &&
                { pid_alive /run/nginx.pid nginx || pid_alive /run/tinyproxy/tinyproxy.pid tinyproxy; }; then
                "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
            fi
        done
    fi

    # nginx must provide the modules the config relies on
    nginx -V 2>&1 | grep -q -- '--with-http_auth_request_module' ||
        die "installed nginx lacks http_auth_request"

    local part
    for part in oidc hapi; do
        if [ -x "$HERE/$part/install.sh" ] || [ -f "$HERE/$part/install.sh" ]; then
            log "running tests/servers/$part/install.sh"
            bash "$HERE/$part/install.sh" || die "tests/servers/$part/install.sh failed"
        fi
    done
    log "install: nginx $(pkg_installed nginx), tinyproxy $(pkg_installed tinyproxy-bin), openssl $(pkg_installed openssl), curl $(pkg_installed curl) ($(elapsed "$t0") s$([ $apt_updated = 1 ] && echo ', ran apt'))"
}

# ----------------------------------------------------------------------------- start
write_env() {
    local envf="$STATE_DIR/services.env" tmp pki="$STATE_DIR/pki"
    tmp=$(mktemp "$STATE_DIR/.services.env.XXXXXX")
    q() { printf "export %s='%s'\n" "$1" "$(printf '%s' "$2" | sed "s/'/'\\\\''/g")"; }
    {
        echo "# generated by tests/servers/services.sh start — $(date -u +%FT%TZ)"
        q FHIR_SERVICES_DIR "$STATE_DIR"
        q FHIR_HAPI_URL "http://127.0.0.1:$HAPI_PORT/fhir"
        q FHIR_NGINX_HTTPS "https://127.0.0.1:$NGINX_HTTPS_PORT"
        q FHIR_NGINX_HTTP "http://127.0.0.1:$NGINX_HTTP_PORT"
        q FHIR_TEST_CA "$pki/ca.pem"
        q FHIR_TEST_OTHER_CA "$pki/other-ca.pem"
        q FHIR_TEST_CLIENT_CERT "$pki/client.pem"
        q FHIR_TEST_CLIENT_KEY "$pki/client.key"
        q FHIR_TEST_CLIENT_BUNDLE "$pki/client-bundle.pem"
        q FHIR_TEST_CLIENT_P12 "$pki/client.p12"
        q FHIR_TEST_CLIENT_P12_PASSWORD changeit
        q FHIR_TEST_OTHER_CLIENT_CERT "$pki/other-client.pem"
        q FHIR_TEST_OTHER_CLIENT_KEY "$pki/other-client.key"
        q FHIR_TEST_OTHER_CLIENT_BUNDLE "$pki/other-client-bundle.pem"
        q FHIR_NGINX_ACCESS_LOG "$STATE_DIR/nginx/access.log"
        q FHIR_NGINX_ERROR_LOG "$STATE_DIR/nginx/error.log"
        q FHIR_PROXY_URL "http://127.0.0.1:$PROXY_PORT"
        q FHIR_PROXY_LOG "$STATE_DIR/proxy/tinyproxy.log"
        q FHIR_BASIC_USER fhir-user
        q FHIR_BASIC_PASSWORD fhir-pass
        q FHIR_STATIC_TOKEN static-test-token
        q FHIR_SLOW_URL "https://127.0.0.1:$NGINX_HTTPS_PORT/slow/"
        q FHIR_UNAVAILABLE_URL "https://127.0.0.1:$NGINX_HTTPS_PORT/unavailable/fhir"
        if [ -s "$STATE_DIR/oidc.env" ]; then
            echo "# ---- from $STATE_DIR/oidc.env"
            cat "$STATE_DIR/oidc.env"
            echo
            # make sure everything defined there is exported, whatever its style
            sed -nE 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=.*/export \2/p' "$STATE_DIR/oidc.env"
        fi
    } >"$tmp"
    mv -f "$tmp" "$envf"
}

print_failure() { # SERVICE STARTLOG
    echo "========== $1 FAILED — start output ($2) ==========" >&2
    tail -n 40 "$2" >&2 2>/dev/null
    local f
    for f in $(service_logs "$1"); do
        [ -s "$f" ] || continue
        echo "---------- tail of $f ----------" >&2
        tail -n 40 "$f" >&2
    done
}

cmd_start() {
    local requested=("$@") svcs=() s t0 failed=()
    # shellcheck disable=SC2206  # intentional word splitting
    [ ${#requested[@]} -gt 0 ] || requested=($ALL_SERVICES)
    for s in "${requested[@]}"; do
        case " $ALL_SERVICES " in *" $s "*) ;; *) die "unknown service '$s' (known: $ALL_SERVICES)" ;; esac
    done
    # keep canonical order; nginx needs pki
    for s in $ALL_SERVICES; do
        case " ${requested[*]} " in *" $s "*) svcs+=("$s") ;; *)
            [ "$s" = pki ] && case " ${requested[*]} " in *" nginx "*) svcs+=(pki) ;; esac ;;
        esac
    done
    has() { case " ${svcs[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

    if has oidc && [ ! -f "$HERE/oidc/start.sh" ]; then
        if [ $# -gt 0 ]; then die "oidc requested but tests/servers/oidc/start.sh does not exist"; fi
        log "note: tests/servers/oidc/start.sh not present — skipping oidc"
        # shellcheck disable=SC2206  # drops the emptied element
        svcs=(${svcs[@]/oidc/})
    fi
    if has hapi && [ ! -f "$HERE/hapi/start.sh" ]; then
        die "tests/servers/hapi/start.sh does not exist"
    fi
    for tool in openssl curl; do command -v "$tool" >/dev/null || die "$tool missing: run $0 install"; done
    if has nginx; then command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx missing: run $0 install"; fi
    if has proxy; then command -v tinyproxy >/dev/null || die "tinyproxy missing: run $0 install"; fi

    mkdir -p "$STATE_DIR/logs" || die "cannot create $STATE_DIR"
    STATE_DIR=$(cd "$STATE_DIR" && pwd)
    export FHIR_SERVICES_DIR="$STATE_DIR"

    # ---- free-port check (services of ours that already run are left alone) ----
    local busy=() p already=()
    for s in "${svcs[@]}"; do
        if [ "$s" != pki ] && service_running "$s"; then
            already+=("$s")
            continue
        fi
        for p in $(service_ports "$s"); do
            if port_in_use "$p"; then
                busy+=("127.0.0.1:$p (needed by $s) is in use: $(who_has_port "$p")")
            fi
        done
    done
    if [ ${#busy[@]} -gt 0 ]; then
        printf 'services: ERROR: port already taken: %s\n' "${busy[@]}" >&2
        die "free the port(s) above (or run '$0 stop' if they are ours from another STATE_DIR)"
    fi

    # services of ours that already run for this STATE_DIR are not started again
    if [ ${#already[@]} -gt 0 ]; then
        log "already running (left as is): ${already[*]}"
        local keep=()
        for s in "${svcs[@]}"; do
            case " ${already[*]} " in *" $s "*) ;; *) keep+=("$s") ;; esac
        done
        svcs=("${keep[@]}")
    fi
    log "state dir: $STATE_DIR; starting: ${svcs[*]:-(nothing)}"
    local T0 hapi_pid="" oidc_pid="" hapi_t0 oidc_t0 rc
    T0=$(now)

    # ---- HAPI first, in the background (slow) ----
    if has hapi; then
        hapi_t0=$(now)
        (timeout --kill-after=10 "${FHIR_HAPI_START_TIMEOUT:-1800}" \
            bash "$HERE/hapi/start.sh" "$STATE_DIR") >"$STATE_DIR/logs/hapi-start.log" 2>&1 </dev/null &
        hapi_pid=$!
    fi
    # ---- OIDC, also in the background ----
    if has oidc; then
        oidc_t0=$(now)
        (timeout --kill-after=10 "${FHIR_OIDC_START_TIMEOUT:-300}" \
            bash "$HERE/oidc/start.sh" "$STATE_DIR") >"$STATE_DIR/logs/oidc-start.log" 2>&1 </dev/null &
        oidc_pid=$!
    fi
    # ---- quick ones in the foreground ----
    for s in pki nginx proxy; do
        has "$s" || continue
        t0=$(now)
        case "$s" in
            pki) bash "$HERE/pki/make-ca.sh" "$STATE_DIR" >"$STATE_DIR/logs/pki-start.log" 2>&1 ;;
            nginx) bash "$HERE/nginx/start.sh" "$STATE_DIR" >"$STATE_DIR/logs/nginx-start.log" 2>&1 ;;
            proxy) bash "$HERE/proxy/start.sh" "$STATE_DIR" >"$STATE_DIR/logs/proxy-start.log" 2>&1 ;;
        esac
        rc=$?
        if [ $rc = 0 ]; then
            log "$s: up ($(elapsed "$t0") s)"
        else
            failed+=("$s")
            print_failure "$s" "$STATE_DIR/logs/$s-start.log"
        fi
    done
    if [ -n "$oidc_pid" ]; then
        wait "$oidc_pid"
        rc=$?
        if [ $rc = 0 ]; then log "oidc: up ($(elapsed "$oidc_t0") s)"; else
            failed+=(oidc)
            [ $rc = 124 ] && log "oidc: start.sh timed out"
            print_failure oidc "$STATE_DIR/logs/oidc-start.log"
        fi
    fi
    if [ -n "$hapi_pid" ]; then
        log "hapi: waiting for HAPI FHIR (first start builds it; may take minutes)…"
        wait "$hapi_pid"
        rc=$?
        if [ $rc = 0 ]; then log "hapi: up ($(elapsed "$hapi_t0") s)"; else
            failed+=(hapi)
            if [ $rc = 124 ] || [ $rc = 137 ]; then
                log "hapi: start.sh timed out after ${FHIR_HAPI_START_TIMEOUT:-1800} s"
                bash "$HERE/hapi/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true
            fi
            print_failure hapi "$STATE_DIR/logs/hapi-start.log"
        fi
    fi

    write_env
    if [ ${#failed[@]} -gt 0 ]; then
        log "FAILED to start: ${failed[*]} (others left running; '$0 stop' cleans up)"
        exit 1
    fi
    log "all requested services up in $(elapsed "$T0") s; env: $STATE_DIR/services.env"
}

# ----------------------------------------------------------------------------- stop
kill_pidfile() { # PIDFILE REGEX LABEL — safety net after a part's stop.sh
    local pid
    pid_alive "$1" "$2" || return 0
    pid=$(tr -dc '0-9' <"$1")
    log "$3: pid $pid still alive after stop.sh, sending TERM"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; sleep 0.2; fi
    kill -0 "$pid" 2>/dev/null && return 1
    rm -f "$1"
    return 0
}

cmd_stop() {
    local requested=("$@") s ok=1 f all=0
    # shellcheck disable=SC2206  # intentional word splitting
    [ ${#requested[@]} -gt 0 ] || { requested=($ALL_SERVICES); all=1; }
    [ -d "$STATE_DIR" ] || { log "nothing to stop ($STATE_DIR does not exist)"; return 0; }
    for s in proxy nginx hapi oidc; do
        case " ${requested[*]} " in *" $s "*) ;; *) continue ;; esac
        case "$s" in
            proxy)
                bash "$HERE/proxy/stop.sh" "$STATE_DIR" >&2
                kill_pidfile "$STATE_DIR/proxy/tinyproxy.pid" tinyproxy proxy || ok=0
                ;;
            nginx)
                bash "$HERE/nginx/stop.sh" "$STATE_DIR" >&2
                kill_pidfile "$STATE_DIR/nginx/nginx.pid" 'nginx: master' nginx || ok=0
                kill_pidfile "$STATE_DIR/nginx/slow.pid" slow-server.py slow-server || ok=0
                ;;
            hapi)
                [ -f "$HERE/hapi/stop.sh" ] && bash "$HERE/hapi/stop.sh" "$STATE_DIR" >&2
                kill_pidfile "$STATE_DIR/hapi.pid" java hapi || ok=0
                ;;
            oidc)
                [ -f "$HERE/oidc/stop.sh" ] && bash "$HERE/oidc/stop.sh" "$STATE_DIR" >&2
                for f in $(oidc_pidfiles); do kill_pidfile "$f" node oidc || ok=0; done
                ;;
        esac
    done
    [ $all = 1 ] && rm -f "$STATE_DIR/services.env"
    [ $ok = 1 ] || die "some processes could not be stopped"
    log "stopped: ${requested[*]/pki/} (pki files are kept)"
}

# ----------------------------------------------------------------------------- status
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" 2>/dev/null || true; }

cmd_status() {
    local all_up=1 pid code
    if [ -s "$STATE_DIR/pki/ca.pem" ] && [ -s "$STATE_DIR/pki/client.key" ]; then
        printf '%-6s %-5s %s\n' pki ok "$STATE_DIR/pki"
    else
        printf '%-6s %-5s %s\n' pki absent "$STATE_DIR/pki"; all_up=0
    fi

    if service_running hapi; then
        code=$(http_code "http://127.0.0.1:$HAPI_PORT/fhir/metadata?_summary=true")
        printf '%-6s %-5s pid %s http://127.0.0.1:%s/fhir (metadata %s)\n' hapi up "$(cat "$STATE_DIR/hapi.pid")" "$HAPI_PORT" "$code"
        [ "$code" = 200 ] || all_up=0
    else
        printf '%-6s %-5s\n' hapi down; all_up=0
    fi

    if [ ! -f "$HERE/oidc/start.sh" ]; then
        printf '%-6s %-5s (tests/servers/oidc/start.sh not present)\n' oidc n/a
    elif service_running oidc; then
        code=$(http_code "http://127.0.0.1:$OIDC_PORT/.well-known/openid-configuration")
        printf '%-6s %-5s http://127.0.0.1:%s (discovery %s), check http://127.0.0.1:%s/check\n' oidc up "$OIDC_PORT" "$code" "$OIDC_CHECK_PORT"
        [ "$code" = 200 ] || all_up=0
    else
        printf '%-6s %-5s\n' oidc down; all_up=0
    fi

    if service_running nginx; then
        code=$(http_code --cacert "$STATE_DIR/pki/ca.pem" "https://127.0.0.1:$NGINX_HTTPS_PORT/unavailable/")
        printf '%-6s %-5s pid %s https://127.0.0.1:%s http://127.0.0.1:%s (probe /unavailable/ -> %s)\n' \
            nginx up "$(cat "$STATE_DIR/nginx/nginx.pid")" "$NGINX_HTTPS_PORT" "$NGINX_HTTP_PORT" "$code"
        [ "$code" = 503 ] || all_up=0
    else
        printf '%-6s %-5s\n' nginx down; all_up=0
    fi

    if service_running proxy; then
        printf '%-6s %-5s pid %s http://127.0.0.1:%s log %s\n' proxy up "$(cat "$STATE_DIR/proxy/tinyproxy.pid")" \
            "$PROXY_PORT" "$STATE_DIR/proxy/tinyproxy.log"
    else
        printf '%-6s %-5s\n' proxy down; all_up=0
    fi
    [ $all_up = 1 ]
}

# ----------------------------------------------------------------------------- main
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    env) echo "$STATE_DIR/services.env" ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
