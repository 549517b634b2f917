# shellcheck shell=bash
# The shell library of the integration-test services, sourced by services.sh, check-ports.sh and
# every part (tests/servers/<part>/part.sh). Not executable on its own.
#
# Sourcing it:
#   - loads the ports file ($FHIR_PORTS_FILE, default tests/servers/ports.env) and exports its
#     FHIR_*_PORT variables (each checked: a number, and no two the same);
#   - sets STATE_DIR (absolute) from $FHIR_SERVICES_DIR, default <repo>/target/services, and
#     exports both FHIR_SERVICES_DIR and FHIR_PORTS_FILE so child processes see the same set;
#   - defines the helpers below. Messages are prefixed with $LOG_TAG (set it before sourcing).
#
# A part defines part_install, part_start, part_stop, part_status and part_env, sets PART and
# PART_PORTS, and ends with `part_main "$@"`; part_main gives every part the same verbs.

SERVERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SERVERS_DIR/../.." && pwd)
LOG_TAG=${LOG_TAG:-services}

log() { echo "$LOG_TAG: $*" >&2; }
die() {
    echo "$LOG_TAG: ERROR: $*" >&2
    exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------- ports and state
load_ports() {
    local file=${FHIR_PORTS_FILE:-$SERVERS_DIR/ports.env} name seen=" "
    [ -f "$file" ] || die "ports file $file not found"
    FHIR_PORTS_FILE=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
    export FHIR_PORTS_FILE
    # shellcheck disable=SC1090  # the file is chosen at run time
    . "$FHIR_PORTS_FILE"
    PORT_VARS=$(sed -n 's/^\(FHIR_[A-Z0-9_]*_PORT\)=.*/\1/p' "$FHIR_PORTS_FILE")
    [ -n "$PORT_VARS" ] || die "$FHIR_PORTS_FILE defines no FHIR_*_PORT"
    for name in $PORT_VARS; do
        case ${!name} in '' | *[!0-9]*) die "$FHIR_PORTS_FILE: $name='${!name}' is not a port" ;; esac
        if [ "${!name}" -lt 1 ] || [ "${!name}" -gt 65535 ]; then die "$FHIR_PORTS_FILE: $name=${!name} is out of range"; fi
        case $seen in *" ${!name} "*) die "$FHIR_PORTS_FILE: port ${!name} is used twice" ;; esac
        seen="$seen${!name} "
        export "${name?}"
    done
}
load_ports

STATE_DIR=${FHIR_SERVICES_DIR:-$REPO/target/services}
mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
FHIR_SERVICES_DIR=$STATE_DIR
export FHIR_SERVICES_DIR

# ---------------------------------------------------------------------------- ports
# port_in_use PORT: something accepts connections on 127.0.0.1:PORT
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# who_has_port PORT: the listening socket and its process, for error messages
who_has_port() { ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/  */ /g'; }

# require_ports_free PORT...: die naming the owner of every taken port
require_ports_free() {
    local p busy=0
    for p in "$@"; do
        if port_in_use "$p"; then
            log "127.0.0.1:$p is already in use: $(who_has_port "$p")"
            busy=1
        fi
    done
    [ $busy = 0 ] || die "free the port(s) above, or use another ports file (FHIR_PORTS_FILE)"
}

# ---------------------------------------------------------------------------- processes
# pid_of PIDFILE: the pid recorded in PIDFILE (fails if there is none)
pid_of() { { [ -s "$1" ] && tr -dc '0-9' <"$1"; } 2>/dev/null; }

# pid_matches PID REGEX: PID runs and its command line matches REGEX
pid_matches() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -Eq -- "$2"
}

# pid_alive PIDFILE REGEX: the pid in PIDFILE runs and its command line matches REGEX
pid_alive() {
    local pid
    pid=$(pid_of "$1") || return 1
    pid_matches "$pid" "$2"
}

# spawn LOGFILE PIDFILE COMMAND...: run COMMAND detached (own session, output appended to
# LOGFILE) and record its pid
spawn() {
    local logfile=$1 pidfile=$2
    shift 2
    nohup setsid "$@" >>"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
}

# signal SIG PID: send SIG to PID, and to its process group if PID leads one (nginx workers, the
# children of a setsid-spawned server); a process that is already gone is not an error
signal() {
    local target=$2
    [ "$(ps -o pgid= -p "$2" | tr -d ' ')" != "$2" ] || target=-$2
    kill "-$1" -- "$target" 2>/dev/null || [ ! -d "/proc/$2" ]
}

# kill_pidfile PIDFILE REGEX LABEL [SECONDS]: stop the process recorded in PIDFILE if it is ours
# (command line matches REGEX): TERM, wait up to SECONDS (default 10), then KILL. Removes
# PIDFILE. Returns 1 if the process is still alive afterwards. Sets KILLED=1 if KILL was needed.
kill_pidfile() {
    local pidfile=$1 regex=$2 label=$3 limit=${4:-10} pid i
    # shellcheck disable=SC2034  # read by the caller
    KILLED=0
    pid=$(pid_of "$pidfile") || pid=""
    if ! pid_matches "$pid" "$regex"; then
        rm -f "$pidfile"
        return 0
    fi
    signal TERM "$pid"
    for ((i = 0; i < limit * 10; i++)); do
        pid_matches "$pid" "$regex" || break
        sleep 0.1
    done
    if pid_matches "$pid" "$regex"; then
        log "$label (pid $pid) still alive ${limit} s after TERM, sending KILL"
        # shellcheck disable=SC2034  # read by the caller
        KILLED=1
        signal KILL "$pid"
        for ((i = 0; i < 50; i++)); do
            pid_matches "$pid" "$regex" || break
            sleep 0.1
        done
    fi
    if pid_matches "$pid" "$regex"; then
        log "could not stop $label (pid $pid)"
        return 1
    fi
    rm -f "$pidfile"
    log "$label stopped (pid $pid)"
}

# ---------------------------------------------------------------------------- waiting
# wait_for_port PORT SECONDS [PID]: until 127.0.0.1:PORT accepts; 1 on timeout or if PID exits
wait_for_port() {
    local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
    until port_in_use "$port"; do
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# wait_for_http URL SECONDS [PID [CURL-ARGS...]]: until GET URL answers 2xx; 1 on timeout or if
# PID exits
wait_for_http() {
    local url=$1 deadline=$((SECONDS + $2)) pid=${3:-}
    shift 3 2>/dev/null || shift $#
    until curl -fsS -o /dev/null --max-time 5 "$@" "$url" 2>/dev/null; do
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

# http_code URL [CURL-ARGS...]: the HTTP status of GET URL ("000" when nothing answers)
http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || return 0
}

# ---------------------------------------------------------------------------- files
# render TEMPLATE OUT: replace every @NAME@ in TEMPLATE by the value of the variable NAME
render() {
    local text name
    text=$(<"$1")
    for name in $(grep -o '@[A-Z_][A-Z0-9_]*@' "$1" | tr -d @ | sort -u); do
        [ -n "${!name+set}" ] || die "$1: @$name@ has no value"
        text=${text//"@$name@"/"${!name}"}
    done
    printf '%s\n' "$text" >"$2"
}

# shell_quote VALUE: VALUE as one single-quoted shell word
shell_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# write_env NAME=VALUE...: STATE_DIR/env/$PART.env, the part's lines of services.env
write_env() {
    local dir=$STATE_DIR/env tmp pair
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.$PART.env.XXXXXX")
    for pair in "$@"; do
        printf 'export %s=%s\n' "${pair%%=*}" "$(shell_quote "${pair#*=}")"
    done >"$tmp"
    mv -f "$tmp" "$dir/$PART.env"
}

# status_line STATE DETAIL...: one line of `services.sh status`
status_line() {
    local state=$1
    shift
    printf '%-6s %-5s %s\n' "$PART" "$state" "$*"
}

# ---------------------------------------------------------------------------- the part contract
# part_main VERB: install | start | stop | status, the same for every part.
#   install  provision what the part needs (idempotent; apt packages come from scripts/bootstrap.sh)
#   start    idempotent: nothing to do when part_status says up; else clear leftovers, check that
#            PART_PORTS are free, start, wait until it answers; then write STATE_DIR/env/PART.env
#   stop     idempotent: stop only the processes recorded in the part's pid files
#   status   one line; exit 0 only if the part is up and answers
part_main() {
    case ${1:-} in
        install) part_install ;;
        start)
            if part_status >/dev/null 2>&1; then
                log "already running"
            else
                part_stop >/dev/null
                # shellcheck disable=SC2086  # PART_PORTS is a list
                require_ports_free $PART_PORTS
                part_start
            fi
            part_env
            ;;
        stop)
            part_stop
            rm -f "$STATE_DIR/env/$PART.env"
            ;;
        status) part_status ;;
        *)
            echo "usage: $0 install|start|stop|status   (state: \$FHIR_SERVICES_DIR, ports: \$FHIR_PORTS_FILE)" >&2
            exit 2
            ;;
    esac
}
