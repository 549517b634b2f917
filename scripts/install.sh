#!/usr/bin/env bash
# Build the release library and install it under PREFIX (default /usr/local):
#   PREFIX/include/fhir_kindling.h, fhir_kindling.hpp (the C++17 wrapper, header-only)
#   PREFIX/lib/libfhir_kindling.so.X.Y.Z (+ SONAME and dev symlinks), libfhir_kindling.a
#   PREFIX/lib/pkgconfig/fhir_kindling.pc
#   PREFIX/lib/cmake/fhir_kindling/fhir_kindlingConfig{,Version}.cmake
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=$(realpath -m "${1:-/usr/local}")
cargo build --release --locked
VERSION=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
MAJOR=${VERSION%%.*}
rest=${VERSION#*.}
MINOR=${rest%%.*}
if [ "$MAJOR" = 0 ]; then SONAME=libfhir_kindling.so.0.$MINOR; else SONAME=libfhir_kindling.so.$MAJOR; fi
install -d "$PREFIX/include" "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake/fhir_kindling"
install -m 644 include/fhir_kindling.h include/fhir_kindling.hpp "$PREFIX/include/"
install -m 755 target/release/libfhir_kindling.so "$PREFIX/lib/libfhir_kindling.so.$VERSION"
ln -sf "libfhir_kindling.so.$VERSION" "$PREFIX/lib/$SONAME"
ln -sf "$SONAME" "$PREFIX/lib/libfhir_kindling.so"
install -m 644 target/release/libfhir_kindling.a "$PREFIX/lib/"
# FHIR_PC_PREFIX: the .pc file's prefix when it differs from PREFIX (scripts/dist.sh: a relocatable
# '${pcfiledir}/../..' for the archive, /usr for the .deb staged elsewhere).
PC_PREFIX=${FHIR_PC_PREFIX:-$PREFIX}
subst() { sed -e "s|@PREFIX@|$PC_PREFIX|g" -e "s|@VERSION@|$VERSION|g" -e "s|@MAJOR@|$MAJOR|g" -e "s|@MINOR@|$MINOR|g" -e "s|@SONAME@|$SONAME|g" "$1"; }
subst cmake/fhir_kindling.pc.in >"$PREFIX/lib/pkgconfig/fhir_kindling.pc"
subst cmake/fhir_kindlingConfig.cmake.in >"$PREFIX/lib/cmake/fhir_kindling/fhir_kindlingConfig.cmake"
subst cmake/fhir_kindlingConfigVersion.cmake.in >"$PREFIX/lib/cmake/fhir_kindling/fhir_kindlingConfigVersion.cmake"
echo "installed fhir_kindling $VERSION ($SONAME) under $PREFIX"
