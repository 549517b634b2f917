package fhirkindling

/*
#include <fhir_kindling.h>
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// Cancel is a cancel token (a fhir_cancel_t) for scoped handles (Server.Scope): Trigger ends the
// calls it governs promptly with ErrCancelled, from any goroutine. Per-call cancellation needs
// none of this: every method takes a context, and cancelling it cancels the call.
type Cancel struct {
	p *C.fhir_cancel_t
}

// NewCancel makes a token, not triggered. Close frees it (scoped handles made with it keep
// working); a finalizer frees a forgotten one.
func NewCancel() *Cancel {
	c := &Cancel{p: C.fhir_cancel_new()}
	runtime.SetFinalizer(c, (*Cancel).Close)
	return c
}

// Trigger cancels the calls the token governs; idempotent, from any goroutine.
func (c *Cancel) Trigger() {
	if c != nil && c.p != nil {
		C.fhir_cancel_trigger(c.p)
		runtime.KeepAlive(c)
	}
}

// IsTriggered reports whether Trigger was called.
func (c *Cancel) IsTriggered() bool {
	if c == nil || c.p == nil {
		return false
	}
	t := bool(C.fhir_cancel_is_triggered(c.p))
	runtime.KeepAlive(c)
	return t
}

// Close frees the token; closing twice is harmless. Close must not race with Trigger.
func (c *Cancel) Close() error {
	if c != nil && c.p != nil {
		runtime.SetFinalizer(c, nil)
		C.fhir_cancel_free(c.p)
		c.p = nil
	}
	return nil
}

// Scope returns a scoped handle (fhir_server_scope): it shares s's connections, token cache and
// options, and every call made through it is governed by cancel (may be nil) and by a deadline
// timeout from now (0: none) covering all its calls, attempts and backoff waits. Close it
// independently of s, in any order.
func (s *Server) Scope(cancel *Cancel, timeout time.Duration) (*Server, error) {
	p := s.ptr.Load()
	if p == nil {
		return nil, ErrClosed
	}
	var cp *C.fhir_cancel_t
	if cancel != nil {
		cp = cancel.p
	}
	var out *C.fhir_server_t
	var cerr *C.fhir_error_t
	rc := C.fhir_server_scope(p, cp, millis(timeout), &out, &cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(cancel)
	if e := takeError(rc, cerr); e != nil {
		return nil, e
	}
	s.st.acquire()
	return wrapServer(out, s.st), nil
}

// CallInfo is what one call did (fhir_call_info_t).
type CallInfo struct {
	Status         int           // HTTP status of the last answer, 0 if none came
	Attempts       int           // attempts of the last request (1: not retried)
	Requests       int           // HTTP requests sent to the FHIR server (pages included, token requests not)
	BytesSent      uint64        // request body bytes
	BytesReceived  uint64        // response body bytes (after decompression)
	Total          time.Duration // wall time of the call
	FirstByte      time.Duration // last request: sending to response headers
	Connect        time.Duration // opening new connections (TCP + TLS); 0 when all were reused
	NewConnections int
}

func callInfo(p *C.fhir_server_t) (CallInfo, *Error) {
	var ci C.fhir_call_info_t
	var cerr *C.fhir_error_t
	if e := takeError(C.fhir_server_last_call(p, &ci, &cerr), cerr); e != nil {
		return CallInfo{}, e
	}
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	return CallInfo{Status: int(ci.status), Attempts: int(ci.attempts), Requests: int(ci.requests),
		BytesSent: uint64(ci.bytes_sent), BytesReceived: uint64(ci.bytes_received), Total: us(ci.total_us),
		FirstByte: us(ci.first_byte_us), Connect: us(ci.connect_us), NewConnections: int(ci.new_connections)}, nil
}

// LastCall is what the last call made through this handle did (fhir_server_last_call). On a
// Server shared by goroutines "last" is the call that ended last; WithCallInfo gives one call's
// own record.
func (s *Server) LastCall() (CallInfo, error) {
	p := s.ptr.Load()
	if p == nil {
		return CallInfo{}, ErrClosed
	}
	ci, e := callInfo(p)
	runtime.KeepAlive(s)
	return ci, asError(e)
}

type callInfoKey struct{}

// WithCallInfo returns a context that makes the call it is given to fill *info with what that
// call did (exactly: the call runs through its own scoped handle), whether it succeeded or not.
func WithCallInfo(ctx context.Context, info *CallInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, info)
}

// callScoped runs f on p under ctx. A context that can end (Done or a deadline), or that asks
// for a CallInfo, gets a cancel token and a scoped handle for this one call: the token is
// triggered when ctx is done, the deadline is ctx's. A call that ended with ErrCancelled or
// ErrTimeout because of ctx also returns ctx's error (Server.do wraps both).
func callScoped(ctx context.Context, p *C.fhir_server_t, f cfunc) (*Error, error) {
	info, _ := ctx.Value(callInfoKey{}).(*CallInfo)
	deadline, hasDeadline := ctx.Deadline()
	if ctx.Done() == nil && !hasDeadline && info == nil {
		var cerr *C.fhir_error_t
		rc := f(p, &cerr)
		return takeError(rc, cerr), nil
	}
	var timeoutMs C.uint64_t
	if hasDeadline {
		d := time.Until(deadline)
		if d <= 0 {
			return &Error{Code: CodeTimeout, Message: "the context's deadline passed before the call"}, context.DeadlineExceeded
		}
		timeoutMs = millis(d + time.Millisecond - 1) // round up: never end before ctx does
	}
	cancel := C.fhir_cancel_new()
	var scoped *C.fhir_server_t
	var cerr *C.fhir_error_t
	if e := takeError(C.fhir_server_scope(p, cancel, timeoutMs, &scoped, &cerr), cerr); e != nil {
		C.fhir_cancel_free(cancel)
		return e, nil
	}
	var stop func() bool
	triggered := make(chan struct{})
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() {
			// At ctx's deadline the library's own deadline (the same, rounded up to 1 ms) ends
			// the call with ErrTimeout; any other end of ctx triggers the token.
			if !hasDeadline || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				C.fhir_cancel_trigger(cancel)
			}
			close(triggered)
		})
	}
	rc := f(scoped, &cerr)
	if stop != nil && !stop() {
		<-triggered // the trigger ran or is running: let it finish before the token is freed
	}
	if info != nil {
		*info, _ = callInfo(scoped)
	}
	C.fhir_server_free(scoped)
	C.fhir_cancel_free(cancel)
	fe := takeError(rc, cerr)
	if fe == nil || (fe.Code != CodeCancelled && fe.Code != CodeTimeout) {
		return fe, nil
	}
	if err := ctx.Err(); err != nil {
		return fe, err
	}
	if fe.Code == CodeTimeout && hasDeadline && time.Until(deadline) <= 10*time.Millisecond {
		return fe, context.DeadlineExceeded // the library's deadline fired a moment before ctx's timer
	}
	return fe, nil
}
