//go:build fhir_kindling_static

package fhirkindling

// Static link: go build -tags fhir_kindling_static links libfhir_kindling.a into the program,
// which then needs no libfhir_kindling.so at run time. pkg-config is not used (it would also
// name the shared library); give the include and library directories through the environment:
//
//	CGO_CFLAGS="$(pkg-config --cflags fhir_kindling)" \
//	CGO_LDFLAGS="$(pkg-config --libs-only-L fhir_kindling)" \
//	go build -tags fhir_kindling_static ./...

/*
#cgo LDFLAGS: -Wl,-Bstatic -lfhir_kindling -Wl,-Bdynamic -lpthread -ldl -lm
*/
import "C"
