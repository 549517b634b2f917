package fhirkindling

/*
#include <fhir_kindling.h>
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Code is a result code of the C library (enum fhir_result). The values are part of the C ABI:
// codes are only ever added, never renumbered.
type Code int

// The result codes. CodeOK never appears in an error.
const (
	CodeOK              Code = C.FHIR_OK
	CodeNullArgument    Code = C.FHIR_ERR_NULL_ARGUMENT
	CodeInvalidArgument Code = C.FHIR_ERR_INVALID_ARGUMENT
	CodeConfig          Code = C.FHIR_ERR_CONFIG
	CodeConnect         Code = C.FHIR_ERR_CONNECT
	CodeTLS             Code = C.FHIR_ERR_TLS
	CodeTimeout         Code = C.FHIR_ERR_TIMEOUT
	CodeHTTPStatus      Code = C.FHIR_ERR_HTTP_STATUS
	CodeAuth            Code = C.FHIR_ERR_AUTH
	CodeJSON            Code = C.FHIR_ERR_JSON
	CodeNotFound        Code = C.FHIR_ERR_NOT_FOUND
	CodeGone            Code = C.FHIR_ERR_GONE
	CodeConflict        Code = C.FHIR_ERR_CONFLICT
	CodeProxy           Code = C.FHIR_ERR_PROXY
	CodeProtocol        Code = C.FHIR_ERR_PROTOCOL
	CodePaging          Code = C.FHIR_ERR_PAGING
	CodeIO              Code = C.FHIR_ERR_IO
	CodePanic           Code = C.FHIR_ERR_PANIC
	CodeRuntime         Code = C.FHIR_ERR_RUNTIME
	CodeLimit           Code = C.FHIR_ERR_LIMIT
	// CodeCancelled: the call's cancel token was triggered (its context was cancelled) or a
	// request hook refused the request.
	CodeCancelled Code = C.FHIR_ERR_CANCELLED
)

// String is the library's English description of the code (fhir_result_str).
func (c Code) String() string { return C.GoString(C.fhir_result_str(C.int(c))) }

// Sentinel errors, one per code, for errors.Is: errors.Is(err, ErrNotFound) is true for every
// *Error whose Code is CodeNotFound, whatever its message, status or body.
var (
	ErrNullArgument    = sentinel(CodeNullArgument)
	ErrInvalidArgument = sentinel(CodeInvalidArgument)
	ErrConfig          = sentinel(CodeConfig)
	ErrConnect         = sentinel(CodeConnect)
	ErrTLS             = sentinel(CodeTLS)
	ErrTimeout         = sentinel(CodeTimeout)
	ErrHTTPStatus      = sentinel(CodeHTTPStatus)
	ErrAuth            = sentinel(CodeAuth)
	ErrJSON            = sentinel(CodeJSON)
	ErrNotFound        = sentinel(CodeNotFound)
	ErrGone            = sentinel(CodeGone)
	ErrConflict        = sentinel(CodeConflict)
	ErrProxy           = sentinel(CodeProxy)
	ErrProtocol        = sentinel(CodeProtocol)
	ErrPaging          = sentinel(CodePaging)
	ErrIO              = sentinel(CodeIO)
	ErrPanic           = sentinel(CodePanic)
	ErrRuntime         = sentinel(CodeRuntime)
	ErrLimit           = sentinel(CodeLimit)
	ErrCancelled       = sentinel(CodeCancelled)
)

// ErrClosed is returned by every method of a Server or Query after Close.
var ErrClosed = errors.New("fhirkindling: handle is closed")

// Error is a failed library call: the result code, the library's message, the HTTP status the
// server answered with (0 when the failure was not an HTTP answer) and the server's response
// body as it came (often an OperationOutcome; nil when there was none). Use errors.As to get it:
//
//	var fe *fhirkindling.Error
//	if errors.As(err, &fe) { log.Print(fe.HTTPStatus, string(fe.OperationOutcome())) }
type Error struct {
	Code       Code
	Message    string
	HTTPStatus int
	Body       []byte
	// Cause is the error a request hook returned when it refused a request (the call then
	// fails with CodeCancelled); nil otherwise.
	Cause error

	sentinel bool
}

func sentinel(code Code) *Error { return &Error{Code: code, Message: code.String(), sentinel: true} }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("fhirkindling: ")
	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString(e.Code.String())
	}
	fmt.Fprintf(&b, " (code %d", int(e.Code))
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ", HTTP %d", e.HTTPStatus)
	}
	b.WriteString(")")
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Is reports whether target is the sentinel error (ErrNotFound, ...) of e's code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Code == e.Code
}

// Unwrap returns the request hook's error, if any.
func (e *Error) Unwrap() error { return e.Cause }

// OperationOutcome returns Body when it is a FHIR OperationOutcome resource, else nil.
func (e *Error) OperationOutcome() []byte {
	if len(e.Body) == 0 {
		return nil
	}
	var probe struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(e.Body, &probe) != nil || probe.ResourceType != "OperationOutcome" {
		return nil
	}
	return e.Body
}

// contextError is a call ended by its context: errors.Is(err, context.Canceled) (or
// context.DeadlineExceeded) and errors.As(err, &*Error) both hold.
type contextError struct {
	ctx  error
	fhir *Error
}

func (e *contextError) Error() string   { return e.ctx.Error() + ": " + e.fhir.Error() }
func (e *contextError) Unwrap() []error { return []error{e.ctx, e.fhir} }

func invalidArg(msg string) *Error { return &Error{Code: CodeInvalidArgument, Message: msg} }

// takeError turns a failed call's result code and error object into an *Error and frees the
// error object. The fallback without an error object only guards against a library that does
// not fill it.
func takeError(code C.fhir_result, cerr *C.fhir_error_t) *Error {
	if code == C.FHIR_OK {
		C.fhir_error_free(cerr) // never set on success; NULL is ignored
		return nil
	}
	if cerr == nil {
		return &Error{Code: Code(code), Message: Code(code).String()}
	}
	defer C.fhir_error_free(cerr)
	e := &Error{
		Code:       Code(C.fhir_error_code(cerr)),
		Message:    C.GoString(C.fhir_error_message(cerr)),
		HTTPStatus: int(C.fhir_error_http_status(cerr)),
	}
	var n C.size_t
	if body := C.fhir_error_body(cerr, &n); body != nil {
		e.Body = goBytes(body, n)
	}
	return e
}

// asError returns nil for a nil *Error (avoids a non-nil error interface holding nil).
func asError(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}
