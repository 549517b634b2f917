package fhirkindling

/*
#include <stdint.h>
#include <fhir_kindling.h>

// Implemented in Go (callback.go, //export); the signatures match the generated _cgo_export.h.
extern int fhirGoPageCallback(char *page_json, size_t len, void *user_data);
extern int fhirGoResourceCallback(char *resource_json, size_t len, char *search_mode, void *user_data);

static int fhirgo_page_trampoline(const char *page_json, size_t len, void *user_data) {
	return fhirGoPageCallback((char *)page_json, len, user_data);
}

static int fhirgo_resource_trampoline(const char *resource_json, size_t len, const char *search_mode, void *user_data) {
	return fhirGoResourceCallback((char *)resource_json, len, (char *)search_mode, user_data);
}

// user_data is a runtime/cgo.Handle (an integer), never a Go pointer; it becomes a void * here,
// on the C side, so that Go never turns an integer into an unsafe.Pointer.
static fhir_result fhirgo_search_pages(const fhir_server_t *server, const char *query, uintptr_t handle,
                                       char **next_url_out, fhir_error_t **error_out) {
	return fhir_search_pages(server, query, fhirgo_page_trampoline, (void *)handle, next_url_out, error_out);
}

static fhir_result fhirgo_search_resources(const fhir_server_t *server, const char *query, uintptr_t handle,
                                           char **next_url_out, fhir_error_t **error_out) {
	return fhir_search_resources(server, query, fhirgo_resource_trampoline, (void *)handle, next_url_out, error_out);
}
*/
import "C"

import (
	"context"
	"runtime/cgo"
)

// visit is the state behind the cgo.Handle given to the C library as a search's user_data.
type visit struct {
	page     func(page []byte) bool
	resource func(resource []byte, mode string) bool
	panicked bool
	panicVal any
}

// stream runs one streaming search and re-raises a callback's panic once the C call has
// returned and everything it held is freed.
func (s *Server) stream(ctx context.Context, query string, v *visit,
	f func(p *C.fhir_server_t, q *C.char, h C.uintptr_t, next **C.char, e **C.fhir_error_t) C.fhir_result) (string, error) {
	cq, err := newCStr("query", query)
	if err != nil {
		return "", err
	}
	defer cq.free()
	h := cgo.NewHandle(v)
	var next *C.char // written on success and on a paging failure
	// Released by defers: do re-raises a log callback's or hook's panic itself.
	defer h.Delete()
	defer func() { C.fhir_string_free(next) }()
	err = s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return f(p, cq.p, C.uintptr_t(h), &next, e)
	})
	var nextURL string
	if next != nil {
		nextURL = C.GoString(next)
	}
	if v.panicked {
		panic(v.panicVal) // the defers free the handle and the URL as it unwinds
	}
	return nextURL, err
}

// SearchPages streams a search page by page: fn gets each page's Bundle (a copy it may keep) on
// the calling goroutine (the library holds at most two pages: the next is asked for ahead), and
// returns true to go on, false to stop.
// It returns the URL to resume from ("" when the search is exhausted; on a paging failure the
// page to retry) and the error. fn may call methods of s. A panic in fn stops the search and is
// re-raised here after the C call returned (it never unwinds through C frames).
func (s *Server) SearchPages(ctx context.Context, query string, fn func(page []byte) bool) (string, error) {
	if fn == nil {
		return "", invalidArg("nil callback")
	}
	return s.stream(ctx, query, &visit{page: fn}, func(p *C.fhir_server_t, q *C.char, h C.uintptr_t, next **C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhirgo_search_pages(p, q, h, next, e)
	})
}

// SearchResources streams a search resource by resource: fn gets each entry's resource (a copy)
// and its search mode ("match", "include" or "outcome"). Otherwise as SearchPages.
func (s *Server) SearchResources(ctx context.Context, query string, fn func(resource []byte, mode string) bool) (string, error) {
	if fn == nil {
		return "", invalidArg("nil callback")
	}
	return s.stream(ctx, query, &visit{resource: fn}, func(p *C.fhir_server_t, q *C.char, h C.uintptr_t, next **C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhirgo_search_resources(p, q, h, next, e)
	})
}
