//! The mocked tests, one test binary (`cargo test --test it`): no services needed, every server
//! is httpmock, a scripted socket or a closed port. A module per concept; tests/README.md says
//! which file tests what.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod bulk;
mod embed;
mod ffi_boundary;
mod hostile;
mod ops;
mod retry;
mod robustness;
mod secrets;
mod smart;
mod transport;
