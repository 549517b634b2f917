//! fhir_kindling: a native FHIR REST client with a C ABI.
//!
//! The Rust core (configuration, auth, retry, transport, FHIR operations) is async on reqwest;
//! [`ffi`] exposes it to C as blocking calls on one internal tokio runtime. The C header
//! `include/fhir_kindling.h` is generated from [`ffi`] by cbindgen.

pub mod auth;
pub mod config;
pub mod env;
pub mod error;
pub mod ffi;
pub mod ops;
pub mod retry;
pub mod runtime;
pub mod server;
pub mod transport;

pub use config::Options;
pub use error::{Code, Error, Result};
pub use server::FhirServer;

/// Version of the library, also in the header as `FHIR_KINDLING_VERSION_*`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
