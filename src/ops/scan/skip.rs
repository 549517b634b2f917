//! Skipping one JSON object or array 64 bytes at a time: a structural index per block (which
//! bytes are quotes, backslashes, brackets, separators, whitespace, control characters; which
//! lie inside strings), then a small state machine over the structural bytes only — the bytes
//! inside strings are never looked at one by one.
//!
//! The idea is simdjson's stage 1 (Langdale and Lemire, "Parsing Gigabytes of JSON per Second",
//! 2019): classify with vector compares and a nibble lookup, find escaped bytes from runs of
//! backslashes, and turn the unescaped quotes into an in-string mask with a carry-less multiply
//! (a prefix XOR). Here it validates as it goes and builds nothing, and accepts exactly what the
//! byte-at-a-time loop of [`super::Scanner`] accepts (strict RFC 8259 syntax: escapes, control
//! characters in strings, numbers, literals, whitespace, the nesting limit); the UTF-8 of the
//! page is checked once before. `tests` and the `page` fuzz target compare the two on the same
//! inputs.
//!
//! It needs AVX2 and PCLMULQDQ, detected at run time; without them the byte loop runs.

use std::arch::x86_64::{
    __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
    _mm256_or_si256, _mm256_set1_epi8, _mm256_shuffle_epi8, _mm_clmulepi64_si128,
    _mm_cvtsi128_si64, _mm_set1_epi8, _mm_set_epi64x,
};

/// Whether this processor can run [`container`] (the answer is cached by the standard library).
#[inline(always)]
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("pclmulqdq")
}

/// Whether `b` is UTF-8, as `std::str::from_utf8` says, ASCII skipped 64 bytes at a time.
///
/// UTF-8 encodes a character either as one ASCII byte or as bytes that are all 0x80 or above,
/// so a text is UTF-8 exactly when each of its longest runs of such bytes (between ASCII bytes or
/// the ends) is UTF-8 on its own; only the stretch of a block from its first such run to the end
/// of its last goes to the standard library's check. FHIR text is mostly ASCII, with runs of
/// two or three bytes (umlauts, accents): the standard check spent about 0.57 instructions per
/// byte on a page, nearly all of it on the ASCII.
///
/// # Safety
/// Only when [`available`] is true.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn is_utf8(b: &[u8]) -> bool {
    let mut i = 0;
    // Invariant: no run of non-ASCII bytes begins before `i` and goes on past it (`i` is 0, or
    // b[i - 1] or b[i] is ASCII), so the first non-ASCII byte from `i` on begins a run.
    while b.len() - i >= 64 {
        let p = b.as_ptr().add(i);
        let (lo, hi) = (
            _mm256_loadu_si256(p as *const __m256i),
            _mm256_loadu_si256(p.add(32) as *const __m256i),
        );
        let high = mask(lo, hi);
        if high == 0 {
            i += 64;
            continue;
        }
        // From the block's first run to the end of its last one, in one check (the ASCII bytes
        // between runs are valid on their own).
        let start = i + high.trailing_zeros() as usize;
        let end = ascii_from(b, i + 63 - high.leading_zeros() as usize);
        if std::str::from_utf8(&b[start..end]).is_err() {
            return false;
        }
        // b[end] is ASCII (or the text ends there).
        i = end;
    }
    std::str::from_utf8(&b[i..]).is_ok()
}

/// The index of the first ASCII byte at or after `i` (`b.len()` when there is none).
#[target_feature(enable = "avx2")]
unsafe fn ascii_from(b: &[u8], mut i: usize) -> usize {
    while b.len() - i >= 32 {
        let v = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
        let ascii = !(_mm256_movemask_epi8(v) as u32);
        if ascii != 0 {
            return i + ascii.trailing_zeros() as usize;
        }
        i += 32;
    }
    b[i..]
        .iter()
        .position(u8::is_ascii)
        .map_or(b.len(), |k| i + k)
}

/// The classes of the 64 bytes of one block, a bit per byte (bit k = byte k).
struct Block {
    quote: u64,
    backslash: u64,
    /// `{ } [ ] : ,` (and the control bytes 0x0C and 0x1A, which the lookup cannot tell from
    /// `,` and `:`; the state machine reads the byte itself and refuses them).
    op: u64,
    /// Whitespace, `op` and quotes: what is not part of a number or literal outside strings.
    not_scalar: u64,
    control: u64,
}

#[inline(always)]
unsafe fn mask(lo: __m256i, hi: __m256i) -> u64 {
    (_mm256_movemask_epi8(lo) as u32 as u64) | ((_mm256_movemask_epi8(hi) as u32 as u64) << 32)
}

/// Indexed by the low nibble of (byte | 0x20): `{` and `[` (0x7B, 0x5B) both become 0x7B, `}`
/// and `]` 0x7D, `,` 0x2C, `:` 0x3A; every other entry is 0, which no (byte | 0x20) equals.
/// Twice: `vpshufb` looks up within each 16-byte half.
#[rustfmt::skip]
static OP_TABLE: [u8; 32] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3A, 0x7B, 0x2C, 0x7D, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3A, 0x7B, 0x2C, 0x7D, 0, 0,
];
/// Indexed by the low nibble of the byte: space, tab, line feed, carriage return.
#[rustfmt::skip]
static WS_TABLE: [u8; 32] = [
    0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x0A, 0, 0, 0x0D, 0, 0,
    0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x0A, 0, 0, 0x0D, 0, 0,
];

// Not inlined: LLVM otherwise turns the bit masks back into vectors of booleans and extracts
// them byte by byte (several times slower).
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn classify(p: *const u8) -> Block {
    let lo = _mm256_loadu_si256(p as *const __m256i);
    let hi = _mm256_loadu_si256(p.add(32) as *const __m256i);
    let op_table = _mm256_loadu_si256(OP_TABLE.as_ptr() as *const __m256i);
    let ws_table = _mm256_loadu_si256(WS_TABLE.as_ptr() as *const __m256i);
    let (q, bs, x20, c1f) = (
        _mm256_set1_epi8(b'"' as i8),
        _mm256_set1_epi8(b'\\' as i8),
        _mm256_set1_epi8(0x20),
        _mm256_set1_epi8(0x1F),
    );
    let (q_lo, q_hi) = (_mm256_cmpeq_epi8(lo, q), _mm256_cmpeq_epi8(hi, q));
    let (op_lo, op_hi) = (
        in_table(op_table, lower(lo, x20)),
        in_table(op_table, lower(hi, x20)),
    );
    let (ns_lo, ns_hi) = (
        _mm256_or_si256(_mm256_or_si256(q_lo, op_lo), in_table(ws_table, lo)),
        _mm256_or_si256(_mm256_or_si256(q_hi, op_hi), in_table(ws_table, hi)),
    );
    Block {
        quote: mask(q_lo, q_hi),
        backslash: mask(_mm256_cmpeq_epi8(lo, bs), _mm256_cmpeq_epi8(hi, bs)),
        op: mask(op_lo, op_hi),
        not_scalar: mask(ns_lo, ns_hi),
        control: mask(at_most(lo, c1f), at_most(hi, c1f)),
    }
}

// Helpers of `classify` (functions, not closures, so that they are compiled for AVX2 too).

/// Each byte ORed with 0x20 (`x20`): `[` and `]` fall on `{` and `}`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lower(v: __m256i, x20: __m256i) -> __m256i {
    _mm256_or_si256(v, x20)
}

/// 0xFF where the byte equals the table's entry at its low nibble (0 for bytes >= 0x80).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn in_table(table: __m256i, v: __m256i) -> __m256i {
    _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, v), v)
}

/// 0xFF where the byte is at most `max` (unsigned).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn at_most(v: __m256i, max: __m256i) -> __m256i {
    _mm256_cmpeq_epi8(_mm256_min_epu8(v, max), v)
}

/// XOR of each bit with all bits below it: from the bits of the quotes that open or close a
/// string, the bytes from an opening quote up to (not including) its closing quote.
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn prefix_xor(bits: u64) -> u64 {
    let x = _mm_set_epi64x(0, bits as i64);
    _mm_cvtsi128_si64(_mm_clmulepi64_si128(x, _mm_set1_epi8(-1), 0)) as u64
}

/// The bytes escaped by a backslash (the byte after each backslash that is not itself escaped).
/// `carry`: the previous block ended with such a backslash (in), this one does (out). Backslashes
/// are rare in FHIR data, so this walks them one by one.
#[inline]
fn escaped(backslash: u64, carry: &mut bool) -> u64 {
    let mut out = 0u64;
    let mut m = backslash;
    if std::mem::take(carry) {
        out |= 1;
        m &= !1;
    }
    while m != 0 {
        let i = m.trailing_zeros();
        if i == 63 {
            *carry = true;
            break;
        }
        out |= 1 << (i + 1);
        // This backslash and the byte it escapes (which may be a backslash).
        m &= !(0b11u64 << i);
    }
    out
}

/// The block-to-block state of [`container`]: the structural bytes of the text from a start
/// position on, classified 64 bytes at a time — `{ } [ ] : ,`, the opening quote of each string
/// and the first byte of each number or literal (and of anything else outside strings, which
/// the grammar then refuses). What a block holds besides (control characters in strings,
/// escapes) is checked once the block is consumed, or up to the end of the value in the last
/// one. The current block's offset and its structural bytes not yet taken are locals of
/// `container` (kept in registers).
struct Blocks<'a> {
    b: &'a [u8],
    /// Control bytes inside strings, and escaped bytes, of the current block.
    control: u64,
    escaped: u64,
    /// Carries from block to block.
    in_string: u64,
    escape_carry: bool,
    scalar_carry: u64,
}

impl Blocks<'_> {
    /// Index the block at `pos`: its structural bytes.
    ///
    /// # Safety
    /// Only when [`available`] is true.
    #[target_feature(enable = "avx2,pclmulqdq")]
    unsafe fn load(&mut self, pos: usize) -> u64 {
        let b = self.b;
        let block = if b.len() - pos >= 64 {
            classify(b.as_ptr().add(pos))
        } else {
            // The last bytes, padded with spaces: no structural byte, no string closed.
            let mut tail = [b' '; 64];
            tail[..b.len() - pos].copy_from_slice(&b[pos..]);
            classify(tail.as_ptr())
        };
        let esc = if block.backslash == 0 && !self.escape_carry {
            0
        } else {
            escaped(block.backslash, &mut self.escape_carry)
        };
        let quotes = block.quote & !esc;
        let strings = prefix_xor(quotes) ^ self.in_string;
        self.in_string = ((strings as i64) >> 63) as u64;
        // Bytes outside strings that are neither whitespace, nor `{}[]:,`, nor a quote: the
        // bytes of numbers and literals (and anything invalid there).
        let scalar = !(strings | block.not_scalar);
        let starts = scalar & !((scalar << 1) | self.scalar_carry);
        self.scalar_carry = scalar >> 63;
        self.control = block.control & strings;
        self.escaped = esc;
        (block.op & !strings) | (quotes & strings) | starts
    }

    /// The block at `pos` is consumed: check it, index the next ones up to one with a
    /// structural byte (its offset and structural bytes). None when the block held a control
    /// character in a string or a bad escape, or when the text ends.
    ///
    /// # Safety
    /// Only when [`available`] is true.
    #[target_feature(enable = "avx2,pclmulqdq")]
    #[inline(never)]
    unsafe fn advance(&mut self, mut pos: usize) -> Option<(usize, u64)> {
        loop {
            if self.control != 0 {
                return None;
            }
            escapes_valid(self.b, pos, self.escaped)?;
            pos += 64;
            if pos >= self.b.len() {
                return None;
            }
            let pending = self.load(pos);
            if pending != 0 {
                return Some((pos, pending));
            }
        }
    }

    /// The value ended at `end` (the index after it) in the block at `pos`: check the block up
    /// to there.
    fn finish(&self, pos: usize, end: usize) -> Option<usize> {
        let before = u64::MAX >> (64 - (end - pos));
        if self.control & before != 0 {
            return None;
        }
        escapes_valid(self.b, pos, self.escaped & before)?;
        Some(end)
    }
}

/// The index after the object or array that opens at `b[start]` (`{` or `[`), whose nesting
/// depth is `depth` (the page object is 1): None when it is not strict JSON, is cut off, or
/// nests to `max_depth` — exactly when the byte loop of [`super::Scanner`] says so. The grammar
/// is walked as the byte loop walks it (what to expect is where the code is, so the processor
/// predicts it), over the structural bytes only.
///
/// # Safety
/// Only when [`available`] is true.
#[target_feature(enable = "avx2,pclmulqdq")]
pub(super) unsafe fn container(
    b: &[u8],
    start: usize,
    depth: u32,
    max_depth: u32,
) -> Option<usize> {
    debug_assert!(matches!(b.get(start), Some(b'{' | b'[')));
    let mut blocks = Blocks {
        b,
        control: 0,
        escaped: 0,
        in_string: 0,
        escape_carry: false,
        scalar_carry: 0,
    };
    let mut pos = start;
    let mut pending = blocks.load(pos);
    // The next structural byte's index (taken), and its byte without taking it.
    macro_rules! next {
        () => {{
            if pending == 0 {
                (pos, pending) = blocks.advance(pos)?;
            }
            let p = pos + pending.trailing_zeros() as usize;
            pending &= pending - 1;
            p
        }};
    }
    macro_rules! peek {
        () => {{
            if pending == 0 {
                (pos, pending) = blocks.advance(pos)?;
            }
            // Padding is whitespace: a structural byte lies in the text.
            *b.get_unchecked(pos + pending.trailing_zeros() as usize)
        }};
    }
    // A member name and its colon.
    macro_rules! member_name {
        () => {{
            let p = next!();
            if *b.get_unchecked(p) != b'"' {
                return None;
            }
            let p = next!();
            if *b.get_unchecked(p) != b':' {
                return None;
            }
        }};
    }
    let mut stack: u128 = 0; // bit 0: the innermost open container is an object
    let mut open: u32 = 0;
    'value: loop {
        let p = next!();
        match *b.get_unchecked(p) {
            c @ (b'{' | b'[') => {
                if depth + open >= max_depth {
                    return None;
                }
                let object = c == b'{';
                stack = (stack << 1) | u128::from(object);
                open += 1;
                if peek!() != if object { b'}' } else { b']' } {
                    if object {
                        member_name!();
                    }
                    continue 'value;
                }
                // Empty: its closing byte is taken below.
            }
            b'"' => {}
            b't' | b'f' | b'n' | b'-' | b'0'..=b'9' => scalar_at(b, p)?,
            _ => return None,
        }
        // After a value: separators and the ends of containers (the first value is the
        // container itself, so one is open here).
        loop {
            let p = next!();
            let object = stack & 1 == 1;
            match *b.get_unchecked(p) {
                b',' => {
                    if object {
                        member_name!();
                    }
                    continue 'value;
                }
                b'}' if object => {}
                b']' if !object => {}
                _ => return None,
            }
            stack >>= 1;
            open -= 1;
            if open == 0 {
                return blocks.finish(pos, p + 1);
            }
        }
    }
}

/// A number or literal starting at `p`, ending where a structural byte, whitespace or the end
/// of the page follows (so `truex`, `1.5.` or `-` are refused as the byte loop refuses them).
#[inline]
fn scalar_at(b: &[u8], p: usize) -> Option<()> {
    let end = match b[p] {
        b't' => super::skip_literal(b, p, b"true")?,
        b'f' => super::skip_literal(b, p, b"false")?,
        b'n' => super::skip_literal(b, p, b"null")?,
        b'-' | b'0'..=b'9' => {
            let mut s = super::Scanner { b, i: p };
            s.number()?;
            s.i
        }
        _ => return None,
    };
    match b.get(end) {
        None
        | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b'[' | b']' | b'{' | b'}' | b'"') => {
            Some(())
        }
        Some(_) => None,
    }
}

/// Each escaped byte (bits of the block at `pos`) is one of `" \ / b f n r t`, or `u` and four
/// hex digits.
#[inline]
fn escapes_valid(b: &[u8], pos: usize, mut esc: u64) -> Option<()> {
    while esc != 0 {
        let i = pos + esc.trailing_zeros() as usize;
        esc &= esc - 1;
        match *b.get(i)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
            b'u' => {
                if !b.get(i + 1..i + 5)?.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(())
}
