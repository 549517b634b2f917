#!/usr/bin/env bash
# Provision everything the build, the lints, the test services and the consumers need. Idempotent:
# when everything is there it installs nothing and takes about a second. scripts/test-all.sh and
# scripts/demo.sh call it first.
#
#   scripts/bootstrap.sh [GROUP...]     default: build lint fuzz services consumers
#
#   build      C/C++ toolchain, make, cmake, pkg-config, valgrind, curl, python3 (Debian);
#              rustfmt + clippy (rustup); cbindgen (cargo install, pinned)
#   lint       shellcheck, shfmt, doxygen (Debian)
#   fuzz       cargo-fuzz (cargo install, pinned); the nightly toolchain it builds with must be on
#              the machine (rustup toolchain nightly; it comes with the machine image)
#   services   Java + Maven, Node.js + npm, openssl, iproute2, nginx, tinyproxy (Debian; nginx and
#              tinyproxy pinned), then every part's install: npm ci of the OIDC provider, the
#              Maven build of the HAPI launcher (tests/servers/services.sh install)
#   consumers  Mono (mcs, mono; pinned) and NUnit 2.6 (nunit-console; pinned) for the .NET
#              library; Go must be on PATH or in /usr/local/go
#
# Rust (cargo) is expected on the machine. Pinned versions: scripts/versions.env.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/versions.env
. scripts/versions.env

log() { echo "bootstrap: $*" >&2; }
die() {
    echo "bootstrap: ERROR: $*" >&2
    exit 1
}

# COMMAND:PACKAGE[=VERSION] - PACKAGE is installed when COMMAND is missing
BUILD_TOOLS=(cc:gcc c++:g++ make:make cmake:cmake pkg-config:pkg-config valgrind:valgrind curl:curl python3:python3)
LINT_TOOLS=(shellcheck:shellcheck shfmt:shfmt doxygen:doxygen)
SERVICE_TOOLS=(java:default-jre-headless mvn:maven node:nodejs npm:npm openssl:openssl ss:iproute2 flock:util-linux
    nginx:nginx="$NGINX_DEB_VERSION" tinyproxy:tinyproxy="$TINYPROXY_DEB_VERSION")
CONSUMER_TOOLS=(mcs:mono-mcs="$MONO_DEB_VERSION" mono:mono-runtime="$MONO_DEB_VERSION"
    nunit-console:nunit-console="$NUNIT_DEB_VERSION")

APT_UPDATED=0
apt() {
    DEBIAN_FRONTEND=noninteractive command apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# offered PACKAGE VERSION: the apt sources offer exactly this version
offered() { apt-cache madison "$1" | awk -F' *[|] *' -v v="$2" '$2 == v { found = 1 } END { exit !found }'; }

# apt_tools SPEC...: install the packages of the missing commands
apt_tools() {
    local spec cmd pkg i want=() policy=0
    for spec in "$@"; do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        command -v "$cmd" >/dev/null 2>&1 || want+=("$pkg")
    done
    [ ${#want[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || die "need root to install ${want[*]}"
    if [ $APT_UPDATED = 0 ]; then
        log "apt-get update"
        apt update -qq
        APT_UPDATED=1
    fi
    for i in "${!want[@]}"; do
        pkg=${want[i]}
        case $pkg in
            *=*)
                if ! offered "${pkg%%=*}" "${pkg#*=}"; then
                    log "warning: $pkg is no longer offered; installing the candidate of ${pkg%%=*}"
                    want[i]=${pkg%%=*}
                fi
                ;;
        esac
    done
    # The maintainer scripts must not start the system nginx/tinyproxy: we run our own instances.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy=1
    fi
    log "apt-get install ${want[*]}"
    local rc=0
    apt install -y -qq --no-install-recommends "${want[@]}" >/dev/null || rc=$?
    [ $policy = 0 ] || rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || die "apt-get install ${want[*]} failed"
}

group_build() {
    apt_tools "${BUILD_TOOLS[@]}"
    command -v cargo >/dev/null || die "cargo (Rust) is required"
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        log "rustup component add rustfmt clippy"
        rustup component add rustfmt clippy
    fi
    if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version | awk '{print $2}')" != "$CBINDGEN_VERSION" ]; then
        log "cargo install cbindgen $CBINDGEN_VERSION"
        cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
    fi
}

group_lint() { apt_tools "${LINT_TOOLS[@]}"; }

group_fuzz() {
    rustup run nightly rustc --version >/dev/null 2>&1 || die "the nightly Rust toolchain is required for cargo fuzz"
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

group_services() {
    apt_tools "${SERVICE_TOOLS[@]}"
    tests/servers/services.sh install
}

group_consumers() {
    apt_tools "${CONSUMER_TOOLS[@]}"
    command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || die "Go is required (go on PATH or /usr/local/go)"
}

t0=$SECONDS
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build lint fuzz services consumers)
for g in "${groups[@]}"; do
    case $g in
        build | lint | fuzz | services | consumers) "group_$g" ;;
        *) die "unknown group '$g' (build lint fuzz services consumers)" ;;
    esac
done
log "ready: ${groups[*]} ($((SECONDS - t0)) s)"
