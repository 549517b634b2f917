//! FHIR operations on a handle: read, create, update, delete, transactions, history,
//! `$operations`, summary. All blocking; safe to call from many threads on one handle.

use std::ffi::c_char;

use super::boundary::{arg_bytes, arg_str, arg_str_list, guard, opt_bytes, opt_str};
use super::error::fhir_error_t;
use super::result::fhir_result;
use super::server::{fhir_server_t, json_call, server_ref};

/// The number of resources per transaction that fhir_resource_create_all() sends when its
/// `batch_size` is 0.
pub const FHIR_DEFAULT_BATCH_SIZE: usize = 500;

/// Read one resource: `GET [base]/Type/id`, or one version of it.
///
/// @param server The handle (borrowed for the call).
/// @param reference "Type/id" or "Type/id/_history/vid", such as "Patient/123" (copied).
/// @param json_out On success `*json_out` is the resource (JSON), a new buffer owned by the caller;
///        free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_NOT_FOUND` (404), `FHIR_ERR_GONE` (410: deleted) or another request
///         code (see the file overview); `FHIR_ERR_JSON` when the answer is not JSON;
///         `FHIR_ERR_INVALID_ARGUMENT` for a malformed reference.
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

/// Read several resources in one `batch` request. A resource that cannot be read does not fail the
/// call: its item says so.
///
/// @param server The handle (borrowed for the call).
/// @param references An array of `count` references "Type/id" or "Type/id/_history/vid" (borrowed
///        for the call); NULL only when `count` is 0.
/// @param count The number of references; 0 gives `[]` without a request.
/// @param json_out On success `*json_out` is a JSON array in the order of `references`, each item
///        `{"reference":...,"status":200,"resource":{...}}` or, for one that failed,
///        `{"reference":...,"status":404,"outcome":{...}}` (`outcome` when the server sent one), a
///        new buffer owned by the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview) for the batch itself; `FHIR_ERR_JSON`
///         or `FHIR_ERR_PROTOCOL` when the answer is not a Bundle with one entry per reference;
///         `FHIR_ERR_INVALID_ARGUMENT` for a malformed reference.
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

/// Create a resource: `POST [base]/Type`, asking for the created resource back
/// (`Prefer: return=representation`).
///
/// @param server The handle (borrowed for the call).
/// @param json The resource with its `resourceType`: JSON of `json_len` bytes (borrowed for the
///        call; need not be NUL-terminated).
/// @param json_len The length of `json` in bytes.
/// @param if_none_exist NULL for a plain create, or a condition (copied): percent-encoded search
///        parameters such as `identifier=http://sys%7C123`, optionally prefixed by `Type?`. When a
///        resource matches, nothing is created and the existing one is returned.
/// @param json_out On success `*json_out` is the created resource with its server-assigned `id` and
///        `meta.versionId` (read from `Location` when the server does not return it; if that read
///        fails, only `resourceType`, `id` and `meta.versionId`), a new buffer owned by the caller;
///        free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` when `json` is not
///         valid JSON; `FHIR_ERR_INVALID_ARGUMENT` when it has no valid `resourceType` or the
///         condition is malformed; `FHIR_ERR_PROTOCOL` when the server returns neither the resource
///         nor a `Location`.
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

/// Create many resources, sent as transaction Bundles of `batch_size` resources each (one after
/// the other, or several in flight: fhir_options_set_create_all_parallel()).
///
/// @param server The handle (borrowed for the call).
/// @param json A JSON array of resources, or a Bundle whose entries' resources and `fullUrl`s are
///        used (so `urn:uuid:` references between entries of one transaction resolve): `json_len`
///        bytes (borrowed for the call; need not be NUL-terminated).
/// @param json_len The length of `json` in bytes.
/// @param batch_size Resources per transaction; 0 means #FHIR_DEFAULT_BATCH_SIZE.
/// @param json_out On success `*json_out` is `{"created":["Patient/1",...],"batches":n}`, the
///        created references in input order, a new buffer owned by the caller; free it with
///        fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free(). Its
///        message names the failed batch, its input items and how many items earlier batches
///        created (those stay created); its body is the server's OperationOutcome.
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` when `json` is not a
///         valid JSON array or object; `FHIR_ERR_INVALID_ARGUMENT` when it is neither an array nor
///         a Bundle, or an item has no valid `resourceType`; `FHIR_ERR_PROTOCOL` or `FHIR_ERR_JSON`
///         when a transaction's answer cannot be read (the message says that transaction was
///         committed).
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

/// Update a resource: `PUT [base]/Type/id`, with the type and `id` taken from the resource.
///
/// @param server The handle (borrowed for the call).
/// @param json The resource with its `resourceType` and `id`: JSON of `json_len` bytes (borrowed
///        for the call; need not be NUL-terminated).
/// @param json_len The length of `json` in bytes.
/// @param if_match NULL or "" for an unconditional update, or the expected current version
///        (copied): a version id "3" or an ETag `W/"3"`. When the server's version differs, the
///        update is refused with `FHIR_ERR_CONFLICT`.
/// @param json_out On success `*json_out` is the updated resource (read from its `Location` when
///        the server does not return it), a new buffer owned by the caller; free it with
///        fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_CONFLICT` (409, or 412 when `if_match` does not match) or another
///         request code (see the file overview); `FHIR_ERR_JSON` when `json` is not valid JSON;
///         `FHIR_ERR_INVALID_ARGUMENT` when it has no valid `resourceType` or `id`.
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

/// Conditional update: `PUT [base]/Type?condition`. The server updates the one resource that
/// matches, or creates the resource when none does.
///
/// @param server The handle (borrowed for the call).
/// @param json The resource with its `resourceType`: JSON of `json_len` bytes (borrowed for the
///        call; need not be NUL-terminated).
/// @param json_len The length of `json` in bytes.
/// @param condition Percent-encoded search parameters such as `identifier=http://sys%7C123`,
///        optionally prefixed by `Type?` (copied).
/// @param json_out On success `*json_out` is the updated or created resource (read from `Location`
///        when the server does not return it), a new buffer owned by the caller; free it with
///        fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_CONFLICT` when several resources match (412) or another request
///         code (see the file overview); `FHIR_ERR_JSON` when `json` is not valid JSON;
///         `FHIR_ERR_INVALID_ARGUMENT` when it has no valid `resourceType` or the condition is
///         malformed or names another type; `FHIR_ERR_PROTOCOL` when the server returns neither the
///         resource nor a `Location`.
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

/// Delete a resource: `DELETE [base]/Type/id`.
///
/// @param server The handle (borrowed for the call).
/// @param reference "Type/id", such as "Patient/123" (copied); a version is refused.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview) (whether deleting a resource that does
///         not exist succeeds depends on the server); `FHIR_ERR_INVALID_ARGUMENT` for a malformed
///         or versioned reference.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_delete(
    server: *const fhir_server_t,
    reference: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let r = arg_str(reference, "reference")?;
        s.run(s.server().delete(r))?;
        Ok(())
    })
}

/// Delete several resources in one `batch` request. A resource that cannot be deleted does not fail
/// the call: its item says so.
///
/// @param server The handle (borrowed for the call).
/// @param references An array of `count` references "Type/id" (borrowed for the call); NULL only
///        when `count` is 0.
/// @param count The number of references; 0 gives `[]` without a request.
/// @param json_out On success `*json_out` is a JSON array in the order of `references`, each item
///        `{"reference":...,"status":204}`, with `"outcome":{...}` when the server sent one, a new
///        buffer owned by the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview) for the batch itself; `FHIR_ERR_JSON`
///         or `FHIR_ERR_PROTOCOL` when the answer is not a Bundle with one entry per reference;
///         `FHIR_ERR_INVALID_ARGUMENT` for a malformed or versioned reference.
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

/// Conditional delete: `DELETE [base]/Type?params`. Whether several matches are deleted depends on
/// the server.
///
/// @param server The handle (borrowed for the call).
/// @param query `Type?params`, percent-encoded, such as `Patient?identifier=sys%7C1` (copied).
///        Parameters are required.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_INVALID_ARGUMENT` when the
///         type or the parameters are missing or malformed.
#[no_mangle]
pub unsafe extern "C" fn fhir_resource_delete_by_query(
    server: *const fhir_server_t,
    query: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let q = arg_str(query, "query")?;
        s.run(s.server().delete_by_query(q))?;
        Ok(())
    })
}

/// Send a caller-built Bundle of type `transaction` or `batch`: `POST [base]`. A failed transaction
/// gives its code and the server's OperationOutcome; a batch answers each entry in its response
/// Bundle.
///
/// @param server The handle (borrowed for the call).
/// @param json The Bundle: JSON of `json_len` bytes (borrowed for the call; need not be
///        NUL-terminated).
/// @param json_len The length of `json` in bytes.
/// @param json_out On success `*json_out` is the server's response Bundle, a new buffer owned by
///        the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` when `json` or the
///         answer is not valid JSON (or not UTF-8); `FHIR_ERR_PROTOCOL` when the answer is not a
///         Bundle; `FHIR_ERR_INVALID_ARGUMENT` when `json` is not a Bundle of type `transaction`
///         or `batch`.
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

/// The history of the whole server, a type or one resource: every page collected into one `history`
/// Bundle.
///
/// @param server The handle (borrowed for the call).
/// @param target NULL or "" for the whole server, a type ("Patient") or a resource ("Patient/1")
///        (copied).
/// @param limit At most this many entries; 0 for all.
/// @param json_out On success `*json_out` is one `history` Bundle with the entries in server order,
///        a new buffer owned by the caller; free it with fhir_string_free(); not written on
///        failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` or
///         `FHIR_ERR_PROTOCOL` when a page is not a Bundle; `FHIR_ERR_PAGING` when a `next` link
///         repeats a page or leaves the base URL (see fhir_options_set_allow_foreign_links());
///         `FHIR_ERR_LIMIT` past the page or result limit (fhir_options_set_max_pages(),
///         fhir_options_set_max_result_bytes()); `FHIR_ERR_INVALID_ARGUMENT` for a malformed target.
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

/// Run a FHIR operation such as `$everything` or `$validate`, at system, type or instance level.
///
/// @param server The handle (borrowed for the call).
/// @param target NULL or "" for the system level, a type ("Patient") or a resource ("Patient/1")
///        (copied).
/// @param name The operation, such as "$everything" (the `$` may be left out), optionally with a
///        percent-encoded query: `$everything?_count=50` (copied).
/// @param method "GET" or "POST" (copied).
/// @param parameters With POST: NULL to send an empty Parameters resource, or a Parameters
///        resource, JSON of `parameters_len` bytes (borrowed for the call; need not be
///        NUL-terminated). With another method: NULL.
/// @param parameters_len The length of `parameters` in bytes; 0 means none (whatever `parameters` is).
/// @param json_out On success `*json_out` is the answer's body as the server sent it (a Bundle, a
///        resource or an OperationOutcome; empty when there is none), a new buffer owned by the
///        caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` when `parameters` is
///         not valid JSON; `FHIR_ERR_INVALID_ARGUMENT` for a malformed target, name or method, or
///         `parameters` with another method than POST.
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

/// How many resources of each type the server holds: one `batch` of `Type?_summary=count` requests,
/// for every resource type of its CapabilityStatement.
///
/// @param server The handle (borrowed for the call).
/// @param json_out On success `*json_out` is `{"total":N,"resources":{"Patient":12,...}}`, types
///        without resources left out, a new buffer owned by the caller; free it with
///        fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` or
///         `FHIR_ERR_PROTOCOL` when the CapabilityStatement or the batch answer is not what FHIR
///         prescribes.
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
