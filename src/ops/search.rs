//! Search with paging: all pages into one Bundle, at most `n` resources, the first page, the
//! count, and streaming page by page (memory bounded by one page).
//!
//! Paging is guarded: `next` links may be absolute, host-relative, base-relative or query-only; a
//! link to another origin is refused unless the caller allowed it (and is then followed without
//! credentials or custom headers); a link already visited stops the search instead of looping
//! forever.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use reqwest::Method;
use url::Url;

use crate::config::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::bundle::{
    entry_view, parse_page, parse_search_page, BundleWriter, Page, SearchPage,
};
use crate::ops::query::{has_param, remove_param, set_param};
use crate::server::{check_path_segments, is_http_url, FhirServer};
use crate::transport::Request;

/// The first page of a search as `POST [path]/_search` with the query as a form body (FHIR
/// R4 §3.1.1.4.1): for queries too long for a URL. A query on the base itself (`?_type=...`)
/// goes to `[base]/_search`.
fn post_search(url: Url) -> Result<Request> {
    let query = url.query().unwrap_or("").to_owned();
    let mut target = url;
    target.set_query(None);
    let path = target.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/_search") {
        target.set_path(&format!("{path}/_search"));
    }
    log::debug!(
        target: "fhir_kindling::paging",
        "the search URL is long ({} bytes of query): POST {}",
        query.len(),
        target.path()
    );
    let mut req = Request::new(Method::POST, target);
    req.read_only = true;
    Ok(req
        .header(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(query))
}

/// Walks the pages of a search. `fetch` returns a page's body; the caller parses it and hands
/// its `next` link to `advance`. Problems with a link are reported at the next `fetch`, so the
/// page that carried the link is never lost.
pub(crate) struct Pager<'s> {
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

    pub async fn fetch(&mut self) -> Result<Option<Vec<u8>>> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let max_pages = Limits::get(self.server.transport.limits.max_pages);
        if self.pages >= max_pages {
            self.next = Some(url);
            return Err(Error::new(
                ErrorKind::Limit,
                format!("the search has more than {max_pages} pages (option max_pages); stopped"),
            ));
        }
        self.current = Some(url.clone());
        let anonymous = !self.server.under_base(&url);
        let threshold = self.server.transport.search_post_threshold;
        let mut req = match self.pages == 0 && url.as_str().len() > threshold && !anonymous {
            true => post_search(url)?,
            false => Request::new(Method::GET, url),
        };
        req.anonymous = anonymous;
        let resp = self.server.send_ok(req).await?;
        self.pages += 1;
        log::debug!(
            target: "fhir_kindling::paging",
            "page {}: {} bytes",
            self.pages,
            resp.body.len()
        );
        Ok(Some(resp.body))
    }

    /// Fuzzing only (`--cfg fuzzing`, see `src/fuzzing.rs`): what `fetch` does to the pager's
    /// state, without the request, so that link resolution (query-only links too) and loop
    /// detection can be fuzzed page after page.
    #[cfg(fuzzing)]
    pub(crate) fn fetch_offline(&mut self) -> Option<Url> {
        let url = self.next.take()?;
        self.current = Some(url.clone());
        self.pages += 1;
        Some(url)
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
        let paging = |m: String| Error::new(ErrorKind::Paging, m);
        let base = self.server.base_url();
        if link.chars().any(|c| c.is_control()) {
            return Err(paging(
                "the server's next link contains control characters".into(),
            ));
        }
        check_path_segments(link)
            .map_err(|why| paging(format!("the server's next link is refused: {why}")))?;
        if !is_http_url(link) && link.split('?').next().unwrap_or("").contains("://") {
            return Err(paging(
                "the server's next link is neither http(s) nor relative".into(),
            ));
        }
        let resolved = if is_http_url(link) {
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
        .map_err(|e| paging(format!("the server's next link is not a URL: {e}")))?;
        // A fragment is never sent: links that differ only there are the same page.
        let mut resolved = resolved;
        resolved.set_fragment(None);
        if !resolved.username().is_empty() || resolved.password().is_some() {
            return Err(paging(
                "the server's next link carries credentials; not followed (a link may never add credentials)"
                    .into(),
            ));
        }
        if !self.server.under_base(&resolved) && !self.server.allow_foreign_links {
            return Err(paging(format!(
                "the server's next link points outside the base URL ({}://{}); not followed, so credentials \
                 only go to {} (the allow-foreign-links option permits it, without credentials)",
                resolved.scheme(),
                resolved.host_str().unwrap_or(""),
                base
            )));
        }
        if !self.seen.insert(url_key(resolved.as_str())) {
            return Err(paging(format!(
                "the server's next link repeats a page already fetched (after {} pages); stopped to avoid a loop",
                self.pages
            )));
        }
        Ok(resolved)
    }
}

/// Drops this thread's spare body buffer (see [`crate::transport::recycle_body`]) when dropped.
struct SpareBody;

impl Drop for SpareBody {
    fn drop(&mut self) {
        crate::transport::recycle_body(None);
    }
}

/// Drive `fetch` until it waits for the server (its request written) without waiting for the
/// answer: Some when it finished already. Used wherever a page is fetched ahead.
pub(crate) async fn started<F: std::future::Future + Unpin>(fetch: &mut F) -> Option<F::Output> {
    tokio::select! {
        biased;
        r = fetch => Some(r),
        _ = async {
            // Twice: once for the connection's task to run, once for it to write.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        } => None,
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
        out.limit(Limits::get(self.transport.limits.max_result_bytes));
        let mut matches = 0u64;
        if limit == Some(0) {
            return Ok(out.finish(Some(0), Some(pager.first_url())));
        }
        // The entries of one page into `out`; Ok(true) once `limit` matches are in.
        let mut take = |body: &[u8], page: SearchPage| -> Result<bool> {
            if out.is_empty() && limit.is_none() {
                if let Some(total) = page.total {
                    // `total` counts matches; the entries include included resources too.
                    let bytes = page.entries.iter().map(|e| e.raw.len() + 1).sum();
                    let matches = page.entries.iter().filter(|e| e.is_match(body)).count();
                    out.expect(total, matches, bytes);
                }
            }
            for entry in &page.entries {
                if entry.is_match(body) {
                    if limit.is_some_and(|l| matches >= l) {
                        continue;
                    }
                    matches += 1;
                }
                out.push_raw_bytes(&body[entry.raw.clone()])?;
            }
            if let Some(e) = page.malformed {
                return Err(e);
            }
            Ok(limit.is_some_and(|l| matches >= l))
        };
        // Page buffers are recycled while the pages are read; the spare goes when this returns,
        // on every path.
        let _spare = SpareBody;
        let mut fetched = pager.fetch().await?;
        while let Some(body) = fetched.take() {
            // Without a limit every page is read: when the page gives its `next` link before
            // its entries, the next page is asked for first and this one read meanwhile.
            let early = match limit {
                None => crate::ops::scan::scan_next_link(&body).map(str::to_owned),
                Some(_) => None,
            };
            if let Some(link) = &early {
                pager.advance(Some(link));
            }
            if early.is_some() && pager.next.is_some() && pager.pending.is_none() {
                let mut ahead = Box::pin(pager.fetch());
                let arrived = started(&mut ahead).await;
                let page = parse_search_page(&body, true)?;
                debug_assert_eq!(page.next, early);
                take(&body, page)?;
                crate::transport::recycle_body(Some(body));
                fetched = match arrived {
                    Some(next) => next?,
                    None => ahead.await?,
                };
            } else {
                let page = parse_search_page(&body, true)?;
                if early.is_none() {
                    pager.advance(page.next.as_deref());
                }
                if take(&body, page)? {
                    break;
                }
                crate::transport::recycle_body(Some(body));
                fetched = pager.fetch().await?;
            }
        }
        Ok(out.finish(Some(matches), Some(pager.first_url())))
    }

    /// The first page, as the server sent it (checked to be a Bundle).
    pub async fn search_first(&self, query: &str) -> Result<Vec<u8>> {
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

    /// Start walking a search page by page (see [`SearchStream`]).
    pub fn search_stream(&self, query: &str) -> Result<SearchStream<'_>> {
        Ok(SearchStream {
            pager: Pager::new(self, query)?,
            in_flight: None,
            prefetching: None,
        })
    }
}

/// A search walked page by page, one page in memory at a time, for callers that consume pages as
/// they come. Async and free of callbacks: the caller's loop asks for the next page and decides
/// whether to go on; paging is guarded as for every search.
pub struct SearchStream<'s> {
    pager: Pager<'s>,
    /// The URL of the page fetched last: the one to retry when it cannot be fetched, parsed or
    /// handed over. None when the last `next` link was refused.
    in_flight: Option<String>,
    /// The URL of the page being fetched ahead of the caller, if any.
    prefetching: Option<Url>,
}

impl SearchStream<'_> {
    /// The next page's body (checked to be a Bundle, its `next` link recorded), or None once the
    /// search is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(body) = self.fetch().await? else {
            return Ok(None);
        };
        self.accept(&body)?;
        Ok(Some(body))
    }

    /// The next page's body, or None once the search is exhausted.
    pub(crate) async fn fetch(&mut self) -> Result<Option<Vec<u8>>> {
        // None when the last link was refused: then there is no page to retry.
        self.in_flight = self.pager.next_url();
        self.pager.fetch().await
    }

    /// Parse a fetched page (checked to be a Bundle) and record its `next` link.
    pub(crate) fn accept<'b>(&mut self, body: &'b [u8]) -> Result<Page<'b>> {
        let page = parse_page(body)?;
        self.pager.advance(page.next.as_deref());
        Ok(page)
    }

    /// Read a fetched page in one pass (checked to be a Bundle; `views`: with each entry's
    /// resource and mode) and record its `next` link.
    pub(crate) fn accept_spans(&mut self, body: &[u8], views: bool) -> Result<SearchPage> {
        let page = parse_search_page(body, views)?;
        self.pager.advance(page.next.as_deref());
        Ok(page)
    }

    /// Record the `next` link of a fetched page from its members before the entries (see
    /// [`crate::ops::scan::scan_next_link`]), so that the next page can be fetched while this
    /// one is read; read the page with [`Self::read_page`] then. None (nothing recorded): read
    /// it with [`Self::accept_spans`].
    pub(crate) fn accept_next_link(&mut self, body: &[u8]) -> Option<String> {
        let link = crate::ops::scan::scan_next_link(body)?;
        self.pager.advance(Some(link));
        Some(link.to_owned())
    }

    /// Read a page whose `next` link [`Self::accept_next_link`] recorded: as
    /// [`Self::accept_spans`], the link not recorded again. A page that reads at all has that
    /// link (a second `link` member is refused).
    pub(crate) fn read_page(
        body: &[u8],
        views: bool,
        recorded: Option<&str>,
    ) -> Result<SearchPage> {
        let page = parse_search_page(body, views)?;
        debug_assert_eq!(page.next.as_deref(), recorded);
        Ok(page)
    }

    /// Whether the next page can be fetched ahead of the caller: there is a `next` link and no
    /// refused link is pending.
    pub(crate) fn can_prefetch(&self) -> bool {
        self.pager.next.is_some() && self.pager.pending.is_none()
    }

    /// Fetch the next page ahead of the caller, while the current page is still being handed
    /// over: a failure to hand the current page over still names the current page. Call
    /// [`Self::adopt_prefetch`] once the current page is handed over, or
    /// [`Self::drop_prefetch`] when the caller stopped.
    pub(crate) async fn prefetch(&mut self) -> Result<Option<Vec<u8>>> {
        self.prefetching = self.pager.next.clone();
        self.pager.fetch().await
    }

    /// The prefetched page is now the one in flight: the page to retry from if it failed.
    pub(crate) fn adopt_prefetch(&mut self) {
        self.in_flight = self.prefetching.take().map(|u| u.to_string());
    }

    /// The caller stopped while the next page was fetched ahead: that page was never seen, so it
    /// is where a resumed search starts (the prefetched answer, if any, is dropped).
    pub(crate) fn drop_prefetch(&mut self) {
        if let Some(url) = self.prefetching.take() {
            self.pager.next = Some(url);
        }
    }

    /// After a stop by the caller: the absolute URL of the page that would come next (to
    /// resume), None at the end, or the reason there is none (a refused or looping link).
    pub fn resume_url(&mut self) -> Result<Option<String>> {
        self.pager.resume_url()
    }

    /// After a failure: the absolute URL of the page that could not be fetched, parsed or
    /// handed over (to retry from there), or None when the failure was a refused link.
    pub fn failed_url(&self) -> Option<&str> {
        self.in_flight.as_deref()
    }
}

/// The resources of a Bundle's entries with their search mode ("match" when the server gives
/// none), in server order; entries without a resource are skipped.
pub fn bundle_resources(bundle: &[u8]) -> Result<Vec<(&str, String)>> {
    let page = parse_page(bundle)?;
    page_resources(&page).collect()
}

/// The resources of a page's entries with their search mode ("match" when the server gives
/// none), in server order; entries without a resource are skipped.
pub(crate) fn page_resources<'a, 'p>(
    page: &'p Page<'a>,
) -> impl Iterator<Item = Result<(&'a str, String)>> + 'p {
    page.entries
        .iter()
        .filter_map(|entry| match entry_view(entry) {
            Err(e) => Some(Err(e)),
            Ok(view) => view.resource.map(|res| {
                let mode = view
                    .search
                    .and_then(|s| s.mode)
                    .unwrap_or_else(|| "match".to_owned());
                Ok((res.get(), mode))
            }),
        })
}
