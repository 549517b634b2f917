//! FHIR operations on a handle: read, create, update, delete, transactions, history,
//! `$operations`, summary. All blocking; safe to call from many threads on one handle.

use std::ffi::c_char;

use super::boundary::{arg_bytes, arg_str, arg_str_list, guard, opt_bytes, opt_str, run};
use super::error::fhir_error_t;
use super::result::fhir_result;
use super::server::{fhir_server_t, json_call, server_ref};

/// The number of resources per transaction that fhir_resource_create_all() sends when its
/// `batch_size` is 0.
pub const FHIR_DEFAULT_BATCH_SIZE: usize = 500;

/// Read `Type/id` or `Type/id/_history/vid`. `FHIR_ERR_NOT_FOUND` (404) and `FHIR_ERR_GONE`
/// (410, deleted) have their own codes. On success `*json_out` is the resource (free with
/// `fhir_string_free`), `*len_out` (if not NULL) its length.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_read(
    server: *const fhir_server_t,
    reference: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let r = arg_str(reference, "reference")?;
        Ok(s.read(r))
    })
}

/// Read `count` references in one batch request. `*json_out` is a JSON array in the same order,
/// each item `{"reference":..., "status":200, "resource":{...}}` or, for one that failed,
/// `{"reference":..., "status":404, "outcome":{...}}` — a missing resource does not fail the call.
///
/// # Safety
/// `references` points to `count` NUL-terminated strings; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_read_many(
    server: *const fhir_server_t,
    references: *const *const c_char,
    count: usize,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let refs = arg_str_list(references, count, "references")?;
        Ok(async move { s.read_many(&refs).await })
    })
}

/// Create (POST) a resource given as JSON (`json_len` bytes). `*json_out` is the created
/// resource with its server-assigned id and `meta.versionId` (asked with
/// `Prefer: return=representation`; read from `Location` if the server does not return it).
/// `if_none_exist` (may be NULL) makes it a conditional create: search parameters such as
/// "identifier=http://sys%7C123"; when a resource matches, nothing is created and the existing
/// one is returned.
///
/// # Safety
/// `json` points to `json_len` bytes; other pointers NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_create(
    server: *const fhir_server_t,
    json: *const c_char,
    json_len: usize,
    if_none_exist: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let body = arg_bytes(json, json_len, "json")?;
        let cond = opt_str(if_none_exist, "if_none_exist")?;
        Ok(s.create(body, cond))
    })
}

/// Create many resources: `json` is a JSON array of resources or a Bundle (its entries'
/// resources and `fullUrl`s are used, so `urn:uuid:` references between entries of one batch
/// resolve). They are sent as transaction Bundles of `batch_size` resources (0 → 500).
/// `*json_out` is `{"created":["Patient/1",...],"batches":n}` in input order. On failure the
/// message names the failed batch, its input items and how many earlier items were committed;
/// the error body is the server's OperationOutcome.
///
/// # Safety
/// `json` points to `json_len` bytes; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_create_all(
    server: *const fhir_server_t,
    json: *const c_char,
    json_len: usize,
    batch_size: usize,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let body = arg_bytes(json, json_len, "json")?;
        Ok(s.create_all(body, batch_size))
    })
}

/// Update (PUT `Type/id`) a resource given as JSON with its `id`. `if_match` (may be NULL) is
/// the expected current version ("3" or `W/"3"`): if the server's version differs the update is
/// refused with `FHIR_ERR_CONFLICT`. `*json_out` is the updated resource.
///
/// # Safety
/// `json` points to `json_len` bytes; other pointers NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_update(
    server: *const fhir_server_t,
    json: *const c_char,
    json_len: usize,
    if_match: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let body = arg_bytes(json, json_len, "json")?;
        let m = opt_str(if_match, "if_match")?;
        Ok(s.update(body, m))
    })
}

/// Conditional update (PUT `Type?condition`): `condition` is percent-encoded search parameters
/// ("identifier=http://sys%7C123", optionally prefixed by "Type?"). The server updates the one
/// match or creates the resource; several matches give `FHIR_ERR_CONFLICT` (412).
///
/// # Safety
/// `json` points to `json_len` bytes; other pointers NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_update_conditional(
    server: *const fhir_server_t,
    json: *const c_char,
    json_len: usize,
    condition: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let body = arg_bytes(json, json_len, "json")?;
        let c = arg_str(condition, "condition")?;
        Ok(s.update_conditional(body, c))
    })
}

/// Delete `Type/id`.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_delete(
    server: *const fhir_server_t,
    reference: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let r = arg_str(reference, "reference")?;
        run(s.delete(r))?;
        Ok(())
    })
}

/// Delete `count` references in one batch. `*json_out` is a JSON array of per-reference results
/// (`{"reference","status","outcome"?}`) in the same order.
///
/// # Safety
/// `references` points to `count` NUL-terminated strings; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_delete_many(
    server: *const fhir_server_t,
    references: *const *const c_char,
    count: usize,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let refs = arg_str_list(references, count, "references")?;
        Ok(async move { s.delete_many(&refs).await })
    })
}

/// Conditional delete (DELETE `Type?params`): `query` such as "Patient?identifier=sys%7C1".
/// Parameters are required. Whether several matches are deleted depends on the server.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_delete_by_query(
    server: *const fhir_server_t,
    query: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let q = arg_str(query, "query")?;
        run(s.delete_by_query(q))?;
        Ok(())
    })
}

/// Send a caller-built Bundle of type `transaction` or `batch`; `*json_out` is the server's
/// response Bundle. A failed transaction gives the matching code and the OperationOutcome.
///
/// # Safety
/// `json` points to `json_len` bytes; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_bundle_send(
    server: *const fhir_server_t,
    json: *const c_char,
    json_len: usize,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let body = arg_bytes(json, json_len, "json")?;
        Ok(s.send_bundle(body))
    })
}

/// History of the whole server (`target` NULL or ""), a type ("Patient") or a resource
/// ("Patient/1"): one `history` Bundle of every page, or at most `limit` entries (0 = all).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_history(
    server: *const fhir_server_t,
    target: *const c_char,
    limit: u64,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let t = opt_str(target, "target")?.unwrap_or("");
        Ok(s.history(t, limit))
    })
}

/// Run an operation: `name` such as "$everything" or "$validate" (optionally with a
/// percent-encoded query, "$everything?_count=50"), at system level (`target` NULL or ""), type
/// level ("Patient") or instance level ("Patient/1"); `method` "GET" or "POST". With POST,
/// `parameters` (a Parameters resource, `parameters_len` bytes; NULL sends an empty one) is the
/// body. `*json_out` is the answer (a Bundle, a resource or an OperationOutcome).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated; `parameters` points to `parameters_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn fhir_operation(
    server: *const fhir_server_t,
    target: *const c_char,
    name: *const c_char,
    method: *const c_char,
    parameters: *const c_char,
    parameters_len: usize,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let t = opt_str(target, "target")?.unwrap_or("");
        let n = arg_str(name, "name")?;
        let m = arg_str(method, "method")?;
        let p = opt_bytes(parameters, parameters_len, "parameters")?;
        Ok(s.operation(t, n, m, p))
    })
}

/// A summary of the server's content: `{"total":N,"resources":{"Patient":12,...}}` for every
/// resource type of the CapabilityStatement that has resources, counted in one batch.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_server_summary(
    server: *const fhir_server_t,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| Ok(s.summary()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_batch_size_is_the_cores() {
        assert_eq!(
            super::FHIR_DEFAULT_BATCH_SIZE,
            crate::ops::transaction::DEFAULT_BATCH_SIZE
        );
    }
}
