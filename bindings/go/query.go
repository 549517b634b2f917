package fhirkindling

/*
#include <stdlib.h>
#include <fhir_kindling.h>
*/
import "C"

import "runtime"

// Query builds a search query string (a fhir_query_t): names and values are percent-encoded by
// the library. The builder methods return q for chaining; the first refused argument is kept and
// returned by Build (later calls are then ignored). A Query is not safe for concurrent use.
// Close frees it; a finalizer frees a forgotten one.
//
//	q, _ := fhirkindling.NewQuery("Patient")
//	defer q.Close()
//	query, err := q.Where("family", "", "Smith").Sort("-_lastUpdated").PageSize(50).Build()
type Query struct {
	ptr *C.fhir_query_t
	err error
}

// NewQuery starts a query on a resource type such as "Patient".
func NewQuery(resourceType string) (*Query, error) {
	ct, err := newCStr("resource type", resourceType)
	if err != nil {
		return nil, err
	}
	defer ct.free()
	var out *C.fhir_query_t
	var cerr *C.fhir_error_t
	if e := takeError(C.fhir_query_new(ct.p, &out, &cerr), cerr); e != nil {
		return nil, e
	}
	q := &Query{ptr: out}
	runtime.SetFinalizer(q, (*Query).Close)
	return q, nil
}

// Close frees the query; closing twice is harmless.
func (q *Query) Close() error {
	if q != nil && q.ptr != nil {
		runtime.SetFinalizer(q, nil)
		C.fhir_query_free(q.ptr)
		q.ptr = nil
	}
	return nil
}

// apply runs one builder call unless an earlier one failed; strs are copied to C for it.
func (q *Query) apply(whats []string, strs []string, f func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result) *Query {
	if q.err != nil {
		return q
	}
	if q.ptr == nil {
		q.err = ErrClosed
		return q
	}
	cs := make([]cstr, len(strs))
	for i, s := range strs {
		c, err := newOptCStr(whats[i], s)
		if err != nil {
			freeAll(cs)
			q.err = err
			return q
		}
		cs[i] = c
	}
	defer freeAll(cs)
	var cerr *C.fhir_error_t
	if e := takeError(f(q.ptr, cs, &cerr), cerr); e != nil {
		q.err = e
	}
	runtime.KeepAlive(q)
	return q
}

// Where adds a search parameter: field, an optional prefix ("eq", "gt", ...) or modifier
// (":exact", ":missing", ...) in op ("" for none), and a plain value (commas mean OR).
func (q *Query) Where(field, op, value string) *Query {
	return q.apply([]string{"field", "op", "value"}, []string{field, op, value}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_where(p, cs[0].p, cs[1].p, cs[2].p, e)
	})
}

// Param adds a parameter as it is named (such as "_lastUpdated"), with a plain value.
func (q *Query) Param(name, value string) *Query {
	return q.apply([]string{"name", "value"}, []string{name, value}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_param(p, cs[0].p, cs[1].p, e)
	})
}

// Include adds _include (or _include:iterate) of target, such as "Observation:patient".
func (q *Query) Include(target string, iterate bool) *Query {
	return q.apply([]string{"include"}, []string{target}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_include(p, cs[0].p, C.bool(iterate), e)
	})
}

// RevInclude adds _revinclude (or _revinclude:iterate) of target.
func (q *Query) RevInclude(target string, iterate bool) *Query {
	return q.apply([]string{"revinclude"}, []string{target}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_revinclude(p, cs[0].p, C.bool(iterate), e)
	})
}

// Has adds a reverse chain: _has:chain=value, such as ("Observation:patient:code", "http://loinc.org|8867-4").
func (q *Query) Has(chain, value string) *Query {
	return q.apply([]string{"chain", "value"}, []string{chain, value}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_has(p, cs[0].p, cs[1].p, e)
	})
}

// Sort sets _sort, such as "-_lastUpdated,family".
func (q *Query) Sort(fields string) *Query {
	return q.apply([]string{"sort"}, []string{fields}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_sort(p, cs[0].p, e)
	})
}

// Elements sets _elements, such as "id,name".
func (q *Query) Elements(fields string) *Query {
	return q.apply([]string{"elements"}, []string{fields}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_elements(p, cs[0].p, e)
	})
}

// Summary sets _summary: "true", "false", "text", "data" or "count".
func (q *Query) Summary(mode string) *Query {
	return q.apply([]string{"summary"}, []string{mode}, func(p *C.fhir_query_t, cs []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_summary(p, cs[0].p, e)
	})
}

// PageSize sets _count.
func (q *Query) PageSize(n uint32) *Query {
	return q.apply(nil, nil, func(p *C.fhir_query_t, _ []cstr, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_query_page_size(p, C.uint32_t(n), e)
	})
}

// Build returns the query string ("Type?params") for the search methods, or the first error of
// the builder calls.
func (q *Query) Build() (string, error) {
	if q.err != nil {
		return "", q.err
	}
	if q.ptr == nil {
		return "", ErrClosed
	}
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	rc := C.fhir_query_build(q.ptr, &out, &n, &cerr)
	runtime.KeepAlive(q)
	if e := takeError(rc, cerr); e != nil {
		return "", e
	}
	return string(takeJSON(out, n)), nil
}
