//! Where blocking calls run: every calling thread drives its calls on a runtime of its own (a
//! tokio current-thread runtime, created on the thread's first call and dropped when it exits).
//! The request is written, answered and read on the caller's thread — no hand-off to worker
//! threads and back (one context switch per request where a shared multi-thread runtime took
//! about six), the way a libcurl easy handle is used per thread. Timers, `select!`, task-locals
//! and `tokio::sync` work inside as on any tokio runtime. Tasks a call spawns (a prefetched page)
//! progress while a later call on the same thread runs, and are dropped with the thread.

use std::future::Future;

use once_cell::unsync::OnceCell;
use tokio::runtime::Runtime;

use super::boundary::FfiResult;
use super::error::fhir_error_t;
use super::result::fhir_result;

thread_local! {
    static RUNTIME: OnceCell<std::result::Result<Runtime, String>> = const { OnceCell::new() };
}

fn runtime_error(e: &str) -> fhir_error_t {
    fhir_error_t::new(
        fhir_result::FHIR_ERR_RUNTIME,
        format!("cannot start the internal runtime: {e}"),
    )
}

/// Run `future` to completion on the caller's thread.
pub(crate) fn block_on<F: Future>(future: F) -> FfiResult<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(fhir_error_t::new(
            fhir_result::FHIR_ERR_RUNTIME,
            "a blocking fhir_kindling call was made from inside an async runtime; call it from a plain thread",
        ));
    }
    RUNTIME
        .try_with(|cell| {
            let rt = cell
                .get_or_init(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(|e| runtime_error(e))?;
            Ok(rt.block_on(async {
                settle().await;
                future.await
            }))
        })
        .unwrap_or_else(|_| Err(runtime_error("the calling thread is exiting")))
}

/// Pooled connections are not watched between calls: let their tasks see what happened
/// meanwhile before the call looks for a connection. The first yield lets the runtime poll its
/// I/O driver (a server that closed an idle connection is seen), the second runs the tasks that
/// woke (the closed connection leaves the pool), so a call never writes to a dead connection.
pub(crate) async fn settle() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// After a handle is freed: let this thread's runtime close the connections of the client it
/// dropped (their tasks end once they run). Nothing when the thread has no runtime yet.
pub(crate) fn settle_after_free() {
    if tokio::runtime::Handle::try_current().is_ok() {
        return;
    }
    let _ = RUNTIME.try_with(|cell| {
        if let Some(Ok(rt)) = cell.get() {
            rt.block_on(settle());
        }
    });
}
