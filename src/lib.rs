//! fhir_kindling: a native FHIR REST client with a C ABI.
//!
//! The Rust core (configuration, auth, retry, transport, FHIR operations) is async on reqwest and
//! knows nothing of C; [`ffi`] exposes it as blocking C calls, each driven on the calling thread's
//! own tokio runtime. The C header `include/fhir_kindling.h` is generated from [`ffi`] by cbindgen.
//!
//! The deliberately public Rust surface: [`FhirServer`] (connect, then the async FHIR
//! operations), [`Options`], [`Auth`], [`Query`], [`SearchStream`], [`Error`] / [`ErrorKind`], and
//! the C ABI in [`ffi`] (public so that Rust tests can drive it as C does).

mod auth;
pub mod call;
mod config;
mod env;
mod error;
pub mod ffi;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod hook;
pub mod logging;
mod ops;
mod redact;
mod retry;
mod server;
mod smart;
mod transport;

/// The allocator is stated, not left to the default: the C layer hands buffers built in `Vec`s
/// (a collected search, a response body) over to the caller without copying them, and the caller
/// frees them with the library's string free function, i.e. `free`. `System` is
/// `malloc`/`realloc`/`free` on Unix.
#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

pub use auth::Auth;
pub use config::Options;
pub use env::VARIABLES as ENV_VARIABLES;
pub use error::{Error, ErrorKind, Result};
pub use ops::bulk::{
    BulkDownload, BulkFile, BulkOptions, BulkWait, CancelOutcome, DownloadItem, DownloadSummary,
    ExportLevel, ExportRequest, FileKind, LineBatch, Manifest, PollStatus, WaitStep,
};
pub use ops::query::{encode as encode_search_value, Query};
pub use ops::search::{bundle_resources, SearchStream};
pub use server::FhirServer;
pub use smart::{public_jwks as smart_public_jwks, Algorithm as SmartAlgorithm};
pub use transport::Response;

/// Version of the library (the C header carries it as version macros).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
