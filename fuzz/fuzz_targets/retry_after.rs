//! A `Retry-After` header value (the input up to the first NUL) and the retry wait derived from
//! it; the bytes after the NUL set the clock, the retry number, the jitter sample and the
//! policy's backoff factor and cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn take<const N: usize>(rest: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = rest.len().min(N);
    out[..n].copy_from_slice(&rest[..n]);
    *rest = &rest[n..];
    out
}

fuzz_target!(|data: &[u8]| {
    let (value, mut rest) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let value = String::from_utf8_lossy(value);
    let now = u64::from_le_bytes(take(&mut rest));
    let retry = u32::from_le_bytes(take(&mut rest));
    let unit = u32::from_le_bytes(take(&mut rest));
    let factor = f64::from_le_bytes(take(&mut rest));
    let cap = f64::from_le_bytes(take(&mut rest));
    fhir_kindling::fuzzing::retry_after(&value, now, retry, unit, factor, cap);
});
