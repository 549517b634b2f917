//! `fhir_options_t`: connection options for every constructor (headers, proxies, timeouts, TLS,
//! retries, OIDC details). Constructors copy the options, so they may be freed right after.
//! Every setter goes through one method of the core's `Options`.

use std::ffi::c_char;

use super::boundary::{arg_slice, arg_str, guard, FfiResult, Handle};
use super::error::fhir_error_t;
use super::result::fhir_result;
use crate::config::Options;
use crate::error::Result;

/// Connection options. Not thread-safe: do not change one options object from two threads at once.
///
/// Functions: fhir_options_new(), fhir_options_free(), and the fhir_options_set_...() /
/// fhir_options_add_...() setters.
pub struct fhir_options_t {
    pub(crate) inner: Options,
}

impl Handle for fhir_options_t {
    const ARG: &'static str = "options";
}

/// The shape of every setter: borrow the options, apply one core setter, report its error.
unsafe fn set(
    options: *mut fhir_options_t,
    error_out: *mut *mut fhir_error_t,
    f: impl FnOnce(&mut Options) -> FfiResult<Result<()>>,
) -> fhir_result {
    guard(error_out, || {
        let o = fhir_options_t::borrow_mut(options)?;
        Ok(f(&mut o.inner)??)
    })
}

/// New options with the defaults: no extra headers, proxies from the environment
/// (`HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`) unless set here, a 60 s request timeout, a 10 s connect
/// timeout, the system's root certificates, TLS verification on, no retries.
/// Free with `fhir_options_free`. Never NULL.
#[no_mangle]
pub extern "C" fn fhir_options_new() -> *mut fhir_options_t {
    fhir_options_t {
        inner: Options::default(),
    }
    .into_raw()
}

/// Free options. NULL is ignored.
///
/// # Safety
/// `options` is NULL or from `fhir_options_new` and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_free(options: *mut fhir_options_t) {
    fhir_options_t::free(options)
}

/// Add a header sent with every request to the configured server (not to the OIDC provider, nor
/// to another server a paging link points to). Several headers of the same
/// name may be added. `Authorization` is refused: it belongs to the auth mode. Header values are
/// treated as secrets: never logged or shown.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_add_header(
    options: *mut fhir_options_t,
    name: *const c_char,
    value: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.add_header(arg_str(name, "name")?, arg_str(value, "value")?))
    })
}

/// Route requests through a forward proxy. `scheme` is "http" (plain-HTTP requests), "https"
/// (HTTPS requests, tunnelled with CONNECT) or "all"; `proxy_url` is `http://[user:pass@]host:port`.
/// Setting any proxy disables proxies from the environment.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_proxy(
    options: *mut fhir_options_t,
    scheme: *const c_char,
    proxy_url: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_proxy(arg_str(scheme, "scheme")?, arg_str(proxy_url, "proxy_url")?))
    })
}

/// Whole-request timeout in milliseconds (connect, send, and reading the whole answer);
/// 0 means no limit. Default 60000. A timeout gives `FHIR_ERR_TIMEOUT`.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_timeout_ms(
    options: *mut fhir_options_t,
    timeout_ms: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_timeout_ms(timeout_ms)))
}

/// Connect timeout in milliseconds; 0 means no limit. Default 10000.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_connect_timeout_ms(
    options: *mut fhir_options_t,
    timeout_ms: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_connect_timeout_ms(timeout_ms))
    })
}

/// Trust the PEM certificates in `ca_file` (one or more) in addition to the system roots.
/// The file is read when the handle is created (`FHIR_ERR_IO` / `FHIR_ERR_TLS` then).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_add_ca_file(
    options: *mut fhir_options_t,
    ca_file: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.add_ca_file(arg_str(ca_file, "ca_file")?))
    })
}

/// Whether to trust the system's root certificates (default true). With false, only the CA
/// files added with `fhir_options_add_ca_file` are trusted.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_system_roots(
    options: *mut fhir_options_t,
    enabled: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_system_roots(enabled)))
}

/// Present a client certificate (mutual TLS): PEM certificate (chain) and PEM private key
/// (PKCS#8, PKCS#1 or SEC1) files, read when the handle is created.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_client_cert(
    options: *mut fhir_options_t,
    cert_file: *const c_char,
    key_file: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_client_cert(
            arg_str(cert_file, "cert_file")?,
            arg_str(key_file, "key_file")?,
        ))
    })
}

/// DANGEROUS: accept any server certificate (no verification). Off by default; only for tests.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_insecure_skip_tls_verify(
    options: *mut fhir_options_t,
    skip: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_insecure_skip_verify(skip)))
}

/// Retry on these HTTP statuses (turns retrying on). `codes` may be NULL when `count` is 0 (then
/// only connection failures and timeouts are retried). Default once retrying is on: 413, 429, 503, 504.
///
/// # Safety
/// `codes` points to `count` values (or is NULL with `count` 0); other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_status_codes(
    options: *mut fhir_options_t,
    codes: *const u16,
    count: usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_retry_status_codes(arg_slice(codes, count, "codes")?))
    })
}

/// Retry requests of these methods (turns retrying on): a comma-separated list such as
/// "GET,PUT,POST". Default once retrying is on: GET, HEAD, PUT, DELETE, OPTIONS, TRACE.
/// POST is retried only when listed here.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_methods(
    options: *mut fhir_options_t,
    methods: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_retry_methods(arg_str(methods, "methods")?))
    })
}

/// Total attempts per request, the first included (default 5, at least 1). Only used once
/// retrying is on.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_max_attempts(
    options: *mut fhir_options_t,
    max_attempts: u32,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_retry_max_attempts(max_attempts))
    })
}

/// Backoff factor in seconds (default 0.1): retry n waits `factor * 2^(n-1)`.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_backoff_factor(
    options: *mut fhir_options_t,
    seconds: f64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_retry_backoff_factor(seconds))
    })
}

/// Jitter ratio in 0..0.5 (default 0.1): each backoff is multiplied by a random `1 ± ratio`.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_jitter(
    options: *mut fhir_options_t,
    ratio: f64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_retry_jitter(ratio)))
}

/// Cap in seconds for every wait between attempts, `Retry-After` included (default 60).
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_max_backoff_wait(
    options: *mut fhir_options_t,
    seconds: f64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_retry_max_backoff_wait(seconds))
    })
}

/// The `User-Agent` header (default "fhir_kindling-c/VERSION").
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_user_agent(
    options: *mut fhir_options_t,
    user_agent: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_user_agent(arg_str(user_agent, "user_agent")?))
    })
}

/// The `scope` requested with OIDC client credentials (default: none sent).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_oidc_scope(
    options: *mut fhir_options_t,
    scope: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_oidc_scope(arg_str(scope, "scope")?))
    })
}

/// How the client authenticates to the OIDC token endpoint: "client_secret_basic" (default,
/// HTTP basic auth) or "client_secret_post" (id and secret in the form body).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_oidc_auth_method(
    options: *mut fhir_options_t,
    method: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_oidc_auth_method(arg_str(method, "method")?))
    })
}

/// Allow paging `next` links that point to another server (default false: such a link stops the
/// search with `FHIR_ERR_PAGING`, so credentials only ever go to the configured server).
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_allow_foreign_links(
    options: *mut fhir_options_t,
    allow: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_allow_foreign_links(allow)))
}

/// The most bytes one response body may have, counted after decompression while it is read.
/// A larger answer stops the call with `FHIR_ERR_LIMIT` (the connection is dropped; the handle
/// stays usable). Streaming searches hold one page at a time, so this also bounds them.
///
/// @param options The options to change (borrowed for the call).
/// @param max_bytes The limit in bytes; 0 means no limit. Default 268435456 (256 MiB).
/// @param error_out Optional: receives the error on failure; free with fhir_error_free().
/// @return `FHIR_OK`, or `FHIR_ERR_NULL_ARGUMENT` if `options` is NULL.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_max_response_bytes(
    options: *mut fhir_options_t,
    max_bytes: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_max_response_bytes(max_bytes))
    })
}

/// The most bytes of a result collected from several pages by fhir_search_all(),
/// fhir_search_limit() and fhir_history(). A larger result stops the call with `FHIR_ERR_LIMIT`
/// (stream it with fhir_search_pages() instead).
///
/// @param options The options to change (borrowed for the call).
/// @param max_bytes The limit in bytes; 0 means no limit. Default 2147483648 (2 GiB).
/// @param error_out Optional: receives the error on failure; free with fhir_error_free().
/// @return `FHIR_OK`, or `FHIR_ERR_NULL_ARGUMENT` if `options` is NULL.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_max_result_bytes(
    options: *mut fhir_options_t,
    max_bytes: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(
        options,
        error_out,
        |o| Ok(o.set_max_result_bytes(max_bytes)),
    )
}

/// The most pages one search follows (every search call, streaming included). A server that
/// keeps sending new `next` links stops with `FHIR_ERR_LIMIT` once it is reached; a streaming
/// call then gives the URL of the next page in `*next_url_out`.
///
/// @param options The options to change (borrowed for the call).
/// @param max_pages The limit; 0 means no limit. Default 1000000.
/// @param error_out Optional: receives the error on failure; free with fhir_error_free().
/// @return `FHIR_OK`, or `FHIR_ERR_NULL_ARGUMENT` if `options` is NULL.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_max_pages(
    options: *mut fhir_options_t,
    max_pages: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_max_pages(max_pages)))
}
