//! `fhir_query_t`: a search-query builder that percent-encodes for the caller.

use std::ffi::c_char;

use super::boundary::{arg_str, guard, opt_str, out_ptr, FfiResult, Handle};
use super::buffer::write_string;
use super::error::fhir_error_t;
use super::result::fhir_result;
use crate::error::Result;
use crate::ops::query::Query;

/// A search query under construction. Not thread-safe; free with `fhir_query_free`.
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

/// A new query for `resource_type` ("Patient"; "" for a system-wide search).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// Free a query. NULL is ignored.
///
/// # Safety
/// `query` is NULL or from `fhir_query_new` and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_free(query: *mut fhir_query_t) {
    fhir_query_t::free(query)
}

/// Add `field=value`. `op` may be NULL, a value prefix ("eq", "ne", "gt", "lt", "ge", "le",
/// "sa", "eb", "ap": `birthdate=gt2000`) or a modifier starting with ':' (":exact", ":missing",
/// ":contains": `name:exact=Eve`). `value` is given plain (not encoded): `+`, `|`, spaces are
/// encoded here; commas are kept (they mean OR in FHIR).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// Add any parameter `name=value` (value encoded here).
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// `_include=target` (or `_include:iterate` when `iterate`), e.g. "Observation:subject".
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// `_revinclude=target` (or `_revinclude:iterate`), e.g. "Observation:subject".
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// `_has:chain=value`, e.g. chain "Observation:patient:code", value "http://loinc.org|8867-4".
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// `_sort=fields` (e.g. "-birthdate,name").
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_sort(
    query: *mut fhir_query_t,
    fields: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| Ok(q.sort(arg_str(fields, "fields")?)))
}

/// `_elements=fields` (e.g. "id,name").
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
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

/// `_summary=mode`: "true", "false", "text", "data" or "count".
///
/// # Safety
/// Pointers are NULL or valid; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_summary(
    query: *mut fhir_query_t,
    mode: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| Ok(q.summary(arg_str(mode, "mode")?)))
}

/// `_count=n` (page size; replaces an earlier one).
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_query_page_size(
    query: *mut fhir_query_t,
    n: u32,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    edit(query, error_out, |q| Ok(q.page_size(n)))
}

/// The query as a string for the search calls ("Patient?birthdate=gt2000&_count=50"):
/// `*query_out` is new (free with `fhir_string_free`), `*len_out` (if not NULL) its length.
///
/// # Safety
/// Pointers are NULL or valid.
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
