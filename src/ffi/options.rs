//! `fhir_options_t`: connection options for every constructor (headers, proxies, timeouts, TLS,
//! retries, OIDC details). Constructors copy the options, so they may be freed right after.
//! Every setter goes through one method of the core's `Options`.

use std::ffi::c_char;

use super::boundary::{arg_slice, arg_str, guard, FfiResult, Handle};
use super::error::fhir_error_t;
use super::result::fhir_result;
use crate::config::Options;
use crate::error::Result;

/// Connection options for the constructors: extra headers, proxies, timeouts, TLS, retries, OpenID
/// Connect details and paging safety. Each setter checks its value, so a bad option is reported by
/// the call that sets it. A constructor copies the options: changing or freeing them afterwards
/// does not affect the handle.
///
/// Retrying is off by default. fhir_options_set_retry_status_codes() or
/// fhir_options_set_retry_methods() turns it on; the other retry settings apply only then.
///
/// Not locked: do not change one options object from two threads at once, nor while a constructor
/// reads it.
///
/// Functions: fhir_options_new(); the setters fhir_options_add_header(), fhir_options_set_proxy(),
/// fhir_options_set_timeout_ms(), fhir_options_set_connect_timeout_ms(),
/// fhir_options_add_ca_file(), fhir_options_set_system_roots(), fhir_options_set_client_cert(),
/// fhir_options_set_insecure_skip_tls_verify(), fhir_options_set_retry_status_codes(),
/// fhir_options_set_retry_methods(), fhir_options_set_retry_max_attempts(),
/// fhir_options_set_retry_backoff_factor(), fhir_options_set_retry_jitter(),
/// fhir_options_set_retry_max_backoff_wait(), fhir_options_set_user_agent(),
/// fhir_options_set_oidc_scope(), fhir_options_set_oidc_auth_method(),
/// fhir_options_set_allow_foreign_links(), fhir_options_set_create_all_parallel(),
/// fhir_options_set_max_response_bytes(),
/// fhir_options_set_max_result_bytes(), fhir_options_set_max_pages(); for SMART Backend Services
/// fhir_options_set_smart_key_id(), fhir_options_set_smart_algorithm(),
/// fhir_options_set_smart_scope(), fhir_options_set_smart_token_url(),
/// fhir_options_set_smart_jku(); for embedding fhir_options_set_log_callback(),
/// fhir_options_set_request_hook(), fhir_options_set_search_post_threshold(),
/// fhir_options_set_pool_idle_timeout_ms(), fhir_options_set_pool_max_idle_per_host(); then
/// fhir_options_free().
pub struct fhir_options_t {
    pub(crate) inner: Options,
}

impl Handle for fhir_options_t {
    const ARG: &'static str = "options";
}

/// The shape of every setter: borrow the options, apply one core setter, report its error.
pub(crate) unsafe fn set(
    options: *mut fhir_options_t,
    error_out: *mut *mut fhir_error_t,
    f: impl FnOnce(&mut Options) -> FfiResult<Result<()>>,
) -> fhir_result {
    guard(error_out, || {
        let o = fhir_options_t::borrow_mut(options)?;
        Ok(f(&mut o.inner)??)
    })
}

/// New options with the defaults: no extra headers; proxies from the environment (`HTTP_PROXY`,
/// `HTTPS_PROXY`, `NO_PROXY`) unless one is set with fhir_options_set_proxy(); a 60 s timeout per
/// attempt and a 10 s connect timeout; the built-in root certificates; TLS verification on; no
/// retries.
///
/// @return New options owned by the caller; free them with fhir_options_free(). Never NULL.
#[no_mangle]
pub extern "C" fn fhir_options_new() -> *mut fhir_options_t {
    fhir_options_t {
        inner: Options::default(),
    }
    .into_raw()
}

/// Free options.
///
/// @param options Options from fhir_options_new(), or NULL (ignored). They must not be used
///        afterwards; handles created with them are not affected (they hold a copy).
#[no_mangle]
pub unsafe extern "C" fn fhir_options_free(options: *mut fhir_options_t) {
    fhir_options_t::free(options)
}

/// Add a header sent with every request to the configured server; not to the OpenID Connect
/// provider, nor to another server a paging link points to. Several headers of one name may be
/// added. Header values are treated as secrets: never logged nor shown in messages.
///
/// @param options The options to change (borrowed for the call).
/// @param name The header name, such as "X-Api-Key" (copied). `Authorization` is refused: it
///        belongs to the auth mode chosen by the constructor.
/// @param value The header value (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an invalid name or value, or `Authorization`.
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

/// Route requests through a forward proxy (fhir_kindling, Python: `proxies`). Setting any proxy
/// here turns off the proxies from the environment; a second call for the same scheme replaces the
/// first. A proxy that cannot be reached, or answers 407, gives `FHIR_ERR_PROXY` at request time.
///
/// @param options The options to change (borrowed for the call).
/// @param scheme Which requests go through it: "http" (plain-HTTP requests), "https" (HTTPS
///        requests, tunnelled with CONNECT) or "all" (copied).
/// @param proxy_url `http://[user:pass@]host:port` or an https URL (copied). Its credentials are
///        never shown in messages.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for another scheme, or a URL that is not http(s)
///         with a host.
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

/// Timeout for each request attempt: connecting, sending and reading the whole answer. An attempt
/// that takes longer fails with `FHIR_ERR_TIMEOUT`; once retrying is on, it is retried like a
/// connection failure.
///
/// @param options The options to change (borrowed for the call).
/// @param timeout_ms Milliseconds, any value; 0 means no limit. Default 60000 (60 s).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_timeout_ms(
    options: *mut fhir_options_t,
    timeout_ms: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_timeout_ms(timeout_ms)))
}

/// Timeout for establishing a connection (TCP, and the proxy's). A connection attempt that takes
/// longer fails with `FHIR_ERR_TIMEOUT`.
///
/// @param options The options to change (borrowed for the call).
/// @param timeout_ms Milliseconds, any value; 0 means no limit. Default 10000 (10 s).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
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

/// Trust the PEM certificates in a file (one or more), in addition to the built-in roots (or
/// instead of them: see fhir_options_set_system_roots()). May be called several times. The file is
/// read by the constructor, which fails with `FHIR_ERR_IO` when it cannot be read and
/// `FHIR_ERR_TLS` when it holds no PEM certificate.
///
/// @param options The options to change (borrowed for the call).
/// @param ca_file The file's path (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty path.
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

/// Whether to trust the built-in root certificates: the system's and Mozilla's (webpki-roots).
///
/// @param options The options to change (borrowed for the call).
/// @param enabled true (default) to trust them; false to trust only the CA files added with
///        fhir_options_add_ca_file().
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_system_roots(
    options: *mut fhir_options_t,
    enabled: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_system_roots(enabled)))
}

/// Present a client certificate (mutual TLS). The files are read by the constructor, which fails
/// with `FHIR_ERR_IO` when one cannot be read and `FHIR_ERR_TLS` when they are not a usable pair.
///
/// @param options The options to change (borrowed for the call).
/// @param cert_file Path of the PEM certificate (chain) (copied).
/// @param key_file Path of the PEM private key: PKCS#8, PKCS#1 or SEC1 (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty path.
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

/// DANGEROUS: accept any server certificate, without verification. Only for tests.
///
/// @param options The options to change (borrowed for the call).
/// @param skip true to skip verification; false (default) to verify.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_insecure_skip_tls_verify(
    options: *mut fhir_options_t,
    skip: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_insecure_skip_verify(skip)))
}

/// Retry a request when the server answers with one of these HTTP statuses (fhir_kindling, Python:
/// `retry_status_codes`). This turns retrying on: off by default, it applies to requests whose
/// method is retryable (see fhir_options_set_retry_methods()), on these statuses and on connection
/// failures and timeouts, up to fhir_options_set_retry_max_attempts() attempts.
///
/// @param options The options to change (borrowed for the call).
/// @param codes The statuses (copied), each in 100..599. NULL is allowed when `count` is 0: then no
///        status is retried, only connection failures and timeouts. Default once retrying is on
///        (through fhir_options_set_retry_methods()): 413, 429, 503, 504.
/// @param count The number of values in `codes`, at most 1000.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for more than 1000 codes, or one outside
///         100..599.
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

/// Retry requests of these HTTP methods (fhir_kindling, Python: `retryable_methods`). This turns
/// retrying on (see fhir_options_set_retry_status_codes()). POST is retried only when listed: a
/// retried POST (creates, transactions, batches, POST operations) may be applied twice.
///
/// @param options The options to change (borrowed for the call).
/// @param methods A comma-separated list such as "GET,PUT,POST" (copied; case-insensitive, spaces
///        around names ignored); "" retries no method. Default once retrying is on (through
///        fhir_options_set_retry_status_codes()): GET, HEAD, PUT, DELETE, OPTIONS, TRACE.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when a name is not made of letters only.
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

/// Attempts per request, the first included (fhir_kindling, Python: `max_attempts`). Applies once
/// retrying is on.
///
/// @param options The options to change (borrowed for the call).
/// @param max_attempts At least 1 (1 means no retry). Default 5.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for 0.
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

/// Backoff between attempts (fhir_kindling, Python: `retry_backoff_factor`): retry n waits
/// `factor * 2^(n-1)` seconds, with jitter (fhir_options_set_retry_jitter()), unless the server
/// sent `Retry-After`, which is honoured instead; every wait is capped by
/// fhir_options_set_retry_max_backoff_wait(). Applies once retrying is on.
///
/// @param options The options to change (borrowed for the call).
/// @param seconds The factor in seconds, 0..2592000 (30 days). Default 0.1.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` outside that range, or for NaN.
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

/// Jitter of the backoff waits: each one is multiplied by a random factor between `1 - ratio` and
/// `1 + ratio` (a `Retry-After` wait is not). Applies once retrying is on.
///
/// @param options The options to change (borrowed for the call).
/// @param ratio 0..0.5; 0 for none. Default 0.1.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` outside that range, or for NaN.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_retry_jitter(
    options: *mut fhir_options_t,
    ratio: f64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_retry_jitter(ratio)))
}

/// Cap for every wait between attempts, `Retry-After` included (fhir_kindling, Python:
/// `max_backoff_wait`). Applies once retrying is on.
///
/// @param options The options to change (borrowed for the call).
/// @param seconds 0..2592000 (30 days). Default 60.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` outside that range, or for NaN.
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

/// The `User-Agent` header of every request.
///
/// @param options The options to change (borrowed for the call).
/// @param user_agent The value (copied). Default "fhir_kindling-c/" followed by the library
///        version.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when it is not a valid header value.
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

/// The `scope` asked for with OpenID Connect client credentials. Applies only to
/// fhir_server_new_oidc() and to fhir_server_from_env() in OpenID Connect mode.
///
/// @param options The options to change (borrowed for the call).
/// @param scope Space-separated scopes (copied); "" (the default) sends no `scope`.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
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

/// How the client authenticates to the OpenID Connect token endpoint. Applies only to
/// fhir_server_new_oidc() and to fhir_server_from_env() in OpenID Connect mode.
///
/// @param options The options to change (borrowed for the call).
/// @param method "client_secret_basic" (default: HTTP basic auth) or "client_secret_post" (client
///        id and secret in the form body) (copied; case-insensitive).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for another method.
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

/// Whether searches follow paging `next` links to another server (another scheme, host or port than
/// the base URL's). Such pages are fetched without credentials and without the extra headers.
/// Applies to fhir_search_all(), fhir_search_limit(), fhir_search_pages(), fhir_search_resources()
/// and fhir_history().
///
/// @param options The options to change (borrowed for the call).
/// @param allow false (default): such a link stops the search with `FHIR_ERR_PAGING`, so
///        credentials only ever go to the configured server; true: follow it.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_allow_foreign_links(
    options: *mut fhir_options_t,
    allow: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_allow_foreign_links(allow)))
}

/// How many transactions fhir_resource_create_all() keeps in flight. With more than one, the next
/// batches are sent before the earlier ones are answered (each over its own connection), which
/// helps when the server, not the network, takes the time. The created references still come
/// back in input order. On a failure no further batch is sent, the batches already sent are
/// waited for, and the error names the first failed batch (in input order) and what earlier
/// batches committed, as with one in flight, then which batches sent meanwhile were committed.
///
/// @param options The options to change (borrowed for the call).
/// @param parallel 1 (default): one transaction after the other; at most 64.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for 0 or more than 64.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_create_all_parallel(
    options: *mut fhir_options_t,
    parallel: usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_create_all_parallel(parallel))
    })
}

/// The most bytes one response body may have, counted after decompression while it is read.
/// A larger answer stops the call with `FHIR_ERR_LIMIT` (the connection is dropped; the handle
/// stays usable). Streaming searches hold one page at a time, so this also bounds them.
///
/// @param options The options to change (borrowed for the call).
/// @param max_bytes The limit in bytes; 0 means no limit. Default 268435456 (256 MiB).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, or `FHIR_ERR_NULL_ARGUMENT` if `options` is NULL.
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
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, or `FHIR_ERR_NULL_ARGUMENT` if `options` is NULL.
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
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, or `FHIR_ERR_NULL_ARGUMENT` if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_max_pages(
    options: *mut fhir_options_t,
    max_pages: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| Ok(o.set_max_pages(max_pages)))
}

/// SMART Backend Services: the key id (`kid`) under which the token endpoint knows the client's
/// public key. Required by fhir_server_new_smart_backend(); sent in the header of every client
/// assertion.
///
/// @param options The options to change (borrowed for the call).
/// @param kid The key id (copied); not empty.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty key id.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_smart_key_id(
    options: *mut fhir_options_t,
    kid: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_smart_key_id(arg_str(kid, "kid")?))
    })
}

/// SMART Backend Services: the signing algorithm of the client assertion. Without this setter it
/// follows the key (RSA: RS384, P-384: ES384); set, it must fit the key, or
/// fhir_server_new_smart_backend() fails with `FHIR_ERR_INVALID_ARGUMENT`.
///
/// @param options The options to change (borrowed for the call).
/// @param algorithm "RS384" or "ES384" (copied; case-insensitive).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for another algorithm.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_smart_algorithm(
    options: *mut fhir_options_t,
    algorithm: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_smart_algorithm(arg_str(algorithm, "algorithm")?))
    })
}

/// SMART Backend Services: the `scope` of the token request, sent verbatim, such as
/// "system/Patient.read system/Observation.read" (SMART v1) or "system/Patient.rs" (v2). Default: no
/// scope parameter. fhir_server_granted_scope() tells what the server granted.
///
/// @param options The options to change (borrowed for the call).
/// @param scope The scope (copied); "" for none; no control characters.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a scope with control characters.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_smart_scope(
    options: *mut fhir_options_t,
    scope: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_smart_scope(arg_str(scope, "scope")?))
    })
}

/// SMART Backend Services: the token endpoint. Without this setter it is discovered from
/// `[base]/.well-known/smart-configuration` at the first request; set, nothing is discovered (for
/// a server whose configuration document is missing or incomplete). It is also the `aud` of the
/// client assertions.
///
/// @param options The options to change (borrowed for the call).
/// @param url The token endpoint, http or https with a host (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a URL that is not http(s) with a host.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_smart_token_url(
    options: *mut fhir_options_t,
    url: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_smart_token_url(arg_str(url, "url")?))
    })
}

/// SMART Backend Services: the `jku` header of the client assertions, the URL where the client's
/// JWK Set is published (see fhir_smart_public_jwks()). Default: no `jku` header.
///
/// @param options The options to change (borrowed for the call).
/// @param url The JWK Set URL, http or https with a host (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a URL that is not http(s) with a host.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_smart_jku(
    options: *mut fhir_options_t,
    url: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        Ok(o.set_smart_jku(arg_str(url, "url")?))
    })
}

/// Send a search as `POST [type]/_search` with its parameters as a form body when its first URL is
/// longer than `url_len` bytes: for queries too long for a URL (servers and gateways refuse
/// request lines above 4–8 KiB; a search for hundreds of ids is longer). Later pages follow the
/// server's `next` links with GET, as usual. Applies to every search call.
///
/// @param options The options (borrowed for the call).
/// @param url_len The URL length above which searches are posted: 0 posts every search,
///        `SIZE_MAX` never posts. Default 4096.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_search_post_threshold(
    options: *mut fhir_options_t,
    url_len: usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        o.set_search_post_threshold(url_len);
        Ok(Ok(()))
    })
}

/// How long an idle connection stays in the handle's pool before it is closed. Connections
/// belong to the calling thread that opened them and are driven only during that thread's calls:
/// an expired one is closed (never reused) when that thread next calls the library, or when the
/// thread exits.
///
/// @param options The options (borrowed for the call).
/// @param idle_timeout_ms Milliseconds; 0 keeps idle connections until the server closes them.
///        Default 90000.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_pool_idle_timeout_ms(
    options: *mut fhir_options_t,
    idle_timeout_ms: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        o.set_pool_idle_timeout(
            (idle_timeout_ms > 0).then(|| std::time::Duration::from_millis(idle_timeout_ms)),
        );
        Ok(Ok(()))
    })
}

/// How many idle connections the handle keeps per host for reuse.
///
/// @param options The options (borrowed for the call).
/// @param max_idle Connections; 0 closes every connection after its request (no reuse). Default
///        unlimited (`SIZE_MAX`).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_options_set_pool_max_idle_per_host(
    options: *mut fhir_options_t,
    max_idle: usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(options, error_out, |o| {
        o.set_pool_max_idle_per_host(max_idle);
        Ok(Ok(()))
    })
}
