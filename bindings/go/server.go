package fhirkindling

/*
#include <stdlib.h>
#include <fhir_kindling.h>
*/
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
)

// Version is the version of the loaded C library, e.g. "0.2.0".
func Version() string { return C.GoString(C.fhir_version()) }

// serverState is shared by a Server and the scoped Servers made from it: the handles of the Go
// callbacks its options installed, deleted when the last of them is freed.
type serverState struct {
	mu        sync.Mutex
	refs      int
	handles   []cgo.Handle
	callbacks bool // a log callback or request hook is installed
}

// liveHandles counts the callbacks' handles not yet deleted (read by the tests).
var liveHandles atomic.Int64

func (st *serverState) keep(v any) cgo.Handle {
	liveHandles.Add(1)
	h := cgo.NewHandle(v)
	st.handles = append(st.handles, h)
	st.callbacks = true
	return h
}

func (st *serverState) acquire() {
	st.mu.Lock()
	st.refs++
	st.mu.Unlock()
}

func (st *serverState) release() {
	st.mu.Lock()
	st.refs--
	done := st.refs == 0
	st.mu.Unlock()
	if done {
		for _, h := range st.handles {
			h.Delete()
			liveHandles.Add(-1)
		}
		st.handles = nil
	}
}

// Server is a connection to one FHIR server (a fhir_server_t): base URL, auth, options, a
// connection pool and a token cache. It is safe for concurrent use by many goroutines. Close
// frees it; a finalizer frees a forgotten Server when the garbage collector finds it
// unreachable. Every method after Close returns ErrClosed.
type Server struct {
	ptr cptr
	st  *serverState
}

// cptr holds a C handle; Swap makes Close idempotent even when two goroutines race to it.
type cptr struct{ v atomic.Pointer[cbox] }
type cbox struct{ p *C.fhir_server_t }

func (c *cptr) Load() *C.fhir_server_t {
	if b := c.v.Load(); b != nil {
		return b.p
	}
	return nil
}
func (c *cptr) Store(p *C.fhir_server_t) { c.v.Store(&cbox{p}) }
func (c *cptr) Swap(p *C.fhir_server_t) *C.fhir_server_t {
	var nb *cbox
	if p != nil {
		nb = &cbox{p}
	}
	if b := c.v.Swap(nb); b != nil {
		return b.p
	}
	return nil
}

// finalized counts handles freed by the finalizer rather than by Close (read by the tests).
var finalized atomic.Int64

// wrapServer makes the Go owner of a new handle; it takes over one reference of st.
func wrapServer(ptr *C.fhir_server_t, st *serverState) *Server {
	s := &Server{st: st}
	s.ptr.Store(ptr)
	runtime.SetFinalizer(s, (*Server).finalize)
	return s
}

func (s *Server) free() bool {
	p := s.ptr.Swap(nil)
	if p == nil {
		return false
	}
	C.fhir_server_free(p)
	s.st.release()
	return true
}

func (s *Server) finalize() {
	if s.free() {
		finalized.Add(1)
	}
}

// Close frees the connection (fhir_server_free). Closing twice is harmless. Close must not run
// while another goroutine is inside a call on s.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	runtime.SetFinalizer(s, nil)
	s.free()
	return nil
}

type constructor func(copts *C.fhir_options_t, out **C.fhir_server_t, cerr **C.fhir_error_t) C.fhir_result

func construct(opts *Options, f constructor) (*Server, error) {
	st := &serverState{refs: 1} // the new Server's reference, dropped again on failure
	copts, err := opts.build(st)
	if err != nil {
		st.release()
		return nil, err
	}
	defer C.fhir_options_free(copts) // the server keeps a copy
	var out *C.fhir_server_t
	var cerr *C.fhir_error_t
	if e := takeError(f(copts, &out, &cerr), cerr); e != nil {
		st.release()
		return nil, e
	}
	return wrapServer(out, st), nil
}

// NewServer connects without authentication (fhir_server_new). No request is sent yet, so it
// takes no context. opts may be nil.
func NewServer(baseURL string, opts *Options) (*Server, error) {
	cu, err := newCStr("base URL", baseURL)
	if err != nil {
		return nil, err
	}
	defer cu.free()
	return construct(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new(cu.p, o, out, e)
	})
}

// NewServerBasic connects with HTTP basic auth (fhir_server_new_basic).
func NewServerBasic(baseURL, username, password string, opts *Options) (*Server, error) {
	cs, err := cstrs([]string{"base URL", "username", "password"}, baseURL, username, password)
	if err != nil {
		return nil, err
	}
	defer func() { cs[0].free(); cs[1].freeSecret(); cs[2].freeSecret() }()
	return construct(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_basic(cs[0].p, cs[1].p, cs[2].p, o, out, e)
	})
}

// NewServerToken connects with a static bearer token (fhir_server_new_token).
func NewServerToken(baseURL, token string, opts *Options) (*Server, error) {
	cs, err := cstrs([]string{"base URL", "token"}, baseURL, token)
	if err != nil {
		return nil, err
	}
	defer func() { cs[0].free(); cs[1].freeSecret() }()
	return construct(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_token(cs[0].p, cs[1].p, o, out, e)
	})
}

// NewServerOIDC connects with OpenID Connect client credentials (fhir_server_new_oidc): the
// token endpoint is discovered from providerURL, the token fetched at the first request, cached
// for all goroutines and refreshed before it expires.
func NewServerOIDC(baseURL, clientID, clientSecret, providerURL string, opts *Options) (*Server, error) {
	cs, err := cstrs([]string{"base URL", "client id", "client secret", "provider URL"}, baseURL, clientID, clientSecret, providerURL)
	if err != nil {
		return nil, err
	}
	defer func() { cs[0].free(); cs[1].free(); cs[2].freeSecret(); cs[3].free() }()
	return construct(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_oidc(cs[0].p, cs[1].p, cs[2].p, cs[3].p, o, out, e)
	})
}

// NewServerSmartBackend connects with SMART Backend Services (fhir_server_new_smart_backend):
// client credentials with a JWT signed by privateKey (PEM text or the path of a PEM file: RSA
// 2048-4096 bits or P-384). opts must set the key id (SetSmartKeyID). The key is checked now
// (ErrInvalidArgument, ErrIO); a provider that refuses the token gives ErrAuth.
func NewServerSmartBackend(baseURL, clientID, privateKey string, opts *Options) (*Server, error) {
	cs, err := cstrs([]string{"base URL", "client id", "private key"}, baseURL, clientID, privateKey)
	if err != nil {
		return nil, err
	}
	defer func() { cs[0].free(); cs[1].free(); cs[2].freeSecret() }()
	return construct(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_new_smart_backend(cs[0].p, cs[1].p, cs[2].p, o, out, e)
	})
}

// FromEnv connects as the environment says (fhir_server_from_env): FHIR_API_URL (or
// FHIR_SERVER_URL) and one auth mode (FHIR_USER+FHIR_PW, FHIR_TOKEN,
// CLIENT_ID+CLIENT_SECRET+OIDC_PROVIDER_URL, or CLIENT_ID+SMART_PRIVATE_KEY+SMART_KEY_ID). With
// noAuth, credential variables are ignored. A bad configuration gives ErrConfig.
func FromEnv(noAuth bool, opts *Options) (*Server, error) {
	return construct(opts, func(o *C.fhir_options_t, out **C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_server_from_env(C.bool(noAuth), o, out, e)
	})
}

// SmartPublicJWKS returns the public JWK Set of a private key (PEM text or file) under kid, to
// register with an EHR (fhir_smart_public_jwks). alg "" means the key's own algorithm.
func SmartPublicJWKS(privateKey, kid, alg string) ([]byte, error) {
	cs, err := cstrs([]string{"private key", "kid"}, privateKey, kid)
	if err != nil {
		return nil, err
	}
	defer func() { cs[0].freeSecret(); cs[1].free() }()
	calg, err := newOptCStr("algorithm", alg)
	if err != nil {
		return nil, err
	}
	defer calg.free()
	var out *C.char
	var n C.size_t
	var cerr *C.fhir_error_t
	if e := takeError(C.fhir_smart_public_jwks(cs[0].p, cs[1].p, calg.p, &out, &n, &cerr), cerr); e != nil {
		return nil, e
	}
	return takeJSON(out, n), nil
}

// BaseURL is the normalised base URL (no trailing slash); "" after Close.
func (s *Server) BaseURL() string {
	p := s.ptr.Load()
	if p == nil {
		return ""
	}
	u := C.GoString(C.fhir_server_base_url(p))
	runtime.KeepAlive(s)
	return u
}

// cfunc is one C call on a handle; it writes its outputs itself.
type cfunc func(p *C.fhir_server_t, cerr **C.fhir_error_t) C.fhir_result

// do runs one C call on s under ctx: ErrClosed after Close, ctx's error when it is already done,
// the call (through a per-call scope when ctx can end, see scope.go), runtime.KeepAlive, the
// error conversion, and the re-raise of a log callback's or request hook's panic.
func (s *Server) do(ctx context.Context, f cfunc) error {
	if s == nil {
		return ErrClosed
	}
	p := s.ptr.Load()
	if p == nil {
		return ErrClosed
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cs := enterCall(s.st.callbacks || globalLogActive())
	fe, ctxErr := callScoped(ctx, p, f)
	runtime.KeepAlive(s)
	cs.leave()
	cs.rethrow()
	if fe != nil && cs != nil && cs.hookErr != nil {
		fe.Cause = cs.hookErr
	}
	if fe != nil && ctxErr != nil {
		return &contextError{ctx: ctxErr, fhir: fe}
	}
	return asError(fe)
}

// jsonOut runs a call that yields one JSON buffer.
func (s *Server) jsonOut(ctx context.Context, f func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result) ([]byte, error) {
	var out *C.char
	var n C.size_t
	// Freed by a defer: a log callback's panic is re-raised by do after a call that succeeded.
	defer func() { C.fhir_string_free(out) }()
	err := s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result { return f(p, &out, &n, e) })
	if err != nil || out == nil {
		return nil, err
	}
	return goBytes(out, n), nil
}

// jsonStr runs a call taking one string and yielding one JSON buffer.
func (s *Server) jsonStr(ctx context.Context, what, arg string, f func(p *C.fhir_server_t, a *C.char, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result) ([]byte, error) {
	ca, err := newCStr(what, arg)
	if err != nil {
		return nil, err
	}
	defer ca.free()
	return s.jsonOut(ctx, func(p *C.fhir_server_t, out **C.char, n *C.size_t, e **C.fhir_error_t) C.fhir_result {
		return f(p, ca.p, out, n, e)
	})
}

// cArray is a C-callable array of C strings (Go memory holding C pointers only).
type cArray struct {
	strs []cstr
	ptrs []*C.char
}

func newCArray(what string, values []string) (*cArray, error) {
	a := &cArray{}
	for _, v := range values {
		c, err := newCStr(what, v)
		if err != nil {
			a.free()
			return nil, err
		}
		a.strs = append(a.strs, c)
		a.ptrs = append(a.ptrs, c.p)
	}
	return a, nil
}

func (a *cArray) ptr() **C.char {
	if len(a.ptrs) == 0 {
		return nil
	}
	return &a.ptrs[0]
}

func (a *cArray) free() { freeAll(a.strs) }
