//! The C ABI. Every exported function reads: check arguments → call the core → hand ownership
//! to the caller. No HTTP or FHIR logic lives here.
//!
//! Conventions (see the header's preamble): every fallible call returns a [`fhir_result`]; an
//! optional `fhir_error_t **error_out` receives details on failure (the caller frees them with
//! `fhir_error_free`); outputs (`*_out`) are written only on success; strings passed in are
//! copied, never kept; returned JSON is NUL-terminated, owned by the caller and freed with
//! `fhir_json_free`; every `_free` accepts NULL; no panic crosses the boundary.

#![allow(non_camel_case_types)]

pub mod error;
pub mod ops;
pub mod options;
pub mod query;
pub mod server;

use std::ffi::{c_char, CStr};
use std::future::Future;
use std::panic::AssertUnwindSafe;

pub use crate::error::fhir_result;
use crate::error::{Code, Error, Result};
use error::fhir_error_t;
use server::fhir_server_t;
pub(crate) use server::server_ref;

use crate::runtime::block_on;
use crate::server::FhirServer;

/// Major version of the library (semantic versioning).
pub const FHIR_KINDLING_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const FHIR_KINDLING_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const FHIR_KINDLING_VERSION_PATCH: u32 = 0;

/// Run `f` behind the panic boundary; on failure write a detailed error to `error_out` (if not
/// NULL) and return its code.
pub(crate) fn guard(
    error_out: *mut *mut fhir_error_t,
    f: impl FnOnce() -> Result<()>,
) -> fhir_result {
    let err = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return fhir_result::FHIR_OK,
        Ok(Err(e)) => e,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Error::new(Code::FHIR_ERR_PANIC, format!("internal error: {what}"))
        }
    };
    let code = err.code;
    if !error_out.is_null() {
        // SAFETY: the caller passes either NULL or a valid `fhir_error_t **`.
        unsafe { *error_out = fhir_error_t::boxed(err) };
    }
    code
}

/// A borrowed, UTF-8 string argument; NULL and non-UTF-8 are errors naming the argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::new(
            Code::FHIR_ERR_NULL_ARGUMENT,
            format!("argument `{name}` is NULL"),
        ));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::invalid(format!("argument `{name}` is not valid UTF-8")))
}

/// Like [`arg_str`], but NULL means "absent".
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        arg_str(p, name).map(Some)
    }
}

/// A borrowed byte buffer `(ptr, len)`; NULL with a non-zero length is an error.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes for the duration of the call.
pub(crate) unsafe fn arg_bytes<'a>(
    p: *const c_char,
    len: usize,
    name: &str,
) -> Result<Option<&'a [u8]>> {
    if p.is_null() {
        if len == 0 {
            return Ok(None);
        }
        return Err(Error::new(
            Code::FHIR_ERR_NULL_ARGUMENT,
            format!("argument `{name}` is NULL but its length is {len}"),
        ));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!(
            "argument `{name}` has an impossible length {len}"
        )));
    }
    Ok(Some(std::slice::from_raw_parts(p as *const u8, len)))
}

/// An output pointer that must not be NULL.
pub(crate) fn out_ptr<T>(p: *mut T, name: &str) -> Result<*mut T> {
    if p.is_null() {
        Err(Error::new(
            Code::FHIR_ERR_NULL_ARGUMENT,
            format!("output argument `{name}` is NULL"),
        ))
    } else {
        Ok(p)
    }
}

/// Copy `bytes` into a new NUL-terminated buffer from `malloc`, freed by `fhir_json_free`.
pub(crate) fn alloc_json(bytes: &[u8]) -> Result<*mut c_char> {
    // SAFETY: malloc of len+1 bytes, checked for NULL, then fully initialised.
    unsafe {
        let p = libc::malloc(bytes.len() + 1) as *mut u8;
        if p.is_null() {
            return Err(Error::new(
                Code::FHIR_ERR_RUNTIME,
                format!("out of memory allocating {} bytes", bytes.len() + 1),
            ));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
        Ok(p as *mut c_char)
    }
}

/// Hand `bytes` to the caller as `*json_out` (and `*len_out` if not NULL).
///
/// # Safety
/// `json_out` is a valid non-NULL pointer; `len_out` is NULL or valid.
pub(crate) unsafe fn write_json(
    bytes: &[u8],
    json_out: *mut *mut c_char,
    len_out: *mut usize,
) -> Result<()> {
    let p = alloc_json(bytes)?;
    *json_out = p;
    if !len_out.is_null() {
        *len_out = bytes.len();
    }
    Ok(())
}

/// The shape of every call that answers with JSON: check the handle and `json_out`, let `call`
/// check its own arguments and start the core's future, run it on the caller's thread, hand the
/// bytes over as `*json_out` / `*len_out`.
pub(crate) unsafe fn json_call<'a, T, Fut>(
    server: *const fhir_server_t,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
    call: impl FnOnce(&'a FhirServer) -> Result<Fut>,
) -> fhir_result
where
    Fut: Future<Output = Result<T>>,
    T: AsRef<[u8]>,
{
    guard(error_out, || {
        let s = server_ref(server)?;
        let out = out_ptr(json_out, "json_out")?;
        let body = block_on(call(s)?)??;
        write_json(body.as_ref(), out, len_out)
    })
}

/// Free a buffer returned by this library: any JSON and any string (`*json_out`, `*body_out`,
/// `*next_url_out`, `*query_out`). NULL is ignored. Do not use `free()` on them.
///
/// # Safety
/// `json` is NULL or a buffer returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fhir_json_free(json: *mut c_char) {
    if !json.is_null() {
        libc::free(json as *mut libc::c_void);
    }
}

/// The library version as a static string, e.g. "0.1.0". Never NULL; do not free.
#[no_mangle]
pub extern "C" fn fhir_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_version_macros_match_cargo() {
        assert_eq!(
            super::FHIR_KINDLING_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            super::FHIR_KINDLING_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            super::FHIR_KINDLING_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
