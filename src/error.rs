//! The core's error type: an [`ErrorKind`] for the failures a caller branches on, plus a message,
//! the HTTP status and the server's response body (usually an OperationOutcome).
//!
//! The core knows nothing of C: the C layer (`src/ffi`) maps each kind to its stable result code.

use std::fmt;

use crate::redact::{quote, sanitize};

/// What went wrong, at the level a caller branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument was malformed: not UTF-8, a bad URL, an out-of-range option, a bad header.
    InvalidArgument,
    /// The configuration is incomplete or contradictory (for example the environment variables).
    Config,
    /// The server could not be reached: DNS, refused connection, reset.
    Connect,
    /// TLS failed: untrusted or invalid certificate, handshake failure, bad client certificate.
    Tls,
    /// The request or the connection attempt timed out.
    Timeout,
    /// The server answered with an HTTP error status not covered by a more specific kind.
    HttpStatus,
    /// HTTP 401/403, or the token provider refused to issue a token.
    Auth,
    /// A JSON document (given by the caller or returned by the server) is not valid JSON.
    Json,
    /// HTTP 404.
    NotFound,
    /// HTTP 410.
    Gone,
    /// HTTP 409 or 412.
    Conflict,
    /// The configured proxy could not be reached or refused the request.
    Proxy,
    /// The server's answer is not what FHIR prescribes.
    Protocol,
    /// Paging was stopped: a `next` link loops, or points to another server.
    Paging,
    /// A local file (CA bundle, client certificate or key) could not be read.
    Io,
    /// A limit was reached: the size of a response or of a collected result, the number of
    /// pages, or memory for a buffer. The message names the limit and its option.
    Limit,
    /// The call's cancel token was triggered, or the caller's request hook refused a request.
    Cancelled,
}

/// A detailed error: kind, message, and where the server answered, its status and body.
///
/// The message never contains a secret: every way of setting it passes through
/// [`crate::redact::sanitize`], which also escapes control characters and bounds its length. The
/// body is the server's answer as it came (the caller's data), unredacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub(crate) kind: ErrorKind,
    message: String,
    pub(crate) status: Option<u16>,
    pub(crate) body: Option<bytes::Bytes>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: sanitize(&message.into()),
            status: None,
            body: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn json(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Json, message)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message: English, never containing a secret.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status the server answered with, when the failure is an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The body the server answered with (usually an OperationOutcome), when there was one.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Take the body out of the error.
    pub fn into_parts(self) -> (ErrorKind, String, Option<u16>, Option<bytes::Bytes>) {
        (self.kind, self.message, self.status, self.body)
    }

    /// An error for an HTTP error status, choosing the most specific kind and keeping the body.
    pub(crate) fn from_status(status: u16, context: &str, body: impl Into<bytes::Bytes>) -> Self {
        let body: bytes::Bytes = body.into();
        let kind = match status {
            401 | 403 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            410 => ErrorKind::Gone,
            409 | 412 => ErrorKind::Conflict,
            407 => ErrorKind::Proxy,
            _ => ErrorKind::HttpStatus,
        };
        let mut message = format!("{context}: HTTP {status}");
        if let Some(reason) = http_reason(status) {
            message.push(' ');
            message.push_str(reason);
        }
        if let Some(diag) = outcome_summary(&body) {
            message.push_str(": the server says ");
            message.push_str(&quote(&diag, 300));
        }
        Error {
            kind,
            message: sanitize(&message),
            status: Some(status),
            body: if body.is_empty() { None } else { Some(body) },
        }
    }

    pub(crate) fn with_context(mut self, context: &str) -> Self {
        self.message = sanitize(&format!("{context}: {}", self.message));
        self
    }

    /// Append to the message (sanitized like the rest).
    pub(crate) fn push_message(&mut self, more: &str) {
        self.message = sanitize(&format!("{}{more}", self.message));
    }

    /// Replace the message (sanitized like the rest).
    pub(crate) fn set_message(&mut self, message: String) {
        self.message = sanitize(&message);
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .field("body_len", &self.body.as_ref().map(|b| b.len()))
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

fn http_reason(status: u16) -> Option<&'static str> {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
}

/// The diagnostics of an OperationOutcome body, joined, for the error message (quoted and cut by
/// the caller). Bodies over 64 KiB are not parsed: no OperationOutcome is that large, and a tree
/// of a huge body would take many times its size.
fn outcome_summary(body: &[u8]) -> Option<String> {
    if body.len() > 64 << 10 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    if value.get("resourceType")?.as_str()? != "OperationOutcome" {
        return None;
    }
    let parts: Vec<String> = value
        .get("issue")?
        .as_array()?
        .iter()
        .filter_map(|issue| {
            issue
                .get("diagnostics")
                .and_then(|d| d.as_str())
                .or_else(|| {
                    issue
                        .get("details")
                        .and_then(|d| d.get("text"))
                        .and_then(|t| t.as_str())
                })
                .map(str::to_owned)
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let joined = parts.join("; ");
    Some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_specific_kinds() {
        for (status, kind) in [
            (404, ErrorKind::NotFound),
            (410, ErrorKind::Gone),
            (401, ErrorKind::Auth),
            (403, ErrorKind::Auth),
            (409, ErrorKind::Conflict),
            (412, ErrorKind::Conflict),
            (407, ErrorKind::Proxy),
            (500, ErrorKind::HttpStatus),
        ] {
            assert_eq!(
                Error::from_status(status, "x", bytes::Bytes::new()).kind(),
                kind
            );
        }
    }

    #[test]
    fn operation_outcome_diagnostics_reach_the_message_and_body_is_kept() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"HAPI-2001: Resource Patient/x is not known"}]}"#;
        let e = Error::from_status(404, "GET Patient/x", bytes::Bytes::from_static(body));
        assert_eq!(
            e.message(),
            "GET Patient/x: HTTP 404 Not Found: the server says \"HAPI-2001: Resource Patient/x is not known\""
        );
        assert_eq!(e.body(), Some(&body[..]));
        assert_eq!(e.status(), Some(404));
    }
}
