package fhirkindling

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"time"
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

//export fhirGoLog
func fhirGoLog(level C.int, target *C.char, targetLen C.size_t, message *C.char, messageLen C.size_t, handle C.uintptr_t) {
	defer func() { recoverInto(recover()) }()
	var fn LogFunc
	if handle == 0 {
		p := globalLog.Load()
		if p == nil {
			return
		}
		fn = *p
	} else if f, ok := cgo.Handle(handle).Value().(LogFunc); ok {
		fn = f
	} else {
		return
	}
	fn(LogLevel(level), string(goBytes(target, targetLen)), string(goBytes(message, messageLen)))
}

//export fhirGoHook
func fhirGoHook(method, url *C.char, headers unsafe.Pointer, handle C.uintptr_t) (rc C.int) {
	defer func() {
		if recoverInto(recover()) {
			rc = 1
		}
	}()
	hook, ok := cgo.Handle(handle).Value().(RequestHook)
	if !ok {
		return 1
	}
	h := &Headers{p: headers, valid: true}
	defer func() { h.valid = false }()
	if err := hook(C.GoString(method), C.GoString(url), h); err != nil {
		if cs := currentCall(); cs != nil && cs.hookErr == nil {
			cs.hookErr = err
		}
		return 1
	}
	return 0
}

func (bc *bulkCall) guard(rc *C.int) {
	if r := recover(); r != nil {
		bc.panicked, bc.panicVal = true, r
		*rc = 1
	}
}

//export fhirGoBulkLine
func fhirGoBulkLine(line *C.char, n C.size_t, resourceType *C.char, kind C.int, file C.size_t, userData unsafe.Pointer) (rc C.int) {
	bc, ok := cgo.Handle(uintptr(userData)).Value().(*bulkCall)
	if !ok || bc.line == nil || bc.panicked || bc.err != nil {
		return 1
	}
	defer bc.guard(&rc)
	// One Go buffer per call, reused: the line is valid Go memory while fn runs, and a slice kept
	// past it sees later lines rather than freed C memory.
	bc.buf = append(bc.buf[:0], unsafe.Slice((*byte)(unsafe.Pointer(line)), int(n))...)
	idx := int(file)
	t, seen := bc.types[idx]
	if !seen {
		if bc.types == nil {
			bc.types = make(map[int]string)
		}
		t = C.GoString(resourceType)
		bc.types[idx] = t
	}
	if err := bc.line(BulkFile{ResourceType: t, Kind: BulkFileKind(kind), Index: idx}, bc.buf); err != nil {
		bc.err = err
		return 1
	}
	return 0
}

//export fhirGoBulkProgress
func fhirGoBulkProgress(progress *C.char, nextPollMs C.uint64_t, userData unsafe.Pointer) {
	bc, ok := cgo.Handle(uintptr(userData)).Value().(*bulkCall)
	if !ok || bc.progress == nil || bc.panicked {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			bc.panicked, bc.panicVal = true, r
			bc.stop() // the progress callback cannot stop the wait itself: cancel the call
		}
	}()
	var text string
	if progress != nil {
		text = C.GoString(progress)
	}
	bc.progress(text, time.Duration(nextPollMs)*time.Millisecond)
}
