//! An OpenID Connect token endpoint's answer (a status byte pair, then the body) through the
//! library's own parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, rest @ ..] => (100 + (u16::from_le_bytes([*a, *b]) % 500), rest),
        _ => (200, data),
    };
    fhir_kindling::fuzzing::token_response(status, body);
});
