//! One validating pass over a search page: the `next` link, `total`, and each entry as a span of
//! the page with its resource's span and search mode, without building anything else.
//!
//! It answers only when it is sure to agree with the serde reading of [`super::bundle`]: the page
//! is strict JSON (UTF-8, escapes, numbers, literals, nesting depth, nothing after the value), the
//! Bundle's own members have the expected types and no escapes, and no member the reading uses is
//! repeated. Anything else — malformed JSON, escapes in names or in the values read, repeated
//! members, a nesting deeper than serde_json allows — gives `None` for the page, or no view for one
//! entry, and the caller reads that with serde, which finds the same data or reports the same
//! error as always. So this is an accelerator, never a second opinion.
//!
//! Why: serde_json spends ~14 instructions per byte to validate a page and did it twice for every
//! entry (the page, then each entry again for its resource and mode); this pass costs a few
//! instructions per byte, most of it in the 8-bytes-at-a-time string scan.

use std::ops::Range;

#[cfg(target_arch = "x86_64")]
mod skip;

/// serde_json refuses nesting past 128 levels; stay well below so that a page this accepts is
/// never one serde refuses.
const MAX_DEPTH: u32 = 100;

/// What one pass found in a page (spans are byte offsets into it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    pub total: Option<u64>,
    pub next: Option<Range<usize>>,
    pub entries: Vec<ScannedEntry>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ScannedEntry {
    /// The whole entry value.
    pub raw: Range<usize>,
    /// Its resource and search mode, or None when the entry must be read by serde (not an
    /// object, a repeated or escaped member, a member of an unexpected type).
    pub view: Option<EntryScan>,
}

#[derive(Debug, PartialEq, Eq, Default)]
pub(crate) struct EntryScan {
    /// The `resource` value (None when absent or null).
    pub resource: Option<Range<usize>>,
    /// The text of `search.mode` (None when absent or null).
    pub mode: Option<Range<usize>>,
}

/// Scan a page. `views`: also find each entry's resource and mode (the pages mode needs only the
/// validation and the link). `max_entries`: more entries than this give None (serde's reading
/// reports the limit).
pub(crate) fn scan_page(body: &[u8], views: bool, max_entries: usize) -> Option<Scanned> {
    // Strings are checked for UTF-8 once, here, for the whole page (serde checks them one by one).
    if !is_utf8(body) {
        return None;
    }
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    let page = s.page(Read::Whole { views, max_entries })?;
    s.ws();
    (s.i == body.len()).then_some(page)
}

/// `std::str::from_utf8(b).is_ok()`, with ASCII skipped a block at a time where the processor
/// can.
fn is_utf8(b: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if skip::available() {
        // SAFETY: available() said so.
        return unsafe { skip::is_utf8(b) };
    }
    std::str::from_utf8(b).is_ok()
}

/// The `next` link of a page read only up to its entries: Some when the Bundle's members before
/// `entry` include a `link` with a next URL, all of them well-formed as [`scan_page`] reads
/// them. Then a page that is valid JSON has this link and no other (a second `link` member is
/// refused by serde too), so the next page can be asked for before the rest of this one is
/// read; a page that turns out malformed fails as it would have. None means nothing is known
/// yet (no link before the entries, the last page, or something [`scan_page`] would leave to
/// serde).
pub(crate) fn scan_next_link(body: &[u8]) -> Option<&str> {
    let mut s = Scanner { b: body, i: 0 };
    let next = s.page(Read::UpToTheLink)?.next?;
    // The page's UTF-8 is checked later, with the rest of it.
    std::str::from_utf8(&body[next]).ok()
}

/// How far [`Scanner::page`] reads.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// The whole page; `views`: with each entry's resource and mode; at most `max_entries`.
    Whole { views: bool, max_entries: usize },
    /// The members before `entry`, stopping after `link` (None without a `link` before it).
    UpToTheLink,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

/// A string value: the span of its text (between the quotes) and whether it holds an escape.
struct Str {
    text: Range<usize>,
    escaped: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

impl<'a> Scanner<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        self.i = skip_ws(self.b, self.i);
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// The top-level object: the Bundle's members.
    fn page(&mut self, read: Read) -> Option<Scanned> {
        self.eat(b'{')?;
        let mut page = Scanned {
            total: None,
            next: None,
            entries: Vec::new(),
        };
        let (mut saw_rt, mut saw_type, mut saw_total, mut saw_link, mut saw_entry) =
            (false, false, false, false, false);
        let mut resource_type = None;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return None; // no resourceType: not a Bundle, serde says so
        }
        loop {
            let key = self.key()?;
            match &self.b[key] {
                b"resourceType" => {
                    once(&mut saw_rt)?;
                    resource_type = self.opt_plain_string()?;
                }
                b"type" => {
                    once(&mut saw_type)?;
                    self.opt_plain_string()?;
                }
                b"total" => {
                    once(&mut saw_total)?;
                    page.total = self.opt_u64()?;
                }
                b"link" => {
                    once(&mut saw_link)?;
                    page.next = self.links()?;
                    if read == Read::UpToTheLink {
                        return Some(page);
                    }
                }
                b"entry" => {
                    once(&mut saw_entry)?;
                    let Read::Whole { views, max_entries } = read else {
                        return None;
                    };
                    page.entries = self.entries(views, max_entries)?;
                }
                _ => self.value(1)?,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        let rt = resource_type?;
        (&self.b[rt] == b"Bundle").then_some(page)
    }

    /// After a member or element: true on `,`, false on `close`, None otherwise.
    #[inline(always)]
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// A member name without escapes, then the colon.
    #[inline(always)]
    fn key(&mut self) -> Option<Range<usize>> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let s = self.string()?;
        if s.escaped {
            return None;
        }
        self.eat(b':')?;
        Some(s.text)
    }

    /// A member name that may have escapes (inside an entry: then the entry goes to serde).
    #[inline(always)]
    fn key_any(&mut self) -> Option<Str> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let s = self.string()?;
        self.eat(b':')?;
        Some(s)
    }

    /// A string without escapes, or null (None inside).
    fn opt_plain_string(&mut self) -> Option<Option<Range<usize>>> {
        self.ws();
        match self.peek()? {
            b'"' => {
                let s = self.string()?;
                (!s.escaped).then_some(Some(s.text))
            }
            b'n' => self.literal(b"null").map(|_| None),
            _ => None,
        }
    }

    /// A non-negative integer that fits u64, or null.
    fn opt_u64(&mut self) -> Option<Option<u64>> {
        self.ws();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| None),
            b'0'..=b'9' => {
                let start = self.i;
                self.number()?;
                let text = &self.b[start..self.i];
                if text.len() > 1 && text[0] == b'0' {
                    return None;
                }
                let mut n: u64 = 0;
                for &d in text {
                    if !d.is_ascii_digit() {
                        return None; // a fraction or an exponent: serde refuses it for u64
                    }
                    n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                }
                Some(Some(n))
            }
            _ => None,
        }
    }

    /// `link`: an array of objects; the url of the first `next` link with a non-empty url, as the
    /// serde reading does.
    fn links(&mut self) -> Option<Option<Range<usize>>> {
        self.eat(b'[')?;
        let mut next: Option<Range<usize>> = None;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(None);
        }
        loop {
            self.eat(b'{')?;
            let (mut relation, mut url) = (None, None);
            let (mut saw_rel, mut saw_url) = (false, false);
            self.ws();
            if self.peek()? == b'}' {
                self.i += 1;
            } else {
                loop {
                    let key = self.key()?;
                    match &self.b[key] {
                        b"relation" => {
                            once(&mut saw_rel)?;
                            relation = self.opt_plain_string()?;
                        }
                        b"url" => {
                            once(&mut saw_url)?;
                            url = self.opt_plain_string()?;
                        }
                        _ => self.value(3)?,
                    }
                    if !self.more(b'}')? {
                        break;
                    }
                }
            }
            if next.is_none() && relation.is_some_and(|r| &self.b[r] == b"next") {
                next = url.filter(|u| !u.is_empty());
            }
            if !self.more(b']')? {
                break;
            }
        }
        Some(next)
    }

    /// `entry`: an array of values, each kept as a span (with its view when asked for).
    fn entries(&mut self, views: bool, max_entries: usize) -> Option<Vec<ScannedEntry>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(out);
        }
        loop {
            if out.len() == max_entries {
                return None;
            }
            self.ws();
            let start = self.i;
            let view = if views && self.peek()? == b'{' {
                self.entry()?
            } else {
                self.value(2)?;
                None
            };
            out.push(ScannedEntry {
                raw: start..self.i,
                view,
            });
            if !self.more(b']')? {
                break;
            }
        }
        Some(out)
    }

    /// One entry object (at depth 2). Outer None: the page is malformed; inner None: the entry
    /// is well-formed JSON but is left to serde.
    fn entry(&mut self) -> Option<Option<EntryScan>> {
        self.i += 1; // '{'
        let mut view = EntryScan::default();
        let mut ok = true;
        let (mut saw_res, mut saw_search, mut saw_resp) = (false, false, false);
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(Some(view));
        }
        loop {
            let key = self.key_any()?;
            let name: &[u8] = if key.escaped { b"" } else { &self.b[key.text] };
            ok &= !key.escaped;
            match name {
                b"resource" => {
                    ok &= once(&mut saw_res).is_some();
                    self.ws();
                    let start = self.i;
                    if self.peek()? == b'n' && self.b[start..].starts_with(b"null") {
                        self.literal(b"null")?;
                    } else {
                        self.value(3)?;
                        view.resource = Some(start..self.i);
                    }
                }
                b"search" => {
                    ok &= once(&mut saw_search).is_some();
                    let (good, mode) = self.search()?;
                    ok &= good;
                    view.mode = mode;
                }
                b"response" => {
                    ok &= once(&mut saw_resp).is_some();
                    ok &= self.response()?;
                }
                _ => self.value(3)?,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        Some(ok.then_some(view))
    }

    /// `search`: null, or an object whose `mode` is a string without escapes or null. Returns
    /// (whether serde reads it the same way, the mode's text).
    fn search(&mut self) -> Option<(bool, Option<Range<usize>>)> {
        self.ws();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| (true, None)),
            b'{' => {
                self.i += 1;
                let mut ok = true;
                let mut mode = None;
                let mut saw_mode = false;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some((true, None));
                }
                loop {
                    let key = self.key_any()?;
                    ok &= !key.escaped;
                    if !key.escaped && &self.b[key.text.clone()] == b"mode" {
                        ok &= once(&mut saw_mode).is_some();
                        self.ws();
                        match self.peek()? {
                            b'"' => {
                                let s = self.string()?;
                                ok &= !s.escaped;
                                mode = Some(s.text);
                            }
                            b'n' => self.literal(b"null")?,
                            _ => {
                                ok = false;
                                self.value(4)?;
                            }
                        }
                    } else {
                        self.value(4)?;
                    }
                    if !self.more(b'}')? {
                        break;
                    }
                }
                Some((ok, mode))
            }
            _ => {
                self.value(3)?;
                Some((false, None))
            }
        }
    }

    /// `response`: null, or an object whose `status` and `location` are strings without escapes
    /// or null (`outcome` may be anything). Returns whether serde reads it without complaint.
    fn response(&mut self) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| true),
            b'{' => {
                self.i += 1;
                let mut ok = true;
                let (mut saw_status, mut saw_location, mut saw_outcome) = (false, false, false);
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(true);
                }
                loop {
                    let key = self.key_any()?;
                    ok &= !key.escaped;
                    let name: &[u8] = if key.escaped { b"" } else { &self.b[key.text] };
                    match name {
                        b"status" | b"location" => {
                            let seen = if name == b"status" {
                                &mut saw_status
                            } else {
                                &mut saw_location
                            };
                            ok &= once(seen).is_some();
                            self.ws();
                            match self.peek()? {
                                b'"' => ok &= !self.string()?.escaped,
                                b'n' => self.literal(b"null")?,
                                _ => {
                                    ok = false;
                                    self.value(4)?;
                                }
                            }
                        }
                        b"outcome" => {
                            ok &= once(&mut saw_outcome).is_some();
                            self.value(4)?;
                        }
                        _ => self.value(4)?,
                    }
                    if !self.more(b'}')? {
                        break;
                    }
                }
                Some(ok)
            }
            _ => {
                self.value(3)?;
                Some(false)
            }
        }
    }

    /// Any JSON value at nesting `depth` (the page object is depth 1): one loop with its own
    /// stack of open containers (a bit each: object or array), no recursion.
    fn value(&mut self, depth: u32) -> Option<()> {
        // Objects and arrays are skipped 64 bytes at a time when the processor can (most of a
        // page is its entries' resources); the loop below is the reference and the fallback.
        #[cfg(target_arch = "x86_64")]
        {
            let i = skip_ws(self.b, self.i);
            if self.b.len() - i >= 64 && matches!(self.b[i], b'{' | b'[') && skip::available() {
                // SAFETY: the processor has the features `container` is compiled for.
                self.i = unsafe { skip::container(self.b, i, depth, MAX_DEPTH) }?;
                return Some(());
            }
        }
        self.value_bytes(depth)
    }

    /// [`Self::value`] a byte at a time.
    fn value_bytes(&mut self, depth: u32) -> Option<()> {
        let b = self.b;
        let mut i = self.i;
        let mut stack: u128 = 0; // bit 0: the innermost open container is an object
        let mut open: u32 = 0;
        'value: loop {
            i = skip_ws(b, i);
            match *b.get(i)? {
                b'"' => i = skip_string(b, i + 1)?,
                c @ (b'{' | b'[') => {
                    if depth + open >= MAX_DEPTH {
                        return None;
                    }
                    let close = if c == b'{' { b'}' } else { b']' };
                    i = skip_ws(b, i + 1);
                    if *b.get(i)? == close {
                        i += 1;
                    } else {
                        stack = (stack << 1) | u128::from(c == b'{');
                        open += 1;
                        if c == b'{' {
                            i = skip_key(b, i)?;
                        }
                        continue 'value;
                    }
                }
                b't' => i = skip_literal(b, i, b"true")?,
                b'f' => i = skip_literal(b, i, b"false")?,
                b'n' => i = skip_literal(b, i, b"null")?,
                b'-' | b'0'..=b'9' => {
                    self.i = i;
                    self.number()?;
                    i = self.i;
                }
                _ => return None,
            }
            // After a value: separators and the ends of containers.
            loop {
                if open == 0 {
                    self.i = i;
                    return Some(());
                }
                i = skip_ws(b, i);
                let object = stack & 1 == 1;
                match *b.get(i)? {
                    b',' => {
                        i += 1;
                        if object {
                            i = skip_key(b, skip_ws(b, i))?;
                        }
                        continue 'value;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                i += 1;
                stack >>= 1;
                open -= 1;
            }
        }
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// RFC 8259 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(())
    }

    #[inline(always)]
    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// A string starting at the opening quote: escapes checked as serde checks them, control
    /// characters refused. The body's UTF-8 was checked once for the whole page.
    #[inline(always)]
    fn string(&mut self) -> Option<Str> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        let b = self.b;
        loop {
            // Eight bytes at a time to the next quote, backslash or control character: a byte
            // is one when it XORs to zero with '"' or '\\' or is below 0x20, tested together
            // (those three tests share the `!x & HIGHS` part: '"' and '\\' are ASCII).
            while let Some(chunk) = b[self.i..].first_chunk::<8>() {
                let x = u64::from_le_bytes(*chunk);
                let hits = ((x ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES)
                    | (x ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES)
                    | x.wrapping_sub(ONES * 0x20))
                    & !x
                    & HIGHS;
                if hits != 0 {
                    self.i += (hits.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            let c = *b.get(self.i)?;
            match c {
                b'"' => {
                    let text = start..self.i;
                    self.i += 1;
                    return Some(Str { text, escaped });
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(self.i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = b.get(self.i + 2..self.i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }
}

/// A member seen for the first time (Some), or again (None).
#[inline(always)]
fn once(seen: &mut bool) -> Option<()> {
    if std::mem::replace(seen, true) {
        None
    } else {
        Some(())
    }
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Compact JSON has none: one comparison in the common case.
    if b.get(i).is_some_and(|&c| c > b' ') {
        return i;
    }
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

#[inline(always)]
fn skip_literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b[i..].starts_with(word).then_some(i + word.len())
}

/// A member name at `i` (its opening quote) and the colon after it: the index after the colon.
#[inline(always)]
fn skip_key(b: &[u8], i: usize) -> Option<usize> {
    if *b.get(i)? != b'"' {
        return None;
    }
    let i = skip_ws(b, skip_string(b, i + 1)?);
    (*b.get(i)? == b':').then_some(i + 1)
}

/// The rest of a string whose opening quote is before `i`: the index after its closing quote.
#[inline(always)]
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut s = Scanner { b, i: i - 1 };
    s.string()?;
    Some(s.i)
}

#[cfg(test)]
mod tests {
    /// Whether the block-wise code can run on this processor (else a test has nothing to compare).
    #[cfg(target_arch = "x86_64")]
    fn block_code_runs_here() -> bool {
        let here = super::skip::available();
        if !here {
            eprintln!("no AVX2/PCLMULQDQ here: nothing to compare");
        }
        here
    }

    /// A xorshift64 generator: the same pseudo-random inputs on every run.
    #[cfg(target_arch = "x86_64")]
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The 64-bytes-at-a-time skip (`skip::container`) agrees with the byte loop on where a
    /// value ends and on what it refuses: realistic entries mutated at random (quotes,
    /// backslashes, brackets, separators, control bytes, digits, literal letters inserted,
    /// replaced or removed), every object or array start of each, at several depths.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn block_skip_agrees_with_the_byte_loop() {
        if !block_code_runs_here() {
            return;
        }
        let seeds: [&[u8]; 4] = [
            br#"{"fullUrl":"http://x/fhir/Patient/1","resource":{"resourceType":"Patient","id":"p-1","meta":{"versionId":"1"},"active":true,"deceasedBoolean":false,"multipleBirthInteger":-12,"x":1.5e-3,"y":0,"z":null,"name":[{"family":"M\u00fcller","given":["Anna","B\"en\\\\"],"text":"tab\there / \/ \b\f\n\r"}],"empty":{},"list":[],"nested":[[[{}]],[1,2,[3]]]},"search":{"mode":"match"}}"#,
            "{\"a\":[\"K\u{f6}ln\",\"\u{1F600}\",{\"b\":[true,false,null,-0.0,12E+2,0.5]}] , \"c\" : { \"d\" :\n[ 1 ,\t2 ]\r} }".as_bytes(),
            br#"[{"k":"\\\\\\\""},"\\\\","x\\\"y\\","\u0041\u00e9\uD83D\uDE00",[],{},[[]],"................................................................"]"#,
            br#"{"resourceType":"Bundle","link":[{"relation":"next","url":"http://127.0.0.1/fhir?_page=2&x=%22"}],"entry":[{"resource":{"id":"1"}},{"resource":{"id":"2","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a &amp; b</div>"}}}]}"#,
        ];
        let specials: &[u8] = b"\"\\{}[]:, \t\n\r\x0c\x1a\x01\x1f0-.eE+tfnlrsuax\xc3\xbc\x7f";
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let mut compared = 0u64;
        for round in 0..6000 {
            let seed = seeds[round % seeds.len()];
            // Long enough for several blocks, with the seed repeated inside an array.
            let mut doc = b"[".to_vec();
            for k in 0..(1 + round % 5) {
                if k > 0 {
                    doc.push(b',');
                }
                doc.extend_from_slice(seed);
            }
            doc.push(b']');
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % doc.len();
                let c = specials[(next() as usize) % specials.len()];
                match next() % 3 {
                    0 => doc[at] = c,
                    1 => doc.insert(at, c),
                    _ => {
                        doc.remove(at);
                    }
                }
            }
            // Bytes after the value: the skip must not judge them.
            if next() % 2 == 0 {
                doc.extend_from_slice(b" ,\x01\"\\u");
            }
            for start in 0..doc.len() {
                if !matches!(doc[start], b'{' | b'[') || doc.len() - start < 64 {
                    continue;
                }
                let depth = 1 + (next() % 3) as u32;
                let mut s = super::Scanner { b: &doc, i: start };
                let bytes = s.value_bytes(depth).map(|_| s.i);
                // SAFETY: available() was checked above.
                let blocks =
                    unsafe { super::skip::container(&doc, start, depth, super::MAX_DEPTH) };
                assert_eq!(
                    blocks,
                    bytes,
                    "start {start} depth {depth} in {:?}",
                    String::from_utf8_lossy(&doc)
                );
                compared += 1;
            }
        }
        assert!(compared > 10_000, "{compared}");
        // Nesting one level below, at and past the limit, in one block and across blocks.
        for pad in [0, 70] {
            for levels in [super::MAX_DEPTH - 2, super::MAX_DEPTH - 1, super::MAX_DEPTH] {
                let mut doc = vec![b'['; levels as usize];
                doc.extend(std::iter::repeat_n(b' ', pad));
                doc.extend(std::iter::repeat_n(b']', levels as usize));
                let mut s = super::Scanner { b: &doc, i: 0 };
                let bytes = s.value_bytes(1).map(|_| s.i);
                // SAFETY: available() was checked above.
                let blocks = unsafe { super::skip::container(&doc, 0, 1, super::MAX_DEPTH) };
                assert_eq!(blocks, bytes, "{levels} levels");
            }
        }
    }

    /// The block-wise UTF-8 check says what the standard library says: texts of ASCII and two-,
    /// three- and four-byte characters around and across the 64-byte blocks, mutated at random
    /// (bytes replaced, inserted or removed: continuation bytes alone, lead bytes cut off,
    /// overlong forms, surrogates, bytes never used in UTF-8).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn block_utf8_check_agrees_with_the_standard_library() {
        if !block_code_runs_here() {
            return;
        }
        let long = "\u{c4}\u{d6}\u{dc}\u{e4}\u{f6}\u{fc}\u{df}".repeat(6) + &"\u{1F600}".repeat(20);
        let pieces: [&str; 8] = [
            "a",
            "K\u{f6}ln ",
            "\u{df}",
            "\u{20ac}uro",
            "\u{1F600}",
            "\\u00e9\\\"",
            "......................",
            &long,
        ];
        let bad: &[&[u8]] = &[
            b"\x80",
            b"\xc3",
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xff",
            b"\xf5\x80\x80\x80",
        ];
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let (mut valid, mut invalid) = (0, 0);
        for round in 0..20_000 {
            let mut doc = Vec::new();
            for _ in 0..(round % 97) {
                doc.extend_from_slice(pieces[(next() as usize) % pieces.len()].as_bytes());
            }
            for _ in 0..(next() % 3) {
                if doc.is_empty() {
                    break;
                }
                let at = (next() as usize) % doc.len();
                match next() % 3 {
                    0 => doc[at] = (next() % 256) as u8,
                    1 => {
                        let b = bad[(next() as usize) % bad.len()];
                        doc.splice(at..at, b.iter().copied());
                    }
                    _ => {
                        doc.remove(at);
                    }
                }
            }
            let want = std::str::from_utf8(&doc).is_ok();
            // SAFETY: available() was checked above.
            assert_eq!(unsafe { super::skip::is_utf8(&doc) }, want, "{doc:?}");
            if want {
                valid += 1
            } else {
                invalid += 1
            }
        }
        assert!(
            valid > 1000 && invalid > 1000,
            "{valid} valid, {invalid} invalid"
        );
    }

    /// The eight-bytes-at-a-time search stops exactly where a byte-by-byte one does: every byte
    /// value at every position of a chunk, with a second special byte after it.
    #[test]
    fn string_scan_stops_at_the_first_special_byte() {
        let special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
        for p1 in 0..10 {
            for v1 in 0..=255u8 {
                for (p2, v2) in [(p1 + 1, b'"'), (p1 + 3, b'\\'), (p1 + 2, 0x1f), (11, b'"')] {
                    let mut text = vec![b'a'; 12];
                    text[p1] = v1;
                    if p2 < 12 {
                        text[p2] = v2;
                    }
                    text.push(b'"');
                    let want = text.iter().position(|&c| special(c)).unwrap();
                    let mut body = vec![b'"'];
                    body.extend_from_slice(&text);
                    let mut s = super::Scanner { b: &body, i: 0 };
                    let got = s.string();
                    match body[1 + want] {
                        b'"' => assert_eq!(got.map(|g| g.text.end), Some(1 + want), "{body:?}"),
                        // An escape or a control character: not a plain end at that byte.
                        _ => assert_ne!(
                            got.map(|g| (g.text.end, g.escaped)),
                            Some((1 + want, false))
                        ),
                    }
                }
            }
        }
    }
}
