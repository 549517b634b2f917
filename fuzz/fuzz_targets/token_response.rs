//! An OpenID Connect token endpoint's JSON answer (see the TODO in src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fhir_kindling::fuzzing::token_response(data);
});
