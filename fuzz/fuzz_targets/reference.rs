//! A reference (`Type/id[/_history/v]`) from a caller, or a `Location` from a server.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    fhir_kindling::fuzzing::reference(&text, data.len() as u8);
});
