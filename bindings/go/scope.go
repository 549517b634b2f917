package fhirkindling

/*
#include <fhir_kindling.h>
*/
import "C"

import "context"

// callScoped runs f on p. Until the library has cancellation (issue 11), ctx is only checked
// before the call (by Server.do); the call itself runs to its own timeouts.
func callScoped(ctx context.Context, p *C.fhir_server_t, f cfunc) (*Error, error) {
	var cerr *C.fhir_error_t
	rc := f(p, &cerr)
	return takeError(rc, cerr), nil
}

func globalLogActive() bool { return false }
