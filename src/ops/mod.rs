//! FHIR operations on a [`crate::FhirServer`], as in fhir_kindling's `FhirServer`: read
//! (and read many), search with paging (all, limit, first page, count, streaming), create
//! (and create all in transaction batches), update, delete, conditional variants, transactions
//! and batches, history, `$operations`, capabilities summary.
//!
//! Bundles are handled as raw JSON: entries are kept as slices of the server's bytes and
//! concatenated, never parsed into a tree and re-serialised.

pub mod bulk;
pub mod bundle;
pub mod query;
pub mod reference;
pub mod resource;
pub(crate) mod scan;
pub mod search;
pub mod transaction;
