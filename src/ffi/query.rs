//! `fhir_query_t`: a search-query builder that percent-encodes for the caller.

use std::ffi::c_char;

use super::boundary::{arg_str, guard, opt_str, out_ptr, FfiResult, Handle};
use super::buffer::write_string;
use super::error::fhir_error_t;
use super::result::fhir_result;
use crate::error::Result;
use crate::ops::query::Query;

/// A search query under construction: fhir_query_build() turns it into the `query` string of the
/// search calls, percent-encoding names and values.
///
/// Not locked: do not use one query from two threads at once.
///
/// Functions: fhir_query_new(); fhir_query_where(), fhir_query_param(), fhir_query_include(),
/// fhir_query_revinclude(), fhir_query_has(), fhir_query_sort(), fhir_query_elements(),
/// fhir_query_summary(), fhir_query_page_size(); fhir_query_build(); then fhir_query_free().
pub struct fhir_query_t {
    inner: Query,
}

impl Handle for fhir_query_t {
    const ARG: &'static str = "query";
}

/// The shape of every builder call: borrow the query, apply one core method, report its error.
unsafe fn edit(
    query: *mut fhir_query_t,
    error_out: *mut *mut fhir_error_t,
    f: impl FnOnce(&mut Query) -> FfiResult<Result<()>>,
) -> fhir_result {
    guard(error_out, || {
        let q = fhir_query_t::borrow_mut(query)?;
        Ok(f(&mut q.inner)??)
    })
}

/// A new, empty search query.
///
/// @param resource_type The type to search, such as "Patient"; "" for a search across all types
///        (copied).
/// @param query_out On success `*query_out` is a new query owned by the caller; free it with
///        fhir_query_free(); not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when `resource_type` is not a type name.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_new(
    resource_type: *const c_char,
    query_out: *mut *mut fhir_query_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let t = arg_str(resource_type, "resource_type")?;
        let out = out_ptr(query_out, "query_out")?;
        let inner = Query::new(t)?;
        *out = fhir_query_t { inner }.into_raw();
        Ok(())
    })
}

/// Free a query.
///
/// @param query A query from fhir_query_new(), or NULL (ignored). It must not be used afterwards;
///        strings built from it are not affected.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_free(query: *mut fhir_query_t) {
    fhir_query_t::free(query)
}

/// Add a search condition `field=value`, with an optional value prefix or modifier:
/// `birthdate=gt2000`, `name:exact=Eve`.
///
/// @param query The query to change (borrowed for the call).
/// @param field The search parameter, such as "birthdate" (copied).
/// @param op NULL or "" for none, a value prefix ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb",
///        "ap") or a modifier starting with ':' (":exact", ":missing", ":contains") (copied).
/// @param value The value, plain (copied): it is percent-encoded here (`+`, `|` and spaces too),
///        except commas, which mean OR in FHIR, and `:` `/` `$`.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty name, or one with spaces or `&=?#`,
///         an unknown prefix or a malformed modifier.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_where(
    query: *mut fhir_query_t,
    field: *const c_char,
    op: *const c_char,
    value: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| {
        let op = opt_str(op, "op")?;
        Ok(q.where_(arg_str(field, "field")?, op, arg_str(value, "value")?))
    })
}

/// Add any parameter `name=value`, both percent-encoded here.
///
/// @param query The query to change (borrowed for the call).
/// @param name The parameter name (copied).
/// @param value The value, plain (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty name, or one with spaces or `&=?#`.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_param(
    query: *mut fhir_query_t,
    name: *const c_char,
    value: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| {
        Ok(q.param(arg_str(name, "name")?, arg_str(value, "value")?))
    })
}

/// Add `_include=target` (or `_include:iterate=target`): resources the matches refer to.
///
/// @param query The query to change (borrowed for the call).
/// @param target Such as "Observation:subject" (copied).
/// @param iterate true for `_include:iterate`.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_query_include(
    query: *mut fhir_query_t,
    target: *const c_char,
    iterate: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| {
        Ok(q.include(arg_str(target, "target")?, iterate))
    })
}

/// Add `_revinclude=target` (or `_revinclude:iterate=target`): resources that refer to the matches.
///
/// @param query The query to change (borrowed for the call).
/// @param target Such as "Observation:subject" (copied).
/// @param iterate true for `_revinclude:iterate`.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_query_revinclude(
    query: *mut fhir_query_t,
    target: *const c_char,
    iterate: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| {
        Ok(q.revinclude(arg_str(target, "target")?, iterate))
    })
}

/// Add a reverse chain `_has:chain=value`, such as `_has:Observation:patient:code=1234-5`.
///
/// @param query The query to change (borrowed for the call).
/// @param chain Such as "Observation:patient:code" (copied).
/// @param value The value, plain (copied), such as "http://loinc.org|8867-4".
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty chain, or one with spaces or `&=?#`.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_has(
    query: *mut fhir_query_t,
    chain: *const c_char,
    value: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| {
        Ok(q.has(arg_str(chain, "chain")?, arg_str(value, "value")?))
    })
}

/// Add `_sort=fields`.
///
/// @param query The query to change (borrowed for the call).
/// @param fields Such as "-birthdate,name" (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_query_sort(
    query: *mut fhir_query_t,
    fields: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| Ok(q.sort(arg_str(fields, "fields")?)))
}

/// Add `_elements=fields`: only these elements of each resource.
///
/// @param query The query to change (borrowed for the call).
/// @param fields Such as "id,name" (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_query_elements(
    query: *mut fhir_query_t,
    fields: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| {
        Ok(q.elements(arg_str(fields, "fields")?))
    })
}

/// Add `_summary=mode`.
///
/// @param query The query to change (borrowed for the call).
/// @param mode "true", "false", "text", "data" or "count" (copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for another mode.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_summary(
    query: *mut fhir_query_t,
    mode: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| Ok(q.summary(arg_str(mode, "mode")?)))
}

/// Set `_count=n`, the page size asked of the server; it replaces an earlier one.
///
/// @param query The query to change (borrowed for the call).
/// @param n Resources per page.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_query_page_size(
    query: *mut fhir_query_t,
    n: u32,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| Ok(q.page_size(n)))
}

/// The query as a string for the search calls, such as `Patient?birthdate=gt2000&_count=50`.
///
/// @param query The query (borrowed for the call); it may be changed and built again afterwards.
/// @param query_out On success `*query_out` is the query string, a new buffer owned by the caller;
///        free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*query_out` in bytes (NUL excluded) on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK` (only the general codes otherwise).
#[no_mangle]
pub unsafe extern "C" fn fhir_query_build(
    query: *const fhir_query_t,
    query_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let q = fhir_query_t::borrow(query)?;
        let out = out_ptr(query_out, "query_out")?;
        write_string(q.inner.build().as_bytes(), out, len_out)
    })
}
