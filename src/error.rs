//! The error model: one stable result code per failure a caller branches on, plus a detailed
//! [`Error`] carrying a message, the HTTP status and the server's response body (usually an
//! OperationOutcome). Codes are only ever added, never renumbered or removed.

use std::fmt;

/// Result code of every fallible call. `FHIR_OK` (0) means success.
///
/// The numeric values are part of the ABI: they are only ever added, never renumbered.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum fhir_result {
    /// Success.
    FHIR_OK = 0,
    /// A required pointer argument was NULL.
    FHIR_ERR_NULL_ARGUMENT = 1,
    /// An argument was malformed: not UTF-8, a bad URL, an out-of-range option, a bad header.
    FHIR_ERR_INVALID_ARGUMENT = 2,
    /// The configuration is incomplete or contradictory (for example the environment variables
    /// read by `fhir_server_from_env`). The message names the variables at fault.
    FHIR_ERR_CONFIG = 3,
    /// The server (or proxy) could not be reached: DNS, refused connection, reset.
    FHIR_ERR_CONNECT = 4,
    /// TLS failed: untrusted or invalid certificate, handshake failure, bad client certificate.
    FHIR_ERR_TLS = 5,
    /// The request or the connection attempt timed out.
    FHIR_ERR_TIMEOUT = 6,
    /// The server answered with an HTTP error status not covered by a more specific code.
    FHIR_ERR_HTTP_STATUS = 7,
    /// Authentication failed: HTTP 401/403, or the OpenID Connect provider refused to issue a token.
    FHIR_ERR_AUTH = 8,
    /// A JSON document (given by the caller or returned by the server) is not valid JSON.
    FHIR_ERR_JSON = 9,
    /// HTTP 404: the resource or endpoint does not exist.
    FHIR_ERR_NOT_FOUND = 10,
    /// HTTP 410: the resource was deleted.
    FHIR_ERR_GONE = 11,
    /// HTTP 409 or 412: a version conflict or a failed precondition (`If-Match`).
    FHIR_ERR_CONFLICT = 12,
    /// The configured proxy could not be reached or refused the request.
    FHIR_ERR_PROXY = 13,
    /// The server's answer is not what FHIR prescribes (for example a search that returns no Bundle).
    FHIR_ERR_PROTOCOL = 14,
    /// Paging was stopped: a `next` link loops, or points to another server.
    FHIR_ERR_PAGING = 15,
    /// A local file (CA bundle, client certificate or key) could not be read.
    FHIR_ERR_IO = 16,
    /// An internal error (a panic) was caught at the library boundary. Please report it.
    FHIR_ERR_PANIC = 17,
    /// The internal runtime could not be started, or a blocking call was made from inside it.
    FHIR_ERR_RUNTIME = 18,
}

pub use fhir_result as Code;

impl Code {
    /// A static, human-readable description of the code.
    pub fn describe(self) -> &'static str {
        self.describe_c().to_str().unwrap_or("")
    }

    /// The description as a NUL-terminated static string (for `fhir_result_str`).
    pub fn describe_c(self) -> &'static std::ffi::CStr {
        match self {
            Code::FHIR_OK => c"success",
            Code::FHIR_ERR_NULL_ARGUMENT => c"a required argument was NULL",
            Code::FHIR_ERR_INVALID_ARGUMENT => c"invalid argument",
            Code::FHIR_ERR_CONFIG => c"invalid or incomplete configuration",
            Code::FHIR_ERR_CONNECT => c"could not connect to the server",
            Code::FHIR_ERR_TLS => c"TLS error",
            Code::FHIR_ERR_TIMEOUT => c"timed out",
            Code::FHIR_ERR_HTTP_STATUS => c"the server answered with an HTTP error status",
            Code::FHIR_ERR_AUTH => c"authentication failed",
            Code::FHIR_ERR_JSON => c"invalid JSON",
            Code::FHIR_ERR_NOT_FOUND => c"not found (HTTP 404)",
            Code::FHIR_ERR_GONE => c"gone (HTTP 410)",
            Code::FHIR_ERR_CONFLICT => c"conflict or failed precondition (HTTP 409/412)",
            Code::FHIR_ERR_PROXY => c"proxy error",
            Code::FHIR_ERR_PROTOCOL => c"unexpected answer from the server",
            Code::FHIR_ERR_PAGING => c"paging stopped",
            Code::FHIR_ERR_IO => c"could not read a local file",
            Code::FHIR_ERR_PANIC => c"internal error (panic caught at the library boundary)",
            Code::FHIR_ERR_RUNTIME => c"internal runtime error",
        }
    }

    /// Every code, in numeric order.
    pub const ALL: [Code; 19] = [
        Code::FHIR_OK,
        Code::FHIR_ERR_NULL_ARGUMENT,
        Code::FHIR_ERR_INVALID_ARGUMENT,
        Code::FHIR_ERR_CONFIG,
        Code::FHIR_ERR_CONNECT,
        Code::FHIR_ERR_TLS,
        Code::FHIR_ERR_TIMEOUT,
        Code::FHIR_ERR_HTTP_STATUS,
        Code::FHIR_ERR_AUTH,
        Code::FHIR_ERR_JSON,
        Code::FHIR_ERR_NOT_FOUND,
        Code::FHIR_ERR_GONE,
        Code::FHIR_ERR_CONFLICT,
        Code::FHIR_ERR_PROXY,
        Code::FHIR_ERR_PROTOCOL,
        Code::FHIR_ERR_PAGING,
        Code::FHIR_ERR_IO,
        Code::FHIR_ERR_PANIC,
        Code::FHIR_ERR_RUNTIME,
    ];

    /// The code with numeric value `n`, if there is one.
    pub fn from_i64(n: i64) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| *c as i64 == n)
    }
}

/// A detailed error: code, message, and where the server answered, its status and body.
///
/// The message never contains a secret (password, token, client secret, access token).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub status: Option<u16>,
    pub body: Option<Vec<u8>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            status: None,
            body: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Code::FHIR_ERR_INVALID_ARGUMENT, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error::new(Code::FHIR_ERR_CONFIG, message)
    }

    pub fn json(message: impl Into<String>) -> Self {
        Error::new(Code::FHIR_ERR_JSON, message)
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Error::new(Code::FHIR_ERR_PROTOCOL, message)
    }

    /// An error for an HTTP error status, choosing the most specific code and keeping the body.
    pub fn from_status(status: u16, context: &str, body: Vec<u8>) -> Self {
        let code = match status {
            401 | 403 => Code::FHIR_ERR_AUTH,
            404 => Code::FHIR_ERR_NOT_FOUND,
            410 => Code::FHIR_ERR_GONE,
            409 | 412 => Code::FHIR_ERR_CONFLICT,
            407 => Code::FHIR_ERR_PROXY,
            _ => Code::FHIR_ERR_HTTP_STATUS,
        };
        let mut message = format!("{context}: HTTP {status}");
        if let Some(reason) = http_reason(status) {
            message.push(' ');
            message.push_str(reason);
        }
        if let Some(diag) = outcome_summary(&body) {
            message.push_str(": ");
            message.push_str(&diag);
        }
        Error {
            code,
            message,
            status: Some(status),
            body: if body.is_empty() { None } else { Some(body) },
        }
    }

    pub fn with_context(mut self, context: &str) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
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

/// The diagnostics of an OperationOutcome body, joined, for the error message (at most 300 chars).
fn outcome_summary(body: &[u8]) -> Option<String> {
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
    let mut joined = parts.join("; ");
    if joined.len() > 300 {
        let mut cut = 300;
        while !joined.is_char_boundary(cut) {
            cut -= 1;
        }
        joined.truncate(cut);
        joined.push('…');
    }
    Some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert!(!c.describe().is_empty());
        }
        assert_eq!(Code::from_i64(10), Some(Code::FHIR_ERR_NOT_FOUND));
        assert_eq!(Code::from_i64(-1), None);
    }

    #[test]
    fn status_codes_map_to_specific_codes() {
        assert_eq!(
            Error::from_status(404, "GET x", vec![]).code,
            Code::FHIR_ERR_NOT_FOUND
        );
        assert_eq!(
            Error::from_status(410, "x", vec![]).code,
            Code::FHIR_ERR_GONE
        );
        assert_eq!(
            Error::from_status(401, "x", vec![]).code,
            Code::FHIR_ERR_AUTH
        );
        assert_eq!(
            Error::from_status(403, "x", vec![]).code,
            Code::FHIR_ERR_AUTH
        );
        assert_eq!(
            Error::from_status(412, "x", vec![]).code,
            Code::FHIR_ERR_CONFLICT
        );
        assert_eq!(
            Error::from_status(500, "x", vec![]).code,
            Code::FHIR_ERR_HTTP_STATUS
        );
    }

    #[test]
    fn operation_outcome_diagnostics_reach_the_message_and_body_is_kept() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"HAPI-2001: Resource Patient/x is not known"}]}"#;
        let e = Error::from_status(404, "GET Patient/x", body.to_vec());
        assert_eq!(
            e.message,
            "GET Patient/x: HTTP 404 Not Found: HAPI-2001: Resource Patient/x is not known"
        );
        assert_eq!(e.body.as_deref(), Some(&body[..]));
        assert_eq!(e.status, Some(404));
    }
}
