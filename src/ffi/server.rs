//! `fhir_server_t`: the handle, its constructors (one per auth mode, and from the environment),
//! and the general request and capabilities calls.

use std::ffi::{c_char, CString};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::boundary::{arg_str, guard, opt_bytes, out_ptr, write_opt, FfiResult, Handle};
use super::buffer::{write_string, write_vec, IntoBuffer};
use super::embed::fhir_cancel_t;
use super::error::fhir_error_t;
use super::options::fhir_options_t;
use super::result::fhir_result;
use super::runtime::block_on;
use crate::auth::Auth;
use crate::call::{Call, CallInfo, Scope};
use crate::config::Options;
use crate::error::Result;
use crate::server::FhirServer;

/// A connection to one FHIR server: base URL, auth mode, a copy of the options, a connection pool
/// and, for OpenID Connect, a token cache.
///
/// Thread-safe: one handle may be used by many threads at once; only fhir_server_free() must not
/// race with other calls on the same handle.
///
/// Functions: the constructors fhir_server_new(), fhir_server_new_basic(), fhir_server_new_token(),
/// fhir_server_new_oidc(), fhir_server_new_smart_backend(), fhir_server_from_env(); then
/// fhir_server_base_url(), fhir_server_granted_scope(),
/// fhir_server_request(), fhir_server_capabilities(), fhir_server_summary(); the operations
/// fhir_resource_read(), fhir_resource_read_many(), fhir_resource_create(),
/// fhir_resource_create_all(), fhir_resource_update(), fhir_resource_update_conditional(),
/// fhir_resource_delete(), fhir_resource_delete_many(), fhir_resource_delete_by_query(),
/// fhir_bundle_send(), fhir_history(), fhir_operation(); the searches fhir_search_all(),
/// fhir_search_limit(), fhir_search_first(), fhir_search_count(), fhir_search_pages(),
/// fhir_search_resources(); for embedding fhir_server_scope(), fhir_server_last_call(); then
/// fhir_server_free().
pub struct fhir_server_t {
    inner: Arc<FhirServer>,
    base_url: CString,
    /// The cancel token and deadline of the calls made through this handle (fhir_server_scope()).
    scope: Scope,
    /// What the last call through this handle did (fhir_server_last_call()).
    last: Mutex<CallInfo>,
}

impl fhir_server_t {
    fn new(inner: Arc<FhirServer>, scope: Scope) -> Self {
        // A parsed URL never holds a NUL byte.
        let base_url = CString::new(inner.base_url()).unwrap_or_default();
        fhir_server_t {
            inner,
            base_url,
            scope,
            last: Mutex::new(CallInfo::default()),
        }
    }

    /// Start a call through this handle (on the caller's thread).
    pub(crate) fn begin(&self) -> Arc<Call> {
        Call::new(self.scope.clone(), self.inner.transport.log.clone())
    }

    /// Run one step of `call` (a future of the core) on the caller's thread.
    pub(crate) fn step<T>(
        &self,
        call: &Arc<Call>,
        future: impl Future<Output = Result<T>>,
    ) -> FfiResult<T> {
        // Pinned here, in this frame, and only a pointer handed down: a request's future is a
        // few kilobytes (reqwest's, hyper's and our state machines nested), and every wrapper
        // below (the call's task-local and select, the runtime's block_on) would otherwise copy
        // it again as it moves in (and a box would cost a large allocation per call).
        let future = std::pin::pin!(future);
        Ok(block_on(call.run(future))??)
    }

    /// Record what `call` did as this handle's last call.
    pub(crate) fn end(&self, call: &Call) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = call.info();
    }

    /// Run `future` as one whole call through this handle.
    pub(crate) fn run<T>(&self, future: impl Future<Output = Result<T>>) -> FfiResult<T> {
        let call = self.begin();
        let out = self.step(&call, future);
        self.end(&call);
        out
    }

    pub(crate) fn server(&self) -> &FhirServer {
        &self.inner
    }
}

impl Handle for fhir_server_t {
    const ARG: &'static str = "server";
}

/// The server behind a handle argument.
///
/// # Safety
/// `p` is NULL or a live handle.
pub(crate) unsafe fn server_ref<'a>(p: *const fhir_server_t) -> FfiResult<&'a fhir_server_t> {
    fhir_server_t::borrow(p)
}

/// The shape of every constructor: check `server_out`, read the options (NULL = defaults), let
/// `make` check its own arguments and build the server, hand the new handle over.
pub(crate) unsafe fn construct(
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
    make: impl FnOnce(&Options) -> FfiResult<Result<FhirServer>>,
) -> fhir_result {
    guard(error_out, || {
        let out = out_ptr(server_out, "server_out")?;
        let options = match options.is_null() {
            true => Options::default(),
            false => fhir_options_t::borrow(options)?.inner.clone(),
        };
        let inner = make(&options)??;
        *out = fhir_server_t::new(Arc::new(inner), Scope::default()).into_raw();
        Ok(())
    })
}

/// A handle for a server without authentication.
///
/// @param base_url The server's base URL, http or https, such as "https://host/fhir" (copied); a
///        trailing slash is removed. It must not carry credentials, a query or a fragment.
/// @param options NULL for the defaults, or options (copied: they may be freed right after).
/// @param server_out On success `*server_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_IO` when a CA file, client certificate or key named in the options
///         cannot be read; `FHIR_ERR_TLS` when one of them is not usable PEM. No request is sent
///         yet.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_new(
    base_url: *const c_char,
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    construct(options, server_out, error_out, |o| {
        Ok(FhirServer::new(
            arg_str(base_url, "base_url")?,
            Auth::None,
            o,
        ))
    })
}

/// A handle for a server with HTTP basic auth (`Authorization: Basic ...` on every request).
///
/// @param base_url The server's base URL, http or https, such as "https://host/fhir" (copied); a
///        trailing slash is removed. It must not carry credentials, a query or a fragment.
/// @param username The user name (copied); not empty, no ':'.
/// @param password The password (copied); never shown in messages.
/// @param options NULL for the defaults, or options (copied: they may be freed right after).
/// @param server_out On success `*server_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_IO` when a CA file, client certificate or key named in the options
///         cannot be read; `FHIR_ERR_TLS` when one of them is not usable PEM. No request is sent
///         yet.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_new_basic(
    base_url: *const c_char,
    username: *const c_char,
    password: *const c_char,
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    construct(options, server_out, error_out, |o| {
        let url = arg_str(base_url, "base_url")?;
        let user = arg_str(username, "username")?;
        let pass = arg_str(password, "password")?;
        Ok(FhirServer::new_basic(url, user, pass, o))
    })
}

/// A handle for a server with a static bearer token (`Authorization: Bearer ...` on every request).
///
/// @param base_url The server's base URL, http or https, such as "https://host/fhir" (copied); a
///        trailing slash is removed. It must not carry credentials, a query or a fragment.
/// @param token The token (copied); not empty, valid in a header; never shown in messages.
/// @param options NULL for the defaults, or options (copied: they may be freed right after).
/// @param server_out On success `*server_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_IO` when a CA file, client certificate or key named in the options
///         cannot be read; `FHIR_ERR_TLS` when one of them is not usable PEM. No request is sent
///         yet.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_new_token(
    base_url: *const c_char,
    token: *const c_char,
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    construct(options, server_out, error_out, |o| {
        let url = arg_str(base_url, "base_url")?;
        Ok(FhirServer::new_token(url, arg_str(token, "token")?, o))
    })
}

/// A handle for a server with OpenID Connect client credentials. The token is fetched on the first
/// request, cached for all threads, fetched again shortly before it expires, and once after a 401
/// (the request is then replayed). fhir_options_set_oidc_scope() and
/// fhir_options_set_oidc_auth_method() tune the token request.
///
/// @param base_url The server's base URL, http or https, such as "https://host/fhir" (copied); a
///        trailing slash is removed. It must not carry credentials, a query or a fragment.
/// @param client_id The client id (copied); not empty.
/// @param client_secret The client secret (copied); not empty; never shown in messages.
/// @param provider_url The provider (copied), http or https: a URL whose path ends in `/token` is
///        the token endpoint; any other is the issuer, whose `/.well-known/openid-configuration`
///        names the token endpoint.
/// @param options NULL for the defaults, or options (copied: they may be freed right after).
/// @param server_out On success `*server_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_IO` when a CA file, client certificate or key named in the options
///         cannot be read; `FHIR_ERR_TLS` when one of them is not usable PEM. No request is sent
///         yet: a provider that cannot be reached or refuses a token gives a request code (such as
///         `FHIR_ERR_AUTH`) at the first request.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_new_oidc(
    base_url: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    provider_url: *const c_char,
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    construct(options, server_out, error_out, |o| {
        let url = arg_str(base_url, "base_url")?;
        let id = arg_str(client_id, "client_id")?;
        let secret = arg_str(client_secret, "client_secret")?;
        let provider = arg_str(provider_url, "provider_url")?;
        Ok(FhirServer::new_oidc(url, id, secret, provider, o))
    })
}

/// A handle configured by environment variables, as fhir_kindling's `FhirServer.from_env`: the base
/// URL from `FHIR_API_URL` (fallback `FHIR_SERVER_URL`) and exactly one auth mode: `FHIR_USER` +
/// `FHIR_PW` (basic), or `FHIR_TOKEN`, or `CLIENT_ID` + `CLIENT_SECRET` + `OIDC_PROVIDER_URL`
/// (OpenID Connect), or `CLIENT_ID` + `SMART_PRIVATE_KEY` (PEM text or a file path) +
/// `SMART_KEY_ID`, with optional `SMART_SCOPE` and `SMART_TOKEN_URL` (SMART Backend Services, see
/// fhir_server_new_smart_backend(); the other SMART settings come from the options). An empty
/// variable counts as unset.
///
/// @param no_auth true to use no credentials (credential variables are then ignored); false to
///        require exactly one auth mode.
/// @param options NULL for the defaults, or options (copied: they may be freed right after).
/// @param server_out On success `*server_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_CONFIG` when the URL is missing or invalid, or the auth mode is
///         missing, incomplete or ambiguous (the message names the variables, never their values);
///         `FHIR_ERR_IO` or `FHIR_ERR_TLS` as for fhir_server_new(). No request is sent yet.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_from_env(
    no_auth: bool,
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    construct(options, server_out, error_out, |o| {
        Ok(FhirServer::from_env(no_auth, o))
    })
}

/// Free a handle: its connections and cached token.
///
/// @param server A handle, or NULL (ignored). It must not be used afterwards, and this call must
///        not race with other calls on the same handle.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_free(server: *mut fhir_server_t) {
    fhir_server_t::free(server);
    super::runtime::settle_after_free();
}

/// The base URL of a handle, normalised (no trailing slash).
///
/// @param server The handle (borrowed for the call), or NULL.
/// @return A NUL-terminated string owned by `server`, valid until fhir_server_free(); NULL if
///         `server` is NULL. Do not free it.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_base_url(server: *const fhir_server_t) -> *const c_char {
    fhir_server_t::borrow(server).map_or(std::ptr::null(), |s| s.base_url.as_ptr())
}

/// Send one request and hand back the answer's body as it is. Retries as configured; redirects are
/// not followed.
///
/// @param server The handle (borrowed for the call).
/// @param method An HTTP method such as "GET" or "POST" (copied; letters only, case-insensitive).
/// @param path A path relative to the base URL, such as "Patient/1" or `Patient?name=x` (already
///        percent-encoded), or an absolute URL on the same server (copied).
/// @param body NULL for no body, or a JSON body of `body_len` bytes, sent as
///        `application/fhir+json` (borrowed for the call; need not be NUL-terminated).
/// @param body_len The length of `body` in bytes; 0 means no body (whatever `body` is).
/// @param status_out NULL, or receives the HTTP status (2xx) on success.
/// @param body_out On success `*body_out` is the answer's body (an empty string when there is
///        none), a new buffer owned by the caller; free it with fhir_string_free(); not written on
///        failure.
/// @param body_len_out NULL, or receives the length of `*body_out` in bytes (NUL excluded) on
///        success.
/// @param error_out NULL, or receives a new error on failure, with the status and body of an HTTP
///        error answer; free it with fhir_error_free().
/// @return `FHIR_OK` for a 2xx answer; a request code (see the file overview) for any other (a 3xx
///         gives `FHIR_ERR_HTTP_STATUS`); `FHIR_ERR_JSON` when `body` is not valid JSON;
///         `FHIR_ERR_INVALID_ARGUMENT` for a URL on another server.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_request(
    server: *const fhir_server_t,
    method: *const c_char,
    path: *const c_char,
    body: *const c_char,
    body_len: usize,
    status_out: *mut u16,
    body_out: *mut *mut c_char,
    body_len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let method = arg_str(method, "method")?;
        let path = arg_str(path, "path")?;
        let body = opt_bytes(body, body_len, "body")?.map(Bytes::copy_from_slice);
        let out = out_ptr(body_out, "body_out")?;
        let resp = s.run(s.server().request(method, path, body))?;
        write_string(&resp.body, out, body_len_out)?;
        write_opt(status_out, resp.status);
        Ok(())
    })
}

/// The server's CapabilityStatement: `GET [base]/metadata`.
///
/// @param server The handle (borrowed for the call).
/// @param json_out On success `*json_out` is the CapabilityStatement (JSON), a new buffer owned by
///        the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` when the answer is
///         not JSON.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_capabilities(
    server: *const fhir_server_t,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        Ok(s.capabilities())
    })
}

/// The shape of every call that answers with JSON: check the handle and `json_out`, let `call`
/// check its own arguments and start the core's future, run it on the caller's thread, hand the
/// bytes over as `*json_out` / `*len_out`.
///
/// # Safety
/// `server` is NULL or a live handle; `json_out` NULL or valid; `len_out` NULL or valid.
pub(crate) unsafe fn json_call<'a, T, Fut>(
    server: *const fhir_server_t,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
    call: impl FnOnce(&'a FhirServer) -> FfiResult<Fut>,
) -> fhir_result
where
    Fut: Future<Output = Result<T>>,
    T: IntoBuffer,
{
    guard(error_out, || {
        let s = server_ref(server)?;
        let out = out_ptr(json_out, "json_out")?;
        let body = s.run(call(s.server())?)?;
        write_vec(body.into_vec(), out, len_out)
    })
}

/// A scoped handle: shares the connections, token cache and options of `server`, and every call
/// made through it is governed by `cancel` and by a deadline. One scope per call gives a call its
/// own cancel token and deadline; one scope for several calls gives them a common one.
///
/// A triggered token or a passed deadline ends a call promptly: a request in flight is abandoned
/// (its connection closed), a backoff wait is cut short, and nothing is retried. A search stops
/// between pages (writing the URL to resume from, as on any failure); fhir_resource_create_all()
/// reports in its error message how many resources earlier batches committed.
///
/// @param server The handle to share (borrowed for the call); it may be freed before the scoped
///        handle, and the other way round.
/// @param cancel NULL, or a cancel token; the scoped handle keeps its own reference, so the token
///        may be freed right after.
/// @param timeout_ms 0 for no deadline, or the deadline in milliseconds from now. It covers every
///        attempt, backoff wait and page of every call made through the scoped handle, unlike
///        fhir_options_set_timeout_ms(), which bounds each attempt. A call past it ends with
///        `FHIR_ERR_TIMEOUT`; a backoff wait that would end after it is not started.
/// @param scoped_out On success `*scoped_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a deadline beyond 100 years.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_scope(
    server: *const fhir_server_t,
    cancel: *const fhir_cancel_t,
    timeout_ms: u64,
    scoped_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let out = out_ptr(scoped_out, "scoped_out")?;
        let token = match cancel.is_null() {
            true => None,
            false => Some(fhir_cancel_t::borrow(cancel)?.token.clone()),
        };
        const MAX_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
        if timeout_ms > MAX_MS {
            return Err(fhir_error_t::new(
                fhir_result::FHIR_ERR_INVALID_ARGUMENT,
                format!("timeout_ms {timeout_ms} is beyond 100 years"),
            ));
        }
        let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        *out = fhir_server_t::new(s.inner.clone(), Scope::new(token, timeout)).into_raw();
        Ok(())
    })
}

/// What one call did: its last HTTP status, attempts, requests, bytes and timings. Filled by
/// fhir_server_last_call().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fhir_call_info_t {
    /// The HTTP status of the last answer, 0 if none came (a failure to connect).
    pub status: u16,
    /// Attempts of the last request: 1 when it was not retried.
    pub attempts: u32,
    /// HTTP requests sent to the FHIR server: every attempt of every request and page (token
    /// requests not included).
    pub requests: u32,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received (after decompression).
    pub bytes_received: u64,
    /// Wall time of the call in microseconds.
    pub total_us: u64,
    /// The last request: microseconds from sending it to its response headers.
    pub first_byte_us: u64,
    /// Microseconds spent opening new connections (TCP connect and TLS handshake together); 0
    /// when every request reused a pooled connection.
    pub connect_us: u64,
    /// New connections the call opened.
    pub new_connections: u32,
}

/// What the last call made through this handle did (successful or not). On a handle shared by
/// several threads, "last" is the call that ended last: give each thread (or call) its own
/// scoped handle (fhir_server_scope()) to read exactly its own.
///
/// @param server The handle (borrowed for the call).
/// @param info_out On success `*info_out` is filled (all zero before the first call); not
///        written on failure. Nothing to free.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_last_call(
    server: *const fhir_server_t,
    info_out: *mut fhir_call_info_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let out = out_ptr(info_out, "info_out")?;
        let i = *s.last.lock().unwrap_or_else(|e| e.into_inner());
        let us = |d: Duration| d.as_micros().min(u64::MAX as u128) as u64;
        *out = fhir_call_info_t {
            status: i.status,
            attempts: i.attempts,
            requests: i.requests,
            bytes_sent: i.bytes_sent,
            bytes_received: i.bytes_received,
            total_us: us(i.total),
            first_byte_us: us(i.first_byte),
            connect_us: us(i.connect),
            new_connections: i.new_connections,
        };
        Ok(())
    })
}
