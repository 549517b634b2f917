//! What every export shares, written once: the panic boundary, the handle trait for the opaque
//! types, argument checks that name the argument at fault, writing outputs.

use std::ffi::{c_char, CStr};
use std::panic::AssertUnwindSafe;

use super::error::fhir_error_t;
use super::result::fhir_result;

/// The failure of an export before it is handed to the caller.
pub(crate) type FfiResult<T> = std::result::Result<T, fhir_error_t>;

/// Run `f` behind the panic boundary; on failure write a detailed error to `error_out` (if not
/// NULL) and return its code.
pub(crate) fn guard(
    error_out: *mut *mut fhir_error_t,
    f: impl FnOnce() -> FfiResult<()>,
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
            fhir_error_t::new(
                fhir_result::FHIR_ERR_PANIC,
                format!("internal error: {what}"),
            )
        }
    };
    let code = err.code();
    if !error_out.is_null() {
        // SAFETY: the caller passes either NULL or a valid `fhir_error_t **`.
        unsafe { *error_out = err.into_raw() };
    }
    code
}

/// The opaque types handed to C (`fhir_server_t`, `fhir_options_t`, `fhir_query_t`,
/// `fhir_error_t`): boxed on the way out, borrowed on the way in, freed by their `_free`.
pub(crate) trait Handle: Sized {
    /// The argument name used in messages ("argument `server` is NULL").
    const ARG: &'static str;

    /// # Safety
    /// `p` is NULL or a live handle of this type.
    unsafe fn borrow<'a>(p: *const Self) -> FfiResult<&'a Self> {
        p.as_ref().ok_or_else(|| null_argument(Self::ARG))
    }

    /// # Safety
    /// `p` is NULL or a live handle of this type, not used by another thread meanwhile.
    unsafe fn borrow_mut<'a>(p: *mut Self) -> FfiResult<&'a mut Self> {
        p.as_mut().ok_or_else(|| null_argument(Self::ARG))
    }

    fn into_raw(self) -> *mut Self {
        Box::into_raw(Box::new(self))
    }

    /// # Safety
    /// `p` is NULL or a handle of this type not yet freed.
    unsafe fn free(p: *mut Self) {
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
    }
}

/// The one error for a NULL where a value is required.
pub(crate) fn null_argument(name: &str) -> fhir_error_t {
    fhir_error_t::new(
        fhir_result::FHIR_ERR_NULL_ARGUMENT,
        format!("argument `{name}` is NULL"),
    )
}

fn invalid(message: String) -> fhir_error_t {
    fhir_error_t::new(fhir_result::FHIR_ERR_INVALID_ARGUMENT, message)
}

/// A borrowed, UTF-8 string argument; NULL and non-UTF-8 are errors naming the argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(null_argument(name));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| invalid(format!("argument `{name}` is not valid UTF-8")))
}

/// Like [`arg_str`], but NULL means "absent".
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        arg_str(p, name).map(Some)
    }
}

/// A borrowed array `(ptr, count)` of `T`; NULL is allowed only with a count of 0.
///
/// # Safety
/// `p` is NULL or points to `count` readable values for the duration of the call.
pub(crate) unsafe fn arg_slice<'a, T>(p: *const T, count: usize, name: &str) -> FfiResult<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(fhir_error_t::new(
            fhir_result::FHIR_ERR_NULL_ARGUMENT,
            format!("argument `{name}` is NULL but its length is {count}"),
        ));
    }
    if count > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(invalid(format!(
            "argument `{name}` has an impossible length {count}"
        )));
    }
    Ok(std::slice::from_raw_parts(p, count))
}

/// A borrowed byte buffer that may be absent: a length of 0 means "none", whatever the pointer.
///
/// # Safety
/// As [`arg_slice`].
pub(crate) unsafe fn opt_bytes<'a>(
    p: *const c_char,
    len: usize,
    name: &str,
) -> FfiResult<Option<&'a [u8]>> {
    if len == 0 {
        return Ok(None);
    }
    arg_slice(p as *const u8, len, name).map(Some)
}

/// A borrowed byte buffer that is required (a JSON document); empty is passed on as empty.
///
/// # Safety
/// As [`arg_slice`].
pub(crate) unsafe fn arg_bytes<'a>(
    p: *const c_char,
    len: usize,
    name: &str,
) -> FfiResult<&'a [u8]> {
    if p.is_null() {
        return Err(null_argument(name));
    }
    arg_slice(p as *const u8, len, name)
}

/// An array of `count` string arguments.
///
/// # Safety
/// `items` is NULL (with `count` 0) or points to `count` NUL-terminated strings.
pub(crate) unsafe fn arg_str_list<'a>(
    items: *const *const c_char,
    count: usize,
    name: &str,
) -> FfiResult<Vec<&'a str>> {
    arg_slice(items, count, name)?
        .iter()
        .enumerate()
        .map(|(i, p)| arg_str(*p, &format!("{name}[{i}]")))
        .collect()
}

/// An output pointer that must not be NULL.
pub(crate) fn out_ptr<T>(p: *mut T, name: &str) -> FfiResult<*mut T> {
    if p.is_null() {
        Err(fhir_error_t::new(
            fhir_result::FHIR_ERR_NULL_ARGUMENT,
            format!("output argument `{name}` is NULL"),
        ))
    } else {
        Ok(p)
    }
}

/// Write `value` to an optional output (`len_out`, `status_out`): NULL means "not wanted".
///
/// # Safety
/// `p` is NULL or valid for a write.
pub(crate) unsafe fn write_opt<T>(p: *mut T, value: T) {
    if !p.is_null() {
        *p = value;
    }
}
