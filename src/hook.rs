//! The caller's request hook: called before each attempt of each request to the FHIR server, on
//! the caller's thread, to add headers of its own (a W3C `traceparent`, a correlation id) or to
//! refuse the request.

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use url::Url;

use crate::error::{Error, Result};

/// Headers the hook may not set: the library's own (credentials, framing, routing).
const RESERVED: [&str; 8] = [
    "authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "proxy-authorization",
    "te",
    "upgrade",
];

/// The headers one hook call adds; at most [`MAX_HEADERS`], each checked when added.
#[derive(Debug, Default)]
pub struct HookHeaders {
    pub(crate) items: Vec<(HeaderName, HeaderValue)>,
}

/// Headers one hook call may add.
pub(crate) const MAX_HEADERS: usize = 64;

impl HookHeaders {
    /// Add a header to this attempt. Names the library sets itself are refused.
    pub fn add(&mut self, name: &str, value: &str) -> Result<()> {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::invalid(format!("'{}' is not a valid header name", name.trim())))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(Error::invalid(format!(
                "the header '{name}' is set by the library, not by the request hook"
            )));
        }
        if self.items.len() >= MAX_HEADERS {
            return Err(Error::invalid(format!(
                "the request hook may add at most {MAX_HEADERS} headers"
            )));
        }
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid(format!(
                "the value of header '{name}' is not a valid header value"
            ))
        })?;
        value.set_sensitive(true);
        self.items.push((name, value));
        Ok(())
    }
}

/// The hook: given the method and URL of an attempt, add headers; `false` refuses the request
/// (the call ends as cancelled).
pub type RequestHook = Arc<dyn Fn(&Method, &Url, &mut HookHeaders) -> bool + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        let mut h = HookHeaders::default();
        h.add(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .unwrap();
        assert!(h.add("Authorization", "Bearer x").is_err());
        assert!(h.add("Host", "evil").is_err());
        assert!(h.add("bad name", "v").is_err());
        assert!(h.add("x-ok", "line\nbreak").is_err());
        for i in 1..MAX_HEADERS {
            h.add(&format!("x-{i}"), "v").unwrap();
        }
        assert!(h.add("x-one-too-many", "v").is_err());
        assert_eq!(h.items.len(), MAX_HEADERS);
    }
}
