//! Buffers handed to the caller: every JSON document and string the library returns is a
//! NUL-terminated buffer from `malloc`, freed by fhir_string_free().

use std::ffi::c_char;

use super::boundary::{write_opt, FfiResult};
use super::error::fhir_error_t;
use super::result::fhir_result;

/// Copy `bytes` into a new NUL-terminated buffer, freed by `fhir_string_free`.
pub(crate) fn alloc_string(bytes: &[u8]) -> FfiResult<*mut c_char> {
    // SAFETY: malloc of len+1 bytes, checked for NULL, then fully initialised.
    unsafe {
        let p = libc::malloc(bytes.len().saturating_add(1)) as *mut u8;
        if p.is_null() {
            return Err(fhir_error_t::new(
                fhir_result::FHIR_ERR_RUNTIME,
                format!("out of memory allocating {} bytes", bytes.len() + 1),
            ));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
        Ok(p as *mut c_char)
    }
}

/// Hand `bytes` to the caller as `*out` (required) and `*len_out` (optional).
///
/// # Safety
/// `out` is valid for a write; `len_out` is NULL or valid.
pub(crate) unsafe fn write_string(
    bytes: &[u8],
    out: *mut *mut c_char,
    len_out: *mut usize,
) -> FfiResult<()> {
    *out = alloc_string(bytes)?;
    write_opt(len_out, bytes.len());
    Ok(())
}

/// Free a buffer returned by this library: every JSON document (`*json_out`), response body
/// (`*body_out`), URL (`*next_url_out`) and query string (`*query_out`).
///
/// @param string A buffer returned by this library, or NULL (ignored). Do not use `free()` on these
///        buffers: the library may use another allocator than the caller.
#[no_mangle]
pub unsafe extern "C" fn fhir_string_free(string: *mut c_char) {
    if !string.is_null() {
        libc::free(string as *mut libc::c_void);
    }
}
