//! The search-query builder and the query-string helpers. Fields separated by NUL bytes: the
//! resource type; a raw query string and a name and value for set/remove/has; then builder calls
//! in threes `op, a, b`, the op's first letter choosing the call: `p` param(a, b); `w` where
//! (the rest of the op is the prefix or `:modifier`) a, b; `i`/`r` (rev)include a, iterate if b
//! is non-empty; `h` has(a, b); `s` sort(a); `e` elements(a); `m` summary(a); `c` page_size(a).
#![no_main]

use fhir_kindling::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields: Vec<&str> = text.split('\0').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let selector = data.first().copied().unwrap_or(0);
    fhir_kindling::fuzzing::query_string(field(1), field(2), field(3), selector);

    let Ok(mut q) = Query::new(field(0)) else {
        return;
    };
    for call in fields.get(4..).unwrap_or(&[]).chunks(3).take(16) {
        let op = call[0];
        let a = call.get(1).copied().unwrap_or("");
        let b = call.get(2).copied().unwrap_or("");
        let _ = match op.chars().next() {
            Some('p') => q.param(a, b),
            Some('w') => {
                let prefix = &op[1..];
                q.where_(a, (!prefix.is_empty()).then_some(prefix), b)
            }
            Some('i') => q.include(a, !b.is_empty()),
            Some('r') => q.revinclude(a, !b.is_empty()),
            Some('h') => q.has(a, b),
            Some('s') => q.sort(a),
            Some('e') => q.elements(a),
            Some('m') => q.summary(a),
            Some('c') => q.page_size(a.parse().unwrap_or(a.len() as u32)),
            _ => Ok(()),
        };
    }
    let built = q.build();
    fhir_kindling::fuzzing::built_query(&built, selector);
    fhir_kindling::fuzzing::query_string(&built, field(2), field(3), selector);
});
