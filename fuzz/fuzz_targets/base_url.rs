//! A base URL, then up to 8 paths or URLs resolved against it, separated by NUL bytes (which C
//! strings never contain).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\0');
    let base = fields.next().unwrap_or("");
    let paths: Vec<&str> = fields.take(8).collect();
    fhir_kindling::fuzzing::base_url(base, &paths);
});
