//! Searches: all pages collected into one Bundle, a limit, the first page, the count, and
//! streaming page by page or resource by resource. The streaming loop lives here: it drives the
//! core's async pager on the caller's thread and calls the caller's callback between pages, so
//! the callback may call the library again.

use std::ffi::{c_char, c_int, c_void};

use super::boundary::{arg_str, guard, null_argument, out_ptr, FfiResult};
use super::buffer::alloc_string;
use super::error::fhir_error_t;
use super::result::fhir_result;
use super::server::{fhir_server_t, json_call, server_ref};

use super::runtime::block_on;
use crate::ops::bundle::SearchPage;

/// Called by fhir_search_pages() once per page, on the caller's thread. It may call the library, on
/// the same handle too. It must not unwind: no C++ exception or longjmp through it.
///
/// @param page_json The page's Bundle: NUL-terminated JSON of `len` bytes, borrowed until the
///        callback returns.
/// @param len The length of `page_json` in bytes (NUL excluded).
/// @param user_data The `user_data` given to fhir_search_pages().
/// @return 0 to go on with the next page; non-zero to stop.
pub type fhir_page_callback = Option<
    unsafe extern "C" fn(page_json: *const c_char, len: usize, user_data: *mut c_void) -> c_int,
>;

/// Called by fhir_search_resources() once per resource, on the caller's thread. It may call the
/// library, on the same handle too. It must not unwind: no C++ exception or longjmp through it.
///
/// @param resource_json The resource: NUL-terminated JSON of `len` bytes, borrowed until the
///        callback returns.
/// @param len The length of `resource_json` in bytes (NUL excluded).
/// @param search_mode The entry's search mode: "match", "include" or "outcome" ("match" when the
///        server gives none); borrowed until the callback returns.
/// @param user_data The `user_data` given to fhir_search_resources().
/// @return 0 to go on; non-zero to stop.
pub type fhir_resource_callback = Option<
    unsafe extern "C" fn(
        resource_json: *const c_char,
        len: usize,
        search_mode: *const c_char,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// Search and follow every `next` link, collecting all pages in memory. For large results prefer
/// fhir_search_pages() or fhir_search_resources(), which hold one page at a time.
///
/// @param server The handle (borrowed for the call).
/// @param query `Type?params` (percent-encoded; fhir_query_build() makes one), a type alone, or an
///        absolute URL on the same server (copied).
/// @param json_out On success `*json_out` is one `searchset` Bundle with every entry in server
///        order (included resources too) and `total` set to the number of matches, a new buffer
///        owned by the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` or
///         `FHIR_ERR_PROTOCOL` when a page is not a Bundle; `FHIR_ERR_PAGING` when a `next` link
///         repeats a page or leaves the base URL (see fhir_options_set_allow_foreign_links());
///         `FHIR_ERR_LIMIT` past the page or result limit (fhir_options_set_max_pages(),
///         fhir_options_set_max_result_bytes()); `FHIR_ERR_INVALID_ARGUMENT` for an empty query or a URL on another server.
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

/// Search for at most `limit` matches: paging stops once they are collected.
///
/// @param server The handle (borrowed for the call).
/// @param query `Type?params` (percent-encoded; fhir_query_build() makes one), a type alone, or an
///        absolute URL on the same server (copied).
/// @param limit At most this many matches (with the included resources of the pages fetched); 0
///        gives an empty Bundle without a request. When `query` sets no `_count` and `limit` is at
///        most 500, `_count=limit` is asked for.
/// @param json_out On success `*json_out` is one `searchset` Bundle as for fhir_search_all(), a new
///        buffer owned by the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` or
///         `FHIR_ERR_PROTOCOL` when a page is not a Bundle; `FHIR_ERR_PAGING` when a `next` link
///         repeats a page or leaves the base URL (see fhir_options_set_allow_foreign_links());
///         `FHIR_ERR_LIMIT` past the page or result limit (fhir_options_set_max_pages(),
///         fhir_options_set_max_result_bytes()); `FHIR_ERR_INVALID_ARGUMENT` for an empty query or a URL on another server.
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
/// @param server The handle (borrowed for the call).
/// @param query `Type?params` (percent-encoded; fhir_query_build() makes one), a type alone, or an
///        absolute URL on the same server (copied).
/// @param json_out On success `*json_out` is the first page (a Bundle), a new buffer owned by the
///        caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*json_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` or
///         `FHIR_ERR_PROTOCOL` when the answer is not a Bundle; `FHIR_ERR_INVALID_ARGUMENT` for an
///         empty query or a URL on another server.
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

/// The number of matches of a search: the query is sent with `_summary=count` (and without its
/// `_count`).
///
/// @param server The handle (borrowed for the call).
/// @param query `Type?params` (percent-encoded; fhir_query_build() makes one), a type alone, or an
///        absolute URL on the same server (copied).
/// @param count_out On success `*count_out` is the number of matches; not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_JSON` or
///         `FHIR_ERR_PROTOCOL` when the answer is not a Bundle with a `total`;
///         `FHIR_ERR_INVALID_ARGUMENT` for an empty query or a URL on another server.
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
        *out = s.run(s.server().search_count(q))?;
        Ok(())
    })
}

/// The search mode as a NUL-terminated string for a callback: the three FHIR modes are static,
/// any other text is copied into `buf` (reused from call to call, reserved fallibly).
fn mode_cstr<'b>(mode: Option<&str>, buf: &'b mut Vec<u8>) -> FfiResult<&'b [u8]> {
    Ok(match mode.unwrap_or("match") {
        "match" => b"match\0",
        "include" => b"include\0",
        "outcome" => b"outcome\0",
        other => {
            buf.clear();
            crate::transport::reserve(buf, other.len() + 1, "handing a page to the callback")?;
            buf.extend_from_slice(other.as_bytes());
            buf.push(0);
            buf
        }
    })
}

/// The page with a NUL after its last byte, written in place: the transport leaves room for it,
/// so no copy is made (memory is reserved fallibly when there is no room).
fn nul_terminate(page: &mut Vec<u8>) -> FfiResult<()> {
    crate::transport::reserve(page, 1, "handing a page to the callback")?;
    page.push(0);
    Ok(())
}

/// What a streaming loop hands to the caller's callback: one page, or the page's resources. The
/// page is the transport's buffer itself (the callback's NUL is written into it); the second
/// argument is the page read in one pass. Returns whether to go on.
type Deliver<'c> = dyn FnMut(&mut Vec<u8>, &SearchPage) -> FfiResult<bool> + 'c;

/// The blocking streaming loop: fetch a page on the caller's thread, read it in one pass
/// (`views`: with each entry's resource and mode), hand it over with `deliver`, until the
/// search ends or the callback stops it. While the callback runs, the next page is already
/// asked for (its request written before the callback is called, its answer read after): the
/// server works while the caller does; when the page gives its `next` link before its entries,
/// even while the page is read. Writes `*next_url_out` (if not NULL): on success the URL
/// to resume from (NULL at the end; after a stop, the first page the caller has not seen, a
/// prefetched answer being dropped); on failure the URL of the page that could not be fetched,
/// parsed or handed over (NULL when the failure was a refused link).
unsafe fn stream(
    server: *const fhir_server_t,
    query: *const c_char,
    next_url_out: *mut *mut c_char,
    views: bool,
    deliver: &mut Deliver<'_>,
) -> FfiResult<()> {
    let s = server_ref(server)?;
    let q = arg_str(query, "query")?;
    let mut stream = s.server().search_stream(q)?;
    // One call for the whole search: one cancel token, one deadline, one record.
    let call = s.begin();
    let outcome = (|| {
        let mut fetched = s.step(&call, stream.fetch())?;
        loop {
            let Some(body) = fetched else {
                return Ok(None);
            };
            // The transport's buffer, not a copy: the body's only owner is this loop.
            let mut page = body;
            // When the page gives its `next` link before its entries (servers do), the next
            // page is asked for before this one is read: the server works meanwhile.
            let early_link = stream.accept_next_link(&page);
            let mut read = match early_link {
                None => Some(stream.accept_spans(&page, views)?),
                Some(_) => None,
            };
            let next = if stream.can_prefetch() {
                // Part of the call (its cancel token and deadline govern it); dropping it (a
                // stop, a failure, a cancelled call) abandons the request.
                let mut ahead = Box::pin(call.run(stream.prefetch()));
                let early = block_on(crate::ops::search::started(&mut ahead))?;
                let read = match read.take() {
                    Some(read) => read,
                    None => crate::SearchStream::read_page(&page, views, early_link.as_deref())?,
                };
                match deliver(&mut page, &read) {
                    Err(e) => return Err(e),
                    Ok(false) => {
                        drop(ahead);
                        stream.drop_prefetch();
                        return Ok(stream.resume_url()?);
                    }
                    Ok(true) => {}
                }
                // The next page is read into this one's buffer (unless it has arrived already).
                crate::transport::recycle_body(Some(page));
                let next = match early {
                    Some(r) => {
                        drop(ahead);
                        r
                    }
                    None => block_on(ahead)?,
                };
                stream.adopt_prefetch();
                next?
            } else {
                let read = match read.take() {
                    Some(read) => read,
                    None => crate::SearchStream::read_page(&page, views, early_link.as_deref())?,
                };
                if !deliver(&mut page, &read)? {
                    return Ok(stream.resume_url()?);
                }
                crate::transport::recycle_body(Some(page));
                s.step(&call, stream.fetch())?
            };
            fetched = next;
        }
    })();
    s.end(&call);
    crate::transport::recycle_body(None);
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

/// Stream a search page by page: `callback` gets each page's Bundle in turn, on the caller's
/// thread, until the pages end or it returns non-zero. Memory is bounded by two pages: the one
/// handed over and the next, which is asked for ahead (before the callback is called, and when
/// the page gives its `next` link before its entries, before the page is read); a stop drops it.
///
/// @param server The handle (borrowed for the call).
/// @param query `Type?params` (percent-encoded; fhir_query_build() makes one), a type alone, or an
///        absolute URL on the same server (copied).
/// @param callback Called once per page (see #fhir_page_callback); not NULL.
/// @param user_data Passed to `callback` as it is; may be NULL.
/// @param next_url_out NULL, or where to resume. On success `*next_url_out` is the absolute URL of
///        the page after the last one handed over (pass it as `query` to resume), or NULL when the
///        search is exhausted. On a failure while paging it is written too, the one exception to
///        "outputs only on success": the URL of the page that failed (to retry from), or NULL when
///        there is no page to retry (a `next` link that repeats a page or points to another
///        server). Not written when the arguments are refused. A non-NULL `*next_url_out` is a new
///        buffer owned by the caller; free it with fhir_string_free().
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, also when `callback` stopped; a request code (see the file overview);
///         `FHIR_ERR_JSON` or `FHIR_ERR_PROTOCOL` when a page is not a Bundle; `FHIR_ERR_PAGING`
///         when a `next` link repeats a page or leaves the base URL (see
///         fhir_options_set_allow_foreign_links()) (also when `callback` stopped and the link to
///         resume from is such a link); `FHIR_ERR_LIMIT` past the page limit
///         (fhir_options_set_max_pages()); `FHIR_ERR_INVALID_ARGUMENT` for an empty query or a URL on
///         another server.
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
        stream(server, query, next_url_out, false, &mut |page, _| {
            let len = page.len();
            nul_terminate(page)?;
            Ok(cb(page.as_ptr() as *const c_char, len, user_data) == 0)
        })
    })
}

/// Stream a search resource by resource: `callback` gets each entry's resource and its search mode
/// in server order, on the caller's thread, until the pages end or it returns non-zero. Entries
/// without a resource are skipped. Memory is bounded by two pages, as for fhir_search_pages().
///
/// @param server The handle (borrowed for the call).
/// @param query `Type?params` (percent-encoded; fhir_query_build() makes one), a type alone, or an
///        absolute URL on the same server (copied).
/// @param callback Called once per resource (see #fhir_resource_callback); not NULL.
/// @param user_data Passed to `callback` as it is; may be NULL.
/// @param next_url_out NULL, or where to resume, as for fhir_search_pages(): written on success and
///        also on a failure while paging. When `callback` stops in the middle of a page, resuming
///        starts at the following page. A non-NULL `*next_url_out` is a new buffer owned by the
///        caller; free it with fhir_string_free().
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, also when `callback` stopped; a request code (see the file overview);
///         `FHIR_ERR_JSON` or `FHIR_ERR_PROTOCOL` when a page is not a Bundle, `FHIR_ERR_JSON`
///         when an entry is malformed (the resources before it were handed over; retrying from
///         `*next_url_out` hands them over again); `FHIR_ERR_PAGING` when a `next` link repeats
///         a page or leaves the base URL (see fhir_options_set_allow_foreign_links());
///         `FHIR_ERR_LIMIT` past the page limit (fhir_options_set_max_pages());
///         `FHIR_ERR_INVALID_ARGUMENT` for an empty query or a URL on another server.
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
        let mut mode_buf: Vec<u8> = Vec::new();
        stream(server, query, next_url_out, true, &mut |page, read| {
            // Each resource is followed by at least its entry's closing brace: its NUL is
            // written over the next byte for the callback's time, then the byte is put back.
            nul_terminate(page)?;
            for entry in &read.entries {
                let Some(res) = entry.resource.clone() else {
                    continue;
                };
                let mode = mode_cstr(entry.mode(page), &mut mode_buf)?.as_ptr();
                let saved = std::mem::replace(&mut page[res.end], 0);
                let go_on = cb(
                    page[res.start..].as_ptr() as *const c_char,
                    res.len(),
                    mode as *const c_char,
                    user_data,
                ) == 0;
                page[res.end] = saved;
                if !go_on {
                    return Ok(false);
                }
            }
            match &read.malformed {
                Some(e) => Err(e.clone().into()),
                None => Ok(true),
            }
        })
    })
}
