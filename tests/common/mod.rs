//! Test helpers: a scripted HTTP server that answers a fixed sequence of responses and records
//! every request with its arrival time (for retry timing and replay tests that need different
//! answers to the same request, which httpmock does not sequence); a closed port; the
//! CapabilityStatement answer and `caps` call, and the retry options, shared by the wire tests;
//! assertions made in more than one test file.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use fhir_kindling::{FhirServer, Options};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/fhir+json".into())],
            body: body.to_owned(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

pub struct Scripted {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Scripted {
    /// Serve `replies` in order, one per request (the last one repeats).
    pub fn start(replies: Vec<Reply>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rec = requests.clone();
        thread::spawn(move || {
            let mut i = 0usize;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let at = Instant::now();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let target = parts.next().unwrap_or("").to_owned();
                let mut headers = Vec::new();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((n, v)) = h.trim_end().split_once(':') {
                        if n.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        headers.push((n.to_owned(), v.trim().to_owned()));
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                rec.lock().unwrap().push(Recorded {
                    method,
                    target,
                    headers,
                    body,
                    at,
                });
                let reply = &replies[i.min(replies.len() - 1)];
                i += 1;
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (n, v) in &reply.headers {
                    out.push_str(&format!("{n}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&reply.body);
                let _ = stream.write_all(out.as_bytes());
                let _ = stream.flush();
            }
        });
        Scripted { base, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A loopback port with nothing listening.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

/// Run a future of the async Rust API to completion (the C layer has its own runtime).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
    .block_on(future)
}

/// Walk a search page by page through the Rust API, handing each page to `on_page` (false
/// stops); returns the URL to resume from, as the C streaming calls do.
pub fn stream_pages(
    server: &fhir_kindling::FhirServer,
    query: &str,
    mut on_page: impl FnMut(&[u8]) -> bool,
) -> fhir_kindling::Result<Option<String>> {
    let mut stream = server.search_stream(query)?;
    while let Some(page) = block_on(stream.next_page())? {
        if !on_page(&page) {
            return stream.resume_url();
        }
    }
    Ok(None)
}

/// Like [`stream_pages`], resource by resource with the search mode; stopping mid-page resumes
/// at the following page.
pub fn stream_resources(
    server: &fhir_kindling::FhirServer,
    query: &str,
    mut on_resource: impl FnMut(&str, &str) -> bool,
) -> fhir_kindling::Result<Option<String>> {
    let mut failure = None;
    let next = stream_pages(
        server,
        query,
        |page| match fhir_kindling::bundle_resources(page) {
            Ok(items) => items.iter().all(|(r, mode)| on_resource(r, mode)),
            Err(e) => {
                failure = Some(e);
                false
            }
        },
    )?;
    match failure {
        Some(e) => Err(e),
        None => Ok(next),
    }
}

// ---------------------------------------------------------------- shared by the wire tests

/// A minimal CapabilityStatement, the answer of the mocked `metadata` endpoint.
pub const CAPS: &str =
    r#"{"resourceType":"CapabilityStatement","status":"active","fhirVersion":"4.0.1"}"#;

/// `GET metadata` through `s`.
pub fn caps(s: &FhirServer) -> fhir_kindling::Result<Vec<u8>> {
    block_on(s.capabilities())
}

/// Default options with a short backoff (0.01 s), then adjusted by `f`.
pub fn retry_options(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    o.set_retry_backoff_factor(0.01).unwrap();
    f(&mut o);
    o
}

// ---------------------------------------------------------------- shared assertions

/// The message of a failed `create_all` names the failed batch with its input items
/// (`batch`, e.g. "batch 2 of 3 (input items 2..3)") and says how many items earlier batches
/// committed.
#[track_caller]
pub fn assert_create_all_failure(message: &str, batch: &str, committed: usize) {
    assert!(message.contains(batch), "{message}");
    let committed = format!("{committed} items in earlier batches were committed");
    assert!(message.contains(&committed), "{message}");
}

// ---------------------------------------------------------------- a raw, hostile server

/// One request as the raw server read it.
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter's raw value.
    pub fn param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// What the raw server does with the connection after a handler answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Read the next request on the same connection.
    KeepAlive,
    /// Close the socket (whatever the answer said about keep-alive).
    Close,
}

type Handler = dyn Fn(&RawRequest, &mut std::net::TcpStream) -> After + Send + Sync;

/// A loopback HTTP/1.1 server of the test suite's own, on raw TCP: a thread per connection, each
/// request handed to `handler`, which writes whatever bytes it likes (garbage, endless bodies,
/// bombs) and decides whether the connection lives on. Records every request.
pub struct RawServer {
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    pub requests: Arc<Mutex<Vec<RawRequest>>>,
}

impl RawServer {
    pub fn start(
        handler: impl Fn(&RawRequest, &mut std::net::TcpStream) -> After + Send + Sync + 'static,
    ) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<RawRequest>>> = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let rec = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (handler, rec) = (handler.clone(), rec.clone());
                thread::spawn(move || serve_connection(stream, &*handler, &rec));
            }
        });
        RawServer { origin, requests }
    }

    /// `origin` + `path`, e.g. `url("/fhir")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests reached the server whose path is not `/fhir/metadata`.
    pub fn count_except_metadata(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path() != "/fhir/metadata")
            .count()
    }
}

fn serve_connection(
    mut stream: std::net::TcpStream,
    handler: &Handler,
    rec: &Mutex<Vec<RawRequest>>,
) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((n, v)) = h.trim_end().split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((n.to_owned(), v.trim().to_owned()));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = RawRequest {
            method,
            target,
            headers,
            body,
        };
        rec.lock().unwrap().push(req.clone());
        if handler(&req, &mut stream) == After::Close {
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Write a complete answer with a Content-Length (and `Connection: close` when `close`).
pub fn write_reply(
    stream: &mut std::net::TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    if close {
        head.push_str("Connection: close\r\n");
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

/// A FHIR JSON answer that closes the connection; `After::Close`.
pub fn reply_json(stream: &mut std::net::TcpStream, status: u16, body: &str) -> After {
    let _ = write_reply(
        stream,
        status,
        &[("Content-Type", "application/fhir+json")],
        body.as_bytes(),
        true,
    );
    After::Close
}

// ---------------------------------------------------------------- the real services

/// A variable of target/services/services.env (the integration tests need the services).
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the services (tests/servers/services.sh start) and source target/services/services.env")
    })
}

/// How many lines of the file at `path` contain `needle` (0 when it does not exist).
pub fn lines_containing(path: &str, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// How many tokens the real OpenID Connect provider issued to `client` (its token log).
pub fn tokens_issued(client: &str) -> usize {
    lines_containing(
        &var("FHIR_OIDC_TOKEN_LOG"),
        &format!("\"event\":\"token_issued\",\"client_id\":\"{client}\""),
    )
}

/// Stop and start one part of the test services (tests/servers/services.sh).
pub fn restart_service(part: &str) {
    let services = format!("{}/tests/servers/services.sh", env!("CARGO_MANIFEST_DIR"));
    for action in ["stop", "start"] {
        let st = std::process::Command::new(&services)
            .args([action, part])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "services.sh {action} {part}");
    }
}

/// Tests that count the provider's tokens or restart it run one at a time.
pub fn provider_lock() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run `each` `times` times on each of `threads` threads sharing `shared`, and wait for them.
pub fn on_threads<T: Send + Sync + 'static>(
    shared: &Arc<T>,
    threads: usize,
    times: usize,
    each: fn(&T),
) {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || {
                for _ in 0..times {
                    each(&shared);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
