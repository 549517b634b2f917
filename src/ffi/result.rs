//! `fhir_result`: the stable result codes, their descriptions, and how the core's error kinds map
//! onto them.

use std::ffi::{c_char, c_int, CStr};

use crate::error::ErrorKind;

/// Result code of every fallible call. `FHIR_OK` (0) means success.
///
/// The numeric values are part of the ABI: codes are only ever added, never renumbered or
/// removed. Branch on the codes you handle and treat any other non-zero value as a failure.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum fhir_result {
    /// Success.
    FHIR_OK = 0,
    /// A required pointer argument was NULL.
    FHIR_ERR_NULL_ARGUMENT = 1,
    /// An argument was malformed: not UTF-8, a bad URL, an out-of-range option, a bad header.
    FHIR_ERR_INVALID_ARGUMENT = 2,
    /// The configuration is incomplete or contradictory (for example the environment variables
    /// read by fhir_server_from_env()). The message names the variables at fault.
    FHIR_ERR_CONFIG = 3,
    /// The server could not be reached: DNS, refused connection, reset.
    FHIR_ERR_CONNECT = 4,
    /// TLS failed: untrusted or invalid certificate, handshake failure, bad client certificate.
    FHIR_ERR_TLS = 5,
    /// The request or the connection attempt timed out.
    FHIR_ERR_TIMEOUT = 6,
    /// The server answered with an HTTP error status not covered by a more specific code.
    FHIR_ERR_HTTP_STATUS = 7,
    /// Authentication failed: HTTP 401/403, or the OpenID Connect provider refused to issue a
    /// token.
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
    /// The server's answer is not what FHIR prescribes (for example a search that returns no
    /// Bundle).
    FHIR_ERR_PROTOCOL = 14,
    /// Paging was stopped: a `next` link loops, or points to another server.
    FHIR_ERR_PAGING = 15,
    /// A local file (CA bundle, client certificate or key) could not be read.
    FHIR_ERR_IO = 16,
    /// An internal error (a panic) was caught at the library boundary. Please report it.
    FHIR_ERR_PANIC = 17,
    /// The internal runtime could not be started, a blocking call was made from inside an async
    /// runtime, or memory for a buffer handed to the caller could not be allocated.
    FHIR_ERR_RUNTIME = 18,
    /// A limit was reached: a response body larger than the response limit, a collected result
    /// larger than the result limit, more pages than the page limit, more than a million entries
    /// in one page, or no memory for a buffer the library builds (a response, a result, a page
    /// for a callback). The message names the limit and its option; the handle stays usable.
    FHIR_ERR_LIMIT = 19,
    /// The call was cancelled: its cancel token (fhir_server_scope()) was triggered, or the
    /// request hook (fhir_options_set_request_hook()) refused a request. Nothing is retried
    /// after a cancel.
    FHIR_ERR_CANCELLED = 20,
}

impl fhir_result {
    /// Every code, in numeric order.
    pub const ALL: [fhir_result; 21] = [
        fhir_result::FHIR_OK,
        fhir_result::FHIR_ERR_NULL_ARGUMENT,
        fhir_result::FHIR_ERR_INVALID_ARGUMENT,
        fhir_result::FHIR_ERR_CONFIG,
        fhir_result::FHIR_ERR_CONNECT,
        fhir_result::FHIR_ERR_TLS,
        fhir_result::FHIR_ERR_TIMEOUT,
        fhir_result::FHIR_ERR_HTTP_STATUS,
        fhir_result::FHIR_ERR_AUTH,
        fhir_result::FHIR_ERR_JSON,
        fhir_result::FHIR_ERR_NOT_FOUND,
        fhir_result::FHIR_ERR_GONE,
        fhir_result::FHIR_ERR_CONFLICT,
        fhir_result::FHIR_ERR_PROXY,
        fhir_result::FHIR_ERR_PROTOCOL,
        fhir_result::FHIR_ERR_PAGING,
        fhir_result::FHIR_ERR_IO,
        fhir_result::FHIR_ERR_PANIC,
        fhir_result::FHIR_ERR_RUNTIME,
        fhir_result::FHIR_ERR_LIMIT,
        fhir_result::FHIR_ERR_CANCELLED,
    ];

    /// The code with numeric value `n`, if there is one.
    pub fn from_i64(n: i64) -> Option<fhir_result> {
        fhir_result::ALL.iter().copied().find(|c| *c as i64 == n)
    }

    /// A static, human-readable description of the code (NUL-terminated).
    pub fn describe(self) -> &'static CStr {
        use fhir_result::*;
        match self {
            FHIR_OK => c"success",
            FHIR_ERR_NULL_ARGUMENT => c"a required argument was NULL",
            FHIR_ERR_INVALID_ARGUMENT => c"invalid argument",
            FHIR_ERR_CONFIG => c"invalid or incomplete configuration",
            FHIR_ERR_CONNECT => c"could not connect to the server",
            FHIR_ERR_TLS => c"TLS error",
            FHIR_ERR_TIMEOUT => c"timed out",
            FHIR_ERR_HTTP_STATUS => c"the server answered with an HTTP error status",
            FHIR_ERR_AUTH => c"authentication failed",
            FHIR_ERR_JSON => c"invalid JSON",
            FHIR_ERR_NOT_FOUND => c"not found (HTTP 404)",
            FHIR_ERR_GONE => c"gone (HTTP 410)",
            FHIR_ERR_CONFLICT => c"conflict or failed precondition (HTTP 409/412)",
            FHIR_ERR_PROXY => c"proxy error",
            FHIR_ERR_PROTOCOL => c"unexpected answer from the server",
            FHIR_ERR_PAGING => c"paging stopped",
            FHIR_ERR_IO => c"could not read a local file",
            FHIR_ERR_PANIC => c"internal error (panic caught at the library boundary)",
            FHIR_ERR_RUNTIME => c"internal runtime error",
            FHIR_ERR_LIMIT => c"a limit was reached",
            FHIR_ERR_CANCELLED => c"the call was cancelled",
        }
    }
}

impl From<ErrorKind> for fhir_result {
    fn from(kind: ErrorKind) -> Self {
        use fhir_result::*;
        match kind {
            ErrorKind::InvalidArgument => FHIR_ERR_INVALID_ARGUMENT,
            ErrorKind::Config => FHIR_ERR_CONFIG,
            ErrorKind::Connect => FHIR_ERR_CONNECT,
            ErrorKind::Tls => FHIR_ERR_TLS,
            ErrorKind::Timeout => FHIR_ERR_TIMEOUT,
            ErrorKind::HttpStatus => FHIR_ERR_HTTP_STATUS,
            ErrorKind::Auth => FHIR_ERR_AUTH,
            ErrorKind::Json => FHIR_ERR_JSON,
            ErrorKind::NotFound => FHIR_ERR_NOT_FOUND,
            ErrorKind::Gone => FHIR_ERR_GONE,
            ErrorKind::Conflict => FHIR_ERR_CONFLICT,
            ErrorKind::Proxy => FHIR_ERR_PROXY,
            ErrorKind::Protocol => FHIR_ERR_PROTOCOL,
            ErrorKind::Paging => FHIR_ERR_PAGING,
            ErrorKind::Io => FHIR_ERR_IO,
            ErrorKind::Limit => FHIR_ERR_LIMIT,
            ErrorKind::Cancelled => FHIR_ERR_CANCELLED,
        }
    }
}

/// A static English description of a result code.
///
/// @param code A `fhir_result` value (an `int`, so that codes from a newer library can be passed).
/// @return A static NUL-terminated string; never NULL; do not free. A value that is not a known
///         code gives "unknown result code".
#[no_mangle]
pub extern "C" fn fhir_result_str(code: c_int) -> *const c_char {
    match fhir_result::from_i64(code as i64) {
        Some(c) => c.describe().as_ptr(),
        None => c"unknown result code".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order_and_described() {
        for (i, c) in fhir_result::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert!(!c.describe().to_bytes().is_empty());
        }
        assert_eq!(
            fhir_result::from_i64(10),
            Some(fhir_result::FHIR_ERR_NOT_FOUND)
        );
        assert_eq!(fhir_result::from_i64(-1), None);
    }
}
