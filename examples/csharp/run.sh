#!/usr/bin/env bash
# Build and run the C# example with Debian's Mono: the FhirKindling library is compiled from
# bindings/dotnet/src into bin/FhirKindling.dll, Program.cs into bin/fhir-example.exe, and the
# program runs with LD_LIBRARY_PATH=<prefix>/lib so that DllImport("fhir_kindling") finds
# <prefix>/lib/libfhir_kindling.so. (bindings/dotnet/test.sh builds it from the .nupkg instead.)
#
#   FHIR_API_URL=http://127.0.0.1:8080/fhir examples/csharp/run.sh
#
# Env: FHIR_KINDLING_PREFIX  install prefix of the library (default: <repo>/target/install,
#                            as written by `make install` / scripts/install.sh)
#      CS_BUILD_ONLY=1       stop after the build (no server needed)
# Mono (mono-mcs, mono-runtime) comes from scripts/bootstrap.sh consumers.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX="$(realpath -m "${FHIR_KINDLING_PREFIX:-$REPO/target/install}")"
LIB="$PREFIX/lib/libfhir_kindling.so"
if [ ! -e "$LIB" ]; then
    echo "run.sh: $LIB not found; install the library first: scripts/install.sh $PREFIX" >&2
    exit 2
fi
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
    echo "run.sh: Mono is missing: scripts/bootstrap.sh consumers" >&2
    exit 2
fi
cd "$HERE"
mkdir -p bin
mcs -nologo -warn:4 -warnaserror+ -debug -unsafe -target:library -out:bin/FhirKindling.dll "$REPO"/bindings/dotnet/src/*.cs
mcs -nologo -warn:4 -warnaserror+ -debug -r:bin/FhirKindling.dll -out:bin/fhir-example.exe Program.cs
echo "built $HERE/bin/fhir-example.exe (library: bin/FhirKindling.dll)"
if [ "${CS_BUILD_ONLY:-0}" = 1 ]; then exit 0; fi
if [ -z "${FHIR_API_URL:-}" ]; then
    echo "run.sh: set FHIR_API_URL (e.g. http://127.0.0.1:8080/fhir), or CS_BUILD_ONLY=1" >&2
    exit 2
fi
export LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec mono --debug bin/fhir-example.exe "$@"
