//! Search pages as a server sends them: one selector byte (server, query), then up to 8 Bundle
//! bodies separated by NUL bytes, walked as a paged search walks them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fhir_kindling::fuzzing::page(data);
});
