package fhirkindling

/*
#include <stdlib.h>
#include <fhir_kindling.h>

// Wipes a C copy of a secret before it is freed.
static void fhirgo_free_secret(char *s) {
	if (s != NULL) {
		volatile char *p = s;
		while (*p) { *p++ = 0; }
		free(s);
	}
}
*/
import "C"

import (
	"math"
	"strings"
	"unsafe"
)

// takeJSON copies a library-owned buffer into Go memory and frees it with fhir_string_free.
func takeJSON(buf *C.char, n C.size_t) []byte {
	if buf == nil {
		return nil
	}
	defer C.fhir_string_free(buf)
	return goBytes(buf, n)
}

// goBytes copies n bytes of C memory into a new Go slice (C.GoBytes takes a C int, so a buffer of
// 2 GiB or more is copied through unsafe.Slice).
func goBytes(p *C.char, n C.size_t) []byte {
	if n <= math.MaxInt32 {
		return C.GoBytes(unsafe.Pointer(p), C.int(n))
	}
	out := make([]byte, int(n))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	return out
}

// cstr is a C copy of a Go string; free it with free (or freeSecret for secrets).
type cstr struct{ p *C.char }

// newCStr copies s into C memory. Strings with a NUL byte are refused: C would cut them short.
func newCStr(what, s string) (cstr, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return cstr{}, invalidArg(what + " contains a NUL byte")
	}
	return cstr{C.CString(s)}, nil
}

// newOptCStr is newCStr, with "" meaning NULL.
func newOptCStr(what, s string) (cstr, error) {
	if s == "" {
		return cstr{}, nil
	}
	return newCStr(what, s)
}

func (c cstr) free() {
	if c.p != nil {
		C.free(unsafe.Pointer(c.p))
	}
}

func (c cstr) freeSecret() { C.fhirgo_free_secret(c.p) }

// cstrs copies several strings, freeing what it made when one is refused.
func cstrs(whats []string, values ...string) ([]cstr, error) {
	out := make([]cstr, 0, len(values))
	for i, v := range values {
		c, err := newCStr(whats[i], v)
		if err != nil {
			freeAll(out)
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func freeAll(cs []cstr) {
	for _, c := range cs {
		c.free()
	}
}

// bytesPtr is the address of b's first byte for a call that borrows it (Go memory without Go
// pointers may be passed to C for the duration of a call); nil for an empty slice.
func bytesPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b)))
}
