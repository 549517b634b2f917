//! Living inside a host process: cancel tokens, log callbacks and the request hook. The scoped
//! handle and the per-call record (fhir_server_scope(), fhir_server_last_call()) are with the
//! server handle in `server.rs`.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use reqwest::Method;
use url::Url;

use super::boundary::{arg_str, guard, Handle};
use super::error::fhir_error_t;
use super::options::{fhir_options_t, set};
use super::result::fhir_result;
use crate::call::CancelToken;
use crate::hook::HookHeaders;
use crate::logging::{Level, LevelFilter, LogSink};

/// A cancel token: trigger it from any thread to end, promptly and with `FHIR_ERR_CANCELLED`,
/// every call made through the scoped handles it was given to (fhir_server_scope()). A triggered
/// token stays triggered: make a new one for new calls.
///
/// Thread-safe: fhir_cancel_trigger() and fhir_cancel_is_triggered() may be called from any
/// thread at any time, also while calls it governs run. The scoped handles hold their own
/// reference: the token may be freed while they are still in use.
///
/// Functions: fhir_cancel_new(), fhir_cancel_trigger(), fhir_cancel_is_triggered(),
/// fhir_cancel_free().
pub struct fhir_cancel_t {
    pub(crate) token: CancelToken,
}

impl Handle for fhir_cancel_t {
    const ARG: &'static str = "cancel";
}

/// A new cancel token, not triggered.
///
/// @return A new token owned by the caller; free it with fhir_cancel_free(). Never NULL.
#[no_mangle]
pub extern "C" fn fhir_cancel_new() -> *mut fhir_cancel_t {
    fhir_cancel_t {
        token: CancelToken::new(),
    }
    .into_raw()
}

/// Trigger a cancel token: the calls it governs end promptly with `FHIR_ERR_CANCELLED` (a request
/// in flight is abandoned and its connection closed; no retry, no backoff wait follows), and
/// later calls through its scoped handles fail at once. Idempotent.
///
/// @param cancel The token (borrowed for the call); NULL is ignored. May be called from any
///        thread, also from a signal-free watchdog thread while the call runs.
#[no_mangle]
pub unsafe extern "C" fn fhir_cancel_trigger(cancel: *const fhir_cancel_t) {
    let _ = std::panic::catch_unwind(|| {
        if let Ok(c) = fhir_cancel_t::borrow(cancel) {
            c.token.cancel();
        }
    });
}

/// Whether a cancel token was triggered.
///
/// @param cancel The token (borrowed for the call); NULL gives false.
/// @return true once fhir_cancel_trigger() was called on it.
#[no_mangle]
pub unsafe extern "C" fn fhir_cancel_is_triggered(cancel: *const fhir_cancel_t) -> bool {
    fhir_cancel_t::borrow(cancel).is_ok_and(|c| c.token.is_cancelled())
}

/// Free a cancel token. Scoped handles made with it keep working (and keep its state).
///
/// @param cancel The token, or NULL (nothing happens). Must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn fhir_cancel_free(cancel: *mut fhir_cancel_t) {
    fhir_cancel_t::free(cancel)
}

/// Level of a log record, from the most to the least severe. A callback registered with a
/// maximum level receives the records of that level and the more severe ones.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fhir_log_level {
    /// No records (as a maximum level: logging off).
    FHIR_LOG_OFF = 0,
    /// A call failed in a way an operator should see (a token could not be fetched).
    FHIR_LOG_ERROR = 1,
    /// A transient failure that is retried, records dropped.
    FHIR_LOG_WARN = 2,
    /// Retries with their wait, token fetches and refreshes.
    FHIR_LOG_INFO = 3,
    /// Each request (method and URL with query values elided), its status, size and time; each
    /// page; each create_all batch.
    FHIR_LOG_DEBUG = 4,
    /// Each request with its full URL (secrets registered with the handle are still redacted).
    FHIR_LOG_TRACE = 5,
}

/// Receives one log record.
///
/// Called on the thread that made the call the record belongs to, during that call (records
/// made outside any call, for example while a handle is built, on the thread that made them).
/// With one callback for several threads, it is called from each of them, possibly at once.
/// The message never holds a password, token, client secret, private key or custom header value
/// of any handle; query values appear at `FHIR_LOG_TRACE` only. The callback runs inside the
/// call: it must not make blocking calls of this library (they fail with `FHIR_ERR_RUNTIME`);
/// fhir_cancel_trigger() is allowed.
///
/// @param level The record's level.
/// @param target The area: "auth", "retry", "transport", "paging", "transaction" or "call";
///        NUL-terminated, borrowed for the duration of the callback.
/// @param target_len Length of `target` in bytes (NUL excluded).
/// @param message The message, UTF-8, NUL-terminated, borrowed for the duration of the callback.
/// @param message_len Length of `message` in bytes (NUL excluded).
/// @param user_data The `user_data` given with the callback.
pub type fhir_log_callback = Option<
    unsafe extern "C" fn(
        level: fhir_log_level,
        target: *const c_char,
        target_len: usize,
        message: *const c_char,
        message_len: usize,
        user_data: *mut c_void,
    ),
>;

/// A C log callback with its user data, as a sink of the core.
struct CLog {
    callback: unsafe extern "C" fn(
        fhir_log_level,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *mut c_void,
    ),
    user_data: *mut c_void,
    max: LevelFilter,
}

// SAFETY: the caller promises (header) that the callback and its user data may be used from any
// thread it makes calls on.
unsafe impl Send for CLog {}
unsafe impl Sync for CLog {}

impl LogSink for CLog {
    fn max_level(&self) -> LevelFilter {
        self.max
    }

    fn log(&self, level: Level, target: &str, message: &str) {
        let level = match level {
            Level::Error => fhir_log_level::FHIR_LOG_ERROR,
            Level::Warn => fhir_log_level::FHIR_LOG_WARN,
            Level::Info => fhir_log_level::FHIR_LOG_INFO,
            Level::Debug => fhir_log_level::FHIR_LOG_DEBUG,
            Level::Trace => fhir_log_level::FHIR_LOG_TRACE,
        };
        // Messages are sanitized (no NUL); an interior NUL would only shorten the C view.
        let t = CString::new(target).unwrap_or_default();
        let m = CString::new(message).unwrap_or_default();
        // SAFETY: the callback was given by the caller for exactly this.
        unsafe {
            (self.callback)(
                level,
                t.as_ptr(),
                t.as_bytes().len(),
                m.as_ptr(),
                m.as_bytes().len(),
                self.user_data,
            )
        }
    }
}

/// The level filter of a C level number, refusing unknown ones.
fn level_filter(level: c_int) -> Result<LevelFilter, fhir_error_t> {
    Ok(match level {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        other => {
            return Err(fhir_error_t::new(
                fhir_result::FHIR_ERR_INVALID_ARGUMENT,
                format!("log level {other} is not a fhir_log_level (0..5)"),
            ))
        }
    })
}

fn sink(
    max_level: c_int,
    callback: fhir_log_callback,
    user_data: *mut c_void,
) -> Result<Option<Arc<dyn LogSink>>, fhir_error_t> {
    let max = level_filter(max_level)?;
    Ok(match (callback, max) {
        (Some(callback), m) if m != LevelFilter::Off => Some(Arc::new(CLog {
            callback,
            user_data,
            max,
        })),
        _ => None,
    })
}

/// Set the process-wide log callback: it receives the records of every handle that has no log
/// callback of its own (fhir_options_set_log_callback()). Replaces the previous one; calls already
/// running may still deliver a record to the previous one.
///
/// @param max_level The most detailed level wanted, a #fhir_log_level value; `FHIR_LOG_OFF`
///        turns logging off.
/// @param callback Called for each record (see #fhir_log_callback); NULL turns logging off.
/// @param user_data Passed to `callback` as it is; may be NULL. Must stay valid until the
///        callback is replaced and the calls running at that moment have returned.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a level outside 0..5.
#[no_mangle]
pub unsafe extern "C" fn fhir_set_log_callback(
    max_level: c_int,
    callback: fhir_log_callback,
    user_data: *mut c_void,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        crate::logging::set_global(sink(max_level, callback, user_data)?);
        Ok(())
    })
}

/// Give the handles built with these options a log callback of their own (instead of the
/// process-wide one of fhir_set_log_callback()).
///
/// @param options The options (borrowed for the call).
/// @param max_level The most detailed level wanted, a #fhir_log_level value; `FHIR_LOG_OFF`
///        removes the callback.
/// @param callback Called for each record (see #fhir_log_callback); NULL removes the callback.
/// @param user_data Passed to `callback` as it is; may be NULL. Must stay valid as long as a
///        handle built with these options exists.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a level outside 0..5.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_log_callback(
    options: *mut fhir_options_t,
    max_level: c_int,
    callback: fhir_log_callback,
    user_data: *mut c_void,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        o.set_log_sink(sink(max_level, callback, user_data)?);
        Ok(Ok(()))
    })
}

/// The headers a request hook adds to one attempt (see #fhir_request_hook). Valid only during
/// the hook call that received it.
///
/// Functions: fhir_headers_add().
pub struct fhir_headers_t {
    inner: HookHeaders,
}

impl Handle for fhir_headers_t {
    const ARG: &'static str = "headers";
}

/// Add a header to the attempt a request hook is called for.
///
/// @param headers The hook's `headers` argument (valid during the hook call only).
/// @param name The header name (copied), such as "traceparent". The library's own headers
///        (Authorization, Host, Content-Length, Transfer-Encoding, Connection,
///        Proxy-Authorization, TE, Upgrade) are refused.
/// @param value The value (copied); never shown in messages or log records.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a malformed or reserved name, a malformed
///         value, or more than 64 headers in one attempt.
#[no_mangle]
pub unsafe extern "C" fn fhir_headers_add(
    headers: *mut fhir_headers_t,
    name: *const c_char,
    value: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let h = fhir_headers_t::borrow_mut(headers)?;
        let name = arg_str(name, "name")?;
        let value = arg_str(value, "value")?;
        Ok(h.inner.add(name, value)?)
    })
}

/// Called before each attempt of each request to the FHIR server (retries, pages and token
/// replays included; not for the token endpoint, nor for a page on another server), on the
/// thread that made the call, to add headers with fhir_headers_add() — a W3C `traceparent`, a
/// correlation id. It runs inside the call: it must not make blocking calls of this library
/// (they fail with `FHIR_ERR_RUNTIME`); fhir_headers_add() and fhir_cancel_trigger() are allowed.
///
/// @param method The HTTP method, such as "GET" (NUL-terminated, borrowed for the hook call).
/// @param url The request's absolute URL, query included (NUL-terminated, borrowed for the
///        hook call).
/// @param headers Where to add headers (valid for the hook call only).
/// @param user_data The `user_data` given with the hook.
/// @return 0 to send the request; any other value refuses it: the call ends with
///         `FHIR_ERR_CANCELLED`.
pub type fhir_request_hook = Option<
    unsafe extern "C" fn(
        method: *const c_char,
        url: *const c_char,
        headers: *mut fhir_headers_t,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// A C request hook with its user data.
struct CHook {
    hook: unsafe extern "C" fn(
        *const c_char,
        *const c_char,
        *mut fhir_headers_t,
        *mut c_void,
    ) -> c_int,
    user_data: *mut c_void,
}

// SAFETY: the caller promises (header) that the hook and its user data may be used from any
// thread it makes calls on.
unsafe impl Send for CHook {}
unsafe impl Sync for CHook {}

impl CHook {
    fn call(&self, method: &Method, url: &Url, headers: &mut HookHeaders) -> bool {
        let m = CString::new(method.as_str()).unwrap_or_default();
        // A parsed URL never holds a NUL byte.
        let u = CString::new(url.as_str()).unwrap_or_default();
        let mut h = fhir_headers_t {
            inner: std::mem::take(headers),
        };
        // SAFETY: the hook was given by the caller for exactly this; `h` outlives the call.
        let verdict = unsafe { (self.hook)(m.as_ptr(), u.as_ptr(), &mut h, self.user_data) };
        *headers = h.inner;
        verdict == 0
    }
}

/// Call `hook` before each attempt of each request of the handles built with these options.
///
/// @param options The options (borrowed for the call).
/// @param hook The hook (see #fhir_request_hook); NULL removes it.
/// @param user_data Passed to `hook` as it is; may be NULL. Must stay valid as long as a handle
///        built with these options exists, and be usable from every thread that makes calls.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_request_hook(
    options: *mut fhir_options_t,
    hook: fhir_request_hook,
    user_data: *mut c_void,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        o.set_request_hook(hook.map(|hook| {
            let c = CHook { hook, user_data };
            Arc::new(move |m: &Method, u: &Url, h: &mut HookHeaders| c.call(m, u, h))
                as crate::hook::RequestHook
        }));
        Ok(Ok(()))
    })
}
