#!/usr/bin/env bash
# The release artefacts as a user meets them (the `dist` stage of scripts/test-all.sh), after
# scripts/dist.sh. Needs the services' variables (tests/servers/services.sh env) in the environment.
#   archive: unpacked into a scratch prefix; SHA256SUMS verified; the SBOM is CycloneDX JSON naming
#            every crate of the build; the .so is stripped, has the right SONAME and no RUNPATH;
#            then, with nothing but that prefix:
#              a C program built with only `pkg-config --cflags --libs fhir_kindling` (tests/c/test_capi.c),
#              a CMake project with only find_package (tests/cmake),
#              the Go module's tests (bindings/go, cgo through pkg-config),
#              the C++ GoogleTest suite (tests/cpp, shared and static), all run against the services
#   .deb:    dpkg-deb --info/--contents checked, extracted with dpkg -x into a scratch root (no
#            install); the same C program, CMake project, Go tests and the -fno-exceptions C++ program
# No compiler or linker flag points at the source tree or target/install: only the scratch dirs.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
VERSION=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
NAME=fhir_kindling-$VERSION-x86_64-linux-gnu
DEB=target/dist/libfhir-kindling_${VERSION}-1_amd64.deb
W=$REPO/target/dist-check
CWARN=(-std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pedantic)
: "${FHIR_HAPI_URL:?run with the services variables (tests/servers/services.sh env)}"
export FHIR_API_URL=$FHIR_HAPI_URL
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || fail "Go is needed for the Go module's tests (go on PATH or /usr/local/go)"
rm -rf "$W"
mkdir -p "$W"
fail() {
    echo "dist-check: $*" >&2
    exit 1
}

(cd target/dist && sha256sum --quiet -c SHA256SUMS) || fail "target/dist/SHA256SUMS does not match"

# loads_from LIBDIR PROGRAM: the program, run with LD_LIBRARY_PATH=LIBDIR, loads the library from
# there (ldd's output is read whole: grep -q under pipefail could kill it with SIGPIPE).
loads_from() {
    local found
    found=$(LD_LIBRARY_PATH=$1 ldd "$2")
    grep -q "libfhir_kindling.so.* => $1/libfhir_kindling" <<<"$found"
}

# consume ROOT LIBDIR LABEL GTEST: build and run the consumers against one unpacked tree
consume() {
    local prefix=$1 label=$3 gtest=$4 out=$W/$3
    local libdir=$2
    mkdir -p "$out"
    echo "== $label: C with pkg-config only"
    local pc=(env PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_LIBDIR="$libdir/pkgconfig")
    [ "$("${pc[@]}" pkg-config --modversion fhir_kindling)" = "$VERSION" ] || fail "$label: pkg-config version"
    # shellcheck disable=SC2046  # pkg-config's flags are words
    cc "${CWARN[@]}" $("${pc[@]}" pkg-config --cflags fhir_kindling) tests/c/test_capi.c -o "$out/test_capi" \
        $("${pc[@]}" pkg-config --libs fhir_kindling) -lpthread
    loads_from "$libdir" "$out/test_capi" || fail "$label: test_capi does not load the library from $libdir"
    LD_LIBRARY_PATH=$libdir "$out/test_capi" >"$out/test_capi.log" 2>&1 || {
        tail -20 "$out/test_capi.log"
        fail "$label: test_capi failed"
    }
    tail -1 "$out/test_capi.log"

    echo "== $label: CMake with find_package only"
    cmake -S tests/cmake -B "$out/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
    grep -q "fhir_kindling_DIR:PATH=$libdir/cmake/fhir_kindling" "$out/cmake/CMakeCache.txt" ||
        fail "$label: CMake found fhir_kindling elsewhere: $(grep fhir_kindling_DIR "$out/cmake/CMakeCache.txt")"
    cmake --build "$out/cmake" >/dev/null
    LD_LIBRARY_PATH=$libdir "$out/cmake/quickstart_cmake" >"$out/quickstart.log" 2>&1 || {
        tail -20 "$out/quickstart.log"
        fail "$label: quickstart_cmake failed"
    }

    echo "== $label: the Go module (bindings/go) with pkg-config only"
    (
        cd bindings/go
        export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_LIBDIR="$libdir/pkgconfig" CGO_ENABLED=1 \
            GOTOOLCHAIN=local GOFLAGS=-mod=mod
        "$GO" test -c -o "$out/fhirkindling-go.test" .
        loads_from "$libdir" "$out/fhirkindling-go.test" ||
            fail "$label: the Go tests do not load the library from $libdir"
        LD_LIBRARY_PATH=$libdir "$out/fhirkindling-go.test" -test.count=1 >"$out/go.log" 2>&1 || {
            tail -20 "$out/go.log"
            fail "$label: the Go module's tests failed"
        }
        tail -1 "$out/go.log"
    )

    echo "== $label: C++ (tests/cpp, gtest=$gtest)"
    cmake -S tests/cpp -B "$out/cpp" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_BUILD_TYPE=Release -DFHIR_CXX_GTEST="$gtest" -DFHIR_CXX_SANITIZE=OFF >/dev/null
    cmake --build "$out/cpp" -j2 >/dev/null
    LD_LIBRARY_PATH=$libdir ctest --test-dir "$out/cpp" --output-on-failure
}

echo "== archive: $NAME.tar.gz"
mkdir -p "$W/prefix"
tar -xzf "target/dist/$NAME.tar.gz" -C "$W/prefix" --strip-components=1
P=$W/prefix
(cd "$P" && sha256sum --quiet -c SHA256SUMS) || fail "the archive's SHA256SUMS does not match"
for f in include/fhir_kindling.h include/fhir_kindling.hpp lib/libfhir_kindling.a lib/pkgconfig/fhir_kindling.pc \
    lib/cmake/fhir_kindling/fhir_kindlingConfig.cmake LICENSE README.md THIRD-PARTY-LICENSES fhir_kindling.cdx.json; do
    [ -s "$P/$f" ] || fail "the archive has no $f"
done
so=$P/lib/libfhir_kindling.so.$VERSION
if [ "$(readlink -f "$P/lib/libfhir_kindling.so")" != "$(readlink -f "$so")" ] || [ ! -e "$so" ]; then
    fail "lib/libfhir_kindling.so does not lead to $so"
fi
# (outputs read whole before grep: under pipefail an early grep -q exit could hide a match)
sections=$(readelf -S "$so")
if grep -qE '\.debug_|\.symtab' <<<"$sections"; then fail "$so is not stripped"; fi
dynamic=$(readelf -d "$so")
if grep -qE 'RPATH|RUNPATH' <<<"$dynamic"; then fail "$so has an RPATH"; fi
major=${VERSION%%.*}
minor=$(cut -d. -f2 <<<"$VERSION")
if [ "$major" = 0 ]; then soname=libfhir_kindling.so.0.$minor; else soname=libfhir_kindling.so.$major; fi
grep -qF "Library soname: [$soname]" <<<"$dynamic" || fail "$so: the SONAME is not $soname"
python3 - "$P/fhir_kindling.cdx.json" <<'PY' || fail "the SBOM is not what it should be"
import json, subprocess, sys
bom = json.load(open(sys.argv[1]))
assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
names = {(c["name"], c["version"]) for c in bom["components"]}
tree = subprocess.run(["cargo", "tree", "--locked", "-e", "normal,no-proc-macro", "--target",
                       "x86_64-unknown-linux-gnu", "--prefix", "none", "-f", "{p}"],
                      check=True, capture_output=True, text=True).stdout
want = {(l.split()[0], l.split()[1].lstrip("v")) for l in tree.splitlines()[1:] if l.strip()}
assert names == want, f"SBOM and cargo tree differ: {sorted(names ^ want)[:10]}"
assert all(c.get("licenses") and c.get("hashes") for c in bom["components"])
print(f"SBOM: {len(names)} crates, each with licence and SHA-256")
PY
consume "$P" "$P/lib" archive ON

echo "== .deb: $(basename "$DEB")"
dpkg-deb --info "$DEB" >"$W/deb-info.txt"
grep -q "^ Package: libfhir-kindling$" "$W/deb-info.txt" || fail "deb: package name"
grep -q "^ Version: $VERSION-1$" "$W/deb-info.txt" || fail "deb: version"
grep -q "^ Depends: libc6" "$W/deb-info.txt" || fail "deb: no libc6 dependency"
dpkg-deb --contents "$DEB" | awk '{print $6}' | sed 's|^\./||' >"$W/deb-contents.txt"
for f in usr/include/fhir_kindling.h usr/include/fhir_kindling.hpp usr/lib/libfhir_kindling.so.$VERSION \
    usr/lib/libfhir_kindling.so usr/lib/libfhir_kindling.a usr/lib/pkgconfig/fhir_kindling.pc \
    usr/lib/cmake/fhir_kindling/fhir_kindlingConfig.cmake usr/share/doc/libfhir-kindling/copyright \
    usr/share/doc/libfhir-kindling/fhir_kindling.cdx.json; do
    grep -qx "$f" "$W/deb-contents.txt" || fail "deb: no $f"
done
if grep -v '^usr/' "$W/deb-contents.txt" | grep -v '^$' >/dev/null; then fail "deb: files outside /usr"; fi
dpkg-deb --contents "$DEB" | awk '$2 != "root/root" {bad=1} END {exit bad}' || fail "deb: files not owned by root"
mkdir -p "$W/root"
dpkg -x "$DEB" "$W/root"
# The .pc of the package says prefix=/usr: point the scratch root's copy at the scratch root, as
# a sysroot does (PKG_CONFIG_SYSROOT_DIR rewrites -I/-L the same way).
R=$W/root
sed -i "s|^prefix=/usr$|prefix=$R/usr|" "$R/usr/lib/pkgconfig/fhir_kindling.pc"
consume "$R/usr" "$R/usr/lib" deb OFF
echo "dist-check: archive and .deb consumed by C (pkg-config), CMake (find_package), Go and C++ against the services"
