//! The C ABI. Every exported function reads: check arguments → call the core → hand ownership
//! to the caller. No HTTP or FHIR logic lives here.
//!
//! Conventions (see the header's preamble): every fallible call returns a [`fhir_result`]; an
//! optional `fhir_error_t **error_out` receives details on failure (the caller frees them with
//! `fhir_error_free`); outputs (`*_out`) are written only on success; strings passed in are
//! copied, never kept; returned buffers are NUL-terminated, owned by the caller and freed with
//! `fhir_string_free`; every `_free` accepts NULL; no panic crosses the boundary.
//!
//! The modules are declared in the order the header presents them: version, results, errors,
//! buffers, options, server, SMART Backend Services, embedding (cancel tokens, log callbacks,
//! request hook), operations, searches, query builder.

#![allow(non_camel_case_types)]
// The exported functions carry no rustdoc `# Safety` section: their doc comments are the C
// reference manual (copied into include/fhir_kindling.h), and their `@param` lines state each
// pointer's contract (NULL or valid, borrowed for the call, length, ownership) instead.
#![allow(clippy::missing_safety_doc)]

mod boundary;
pub mod buffer;
pub mod bulk;
pub mod embed;
pub mod error;
pub mod ops;
pub mod options;
pub mod query;
pub mod result;
mod runtime;
pub mod search;
pub mod server;
pub mod smart;

use std::ffi::c_char;

pub use result::fhir_result;

/// Major version of the library (semantic versioning) this header belongs to.
pub const FHIR_KINDLING_VERSION_MAJOR: u32 = 0;
/// Minor version of the library. While the major version is 0, a new minor version may change the
/// ABI (the SONAME is `libfhir_kindling.so.0.MINOR`).
pub const FHIR_KINDLING_VERSION_MINOR: u32 = 2;
/// Patch version of the library.
pub const FHIR_KINDLING_VERSION_PATCH: u32 = 0;

/// The library version as a string, for a check at run time against the `FHIR_KINDLING_VERSION_*`
/// macros the program was compiled with.
///
/// @return A static NUL-terminated string such as "0.2.0"; never NULL; do not free it.
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
