//! Raw-JSON Bundle handling: parse a page's links, total and entries as slices of the server's
//! bytes; build Bundles by concatenating slices.

use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind, Result};
use crate::redact::quote;

#[derive(Deserialize)]
struct PageView<'a> {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(rename = "type")]
    bundle_type: Option<String>,
    total: Option<u64>,
    /// Only the first `next` link is kept: however many links a server sends, they cost nothing.
    #[serde(default, rename = "link", deserialize_with = "next_link")]
    next: Option<String>,
    #[serde(borrow, default, deserialize_with = "bounded_entries")]
    entry: Vec<&'a RawValue>,
}

/// The most entries one page may hold. Real servers page at a few thousand; each kept entry
/// costs 16 bytes however small, so an array of millions of tiny values would multiply the page's
/// size in memory.
pub(crate) const MAX_PAGE_ENTRIES: usize = 1_000_000;

#[derive(Deserialize)]
struct LinkView {
    relation: Option<String>,
    url: Option<String>,
}

fn next_link<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    struct Links;
    impl<'de> serde::de::Visitor<'de> for Links {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of links")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut next = None;
            while let Some(link) = seq.next_element::<LinkView>()? {
                if next.is_none() && link.relation.as_deref() == Some("next") {
                    next = link.url.filter(|u| !u.is_empty());
                }
            }
            Ok(next)
        }
    }
    d.deserialize_seq(Links)
}

fn bounded_entries<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<&'de RawValue>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of entries")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(e) = seq.next_element::<&'de RawValue>()? {
                if entries.len() == MAX_PAGE_ENTRIES {
                    return Err(serde::de::Error::custom(format_args!(
                        "{MAX_PAGE_ENTRIES_MARK} more than {MAX_PAGE_ENTRIES} entries in one page"
                    )));
                }
                entries.push(e);
            }
            Ok(entries)
        }
    }
    d.deserialize_seq(Entries)
}

/// Marks the entry-count error inside serde's message, to tell it from malformed JSON.
const MAX_PAGE_ENTRIES_MARK: &str = "limit:";

#[derive(Deserialize)]
pub struct EntryView<'a> {
    #[serde(borrow)]
    pub resource: Option<&'a RawValue>,
    pub search: Option<SearchView>,
    pub response: Option<ResponseView>,
}

#[derive(Deserialize)]
pub struct SearchView {
    pub mode: Option<String>,
}

#[derive(Deserialize)]
pub struct ResponseView {
    pub status: Option<String>,
    pub location: Option<String>,
    pub outcome: Option<Box<RawValue>>,
}

/// A Bundle parsed shallowly: entries stay raw.
#[derive(Debug)]
pub struct Page<'a> {
    pub bundle_type: Option<String>,
    pub total: Option<u64>,
    pub next: Option<String>,
    pub entries: Vec<&'a RawValue>,
}

pub fn parse_page(body: &[u8]) -> Result<Page<'_>> {
    let view: PageView = serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        if text.starts_with(MAX_PAGE_ENTRIES_MARK) {
            Error::new(
                ErrorKind::Limit,
                format!("the page has more than {MAX_PAGE_ENTRIES} entries; not read"),
            )
        } else {
            Error::json(format!(
                "the server's answer is not a valid Bundle: {}",
                quote(&text, 300)
            ))
        }
    })?;
    if view.resource_type.as_deref() != Some("Bundle") {
        return Err(Error::protocol(format!(
            "expected a Bundle, the server answered with resourceType {}",
            quote(view.resource_type.as_deref().unwrap_or("(none)"), 100)
        )));
    }
    Ok(Page {
        bundle_type: view.bundle_type,
        total: view.total,
        next: view.next,
        entries: view.entry,
    })
}

/// A search page read in one pass: its `next` link and `total`, and each entry as a span of the
/// page with its resource's span and search mode. Spans are byte ranges of the page, so the page
/// may be handed on (or NUL-terminated in place) while they are used.
#[derive(Debug, PartialEq)]
pub struct SearchPage {
    pub total: Option<u64>,
    pub next: Option<String>,
    /// The entries before the first malformed one (all of them when none is).
    pub entries: Vec<SearchEntry>,
    /// The first malformed entry's error: reported once the entries before it are handled, as
    /// when entries were read one by one.
    pub malformed: Option<Error>,
}

/// A [`SearchPage`] with its modes as text, to compare two readings of one page.
#[cfg(any(test, fuzzing))]
pub(crate) type ResolvedPage = (
    Option<u64>,
    Option<String>,
    Vec<(Range<usize>, Option<Range<usize>>, Option<String>)>,
    Option<Error>,
);

#[cfg(any(test, fuzzing))]
impl SearchPage {
    pub(crate) fn resolved(self, page: &[u8]) -> ResolvedPage {
        let entries = self
            .entries
            .iter()
            .map(|e| {
                (
                    e.raw.clone(),
                    e.resource.clone(),
                    e.mode(page).map(str::to_owned),
                )
            })
            .collect();
        (self.total, self.next, entries, self.malformed)
    }
}

/// One entry of a [`SearchPage`] (byte ranges of the page).
#[derive(Debug, PartialEq)]
pub struct SearchEntry {
    pub raw: Range<usize>,
    /// The resource, if the entry has one (only when views were asked for).
    pub resource: Option<Range<usize>>,
    pub mode: Option<EntryMode>,
}

/// A search mode: a span of the page, or text unescaped by serde.
#[derive(Debug, PartialEq)]
pub enum EntryMode {
    Span(Range<usize>),
    Owned(String),
}

impl SearchEntry {
    /// The search mode's text, None when the entry gives none.
    pub fn mode<'p>(&'p self, page: &'p [u8]) -> Option<&'p str> {
        match &self.mode {
            None => None,
            // The page's spans are UTF-8: checked when it was read.
            Some(EntryMode::Span(r)) => std::str::from_utf8(&page[r.clone()]).ok(),
            Some(EntryMode::Owned(s)) => Some(s),
        }
    }

    /// Whether a searchset entry is a match (no mode counts as a match), as [`is_match`].
    pub fn is_match(&self, page: &[u8]) -> bool {
        self.mode(page).is_none_or(|m| m == "match")
    }
}

/// Read a search page in one pass (see [`crate::ops::scan`]); `views`: with each entry's resource
/// and mode. The same result, and the same errors, as [`parse_page`] then [`entry_view`] per
/// entry, which is what this falls back to for anything the single pass leaves to serde.
pub fn parse_search_page(body: &[u8], views: bool) -> Result<SearchPage> {
    let Some(scanned) = crate::ops::scan::scan_page(body, views, MAX_PAGE_ENTRIES) else {
        return parse_search_page_serde(body, views);
    };
    let mut page = SearchPage {
        total: scanned.total,
        // The span holds no escape: its text is the link.
        next: scanned
            .next
            .map(|r| String::from_utf8_lossy(&body[r]).into_owned()),
        entries: Vec::with_capacity(scanned.entries.len()),
        malformed: None,
    };
    for e in scanned.entries {
        if !views {
            page.entries.push(SearchEntry {
                raw: e.raw,
                resource: None,
                mode: None,
            });
            continue;
        }
        let entry = match e.view {
            Some(v) => SearchEntry {
                raw: e.raw,
                resource: v.resource,
                mode: v.mode.map(EntryMode::Span),
            },
            None => match serde_entry(body, e.raw) {
                Ok(entry) => entry,
                Err(err) => {
                    page.malformed = Some(err);
                    break;
                }
            },
        };
        page.entries.push(entry);
    }
    Ok(page)
}

/// [`parse_search_page`] by serde alone (the reference the single pass is checked against).
pub fn parse_search_page_serde(body: &[u8], views: bool) -> Result<SearchPage> {
    let parsed = parse_page(body)?;
    let mut page = SearchPage {
        total: parsed.total,
        next: parsed.next,
        entries: Vec::with_capacity(parsed.entries.len()),
        malformed: None,
    };
    for raw in parsed.entries {
        let range = span_of(body, raw.get())?;
        if !views {
            page.entries.push(SearchEntry {
                raw: range,
                resource: None,
                mode: None,
            });
            continue;
        }
        match serde_entry(body, range) {
            Ok(entry) => page.entries.push(entry),
            Err(err) => {
                page.malformed = Some(err);
                break;
            }
        }
    }
    Ok(page)
}

/// An entry's view by serde, as spans of the page.
fn serde_entry(body: &[u8], raw: Range<usize>) -> Result<SearchEntry> {
    let text = std::str::from_utf8(&body[raw.clone()])
        .map_err(|_| Error::json("a Bundle entry is not valid UTF-8"))?;
    let view: EntryView = serde_json::from_str(text).map_err(|e| {
        Error::json(format!(
            "a Bundle entry is malformed: {}",
            quote(&e.to_string(), 300)
        ))
    })?;
    let resource = match view.resource {
        Some(r) => Some(span_of(body, r.get())?),
        None => None,
    };
    Ok(SearchEntry {
        raw,
        resource,
        mode: view.search.and_then(|s| s.mode).map(EntryMode::Owned),
    })
}

/// The byte range of `part`, a slice borrowed from `whole`.
fn span_of(whole: &[u8], part: &str) -> Result<Range<usize>> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if start > whole.len() || whole.len() - start < part.len() {
        return Err(Error::protocol("internal: a JSON span outside its page"));
    }
    Ok(start..start + part.len())
}

pub fn entry_view(entry: &RawValue) -> Result<EntryView<'_>> {
    serde_json::from_str(entry.get()).map_err(|e| {
        Error::json(format!(
            "a Bundle entry is malformed: {}",
            quote(&e.to_string(), 300)
        ))
    })
}

/// Whether a searchset entry is a match (no mode counts as a match).
#[cfg(any(test, fuzzing))]
pub fn is_match(view: &EntryView) -> bool {
    view.search
        .as_ref()
        .and_then(|s| s.mode.as_deref())
        .is_none_or(|m| m == "match")
}

#[derive(Deserialize)]
struct TypeView {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    id: Option<String>,
}

/// `(resourceType, id)` of a resource given as raw JSON: UTF-8 text of one JSON object with a
/// valid `resourceType`.
pub fn type_and_id(resource: impl AsRef<[u8]>) -> Result<(String, Option<String>)> {
    let bytes = resource.as_ref();
    check_utf8(bytes)?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid("a resource must be a JSON object"));
    }
    let v: TypeView = serde_json::from_slice(bytes)
        .map_err(|e| Error::json(format!("invalid resource JSON: {e}")))?;
    let t = v
        .resource_type
        .filter(|t| crate::ops::reference::valid_type(t))
        .ok_or_else(|| Error::invalid("the resource has no valid resourceType"))?;
    Ok((t, v.id))
}

/// JSON must be UTF-8 (RFC 8259 §8.1); serde does not check bytes it skips.
pub fn check_utf8(bytes: &[u8]) -> Result<()> {
    std::str::from_utf8(bytes).map(|_| ()).map_err(|e| {
        Error::json(format!(
            "the JSON is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })
}

/// A JSON string literal for `s`.
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A random RFC 4122 version-4 UUID, for `urn:uuid:` fullUrls.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Builds a Bundle by appending raw entries into one buffer: the head is written first, `total`
/// and `link` after the entries (JSON members are unordered), so the entries are never copied.
pub struct BundleWriter {
    out: Vec<u8>,
    /// Bytes of `out` already backed by memory (see `populate_ahead`), and the capacity then.
    populated: usize,
    populated_cap: usize,
    count: usize,
    /// Most bytes the entries may take (the result limit of collected searches).
    limit: u64,
}

impl BundleWriter {
    pub fn new(bundle_type: &str) -> Self {
        Self::with_capacity(bundle_type, 0)
    }

    pub fn with_capacity(bundle_type: &str, bytes: usize) -> Self {
        let mut out = Vec::with_capacity(bytes + 256);
        out.extend_from_slice(b"{\"resourceType\":\"Bundle\",\"type\":");
        out.extend_from_slice(json_str(bundle_type).as_bytes());
        out.extend_from_slice(b",\"entry\":[");
        BundleWriter {
            out,
            populated: 0,
            populated_cap: 0,
            count: 0,
            limit: u64::MAX,
        }
    }

    /// Whether no entry is in yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Refuse entries past `bytes` in all.
    pub fn limit(&mut self, bytes: u64) {
        self.limit = bytes;
    }

    /// Make room at once for a result of about `total` matches when a first page with `count`
    /// matches took `bytes` (all its entries, included resources too, with their commas): a
    /// large result is then backed ahead from its first byte (see `populate_ahead`) and moved
    /// less often as it grows. Only a hint, as `total` is the server's: never more than 128
    /// times what the first page gave, nor the result limit, nor 1 GiB (64 MiB on 32-bit
    /// targets); when the allocator refuses, the buffer grows as it goes. Room not written is
    /// not resident, but for what `populate_ahead` backs ahead of the writing; `finish` gives
    /// it back when it is more than 1 MiB.
    pub fn expect(&mut self, total: u64, count: usize, bytes: usize) {
        const MOST: u64 = if cfg!(target_pointer_width = "64") {
            1 << 30
        } else {
            64 << 20
        };
        const PAGES_AHEAD: u64 = 128;
        if count == 0 || total <= count as u64 {
            return;
        }
        let per_entry = (bytes / count) as u64 + 1;
        let want = total
            .saturating_mul(per_entry)
            .saturating_add((total / 32).saturating_mul(per_entry)) // entries vary in size
            .min(PAGES_AHEAD.saturating_mul(bytes as u64))
            .min(self.limit)
            .min(MOST);
        let more = (want as usize).saturating_sub(self.out.len());
        if more > self.out.capacity() - self.out.len() {
            let _ = self.out.try_reserve_exact(more);
        }
    }

    /// Back the next few MiB of a large result with memory in one system call (Linux
    /// `MADV_POPULATE_WRITE`, 5.14 and later) instead of a page fault per 4 KiB as they are
    /// written: a 140 MB result took 34,700 faults, a quarter of the collecting search's CPU. As
    /// far ahead as is written and at most 4 MiB, so the peak stays the result's size. Only a hint:
    /// where it is refused (older kernels, memory pressure) the pages fault in as before.
    fn populate_ahead(&mut self, more: usize) {
        let cap = self.out.capacity();
        if cap != self.populated_cap {
            // Grown (perhaps moved): what is written is backed; go on from there.
            self.populated = self.out.len();
            self.populated_cap = cap;
        }
        #[cfg(target_os = "linux")]
        {
            const AHEAD: usize = 4 << 20;
            const PAGE: usize = 4096;
            let want = (self.out.len() + more).max(self.populated);
            // As far ahead as is written (64 KiB to 4 MiB): a result announced large that stays
            // small is not backed much beyond its size.
            let ahead = self.out.len().clamp(64 << 10, AHEAD);
            if cap < 2 * AHEAD {
                // Small results: faulting in is cheap; do not look again until the buffer grows.
                self.populated = cap;
                return;
            }
            let base = self.out.as_ptr() as usize;
            let start = (base + self.populated).next_multiple_of(PAGE);
            let end = (base + want + ahead).min(base + cap) & !(PAGE - 1);
            if end > start {
                // SAFETY: the range lies inside the buffer's allocation; populating backs it
                // with memory and writes nothing the buffer holds.
                unsafe {
                    libc::madvise(
                        start as *mut libc::c_void,
                        end - start,
                        libc::MADV_POPULATE_WRITE,
                    );
                }
            }
            self.populated = (end - base).max(want);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = more;
            self.populated = cap;
        }
    }

    /// Append one entry; past the limit, or without memory for it, an error (`Limit`).
    pub fn push_raw(&mut self, entry: &str) -> Result<()> {
        self.push_raw_bytes(entry.as_bytes())
    }

    /// [`Self::push_raw`] for an entry already known to be UTF-8 JSON (a span of a read page).
    pub fn push_raw_bytes(&mut self, entry: &[u8]) -> Result<()> {
        if (self.out.len() + entry.len() + 1) as u64 > self.limit {
            return Err(Error::new(
                ErrorKind::Limit,
                format!(
                    "the collected result exceeds the limit of {} bytes (option max_result_bytes) \
                     after {} entries; stream the search page by page instead",
                    self.limit, self.count
                ),
            ));
        }
        crate::transport::reserve(&mut self.out, entry.len() + 1, "collecting the result")?;
        if self.out.len() + entry.len() + 1 > self.populated
            || self.out.capacity() != self.populated_cap
        {
            self.populate_ahead(entry.len() + 1);
        }
        if self.count > 0 {
            self.out.push(b',');
        }
        self.out.extend_from_slice(entry);
        self.count += 1;
        Ok(())
    }

    /// `{"resourceType":"Bundle","type":<type>,"entry":[...][,"total":n][,"link":[self]]}`
    pub fn finish(mut self, total: Option<u64>, self_link: Option<&str>) -> Vec<u8> {
        let mut tail = String::from("]");
        if let Some(t) = total {
            tail.push_str(&format!(",\"total\":{t}"));
        }
        if let Some(l) = self_link {
            tail.push_str(&format!(
                ",\"link\":[{{\"relation\":\"self\",\"url\":{}}}]",
                json_str(l)
            ));
        }
        tail.push('}');
        // The tail and the NUL a C caller gets after it, without doubling a full buffer.
        let _ = self.out.try_reserve_exact(tail.len() + 1);
        self.out.extend_from_slice(tail.as_bytes());
        if self.out.capacity() - self.out.len() > 1 << 20 {
            // Room reserved by `expect` or by growth and not written: given back but for the
            // NUL (a large buffer is remapped in place, not copied).
            self.out.shrink_to(self.out.len() + 1);
        }
        self.out
    }
}

/// The HTTP status code at the start of a Bundle `response.status` ("201 Created" → 201).
pub fn status_code(status: &str) -> Option<u16> {
    status.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn parses_links_total_and_raw_entries() {
        let body = br#"{"resourceType":"Bundle","type":"searchset","total":3,
            "link":[{"relation":"self","url":"s"},{"relation":"next","url":"http://h/fhir?_getpages=x"}],
            "entry":[{"resource":{"resourceType":"Patient","id":"1"},"search":{"mode":"match"}},
                     {"resource":{"resourceType":"Practitioner","id":"2"},"search":{"mode":"include"}}]}"#;
        let p = parse_page(body).unwrap();
        assert_eq!(p.total, Some(3));
        assert_eq!(p.next.as_deref(), Some("http://h/fhir?_getpages=x"));
        assert_eq!(p.entries.len(), 2);
        let e0 = entry_view(p.entries[0]).unwrap();
        assert!(is_match(&e0));
        assert_eq!(
            e0.resource.unwrap().get(),
            r#"{"resourceType":"Patient","id":"1"}"#
        );
        assert!(!is_match(&entry_view(p.entries[1]).unwrap()));
    }

    /// The single pass agrees with serde on every page: same entries, spans, modes, link,
    /// total, and the same error when there is one.
    #[test]
    fn single_pass_agrees_with_serde() {
        let pages: &[&str] = &[
            r#"{"resourceType":"Bundle","type":"searchset","total":3,"link":[{"relation":"self","url":"s"},{"relation":"next","url":"http://h/fhir?p=2"}],"entry":[{"fullUrl":"u","resource":{"resourceType":"Patient","id":"1","name":[{"family":"Ünïcödé \"q\" \u00e9"}]},"search":{"mode":"match","score":1.5e-3}},{"resource":{"resourceType":"Practitioner"},"search":{"mode":"include"}},{"search":{"mode":"outcome"}},{"resource":null},{}]}"#,
            " \n{ \"entry\" : [ { \"resource\" : { \"a\" : [ 1 , -0.5 , true , false , null ] } , \"search\" : { } } ] , \"resourceType\" : \"Bundle\" } \r\n",
            r#"{"resourceType":"Bundle","entry":[1,"x",[],{"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{},"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{}},{"search":{"mode":5}},{"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"search":{"mode":"m\u0061tch"},"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"res\u006furce":{"x":1}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"search":["include"],"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"response":{"status":"201 Created","location":"Patient/1","outcome":{}},"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"response":{"status":201},"resource":{}}]}"#,
            r#"{"resourceType":"Bundle","link":[{"relation":"next","url":""},{"relation":"next","url":"x"}]}"#,
            r#"{"resourceType":"Bundle","link":[{"relation":"next"},{"relation":"next","url":"x"}]}"#,
            r#"{"resourceType":"Bundle","link":[["next","x"]]}"#,
            r#"{"resourceType":"Bundle","link":[{"relation":"next","url":"http:\/\/h\/x"}]}"#,
            r#"{"resourceType":"Bundle","link":null}"#,
            r#"{"resourceType":"Bundle","entry":null}"#,
            r#"{"resourceType":"Bundle","total":null,"type":null}"#,
            r#"{"resourceType":"Bundle","total":1.0}"#,
            r#"{"resourceType":"Bundle","total":-1}"#,
            r#"{"resourceType":"Bundle","total":18446744073709551616}"#,
            r#"{"resourceType":"Bundle","total":01}"#,
            r#"{"resourceType":"Bundle","total":7,"total":7}"#,
            r#"{"resourceType":"Patient"}"#,
            r#"{"resourceType":"Bund\u006ce"}"#,
            r#"{"resourceType":"Bundle"} x"#,
            r#"{"resourceType":"Bundle",}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":"\x"}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":"\u12g4"}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":"tab	here"}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":01}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":1.}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":tru}}]}"#,
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":1]}}"#,
            r#"{}"#,
            r#"[]"#,
            "",
            r#"{"resourceType":"Bundle","entry":[{"resource":{"a":"\ud800"}}]}"#,
        ];
        let deep = format!(
            r#"{{"resourceType":"Bundle","entry":[{{"resource":{}1{}}}]}}"#,
            "[".repeat(150),
            "]".repeat(150)
        );
        let mut all: Vec<Vec<u8>> = pages.iter().map(|p| p.as_bytes().to_vec()).collect();
        all.push(deep.into_bytes());
        all.push(
            b"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"a\":\"\xff\"}}]}".to_vec(),
        );
        for (i, page) in all.iter().enumerate() {
            for views in [false, true] {
                assert_eq!(
                    parse_search_page(page, views).map(|p| p.resolved(page)),
                    parse_search_page_serde(page, views).map(|p| p.resolved(page)),
                    "page {i} views {views}: {}",
                    String::from_utf8_lossy(page)
                );
            }
        }
        // The common shape takes the single pass (no entry left to serde).
        let fast =
            crate::ops::scan::scan_page(pages[0].as_bytes(), true, MAX_PAGE_ENTRIES).unwrap();
        assert!(fast.entries.iter().all(|e| e.view.is_some()));
        assert_eq!(fast.entries.len(), 5);
    }

    #[test]
    fn refuses_non_bundles() {
        assert_eq!(
            parse_page(br#"{"resourceType":"Patient"}"#)
                .unwrap_err()
                .kind,
            ErrorKind::Protocol
        );
        assert_eq!(parse_page(b"<html>").unwrap_err().kind, ErrorKind::Json);
    }

    #[test]
    fn writes_valid_bundles() {
        let mut w = BundleWriter::new("searchset");
        w.push_raw(r#"{"resource":{"resourceType":"Patient"}}"#)
            .unwrap();
        w.push_raw(r#"{"resource":{"resourceType":"Patient","id":"2"}}"#)
            .unwrap();
        let out = w.finish(Some(2), Some("http://h/fhir/Patient?a=\"b\""));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["total"], 2);
        assert_eq!(v["entry"].as_array().unwrap().len(), 2);
        assert_eq!(v["link"][0]["url"], "http://h/fhir/Patient?a=\"b\"");
    }

    /// A result large enough for its memory to be populated ahead (past 8 MiB, growing and
    /// moving several times) holds exactly the entries pushed, in order, and the memory backed
    /// ahead stays within 4 MiB of what is written.
    #[test]
    fn a_large_result_is_written_exactly_while_its_memory_is_populated_ahead() {
        let mut w = BundleWriter::new("searchset");
        let mut expected = br#"{"resourceType":"Bundle","type":"searchset","entry":["#.to_vec();
        for i in 0..12_000u32 {
            let entry = format!(
                r#"{{"resource":{{"id":"{i}","text":"{}"}}}}"#,
                "x".repeat(1_900)
            );
            if i > 0 {
                expected.push(b',');
            }
            expected.extend_from_slice(entry.as_bytes());
            w.push_raw(&entry).unwrap();
            assert!(w.populated <= w.out.capacity());
            if w.out.capacity() >= 8 << 20 {
                assert!(w.populated - w.out.len() <= (4 << 20) + 4096 + entry.len() + 1);
            }
        }
        assert!(w.out.capacity() > 16 << 20, "{}", w.out.capacity());
        expected.extend_from_slice(b"]}");
        assert_eq!(w.finish(None, None), expected);
    }

    /// `expect` reserves for the result the server announces, within its bounds (128 times the
    /// first page, the result limit, 1 GiB), whatever `total` says; the Bundle written is the
    /// same with or without it, and room not written is given back.
    #[test]
    fn the_room_made_for_an_announced_result_is_bounded_and_given_back() {
        let entry = format!("{{\"resource\":{{\"id\":\"{}\"}}}}", "x".repeat(90));
        let write = |expect: Option<(u64, u64)>| {
            let mut w = BundleWriter::new("searchset");
            if let Some((total, limit)) = expect {
                w.limit(limit);
                w.expect(total, 10, 10 * (entry.len() + 1));
            }
            let reserved = w.out.capacity();
            for _ in 0..1000 {
                w.push_raw(&entry).unwrap();
            }
            (reserved, w.finish(Some(1000), None))
        };
        let (plain_room, plain) = write(None);
        assert!(plain_room < 1024);
        // As announced: room for all 1,000 entries at once, within 5 %.
        let (room, bundle) = write(Some((1000, u64::MAX)));
        let size = 1000 * (entry.len() + 1);
        assert!(room >= size && room < size * 21 / 20, "{room} for {size}");
        assert_eq!(bundle, plain);
        // A server that announces far more: 128 first pages at most; then the result limit.
        let (room, bundle) = write(Some((u64::MAX, u64::MAX)));
        assert!(room <= 128 * 10 * (entry.len() + 1) + 256, "{room}");
        assert_eq!(bundle, plain);
        // A first page of large entries, then small ones: the room left over is given back.
        let mut w = BundleWriter::new("searchset");
        w.expect(u64::MAX, 1, 20_000);
        assert!(w.out.capacity() >= 128 * 20_000, "{}", w.out.capacity());
        for _ in 0..1000 {
            w.push_raw(&entry).unwrap();
        }
        let bundle = w.finish(Some(1000), None);
        assert_eq!(bundle, plain);
        assert!(bundle.capacity() - bundle.len() <= 1 << 20, "given back");
        let mut w = BundleWriter::new("searchset");
        w.limit(50_000);
        w.expect(1 << 40, 10, 10 * (entry.len() + 1));
        assert!(w.out.capacity() <= 50_000 + 256, "{}", w.out.capacity());
        // Nothing to go by: no reservation.
        let mut w = BundleWriter::new("searchset");
        w.expect(1000, 0, 0);
        w.expect(5, 10, 1000);
        assert!(w.out.capacity() < 1024);
    }

    #[test]
    fn uuids_are_v4() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), u);
    }
}
