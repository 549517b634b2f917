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

/// A result the caller takes over. `Vec<u8>` is handed over as it is; `Bytes` too when this is
/// its buffer's only owner (a response body read by the transport), else it is copied.
pub(crate) trait IntoBuffer {
    fn into_vec(self) -> Vec<u8>;
}

impl IntoBuffer for Vec<u8> {
    fn into_vec(self) -> Vec<u8> {
        self
    }
}

impl IntoBuffer for bytes::Bytes {
    fn into_vec(self) -> Vec<u8> {
        Vec::from(self)
    }
}

/// Hand `bytes` over to the caller as `*out` (required) and `*len_out` (optional) without copying
/// them: the NUL is written after the data (in the spare capacity the builders leave for it) and
/// the buffer itself becomes the caller's, freed by `fhir_string_free`. This needs the buffer to
/// come from `malloc`: the crate's global allocator is `std::alloc::System` (see `lib.rs`), which
/// is `malloc`/`realloc`/`free` on Unix. Elsewhere, or when the NUL needs more memory than the
/// buffer has, the bytes are copied as [`write_string`] does.
///
/// # Safety
/// `out` is valid for a write; `len_out` is NULL or valid.
pub(crate) unsafe fn write_vec(
    mut bytes: Vec<u8>,
    out: *mut *mut c_char,
    len_out: *mut usize,
) -> FfiResult<()> {
    if !cfg!(unix) {
        return write_string(&bytes, out, len_out);
    }
    let len = bytes.len();
    crate::transport::reserve(&mut bytes, 1, "handing the result over")?;
    bytes.push(0);
    // Far more room than the data: give the tail back (in place for large buffers).
    if bytes.capacity() - bytes.len() > 4096 + bytes.len() / 8 {
        bytes.shrink_to_fit();
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    *out = bytes.as_mut_ptr() as *mut c_char;
    write_opt(len_out, len);
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
