package fhirkindling

/*
#include <stdlib.h>
#include <fhir_kindling.h>
*/
import "C"

import (
	"context"
	"runtime"
)

// Capabilities returns the server's CapabilityStatement (GET [base]/metadata).
func (s *Server) Capabilities(ctx context.Context) ([]byte, error) {
	return s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_capabilities(p, out, n, e)
	})
}

// Summary returns the server summary of fhir_server_summary as JSON.
func (s *Server) Summary(ctx context.Context) ([]byte, error) {
	return s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_summary(p, out, n, e)
	})
}

// GrantedScope is the scope granted with the current token of an OIDC or SMART server (a token
// is fetched first when none is cached).
func (s *Server) GrantedScope(ctx context.Context) (string, error) {
	b, err := s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_granted_scope(p, out, n, e)
	})
	return string(b), err
}

// Request sends one request (fhir_server_request) and returns the 2xx status and the body as it
// came. path is relative to the base URL ("Patient/1", "Patient?name=x", percent-encoded) or an
// absolute URL on the same server; body nil for none (else JSON, sent as application/fhir+json).
// A non-2xx answer is an *Error with the status and body.
func (s *Server) Request(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	cs, err := cstrs([]string{"method", "path"}, method, path)
	if err != nil {
		return 0, nil, err
	}
	defer freeAll(cs)
	var status C.uint16_t
	var out *C.char
	var n C.size_t
	defer func() { C.fhir_string_free(out) }() // also when do re-raises a callback's panic
	err = s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_request(p, cs[0].p, cs[1].p, bytesPtr(body), C.size_t(len(body)), &status, &out, &n, e)
	})
	runtime.KeepAlive(body)
	if err != nil || out == nil {
		return 0, nil, err
	}
	return int(status), goBytes(out, n), nil
}

// Read reads "Type/id" or "Type/id/_history/vid". A missing resource gives ErrNotFound, a
// deleted one ErrGone.
func (s *Server) Read(ctx context.Context, ref string) ([]byte, error) {
	return s.jsonStr(ctx, "reference", ref, func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_read(p, a, out, n, e)
	})
}

// ReadMany reads several references in one batch and returns a JSON array in their order (see
// fhir_resource_read_many for the items).
func (s *Server) ReadMany(ctx context.Context, refs []string) ([]byte, error) {
	a, err := newCArray("reference", refs)
	if err != nil {
		return nil, err
	}
	defer a.free()
	return s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_read_many(p, a.ptr(), C.size_t(len(refs)), out, n, e)
	})
}

// jsonIn runs a call that borrows a JSON input and an optional string and yields a JSON buffer.
func (s *Server) jsonIn(ctx context.Context, in []byte, what, opt string, optional bool,
	f func(p *C.fhir_server_t, j *C.char, jn C.size_t, o *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result) ([]byte, error) {
	if len(in) == 0 {
		return nil, invalidArg("empty JSON input")
	}
	var co cstr
	var err error
	if optional {
		co, err = newOptCStr(what, opt)
	} else {
		co, err = newCStr(what, opt)
	}
	if err != nil {
		return nil, err
	}
	defer co.free()
	out, err := s.jsonOut(ctx, func(p *C.fhir_server_t, o **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return f(p, bytesPtr(in), C.size_t(len(in)), co.p, o, n, e)
	})
	runtime.KeepAlive(in)
	return out, err
}

// Create POSTs a resource and returns it as created (with its id and meta.versionId).
func (s *Server) Create(ctx context.Context, resource []byte) ([]byte, error) {
	return s.CreateIfNoneExist(ctx, resource, "")
}

// CreateIfNoneExist is a conditional create: when a resource matches condition
// (percent-encoded search parameters, optionally prefixed by "Type?"), nothing is created and
// the existing one is returned. condition "" is a plain create.
func (s *Server) CreateIfNoneExist(ctx context.Context, resource []byte, condition string) ([]byte, error) {
	return s.jsonIn(ctx, resource, "condition", condition, true, func(p *C.fhir_server_t, j *C.char, jn C.size_t, o *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_create(p, j, jn, o, out, n, e)
	})
}

// CreateAll creates a JSON array of resources (or a collection Bundle) in transactions of
// batchSize (0: the library's default, 500) and returns {"created":[...],"batches":n}.
func (s *Server) CreateAll(ctx context.Context, resources []byte, batchSize int) ([]byte, error) {
	if batchSize < 0 {
		return nil, invalidArg("negative batch size")
	}
	return s.jsonIn(ctx, resources, "", "", true, func(p *C.fhir_server_t, j *C.char, jn C.size_t, _ *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_create_all(p, j, jn, C.size_t(batchSize), out, n, e)
	})
}

// Update PUTs a resource (it must have an id) and returns it as updated.
func (s *Server) Update(ctx context.Context, resource []byte) ([]byte, error) {
	return s.UpdateIfMatch(ctx, resource, "")
}

// UpdateIfMatch updates only when the server's current version is version (a version id "3"
// or an ETag `W/"3"`); otherwise ErrConflict. version "" is an unconditional update.
func (s *Server) UpdateIfMatch(ctx context.Context, resource []byte, version string) ([]byte, error) {
	return s.jsonIn(ctx, resource, "If-Match version", version, true, func(p *C.fhir_server_t, j *C.char, jn C.size_t, o *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_update(p, j, jn, o, out, n, e)
	})
}

// UpdateConditional is PUT [base]/Type?condition: updates the match, or creates the resource.
func (s *Server) UpdateConditional(ctx context.Context, resource []byte, condition string) ([]byte, error) {
	return s.jsonIn(ctx, resource, "condition", condition, false, func(p *C.fhir_server_t, j *C.char, jn C.size_t, o *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_update_conditional(p, j, jn, o, out, n, e)
	})
}

// Delete deletes "Type/id".
func (s *Server) Delete(ctx context.Context, ref string) error {
	cr, err := newCStr("reference", ref)
	if err != nil {
		return err
	}
	defer cr.free()
	return s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_delete(p, cr.p, e)
	})
}

// DeleteMany deletes several references in one batch and returns a JSON array of outcomes in
// their order.
func (s *Server) DeleteMany(ctx context.Context, refs []string) ([]byte, error) {
	a, err := newCArray("reference", refs)
	if err != nil {
		return nil, err
	}
	defer a.free()
	return s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_delete_many(p, a.ptr(), C.size_t(len(refs)), out, n, e)
	})
}

// DeleteByQuery is a conditional delete: DELETE [base]/Type?params.
func (s *Server) DeleteByQuery(ctx context.Context, query string) error {
	cq, err := newCStr("query", query)
	if err != nil {
		return err
	}
	defer cq.free()
	return s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_delete_by_query(p, cq.p, e)
	})
}

// SendBundle POSTs a transaction or batch Bundle and returns the response Bundle.
func (s *Server) SendBundle(ctx context.Context, bundle []byte) ([]byte, error) {
	return s.jsonIn(ctx, bundle, "", "", true, func(p *C.fhir_server_t, j *C.char, jn C.size_t, _ *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bundle_send(p, j, jn, out, n, e)
	})
}

// History returns the history of the whole server (target ""), a type or one resource as one
// history Bundle of at most limit entries (0: all).
func (s *Server) History(ctx context.Context, target string, limit uint64) ([]byte, error) {
	ct, err := newOptCStr("target", target)
	if err != nil {
		return nil, err
	}
	defer ct.free()
	return s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_history(p, ct.p, C.uint64_t(limit), out, n, e)
	})
}

// Operation runs a FHIR operation such as "$everything" at system (target ""), type or instance
// level. method is "GET" or "POST"; parameters (POST only) is a Parameters resource or nil.
// The answer's body comes back as the server sent it.
func (s *Server) Operation(ctx context.Context, target, name, method string, parameters []byte) ([]byte, error) {
	ct, err := newOptCStr("target", target)
	if err != nil {
		return nil, err
	}
	defer ct.free()
	cs, err := cstrs([]string{"operation name", "method"}, name, method)
	if err != nil {
		return nil, err
	}
	defer freeAll(cs)
	out, err := s.jsonOut(ctx, func(p *C.fhir_server_t, o **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_operation(p, ct.p, cs[0].p, cs[1].p, bytesPtr(parameters), C.size_t(len(parameters)), o, n, e)
	})
	runtime.KeepAlive(parameters)
	return out, err
}

// SearchAll runs a search ("Type?params", percent-encoded; Query.Build makes one) and follows
// every next link; the result is one searchset Bundle with every entry.
func (s *Server) SearchAll(ctx context.Context, query string) ([]byte, error) {
	return s.jsonStr(ctx, "query", query, func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_search_all(p, a, out, n, e)
	})
}

// SearchLimit is SearchAll stopping after limit entries.
func (s *Server) SearchLimit(ctx context.Context, query string, limit uint64) ([]byte, error) {
	return s.jsonStr(ctx, "query", query, func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_search_limit(p, a, C.uint64_t(limit), out, n, e)
	})
}

// SearchFirst returns the first page (a Bundle) of a search.
func (s *Server) SearchFirst(ctx context.Context, query string) ([]byte, error) {
	return s.jsonStr(ctx, "query", query, func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_search_first(p, a, out, n, e)
	})
}

// SearchCount returns the number of matches of a search (_summary=count).
func (s *Server) SearchCount(ctx context.Context, query string) (uint64, error) {
	cq, err := newCStr("query", query)
	if err != nil {
		return 0, err
	}
	defer cq.free()
	var count C.uint64_t
	err = s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_search_count(p, cq.p, &count, e)
	})
	return uint64(count), err
}
