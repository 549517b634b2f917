//! Bundles sent to the server: caller-built transactions and batches, `get_many` and
//! `delete_many` as one batch, `create_all` split into transactions of `batch_size`, and the
//! capabilities summary (resource counts) as one batch.

use std::future::Future;
use std::task::Poll;

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind, Result};
use crate::ops::bundle::{
    entry_view, json_str, parse_page, status_code, type_and_id, uuid_v4, BundleWriter,
};
use crate::ops::reference::{from_location, Reference};
use crate::server::FhirServer;
use crate::transport::Request;

/// Default resources per transaction in `create_all` (some servers refuse larger Bundles).
pub(crate) const DEFAULT_BATCH_SIZE: usize = 500;

#[derive(Deserialize)]
struct InputBundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(rename = "type")]
    bundle_type: Option<String>,
    #[serde(borrow, default)]
    entry: Vec<InputEntry<'a>>,
}

#[derive(Deserialize)]
struct InputEntry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

/// One resource of a `create_all` input: its JSON, type and fullUrl (if the caller gave one).
struct Item<'a> {
    json: &'a str,
    resource_type: String,
    full_url: Option<String>,
}

/// One transaction Bundle creating `chunk` (each item POSTed with its fullUrl, or a new
/// `urn:uuid:`).
fn transaction_body(chunk: &[Item<'_>]) -> Result<Vec<u8>> {
    let mut w = BundleWriter::with_capacity(
        "transaction",
        chunk.iter().map(|i| i.json.len() + 120).sum(),
    );
    for item in chunk {
        let full_url = item
            .full_url
            .clone()
            .unwrap_or_else(|| format!("urn:uuid:{}", uuid_v4()));
        w.push_raw(&format!(
            "{{\"fullUrl\":{},\"resource\":{},\"request\":{{\"method\":\"POST\",\"url\":\"{}\"}}}}",
            json_str(&full_url),
            item.json,
            item.resource_type
        ))?;
    }
    Ok(w.finish(None, None))
}

fn parse_items(input: &[u8]) -> Result<Vec<Item<'_>>> {
    let text = std::str::from_utf8(input).map_err(|_| Error::json("the input is not UTF-8"))?;
    let first = text.trim_start().as_bytes().first().copied();
    let raw: Vec<(Option<String>, &RawValue)> = match first {
        Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(text)
            .map_err(|e| Error::json(format!("invalid JSON array of resources: {e}")))?
            .into_iter()
            .map(|r| (None, r))
            .collect(),
        Some(b'{') => {
            let b: InputBundle = serde_json::from_str(text)
                .map_err(|e| Error::json(format!("invalid Bundle: {e}")))?;
            if b.resource_type.as_deref() != Some("Bundle") {
                return Err(Error::invalid(
                    "the input must be a JSON array of resources or a Bundle",
                ));
            }
            let _ = b.bundle_type;
            b.entry
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    e.resource
                        .map(|r| (e.full_url, r))
                        .ok_or_else(|| Error::invalid(format!("Bundle entry {i} has no resource")))
                })
                .collect::<Result<_>>()?
        }
        _ => {
            return Err(Error::json(
                "the input must be a JSON array of resources or a Bundle",
            ))
        }
    };
    raw.into_iter()
        .enumerate()
        .map(|(i, (full_url, r))| {
            let (resource_type, _) =
                type_and_id(r.get()).map_err(|e| e.with_context(&format!("item {i}")))?;
            Ok(Item {
                json: r.get(),
                resource_type,
                full_url,
            })
        })
        .collect()
}

fn parse_references(references: &[&str]) -> Result<Vec<Reference>> {
    references.iter().map(|r| Reference::parse(r)).collect()
}

/// Result of one entry of a batch answer, in the caller's order.
fn entry_result(reference: &str, entry: &RawValue) -> Result<String> {
    let view = entry_view(entry)?;
    let status_text = view
        .response
        .as_ref()
        .and_then(|r| r.status.clone())
        .unwrap_or_default();
    let status = status_code(&status_text).unwrap_or(0);
    let mut out = format!(
        "{{\"reference\":{},\"status\":{status}",
        json_str(reference)
    );
    if let Some(res) = view.resource {
        out.push_str(",\"resource\":");
        out.push_str(res.get());
    }
    if let Some(outcome) = view.response.as_ref().and_then(|r| r.outcome.as_ref()) {
        out.push_str(",\"outcome\":");
        out.push_str(outcome.get());
    }
    out.push('}');
    Ok(out)
}

impl FhirServer {
    /// POST a caller-built `transaction` or `batch` Bundle to the base URL; returns the response Bundle.
    pub async fn send_bundle(&self, bundle: &[u8]) -> Result<Vec<u8>> {
        crate::ops::bundle::check_utf8(bundle)?;
        let page = parse_page(bundle).map_err(|e| match e.kind() {
            ErrorKind::Protocol => Error::invalid("the JSON to send is not a Bundle"),
            _ => e.with_context("the Bundle to send"),
        })?;
        match page.bundle_type.as_deref() {
            Some("transaction") | Some("batch") => {}
            other => {
                return Err(Error::invalid(format!(
                    "a Bundle to send must be of type transaction or batch, not {}",
                    other.unwrap_or("(none)")
                )))
            }
        }
        let req =
            Request::new(Method::POST, self.resolve("")?).body(Bytes::copy_from_slice(bundle));
        let resp = self.send_ok(req).await?;
        parse_page(&resp.body).map_err(|e| e.with_context("the server's answer to the Bundle"))?;
        Ok(resp.body)
    }

    async fn batch_of(&self, requests: &[(&str, String)]) -> Result<Vec<u8>> {
        let mut w = BundleWriter::with_capacity("batch", requests.len() * 64);
        for (method, url) in requests {
            w.push_raw(&format!(
                "{{\"request\":{{\"method\":\"{method}\",\"url\":{}}}}}",
                json_str(url)
            ))?;
        }
        let body = w.finish(None, None);
        let resp = self
            .send_ok(Request::new(Method::POST, self.resolve("")?).body(body))
            .await?;
        Ok(resp.body)
    }

    /// Answer entries of a batch, checked to match the request count.
    fn batch_entries(body: &[u8], expected: usize) -> Result<Vec<&RawValue>> {
        let page = parse_page(body)?;
        if page.entries.len() != expected {
            return Err(Error::protocol(format!(
                "the batch answer has {} entries for {expected} requests",
                page.entries.len()
            )));
        }
        Ok(page.entries)
    }

    /// One batch of `method` requests, one per reference; a JSON array of per-reference results
    /// `{"reference", "status", "resource"?, "outcome"?}` in the caller's order.
    async fn batch_per_reference(&self, method: &str, refs: &[Reference]) -> Result<Vec<u8>> {
        if refs.is_empty() {
            return Ok(b"[]".to_vec());
        }
        let reqs: Vec<(&str, String)> = refs.iter().map(|r| (method, r.full_path())).collect();
        let body = self.batch_of(&reqs).await?;
        let entries = Self::batch_entries(&body, refs.len())?;
        let items: Vec<String> = reqs
            .iter()
            .zip(entries)
            .map(|((_, path), e)| entry_result(path, e))
            .collect::<Result<_>>()?;
        Ok(format!("[{}]", items.join(",")).into_bytes())
    }

    /// Read many references in one batch. Returns a JSON array in the caller's order, each item
    /// `{"reference", "status", "resource"?, "outcome"?}`: a missing resource is reported in its
    /// item (status 404), not as a failure of the call.
    pub async fn read_many(&self, references: &[&str]) -> Result<Vec<u8>> {
        let refs = parse_references(references)?;
        self.batch_per_reference("GET", &refs).await
    }

    /// Delete many references in one batch; a JSON array of per-reference results as `read_many`.
    pub async fn delete_many(&self, references: &[&str]) -> Result<Vec<u8>> {
        let refs = parse_references(references)?;
        if let Some(r) = refs.iter().find(|r| r.version.is_some()) {
            return Err(Error::invalid(format!(
                "delete takes Type/id, not a version: {}",
                r.full_path()
            )));
        }
        self.batch_per_reference("DELETE", &refs).await
    }

    /// Create every resource of `input` (a JSON array of resources, or a Bundle whose entries'
    /// resources are taken, with their `fullUrl`s) in transactions of `batch_size` (0 → 500).
    /// Returns `{"created":["Type/id",...],"batches":n}` in input order. On failure the error names
    /// the batch, the input items it held, and how many earlier items were committed; its body
    /// is the server's OperationOutcome.
    pub async fn create_all(&self, input: &[u8], batch_size: usize) -> Result<Vec<u8>> {
        crate::ops::bundle::check_utf8(input)?;
        let items = parse_items(input)?;
        let size = if batch_size == 0 {
            DEFAULT_BATCH_SIZE
        } else {
            batch_size
        };
        let batches = items.len().div_ceil(size);
        if self.create_all_parallel > 1 && batches > 1 {
            return self.create_all_parallel(&items, size).await;
        }
        let mut created: Vec<String> = Vec::with_capacity(items.len());
        for (b, chunk) in items.chunks(size).enumerate() {
            let body = transaction_body(chunk)?;
            let first = b * size;
            let context = |e: Error| {
                let mut e = e;
                let message = format!(
                    "create_all: batch {} of {batches} (input items {}..{}) failed; {} items in earlier batches were committed: {}",
                    b + 1,
                    first,
                    first + chunk.len() - 1,
                    created.len(),
                    e.message()
                );
                e.set_message(message);
                e
            };
            let req = Request::new(Method::POST, self.resolve("")?).body(body);
            log::debug!(
                target: "fhir_kindling::transaction",
                "create_all: batch {} of {batches} ({} resources)",
                b + 1,
                chunk.len()
            );
            // A cancel or the deadline ends the loop here too, with the count of what was
            // committed before: during a batch, its transaction may or may not be committed.
            let resp = match crate::call::interruptible(self.send_ok(req)).await {
                Ok(r) => r,
                Err(e) => return Err(context(e)),
            };
            match Self::created_refs(&resp.body, chunk.len()) {
                Ok(refs) => created.extend(refs),
                Err(e) => {
                    // The transaction is committed; only its answer is unreadable.
                    let mut e = context(e);
                    let message = e.message().replacen(
                        "failed;",
                        "was committed but its answer could not be read;",
                        1,
                    );
                    e.set_message(message);
                    return Err(e);
                }
            }
        }
        let list: Vec<String> = created.iter().map(|r| json_str(r)).collect();
        Ok(format!("{{\"created\":[{}],\"batches\":{batches}}}", list.join(",")).into_bytes())
    }

    /// [`Self::create_all`] with up to `create_all_parallel` transactions in flight: batch k+1
    /// is sent before batch k is answered. The references come back in input order; on a
    /// failure no further batch is sent, the batches already in flight are waited for, and the
    /// error names the first failed batch (in input order) with what earlier batches committed,
    /// as sequentially, plus what the batches sent meanwhile committed.
    async fn create_all_parallel(&self, items: &[Item<'_>], size: usize) -> Result<Vec<u8>> {
        let batches = items.len().div_ceil(size);
        let window = self.create_all_parallel;
        let url = self.resolve("")?;
        let send = |b: usize| {
            let chunk = &items[b * size..((b + 1) * size).min(items.len())];
            let url = url.clone();
            async move {
                let body = transaction_body(chunk).map_err(|e| (e, false))?;
                log::debug!(
                    target: "fhir_kindling::transaction",
                    "create_all: batch {} of {batches} ({} resources, up to {window} in flight)",
                    b + 1,
                    chunk.len()
                );
                let req = Request::new(Method::POST, url).body(body);
                let resp = crate::call::interruptible(self.send_ok(req))
                    .await
                    .map_err(|e| (e, false))?;
                Self::created_refs(&resp.body, chunk.len()).map_err(|e| (e, true))
            }
        };
        // (batch, its future, its outcome once done), in input order.
        let mut flight = std::collections::VecDeque::new();
        let mut created: Vec<String> = Vec::with_capacity(items.len());
        let mut failed: Option<(usize, Error, bool)> = None;
        let mut later: Vec<(usize, bool)> = Vec::new(); // after a failure: (batch, committed)
        let mut next = 0;
        loop {
            while failed.is_none() && flight.len() < window && next < batches {
                let fut = send(next);
                flight.push_back((next, Box::pin(fut), None));
                next += 1;
            }
            if flight.is_empty() {
                break;
            }
            std::future::poll_fn(|cx| {
                for (_, fut, done) in flight.iter_mut() {
                    if done.is_none() {
                        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                            *done = Some(out);
                        }
                    }
                }
                match flight.front() {
                    Some((_, _, Some(_))) => Poll::Ready(()),
                    _ => Poll::Pending,
                }
            })
            .await;
            while let Some((b, _, Some(_))) = flight.front() {
                let b = *b;
                let Some((_, _, Some(out))) = flight.pop_front() else {
                    unreachable!("the front was checked")
                };
                match (out, failed.is_some()) {
                    (Ok(refs), false) => created.extend(refs),
                    (Err((e, committed)), false) => failed = Some((b, e, committed)),
                    (out, true) => later.push((b, matches!(out, Ok(_) | Err((_, true))))),
                }
            }
        }
        let Some((b, e, committed)) = failed else {
            let list: Vec<String> = created.iter().map(|r| json_str(r)).collect();
            return Ok(
                format!("{{\"created\":[{}],\"batches\":{batches}}}", list.join(",")).into_bytes(),
            );
        };
        let first = b * size;
        let last = ((b + 1) * size).min(items.len()) - 1;
        let what = match committed {
            false => "failed;",
            true => "was committed but its answer could not be read;",
        };
        let mut message = format!(
            "create_all: batch {} of {batches} (input items {first}..{last}) {what} {} items in earlier batches were committed: {}",
            b + 1,
            created.len(),
            e.message()
        );
        if !later.is_empty() {
            let ok: Vec<String> = later
                .iter()
                .filter(|(_, c)| *c)
                .map(|(k, _)| (k + 1).to_string())
                .collect();
            message.push_str(&format!(
                " (with {window} transactions in flight, {} later batches had been sent; committed: {})",
                later.len(),
                if ok.is_empty() { "none".to_owned() } else { format!("batches {}", ok.join(", ")) }
            ));
        }
        let mut e = e;
        e.set_message(message);
        Err(e)
    }

    /// `Type/id` of every entry of a transaction answer, in order.
    fn created_refs(body: &[u8], expected: usize) -> Result<Vec<String>> {
        let entries = Self::batch_entries(body, expected)?;
        let mut refs = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let view = entry_view(entry)?;
            let r = view
                .response
                .as_ref()
                .and_then(|r| r.location.as_deref())
                .and_then(from_location)
                .or_else(|| {
                    view.resource
                        .and_then(|res| type_and_id(res.get()).ok())
                        .and_then(|(t, id)| {
                            id.map(|id| Reference {
                                resource_type: t,
                                id,
                                version: None,
                            })
                        })
                })
                .ok_or_else(|| {
                    Error::protocol(format!("transaction answer entry {i} has no location"))
                })?;
            refs.push(r.path());
        }
        Ok(refs)
    }

    /// Resource types the server supports and how many of each it holds (types with none are
    /// left out): `{"total":N,"resources":{"Patient":12,...}}`, counted in one batch of
    /// `Type?_summary=count` requests.
    pub async fn summary(&self) -> Result<Vec<u8>> {
        #[derive(Deserialize)]
        struct Caps {
            #[serde(default)]
            rest: Vec<Rest>,
        }
        #[derive(Deserialize)]
        struct Rest {
            #[serde(default)]
            resource: Vec<Res>,
        }
        #[derive(Deserialize)]
        struct Res {
            #[serde(rename = "type")]
            resource_type: String,
        }
        #[derive(Deserialize)]
        struct Counted {
            total: Option<u64>,
        }
        let caps = self.capabilities().await?;
        let caps: Caps = serde_json::from_slice(&caps)
            .map_err(|e| Error::protocol(format!("CapabilityStatement: {e}")))?;
        let types: Vec<String> = caps
            .rest
            .into_iter()
            .flat_map(|r| r.resource)
            .map(|r| r.resource_type)
            .filter(|t| crate::ops::reference::valid_type(t))
            .collect();
        let reqs: Vec<(&str, String)> = types
            .iter()
            .map(|t| ("GET", format!("{t}?_summary=count")))
            .collect();
        let mut parts = Vec::new();
        let mut total = 0u64;
        if !reqs.is_empty() {
            let body = self.batch_of(&reqs).await?;
            let entries = Self::batch_entries(&body, reqs.len())?;
            for (t, e) in types.iter().zip(entries) {
                let view = entry_view(e)?;
                let n = view
                    .resource
                    .and_then(|r| serde_json::from_str::<Counted>(r.get()).ok())
                    .and_then(|c| c.total)
                    .unwrap_or(0);
                if n > 0 {
                    total += n;
                    parts.push(format!("{}:{n}", json_str(t)));
                }
            }
        }
        Ok(format!(
            "{{\"total\":{total},\"resources\":{{{}}}}}",
            parts.join(",")
        )
        .into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_from_arrays_and_bundles() {
        let a = br#"[{"resourceType":"Patient"},{"resourceType":"Observation","status":"final"}]"#;
        let items = parse_items(a).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].resource_type, "Observation");
        assert_eq!(
            items[1].json,
            r#"{"resourceType":"Observation","status":"final"}"#
        );
        let b = br#"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"}}]}"#;
        let items = parse_items(b).unwrap();
        assert_eq!(items[0].full_url.as_deref(), Some("urn:uuid:1"));
        assert!(parse_items(br#"[{"noType":1}]"#).is_err());
        assert!(parse_items(br#"{"resourceType":"Patient"}"#).is_err());
        assert!(parse_items(b"42").is_err());
    }
}
