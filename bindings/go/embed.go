package fhirkindling

/*
#include <stdint.h>
#include <fhir_kindling.h>

// Implemented in Go (callback.go, //export).
extern void fhirGoLog(int level, char *target, size_t target_len, char *message, size_t message_len, uintptr_t handle);
extern int fhirGoHook(char *method, char *url, void *headers, uintptr_t handle);

static void fhirgo_log_trampoline(fhir_log_level level, const char *target, size_t target_len,
                                  const char *message, size_t message_len, void *user_data) {
	fhirGoLog((int)level, (char *)target, target_len, (char *)message, message_len, (uintptr_t)user_data);
}

static int fhirgo_hook_trampoline(const char *method, const char *url, fhir_headers_t *headers, void *user_data) {
	return fhirGoHook((char *)method, (char *)url, (void *)headers, (uintptr_t)user_data);
}

// handle 0: the process-wide callback (read by Go from a global); callback off when max_level < 0.
static fhir_result fhirgo_set_log(int max_level, int on, fhir_error_t **error_out) {
	return fhir_set_log_callback(max_level, on ? fhirgo_log_trampoline : NULL, NULL, error_out);
}

static fhir_result fhirgo_options_set_log(fhir_options_t *o, int max_level, uintptr_t handle, fhir_error_t **error_out) {
	return fhir_options_set_log_callback(o, max_level, fhirgo_log_trampoline, (void *)handle, error_out);
}

static fhir_result fhirgo_options_set_hook(fhir_options_t *o, uintptr_t handle, fhir_error_t **error_out) {
	return fhir_options_set_request_hook(o, fhirgo_hook_trampoline, (void *)handle, error_out);
}

static fhir_result fhirgo_headers_add(void *headers, const char *name, const char *value, fhir_error_t **error_out) {
	return fhir_headers_add((fhir_headers_t *)headers, name, value, error_out);
}
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// LogLevel is a fhir_log_level.
type LogLevel int

// The log levels.
const (
	LogOff   LogLevel = C.FHIR_LOG_OFF
	LogError LogLevel = C.FHIR_LOG_ERROR
	LogWarn  LogLevel = C.FHIR_LOG_WARN
	LogInfo  LogLevel = C.FHIR_LOG_INFO
	LogDebug LogLevel = C.FHIR_LOG_DEBUG
	LogTrace LogLevel = C.FHIR_LOG_TRACE
)

// LogFunc receives one log record, on the goroutine of the call it belongs to, during that call.
// target is the area ("auth", "retry", "transport", "paging", "transaction", "call"). Records
// never hold a secret. It runs inside the call: it must not call the blocking methods of this
// package (they fail with ErrRuntime); Cancel.Trigger is allowed. A panic in it is re-raised by
// the method that made the call.
type LogFunc func(level LogLevel, target, message string)

var (
	globalLogMu sync.Mutex
	globalLog   atomic.Pointer[LogFunc]
)

func globalLogActive() bool { return globalLog.Load() != nil }

// SetLogCallback sets the process-wide log callback (fhir_set_log_callback) for every Server
// without one of its own: records up to maxLevel. fn nil (or LogOff) turns it off.
func SetLogCallback(maxLevel LogLevel, fn LogFunc) error {
	globalLogMu.Lock()
	defer globalLogMu.Unlock()
	on := fn != nil && maxLevel != LogOff
	if on {
		globalLog.Store(&fn)
	}
	var cerr *C.fhir_error_t
	onC := C.int(0)
	if on {
		onC = 1
	}
	if e := takeError(C.fhirgo_set_log(C.int(maxLevel), onC, &cerr), cerr); e != nil {
		return e
	}
	if !on {
		globalLog.Store(nil)
	}
	return nil
}

// SetLogCallback gives the Servers built with these options a log callback of their own, for
// records up to maxLevel (fhir_options_set_log_callback).
func (o *Options) SetLogCallback(maxLevel LogLevel, fn LogFunc) *Options {
	return o.add(func(copts *C.fhir_options_t, st *serverState) *Error {
		if fn == nil {
			return invalidArg("nil log callback")
		}
		h := st.keep(fn)
		var cerr *C.fhir_error_t
		return takeError(C.fhirgo_options_set_log(copts, C.int(maxLevel), C.uintptr_t(h), &cerr), cerr)
	})
}

// Headers is where a request hook adds headers; valid during the hook call only.
type Headers struct {
	p     unsafe.Pointer
	valid bool
}

// Add adds a header to the request attempt (fhir_headers_add). The library's own headers
// (Authorization, Host, Content-Length, ...) are refused; values never appear in messages.
func (h *Headers) Add(name, value string) error {
	if h == nil || !h.valid {
		return invalidArg("headers used outside their request hook")
	}
	cs, err := cstrs([]string{"header name", "header value"}, name, value)
	if err != nil {
		return err
	}
	defer func() { cs[0].free(); cs[1].freeSecret() }()
	var cerr *C.fhir_error_t
	return asError(takeError(C.fhirgo_headers_add(h.p, cs[0].p, cs[1].p, &cerr), cerr))
}

// RequestHook is called before each attempt of each request to the FHIR server, on the goroutine
// of the call, to add headers (a W3C traceparent, a correlation id). A non-nil error refuses the
// request: the call fails with ErrCancelled, and its *Error's Cause is this error. It runs
// inside the call: it must not call the blocking methods of this package (they fail with
// ErrRuntime); Headers.Add and Cancel.Trigger are allowed. A panic is re-raised by the method
// that made the call.
type RequestHook func(method, url string, headers *Headers) error

// SetRequestHook installs a request hook (fhir_options_set_request_hook).
func (o *Options) SetRequestHook(hook RequestHook) *Options {
	return o.add(func(copts *C.fhir_options_t, st *serverState) *Error {
		if hook == nil {
			return invalidArg("nil request hook")
		}
		h := st.keep(hook)
		var cerr *C.fhir_error_t
		return takeError(C.fhirgo_options_set_hook(copts, C.uintptr_t(h), &cerr), cerr)
	})
}

// SetSearchPostThreshold posts searches (POST [type]/_search) whose URL is longer than urlLen
// bytes: 0 posts every search, ^uint(0) never. Default 4096.
func (o *Options) SetSearchPostThreshold(urlLen uint) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_search_post_threshold(c, C.size_t(urlLen), e)
	})
}

// SetPoolIdleTimeout sets how long an idle connection stays pooled (0: until the server closes
// it; default 90 s).
func (o *Options) SetPoolIdleTimeout(d time.Duration) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_pool_idle_timeout_ms(c, millis(d), e)
	})
}

// SetPoolMaxIdlePerHost sets how many idle connections are kept per host (0: no reuse; default
// unlimited).
func (o *Options) SetPoolMaxIdlePerHost(n uint) *Options {
	return o.simple(func(c *C.fhir_options_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_options_set_pool_max_idle_per_host(c, C.size_t(n), e)
	})
}
