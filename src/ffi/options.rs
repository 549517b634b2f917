//! `fhir_options_t`: connection options for every constructor (headers, proxies, timeouts, TLS,
//! retries, OIDC details). Constructors copy the options, so they may be freed right after.

use std::ffi::c_char;

use super::error::fhir_error_t;
use super::{arg_str, guard};
use crate::config::Options;
use crate::error::{fhir_result, Code, Error, Result};

/// Connection options. Create with `fhir_options_new`, free with `fhir_options_free`.
/// Not thread-safe: do not change one options object from two threads at once.
pub struct fhir_options_t {
    pub(crate) inner: Options,
}

unsafe fn opts<'a>(p: *mut fhir_options_t) -> Result<&'a mut Options> {
    p.as_mut()
        .map(|o| &mut o.inner)
        .ok_or_else(|| Error::new(Code::FHIR_ERR_NULL_ARGUMENT, "argument `options` is NULL"))
}

/// New options with the defaults: no extra headers, proxies from the environment
/// (`HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`) unless set here, a 60 s request timeout, a 10 s connect
/// timeout, the system's root certificates, TLS verification on, no retries.
/// Free with `fhir_options_free`. Never NULL.
#[no_mangle]
pub extern "C" fn fhir_options_new() -> *mut fhir_options_t {
    Box::into_raw(Box::new(fhir_options_t {
        inner: Options::default(),
    }))
}

/// Free options. NULL is ignored.
///
/// # Safety
/// `options` is NULL or from `fhir_options_new` and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_free(options: *mut fhir_options_t) {
    if !options.is_null() {
        drop(Box::from_raw(options));
    }
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
    guard(error_out, || {
        opts(options)?.add_header(arg_str(name, "name")?, arg_str(value, "value")?)
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
    guard(error_out, || {
        opts(options)?.set_proxy(arg_str(scheme, "scheme")?, arg_str(proxy_url, "proxy_url")?)
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
    guard(error_out, || {
        opts(options)?.set_timeout_ms(timeout_ms);
        Ok(())
    })
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
    guard(error_out, || {
        opts(options)?.set_connect_timeout_ms(timeout_ms);
        Ok(())
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
    guard(error_out, || {
        opts(options)?.add_ca_file(arg_str(ca_file, "ca_file")?)
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
    guard(error_out, || {
        opts(options)?.use_system_roots = enabled;
        Ok(())
    })
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
    guard(error_out, || {
        opts(options)?.set_client_cert(
            arg_str(cert_file, "cert_file")?,
            arg_str(key_file, "key_file")?,
        )
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
    guard(error_out, || {
        opts(options)?.insecure_skip_verify = skip;
        Ok(())
    })
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
    guard(error_out, || {
        let o = opts(options)?;
        let list: &[u16] = if count == 0 {
            &[]
        } else if count > 1000 {
            return Err(Error::invalid(format!(
                "{count} retry status codes: at most 1000"
            )));
        } else if codes.is_null() {
            return Err(Error::new(
                Code::FHIR_ERR_NULL_ARGUMENT,
                "argument `codes` is NULL but count is not 0",
            ));
        } else {
            std::slice::from_raw_parts(codes, count)
        };
        o.retry.set_status_codes(list)
    })
}

/// Retry requests of these methods (turns retrying on): a comma-separated list such as
/// "GET,PUT,POST". Default once retrying is on: GET, HEAD, PUT, DELETE, OPTIONS, TRACE.
/// POST is retried only when listed here.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retryable_methods(
    options: *mut fhir_options_t,
    methods: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let o = opts(options)?;
        let list: Vec<&str> = arg_str(methods, "methods")?
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        o.retry.set_methods(&list)
    })
}

/// Total attempts per request, the first included (default 5, at least 1). Only used once
/// retrying is on.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_max_attempts(
    options: *mut fhir_options_t,
    max_attempts: u32,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        opts(options)?.retry.set_max_attempts(max_attempts)
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
    guard(error_out, || {
        opts(options)?.retry.set_backoff_factor(seconds)
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
    guard(error_out, || opts(options)?.retry.set_jitter(ratio))
}

/// Cap in seconds for every wait between attempts, `Retry-After` included (default 60).
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_max_backoff_wait(
    options: *mut fhir_options_t,
    seconds: f64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        opts(options)?.retry.set_max_backoff_wait(seconds)
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
    guard(error_out, || {
        opts(options)?.set_user_agent(arg_str(user_agent, "user_agent")?)
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
    guard(error_out, || {
        opts(options)?.set_oidc_scope(arg_str(scope, "scope")?);
        Ok(())
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
    guard(error_out, || {
        opts(options)?.set_oidc_auth_method(arg_str(method, "method")?)
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
    guard(error_out, || {
        opts(options)?.allow_foreign_links = allow;
        Ok(())
    })
}
