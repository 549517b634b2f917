//! `fhir_server_t`: the handle, its constructors (one per auth mode, and from the environment),
//! and the general request and capabilities calls.

use std::ffi::{c_char, CString};
use std::future::Future;

use bytes::Bytes;

use super::boundary::{arg_str, guard, opt_bytes, out_ptr, run, write_opt, FfiResult, Handle};
use super::buffer::write_string;
use super::error::fhir_error_t;
use super::options::fhir_options_t;
use super::result::fhir_result;
use crate::auth::Auth;
use crate::config::Options;
use crate::error::Result;
use crate::server::FhirServer;

/// A connection to one FHIR server: base URL, auth mode, options, a connection pool and (for
/// OIDC) a token cache. Thread-safe: one handle may be used by many threads at once; only
/// `fhir_server_free` must not race with other calls on the same handle.
pub struct fhir_server_t {
    inner: FhirServer,
    base_url: CString,
}

impl Handle for fhir_server_t {
    const ARG: &'static str = "server";
}

/// The server behind a handle argument.
///
/// # Safety
/// `p` is NULL or a live handle.
pub(crate) unsafe fn server_ref<'a>(p: *const fhir_server_t) -> FfiResult<&'a FhirServer> {
    fhir_server_t::borrow(p).map(|s| &s.inner)
}

/// The shape of every constructor: check `server_out`, read the options (NULL = defaults), let
/// `make` check its own arguments and build the server, hand the new handle over.
unsafe fn construct(
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
        // A parsed URL never holds a NUL byte.
        let base_url = CString::new(inner.base_url()).unwrap_or_default();
        *out = fhir_server_t { inner, base_url }.into_raw();
        Ok(())
    })
}

/// Connect without authentication. `base_url` must be http(s), e.g. "https://host/fhir"; a
/// trailing slash is removed. `options` may be NULL (defaults) and is copied.
/// No request is sent yet. On success `*server_out` is a new handle to free with `fhir_server_free`.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// Connect with HTTP basic auth (`Authorization: Basic base64(username:password)`).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// Connect with a static bearer token (`Authorization: Bearer <token>`).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// Connect with OpenID Connect client credentials. `provider_url` is the token endpoint or the
/// issuer (its `/.well-known/openid-configuration` names the token endpoint). The token is fetched
/// on the first request, cached for all threads, refreshed shortly before it expires, and
/// refreshed once after a 401 (the request is then replayed).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// Connect as configured by environment variables: the base URL from `FHIR_API_URL` (fallback
/// `FHIR_SERVER_URL`) and exactly one auth mode: `FHIR_USER` + `FHIR_PW`, or `FHIR_TOKEN`, or
/// `CLIENT_ID` + `CLIENT_SECRET` + `OIDC_PROVIDER_URL`. More than one mode, an incomplete one, or
/// none give `FHIR_ERR_CONFIG` with a message naming the variables (never their values). With
/// `no_auth` true, no credentials are used and credential variables are ignored.
///
/// # Safety
/// Pointers are NULL or valid.
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

/// Free a handle. NULL is ignored. Must not race with other calls on the same handle.
///
/// # Safety
/// `server` is NULL or a handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_free(server: *mut fhir_server_t) {
    fhir_server_t::free(server)
}

/// The normalised base URL (no trailing slash). Borrowed: valid until `fhir_server_free`.
/// NULL if `server` is NULL.
///
/// # Safety
/// `server` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_base_url(server: *const fhir_server_t) -> *const c_char {
    fhir_server_t::borrow(server).map_or(std::ptr::null(), |s| s.base_url.as_ptr())
}

/// Send one request. `method` is an HTTP method ("GET", "POST", ...); `path` is relative to the
/// base URL ("Patient/1", "Patient?name=x", already percent-encoded) or an absolute URL on the
/// same server; `body` (JSON, `body_len` bytes) may be NULL. Retries as configured.
///
/// On a 2xx answer: `FHIR_OK`, `*status_out` (if not NULL) gets the status and `*body_out` a new
/// NUL-terminated buffer with the response body (empty string if none; free with `fhir_string_free`),
/// `*body_len_out` (if not NULL) its length. On an HTTP error status: the matching code
/// (`FHIR_ERR_NOT_FOUND`, `FHIR_ERR_AUTH`, ...) and the status and body in `*error_out`.
///
/// # Safety
/// Pointers are NULL or valid; `body` points to `body_len` bytes.
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
        let resp = run(s.request(method, path, body))?;
        write_string(&resp.body, out, body_len_out)?;
        write_opt(status_out, resp.status);
        Ok(())
    })
}

/// `GET [base]/metadata`: the server's CapabilityStatement as a new JSON buffer in `*json_out`
/// (free with `fhir_string_free`), its length in `*len_out` if not NULL.
///
/// # Safety
/// Pointers are NULL or valid.
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
    T: AsRef<[u8]>,
{
    guard(error_out, || {
        let s = server_ref(server)?;
        let out = out_ptr(json_out, "json_out")?;
        let body = run(call(s)?)?;
        write_string(body.as_ref(), out, len_out)
    })
}
