package fhirkindling

/*
#include <stdlib.h>
#include <fhir_kindling.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// Options configures a Server: headers, proxies, timeouts, TLS, retries, OpenID Connect and
// SMART details, limits, logging and a request hook. The zero value (or a nil *Options) means
// the library's defaults.
//
// Options are plain Go data: the setters record values and return o for chaining; the library
// checks them when a constructor applies them (in the order they were set), so a bad value is
// the constructor's error, naming the option. One Options may serve several constructors. It is
// not safe for concurrent mutation.
type Options struct {
	ops []optionOp
}

// optionOp applies one setting to C options; st is the state of the Server being built (it
// keeps the callbacks' handles alive as long as the Server).
type optionOp func(copts *C.fhir_options_t, st *serverState) *Error

func (o *Options) add(op optionOp) *Options {
	o.ops = append(o.ops, op)
	return o
}

// str1 records a setter taking one string.
func (o *Options) str1(what, value string, secret bool, set func(*C.fhir_options_t, *C.char, **C.fhir_error_t) C.fhir_result) *Options {
	return o.add(func(copts *C.fhir_options_t, _ *serverState) *Error {
		cv, err := newCStr(what, value)
		if err != nil {
			return err.(*Error)
		}
		var cerr *C.fhir_error_t
		rc := set(copts, cv.p, &cerr)
		if secret {
			cv.freeSecret()
		} else {
			cv.free()
		}
		return takeError(rc, cerr)
	})
}

// simple records a setter without strings.
func (o *Options) simple(set func(*C.fhir_options_t, **C.fhir_error_t) C.fhir_result) *Options {
	return o.add(func(copts *C.fhir_options_t, _ *serverState) *Error {
		var cerr *C.fhir_error_t
		return takeError(set(copts, &cerr), cerr)
	})
}

func millis(d time.Duration) C.uint64_t {
	if d <= 0 {
		return 0
	}
	ms := d.Milliseconds()
	if ms == 0 {
		ms = 1 // a positive duration under 1 ms must not mean "no limit"
	}
	return C.uint64_t(ms)
}

// AddHeader adds a header sent with every request to the FHIR server (fhir_options_add_header).
// Several headers of one name may be added. Values are secrets for the library (never in a
// message). "Authorization" is refused: use an auth constructor.
func (o *Options) AddHeader(name, value string) *Options {
	return o.add(func(copts *C.fhir_options_t, _ *serverState) *Error {
		cn, err := newCStr("header name", name)
		if err != nil {
			return err.(*Error)
		}
		defer cn.free()
		cv, err := newCStr("header value", value)
		if err != nil {
			return err.(*Error)
		}
		defer cv.freeSecret()
		var cerr *C.fhir_error_t
		return takeError(C.fhir_options_add_header(copts, cn.p, cv.p, &cerr), cerr)
	})
}

// SetProxy sends requests through a proxy (fhir_options_set_proxy). scheme is "http" (plain
// HTTP requests), "https" (HTTPS requests, tunnelled with CONNECT) or "all"; proxyURL is
// http://[user:pass@]host:port or an https URL (its credentials never appear in messages).
func (o *Options) SetProxy(scheme, proxyURL string) *Options {
	return o.add(func(copts *C.fhir_options_t, _ *serverState) *Error {
		cs, err := newCStr("proxy scheme", scheme)
		if err != nil {
			return err.(*Error)
		}
		defer cs.free()
		cu, err := newCStr("proxy URL", proxyURL)
		if err != nil {
			return err.(*Error)
		}
		defer cu.freeSecret()
		var cerr *C.fhir_error_t
		return takeError(C.fhir_options_set_proxy(copts, cs.p, cu.p, &cerr), cerr)
	})
}

// SetTimeout sets the whole-request timeout (0: no limit; default 60 s).
func (o *Options) SetTimeout(d time.Duration) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_timeout_ms(c, millis(d), e)
	})
}

// SetConnectTimeout sets the timeout of opening a connection (TCP and TLS).
func (o *Options) SetConnectTimeout(d time.Duration) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_connect_timeout_ms(c, millis(d), e)
	})
}

// AddCAFile trusts the PEM certificates of file (read by the constructor: ErrIO, ErrTLS).
func (o *Options) AddCAFile(file string) *Options {
	return o.str1("CA file", file, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_add_ca_file(c, v, e)
	})
}

// SetSystemRoots turns the system's trusted roots on or off (on by default).
func (o *Options) SetSystemRoots(enabled bool) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_system_roots(c, C.bool(enabled), e)
	})
}

// SetClientCert sets a client certificate for mutual TLS: PEM files; keyFile "" when certFile
// holds the key too.
func (o *Options) SetClientCert(certFile, keyFile string) *Options {
	return o.add(func(copts *C.fhir_options_t, _ *serverState) *Error {
		cc, err := newCStr("client certificate file", certFile)
		if err != nil {
			return err.(*Error)
		}
		defer cc.free()
		ck, err := newOptCStr("client key file", keyFile)
		if err != nil {
			return err.(*Error)
		}
		defer ck.free()
		var cerr *C.fhir_error_t
		return takeError(C.fhir_options_set_client_cert(copts, cc.p, ck.p, &cerr), cerr)
	})
}

// SetInsecureSkipTLSVerify turns certificate verification off. For tests only.
func (o *Options) SetInsecureSkipTLSVerify(skip bool) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_insecure_skip_tls_verify(c, C.bool(skip), e)
	})
}

// SetRetryStatusCodes turns retrying on, for these HTTP statuses (none: only connection failures
// and timeouts are retried).
func (o *Options) SetRetryStatusCodes(codes ...uint16) *Options {
	codes = append([]uint16(nil), codes...)
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		var p *C.uint16_t
		if len(codes) > 0 {
			p = (*C.uint16_t)(unsafe.Pointer(&codes[0])) // Go memory without Go pointers, borrowed
		}
		return C.fhir_options_set_retry_status_codes(c, p, C.size_t(len(codes)), e)
	})
}

// SetRetryMethods sets the methods that are retried, such as "GET,PUT" ("" retries none); it
// turns retrying on.
func (o *Options) SetRetryMethods(methods string) *Options {
	return o.str1("retry methods", methods, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_retry_methods(c, v, e)
	})
}

// SetRetryMaxAttempts sets the attempts per request, the first included.
func (o *Options) SetRetryMaxAttempts(n uint32) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_retry_max_attempts(c, C.uint32_t(n), e)
	})
}

// SetRetryBackoffFactor sets the exponential backoff factor in seconds.
func (o *Options) SetRetryBackoffFactor(seconds float64) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_retry_backoff_factor(c, C.double(seconds), e)
	})
}

// SetRetryJitter sets the random part of each backoff wait, as a ratio (0 to 1).
func (o *Options) SetRetryJitter(ratio float64) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_retry_jitter(c, C.double(ratio), e)
	})
}

// SetRetryMaxBackoffWait caps one backoff wait (Retry-After included).
func (o *Options) SetRetryMaxBackoffWait(d time.Duration) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_retry_max_backoff_wait(c, C.double(d.Seconds()), e)
	})
}

// SetUserAgent sets the User-Agent header.
func (o *Options) SetUserAgent(ua string) *Options {
	return o.str1("user agent", ua, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_user_agent(c, v, e)
	})
}

// SetOIDCScope sets the scope of OpenID Connect token requests.
func (o *Options) SetOIDCScope(scope string) *Options {
	return o.str1("OIDC scope", scope, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_oidc_scope(c, v, e)
	})
}

// SetOIDCAuthMethod sets how the client authenticates at the token endpoint
// ("client_secret_basic" or "client_secret_post").
func (o *Options) SetOIDCAuthMethod(method string) *Options {
	return o.str1("OIDC auth method", method, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_oidc_auth_method(c, v, e)
	})
}

// SetAllowForeignLinks lets paging follow next links to another server (off by default).
func (o *Options) SetAllowForeignLinks(allow bool) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_allow_foreign_links(c, C.bool(allow), e)
	})
}

// SetMaxResponseBytes limits one response body (ErrLimit past it).
func (o *Options) SetMaxResponseBytes(n uint64) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_max_response_bytes(c, C.uint64_t(n), e)
	})
}

// SetMaxResultBytes limits a collected result (SearchAll, History, ...).
func (o *Options) SetMaxResultBytes(n uint64) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_max_result_bytes(c, C.uint64_t(n), e)
	})
}

// SetCreateAllParallel sets how many transactions CreateAll keeps in flight (1..64; default 1).
// References still come back in input order.
func (o *Options) SetCreateAllParallel(n uint) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_create_all_parallel(c, C.size_t(n), e)
	})
}

// SetMaxPages limits the pages one call follows.
func (o *Options) SetMaxPages(n uint64) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_max_pages(c, C.uint64_t(n), e)
	})
}

// SetSmartKeyID sets the key id (kid) of the SMART Backend Services key (required by
// NewServerSmartBackend).
func (o *Options) SetSmartKeyID(kid string) *Options {
	return o.str1("SMART key id", kid, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_smart_key_id(c, v, e)
	})
}

// SetSmartAlgorithm sets the SMART signing algorithm, "RS384" or "ES384" (default: the key's).
func (o *Options) SetSmartAlgorithm(alg string) *Options {
	return o.str1("SMART algorithm", alg, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_smart_algorithm(c, v, e)
	})
}

// SetSmartScope sets the scope of the SMART token request (e.g. "system/*.rs").
func (o *Options) SetSmartScope(scope string) *Options {
	return o.str1("SMART scope", scope, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_smart_scope(c, v, e)
	})
}

// SetSmartTokenURL sets the token endpoint (default: from [base]/.well-known/smart-configuration).
func (o *Options) SetSmartTokenURL(url string) *Options {
	return o.str1("SMART token URL", url, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_smart_token_url(c, v, e)
	})
}

// SetSmartJKU sets the jku header of the client assertions (the URL of the client's JWK Set).
func (o *Options) SetSmartJKU(url string) *Options {
	return o.str1("SMART jku", url, false, func(c *C.fhir_options_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_smart_jku(c, v, e)
	})
}

// build makes C options for a constructor (free with fhir_options_free), or nil for defaults.
func (o *Options) build(st *serverState) (*C.fhir_options_t, error) {
	if o == nil || len(o.ops) == 0 {
		return nil, nil
	}
	copts := C.fhir_options_new()
	if copts == nil {
		return nil, &Error{Code: CodeRuntime, Message: "out of memory for options"}
	}
	for _, op := range o.ops {
		if err := op(copts, st); err != nil {
			C.fhir_options_free(copts)
			return nil, err
		}
	}
	return copts, nil
}
