package fhirkindling

/*
#include <stddef.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// The C callbacks. Each turns user_data back into its Go value, copies the borrowed buffers and
// calls the user's function; a panic there is recovered (Go panics must not unwind through the
// library's C frames), stops the library's loop, and is re-raised by the calling method once the
// C call has returned.

func (v *visit) guard(rc *C.int) {
	if r := recover(); r != nil {
		v.panicked, v.panicVal = true, r
		*rc = 1
	}
}

//export fhirGoPageCallback
func fhirGoPageCallback(page *C.char, n C.size_t, userData unsafe.Pointer) (rc C.int) {
	v, ok := cgo.Handle(uintptr(userData)).Value().(*visit)
	if !ok || v.panicked {
		return 1
	}
	defer v.guard(&rc)
	if !v.page(goBytes(page, n)) {
		return 1
	}
	return 0
}

//export fhirGoResourceCallback
func fhirGoResourceCallback(resource *C.char, n C.size_t, mode *C.char, userData unsafe.Pointer) (rc C.int) {
	v, ok := cgo.Handle(uintptr(userData)).Value().(*visit)
	if !ok || v.panicked {
		return 1
	}
	defer v.guard(&rc)
	if !v.resource(goBytes(resource, n), C.GoString(mode)) {
		return 1
	}
	return 0
}
