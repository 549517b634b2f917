//! Raw-JSON Bundle handling: parse a page's links, total and entries as slices of the server's
//! bytes; build Bundles by concatenating slices.

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

pub fn entry_view(entry: &RawValue) -> Result<EntryView<'_>> {
    serde_json::from_str(entry.get()).map_err(|e| {
        Error::json(format!(
            "a Bundle entry is malformed: {}",
            quote(&e.to_string(), 300)
        ))
    })
}

/// Whether a searchset entry is a match (no mode counts as a match).
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
            count: 0,
            limit: u64::MAX,
        }
    }

    /// Refuse entries past `bytes` in all.
    pub fn limit(&mut self, bytes: u64) {
        self.limit = bytes;
    }

    /// Append one entry; past the limit, or without memory for it, an error (`Limit`).
    pub fn push_raw(&mut self, entry: &str) -> Result<()> {
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
        if self.count > 0 {
            self.out.push(b',');
        }
        self.out.extend_from_slice(entry.as_bytes());
        self.count += 1;
        Ok(())
    }

    /// `{"resourceType":"Bundle","type":<type>,"entry":[...][,"total":n][,"link":[self]]}`
    pub fn finish(mut self, total: Option<u64>, self_link: Option<&str>) -> Vec<u8> {
        self.out.push(b']');
        if let Some(t) = total {
            self.out
                .extend_from_slice(format!(",\"total\":{t}").as_bytes());
        }
        if let Some(l) = self_link {
            self.out.extend_from_slice(
                format!(
                    ",\"link\":[{{\"relation\":\"self\",\"url\":{}}}]",
                    json_str(l)
                )
                .as_bytes(),
            );
        }
        self.out.push(b'}');
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

    #[test]
    fn uuids_are_v4() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), u);
    }
}
