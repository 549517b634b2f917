//! The environment `from_env` reads: the values of the 8 variables, in the order of
//! `fhir_kindling::ENV_VARIABLES`, separated by NUL bytes (which environment values never
//! contain; empty = unset), then a flags field: `n` asks for no auth, `p` for client_secret_post.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\0');
    let values: [Option<String>; 8] =
        std::array::from_fn(|_| fields.next().filter(|v| !v.is_empty()).map(str::to_owned));
    let flags = fields.next().unwrap_or("");
    fhir_kindling::fuzzing::env(&values, flags.contains('n'), flags.contains('p'));
});
