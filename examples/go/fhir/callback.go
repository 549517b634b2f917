package fhir

/*
#include <stddef.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// fhirGoResourceCallback is the fhir_resource_callback given to fhir_search_resources (through a
// C trampoline in fhir.go). userData carries a cgo.Handle of a *resourceVisit. It returns 0 to
// go on and 1 to stop. A panic in the user's function is recovered here and re-raised by
// SearchResources: Go panics must not unwind through the C library's frames.
//
//export fhirGoResourceCallback
func fhirGoResourceCallback(resource *C.char, n C.size_t, mode *C.char, userData unsafe.Pointer) (rc C.int) {
	v, ok := cgo.Handle(uintptr(userData)).Value().(*resourceVisit)
	if !ok || v.panicked {
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			v.panicked, v.panicVal = true, r
			rc = 1
		}
	}()
	// The buffers are borrowed until we return: copy them so fn may keep what it gets.
	res := goBytes(resource, n)
	if !v.fn(res, C.GoString(mode)) {
		return 1
	}
	return 0
}
