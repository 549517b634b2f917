//! SMART Backend Services: the constructor, the granted scope, and the public JWK Set of a key.
//! The SMART option setters are with the other options (`fhir_options_set_smart_*`).

use std::ffi::c_char;

use super::boundary::{arg_str, guard, opt_str, out_ptr};
use super::buffer::write_string;
use super::error::fhir_error_t;
use super::options::fhir_options_t;
use super::result::fhir_result;
use super::server::{construct, fhir_server_t, server_ref};
use crate::server::FhirServer;

/// A handle for a server with SMART Backend Services auth (HL7 SMART App Launch,
/// `client_credentials` with `private_key_jwt`): the client proves itself with a JWT signed by its
/// private key (RS384 or ES384). The access token is fetched on the first request, cached for all
/// threads, fetched again shortly before it expires, and once after a 401 (the request is then
/// replayed); it is sent only to URLs under `base_url`.
///
/// Every token request carries a new client assertion: header `alg`, `kid`, `typ` "JWT" (and `jku`
/// when set); claims `iss` = `sub` = `client_id`, `aud` = the token endpoint, `exp` 4 minutes
/// ahead, `iat`, a random `jti`. The token endpoint is fhir_options_set_smart_token_url()'s, or the
/// `token_endpoint` of `[base_url]/.well-known/smart-configuration`, read at the first request,
/// which must list `client_credentials` in `grant_types_supported`, `private_key_jwt` in
/// `token_endpoint_auth_methods_supported` and the algorithm in
/// `token_endpoint_auth_signing_alg_values_supported`; a discovered token endpoint with credentials,
/// or with http for an https `base_url`, is refused. The options give the key id (required:
/// fhir_options_set_smart_key_id()), the algorithm, the scope and the `jku`.
///
/// @param base_url The server's base URL, http or https, such as "https://host/fhir" (copied); a
///        trailing slash is removed. It must not carry credentials, a query or a fragment.
/// @param client_id The client id the EHR registered (copied); not empty.
/// @param private_key The private key (copied), either PEM text (anything containing
///        "-----BEGIN") or the path of a PEM file, read now: RSA of 2048 to 4096 bits in PKCS#8
///        (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`), or P-384 in PKCS#8 or SEC1
///        (`BEGIN EC PRIVATE KEY`, as `openssl ecparam -genkey` writes it). Not encrypted. Never
///        shown in messages, nor the path.
/// @param options Options with at least the key id (copied: they may be freed right after); NULL
///        is refused with `FHIR_ERR_INVALID_ARGUMENT`, as the key id is then missing.
/// @param server_out On success `*server_out` is a new handle owned by the caller; free it with
///        fhir_server_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when the key id is not set, the key is not one
///         of the kinds above (wrong type, size or curve, encrypted, not PEM) or does not fit the
///         algorithm set; `FHIR_ERR_IO` when `private_key` is not PEM text and no file of that
///         name can be read, or a CA file, client certificate or key named in the options cannot
///         be read; `FHIR_ERR_TLS` when one of the latter is not usable PEM. No request is sent
///         yet: a server without a usable smart-configuration, or a token endpoint that refuses
///         the client, gives `FHIR_ERR_AUTH` at the first request (a token endpoint that cannot be
///         reached gives its connection code).
#[no_mangle]
pub unsafe extern "C" fn fhir_server_new_smart_backend(
    base_url: *const c_char,
    client_id: *const c_char,
    private_key: *const c_char,
    options: *const fhir_options_t,
    server_out: *mut *mut fhir_server_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    construct(options, server_out, error_out, |o| {
        let url = arg_str(base_url, "base_url")?;
        let id = arg_str(client_id, "client_id")?;
        let key = arg_str(private_key, "private_key")?;
        Ok(FhirServer::new_smart_backend(url, id, key, o))
    })
}

/// The scope granted with the current access token of a SMART Backend Services or OpenID Connect
/// handle: the token response's `scope`, or the requested scope when the response named none
/// (RFC 6749 §5.1), or "" when neither. When no valid token is cached, one is fetched first.
///
/// @param server The handle (borrowed for the call).
/// @param scope_out On success `*scope_out` is the scope, a new buffer owned by the caller; free it
///        with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*scope_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a handle of another auth mode;
///         `FHIR_ERR_AUTH` when a token is needed and the provider refuses it, or discovery fails
///         (a provider that cannot be reached gives its connection code).
#[no_mangle]
pub unsafe extern "C" fn fhir_server_granted_scope(
    server: *const fhir_server_t,
    scope_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let out = out_ptr(scope_out, "scope_out")?;
        let scope = s.run(s.server().granted_scope())?;
        write_string(scope.as_bytes(), out, len_out)
    })
}

/// The public JWK Set of a private key, to register the client with an EHR (or to publish at the
/// `jku` URL): `{"keys":[{"kty":"RSA","kid":...,"alg":"RS384","use":"sig","n":...,"e":...}]}` for
/// an RSA key, `{"keys":[{"kty":"EC","kid":...,"alg":"ES384","use":"sig","crv":"P-384","x":...,
/// "y":...}]}` for a P-384 key. Only public parts are written. No request is sent.
///
/// @param private_key The private key (copied), PEM text or the path of a PEM file, of the kinds
///        fhir_server_new_smart_backend() takes.
/// @param kid The key id to put in the JWK (copied); not empty.
/// @param algorithm NULL for the key's own algorithm, or "RS384" / "ES384", which must fit the key
///        (copied).
/// @param json_out On success `*json_out` is the JWK Set (JSON), a new buffer owned by the caller;
///        free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a key of another kind, an empty `kid` or an
///         algorithm that does not fit the key; `FHIR_ERR_IO` when `private_key` is not PEM text
///         and no file of that name can be read.
#[no_mangle]
pub unsafe extern "C" fn fhir_smart_public_jwks(
    private_key: *const c_char,
    kid: *const c_char,
    algorithm: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let key = arg_str(private_key, "private_key")?;
        let kid = arg_str(kid, "kid")?;
        let alg = opt_str(algorithm, "algorithm")?;
        let out = out_ptr(json_out, "json_out")?;
        let jwks = crate::smart::public_jwks(key, kid, alg).map_err(fhir_error_t::from)?;
        write_string(jwks.as_bytes(), out, len_out)
    })
}
