#!/usr/bin/env bash
# The .NET library's checks, with Debian's Mono (no .NET SDK here): build FhirKindling.dll from
# src/ with mcs (warnings as errors), pack FhirKindling.VERSION.nupkg (pack.py: the nuspec,
# lib/netstandard2.0/, runtimes/linux-x64/native/libfhir_kindling.so), install it into a scratch
# project (target/dotnet/scratch: packages/fhirkindling/VERSION/ as NuGet lays it out, the
# native library copied next to the program as `dotnet build` does for linux-x64), then build and
# run there, without LD_LIBRARY_PATH: the NUnit 2.6 tests (nunit-console) and examples/csharp.
#
#   bindings/dotnet/test.sh            (services.env sourced: FHIR_HAPI_URL, ...)
#
# Env: FHIR_KINDLING_PREFIX  install prefix of the library (default <repo>/target/install)
#      DOTNET_BUILD_ONLY=1   stop after the build, the pack and the scratch build (no services)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX="$(realpath -m "${FHIR_KINDLING_PREFIX:-$REPO/target/install}")"
OUT="$REPO/target/dotnet"
NUNIT_FRAMEWORK=/usr/lib/cli/nunit.framework-2.6.3/nunit.framework.dll
VERSION=$(grep -m1 '^version' "$REPO/Cargo.toml" | cut -d'"' -f2)
if [ ! -e "$PREFIX/lib/libfhir_kindling.so" ]; then
    echo "test.sh: no library under $PREFIX; install it first: scripts/install.sh $PREFIX" >&2
    exit 2
fi
for tool in mcs mono nunit-console; do
    command -v "$tool" >/dev/null || {
        echo "test.sh: $tool is missing: scripts/bootstrap.sh consumers" >&2
        exit 2
    }
done
[ -f "$NUNIT_FRAMEWORK" ] || {
    echo "test.sh: $NUNIT_FRAMEWORK is missing (Debian nunit-console)" >&2
    exit 2
}
if ! grep -q "<Version>$VERSION</Version>" "$HERE/FhirKindling.csproj"; then
    echo "test.sh: FhirKindling.csproj's <Version> is not $VERSION (Cargo.toml)" >&2
    exit 1
fi
MCS=(mcs -nologo -warn:4 -warnaserror+ -debug)

echo "== build FhirKindling.dll (mcs $(mcs --version | awk '{print $NF}'))"
rm -rf "$OUT"
mkdir -p "$OUT/build"
"${MCS[@]}" -unsafe -target:library -out:"$OUT/build/FhirKindling.dll" "$HERE"/src/*.cs

echo "== pack"
python3 "$HERE/pack.py" "$VERSION" "$OUT/build/FhirKindling.dll" "$PREFIX/lib/libfhir_kindling.so" \
    "$OUT/FhirKindling.$VERSION.nupkg"

echo "== install into a scratch project"
SCRATCH="$OUT/scratch"
PKG="$SCRATCH/packages/fhirkindling/$VERSION"
mkdir -p "$PKG" "$SCRATCH/bin"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$OUT/FhirKindling.$VERSION.nupkg" "$PKG"
for f in FhirKindling.nuspec lib/netstandard2.0/FhirKindling.dll runtimes/linux-x64/native/libfhir_kindling.so; do
    [ -f "$PKG/$f" ] || {
        echo "test.sh: the package has no $f" >&2
        exit 1
    }
done
cp "$PKG/lib/netstandard2.0/FhirKindling.dll" "$PKG/runtimes/linux-x64/native/libfhir_kindling.so" "$SCRATCH/bin/"
cp "$NUNIT_FRAMEWORK" "$SCRATCH/bin/"
"${MCS[@]}" -target:library -r:"$SCRATCH/bin/FhirKindling.dll" -r:"$NUNIT_FRAMEWORK" -r:System.Core.dll \
    -out:"$SCRATCH/bin/FhirKindling.Tests.dll" "$HERE"/tests/*.cs
"${MCS[@]}" -r:"$SCRATCH/bin/FhirKindling.dll" -out:"$SCRATCH/bin/fhir-example.exe" "$REPO/examples/csharp/Program.cs"
echo "built in $SCRATCH/bin: FhirKindling.Tests.dll, fhir-example.exe (from the package)"
if [ "${DOTNET_BUILD_ONLY:-0}" = 1 ]; then exit 0; fi

echo "== NUnit tests (the package's DLL and native library, no LD_LIBRARY_PATH)"
cd "$SCRATCH/bin"
unset LD_LIBRARY_PATH
rc=0
nunit-console -nologo -labels FhirKindling.Tests.dll -xml="$OUT/TestResult.xml" || rc=$?
python3 - "$OUT/TestResult.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
total, failed = int(r.get("total")), int(r.get("failures")) + int(r.get("errors"))
print(f"nunit: {total - failed} passed, {failed} failed")
PY
[ $rc = 0 ] || exit $rc

echo "== examples/csharp from the package"
FHIR_API_URL=$FHIR_HAPI_URL mono --debug fhir-example.exe
