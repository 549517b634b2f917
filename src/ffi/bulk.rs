//! Bulk Data `$export`: the export parameters and bounds (`fhir_bulk_t`), the step-by-step calls
//! (kick-off, poll, wait, download with a callback or into a directory, cancel) and the one-call
//! export. The loops that call the caller's callbacks live here: each step of the core runs on
//! the caller's thread, and the callbacks run between steps, outside the library's runtime.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;

use super::boundary::{arg_bytes, arg_str, guard, null_argument, opt_str, out_ptr, FfiResult};
use super::boundary::{write_opt, Handle};
use super::buffer::{alloc_string, write_string};
use super::error::fhir_error_t;
use super::result::fhir_result;
use super::server::{fhir_server_t, server_ref};
use crate::call::Call;
use crate::error::Result;
use crate::ops::bulk::{
    clamp_wait, BulkOptions, BulkWait, CancelOutcome, DownloadItem, DownloadSummary, ExportLevel,
    ExportRequest, FileKind, Manifest, PollStatus, WaitStep,
};
use std::sync::Arc;

/// The level of a bulk export (fhir_bulk_set_level()).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fhir_bulk_level {
    /// `[base]/$export`: every resource on the server (the default).
    FHIR_BULK_SYSTEM = 0,
    /// `[base]/Patient/$export`: the compartments of every patient.
    FHIR_BULK_PATIENT = 1,
    /// `[base]/Group/[id]/$export`: the compartments of a group's members.
    FHIR_BULK_GROUP = 2,
}

/// What a file of an export manifest holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fhir_bulk_file_kind {
    /// An `output[]` file: exported resources.
    FHIR_BULK_OUTPUT = 0,
    /// An `error[]` file: OperationOutcomes about what the server could not export.
    FHIR_BULK_ERROR = 1,
    /// A `deleted[]` file: Bundles naming deleted resources (exports with `_since`).
    FHIR_BULK_DELETED = 2,
}

impl From<FileKind> for fhir_bulk_file_kind {
    fn from(k: FileKind) -> Self {
        match k {
            FileKind::Output => fhir_bulk_file_kind::FHIR_BULK_OUTPUT,
            FileKind::Error => fhir_bulk_file_kind::FHIR_BULK_ERROR,
            FileKind::Deleted => fhir_bulk_file_kind::FHIR_BULK_DELETED,
        }
    }
}

/// Totals of a bulk download, written by fhir_bulk_download(), fhir_bulk_download_to_dir() and
/// fhir_bulk_export().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fhir_bulk_summary_t {
    /// Files downloaded completely.
    pub files: u64,
    /// Lines (resources) of `output[]` files handed over.
    pub resources: u64,
    /// Lines (OperationOutcomes) of `error[]` files handed over: the export is a partial success
    /// when this is not 0.
    pub errors: u64,
    /// Lines of `deleted[]` files handed over.
    pub deleted: u64,
    /// Bytes of the lines handed over (line ends excluded).
    pub bytes: u64,
    /// Whether the line callback stopped the download.
    pub stopped: bool,
}

impl From<&DownloadSummary> for fhir_bulk_summary_t {
    fn from(s: &DownloadSummary) -> Self {
        fhir_bulk_summary_t {
            files: s.files,
            resources: s.resources,
            errors: s.errors,
            deleted: s.deleted,
            bytes: s.bytes,
            stopped: s.stopped,
        }
    }
}

/// Called by the bulk calls with each NDJSON line (one resource), on the caller's thread, outside
/// the library's runtime: it may call the library, on the same handle too. It must not unwind: no
/// C++ exception or longjmp through it.
///
/// @param line The line: one JSON document, NUL-terminated, `len` bytes, without its line end;
///        borrowed until the callback returns.
/// @param len The length of `line` in bytes (NUL excluded).
/// @param resource_type The manifest's `type` of the file (such as "Patient", or
///        "OperationOutcome" for an error file), NUL-terminated; borrowed until the callback
///        returns.
/// @param kind Whether the line comes from an `output[]`, `error[]` or `deleted[]` file.
/// @param file_index The file's index in the manifest: `output[]` entries first, then `error[]`,
///        then `deleted[]`, counted from 0. Lines of one file come in file order; lines of
///        different files may interleave.
/// @param user_data The `user_data` given with the callback.
/// @return 0 to go on; non-zero to stop the download (the call then returns `FHIR_OK` with
///         `stopped` set in the summary).
pub type fhir_bulk_line_callback = Option<
    unsafe extern "C" fn(
        line: *const c_char,
        len: usize,
        resource_type: *const c_char,
        kind: fhir_bulk_file_kind,
        file_index: usize,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// Called while an export runs, after each poll that found it still in progress, on the caller's
/// thread, outside the library's runtime. It must not unwind.
///
/// @param progress The server's `X-Progress` text (or a note on a transient failure of the
///        status URL), NUL-terminated, at most 256 bytes; NULL when the server sent none. Borrowed
///        until the callback returns.
/// @param next_poll_ms How long the library waits before the next poll (the server's
///        `Retry-After` clamped to the poll interval bounds, or the backoff).
/// @param user_data The `user_data` given to fhir_bulk_set_progress_callback().
pub type fhir_bulk_progress_callback = Option<
    unsafe extern "C" fn(progress: *const c_char, next_poll_ms: u64, user_data: *mut c_void),
>;

/// The parameters of a bulk export and the bounds of its polling and downloads.
///
/// Defaults: system level, all types; polls at least 1 s and at most 60 s apart (a longer
/// `Retry-After` is cut to the maximum; without one the wait doubles from the minimum); a total
/// polling deadline of 24 h; 4 parallel downloads; lines up to 64 MiB; 5 attempts per file.
/// Each setter checks its value, so a bad parameter is reported by the call that sets it.
///
/// Not locked: do not change one object from two threads at once, nor while a call uses it. A
/// call only reads it, so one object may serve many calls in turn.
///
/// Functions: fhir_bulk_new(); the parameters fhir_bulk_set_level(), fhir_bulk_add_type(),
/// fhir_bulk_set_since(), fhir_bulk_set_until(), fhir_bulk_add_type_filter(),
/// fhir_bulk_set_output_format(), fhir_bulk_set_lenient(); the bounds
/// fhir_bulk_set_poll_interval_ms(), fhir_bulk_set_timeout_ms(), fhir_bulk_set_parallel(),
/// fhir_bulk_set_max_line_bytes(), fhir_bulk_set_file_attempts(),
/// fhir_bulk_set_progress_callback(); the calls fhir_bulk_kickoff(), fhir_bulk_poll(),
/// fhir_bulk_wait(), fhir_bulk_download(), fhir_bulk_download_to_dir(), fhir_bulk_cancel(),
/// fhir_bulk_export(); then fhir_bulk_free().
pub struct fhir_bulk_t {
    request: ExportRequest,
    options: BulkOptions,
    progress: fhir_bulk_progress_callback,
    progress_data: *mut c_void,
}

impl Handle for fhir_bulk_t {
    const ARG: &'static str = "bulk";
}

/// The shape of every setter: borrow the object, apply one core setter, report its error.
unsafe fn set(
    bulk: *mut fhir_bulk_t,
    error_out: *mut *mut fhir_error_t,
    f: impl FnOnce(&mut fhir_bulk_t) -> FfiResult<Result<()>>,
) -> fhir_result {
    guard(error_out, || {
        let b = fhir_bulk_t::borrow_mut(bulk)?;
        Ok(f(b)??)
    })
}

/// New bulk export parameters with the defaults (see #fhir_bulk_t).
///
/// @return A new object owned by the caller; free it with fhir_bulk_free(). Never NULL.
#[no_mangle]
pub extern "C" fn fhir_bulk_new() -> *mut fhir_bulk_t {
    fhir_bulk_t {
        request: ExportRequest::default(),
        options: BulkOptions::default(),
        progress: None,
        progress_data: std::ptr::null_mut(),
    }
    .into_raw()
}

/// Free bulk export parameters.
///
/// @param bulk An object from fhir_bulk_new(), or NULL (ignored). It must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_free(bulk: *mut fhir_bulk_t) {
    fhir_bulk_t::free(bulk)
}

/// Choose the export level: system (`$export`), all patients (`Patient/$export`) or a group
/// (`Group/[id]/$export`).
///
/// @param bulk The parameters (borrowed for the call).
/// @param level The level.
/// @param group_id The group's id for `FHIR_BULK_GROUP` (1 to 64 letters, digits, '-' or '.';
///        copied); ignored (may be NULL) for the other levels.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for a malformed group id;
///         `FHIR_ERR_NULL_ARGUMENT` when `group_id` is NULL with `FHIR_BULK_GROUP`.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_level(
    bulk: *mut fhir_bulk_t,
    level: fhir_bulk_level,
    group_id: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(match level {
            fhir_bulk_level::FHIR_BULK_SYSTEM => {
                b.request.level = ExportLevel::System;
                Ok(())
            }
            fhir_bulk_level::FHIR_BULK_PATIENT => {
                b.request.level = ExportLevel::Patient;
                Ok(())
            }
            fhir_bulk_level::FHIR_BULK_GROUP => b.request.set_group(arg_str(group_id, "group_id")?),
        })
    })
}

/// Add a resource type to `_type` (the export holds only the types added; all when none is).
///
/// @param bulk The parameters (borrowed for the call).
/// @param resource_type A resource type such as "Observation" (letters only; copied).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when it is not a resource type name.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_add_type(
    bulk: *mut fhir_bulk_t,
    resource_type: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.request.add_type(arg_str(resource_type, "resource_type")?))
    })
}

/// Set `_since`: only resources changed after this instant.
///
/// @param bulk The parameters (borrowed for the call).
/// @param instant A FHIR instant such as "2024-01-31T12:00:00Z" (copied), or NULL to clear it.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when it is not an instant.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_since(
    bulk: *mut fhir_bulk_t,
    instant: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.request.set_since(opt_str(instant, "instant")?))
    })
}

/// Set `_until`: only resources changed before this instant (servers may not support it; see
/// fhir_bulk_set_lenient()).
///
/// @param bulk The parameters (borrowed for the call).
/// @param instant A FHIR instant such as "2024-01-31T12:00:00Z" (copied), or NULL to clear it.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when it is not an instant.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_until(
    bulk: *mut fhir_bulk_t,
    instant: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.request.set_until(opt_str(instant, "instant")?))
    })
}

/// Add a `_typeFilter`: the resources of that type must also match these search parameters.
/// May be called several times (one `_typeFilter` parameter each).
///
/// @param bulk The parameters (borrowed for the call).
/// @param filter `Type?search-parameters`, such as "Observation?status=final" (the search
///        parameters as in a search URL; the library encodes the whole as one parameter value;
///        copied; at most 4096 bytes).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when it is not `Type?parameters`.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_add_type_filter(
    bulk: *mut fhir_bulk_t,
    filter: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.request.add_type_filter(arg_str(filter, "filter")?))
    })
}

/// Set `_outputFormat` (the server's default, NDJSON, when not set).
///
/// @param bulk The parameters (borrowed for the call).
/// @param format Such as "application/fhir+ndjson" (1 to 128 characters; copied), or NULL to
///        clear it. The downloads read NDJSON whatever the format.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` for an empty or over-long format.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_output_format(
    bulk: *mut fhir_bulk_t,
    format: *const c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.request.set_output_format(opt_str(format, "format")?))
    })
}

/// Send `Prefer: handling=lenient` with the kick-off: the server may ignore parameters it does
/// not support instead of refusing the export.
///
/// @param bulk The parameters (borrowed for the call).
/// @param lenient true to ask for lenient handling (default false).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_lenient(
    bulk: *mut fhir_bulk_t,
    lenient: bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        b.request.lenient = lenient;
        Ok(Ok(()))
    })
}

/// Bound the wait between two polls of the status URL (also used for waits before retrying the
/// kick-off or a file): the server's `Retry-After` (seconds or an HTTP date) is clamped to
/// `[min_ms, max_ms]`; without one the wait starts at `min_ms` and doubles up to `max_ms`.
///
/// @param bulk The parameters (borrowed for the call).
/// @param min_ms The shortest wait in milliseconds (default 1000).
/// @param max_ms The longest wait in milliseconds, at most one day (default 60000).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` when `min_ms` exceeds `max_ms` or `max_ms`
///         exceeds a day.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_poll_interval_ms(
    bulk: *mut fhir_bulk_t,
    min_ms: u64,
    max_ms: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.options.set_poll_interval(
            std::time::Duration::from_millis(min_ms),
            std::time::Duration::from_millis(max_ms),
        ))
    })
}

/// Bound the total time waiting for an export may take (fhir_bulk_wait(), fhir_bulk_export()):
/// past it the call fails with `FHIR_ERR_TIMEOUT` (the export may still run on the server; poll
/// its status URL again to resume).
///
/// @param bulk The parameters (borrowed for the call).
/// @param timeout_ms The deadline in milliseconds from the first poll; 0 for none (default 24 h).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_timeout_ms(
    bulk: *mut fhir_bulk_t,
    timeout_ms: u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        b.options.deadline = (timeout_ms > 0).then(|| std::time::Duration::from_millis(timeout_ms));
        Ok(Ok(()))
    })
}

/// Set how many files are downloaded at once. Memory stays bounded by this number times the
/// buffer (256 KiB) plus one line each.
///
/// @param bulk The parameters (borrowed for the call).
/// @param parallel 1 to 64 (default 4).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` outside 1..64.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_parallel(
    bulk: *mut fhir_bulk_t,
    parallel: usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| Ok(b.options.set_parallel(parallel)))
}

/// Set the longest NDJSON line (one resource) accepted; a longer one fails the download with
/// `FHIR_ERR_LIMIT`.
///
/// @param bulk The parameters (borrowed for the call).
/// @param max_line_bytes 1024 bytes to 1 GiB (default 64 MiB).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` outside the range.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_max_line_bytes(
    bulk: *mut fhir_bulk_t,
    max_line_bytes: usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.options.set_max_line_bytes(max_line_bytes))
    })
}

/// Set the attempts per file: a file that fails transiently (connection lost or broken off,
/// timeout, 429, 5xx, a transient OperationOutcome) is tried again after a backoff, resuming
/// after the lines already handed over.
///
/// @param bulk The parameters (borrowed for the call).
/// @param attempts 1 to 100, the first attempt included (default 5).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_INVALID_ARGUMENT` outside the range.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_file_attempts(
    bulk: *mut fhir_bulk_t,
    attempts: u32,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        Ok(b.options.set_file_attempts(attempts))
    })
}

/// Set the callback told about progress while waiting for an export (fhir_bulk_poll(),
/// fhir_bulk_wait(), fhir_bulk_export()).
///
/// @param bulk The parameters (borrowed for the call).
/// @param callback See #fhir_bulk_progress_callback; NULL for none.
/// @param user_data Passed to `callback` as it is; may be NULL. It must stay valid while calls
///        use these parameters.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_set_progress_callback(
    bulk: *mut fhir_bulk_t,
    callback: fhir_bulk_progress_callback,
    user_data: *mut c_void,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    set(bulk, error_out, |b| {
        b.progress = callback;
        b.progress_data = user_data;
        Ok(Ok(()))
    })
}

/// Kick off an export: `GET` the `$export` URL of the level with the parameters, `Accept:
/// application/fhir+json` and `Prefer: respond-async`. A 429, 503 or transient OperationOutcome is
/// retried (up to 5 attempts, waits clamped to the poll interval bounds).
///
/// @param server The handle (borrowed for the call).
/// @param bulk The parameters (borrowed for the call).
/// @param status_url_out On success `*status_url_out` is the absolute status URL (from the
///        server's `Content-Location`, checked to lie under the base URL), a new buffer owned by
///        the caller; free it with fhir_string_free(). Keep it to poll, download or cancel later,
///        also from another process. Not written on failure.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview), with the server's
///         OperationOutcome in the error for a refused export; `FHIR_ERR_PROTOCOL` for an answer
///         other than 202 with a usable `Content-Location`.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_kickoff(
    server: *const fhir_server_t,
    bulk: *const fhir_bulk_t,
    status_url_out: *mut *mut c_char,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let b = fhir_bulk_t::borrow(bulk)?;
        let out = out_ptr(status_url_out, "status_url_out")?;
        let url = s.run(s.server().bulk_kickoff(&b.request, &b.options))?;
        *out = alloc_string(url.as_str().as_bytes())?;
        Ok(())
    })
}

unsafe fn report_progress(b: &fhir_bulk_t, progress: Option<&str>, next: std::time::Duration) {
    if let Some(cb) = b.progress {
        let text = progress.map(|p| CString::new(p.replace('\0', "")).unwrap_or_default());
        let ptr = text.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        cb(ptr, next.as_millis() as u64, b.progress_data);
    }
}

/// Poll the status URL once. When the export is still running (or the status URL failed
/// transiently: 429, 5xx, a transient OperationOutcome), the progress callback is told and
/// `*done_out` is false; when it is complete, the manifest is handed over.
///
/// @param server The handle (borrowed for the call).
/// @param bulk The parameters (borrowed for the call): the bounds and the progress callback.
/// @param status_url The status URL from fhir_bulk_kickoff() (absolute, or relative to the base
///        URL; it must lie under the base URL; copied).
/// @param done_out On success `*done_out` tells whether the export is complete.
/// @param manifest_out On success `*manifest_out` is the completion manifest (JSON, as the server
///        sent it) when done, or NULL while in progress; a new buffer owned by the caller; free it
///        with fhir_string_free(). Not written on failure.
/// @param len_out NULL, or receives the length of `*manifest_out` in bytes (0 while in progress).
/// @param next_poll_ms_out NULL, or receives how long to wait before polling again (the server's
///        `Retry-After` clamped to the bounds); 0 when done.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview), with the server's OperationOutcome
///         in the error when the export failed; `FHIR_ERR_JSON`, `FHIR_ERR_PROTOCOL` or
///         `FHIR_ERR_LIMIT` for a malformed, unusable or too large manifest (64 MiB, 100,000
///         files); `FHIR_ERR_PROTOCOL` for a status URL that is not under the base URL.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_poll(
    server: *const fhir_server_t,
    bulk: *const fhir_bulk_t,
    status_url: *const c_char,
    done_out: *mut bool,
    manifest_out: *mut *mut c_char,
    len_out: *mut usize,
    next_poll_ms_out: *mut u64,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let b = fhir_bulk_t::borrow(bulk)?;
        let url = arg_str(status_url, "status_url")?;
        let done = out_ptr(done_out, "done_out")?;
        let out = out_ptr(manifest_out, "manifest_out")?;
        match s.run(s.server().bulk_poll(url, &b.options))? {
            PollStatus::Complete(m) => {
                write_string(&m.json, out, len_out)?;
                *done = true;
                write_opt(next_poll_ms_out, 0);
            }
            PollStatus::InProgress {
                progress,
                retry_after,
                ..
            } => {
                let next = clamp_wait(retry_after, 1, &b.options);
                report_progress(b, progress.as_deref(), next);
                *out = std::ptr::null_mut();
                *done = false;
                write_opt(len_out, 0);
                write_opt(next_poll_ms_out, next.as_millis() as u64);
            }
        }
        Ok(())
    })
}

/// The blocking wait loop: one core step at a time, the progress callback between steps.
unsafe fn wait(
    s: &fhir_server_t,
    call: &Arc<Call>,
    b: &fhir_bulk_t,
    status_url: &str,
) -> FfiResult<Manifest> {
    let mut w = BulkWait::new(s.server(), status_url, &b.options)?;
    loop {
        match s.step(call, w.step(s.server()))? {
            WaitStep::Complete(m) => return Ok(m),
            WaitStep::Progress(p) => report_progress(b, p.as_deref(), w.next_wait()),
        }
    }
}

/// Poll the status URL until the export completes, then hand the manifest over. Waits follow the
/// server's `Retry-After` clamped to the poll interval bounds (a server that says 120 s, or an
/// hour, is polled at most `max_ms` apart); transient failures of the status URL are retried (up
/// to 30 in a row). Also resumes an export kicked off earlier, by another process too.
///
/// @param server The handle (borrowed for the call).
/// @param bulk The parameters (borrowed for the call): the bounds, the deadline and the progress
///        callback.
/// @param status_url The status URL from fhir_bulk_kickoff() (copied).
/// @param manifest_out On success `*manifest_out` is the completion manifest (JSON), a new buffer
///        owned by the caller; free it with fhir_string_free(); not written on failure.
/// @param len_out NULL, or receives the length of `*manifest_out` in bytes on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; `FHIR_ERR_TIMEOUT` past the deadline (fhir_bulk_set_timeout_ms(), or the
///         scope's of fhir_server_scope()); `FHIR_ERR_CANCELLED` when the handle's cancel token is
///         triggered (also during a wait between polls); a
///         request code (see the file overview), with the server's OperationOutcome in the error
///         when the export failed; `FHIR_ERR_JSON`, `FHIR_ERR_PROTOCOL` or `FHIR_ERR_LIMIT` for an
///         unusable manifest or a status URL not under the base URL.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_wait(
    server: *const fhir_server_t,
    bulk: *const fhir_bulk_t,
    status_url: *const c_char,
    manifest_out: *mut *mut c_char,
    len_out: *mut usize,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let b = fhir_bulk_t::borrow(bulk)?;
        let url = arg_str(status_url, "status_url")?;
        let out = out_ptr(manifest_out, "manifest_out")?;
        let call = s.begin();
        let m = wait(s, &call, b, url);
        s.end(&call);
        write_string(&m?.json, out, len_out)
    })
}

/// The blocking download loop: pull a batch from the core, hand its lines to `cb` one by one.
unsafe fn download(
    s: &fhir_server_t,
    call: &Arc<Call>,
    b: &fhir_bulk_t,
    manifest: &Manifest,
    cb: unsafe extern "C" fn(
        *const c_char,
        usize,
        *const c_char,
        fhir_bulk_file_kind,
        usize,
        *mut c_void,
    ) -> c_int,
    user_data: *mut c_void,
) -> FfiResult<DownloadSummary> {
    let types: Vec<CString> = manifest
        .files
        .iter()
        .map(|f| CString::new(f.resource_type.as_str()).unwrap_or_default())
        .collect();
    let mut dl = s.server().bulk_download(manifest, &b.options)?;
    while let Some(item) = s.step(call, dl.next())? {
        let DownloadItem::Lines(batch) = item else {
            continue;
        };
        let file = batch.file;
        let kind = dl.file(file).kind;
        // One copy per batch: each line end becomes the line's NUL.
        let mut data: Vec<u8> = Vec::from(batch.into_bytes());
        for b in data.iter_mut() {
            if *b == b'\n' {
                *b = 0;
            }
        }
        let mut start = 0;
        while start < data.len() {
            let end = start
                + data[start..]
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(data.len() - start);
            let len = end - start;
            // A triggered cancel token (or the deadline) stops between two lines.
            call.check()?;
            dl.count_line(file, len);
            let go_on = cb(
                data.as_ptr().add(start) as *const c_char,
                len,
                types[file].as_ptr(),
                kind.into(),
                file,
                user_data,
            ) == 0;
            if !go_on {
                dl.summary.stopped = true;
                return Ok(dl.summary.clone());
            }
            start = end + 1;
        }
    }
    Ok(dl.summary.clone())
}

unsafe fn parse_manifest(
    s: &crate::FhirServer,
    b: &fhir_bulk_t,
    json: *const c_char,
    len: usize,
) -> FfiResult<Manifest> {
    let bytes = arg_bytes(json, len, "manifest_json")?;
    Ok(Manifest::parse(
        s,
        bytes::Bytes::copy_from_slice(bytes),
        &b.options,
    )?)
}

/// Download every file of a completion manifest, handing each NDJSON line to `callback` on the
/// caller's thread. Up to fhir_bulk_set_parallel() files are fetched at once (`Accept:
/// application/fhir+ndjson`, gzip accepted), each streamed: memory stays bounded whatever the
/// export size. The bearer token (or other credentials) is sent only when the manifest says
/// `requiresAccessToken` and only to the FHIR server's origin, never after a redirect to another
/// origin (at most 5 redirects). A file failing transiently is tried again, resuming after the
/// lines already handed over; a 401 restarts a file once with a fresh token. `error[]` files are
/// handed over too (kind `FHIR_BULK_ERROR`): the call still succeeds, and the summary counts them.
///
/// @param server The handle (borrowed for the call).
/// @param bulk The parameters (borrowed for the call): parallelism, line limit, attempts.
/// @param manifest_json The manifest from fhir_bulk_poll() or fhir_bulk_wait() (or saved from an
///        earlier run), `manifest_len` bytes, borrowed for the call.
/// @param manifest_len The length of `manifest_json` in bytes.
/// @param callback Called once per line (see #fhir_bulk_line_callback); not NULL.
/// @param user_data Passed to `callback` as it is; may be NULL.
/// @param summary_out NULL, or receives the totals on success (also when `callback` stopped).
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, also when `callback` stopped; `FHIR_ERR_CANCELLED` when the handle's cancel
///         token is triggered (see fhir_server_scope()): between two lines, or in the middle of a
///         transfer (the connections are dropped); a request code (see the file overview) for a
///         file that failed (after its attempts); `FHIR_ERR_LIMIT` for a line longer than the
///         limit; `FHIR_ERR_JSON` for a line that is not one JSON document or a malformed
///         manifest; `FHIR_ERR_PROTOCOL` for a file whose line count differs from the manifest's
///         `count`, an unusable file URL or too many redirects.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_download(
    server: *const fhir_server_t,
    bulk: *const fhir_bulk_t,
    manifest_json: *const c_char,
    manifest_len: usize,
    callback: fhir_bulk_line_callback,
    user_data: *mut c_void,
    summary_out: *mut fhir_bulk_summary_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let b = fhir_bulk_t::borrow(bulk)?;
        let cb = callback.ok_or_else(|| null_argument("callback"))?;
        let m = parse_manifest(s.server(), b, manifest_json, manifest_len)?;
        let call = s.begin();
        let summary = download(s, &call, b, &m, cb, user_data);
        s.end(&call);
        write_opt(summary_out, (&summary?).into());
        Ok(())
    })
}

/// Download every file of a completion manifest into a directory, as fhir_bulk_download() does:
/// one file per manifest entry, named by the library (never by the server):
/// `output-00001-Patient.ndjson`, `error-00003-OperationOutcome.ndjson`,
/// `deleted-00004-Bundle.ndjson` (the number is the file's index + 1), each written as `*.part`
/// and renamed once complete; the manifest is saved as `manifest.json`. Existing files of those
/// names are replaced.
///
/// @param server The handle (borrowed for the call).
/// @param bulk The parameters (borrowed for the call).
/// @param manifest_json The manifest, `manifest_len` bytes, borrowed for the call.
/// @param manifest_len The length of `manifest_json` in bytes.
/// @param dir The directory (created if missing; copied).
/// @param summary_out NULL, or receives the totals on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; as fhir_bulk_download(); `FHIR_ERR_IO` when a file cannot be written (the
///         message names it).
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_download_to_dir(
    server: *const fhir_server_t,
    bulk: *const fhir_bulk_t,
    manifest_json: *const c_char,
    manifest_len: usize,
    dir: *const c_char,
    summary_out: *mut fhir_bulk_summary_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let b = fhir_bulk_t::borrow(bulk)?;
        let dir = arg_str(dir, "dir")?;
        let m = parse_manifest(s.server(), b, manifest_json, manifest_len)?;
        let (summary, _) = s.run(s.server().bulk_download_to_dir(
            &m,
            &b.options,
            Path::new(dir),
        ))?;
        write_opt(summary_out, (&summary).into());
        Ok(())
    })
}

/// Cancel an export: `DELETE` its status URL. Also tells the server a completed export's files
/// may be removed. A 404 or 410 (the server no longer knows the export: finished, cancelled or
/// removed) counts as done.
///
/// @param server The handle (borrowed for the call).
/// @param status_url The status URL from fhir_bulk_kickoff() (copied).
/// @param already_gone_out NULL, or receives on success whether the server no longer knew the
///        export (404/410) rather than accepting the cancellation.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`; a request code (see the file overview); `FHIR_ERR_PROTOCOL` for a status URL
///         not under the base URL.
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_cancel(
    server: *const fhir_server_t,
    status_url: *const c_char,
    already_gone_out: *mut bool,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let url = arg_str(status_url, "status_url")?;
        let outcome = s.run(s.server().bulk_cancel(url))?;
        write_opt(already_gone_out, outcome == CancelOutcome::AlreadyGone);
        Ok(())
    })
}

/// A whole export in one call: fhir_bulk_kickoff(), fhir_bulk_wait(), then fhir_bulk_download()
/// with `callback`.
///
/// @param server The handle (borrowed for the call).
/// @param bulk The parameters and bounds (borrowed for the call).
/// @param callback Called once per line (see #fhir_bulk_line_callback); not NULL.
/// @param user_data Passed to `callback` as it is; may be NULL.
/// @param status_url_out NULL, or receives the status URL, a new buffer owned by the caller; free
///        it with fhir_string_free(). Written as soon as the kick-off succeeded, also when a later
///        step fails (to resume with fhir_bulk_wait() or to cancel); on a failure before or during
///        the kick-off it is set to NULL.
/// @param summary_out NULL, or receives the totals on success.
/// @param error_out NULL, or receives a new error on failure; free it with fhir_error_free().
/// @return `FHIR_OK`, also when `callback` stopped; as fhir_bulk_kickoff(), fhir_bulk_wait() and
///         fhir_bulk_download() (`FHIR_ERR_CANCELLED` or `FHIR_ERR_TIMEOUT` from the handle's scope
///         in any of the steps).
#[no_mangle]
pub unsafe extern "C" fn fhir_bulk_export(
    server: *const fhir_server_t,
    bulk: *const fhir_bulk_t,
    callback: fhir_bulk_line_callback,
    user_data: *mut c_void,
    status_url_out: *mut *mut c_char,
    summary_out: *mut fhir_bulk_summary_t,
    error_out: *mut *mut fhir_error_t,
) -> fhir_result {
    guard(error_out, || {
        let s = server_ref(server)?;
        let b = fhir_bulk_t::borrow(bulk)?;
        let cb = callback.ok_or_else(|| null_argument("callback"))?;
        write_opt(status_url_out, std::ptr::null_mut());
        // One call for the three steps: one cancel token, one deadline, one record.
        let call = s.begin();
        let result = (|| {
            let url = s.step(&call, s.server().bulk_kickoff(&b.request, &b.options))?;
            write_opt(status_url_out, alloc_string(url.as_str().as_bytes())?);
            let m = wait(s, &call, b, url.as_str())?;
            download(s, &call, b, &m, cb, user_data)
        })();
        s.end(&call);
        write_opt(summary_out, (&result?).into());
        Ok(())
    })
}
