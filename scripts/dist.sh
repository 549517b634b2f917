#!/usr/bin/env bash
# The release artefacts (make dist), in target/dist:
#   fhir_kindling-VERSION-x86_64-linux-gnu.tar.gz   relocatable: unpack anywhere, point pkg-config
#                                                    (PKG_CONFIG_PATH=DIR/lib/pkgconfig) or CMake
#                                                    (CMAKE_PREFIX_PATH=DIR) at it
#   libfhir-kindling_VERSION-1_amd64.deb             the same files under /usr
#   SHA256SUMS                                       of both
# Archive layout (under fhir_kindling-VERSION-x86_64-linux-gnu/):
#   include/fhir_kindling.h, include/fhir_kindling.hpp
#   lib/libfhir_kindling.so.VERSION (stripped), lib/SONAME and lib/libfhir_kindling.so links,
#   lib/libfhir_kindling.a (debug info stripped), lib/pkgconfig/fhir_kindling.pc,
#   lib/cmake/fhir_kindling/fhir_kindlingConfig{,Version}.cmake
#   LICENSE, LICENSE-MIT, LICENSE-APACHE, THIRD-PARTY-LICENSES, README.md, CHANGELOG.md, ABI.md,
#   fhir_kindling.cdx.json (CycloneDX SBOM, scripts/sbom.py), SHA256SUMS (of every other file)
# Reproducible: file times, owners and order are fixed (SOURCE_DATE_EPOCH = the last commit).
# Compression: gzip -6 and xz -2 (gzip -9 / xz -6 save 1% / 10% of ~20 MB for 25 / 45 s more).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/dist
VERSION=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
MAJOR=${VERSION%%.*}
rest=${VERSION#*.}
MINOR=${rest%%.*}
if [ "$MAJOR" = 0 ]; then SONAME=libfhir_kindling.so.0.$MINOR; else SONAME=libfhir_kindling.so.$MAJOR; fi
TRIPLE=x86_64-linux-gnu
NAME=fhir_kindling-$VERSION-$TRIPLE

t0=$SECONDS
# The same build as scripts/install.sh and the tests (no variable that would change cargo's
# fingerprints and rebuild the dependencies).
cargo build --release --locked
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
scripts/gen-header.sh --check >/dev/null

rm -rf "$OUT"
mkdir -p "$OUT"
STAGE=$OUT/stage/$NAME

# stage_tree ROOT PCPREFIX: scripts/install.sh's layout under ROOT (the release just built), with
# the .pc prefix PCPREFIX, the .so stripped and the .a without debug information.
stage_tree() {
    # (without SOURCE_DATE_EPOCH: a dependency tracks it, and cargo would rebuild everything twice)
    env -u SOURCE_DATE_EPOCH FHIR_PC_PREFIX="$2" scripts/install.sh "$1" >/dev/null
    strip --strip-unneeded "$1/lib/libfhir_kindling.so.$VERSION"
    strip --strip-debug "$1/lib/libfhir_kindling.a"
    chmod 644 "$1"/lib/pkgconfig/*.pc "$1"/lib/cmake/fhir_kindling/*.cmake
}

# The archive: relocatable .pc (pkg-config's ${pcfiledir}); the CMake files already are.
# shellcheck disable=SC2016  # ${pcfiledir} is for pkg-config
stage_tree "$STAGE" '${pcfiledir}/../..'
python3 scripts/sbom.py "$STAGE/fhir_kindling.cdx.json" "$STAGE/THIRD-PARTY-LICENSES"
install -m 644 LICENSE LICENSE-MIT LICENSE-APACHE README.md CHANGELOG.md "$STAGE/"
install -m 644 docs/ABI.md "$STAGE/ABI.md"
(cd "$STAGE" && find . -type f | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum >"../SHA256SUMS.tmp")
mv "$OUT/stage/SHA256SUMS.tmp" "$STAGE/SHA256SUMS"

# Which symbols the library exports must match the header (scripts/check-api.sh) and the SONAME
# must be the one the links name.
scripts/check-api.sh "$STAGE/lib/libfhir_kindling.so.$VERSION" >/dev/null
got=$(readelf -d "$STAGE/lib/libfhir_kindling.so.$VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$got" = "$SONAME" ] || {
    echo "dist: SONAME is '$got', expected $SONAME" >&2
    exit 1
}

TAR=(tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --format=gnu)
"${TAR[@]}" -C "$OUT/stage" -cf - "$NAME" | gzip -6n >"$OUT/$NAME.tar.gz"

# The Debian package: the same files under /usr, the .pc with prefix=/usr.
PKG=libfhir-kindling
DEBVER=$VERSION-1
DEB=$OUT/deb/root
stage_tree "$DEB/usr" /usr
DOC=$DEB/usr/share/doc/$PKG
install -d "$DOC"
install -m 644 README.md docs/ABI.md "$DOC/"
install -m 644 "$STAGE/fhir_kindling.cdx.json" "$STAGE/THIRD-PARTY-LICENSES" "$DOC/"
gzip -9nc CHANGELOG.md >"$DOC/changelog.gz"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: fhir_kindling"
    echo
    echo "Files: *"
    echo "Copyright: The fhir_kindling authors"
    echo "License: MIT or Apache-2.0"
    echo " See /usr/share/common-licenses/Apache-2.0 and the MIT text below."
    echo " The Rust crates linked into the library: THIRD-PARTY-LICENSES in this directory."
    echo " ."
    sed -e 's/^$/./' -e 's/^/ /' LICENSE-MIT
} >"$DOC/copyright"
install -d "$DEB/DEBIAN"
# The newest glibc symbol version the library needs is the lower bound of libc6.
glibc=$(objdump -T "$DEB/usr/lib/libfhir_kindling.so.$VERSION" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
size_kb=$(du -sk --exclude=DEBIAN "$DEB" | cut -f1)
cat >"$DEB/DEBIAN/control" <<EOF
Package: $PKG
Version: $DEBVER
Architecture: amd64
Maintainer: fhir_kindling maintainers <fhir-kindling@users.noreply.invalid>
Installed-Size: $size_kb
Depends: libc6 (>= $glibc), libgcc-s1
Section: libdevel
Priority: optional
Homepage: https://pypi.org/project/fhir-kindling/
Description: native FHIR R4 REST client library (C ABI, C++17 header)
 libfhir_kindling is a FHIR R4 REST client for C and C++ programs: read, search
 with paging, create, update, delete, transactions, history, operations, with
 basic, bearer, OpenID Connect and SMART Backend Services auth, retries, proxies
 and TLS. This package ships the shared library ($SONAME), the static library,
 the C header, the header-only C++17 wrapper, pkg-config and CMake files.
EOF
(cd "$DEB" && find usr -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
find "$DEB" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz -z2 --build "$DEB" "$OUT/${PKG}_${DEBVER}_amd64.deb" >/dev/null

rm -rf "$OUT/stage" "$OUT/deb"
(cd "$OUT" && sha256sum "$NAME.tar.gz" "${PKG}_${DEBVER}_amd64.deb" >SHA256SUMS)
ls -l "$OUT"
echo "dist: $NAME ($SONAME) in $((SECONDS - t0)) s"
