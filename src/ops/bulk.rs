//! HL7 FHIR Bulk Data Access `$export`: kick-off, status polling, streaming download of the NDJSON
//! files, cancel and resume.
//!
//! Everything the server controls is checked and bounded: the status URL must lie under the base
//! URL (it receives the credentials); the manifest has a size limit and a file-count limit; file
//! URLs must be http(s) without credentials; each NDJSON line has a length limit and must be one
//! JSON document; redirects of a file are followed by hand, at most a few, and the bearer token is
//! sent only when the manifest says `requiresAccessToken` and only to the FHIR server's origin,
//! never again once a redirect left it. `Retry-After` is honoured but clamped to the caller's
//! poll interval bounds, so a server that always says 120 s (or hours) cannot stall the caller.
//!
//! Downloads are pulled: [`BulkDownload::next`] drives up to `parallel` file transfers at once and
//! returns the next batch of complete lines, so the caller handles lines between awaits (a C
//! callback runs outside the async runtime) and memory stays bounded by `parallel` × the buffer
//! size (plus at most one line of `max_line_bytes` per transfer).

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::mpsc;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::retry::parse_retry_after;
use crate::server::{check_path_segments, FhirServer};
use crate::transport::{map_reqwest_error, Request};

/// `Accept` of the files: HAPI answers with a `Binary` resource otherwise.
pub const NDJSON: &str = "application/fhir+ndjson";
/// Longest URL accepted from the server (status URL, file URLs, redirects).
const MAX_URL_LEN: usize = 8192;
/// Longest `X-Progress` text handed on.
const MAX_PROGRESS_LEN: usize = 256;
/// Bytes of an error answer kept for the error object.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Consecutive transient failures of the status URL (429, 5xx, transient OperationOutcome)
/// before polling gives up.
const MAX_TRANSIENT_POLLS: u32 = 30;

/// The level of an export.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ExportLevel {
    /// `[base]/$export`: every resource.
    #[default]
    System,
    /// `[base]/Patient/$export`: the compartments of every patient.
    Patient,
    /// `[base]/Group/[id]/$export`: the compartments of a group's members.
    Group(String),
}

/// The parameters of a kick-off request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportRequest {
    pub level: ExportLevel,
    /// `_type`: resource types to include (all when empty).
    pub types: Vec<String>,
    /// `_since`: an instant, such as `2024-01-01T00:00:00Z`.
    pub since: Option<String>,
    /// `_until`: an instant.
    pub until: Option<String>,
    /// `_typeFilter`: each `Type?search-params` (repeatable).
    pub type_filters: Vec<String>,
    /// `_outputFormat` (the server's default, NDJSON, when `None`).
    pub output_format: Option<String>,
    /// `Prefer: handling=lenient`: the server may ignore parameters it does not support.
    pub lenient: bool,
}

/// How polling and downloads behave; every bound the server could otherwise push is here.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkOptions {
    /// Shortest wait between two polls (also the first backoff step).
    pub min_poll: Duration,
    /// Longest wait between two polls: a longer `Retry-After` is cut to this.
    pub max_poll: Duration,
    /// Total time polling may take (from the first poll of a wait); `None` for no limit.
    pub deadline: Option<Duration>,
    /// Files downloaded at once (at least 1).
    pub parallel: usize,
    /// Bytes of one NDJSON line (one resource); a longer line is a `Limit` error.
    pub max_line_bytes: usize,
    /// Bytes of lines handed over in one batch; bounds memory with `parallel`.
    pub buffer_bytes: usize,
    /// Bytes of the completion manifest.
    pub max_manifest_bytes: u64,
    /// Entries (output + error + deleted) of the manifest.
    pub max_files: usize,
    /// Attempts per file (the first included) for transient failures.
    pub file_attempts: u32,
    /// Redirects followed per file request.
    pub max_redirects: u32,
    /// A file transfer that receives nothing for this long fails (and is retried).
    pub idle_timeout: Duration,
    /// Attempts of the kick-off request on 429 / 503 / transient OperationOutcome.
    pub kickoff_attempts: u32,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            min_poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(60),
            deadline: Some(Duration::from_secs(24 * 3600)),
            parallel: 4,
            max_line_bytes: 64 << 20,
            buffer_bytes: 256 << 10,
            max_manifest_bytes: 64 << 20,
            max_files: 100_000,
            file_attempts: 5,
            max_redirects: 5,
            idle_timeout: Duration::from_secs(120),
            kickoff_attempts: 5,
        }
    }
}

impl BulkOptions {
    /// Set the poll interval bounds; `min` must not exceed `max`, `max` at most a day.
    pub fn set_poll_interval(&mut self, min: Duration, max: Duration) -> Result<()> {
        if min > max {
            return Err(Error::invalid(
                "the minimum poll interval exceeds the maximum poll interval",
            ));
        }
        if max > Duration::from_secs(86_400) {
            return Err(Error::invalid(
                "the maximum poll interval is at most one day",
            ));
        }
        self.min_poll = min;
        self.max_poll = max;
        Ok(())
    }

    /// Set the number of parallel downloads (1..=64).
    pub fn set_parallel(&mut self, n: usize) -> Result<()> {
        if !(1..=64).contains(&n) {
            return Err(Error::invalid(
                "parallel downloads must be between 1 and 64",
            ));
        }
        self.parallel = n;
        Ok(())
    }

    /// Set the longest NDJSON line (1 KiB ..= 1 GiB).
    pub fn set_max_line_bytes(&mut self, n: usize) -> Result<()> {
        if !(1024..=1 << 30).contains(&n) {
            return Err(Error::invalid(
                "the maximum line length must be between 1024 bytes and 1 GiB",
            ));
        }
        self.max_line_bytes = n;
        Ok(())
    }

    /// Set the attempts per file (1..=100).
    pub fn set_file_attempts(&mut self, n: u32) -> Result<()> {
        if !(1..=100).contains(&n) {
            return Err(Error::invalid("file attempts must be between 1 and 100"));
        }
        self.file_attempts = n;
        Ok(())
    }

    /// Set the manifest size limit (1 KiB ..= 1 GiB).
    pub fn set_max_manifest_bytes(&mut self, n: u64) -> Result<()> {
        if !(1024..=1 << 30).contains(&n) {
            return Err(Error::invalid(
                "the manifest size limit must be between 1024 bytes and 1 GiB",
            ));
        }
        self.max_manifest_bytes = n;
        Ok(())
    }
}

/// What a file of the manifest holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// An `output[]` entry: exported resources.
    Output,
    /// An `error[]` entry: OperationOutcomes about resources the server could not export.
    Error,
    /// A `deleted[]` entry: Bundles naming deleted resources (`_since` exports).
    Deleted,
}

impl FileKind {
    fn label(self) -> &'static str {
        match self {
            FileKind::Output => "output",
            FileKind::Error => "error",
            FileKind::Deleted => "deleted",
        }
    }
}

/// One file of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkFile {
    pub kind: FileKind,
    /// The manifest's `type` (a resource type, checked to be letters only).
    pub resource_type: String,
    /// The absolute URL (relative ones resolved against the base URL).
    pub url: Url,
    /// The manifest's `count`, when given.
    pub count: Option<u64>,
}

/// The completion manifest: its JSON as the server sent it, and the parts the download uses.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The manifest as received (owned; hand it to the caller or keep it to download later).
    pub json: Bytes,
    pub transaction_time: Option<String>,
    pub requires_access_token: bool,
    /// `output[]`, then `error[]`, then `deleted[]`, in manifest order; the index in this list is
    /// the file index reported with every line.
    pub files: Vec<BulkFile>,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(rename = "transactionTime")]
    transaction_time: Option<String>,
    #[serde(rename = "requiresAccessToken", default)]
    requires_access_token: bool,
    output: Option<Vec<RawFile>>,
    #[serde(default)]
    error: Vec<RawFile>,
    #[serde(default)]
    deleted: Vec<RawFile>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(rename = "type")]
    resource_type: String,
    url: String,
    count: Option<u64>,
}

impl Manifest {
    /// Parse and check a manifest (from the server or saved by the caller): `output` must be an
    /// array; every entry needs a letters-only `type` and an http(s) `url` without credentials
    /// (relative URLs are resolved against the base URL).
    pub fn parse(server: &FhirServer, json: Bytes, options: &BulkOptions) -> Result<Manifest> {
        if json.len() as u64 > options.max_manifest_bytes {
            return Err(Error::new(
                ErrorKind::Limit,
                format!(
                    "the bulk export manifest is {} bytes, over the limit of {} bytes",
                    json.len(),
                    options.max_manifest_bytes
                ),
            ));
        }
        crate::ops::bundle::check_utf8(&json)?;
        let raw: RawManifest = serde_json::from_slice(&json)
            .map_err(|e| Error::json(format!("the bulk export manifest is malformed: {e}")))?;
        let output = raw
            .output
            .ok_or_else(|| Error::protocol("the bulk export manifest has no `output` array"))?;
        let total = output.len() + raw.error.len() + raw.deleted.len();
        if total > options.max_files {
            return Err(Error::new(
                ErrorKind::Limit,
                format!(
                    "the bulk export manifest lists {total} files, over the limit of {}",
                    options.max_files
                ),
            ));
        }
        let mut files = Vec::with_capacity(total);
        for (kind, list) in [
            (FileKind::Output, output),
            (FileKind::Error, raw.error),
            (FileKind::Deleted, raw.deleted),
        ] {
            for (i, f) in list.into_iter().enumerate() {
                let what = format!("manifest {}[{i}]", kind.label());
                if !valid_type(&f.resource_type) {
                    return Err(Error::protocol(format!(
                        "{what}: `type` is not a resource type"
                    )));
                }
                let url = server_url(server, &f.url, None).map_err(|e| {
                    Error::protocol(format!("{what}: `url` is refused: {}", e.message()))
                })?;
                files.push(BulkFile {
                    kind,
                    resource_type: f.resource_type,
                    url,
                    count: f.count,
                });
            }
        }
        Ok(Manifest {
            transaction_time: raw.transaction_time,
            requires_access_token: raw.requires_access_token,
            files,
            json,
        })
    }
}

fn check_group_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(Error::invalid(
            "the group id must be 1 to 64 letters, digits, '-' or '.'",
        ));
    }
    Ok(())
}

fn check_type(t: &str) -> Result<()> {
    if !valid_type(t) {
        return Err(Error::invalid(format!(
            "_type '{}' is not a resource type",
            crate::redact::quote(t, 64)
        )));
    }
    Ok(())
}

fn check_instant(name: &str, v: &str) -> Result<()> {
    if !valid_instant(v) {
        return Err(Error::invalid(format!(
            "{name} must be a FHIR instant such as 2024-01-31T12:00:00Z"
        )));
    }
    Ok(())
}

fn check_type_filter(f: &str) -> Result<()> {
    let (t, rest) = f.split_once('?').unwrap_or((f, ""));
    if !valid_type(t) || rest.is_empty() || f.len() > 4096 || f.chars().any(char::is_control) {
        return Err(Error::invalid(
            "_typeFilter must be `Type?search-parameters` (at most 4096 bytes)",
        ));
    }
    Ok(())
}

fn check_output_format(fmt: &str) -> Result<()> {
    if fmt.is_empty() || fmt.len() > 128 || fmt.chars().any(char::is_control) {
        return Err(Error::invalid("_outputFormat must be 1 to 128 characters"));
    }
    Ok(())
}

impl ExportRequest {
    /// Export the members of group `id` (`Group/[id]/$export`).
    pub fn set_group(&mut self, id: &str) -> Result<()> {
        check_group_id(id)?;
        self.level = ExportLevel::Group(id.to_owned());
        Ok(())
    }

    /// Add a resource type to `_type`.
    pub fn add_type(&mut self, t: &str) -> Result<()> {
        check_type(t)?;
        self.types.push(t.to_owned());
        Ok(())
    }

    /// Set (or with `None` clear) `_since`.
    pub fn set_since(&mut self, v: Option<&str>) -> Result<()> {
        if let Some(v) = v {
            check_instant("_since", v)?;
        }
        self.since = v.map(str::to_owned);
        Ok(())
    }

    /// Set (or with `None` clear) `_until`.
    pub fn set_until(&mut self, v: Option<&str>) -> Result<()> {
        if let Some(v) = v {
            check_instant("_until", v)?;
        }
        self.until = v.map(str::to_owned);
        Ok(())
    }

    /// Add a `_typeFilter` (`Type?search-parameters`, not percent-encoded as a whole).
    pub fn add_type_filter(&mut self, f: &str) -> Result<()> {
        check_type_filter(f)?;
        self.type_filters.push(f.to_owned());
        Ok(())
    }

    /// Set (or with `None` clear) `_outputFormat`.
    pub fn set_output_format(&mut self, v: Option<&str>) -> Result<()> {
        if let Some(v) = v {
            check_output_format(v)?;
        }
        self.output_format = v.map(str::to_owned);
        Ok(())
    }
}

/// A letters-only resource type of at most 64 characters.
fn valid_type(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphabetic())
}

/// A URL the server gave: absolute http(s), or relative to `relative_to` (else the base URL);
/// no credentials, no control characters, bounded length. The text is never echoed.
fn server_url(server: &FhirServer, raw: &str, relative_to: Option<&Url>) -> Result<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Error::protocol("the URL is empty"));
    }
    if raw.len() > MAX_URL_LEN {
        return Err(Error::new(
            ErrorKind::Limit,
            format!("the URL is longer than {MAX_URL_LEN} bytes"),
        ));
    }
    if raw.chars().any(|c| c.is_control()) {
        return Err(Error::protocol("the URL contains control characters"));
    }
    let base = match relative_to {
        Some(u) => u.clone(),
        None => Url::parse(&format!("{}/", server.base_url()))
            .map_err(|e| Error::protocol(format!("the base URL cannot resolve: {e}")))?,
    };
    let url = base
        .join(raw)
        .map_err(|e| Error::protocol(format!("the URL is invalid: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Error::protocol("the URL is not http(s) with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::protocol("the URL carries credentials"));
    }
    Ok(url)
}

/// The state of an export after one poll.
#[derive(Clone, Debug)]
pub enum PollStatus {
    /// Still running (HTTP 202), or the status URL failed transiently (429, 5xx, a transient
    /// OperationOutcome): poll again after `retry_after` (as the server said it, unclamped).
    InProgress {
        /// `X-Progress`, or a note on the transient failure (bounded, control characters removed).
        progress: Option<String>,
        retry_after: Option<Duration>,
        /// The transient failure, when that is why the export is reported in progress.
        transient: Option<Error>,
    },
    /// Done: the manifest.
    Complete(Manifest),
}

/// What `DELETE` on the status URL found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The server accepted the cancellation (202) or the deletion of a finished export's files.
    Cancelled,
    /// The server no longer knows the export (404/410): already finished or deleted.
    AlreadyGone,
}

/// Totals of a download.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadSummary {
    /// Files fully downloaded.
    pub files: u64,
    /// Lines (resources) of `output[]` files.
    pub resources: u64,
    /// Lines (OperationOutcomes) of `error[]` files: a partial success when not 0.
    pub errors: u64,
    /// Lines of `deleted[]` files.
    pub deleted: u64,
    /// Bytes of lines handed over (line ends excluded).
    pub bytes: u64,
    /// Whether the caller stopped before the end.
    pub stopped: bool,
}

impl DownloadSummary {
    fn count(&mut self, kind: FileKind, len: usize) {
        match kind {
            FileKind::Output => self.resources += 1,
            FileKind::Error => self.errors += 1,
            FileKind::Deleted => self.deleted += 1,
        }
        self.bytes += len as u64;
    }
}

/// One unit a download hands over.
#[derive(Debug)]
pub enum DownloadItem {
    /// Complete lines of one file, in file order.
    Lines(LineBatch),
    /// A file was downloaded completely (`lines` in all, checked against its `count`).
    FileDone { file: usize, lines: u64 },
}

/// Complete NDJSON lines of one file; each is one JSON document without its line end.
#[derive(Debug)]
pub struct LineBatch {
    pub file: usize,
    data: Bytes,
}

impl LineBatch {
    /// The lines, in file order, borrowed from the batch.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let data: &[u8] = &self.data;
        let data = data.strip_suffix(b"\n").unwrap_or(data);
        data.split(|&b| b == b'\n')
    }

    /// The lines as one buffer, each followed by `\n`.
    pub fn into_bytes(self) -> Bytes {
        self.data
    }
}

impl FhirServer {
    /// The status URL from a `Content-Location` (or a saved one): resolved against the base URL,
    /// and required to lie under it, since it receives the credentials.
    pub fn bulk_status_url(&self, raw: &str) -> Result<Url> {
        let url = server_url(self, raw, None)?;
        check_path_segments(url.as_str()).map_err(Error::protocol)?;
        if !self.under_base(&url) {
            return Err(Error::protocol(format!(
                "the bulk export status URL is not under the base URL {}; credentials are only sent there",
                self.base_url()
            )));
        }
        Ok(url)
    }

    /// The kick-off URL of a request (parameters checked and encoded).
    pub(crate) fn bulk_kickoff_url(&self, req: &ExportRequest) -> Result<Url> {
        let path = match &req.level {
            ExportLevel::System => "$export".to_owned(),
            ExportLevel::Patient => "Patient/$export".to_owned(),
            ExportLevel::Group(id) => {
                check_group_id(id)?;
                format!("Group/{id}/$export")
            }
        };
        let mut url = self.resolve(&path)?;
        {
            let mut q = url.query_pairs_mut();
            if !req.types.is_empty() {
                for t in &req.types {
                    check_type(t)?;
                }
                q.append_pair("_type", &req.types.join(","));
            }
            for (name, value) in [("_since", &req.since), ("_until", &req.until)] {
                if let Some(v) = value {
                    check_instant(name, v)?;
                    q.append_pair(name, v);
                }
            }
            for f in &req.type_filters {
                check_type_filter(f)?;
                q.append_pair("_typeFilter", f);
            }
            if let Some(fmt) = &req.output_format {
                check_output_format(fmt)?;
                q.append_pair("_outputFormat", fmt);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Kick off an export: `GET` the `$export` URL with `Prefer: respond-async`; 429, 503 and
    /// transient OperationOutcomes are retried (waits clamped to the poll bounds). Returns the
    /// status URL (checked to lie under the base URL).
    pub async fn bulk_kickoff(&self, req: &ExportRequest, options: &BulkOptions) -> Result<Url> {
        let url = self.bulk_kickoff_url(req)?;
        let prefer = if req.lenient {
            "respond-async, handling=lenient"
        } else {
            "respond-async"
        };
        let mut attempt = 1;
        loop {
            let r = Request::new(Method::GET, url.clone())
                .header(
                    ACCEPT,
                    HeaderValue::from_static(crate::transport::FHIR_JSON),
                )
                .header(
                    reqwest::header::HeaderName::from_static("prefer"),
                    HeaderValue::from_static(prefer),
                );
            let what = format!("bulk export kick-off {}", r.describe());
            let resp = self.transport.send(&r).await?;
            if resp.status == 202 {
                let loc = resp.header_str("content-location").ok_or_else(|| {
                    Error::protocol(format!(
                        "{what}: HTTP 202 without a Content-Location header"
                    ))
                })?;
                return self.bulk_status_url(loc);
            }
            let err = Error::from_status(resp.status, &what, resp.body.clone());
            if resp.is_success() {
                return Err(Error::protocol(format!(
                    "{what}: HTTP {} instead of 202 Accepted (the server did not start an asynchronous export)",
                    resp.status
                )));
            }
            if is_transient(resp.status, &resp.body) && attempt < options.kickoff_attempts {
                let ra = retry_after(&resp.headers);
                pause(clamp_wait(ra, attempt, options)).await?;
                attempt += 1;
                continue;
            }
            let mut err = err;
            if attempt > 1 {
                err.push_message(&format!(" (after {attempt} attempts)"));
            }
            return Err(err);
        }
    }

    /// One poll of the status URL.
    pub async fn bulk_poll(&self, status_url: &str, options: &BulkOptions) -> Result<PollStatus> {
        let url = self.bulk_status_url(status_url)?;
        self.poll_url(&url, options).await
    }

    async fn poll_url(&self, url: &Url, options: &BulkOptions) -> Result<PollStatus> {
        let r = Request::new(Method::GET, url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let what = format!("bulk export status {}", r.describe());
        let resp = self.transport.send(&r).await?;
        let ra = retry_after(&resp.headers);
        match resp.status {
            202 => Ok(PollStatus::InProgress {
                progress: resp.header_str("x-progress").map(bounded_text),
                retry_after: ra,
                transient: None,
            }),
            200 => Ok(PollStatus::Complete(
                Manifest::parse(self, resp.body.into(), options)
                    .map_err(|e| e.with_context(&what))?,
            )),
            s if is_transient(s, &resp.body) => {
                let err = Error::from_status(s, &what, resp.body);
                Ok(PollStatus::InProgress {
                    progress: Some(bounded_text(&format!("transient failure: HTTP {s}"))),
                    retry_after: ra,
                    transient: Some(err),
                })
            }
            s if (200..300).contains(&s) => Err(Error::protocol(format!(
                "{what}: HTTP {s} is neither 202 (in progress) nor 200 (complete)"
            ))),
            s => Err(Error::from_status(s, &what, resp.body)),
        }
    }

    /// Poll until the export completes: waits follow `Retry-After` clamped to the poll bounds
    /// (exponential backoff from `min_poll` when the server sends none); `on_progress` gets each
    /// `X-Progress`; fails with `Timeout` past the deadline.
    pub async fn bulk_wait(
        &self,
        status_url: &str,
        options: &BulkOptions,
        mut on_progress: impl FnMut(Option<&str>),
    ) -> Result<Manifest> {
        let mut waiter = BulkWait::new(self, status_url, options)?;
        loop {
            match waiter.step(self).await? {
                WaitStep::Progress(p) => on_progress(p.as_deref()),
                WaitStep::Complete(m) => return Ok(m),
            }
        }
    }

    /// `DELETE` the status URL: cancel a running export, or tell the server a finished one's
    /// files may go. A 404/410 means the export is already gone, which counts as done.
    pub async fn bulk_cancel(&self, status_url: &str) -> Result<CancelOutcome> {
        let url = self.bulk_status_url(status_url)?;
        let r = Request::new(Method::DELETE, url);
        let what = format!("bulk export cancel {}", r.describe());
        let resp = self.transport.send(&r).await?;
        match resp.status {
            s if (200..300).contains(&s) => Ok(CancelOutcome::Cancelled),
            404 | 410 => Ok(CancelOutcome::AlreadyGone),
            s => Err(Error::from_status(s, &what, resp.body)),
        }
    }

    /// Start downloading every file of `manifest`; pull the lines with [`BulkDownload::next`].
    pub fn bulk_download<'a>(
        &'a self,
        manifest: &Manifest,
        options: &BulkOptions,
    ) -> Result<BulkDownload<'a>> {
        BulkDownload::new(self, manifest, options)
    }

    /// Download every file of `manifest`, handing each line to `on_line(file, line)`; it returns
    /// `false` to stop (then the summary says `stopped`).
    pub async fn bulk_download_each(
        &self,
        manifest: &Manifest,
        options: &BulkOptions,
        mut on_line: impl FnMut(&BulkFile, &[u8]) -> bool,
    ) -> Result<DownloadSummary> {
        let mut dl = self.bulk_download(manifest, options)?;
        while let Some(item) = dl.next().await? {
            if let DownloadItem::Lines(batch) = item {
                let file = &manifest.files[batch.file];
                for line in batch.lines() {
                    dl.summary.count(file.kind, line.len());
                    if !on_line(file, line) {
                        dl.summary.stopped = true;
                        return Ok(dl.summary.clone());
                    }
                }
            }
        }
        Ok(dl.summary.clone())
    }

    /// Download every file of `manifest` into `dir` (created if missing): one file per manifest
    /// entry named by this library, never by the server (`output-00001-Patient.ndjson`,
    /// `error-00003-OperationOutcome.ndjson`, ...), written as `*.part` and renamed when complete;
    /// the manifest is saved as `manifest.json`. Returns the totals and the paths written.
    pub async fn bulk_download_to_dir(
        &self,
        manifest: &Manifest,
        options: &BulkOptions,
        dir: &Path,
    ) -> Result<(DownloadSummary, Vec<PathBuf>)> {
        use std::io::Write;
        let io = |what: &str, p: &Path, e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("cannot {what} {}: {e}", p.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory", dir, e))?;
        let mpath = dir.join("manifest.json");
        std::fs::write(&mpath, &manifest.json).map_err(|e| io("write", &mpath, e))?;
        let names: Vec<PathBuf> = manifest
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                dir.join(format!(
                    "{}-{:05}-{}.ndjson",
                    f.kind.label(),
                    i + 1,
                    f.resource_type
                ))
            })
            .collect();
        let part = |p: &Path| p.with_extension("ndjson.part");
        let mut open: std::collections::HashMap<usize, std::io::BufWriter<std::fs::File>> =
            std::collections::HashMap::new();
        let mut written = Vec::new();
        let mut dl = self.bulk_download(manifest, options)?;
        while let Some(item) = dl.next().await? {
            match item {
                DownloadItem::Lines(batch) => {
                    let i = batch.file;
                    let w = match open.entry(i) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            let p = part(&names[i]);
                            let f = std::fs::File::create(&p).map_err(|e| io("create", &p, e))?;
                            v.insert(std::io::BufWriter::with_capacity(64 << 10, f))
                        }
                    };
                    for line in batch.lines() {
                        dl.summary.count(manifest.files[i].kind, line.len());
                    }
                    w.write_all(&batch.data)
                        .map_err(|e| io("write", &part(&names[i]), e))?;
                }
                DownloadItem::FileDone { file, .. } => {
                    let p = part(&names[file]);
                    match open.remove(&file) {
                        Some(w) => {
                            let f = w
                                .into_inner()
                                .map_err(|e| io("write", &p, e.into_error()))?;
                            f.sync_all().map_err(|e| io("sync", &p, e))?;
                        }
                        // An empty file: nothing was written yet.
                        None => {
                            std::fs::File::create(&p).map_err(|e| io("create", &p, e))?;
                        }
                    }
                    std::fs::rename(&p, &names[file]).map_err(|e| io("rename", &p, e))?;
                    written.push(names[file].clone());
                }
            }
        }
        Ok((dl.summary.clone(), written))
    }

    /// The whole export in one call: kick-off, wait (progress to `on_progress`), download (each
    /// line to `on_line`). `on_status_url` gets the status URL as soon as it is known, so that a
    /// caller can resume with [`FhirServer::bulk_wait`] after a crash.
    pub async fn bulk_export(
        &self,
        req: &ExportRequest,
        options: &BulkOptions,
        on_status_url: impl FnOnce(&str),
        on_progress: impl FnMut(Option<&str>),
        on_line: impl FnMut(&BulkFile, &[u8]) -> bool,
    ) -> Result<DownloadSummary> {
        let status = self.bulk_kickoff(req, options).await?;
        on_status_url(status.as_str());
        let manifest = self
            .bulk_wait(status.as_str(), options, on_progress)
            .await?;
        self.bulk_download_each(&manifest, options, on_line).await
    }
}

/// One step of waiting for an export.
#[derive(Debug)]
pub enum WaitStep {
    /// Still running; `X-Progress` (or a note on a transient failure) when there is one.
    Progress(Option<String>),
    Complete(Manifest),
}

/// Polls one status URL with clamped waits, backoff, a transient-failure budget and a deadline.
/// Each [`BulkWait::step`] waits (except the first), polls once and reports.
pub struct BulkWait {
    url: Url,
    options: BulkOptions,
    deadline: Option<Instant>,
    next_wait: Option<Duration>,
    polls_without_hint: u32,
    transient: u32,
}

impl BulkWait {
    pub fn new(server: &FhirServer, status_url: &str, options: &BulkOptions) -> Result<BulkWait> {
        Ok(BulkWait {
            url: server.bulk_status_url(status_url)?,
            options: options.clone(),
            deadline: options.deadline.map(|d| Instant::now() + d),
            next_wait: None,
            polls_without_hint: 0,
            transient: 0,
        })
    }

    /// The status URL being polled.
    pub fn status_url(&self) -> &str {
        self.url.as_str()
    }

    /// How long the next step will wait before polling.
    pub fn next_wait(&self) -> Duration {
        self.next_wait.unwrap_or(Duration::ZERO)
    }

    pub async fn step(&mut self, server: &FhirServer) -> Result<WaitStep> {
        if let Some(wait) = self.next_wait.take() {
            let wait = match self.deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(self.timed_out());
                    }
                    wait.min(left)
                }
                None => wait,
            };
            pause(wait).await?;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(self.timed_out());
        }
        match server.poll_url(&self.url, &self.options).await? {
            PollStatus::Complete(m) => Ok(WaitStep::Complete(m)),
            PollStatus::InProgress {
                progress,
                retry_after,
                transient,
            } => {
                if let Some(e) = transient {
                    self.transient += 1;
                    if self.transient >= MAX_TRANSIENT_POLLS {
                        let mut e = e;
                        e.push_message(&format!(
                            " ({} transient failures of the status URL in a row)",
                            self.transient
                        ));
                        return Err(e);
                    }
                } else {
                    self.transient = 0;
                }
                if retry_after.is_none() {
                    self.polls_without_hint += 1;
                }
                self.next_wait = Some(clamp_wait(
                    retry_after,
                    self.polls_without_hint.max(1),
                    &self.options,
                ));
                Ok(WaitStep::Progress(progress))
            }
        }
    }

    fn timed_out(&self) -> Error {
        let d = self.options.deadline.unwrap_or_default();
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the bulk export did not complete within its deadline of {} s (the export may still be running on the server; poll its status URL again to resume, or cancel it)",
                d.as_secs()
            ),
        )
    }
}

/// A wait before the next poll: `Retry-After` clamped to `[min_poll, max_poll]`, or else
/// `min_poll × 2^(n-1)` capped at `max_poll` for the n-th poll without a hint.
pub(crate) fn clamp_wait(retry_after: Option<Duration>, n: u32, o: &BulkOptions) -> Duration {
    match retry_after {
        Some(d) => d.clamp(o.min_poll, o.max_poll),
        None => {
            let exp = n.saturating_sub(1).min(30);
            o.min_poll
                .max(Duration::from_millis(100))
                .saturating_mul(1u32 << exp)
                .min(o.max_poll)
                .max(o.min_poll)
        }
    }
}

/// Sleep; the one place bulk operations wait: a cancelled call or one past its deadline ends
/// here at once (see [`crate::call`]).
async fn pause(d: Duration) -> Result<()> {
    crate::call::sleep(d).await
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Text from the server for a progress report: at most 256 bytes, control characters dropped.
fn bounded_text(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).collect();
    if out.len() > MAX_PROGRESS_LEN {
        let mut end = MAX_PROGRESS_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// A FHIR instant (or date-time): digits, `-`, `:`, `T`, `.`, `+`, `Z`, starting with a year.
fn valid_instant(s: &str) -> bool {
    s.len() >= 4
        && s.len() <= 40
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b'T' | b'.' | b'+' | b'Z'))
}

/// Whether a failed answer is worth trying again: 429, 502/503/504, or an OperationOutcome
/// whose every issue has a transient code (`transient`, `throttled`, `timeout`, `lock-error`,
/// `no-store`, `incomplete`, `exception`).
pub(crate) fn is_transient(status: u16, body: &[u8]) -> bool {
    if matches!(status, 429 | 502 | 503 | 504) {
        return true;
    }
    if status < 400 || body.is_empty() || body.len() > 1 << 20 {
        return false;
    }
    #[derive(Deserialize)]
    struct Oo {
        #[serde(rename = "resourceType")]
        resource_type: String,
        #[serde(default)]
        issue: Vec<Issue>,
    }
    #[derive(Deserialize)]
    struct Issue {
        code: Option<String>,
    }
    let Ok(oo) = serde_json::from_slice::<Oo>(body) else {
        return false;
    };
    const TRANSIENT: [&str; 7] = [
        "transient",
        "throttled",
        "timeout",
        "lock-error",
        "no-store",
        "incomplete",
        "exception",
    ];
    oo.resource_type == "OperationOutcome"
        && !oo.issue.is_empty()
        && oo
            .issue
            .iter()
            .all(|i| i.code.as_deref().is_some_and(|c| TRANSIENT.contains(&c)))
}

type Worker<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// What the file transfers share.
struct Shared<'a> {
    server: &'a FhirServer,
    files: Vec<BulkFile>,
    requires_token: bool,
    options: BulkOptions,
}

/// Downloads in progress: up to `parallel` files at once. Dropping it stops every transfer.
pub struct BulkDownload<'a> {
    shared: Arc<Shared<'a>>,
    rx: mpsc::Receiver<DownloadItem>,
    tx: Option<mpsc::Sender<DownloadItem>>,
    workers: FuturesUnordered<Worker<'a>>,
    pending: VecDeque<usize>,
    /// Totals kept by the consumer (the caller counts the lines it handles).
    pub summary: DownloadSummary,
}

impl<'a> BulkDownload<'a> {
    fn new(server: &'a FhirServer, manifest: &Manifest, options: &BulkOptions) -> Result<Self> {
        let parallel = options.parallel.max(1);
        let (tx, rx) = mpsc::channel(parallel);
        Ok(BulkDownload {
            shared: Arc::new(Shared {
                server,
                files: manifest.files.clone(),
                requires_token: manifest.requires_access_token,
                options: options.clone(),
            }),
            rx,
            tx: Some(tx),
            workers: FuturesUnordered::new(),
            pending: (0..manifest.files.len()).collect(),
            summary: DownloadSummary::default(),
        })
    }

    /// The file a batch or event refers to.
    pub fn file(&self, index: usize) -> &BulkFile {
        &self.shared.files[index]
    }

    /// Count one line the caller handled (for the summary).
    pub fn count_line(&mut self, file: usize, len: usize) {
        let kind = self.shared.files[file].kind;
        self.summary.count(kind, len);
    }

    /// The next batch of lines or file completion; `None` when every file is done. On an error
    /// the other transfers are stopped.
    pub async fn next(&mut self) -> Result<Option<DownloadItem>> {
        loop {
            while self.workers.len() < self.shared.options.parallel.max(1) {
                let Some(i) = self.pending.pop_front() else {
                    break;
                };
                let tx = self
                    .tx
                    .clone()
                    .expect("sender kept while files are pending");
                self.workers
                    .push(Box::pin(fetch_file(self.shared.clone(), i, tx)));
            }
            if self.pending.is_empty() {
                self.tx = None;
            }
            tokio::select! {
                biased;
                item = self.rx.recv() => {
                    if let Some(DownloadItem::FileDone { .. }) = &item {
                        self.summary.files += 1;
                    }
                    return Ok(item);
                }
                Some(r) = self.workers.next(), if !self.workers.is_empty() => {
                    if let Err(e) = r {
                        self.workers.clear();
                        self.pending.clear();
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// How one attempt at a file ended, when not with success.
enum Failure {
    /// Try again after a backoff (counts as an attempt).
    Retry(Error, Option<Duration>),
    /// A 401 to a request that carried the token: fetch a newer one and restart, once.
    Unauthorized(u64),
    Fatal(Error),
    /// The consumer is gone (stopped).
    Stopped,
}

async fn fetch_file(
    sh: Arc<Shared<'_>>,
    index: usize,
    tx: mpsc::Sender<DownloadItem>,
) -> Result<()> {
    let f = &sh.files[index];
    let what = format!(
        "bulk export {} file {} ({})",
        f.kind.label(),
        index + 1,
        f.resource_type
    );
    let mut delivered: u64 = 0;
    let mut attempt = 1;
    let mut refused: Option<u64> = None;
    let mut replayed = false;
    loop {
        match attempt_file(&sh, index, &what, &mut delivered, refused, &tx).await {
            Ok(()) => break,
            Err(Failure::Stopped) => return Ok(()),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Unauthorized(generation)) if !replayed => {
                replayed = true;
                refused = Some(generation);
            }
            Err(Failure::Unauthorized(_)) => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    format!("{what}: HTTP 401 Unauthorized, also with a fresh token"),
                ));
            }
            Err(Failure::Retry(mut e, ra)) => {
                if attempt >= sh.options.file_attempts {
                    if attempt > 1 {
                        e.push_message(&format!(" (after {attempt} attempts)"));
                    }
                    return Err(e);
                }
                pause(clamp_wait(ra, attempt, &sh.options)).await?;
                attempt += 1;
            }
        }
    }
    if let Some(expected) = f.count {
        if expected != delivered {
            return Err(Error::protocol(format!(
                "{what}: the manifest says {expected} resources, the file has {delivered}"
            )));
        }
    }
    let _ = tx
        .send(DownloadItem::FileDone {
            file: index,
            lines: delivered,
        })
        .await;
    Ok(())
}

/// One attempt at a file: request (following redirects by hand), then stream its lines, skipping
/// the `delivered` lines an earlier attempt already handed over.
async fn attempt_file(
    sh: &Shared<'_>,
    index: usize,
    what: &str,
    delivered: &mut u64,
    refused: Option<u64>,
    tx: &mpsc::Sender<DownloadItem>,
) -> std::result::Result<(), Failure> {
    let server = sh.server;
    let transport = &server.transport;
    let mut url = sh.files[index].url.clone();
    let mut left_origin = false;
    let mut hops = 0;
    // This thread's client of the handle (connections are per calling thread).
    let client = transport.client().map_err(Failure::Fatal)?;
    let resp = loop {
        crate::call::checkpoint().map_err(Failure::Fatal)?;
        let on_origin = !left_origin && server.same_origin(&url);
        let with_token = sh.requires_token && on_origin;
        let mut generation = 0;
        let mut rb = client
            .request(Method::GET, url.clone())
            .header(ACCEPT, NDJSON)
            // The client's own timeout covers whole bodies: a file may take longer; the idle
            // timeout below guards a stalled transfer instead.
            .timeout(Duration::from_secs(7 * 86_400));
        // The caller's headers and request hook: for the FHIR server's origin only.
        if on_origin {
            rb = transport
                .decorate(rb, &Method::GET, &url, what)
                .map_err(Failure::Fatal)?;
        }
        crate::call::record(|i| {
            i.requests += 1;
        });
        if with_token {
            let cred = transport
                .auth
                .credential(&client, &transport.secrets, refused)
                .await
                .map_err(Failure::Fatal)?;
            generation = cred.generation;
            if let Some(h) = cred.header {
                rb = rb.header(AUTHORIZATION, h);
            }
        }
        let resp = match tokio::time::timeout(sh.options.idle_timeout, rb.send()).await {
            Err(_) => {
                return Err(Failure::Retry(
                    Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "{what}: no answer within {} s",
                            sh.options.idle_timeout.as_secs()
                        ),
                    ),
                    None,
                ))
            }
            Ok(Err(e)) => {
                let e = map_reqwest_error(e, what);
                return Err(match e.kind() {
                    ErrorKind::Connect | ErrorKind::Timeout => Failure::Retry(e, None),
                    _ => Failure::Fatal(e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        crate::call::record(|i| i.status = status);
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            hops += 1;
            if hops > sh.options.max_redirects {
                return Err(Failure::Fatal(Error::protocol(format!(
                    "{what}: more than {} redirects",
                    sh.options.max_redirects
                ))));
            }
            let loc = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Failure::Fatal(Error::protocol(format!(
                        "{what}: HTTP {status} without a usable Location header"
                    )))
                })?;
            url = server_url(server, loc, Some(&url)).map_err(|e| {
                Failure::Fatal(Error::protocol(format!(
                    "{what}: redirect refused: {}",
                    e.message()
                )))
            })?;
            // Once a redirect leaves the FHIR server's origin, the token is never sent again
            // for this file, even if a later hop comes back.
            if !server.same_origin(&url) {
                left_origin = true;
            }
            continue;
        }
        if status == 401 && with_token && transport.auth.refreshes_tokens() {
            return Err(Failure::Unauthorized(generation));
        }
        if !(200..300).contains(&status) {
            let ra = retry_after(resp.headers());
            let body = read_some(resp, MAX_ERROR_BODY).await;
            let err = Error::from_status(status, what, body.clone());
            if is_transient(status, &body) || status == 500 {
                return Err(Failure::Retry(err, ra));
            }
            return Err(Failure::Fatal(err));
        }
        break resp;
    };
    stream_lines(sh, resp, index, what, delivered, tx).await
}

/// Read at most `max` bytes of a body (for an error answer).
async fn read_some(mut resp: reqwest::Response, max: usize) -> Bytes {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = max - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= max {
            break;
        }
    }
    Bytes::from(out)
}

async fn stream_lines(
    sh: &Shared<'_>,
    mut resp: reqwest::Response,
    index: usize,
    what: &str,
    delivered: &mut u64,
    tx: &mpsc::Sender<DownloadItem>,
) -> std::result::Result<(), Failure> {
    let max_line = sh.options.max_line_bytes;
    let buffer = sh.options.buffer_bytes.max(4096);
    // Lines already handed over by an earlier attempt are skipped, not handed over again.
    let mut skip = *delivered;
    let mut line_no: u64 = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut out_lines: u64 = 0;

    // Handle one complete line (without its `\n`).
    let mut take = |line: &[u8],
                    out: &mut Vec<u8>,
                    out_lines: &mut u64,
                    line_no: &mut u64|
     -> std::result::Result<(), Failure> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        *line_no += 1;
        if line.len() > max_line {
            return Err(Failure::Fatal(too_long(what, *line_no, max_line)));
        }
        if skip > 0 {
            skip -= 1;
            return Ok(());
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            return Err(Failure::Fatal(Error::json(format!(
                "{what}: line {} is not one JSON document: {e}",
                *line_no
            ))));
        }
        crate::transport::reserve(out, line.len() + 1, what).map_err(Failure::Fatal)?;
        out.extend_from_slice(line);
        out.push(b'\n');
        *out_lines += 1;
        Ok(())
    };

    loop {
        let chunk = match tokio::time::timeout(sh.options.idle_timeout, resp.chunk()).await {
            Err(_) => {
                return Err(Failure::Retry(
                    Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "{what}: nothing received for {} s",
                            sh.options.idle_timeout.as_secs()
                        ),
                    ),
                    None,
                ))
            }
            Ok(Err(e)) => {
                // Flush what is complete: those lines are good, and the next attempt skips them.
                if flush(&mut out, &mut out_lines, index, delivered, tx).await {
                    return Err(Failure::Stopped);
                }
                let mut e = map_reqwest_error(e, what);
                e.push_message(" (the transfer broke off; the file is tried again)");
                return Err(Failure::Retry(e, None));
            }
            Ok(Ok(c)) => c,
        };
        let Some(chunk) = chunk else { break };
        crate::call::record(|i| i.bytes_received += chunk.len() as u64);
        let mut rest: &[u8] = &chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let piece = &rest[..pos];
            if carry.is_empty() {
                take(piece, &mut out, &mut out_lines, &mut line_no)?;
            } else {
                if carry.len() + piece.len() > max_line + 1 {
                    return Err(Failure::Fatal(too_long(what, line_no + 1, max_line)));
                }
                carry.extend_from_slice(piece);
                let line = std::mem::take(&mut carry);
                take(&line, &mut out, &mut out_lines, &mut line_no)?;
            }
            rest = &rest[pos + 1..];
        }
        if !rest.is_empty() {
            if carry.len() + rest.len() > max_line + 1 {
                return Err(Failure::Fatal(too_long(what, line_no + 1, max_line)));
            }
            crate::transport::reserve(&mut carry, rest.len(), what).map_err(Failure::Fatal)?;
            carry.extend_from_slice(rest);
        }
        if out.len() >= buffer && flush(&mut out, &mut out_lines, index, delivered, tx).await {
            return Err(Failure::Stopped);
        }
    }
    if !carry.is_empty() {
        let line = std::mem::take(&mut carry);
        take(&line, &mut out, &mut out_lines, &mut line_no)?;
    }
    if flush(&mut out, &mut out_lines, index, delivered, tx).await {
        return Err(Failure::Stopped);
    }
    Ok(())
}

/// Hand the complete lines over; `true` when the consumer is gone.
async fn flush(
    out: &mut Vec<u8>,
    out_lines: &mut u64,
    file: usize,
    delivered: &mut u64,
    tx: &mpsc::Sender<DownloadItem>,
) -> bool {
    if out.is_empty() {
        return false;
    }
    let data = Bytes::from(std::mem::take(out));
    if tx
        .send(DownloadItem::Lines(LineBatch { file, data }))
        .await
        .is_err()
    {
        return true;
    }
    *delivered += *out_lines;
    *out_lines = 0;
    false
}

fn too_long(what: &str, line: u64, max: usize) -> Error {
    Error::new(
        ErrorKind::Limit,
        format!(
            "{what}: line {line} is longer than the maximum line length of {max} bytes (raise it with the bulk export options)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Auth, Options};

    fn server(base: &str) -> FhirServer {
        FhirServer::new(base, Auth::None, &Options::default()).unwrap()
    }

    #[test]
    fn kickoff_urls_encode_every_parameter() {
        let s = server("http://h/fhir");
        let url = |r: &ExportRequest| s.bulk_kickoff_url(r).map(|u| u.to_string());
        assert_eq!(
            url(&ExportRequest::default()).unwrap(),
            "http://h/fhir/$export"
        );
        let req = ExportRequest {
            level: ExportLevel::Group("g-1.a".into()),
            types: vec!["Patient".into(), "Observation".into()],
            since: Some("2024-01-01T00:00:00+02:00".into()),
            until: Some("2025-01-01T00:00:00Z".into()),
            type_filters: vec![
                "Patient?active=true".into(),
                "Observation?code=http://loinc.org|1-8&status=final".into(),
            ],
            output_format: Some("application/fhir+ndjson".into()),
            lenient: true,
        };
        assert_eq!(
            url(&req).unwrap(),
            "http://h/fhir/Group/g-1.a/$export?_type=Patient%2CObservation\
             &_since=2024-01-01T00%3A00%3A00%2B02%3A00&_until=2025-01-01T00%3A00%3A00Z\
             &_typeFilter=Patient%3Factive%3Dtrue\
             &_typeFilter=Observation%3Fcode%3Dhttp%3A%2F%2Floinc.org%7C1-8%26status%3Dfinal\
             &_outputFormat=application%2Ffhir%2Bndjson"
        );
        let patient = ExportRequest {
            level: ExportLevel::Patient,
            ..Default::default()
        };
        assert_eq!(url(&patient).unwrap(), "http://h/fhir/Patient/$export");
        for bad in [
            ExportRequest {
                level: ExportLevel::Group("../admin".into()),
                ..Default::default()
            },
            ExportRequest {
                level: ExportLevel::Group(String::new()),
                ..Default::default()
            },
            ExportRequest {
                types: vec!["Pat ient".into()],
                ..Default::default()
            },
            ExportRequest {
                since: Some("yesterday".into()),
                ..Default::default()
            },
            ExportRequest {
                type_filters: vec!["active=true".into()],
                ..Default::default()
            },
            ExportRequest {
                type_filters: vec!["Patient?".into()],
                ..Default::default()
            },
        ] {
            assert_eq!(url(&bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn status_urls_stay_under_the_base() {
        let s = server("http://h:8080/fhir");
        assert_eq!(
            s.bulk_status_url("$export-poll-status?_jobId=1")
                .unwrap()
                .as_str(),
            "http://h:8080/fhir/$export-poll-status?_jobId=1"
        );
        assert_eq!(
            s.bulk_status_url("/fhir/$export-poll-status?_jobId=1")
                .unwrap()
                .as_str(),
            "http://h:8080/fhir/$export-poll-status?_jobId=1"
        );
        for bad in [
            "http://evil/fhir/$export-poll-status",
            "https://h:8080/fhir/x",
            "/admin/x",
            "http://u:p@h:8080/fhir/x",
            "/fhir/%2e%2e/admin",
            "ftp://h/fhir/x",
            "",
        ] {
            assert!(s.bulk_status_url(bad).is_err(), "{bad}");
        }
        let long = format!("/fhir/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(
            s.bulk_status_url(&long).unwrap_err().kind(),
            ErrorKind::Limit
        );
    }

    #[test]
    fn manifests_are_checked() {
        let s = server("http://h/fhir");
        let o = BulkOptions::default();
        let m = Manifest::parse(
            &s,
            Bytes::from_static(
                br#"{"transactionTime":"2024-01-01T00:00:00Z","request":"x","requiresAccessToken":true,
                "output":[{"type":"Patient","url":"Binary/1","count":2},{"type":"Observation","url":"https://s3.example/o?sig=1"}],
                "error":[{"type":"OperationOutcome","url":"http://h/fhir/Binary/9"}]}"#,
            ),
            &o,
        )
        .unwrap();
        assert!(m.requires_access_token);
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.files[0].url.as_str(), "http://h/fhir/Binary/1");
        assert_eq!(m.files[0].count, Some(2));
        assert_eq!(m.files[2].kind, FileKind::Error);
        for bad in [
            &br#"{"output":[{"type":"../x","url":"Binary/1"}]}"#[..],
            br#"{"output":[{"type":"Patient","url":"file:///etc/passwd"}]}"#,
            br#"{"output":[{"type":"Patient","url":"http://u:p@h/x"}]}"#,
            br#"{"error":[]}"#,
            br#"{"output":"#,
        ] {
            assert!(Manifest::parse(&s, Bytes::from(bad.to_vec()), &o).is_err());
        }
        let small = BulkOptions {
            max_files: 1,
            ..Default::default()
        };
        let e = Manifest::parse(
            &s,
            Bytes::from_static(
                br#"{"output":[{"type":"Patient","url":"a"},{"type":"Patient","url":"b"}]}"#,
            ),
            &small,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Limit);
    }

    #[test]
    fn waits_are_clamped_and_back_off() {
        let mut o = BulkOptions::default();
        o.set_poll_interval(Duration::from_millis(200), Duration::from_secs(2))
            .unwrap();
        assert_eq!(
            clamp_wait(Some(Duration::from_secs(120)), 1, &o),
            Duration::from_secs(2)
        );
        assert_eq!(
            clamp_wait(Some(Duration::ZERO), 1, &o),
            Duration::from_millis(200)
        );
        assert_eq!(clamp_wait(None, 1, &o), Duration::from_millis(200));
        assert_eq!(clamp_wait(None, 2, &o), Duration::from_millis(400));
        assert_eq!(clamp_wait(None, 9, &o), Duration::from_secs(2));
        assert!(o
            .set_poll_interval(Duration::from_secs(3), Duration::from_secs(2))
            .is_err());
    }

    #[test]
    fn transient_answers_are_recognised() {
        assert!(is_transient(429, b""));
        assert!(is_transient(503, b""));
        assert!(is_transient(
            500,
            br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}"#
        ));
        assert!(!is_transient(
            500,
            br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing"}]}"#
        ));
        assert!(!is_transient(400, b"not json"));
        assert!(!is_transient(404, b""));
    }

    #[test]
    fn progress_text_is_bounded() {
        let t = bounded_text(&format!("a\u{7}b{}", "é".repeat(300)));
        assert!(t.starts_with("ab"));
        assert!(t.len() <= MAX_PROGRESS_LEN);
    }
}
