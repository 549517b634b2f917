//! FHIR operations on a handle: read, search (all / limit / first / count / streaming), create,
//! update, delete, transactions, history, `$operations`, summary. All blocking; safe to call
//! from many threads on one handle.

use std::ffi::{c_char, c_int, c_void};

use super::error::fhir_error_t;
use super::server::fhir_server_t;
use super::{alloc_json, arg_bytes, arg_str, guard, json_call, opt_str, out_ptr, server_ref};
use crate::error::{fhir_result, Code, Error, Result};
use crate::runtime::block_on;

/// Called once per page by `fhir_search_pages`, on the caller's thread. `page_json` is the
/// page's Bundle (NUL-terminated, `len` bytes), borrowed until the callback returns. Return 0 to
/// go on, non-zero to stop. May call the library (also on the same handle); must not unwind
/// (no C++ exception or longjmp through it).
pub type fhir_page_callback = Option<
    unsafe extern "C" fn(page_json: *const c_char, len: usize, user_data: *mut c_void) -> c_int,
>;

/// Called once per resource by `fhir_search_resources`, on the caller's thread. `resource_json`
/// (NUL-terminated, `len` bytes) and `search_mode` ("match", "include" or "outcome") are borrowed
/// until the callback returns. Return 0 to go on, non-zero to stop. Same rules as
/// `fhir_page_callback`.
pub type fhir_resource_callback = Option<
    unsafe extern "C" fn(
        resource_json: *const c_char,
        len: usize,
        search_mode: *const c_char,
        user_data: *mut c_void,
    ) -> c_int,
>;

unsafe fn json_arg<'a>(json: *const c_char, len: usize, name: &str) -> Result<&'a [u8]> {
    arg_bytes(json, len, name)?.ok_or_else(|| {
        Error::new(
            Code::FHIR_ERR_NULL_ARGUMENT,
            format!("argument `{name}` is NULL"),
        )
    })
}

unsafe fn string_list<'a>(
    items: *const *const c_char,
    count: usize,
    name: &str,
) -> Result<Vec<&'a str>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(Error::new(
            Code::FHIR_ERR_NULL_ARGUMENT,
            format!("argument `{name}` is NULL but count is {count}"),
        ));
    }
    if count > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
        return Err(Error::invalid(format!(
            "argument `{name}` has an impossible count {count}"
        )));
    }
    std::slice::from_raw_parts(items, count)
        .iter()
        .enumerate()
        .map(|(i, p)| arg_str(*p, &format!("{name}[{i}]")))
        .collect()
}

/// Read `Type/id` or `Type/id/_history/vid`. `FHIR_ERR_NOT_FOUND` (404) and `FHIR_ERR_GONE`
/// (410, deleted) have their own codes. On success `*json_out` is the resource (free with
/// `fhir_json_free`), `*len_out` (if not NULL) its length.
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
        let refs = string_list(references, count, "references")?;
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
        let body = json_arg(json, json_len, "json")?;
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
        let body = json_arg(json, json_len, "json")?;
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
        let body = json_arg(json, json_len, "json")?;
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
        let body = json_arg(json, json_len, "json")?;
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
        block_on(s.delete(r))??;
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
        let refs = string_list(references, count, "references")?;
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
        block_on(s.delete_by_query(q))??;
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
        let body = json_arg(json, json_len, "json")?;
        Ok(s.send_bundle(body))
    })
}

/// Search and follow every `next` link: `*json_out` is one `searchset` Bundle holding every
/// entry in server order (included resources too), `total` = number of matches. `query` is
/// "Type?params" (percent-encoded; see `fhir_query_build`) or a same-server URL.
/// For huge results prefer `fhir_search_pages` / `fhir_search_resources` (bounded memory).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_search_all(
    server: *const fhir_server_t,
    query: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let q = arg_str(query, "query")?;
        Ok(s.search_all(q))
    })
}

/// Search for at most `limit` matching resources; paging stops once they are collected.
/// Same output as `fhir_search_all`.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_search_limit(
    server: *const fhir_server_t,
    query: *const c_char,
    limit: u64,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let q = arg_str(query, "query")?;
        Ok(s.search_limit(q, limit))
    })
}

/// The first page of a search, as the server sent it.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_search_first(
    server: *const fhir_server_t,
    query: *const c_char,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    json_call(server, json_out, len_out, error_out, |s| {
        let q = arg_str(query, "query")?;
        Ok(s.search_first(q))
    })
}

/// The number of matches of a search (`_summary=count`), in `*count_out`.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_search_count(
    server: *const fhir_server_t,
    query: *const c_char,
    count_out: *mut u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let q = arg_str(query, "query")?;
        let out = out_ptr(count_out, "count_out")?;
        *out = block_on(s.search_count(q))??;
        Ok(())
    })
}

unsafe fn write_next(next: Option<String>, next_url_out: *mut *mut c_char) -> Result<()> {
    if !next_url_out.is_null() {
        *next_url_out = match next {
            Some(u) => alloc_json(u.as_bytes())?,
            None => std::ptr::null_mut(),
        };
    }
    Ok(())
}

/// Stream a search page by page: `callback` gets each page's Bundle on the caller's thread, one
/// page in memory at a time; it returns non-zero to stop. On success `*next_url_out` (if not
/// NULL) is the absolute URL of the page after the last one handed over (pass it as `query` to
/// resume; free with `fhir_json_free`), or NULL when the search is exhausted.
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated; `callback` follows `fhir_page_callback`.
#[no_mangle]
pub unsafe extern "C" fn fhir_search_pages(
    server: *const fhir_server_t,
    query: *const c_char,
    callback: fhir_page_callback,
    user_data: *mut c_void,
    next_url_out: *mut *mut c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let q = arg_str(query, "query")?;
        let cb = callback.ok_or_else(|| {
            Error::new(Code::FHIR_ERR_NULL_ARGUMENT, "argument `callback` is NULL")
        })?;
        let mut buf: Vec<u8> = Vec::new();
        let next = s.stream_pages(q, |page| {
            buf.clear();
            buf.extend_from_slice(page);
            buf.push(0);
            cb(buf.as_ptr() as *const c_char, page.len(), user_data) == 0
        })?;
        write_next(next, next_url_out)
    })
}

/// Stream a search resource by resource: `callback` gets each entry's resource and its search
/// mode, on the caller's thread, one page in memory at a time; non-zero stops. `*next_url_out` as
/// in `fhir_search_pages` (when stopped mid-page, resuming starts at the following page).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated; `callback` follows `fhir_resource_callback`.
#[no_mangle]
pub unsafe extern "C" fn fhir_search_resources(
    server: *const fhir_server_t,
    query: *const c_char,
    callback: fhir_resource_callback,
    user_data: *mut c_void,
    next_url_out: *mut *mut c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let q = arg_str(query, "query")?;
        let cb = callback.ok_or_else(|| {
            Error::new(Code::FHIR_ERR_NULL_ARGUMENT, "argument `callback` is NULL")
        })?;
        let mut buf: Vec<u8> = Vec::new();
        let mut mode_buf: Vec<u8> = Vec::new();
        let next = s.stream_resources(q, |res, mode| {
            buf.clear();
            buf.extend_from_slice(res.as_bytes());
            buf.push(0);
            mode_buf.clear();
            mode_buf.extend_from_slice(mode.as_bytes());
            mode_buf.push(0);
            cb(
                buf.as_ptr() as *const c_char,
                res.len(),
                mode_buf.as_ptr() as *const c_char,
                user_data,
            ) == 0
        })?;
        write_next(next, next_url_out)
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
        let p = arg_bytes(parameters, parameters_len, "parameters")?;
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
