//! Searches: all pages collected into one Bundle, a limit, the first page, the count, and
//! streaming page by page or resource by resource. The streaming loop lives here: it drives the
//! core's async pager on the caller's thread and calls the caller's callback between pages, so
//! the callback may call the library again.

use std::ffi::{c_char, c_int, c_void};

use super::boundary::{arg_str, guard, null_argument, out_ptr, run, FfiResult};
use super::buffer::alloc_string;
use super::error::fhir_error_t;
use super::result::fhir_result;
use super::server::{fhir_server_t, json_call, server_ref};
use crate::ops::search::{page_resources, SearchStream};

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
        *out = run(s.search_count(q))?;
        Ok(())
    })
}

/// What a streaming loop hands to the caller's callback: one page, or the page's resources.
/// Returns whether to go on.
type Consume<'c> = dyn FnMut(&[u8], &mut SearchStream<'_>) -> FfiResult<bool> + 'c;

/// The blocking streaming loop: fetch a page on the caller's thread, let `consume` parse and hand
/// it over, until the search ends or the callback stops it. Writes `*next_url_out` (if not NULL):
/// on success the URL to resume from (NULL at the end); on failure the URL of the page that could
/// not be fetched or parsed (NULL when the failure was a refused link).
unsafe fn stream(
    server: *const fhir_server_t,
    query: *const c_char,
    next_url_out: *mut *mut c_char,
    consume: &mut Consume<'_>,
) -> FfiResult<()> {
    let s = server_ref(server)?;
    let q = arg_str(query, "query")?;
    let mut stream = s.search_stream(q)?;
    let outcome = (|| loop {
        let Some(body) = run(stream.fetch())? else {
            return Ok(None);
        };
        if !consume(&body, &mut stream)? {
            return Ok(stream.resume_url()?);
        }
    })();
    let url = match &outcome {
        Ok(next) => next.as_deref(),
        Err(_) => stream.failed_url(),
    };
    if !next_url_out.is_null() {
        *next_url_out = match url {
            Some(u) => alloc_string(u.as_bytes())?,
            None => std::ptr::null_mut(),
        };
    }
    outcome.map(|_| ())
}

/// Stream a search page by page: `callback` gets each page's Bundle on the caller's thread, one
/// page in memory at a time; it returns non-zero to stop. On success `*next_url_out` (if not
/// NULL) is the absolute URL of the page after the last one handed over (pass it as `query` to
/// resume; free with `fhir_string_free`), or NULL when the search is exhausted. On failure
/// `*next_url_out` is the URL of the page that failed (retry from it), or NULL.
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
        let cb = callback.ok_or_else(|| null_argument("callback"))?;
        let mut buf: Vec<u8> = Vec::new();
        stream(server, query, next_url_out, &mut |body, stream| {
            stream.accept(body)?;
            buf.clear();
            buf.extend_from_slice(body);
            buf.push(0);
            Ok(cb(buf.as_ptr() as *const c_char, body.len(), user_data) == 0)
        })
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
        let cb = callback.ok_or_else(|| null_argument("callback"))?;
        let mut buf: Vec<u8> = Vec::new();
        let mut mode_buf: Vec<u8> = Vec::new();
        stream(server, query, next_url_out, &mut |body, stream| {
            let page = stream.accept(body)?;
            for item in page_resources(&page) {
                let (res, mode) = item?;
                buf.clear();
                buf.extend_from_slice(res.as_bytes());
                buf.push(0);
                mode_buf.clear();
                mode_buf.extend_from_slice(mode.as_bytes());
                mode_buf.push(0);
                let go_on = cb(
                    buf.as_ptr() as *const c_char,
                    res.len(),
                    mode_buf.as_ptr() as *const c_char,
                    user_data,
                ) == 0;
                if !go_on {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    })
}
