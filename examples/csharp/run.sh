#!/usr/bin/env bash
# Build and run the C# (Mono, P/Invoke) example against the installed library.
#
#   FHIR_API_URL=http://127.0.0.1:8080/fhir examples/csharp/run.sh
#
# Installs Debian's Mono (mono-mcs, mono-runtime) with apt-get when mcs or mono is missing,
# compiles FhirKindling.cs into bin/FhirKindling.dll and Program.cs into bin/fhir-example.exe,
# then runs it with LD_LIBRARY_PATH=<prefix>/lib so that DllImport("fhir_kindling") finds
# <prefix>/lib/libfhir_kindling.so.
#
# Env: FHIR_KINDLING_PREFIX  install prefix of the library (default: <repo>/target/install,
#                            as written by `make install` / scripts/install.sh)
#      MONO_DEB_VERSION      Debian version of mono-mcs/mono-runtime to install
#                            (default 6.8.0.105+dfsg-3.3+deb12u1, bookworm; falls back to the
#                            candidate version with a warning if that one is gone)
#      CS_BUILD_ONLY=1       stop after the build (no server needed)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX="$(realpath -m "${FHIR_KINDLING_PREFIX:-$REPO/target/install}")"
MONO_DEB_VERSION="${MONO_DEB_VERSION:-6.8.0.105+dfsg-3.3+deb12u1}"
LIB="$PREFIX/lib/libfhir_kindling.so"
if [ ! -e "$LIB" ]; then
    echo "run.sh: $LIB not found; install the library first: scripts/install.sh $PREFIX" >&2
    exit 2
fi

if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
    SUDO=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || {
            echo "run.sh: Mono is missing; install mono-mcs and mono-runtime as root" >&2
            exit 2
        }
        SUDO=(sudo)
    fi
    apt_install() { DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@"; }
    pinned=(mono-mcs="$MONO_DEB_VERSION" mono-runtime="$MONO_DEB_VERSION")
    echo "run.sh: installing Mono ${MONO_DEB_VERSION} (mono-mcs, mono-runtime)"
    if ! apt_install "${pinned[@]}"; then
        "${SUDO[@]}" apt-get update -q
        if ! apt_install "${pinned[@]}"; then
            echo "run.sh: warning: Mono $MONO_DEB_VERSION is not available; installing the candidate version" >&2
            apt_install mono-mcs mono-runtime
        fi
    fi
fi
echo "mcs: $(mcs --version)"
echo "mono: $(mono --version | head -n1)"

cd "$HERE"
mkdir -p bin
mcs -nologo -warn:4 -warnaserror+ -debug -target:library -out:bin/FhirKindling.dll FhirKindling.cs
mcs -nologo -warn:4 -warnaserror+ -debug -r:bin/FhirKindling.dll -out:bin/fhir-example.exe Program.cs
echo "built $HERE/bin/fhir-example.exe (bindings: bin/FhirKindling.dll)"

if [ "${CS_BUILD_ONLY:-0}" = 1 ]; then exit 0; fi
if [ -z "${FHIR_API_URL:-}" ]; then
    echo "run.sh: set FHIR_API_URL (e.g. http://127.0.0.1:8080/fhir), or CS_BUILD_ONLY=1" >&2
    exit 2
fi
export LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec mono --debug bin/fhir-example.exe "$@"
