//! The one internal tokio runtime, created on first use and shared by every handle. Blocking
//! calls drive their future on the caller's thread with `block_on`; the two worker threads run
//! connection tasks and timers.

use std::future::Future;

use once_cell::sync::Lazy;

use super::boundary::FfiResult;
use super::error::fhir_error_t;
use super::result::fhir_result;

static RUNTIME: Lazy<std::result::Result<tokio::runtime::Runtime, String>> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fhir-kindling")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
});

/// Run `future` to completion on the caller's thread.
pub(crate) fn block_on<F: Future>(future: F) -> FfiResult<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(fhir_error_t::new(
            fhir_result::FHIR_ERR_RUNTIME,
            "a blocking fhir_kindling call was made from inside an async runtime; call it from a plain thread",
        ));
    }
    let rt = RUNTIME.as_ref().map_err(|e| {
        fhir_error_t::new(
            fhir_result::FHIR_ERR_RUNTIME,
            format!("cannot start the internal runtime: {e}"),
        )
    })?;
    Ok(rt.block_on(future))
}
