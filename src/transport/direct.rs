//! The request path of a handle whose requests go through no proxy: hyper-util's pooled client
//! over rustls (hyper-rustls), without reqwest's layers on top. reqwest parses each request's URL
//! twice more (its redirect policy and its pending request, from the string form of the URI),
//! clones its client stack and runs its retry, redirect, decompression and timeout layers on
//! every request: about 31 k of the 63 k instructions of a small GET (bench/stack_floor). Here
//! the URL is parsed once, into the `http::Uri` that goes on the wire.
//!
//! What reqwest did on this path is done here the same way: TCP_NODELAY; the connect timeout
//! around TCP connect and TLS handshake together; the whole-request timeout around the answer's
//! head and body; the default headers (`Accept`, `User-Agent`, `Accept-Encoding: gzip`) only when
//! the request has none of its own; a gzip body decoded as it arrives, counted decompressed
//! against the body limit, with `Content-Encoding` and `Content-Length` removed from the headers
//! handed on. The TLS configuration is the handle's (see [`super::tls`]), shared with reqwest.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, USER_AGENT,
};

use super::{append_chunk, body_buffer, body_too_big, Timed};
use crate::error::Result;

pub(crate) type Connector = Timed<hyper_rustls::HttpsConnector<HttpConnector>>;
pub(crate) type DirectClient = Client<Connector, Full<Bytes>>;

/// What a thread's direct client is built from (the handle's, built once).
pub(crate) struct Settings {
    pub tls: Arc<rustls::ClientConfig>,
    pub connect_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_idle: usize,
    /// `Accept`, `User-Agent`, `Accept-Encoding`: added when the request has none.
    pub defaults: HeaderMap,
}

impl Settings {
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        options: &crate::config::Options,
        user_agent: HeaderValue,
    ) -> Settings {
        let mut defaults = HeaderMap::new();
        defaults.insert(ACCEPT, HeaderValue::from_static(super::FHIR_JSON));
        defaults.insert(USER_AGENT, user_agent);
        defaults.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        Settings {
            tls,
            connect_timeout: options.connect_timeout,
            idle_timeout: options.pool_idle_timeout,
            max_idle: options.pool_max_idle_per_host,
            defaults,
        }
    }

    /// A client for this thread: its connections are driven by this thread's runtime.
    pub fn build(&self) -> DirectClient {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // https URLs are passed on to the TLS layer.
        http.enforce_http(false);
        // As reqwest: the connect timeout also split between a host's addresses (a first address
        // that drops SYNs leaves time for the next), and TCP keepalive with a user timeout, so
        // that a server host that vanished mid-answer ends the request (CONNECT, retryable)
        // instead of waiting for the request timeout, or forever without one.
        http.set_connect_timeout(self.connect_timeout);
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let https = hyper_rustls::HttpsConnector::from((http, self.tls.clone()));
        Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.idle_timeout)
            .pool_max_idle_per_host(self.max_idle)
            .build(Timed {
                inner: https,
                timeout: self.connect_timeout,
            })
    }

    /// The default headers the request lacks.
    pub fn complete(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.defaults {
            if !headers.contains_key(name) {
                headers.insert(name, value.clone());
            }
        }
    }
}

/// A failure of the direct path.
#[derive(Debug)]
pub(crate) enum DirectError {
    /// Before the answer's head: connecting, TLS, writing the request, reading the head.
    Send(hyper_util::client::legacy::Error),
    /// While reading the body.
    Body(hyper::Error),
    /// A gzip body that does not decode.
    Decode(std::io::Error),
    /// The whole-request timeout (option `timeout`) passed.
    TimedOut(Duration),
}

impl std::fmt::Display for DirectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectError::Send(_) => f.write_str("error sending request"),
            DirectError::Body(_) => f.write_str("error reading the response body"),
            DirectError::Decode(_) => f.write_str("error decoding the gzip response body"),
            DirectError::TimedOut(t) => write!(
                f,
                "the request timed out after {} ms (option timeout)",
                t.as_millis()
            ),
        }
    }
}

impl std::error::Error for DirectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DirectError::Send(e) => Some(e),
            DirectError::Body(e) => Some(e),
            DirectError::Decode(e) => Some(e),
            DirectError::TimedOut(_) => None,
        }
    }
}

/// Where decoded bytes go: the body buffer, refusing to pass `limit` (so a gzip bomb stops at
/// the limit, whatever one chunk inflates to) and reserving fallibly.
#[derive(Default)]
struct Capped {
    buf: Vec<u8>,
    limit: u64,
    over: bool,
    out_of_memory: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 > self.limit {
            self.over = true;
            return Err(std::io::Error::other("the body limit is reached"));
        }
        if self.buf.try_reserve(data.len()).is_err() {
            self.out_of_memory = true;
            return Err(std::io::ErrorKind::OutOfMemory.into());
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether the answer's body is gzip (then `Content-Encoding` and `Content-Length`, which
/// describe the compressed body, are removed from `headers`).
pub(crate) fn take_gzip(headers: &mut HeaderMap) -> bool {
    let gzip = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if gzip {
        headers.remove(CONTENT_ENCODING);
        headers.remove(CONTENT_LENGTH);
    }
    gzip
}

/// Read a response body, decoding gzip when `gzip`, counting decoded bytes: past `limit` the
/// reading stops, the body (and so its connection) is dropped, and the result is a `Limit` error.
/// As [`super::read_body`] for reqwest's responses.
pub(crate) async fn read_body(
    mut body: Incoming,
    gzip: bool,
    limit: u64,
    context: impl std::fmt::Display,
) -> Result<std::result::Result<Vec<u8>, DirectError>> {
    // The length of a gzip body is the compressed one: no bound on what it decodes to.
    let exact = body.size_hint().exact().filter(|_| !gzip);
    let mut buf = body_buffer(exact, limit, &context)?;
    if !gzip {
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => return Ok(Err(DirectError::Body(e))),
            };
            if let Ok(chunk) = frame.into_data() {
                append_chunk(&mut buf, &chunk, limit, &context)?;
            }
        }
        return Ok(Ok(buf));
    }
    let mut gunzip = Gunzip::new(Capped {
        buf,
        limit,
        over: false,
        out_of_memory: false,
    });
    // Compressed bytes count too (with room for incompressible data, which gzip makes a little
    // larger): an endless run of empty members, decoding to nothing, ends at the limit as well.
    let compressed_limit = limit.saturating_add(limit / 8).saturating_add(1 << 16);
    let mut compressed = 0u64;
    let failed = loop {
        let chunk: Bytes = match body.frame().await {
            None => break gunzip.finish().err(),
            Some(Err(e)) => return Ok(Err(DirectError::Body(e))),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(chunk) => chunk,
                Err(_) => continue,
            },
        };
        compressed += chunk.len() as u64;
        if compressed > compressed_limit {
            return Err(body_too_big(&context, limit));
        }
        if let Err(e) = gunzip.feed(&chunk) {
            break Some(e);
        }
    };
    let sink = gunzip.sink();
    if sink.over {
        return Err(body_too_big(&context, limit));
    }
    if sink.out_of_memory {
        return Err(crate::error::Error::new(
            crate::error::ErrorKind::Limit,
            format!(
                "{context}: out of memory decoding the gzip body after {} bytes",
                sink.buf.len()
            ),
        ));
    }
    if let Some(e) = failed {
        return Ok(Err(DirectError::Decode(e)));
    }
    Ok(Ok(gunzip.into_body()))
}

/// A gzip body decoded as it arrives: member after member (RFC 1952 §2.2, as `gzip -d` does),
/// each member's CRC and length checked; bytes after a member that do not start another one are
/// ignored, as reqwest's decoder ignored them (a trailing newline some servers add).
struct Gunzip {
    decoder: flate2::write::GzDecoder<Capped>,
    /// Anything fed at all (an empty body is an empty body, not a truncated member).
    fed: bool,
    /// After a member ended: the bytes seen since (up to two, enough to tell a new member).
    boundary: Option<Vec<u8>>,
    /// What follows the last member is not gzip: ignored.
    trailing: bool,
}

impl Gunzip {
    fn new(sink: Capped) -> Gunzip {
        Gunzip {
            decoder: flate2::write::GzDecoder::new(sink),
            fed: false,
            boundary: None,
            trailing: false,
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        self.fed |= !data.is_empty();
        while !data.is_empty() && !self.trailing {
            if let Some(seen) = &mut self.boundary {
                let take = (2 - seen.len()).min(data.len());
                seen.extend_from_slice(&data[..take]);
                data = &data[take..];
                if seen.len() < 2 {
                    return Ok(());
                }
                if seen[..] != [0x1f, 0x8b] {
                    self.trailing = true;
                    return Ok(());
                }
                // Another member: its first two bytes go to the new decoder's header parser.
                let magic = std::mem::take(seen);
                self.boundary = None;
                self.decoder.write_all(&magic)?;
                continue;
            }
            let n = self.decoder.write(data)?;
            if n == 0 {
                // The member ended, CRC and length read: check them, then go on with the same
                // sink for whatever follows.
                self.decoder.try_finish()?;
                let placeholder = flate2::write::GzDecoder::new(Capped::default());
                let sink = std::mem::replace(&mut self.decoder, placeholder).finish()?;
                self.decoder = flate2::write::GzDecoder::new(sink);
                self.boundary = Some(Vec::with_capacity(2));
                continue;
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// The body ended: the member being decoded must be complete.
    fn finish(&mut self) -> std::io::Result<()> {
        match (self.fed, self.boundary.is_some() || self.trailing) {
            (false, _) | (true, true) => Ok(()),
            (true, false) => self.decoder.try_finish(),
        }
    }

    fn sink(&self) -> &Capped {
        self.decoder.get_ref()
    }

    fn into_body(mut self) -> Vec<u8> {
        std::mem::take(&mut self.decoder.get_mut().buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sink(limit: u64) -> Capped {
        Capped {
            limit,
            ..Capped::default()
        }
    }

    /// `body` fed to a decoder in chunks of `step` bytes, then finished.
    fn decode(body: &[u8], step: usize, limit: u64) -> std::io::Result<Vec<u8>> {
        let mut g = Gunzip::new(sink(limit));
        for chunk in body.chunks(step) {
            g.feed(chunk)?;
        }
        g.finish()?;
        Ok(g.into_body())
    }

    #[test]
    fn members_trailing_bytes_and_broken_bodies_in_any_chunking() {
        let (a, b) = (&b"{\"resourceType\":"[..], &b"\"Patient\"}"[..]);
        let mut two = gzip(a);
        two.extend_from_slice(&gzip(b));
        let mut newline = gzip(a);
        newline.push(b'\n');
        let mut one_magic_byte = gzip(a);
        one_magic_byte.push(0x1f);
        let mut cut_second = gzip(a);
        cut_second.extend_from_slice(&gzip(b)[..5]);
        let whole = gzip(a);
        let mut bad_crc = whole.clone();
        let n = bad_crc.len();
        bad_crc[n - 5] ^= 1;
        for step in 1..=whole.len() + 3 {
            let ok = |body: &[u8]| decode(body, step, 1 << 20).unwrap();
            assert_eq!(ok(&two), [a, b].concat(), "two members, step {step}");
            assert_eq!(ok(&newline), a, "a trailing newline, step {step}");
            assert_eq!(ok(&one_magic_byte), a, "one stray byte, step {step}");
            assert_eq!(ok(b""), b"", "an empty body");
            for broken in [&cut_second, &bad_crc, &whole[..whole.len() - 1].to_vec()] {
                assert!(decode(broken, step, 1 << 20).is_err(), "step {step}");
            }
        }
    }

    #[test]
    fn decoding_stops_at_the_limit_whatever_a_chunk_inflates_to() {
        let zeros = gzip(&vec![0u8; 4 << 20]);
        assert!(zeros.len() < 8 << 10);
        let mut g = Gunzip::new(sink(1 << 20));
        // The whole compressed body at once: 4 MiB would come out of this one write.
        assert!(g.feed(&zeros).is_err());
        assert!(g.sink().over);
        assert!(g.sink().buf.len() <= 1 << 20);
        assert_eq!(decode(&zeros, 512, 4 << 20).unwrap().len(), 4 << 20);
    }
}
