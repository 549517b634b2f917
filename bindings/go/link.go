//go:build !fhir_kindling_static

package fhirkindling

// Dynamic link (the default): the flags come from pkg-config, so the library must be installed
// (scripts/install.sh PREFIX, make install, the release archive or the .deb) and
// PKG_CONFIG_PATH must name PREFIX/lib/pkgconfig when PREFIX is not a system prefix. At run
// time the loader must find libfhir_kindling.so.0.MINOR: a system prefix, LD_LIBRARY_PATH, or
// CGO_LDFLAGS="-Wl,-rpath,PREFIX/lib" at build time.

/*
#cgo pkg-config: fhir_kindling
*/
import "C"
