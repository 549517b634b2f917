//! `fhir_server_t`: the handle, its constructors (one per auth mode, and from the environment),
//! and the general request and capabilities calls.

use std::ffi::{c_char, CString};

use bytes::Bytes;

use super::error::fhir_error_t;
use super::options::fhir_options_t;
use super::{arg_bytes, arg_str, guard, json_call, out_ptr, write_json};
use crate::config::Options;
use crate::error::{fhir_result, Code, Error, Result};
use crate::runtime::block_on;
use crate::server::FhirServer;

/// A connection to one FHIR server: base URL, auth mode, options, a connection pool and (for
/// OIDC) a token cache. Thread-safe: one handle may be used by many threads at once; only
/// `fhir_server_free` must not race with other calls on the same handle.
pub struct fhir_server_t {
    pub(crate) inner: FhirServer,
    base_url: CString,
}

/// The server behind a handle argument.
///
/// # Safety
/// `p` is NULL or a live handle.
pub(crate) unsafe fn server_ref<'a>(p: *const fhir_server_t) -> Result<&'a FhirServer> {
    p.as_ref()
        .map(|s| &s.inner)
        .ok_or_else(|| Error::new(Code::FHIR_ERR_NULL_ARGUMENT, "argument `server` is NULL"))
}

unsafe fn options_or_default(p: *const fhir_options_t) -> Options {
    p.as_ref().map(|o| o.inner.clone()).unwrap_or_default()
}

unsafe fn finish_new(
    server_out: *mut *mut fhir_server_t,
    make: impl FnOnce() -> Result<FhirServer>,
) -> Result<()> {
    let out = out_ptr(server_out, "server_out")?;
    let inner = make()?;
    let base_url =
        CString::new(inner.base_url()).map_err(|_| Error::invalid("base URL contains NUL"))?;
    *out = Box::into_raw(Box::new(fhir_server_t { inner, base_url }));
    Ok(())
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
    guard(error_out, || {
        let url = arg_str(base_url, "base_url")?;
        let o = options_or_default(options);
        finish_new(server_out, || {
            FhirServer::new(url, crate::auth::Auth::None, &o)
        })
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
    guard(error_out, || {
        let url = arg_str(base_url, "base_url")?;
        let user = arg_str(username, "username")?;
        let pass = arg_str(password, "password")?;
        let o = options_or_default(options);
        finish_new(server_out, || FhirServer::new_basic(url, user, pass, &o))
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
    guard(error_out, || {
        let url = arg_str(base_url, "base_url")?;
        let tok = arg_str(token, "token")?;
        let o = options_or_default(options);
        finish_new(server_out, || FhirServer::new_token(url, tok, &o))
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
    guard(error_out, || {
        let url = arg_str(base_url, "base_url")?;
        let id = arg_str(client_id, "client_id")?;
        let secret = arg_str(client_secret, "client_secret")?;
        let provider = arg_str(provider_url, "provider_url")?;
        let o = options_or_default(options);
        finish_new(server_out, || {
            FhirServer::new_oidc(url, id, secret, provider, &o)
        })
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
    guard(error_out, || {
        let o = options_or_default(options);
        finish_new(server_out, || FhirServer::from_env(no_auth, &o))
    })
}

/// Free a handle. NULL is ignored. Must not race with other calls on the same handle.
///
/// # Safety
/// `server` is NULL or a handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_free(server: *mut fhir_server_t) {
    if !server.is_null() {
        drop(Box::from_raw(server));
    }
}

/// The normalised base URL (no trailing slash). Borrowed: valid until `fhir_server_free`.
/// NULL if `server` is NULL.
///
/// # Safety
/// `server` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_base_url(server: *const fhir_server_t) -> *const c_char {
    server
        .as_ref()
        .map_or(std::ptr::null(), |s| s.base_url.as_ptr())
}

/// Send one request. `method` is an HTTP method ("GET", "POST", ...); `path` is relative to the
/// base URL ("Patient/1", "Patient?name=x", already percent-encoded) or an absolute URL on the
/// same server; `body` (JSON, `body_len` bytes) may be NULL. Retries as configured.
///
/// On a 2xx answer: `FHIR_OK`, `*status_out` (if not NULL) gets the status and `*body_out` a new
/// NUL-terminated buffer with the response body (empty string if none; free with `fhir_json_free`),
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
        let body = arg_bytes(body, body_len, "body")?.map(Bytes::copy_from_slice);
        let out = out_ptr(body_out, "body_out")?;
        let resp = block_on(s.request(method, path, body))??;
        write_json(&resp.body, out, body_len_out)?;
        if !status_out.is_null() {
            *status_out = resp.status;
        }
        Ok(())
    })
}

/// `GET [base]/metadata`: the server's CapabilityStatement as a new JSON buffer in `*json_out`
/// (free with `fhir_json_free`), its length in `*len_out` if not NULL.
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
