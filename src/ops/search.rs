//! Search with paging: all pages into one Bundle, at most `n` resources, the first page, the
//! count, and streaming page by page (memory bounded by one page).
//!
//! Paging is guarded: `next` links may be absolute, host-relative, base-relative or query-only; a
//! link to another origin is refused unless the caller allowed it (and is then followed without
//! credentials or custom headers); a link already visited stops the search instead of looping
//! forever.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;
use reqwest::Method;
use url::Url;

use crate::error::{Code, Error, Result};
use crate::ops::bundle::{entry_view, is_match, parse_page, BundleWriter, Page};
use crate::ops::query::{has_param, remove_param, set_param};
use crate::server::FhirServer;
use crate::transport::Request;

/// Walks the pages of a search. `fetch` returns a page's body; the caller parses it and hands
/// its `next` link to `advance`. Problems with a link are reported at the next `fetch`, so the
/// page that carried the link is never lost.
pub struct Pager<'s> {
    server: &'s FhirServer,
    next: Option<Url>,
    first: String,
    /// Hashes of the page URLs fetched so far: 8 bytes a page, however long the URLs.
    seen: HashSet<u64>,
    pending: Option<Error>,
    pages: u64,
    /// The URL of the page fetched last (for query-only links).
    current: Option<Url>,
}

impl<'s> Pager<'s> {
    pub fn new(server: &'s FhirServer, query: &str) -> Result<Pager<'s>> {
        if query.trim().is_empty() {
            return Err(Error::invalid("search query is empty"));
        }
        let url = server.resolve(query)?;
        let first = url.to_string();
        let mut seen = HashSet::new();
        seen.insert(url_key(&first));
        Ok(Pager {
            server,
            next: Some(url),
            first,
            seen,
            pending: None,
            pages: 0,
            current: None,
        })
    }

    pub fn first_url(&self) -> &str {
        &self.first
    }

    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Where to resume after the caller stopped: the next URL, or the reason there is none
    /// (a refused or looping link) so that a stop is never mistaken for the end.
    pub fn resume_url(&mut self) -> Result<Option<String>> {
        match self.pending.take() {
            Some(e) => Err(e),
            None => Ok(self.next_url()),
        }
    }

    /// The URL the next `fetch` would get (absolute), if any.
    pub fn next_url(&self) -> Option<String> {
        self.next.as_ref().map(|u| u.to_string())
    }

    pub async fn fetch(&mut self) -> Result<Option<Bytes>> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        self.current = Some(url.clone());
        let mut req = Request::new(Method::GET, url);
        req.anonymous = !self.server.same_origin(&req.url);
        let resp = self.server.send_ok(req).await?;
        self.pages += 1;
        Ok(Some(resp.body))
    }

    /// Record the `next` link of the page just fetched.
    pub fn advance(&mut self, link: Option<&str>) {
        let Some(link) = link else {
            return;
        };
        match self.follow(link) {
            Ok(url) => self.next = Some(url),
            Err(e) => self.pending = Some(e),
        }
    }

    fn follow(&mut self, link: &str) -> Result<Url> {
        let base = self.server.base_url();
        let lower = link.get(..8).unwrap_or(link).to_ascii_lowercase();
        let resolved = if lower.starts_with("http://") || lower.starts_with("https://") {
            Url::parse(link)
        } else if link.starts_with('/') {
            Url::parse(base).and_then(|b| b.join(link))
        } else if let (Some(query), Some(current)) = (link.strip_prefix('?'), &self.current) {
            // RFC 3986: a query-only reference is relative to the page that carried it.
            let mut u = current.clone();
            u.set_query(Some(query));
            Ok(u)
        } else {
            Url::parse(&format!("{base}/{link}"))
        }
        .map_err(|e| {
            Error::new(
                Code::FHIR_ERR_PAGING,
                format!("the server's next link '{link}' is not a URL: {e}"),
            )
        })?;
        if !self.server.same_origin(&resolved) && !self.server.allow_foreign_links {
            return Err(Error::new(
                Code::FHIR_ERR_PAGING,
                format!(
                    "the server's next link points to another server ({}://{}); not followed, so credentials \
                     only go to {} (allow with fhir_options_set_allow_foreign_links)",
                    resolved.scheme(),
                    resolved.host_str().unwrap_or(""),
                    base
                ),
            ));
        }
        if !self.seen.insert(url_key(resolved.as_str())) {
            return Err(Error::new(
                Code::FHIR_ERR_PAGING,
                format!("the server's next link repeats a page already fetched (after {} pages); stopped to avoid a loop", self.pages),
            ));
        }
        Ok(resolved)
    }
}

fn url_key(url: &str) -> u64 {
    let mut h = DefaultHasher::new();
    url.hash(&mut h);
    h.finish()
}

impl FhirServer {
    /// Every page into one `searchset` Bundle: entries in server order (includes too), `total` =
    /// number of matches.
    pub async fn search_all(&self, query: &str) -> Result<Vec<u8>> {
        self.collect_pages(query, None, "searchset").await
    }

    /// At most `limit` matching resources (with the includes of the pages fetched); stops fetching
    /// once reached. When the query sets no `_count`, `_count=limit` is asked for (if ≤ 500).
    pub async fn search_limit(&self, query: &str, limit: u64) -> Result<Vec<u8>> {
        let mut q = query.to_owned();
        if limit > 0 && limit <= 500 && !has_param(&q, "_count") {
            q = set_param(&q, "_count", &limit.to_string());
        }
        self.collect_pages(&q, Some(limit), "searchset").await
    }

    /// Pages into one Bundle of `bundle_type`; with `limit`, at most that many matches.
    pub(crate) async fn collect_pages(
        &self,
        query: &str,
        limit: Option<u64>,
        bundle_type: &str,
    ) -> Result<Vec<u8>> {
        let mut pager = Pager::new(self, query)?;
        let mut out = BundleWriter::new(bundle_type);
        let mut matches = 0u64;
        if limit == Some(0) {
            return Ok(out.finish(Some(0), Some(pager.first_url())));
        }
        'pages: while let Some(body) = pager.fetch().await? {
            let page = parse_page(&body)?;
            pager.advance(page.next.as_deref());
            for entry in &page.entries {
                let view = entry_view(entry)?;
                if is_match(&view) {
                    if limit.is_some_and(|l| matches >= l) {
                        continue;
                    }
                    matches += 1;
                }
                out.push_raw(entry.get());
            }
            if limit.is_some_and(|l| matches >= l) {
                break 'pages;
            }
        }
        Ok(out.finish(Some(matches), Some(pager.first_url())))
    }

    /// The first page, as the server sent it (checked to be a Bundle).
    pub async fn search_first(&self, query: &str) -> Result<Bytes> {
        let mut pager = Pager::new(self, query)?;
        let body = pager
            .fetch()
            .await?
            .ok_or_else(|| Error::protocol("no page"))?;
        parse_page(&body)?;
        Ok(body)
    }

    /// The number of matches (`_summary=count`).
    pub async fn search_count(&self, query: &str) -> Result<u64> {
        let q = set_param(&remove_param(query, "_count"), "_summary", "count");
        let body = self.search_first(&q).await?;
        parse_page(&body)?
            .total
            .ok_or_else(|| Error::protocol("the server's _summary=count answer has no total"))
    }

    /// The streaming loop: each page's body and its parsed form go to `on_page`, which returns
    /// whether to go on. One page in memory at a time. Blocking: runs on the caller's thread,
    /// outside the runtime, so the callback may call the library. Returns the absolute URL of the
    /// page that would come next (to resume), or None at the end.
    fn stream(
        &self,
        query: &str,
        mut on_page: impl FnMut(&[u8], &Page) -> Result<bool>,
    ) -> Result<Option<String>> {
        let mut pager = Pager::new(self, query)?;
        loop {
            let Some(body) = crate::runtime::block_on(pager.fetch())?? else {
                return Ok(None);
            };
            let page = parse_page(&body)?;
            pager.advance(page.next.as_deref());
            if !on_page(&body, &page)? {
                return pager.resume_url();
            }
        }
    }

    /// Hand each page to `on_page` (return false to stop); see [`FhirServer::stream`].
    pub fn stream_pages(
        &self,
        query: &str,
        mut on_page: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<String>> {
        self.stream(query, |body, _| Ok(on_page(body)))
    }

    /// Hand each entry's resource to `on_resource(json, search_mode)` (return false to stop).
    /// When stopped mid-page, the resume URL is that of the page after the current one.
    pub fn stream_resources(
        &self,
        query: &str,
        mut on_resource: impl FnMut(&str, &str) -> bool,
    ) -> Result<Option<String>> {
        self.stream(query, |_, page| {
            for entry in &page.entries {
                let view = entry_view(entry)?;
                if let Some(res) = view.resource {
                    let mode = view
                        .search
                        .as_ref()
                        .and_then(|s| s.mode.as_deref())
                        .unwrap_or("match");
                    if !on_resource(res.get(), mode) {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })
    }
}
