//! Redaction as a property of the error type: every error message passes through [`sanitize`],
//! which removes every secret a live handle knows (passwords, static and access tokens, client
//! secrets, custom header values, proxy credentials, in plain, percent-encoded and Basic-header
//! forms), makes control characters visible (no log injection through CR/LF/ESC/BEL from a
//! server) and bounds the length.
//!
//! Secrets are registered by the handle that owns them ([`Secrets`]) and forgotten when it is
//! dropped. The registry is process-wide so that an error made anywhere — in a parser, in the
//! transport, in the C layer — is cleaned without being handed the handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use base64::Engine;
use once_cell::sync::Lazy;

/// What replaces a secret in a message.
pub(crate) const REDACTED: &str = "[redacted]";
/// Messages are cut to this many bytes.
const MAX_MESSAGE: usize = 4096;
/// Secrets shorter than this are not searched for (they would mangle ordinary words).
const MIN_SECRET: usize = 3;
/// Access tokens kept per handle, the current one included (a server could echo an old one): at a
/// five-minute lifetime, three and a half days of them.
pub(crate) const MAX_TOKENS: usize = 1000;

/// The secrets of one handle: its configured credentials (kept while it lives) and its most
/// recent access tokens (each in plain and percent-encoded form).
#[derive(Default)]
struct Owned {
    configured: Vec<String>,
    tokens: std::collections::VecDeque<Vec<String>>,
}

static REGISTRY: Lazy<RwLock<HashMap<u64, Owned>>> = Lazy::new(Default::default);
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// The secrets of one handle, registered for as long as it lives.
pub(crate) struct Secrets {
    owner: u64,
}

impl Secrets {
    pub(crate) fn new() -> Secrets {
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Secrets { owner }
    }

    /// Register a configured secret (and its percent-encoded form), kept while the handle lives.
    /// Empty and very short values are ignored.
    pub(crate) fn add(&self, secret: &str) {
        if secret.len() < MIN_SECRET {
            return;
        }
        let mut reg = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
        let list = &mut reg.entry(self.owner).or_default().configured;
        for s in forms(secret) {
            if !list.contains(&s) {
                list.push(s);
            }
        }
    }

    /// Register an access token: the newest [`MAX_TOKENS`] of a handle are kept.
    pub(crate) fn add_token(&self, token: &str) {
        if token.len() < MIN_SECRET {
            return;
        }
        let mut reg = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
        let tokens = &mut reg.entry(self.owner).or_default().tokens;
        if tokens.iter().any(|t| t[0] == token) {
            return;
        }
        if tokens.len() >= MAX_TOKENS {
            tokens.pop_front();
        }
        tokens.push_back(forms(token));
    }

    /// Register the user/password pair of an HTTP Basic credential: the password and the
    /// base64 header value.
    pub(crate) fn add_basic(&self, user: &str, password: &str) {
        self.add(password);
        self.add(&base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    }
}

/// A secret as it stands in text: plain, form-encoded (`+` for a space), percent-encoded
/// (`%20`), and both encodings with lower-case hex digits.
fn forms(secret: &str) -> Vec<String> {
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let mut all = vec![secret.to_owned()];
    for f in [form, percent] {
        let lower = lower_hex(&f);
        for v in [f, lower] {
            if !all.contains(&v) {
                all.push(v);
            }
        }
    }
    all
}

/// `%2B` → `%2b`: the other spelling of percent-encoded bytes.
fn lower_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for h in chars.by_ref().take(2) {
                out.push(h.to_ascii_lowercase());
            }
        }
    }
    out
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let mut reg = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
        reg.remove(&self.owner);
    }
}

/// A message fit for a log: known secrets replaced, control characters escaped, length bounded.
pub(crate) fn sanitize(message: &str) -> String {
    let mut out = message.to_owned();
    {
        let reg = REGISTRY.read().unwrap_or_else(|p| p.into_inner());
        // Longest first, so that a secret containing another is removed whole.
        let mut all: Vec<&String> = reg
            .values()
            .flat_map(|o| o.configured.iter().chain(o.tokens.iter().flatten()))
            .collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in all {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
    }
    if out.chars().any(char::is_control) {
        out = out
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
    }
    truncate(&mut out, MAX_MESSAGE);
    out
}

/// Server-supplied text for a message: redacted first (so that the cut cannot split a secret and
/// leave part of it), then quoted, at most `max` bytes.
pub(crate) fn quote(text: &str, max: usize) -> String {
    let mut t = sanitize(text.trim());
    truncate(&mut t, max);
    format!("\"{t}\"")
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_removed_in_every_form_until_the_owner_is_dropped() {
        let s = Secrets::new();
        s.add("hunter2-zeta");
        s.add_basic("alice", "pa ss+word");
        let msg = "a hunter2-zeta b pa ss+word c pa+ss%2Bword d YWxpY2U6cGEgc3Mrd29yZA== e";
        let clean = sanitize(msg);
        for leaked in ["hunter2", "pa+ss", "YWxpY2U6cGEgc3Mrd29yZA=="] {
            assert!(!clean.contains(leaked), "{clean}");
        }
        assert!(clean.starts_with("a [redacted] b"), "{clean}");
        drop(s);
        assert_eq!(sanitize("hunter2-zeta"), "hunter2-zeta");
    }

    #[test]
    fn every_usual_encoding_of_a_secret_is_removed() {
        let s = Secrets::new();
        s.add("correct horse+1/x");
        for echoed in [
            "correct horse+1/x",
            "correct+horse%2B1%2Fx",
            "correct+horse%2b1%2fx",
            "correct%20horse%2B1%2Fx",
            "correct%20horse%2b1%2fx",
        ] {
            let clean = sanitize(&format!("GET /fhir/{echoed}: HTTP 500"));
            assert_eq!(clean, "GET /fhir/[redacted]: HTTP 500", "{echoed}");
        }
        s.add_token("at-1");
        s.add_token("at-2");
        assert_eq!(sanitize("at-1 at-2"), "[redacted] [redacted]");
    }

    #[test]
    fn only_the_newest_tokens_are_kept_and_configured_secrets_stay() {
        let s = Secrets::new();
        s.add("configured-secret-x");
        for i in 0..=MAX_TOKENS {
            s.add_token(&format!("tok-{i:05}"));
        }
        assert_eq!(sanitize("tok-00000"), "tok-00000", "the oldest is dropped");
        assert_eq!(sanitize("tok-00001"), "[redacted]");
        assert_eq!(sanitize("configured-secret-x"), "[redacted]");
    }

    #[test]
    fn control_characters_are_made_visible_and_length_is_bounded() {
        assert_eq!(
            sanitize("a\r\nb\u{1b}[31m\u{7}"),
            "a\\r\\nb\\u{1b}[31m\\u{7}"
        );
        let long = "x".repeat(10_000);
        assert_eq!(sanitize(&long).len(), MAX_MESSAGE + '…'.len_utf8());
        assert_eq!(quote("  hi  ", 10), "\"hi\"");
        assert_eq!(quote("ééé", 3), "\"é…\"");
    }
}
