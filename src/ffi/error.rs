//! `fhir_error_t`: the detailed error object, and `fhir_result_str`.

use std::ffi::{c_char, c_int, CString};

use crate::error::{fhir_result, Code, Error};

/// Details of a failed call: code, message, HTTP status and the server's response body (often a
/// FHIR OperationOutcome). Created by the library on failure, freed by `fhir_error_free`.
/// Immutable: may be read from any thread.
pub struct fhir_error_t {
    code: fhir_result,
    message: CString,
    status: u16,
    /// NUL-terminated copy of the body; empty when there is none.
    body: Vec<u8>,
}

impl fhir_error_t {
    pub(crate) fn boxed(e: Error) -> *mut fhir_error_t {
        let message = CString::new(e.message.replace('\0', "\u{FFFD}")).unwrap_or_default();
        let body = match e.body {
            Some(mut b) if !b.is_empty() => {
                b.push(0);
                b
            }
            _ => Vec::new(),
        };
        Box::into_raw(Box::new(fhir_error_t {
            code: e.code,
            message,
            status: e.status.unwrap_or(0),
            body,
        }))
    }
}

/// A static English description of a result code. Never NULL; do not free. A value that is not a
/// known code (for example from a newer library) gives "unknown result code".
#[no_mangle]
pub extern "C" fn fhir_result_str(code: c_int) -> *const c_char {
    match Code::from_i64(code as i64) {
        Some(c) => c.describe_c().as_ptr(),
        None => c"unknown result code".as_ptr(),
    }
}

/// The result code of `error`; `FHIR_ERR_NULL_ARGUMENT` if `error` is NULL.
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_code(error: *const fhir_error_t) -> fhir_result {
    match error.as_ref() {
        Some(e) => e.code,
        None => fhir_result::FHIR_ERR_NULL_ARGUMENT,
    }
}

/// The message of `error`: English, never containing a secret. Borrowed: valid until
/// `fhir_error_free(error)`. Never NULL (an empty string if `error` is NULL).
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_message(error: *const fhir_error_t) -> *const c_char {
    match error.as_ref() {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The HTTP status the server answered with, or 0 when the failure was not an HTTP answer.
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_http_status(error: *const fhir_error_t) -> u16 {
    error.as_ref().map_or(0, |e| e.status)
}

/// The body the server answered with (usually an OperationOutcome JSON), NUL-terminated, or NULL
/// when there was none. Its length (NUL excluded) goes to `*len_out` if `len_out` is not NULL.
/// Borrowed: valid until `fhir_error_free(error)`.
///
/// # Safety
/// `error` is NULL or a live error from this library; `len_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_body(
    error: *const fhir_error_t,
    len_out: *mut usize,
) -> *const c_char {
    let (ptr, len) = match error.as_ref() {
        Some(e) if !e.body.is_empty() => (e.body.as_ptr() as *const c_char, e.body.len() - 1),
        _ => (std::ptr::null(), 0),
    };
    if !len_out.is_null() {
        *len_out = len;
    }
    ptr
}

/// Free an error. NULL is ignored.
///
/// # Safety
/// `error` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_free(error: *mut fhir_error_t) {
    if !error.is_null() {
        drop(Box::from_raw(error));
    }
}
