// Package fhir is a thin Go wrapper over the fhir_kindling C library (include/fhir_kindling.h).
//
// Ownership: every JSON buffer the library returns is copied into a Go []byte and freed with
// fhir_string_free before the call returns; every fhir_error_t is copied into an *Error and freed
// with fhir_error_free. Callers never see C memory.
//
// Concurrency: a *Server may be used by many goroutines at once (the C handle is thread-safe).
// Only Close must not run concurrently with other calls on the same Server. Options values are
// plain Go data and are not safe for concurrent mutation.
package fhir

/*
#cgo pkg-config: fhir_kindling
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fhir_kindling.h>

// Implemented in Go (callback.go, //export). The signature matches the generated _cgo_export.h.
extern int fhirGoResourceCallback(char *resource_json, size_t len, char *search_mode, void *user_data);

// Adapts the const-qualified C callback type to the exported Go function.
static int fhirgo_resource_trampoline(const char *resource_json, size_t len, const char *search_mode, void *user_data) {
	return fhirGoResourceCallback((char *)resource_json, len, (char *)search_mode, user_data);
}

// The user_data is a runtime/cgo.Handle (an integer), never a Go pointer. It is turned into a
// void* here, on the C side, so that Go never converts an integer into an unsafe.Pointer.
static fhir_result fhirgo_search_resources(const fhir_server_t *server, const char *query,
                                           uintptr_t handle, fhir_error_t **error_out) {
	return fhir_search_resources(server, query, fhirgo_resource_trampoline, (void *)handle, NULL, error_out);
}

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
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Result codes of the C library (enum fhir_result). The values are part of the C ABI.
const (
	CodeOK              = int(C.FHIR_OK)
	CodeNullArgument    = int(C.FHIR_ERR_NULL_ARGUMENT)
	CodeInvalidArgument = int(C.FHIR_ERR_INVALID_ARGUMENT)
	CodeConfig          = int(C.FHIR_ERR_CONFIG)
	CodeConnect         = int(C.FHIR_ERR_CONNECT)
	CodeTLS             = int(C.FHIR_ERR_TLS)
	CodeTimeout         = int(C.FHIR_ERR_TIMEOUT)
	CodeHTTPStatus      = int(C.FHIR_ERR_HTTP_STATUS)
	CodeAuth            = int(C.FHIR_ERR_AUTH)
	CodeJSON            = int(C.FHIR_ERR_JSON)
	CodeNotFound        = int(C.FHIR_ERR_NOT_FOUND)
	CodeGone            = int(C.FHIR_ERR_GONE)
	CodeConflict        = int(C.FHIR_ERR_CONFLICT)
	CodeProxy           = int(C.FHIR_ERR_PROXY)
	CodeProtocol        = int(C.FHIR_ERR_PROTOCOL)
	CodePaging          = int(C.FHIR_ERR_PAGING)
	CodeIO              = int(C.FHIR_ERR_IO)
	CodePanic           = int(C.FHIR_ERR_PANIC)
	CodeRuntime         = int(C.FHIR_ERR_RUNTIME)
)

// Sentinel errors for errors.Is: errors.Is(err, fhir.ErrNotFound) is true for any *Error whose
// Code is CodeNotFound, whatever its message, status or body.
var (
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
	ErrProtocol        = sentinel(CodeProtocol)
	ErrPaging          = sentinel(CodePaging)
	ErrIO              = sentinel(CodeIO)
)

// ErrClosed is returned by every method of a Server after Close.
var ErrClosed = errors.New("fhir: server is closed")

// Error is a failed library call: the result code, the library's message, the HTTP status the
// server answered with (0 when the failure was not an HTTP answer) and the server's response
// body (often an OperationOutcome; nil when there was none).
type Error struct {
	Code       int
	Message    string
	HTTPStatus int
	Body       []byte

	sentinel bool
}

func sentinel(code int) *Error { return &Error{Code: code, Message: CodeString(code), sentinel: true} }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("fhir: ")
	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString(CodeString(e.Code))
	}
	fmt.Fprintf(&b, " (code %d", e.Code)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ", HTTP %d", e.HTTPStatus)
	}
	b.WriteString(")")
	return b.String()
}

// Is reports whether target is the sentinel error (ErrNotFound, ...) for e's code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Code == e.Code
}

// CodeString is the library's English description of a result code.
func CodeString(code int) string { return C.GoString(C.fhir_result_str(C.int(code))) }

// Version is the version of the loaded C library, e.g. "0.2.0".
func Version() string { return C.GoString(C.fhir_version()) }

// takeError turns a failed call's result code and error object into an *Error and frees the
// error object. The C library always fills the error on failure when asked; the fallback only
// guards against a library that does not.
func takeError(code C.fhir_result, cerr *C.fhir_error_t) error {
	if code == C.FHIR_OK {
		C.fhir_error_free(cerr) // never set on success; NULL is ignored
		return nil
	}
	if cerr == nil {
		return &Error{Code: int(code), Message: CodeString(int(code))}
	}
	defer C.fhir_error_free(cerr)
	e := &Error{
		Code:       int(C.fhir_error_code(cerr)),
		Message:    C.GoString(C.fhir_error_message(cerr)),
		HTTPStatus: int(C.fhir_error_http_status(cerr)),
	}
	var n C.size_t
	if body := C.fhir_error_body(cerr, &n); body != nil {
		e.Body = goBytes(body, n)
	}
	return e
}

// takeJSON copies a library-owned buffer into Go memory and frees it.
func takeJSON(buf *C.char, n C.size_t) []byte {
	if buf == nil {
		return nil
	}
	defer C.fhir_string_free(buf)
	return goBytes(buf, n)
}

// goBytes copies n bytes of C memory into a new Go slice. C.GoBytes takes a C int, so a
// (hypothetical) buffer of 2 GiB or more is copied through unsafe.Slice instead.
func goBytes(p *C.char, n C.size_t) []byte {
	if n <= math.MaxInt32 {
		return C.GoBytes(unsafe.Pointer(p), C.int(n))
	}
	out := make([]byte, int(n))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	return out
}

// cString copies s into C memory (free with C.free). Strings with a NUL byte are refused: C
// would silently cut them short.
func cString(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Code: CodeInvalidArgument, Message: what + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// ---- Options --------------------------------------------------------------------------------

// Options configures a connection. The zero value (or a nil *Options) means the library's
// defaults. Options are plain Go data: they are validated by the library when a server is
// created, so a bad value surfaces as the error of NewServer (and friends).
type Options struct {
	headers     [][2]string
	caFiles     []string
	retryCodes  []uint16
	retryCodesS bool
	maxAttempts uint32
	timeout     *time.Duration
	userAgent   string
	smart       [][2]string // SMART settings in the order set: (setter, value)
}

// AddHeader adds a header sent with every request. Several headers of one name may be added.
// Values are treated as secrets by the library. "Authorization" is refused (use the auth mode).
func (o *Options) AddHeader(name, value string) *Options {
	o.headers = append(o.headers, [2]string{name, value})
	return o
}

// SetRetryStatusCodes turns retrying on, for these HTTP statuses (none: only connection
// failures and timeouts are retried).
func (o *Options) SetRetryStatusCodes(codes ...uint16) *Options {
	o.retryCodes = append([]uint16(nil), codes...)
	o.retryCodesS = true
	return o
}

// SetMaxAttempts sets the total attempts per request, the first included (used once retrying is
// on).
func (o *Options) SetMaxAttempts(n uint32) *Options {
	o.maxAttempts = n
	return o
}

// AddCAFile trusts the PEM certificates in file in addition to the system roots.
func (o *Options) AddCAFile(file string) *Options {
	o.caFiles = append(o.caFiles, file)
	return o
}

// SetTimeout sets the whole-request timeout (0: no limit). Default 60 s.
func (o *Options) SetTimeout(d time.Duration) *Options {
	o.timeout = &d
	return o
}

// SetUserAgent sets the User-Agent header.
func (o *Options) SetUserAgent(ua string) *Options {
	o.userAgent = ua
	return o
}

// SetSmartKeyID sets the key id (kid) of the SMART Backend Services key (required by
// NewServerSmartBackend).
func (o *Options) SetSmartKeyID(kid string) *Options { return o.setSmart("kid", kid) }

// SetSmartAlgorithm sets the SMART signing algorithm, "RS384" or "ES384" (default: the key's).
func (o *Options) SetSmartAlgorithm(alg string) *Options { return o.setSmart("alg", alg) }

// SetSmartScope sets the scope of the SMART token request, sent verbatim (e.g. "system/*.rs").
func (o *Options) SetSmartScope(scope string) *Options { return o.setSmart("scope", scope) }

// SetSmartTokenURL sets the token endpoint (default: discovered from
// [base]/.well-known/smart-configuration).
func (o *Options) SetSmartTokenURL(url string) *Options { return o.setSmart("token_url", url) }

// SetSmartJKU sets the jku header of the client assertions (the URL of the client's JWK Set).
func (o *Options) SetSmartJKU(url string) *Options { return o.setSmart("jku", url) }

func (o *Options) setSmart(what, value string) *Options {
	o.smart = append(o.smart, [2]string{what, value})
	return o
}

// applySmart passes one SMART setting to the C options.
func applySmart(copts *C.fhir_options_t, what, value string) error {
	cv, err := cString("SMART "+what, value)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cv))
	var cerr *C.fhir_error_t
	var rc C.fhir_result
	switch what {
	case "kid":
		rc = C.fhir_options_set_smart_key_id(copts, cv, &cerr)
	case "alg":
		rc = C.fhir_options_set_smart_algorithm(copts, cv, &cerr)
	case "scope":
		rc = C.fhir_options_set_smart_scope(copts, cv, &cerr)
	case "token_url":
		rc = C.fhir_options_set_smart_token_url(copts, cv, &cerr)
	default:
		rc = C.fhir_options_set_smart_jku(copts, cv, &cerr)
	}
	return takeError(rc, cerr)
}

// build creates C options (free with C.fhir_options_free), or returns nil for defaults.
func (o *Options) build() (*C.fhir_options_t, error) {
	if o == nil {
		return nil, nil
	}
	copts := C.fhir_options_new()
	ok := false
	defer func() {
		if !ok {
			C.fhir_options_free(copts)
		}
	}()
	var cerr *C.fhir_error_t
	for _, h := range o.headers {
		name, err := cString("header name", h[0])
		if err != nil {
			return nil, err
		}
		value, err := cString("header value", h[1])
		if err != nil {
			C.free(unsafe.Pointer(name))
			return nil, err
		}
		rc := C.fhir_options_add_header(copts, name, value, &cerr)
		C.free(unsafe.Pointer(name))
		C.fhirgo_free_secret(value)
		if err := takeError(rc, cerr); err != nil {
			return nil, err
		}
	}
	for _, f := range o.caFiles {
		cf, err := cString("CA file", f)
		if err != nil {
			return nil, err
		}
		rc := C.fhir_options_add_ca_file(copts, cf, &cerr)
		C.free(unsafe.Pointer(cf))
		if err := takeError(rc, cerr); err != nil {
			return nil, err
		}
	}
	if o.retryCodesS {
		codes := make([]C.uint16_t, len(o.retryCodes))
		for i, c := range o.retryCodes {
			codes[i] = C.uint16_t(c)
		}
		var p *C.uint16_t
		if len(codes) > 0 {
			p = &codes[0] // a Go pointer to memory without Go pointers: allowed for the call
		}
		rc := C.fhir_options_set_retry_status_codes(copts, p, C.size_t(len(codes)), &cerr)
		if err := takeError(rc, cerr); err != nil {
			return nil, err
		}
	}
	if o.maxAttempts != 0 {
		rc := C.fhir_options_set_retry_max_attempts(copts, C.uint32_t(o.maxAttempts), &cerr)
		if err := takeError(rc, cerr); err != nil {
			return nil, err
		}
	}
	if o.timeout != nil {
		rc := C.fhir_options_set_timeout_ms(copts, C.uint64_t(o.timeout.Milliseconds()), &cerr)
		if err := takeError(rc, cerr); err != nil {
			return nil, err
		}
	}
	if o.userAgent != "" {
		ua, err := cString("user agent", o.userAgent)
		if err != nil {
			return nil, err
		}
		rc := C.fhir_options_set_user_agent(copts, ua, &cerr)
		C.free(unsafe.Pointer(ua))
		if err := takeError(rc, cerr); err != nil {
			return nil, err
		}
	}
	for _, sm := range o.smart {
		if err := applySmart(copts, sm[0], sm[1]); err != nil {
			return nil, err
		}
	}
	ok = true
	return copts, nil
}

// ---- Server ---------------------------------------------------------------------------------

// Server is a connection to one FHIR server. It is safe for concurrent use by many goroutines,
// except that Close must not run concurrently with other calls on it. Call Close when done; a
// finalizer frees a forgotten Server, but only whenever the garbage collector gets to it.
type Server struct {
	ptr *C.fhir_server_t
}

func wrapServer(ptr *C.fhir_server_t) *Server {
	s := &Server{ptr: ptr}
	runtime.SetFinalizer(s, (*Server).finalize)
	return s
}

// finalized counts handles freed by the finalizer rather than by Close (read by tests).
var finalized atomic.Int64

func (s *Server) free() {
	if s.ptr != nil {
		C.fhir_server_free(s.ptr)
		s.ptr = nil
	}
}

func (s *Server) finalize() {
	if s.ptr != nil {
		finalized.Add(1)
	}
	s.free()
}

// Close frees the connection. Further calls return ErrClosed; closing twice is harmless.
func (s *Server) Close() error {
	runtime.SetFinalizer(s, nil)
	s.free()
	return nil
}

// handle returns the C handle. Every caller must call runtime.KeepAlive(s) after its last use of
// the returned pointer, so the finalizer cannot free the handle during a C call.
func (s *Server) handle() (*C.fhir_server_t, error) {
	if s == nil || s.ptr == nil {
		return nil, ErrClosed
	}
	return s.ptr, nil
}

type connectFunc func(copts *C.fhir_options_t, out **C.fhir_server_t, cerr **C.fhir_error_t) C.fhir_result

func connect(opts *Options, f connectFunc) (*Server, error) {
	copts, err := opts.build()
	if err != nil {
		return nil, err
	}
	defer C.fhir_options_free(copts) // the server keeps a copy
	var out *C.fhir_server_t
	var cerr *C.fhir_error_t
	if err := takeError(f(copts, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return wrapServer(out), nil
}

// NewServer connects without authentication. No request is sent yet. opts may be nil.
func NewServer(baseURL string, opts *Options) (*Server, error) {
	cu, err := cString("base URL", baseURL)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cu))
	return connect(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new(cu, o, out, e)
	})
}

// NewServerToken connects with a static bearer token.
func NewServerToken(baseURL, token string, opts *Options) (*Server, error) {
	cu, err := cString("base URL", baseURL)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cu))
	ct, err := cString("token", token)
	if err != nil {
		return nil, err
	}
	defer C.fhirgo_free_secret(ct)
	return connect(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_token(cu, ct, o, out, e)
	})
}

// NewServerBasic connects with HTTP basic auth.
func NewServerBasic(baseURL, username, password string, opts *Options) (*Server, error) {
	cu, err := cString("base URL", baseURL)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cu))
	cn, err := cString("username", username)
	if err != nil {
		return nil, err
	}
	defer C.fhirgo_free_secret(cn)
	cp, err := cString("password", password)
	if err != nil {
		return nil, err
	}
	defer C.fhirgo_free_secret(cp)
	return connect(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_basic(cu, cn, cp, o, out, e)
	})
}

// NewServerSmartBackend connects with SMART Backend Services: client credentials with a JWT
// signed by privateKey (PEM text, or the path of a PEM file: RSA 2048-4096 bits or P-384), RS384
// or ES384. opts must set the key id (SetSmartKeyID). The key is checked now (ErrInvalidArgument,
// ErrIO); the token is fetched at the first request, cached for all goroutines and refreshed
// before it expires. A provider that refuses it gives ErrAuth.
func NewServerSmartBackend(baseURL, clientID, privateKey string, opts *Options) (*Server, error) {
	cu, err := cString("base URL", baseURL)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cu))
	cid, err := cString("client id", clientID)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cid))
	ck, err := cString("private key", privateKey)
	if err != nil {
		return nil, err
	}
	defer C.fhirgo_free_secret(ck)
	return connect(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_smart_backend(cu, cid, ck, o, out, e)
	})
}

// GrantedScope is the scope granted with the current token of a SMART or OIDC server (a token
// is fetched first when none is cached).
func (s *Server) GrantedScope() (string, error) {
	p, err := s.handle()
	if err != nil {
		return "", err
	}
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	rc := C.fhir_server_granted_scope(p, &out, &n, &cerr)
	runtime.KeepAlive(s)
	if err := takeError(rc, cerr); err != nil {
		return "", err
	}
	return string(takeJSON(out, n)), nil
}

// SmartPublicJWKS returns the public JWK Set of a private key (PEM text or file) under kid, to
// register with an EHR. alg "" means the key's own algorithm.
func SmartPublicJWKS(privateKey, kid, alg string) ([]byte, error) {
	ck, err := cString("private key", privateKey)
	if err != nil {
		return nil, err
	}
	defer C.fhirgo_free_secret(ck)
	ckid, err := cString("kid", kid)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(ckid))
	var calg *C.char
	if alg != "" {
		if calg, err = cString("algorithm", alg); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(calg))
	}
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	rc := C.fhir_smart_public_jwks(ck, ckid, calg, &out, &n, &cerr)
	if err := takeError(rc, cerr); err != nil {
		return nil, err
	}
	return takeJSON(out, n), nil
}

// FromEnv connects as configured by the environment: FHIR_API_URL (or FHIR_SERVER_URL) and one
// auth mode (FHIR_USER+FHIR_PW, FHIR_TOKEN, CLIENT_ID+CLIENT_SECRET+OIDC_PROVIDER_URL, or
// CLIENT_ID+SMART_PRIVATE_KEY+SMART_KEY_ID).
// With noAuth, credential variables are ignored. A bad configuration gives ErrConfig.
func FromEnv(noAuth bool) (*Server, error) {
	return connect(nil, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_from_env(C.bool(noAuth), o, out, e)
	})
}

// BaseURL is the normalised base URL (no trailing slash); "" after Close.
func (s *Server) BaseURL() string {
	p, err := s.handle()
	if err != nil {
		return ""
	}
	u := C.GoString(C.fhir_server_base_url(p))
	runtime.KeepAlive(s)
	return u
}

// jsonCall runs a C call that yields a JSON buffer with a string argument.
func (s *Server) jsonCall(what, arg string, f func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result) ([]byte, error) {
	p, err := s.handle()
	if err != nil {
		return nil, err
	}
	ca, err := cString(what, arg)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(ca))
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	rc := f(p, ca, &out, &n, &cerr)
	runtime.KeepAlive(s)
	if err := takeError(rc, cerr); err != nil {
		return nil, err
	}
	return takeJSON(out, n), nil
}

// Capabilities returns the server's CapabilityStatement (GET [base]/metadata).
func (s *Server) Capabilities() ([]byte, error) {
	p, err := s.handle()
	if err != nil {
		return nil, err
	}
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	rc := C.fhir_server_capabilities(p, &out, &n, &cerr)
	runtime.KeepAlive(s)
	if err := takeError(rc, cerr); err != nil {
		return nil, err
	}
	return takeJSON(out, n), nil
}

// Read reads "Type/id" or "Type/id/_history/vid". A missing resource gives ErrNotFound (HTTP
// 404), a deleted one ErrGone (HTTP 410).
func (s *Server) Read(ref string) ([]byte, error) {
	return s.jsonCall("reference", ref, func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_resource_read(p, a, out, n, e)
	})
}

// Create POSTs a resource and returns it as created (with its id and meta.versionId).
func (s *Server) Create(resource []byte) ([]byte, error) {
	p, err := s.handle()
	if err != nil {
		return nil, err
	}
	if len(resource) == 0 {
		return nil, &Error{Code: CodeInvalidArgument, Message: "empty resource"}
	}
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	// The library copies the input during the call; passing Go memory without Go pointers is allowed.
	rc := C.fhir_resource_create(p, (*C.char)(unsafe.Pointer(unsafe.SliceData(resource))), C.size_t(len(resource)),
		nil, &out, &n, &cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(resource)
	if err := takeError(rc, cerr); err != nil {
		return nil, err
	}
	return takeJSON(out, n), nil
}

// Delete deletes "Type/id".
func (s *Server) Delete(ref string) error {
	p, err := s.handle()
	if err != nil {
		return err
	}
	cr, err := cString("reference", ref)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cr))
	var cerr *C.fhir_error_t
	rc := C.fhir_resource_delete(p, cr, &cerr)
	runtime.KeepAlive(s)
	return takeError(rc, cerr)
}

// SearchAll runs a search ("Type?params", percent-encoded) and follows every next link; the
// result is one searchset Bundle holding every entry.
func (s *Server) SearchAll(query string) ([]byte, error) {
	return s.jsonCall("query", query, func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_search_all(p, a, out, n, e)
	})
}

// SearchCount returns the number of matches of a search (_summary=count).
func (s *Server) SearchCount(query string) (uint64, error) {
	p, err := s.handle()
	if err != nil {
		return 0, err
	}
	cq, err := cString("query", query)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(cq))
	var count C.uint64_t
	var cerr *C.fhir_error_t
	rc := C.fhir_search_count(p, cq, &count, &cerr)
	runtime.KeepAlive(s)
	if err := takeError(rc, cerr); err != nil {
		return 0, err
	}
	return uint64(count), nil
}

// resourceVisit is the state behind the cgo.Handle given to the C library as user_data.
type resourceVisit struct {
	fn       func(resource []byte, mode string) bool
	panicked bool
	panicVal any
}

// SearchResources streams a search resource by resource, one page in memory at a time. fn gets
// each entry's resource (a copy it may keep) and its search mode ("match", "include" or
// "outcome") on the calling goroutine; it returns true to go on, false to stop. fn may call
// methods of s. A panic in fn stops the search and is re-raised here once the C call has
// returned (it never unwinds through C frames).
func (s *Server) SearchResources(query string, fn func(resource []byte, mode string) bool) error {
	p, err := s.handle()
	if err != nil {
		return err
	}
	if fn == nil {
		return &Error{Code: CodeInvalidArgument, Message: "nil callback"}
	}
	cq, err := cString("query", query)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cq))
	v := &resourceVisit{fn: fn}
	h := cgo.NewHandle(v)
	defer h.Delete()
	var cerr *C.fhir_error_t
	rc := C.fhirgo_search_resources(p, cq, C.uintptr_t(h), &cerr)
	runtime.KeepAlive(s)
	err = takeError(rc, cerr)
	if v.panicked {
		panic(v.panicVal)
	}
	return err
}
