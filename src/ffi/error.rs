//! `fhir_error_t`: the detailed error object handed to the caller through `error_out`.

use std::ffi::{c_char, CString};

use super::boundary::Handle;
use super::result::fhir_result;
use crate::error::Error;

/// Details of a failed call: result code, message, HTTP status and the server's response body
/// (often a FHIR OperationOutcome).
///
/// Created by the library when a call fails and its `error_out` is not NULL; owned by the caller.
/// Immutable, so it may be read from several threads at once.
///
/// Functions (no constructor: errors come only through `error_out`): fhir_error_code(),
/// fhir_error_message(), fhir_error_http_status(), fhir_error_body(); then fhir_error_free().
pub struct fhir_error_t {
    code: fhir_result,
    message: CString,
    status: u16,
    /// NUL-terminated copy of the body; empty when there is none.
    body: Vec<u8>,
}

impl Handle for fhir_error_t {
    const ARG: &'static str = "error";
}

impl fhir_error_t {
    /// An error of the C layer itself (NULL argument, panic, runtime).
    pub(crate) fn new(code: fhir_result, message: impl Into<String>) -> Self {
        let message = crate::redact::sanitize(&message.into());
        fhir_error_t::with_details(code, message, None, None)
    }

    fn with_details(
        code: fhir_result,
        message: String,
        status: Option<u16>,
        body: Option<bytes::Bytes>,
    ) -> Self {
        let mut message = message.replace('\0', "\u{FFFD}");
        // One copy of the body with its NUL, reserved fallibly: without memory for it, the error
        // keeps its message and says so, rather than aborting the process.
        let body = match body {
            Some(b) if !b.is_empty() => {
                let mut v = Vec::new();
                if v.try_reserve_exact(b.len() + 1).is_ok() {
                    v.extend_from_slice(&b);
                    v.push(0);
                } else {
                    message.push_str(" (the response body could not be kept: out of memory)");
                }
                v
            }
            _ => Vec::new(),
        };
        let message = CString::new(message).unwrap_or_default();
        fhir_error_t {
            code,
            message,
            status: status.unwrap_or(0),
            body,
        }
    }

    pub(crate) fn code(&self) -> fhir_result {
        self.code
    }
}

impl From<Error> for fhir_error_t {
    fn from(e: Error) -> Self {
        let (kind, message, status, body) = e.into_parts();
        fhir_error_t::with_details(kind.into(), message, status, body)
    }
}

/// The result code of an error.
///
/// @param error An error from this library (borrowed for the call), or NULL.
/// @return The error's code; `FHIR_ERR_NULL_ARGUMENT` if `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_code(error: *const fhir_error_t) -> fhir_result {
    fhir_error_t::borrow(error).map_or(fhir_result::FHIR_ERR_NULL_ARGUMENT, |e| e.code)
}

/// The message of an error: English, never containing a secret.
///
/// @param error An error from this library (borrowed for the call), or NULL.
/// @return A NUL-terminated string owned by `error`, valid until fhir_error_free(error); never NULL
///         (an empty string if `error` is NULL). Do not free it.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_message(error: *const fhir_error_t) -> *const c_char {
    fhir_error_t::borrow(error).map_or(c"".as_ptr(), |e| e.message.as_ptr())
}

/// The HTTP status the server answered with.
///
/// @param error An error from this library (borrowed for the call), or NULL.
/// @return The status (e.g. 404), or 0 when the failure was not an HTTP answer or `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_http_status(error: *const fhir_error_t) -> u16 {
    fhir_error_t::borrow(error).map_or(0, |e| e.status)
}

/// The body the server answered with, usually an OperationOutcome (JSON).
///
/// @param error An error from this library (borrowed for the call), or NULL.
/// @param len_out NULL, or receives the body's length in bytes (NUL excluded); 0 when there is no
///        body.
/// @return A NUL-terminated buffer owned by `error`, valid until fhir_error_free(error), or NULL
///         when the server sent no body (or the failure was not an HTTP answer). Do not free it.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_body(
    error: *const fhir_error_t,
    len_out: *mut usize,
) -> *const c_char {
    let (ptr, len) = match fhir_error_t::borrow(error) {
        Ok(e) if !e.body.is_empty() => (e.body.as_ptr() as *const c_char, e.body.len() - 1),
        _ => (std::ptr::null(), 0),
    };
    super::boundary::write_opt(len_out, len);
    ptr
}

/// Free an error.
///
/// @param error An error from this library, or NULL (ignored). It must not be used afterwards, nor
///        any string borrowed from it.
#[no_mangle]
pub unsafe extern "C" fn fhir_error_free(error: *mut fhir_error_t) {
    fhir_error_t::free(error)
}
