//! Retry policy, modelled on fhir_kindling's options: off by default; setting
//! `retry_status_codes` or `retryable_methods` turns it on. Exponential backoff
//! `retry_backoff_factor * 2^(n-1)` with jitter, every wait capped at `max_backoff_wait`,
//! `Retry-After` honoured (delta-seconds or HTTP date, also capped).

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Methods retried by default once retrying is on: the idempotent ones.
pub const DEFAULT_RETRYABLE_METHODS: [&str; 6] =
    ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"];
/// Upper bound in seconds for the backoff factor and the wait cap (30 days).
const MAX_WAIT: f64 = 2_592_000.0;

/// Statuses retried by default once retrying is on.
pub const DEFAULT_RETRY_STATUS_CODES: [u16; 4] = [413, 429, 503, 504];

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// `None` until the caller sets them; retrying is on once either list is set.
    pub status_codes: Option<Vec<u16>>,
    pub methods: Option<Vec<String>>,
    /// Total attempts, the first one included.
    pub max_attempts: u32,
    /// Seconds; the n-th retry waits `factor * 2^(n-1)`.
    pub backoff_factor: f64,
    /// Ratio in 0..=0.5: each wait is multiplied by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// Seconds; cap for every wait, `Retry-After` included.
    pub max_backoff_wait: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            status_codes: None,
            methods: None,
            max_attempts: 5,
            backoff_factor: 0.1,
            jitter: 0.1,
            max_backoff_wait: 60.0,
        }
    }
}

impl RetryPolicy {
    pub fn enabled(&self) -> bool {
        self.status_codes.is_some() || self.methods.is_some()
    }

    pub fn method_retryable(&self, method: &str) -> bool {
        if !self.enabled() {
            return false;
        }
        match &self.methods {
            Some(methods) => methods.iter().any(|m| m.eq_ignore_ascii_case(method)),
            None => DEFAULT_RETRYABLE_METHODS
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method)),
        }
    }

    pub fn status_retryable(&self, status: u16) -> bool {
        if !self.enabled() {
            return false;
        }
        match &self.status_codes {
            Some(codes) => codes.contains(&status),
            None => DEFAULT_RETRY_STATUS_CODES.contains(&status),
        }
    }

    /// Set the statuses that are retried (turns retrying on). Each must be 100..=599.
    pub fn set_status_codes(&mut self, codes: &[u16]) -> Result<()> {
        if let Some(bad) = codes.iter().find(|c| !(100..=599).contains(*c)) {
            return Err(Error::invalid(format!(
                "retry status code {bad} is not an HTTP status (100..599)"
            )));
        }
        self.status_codes = Some(codes.to_vec());
        Ok(())
    }

    /// Set the methods that are retried (turns retrying on), e.g. `["GET", "POST"]`.
    pub fn set_methods<S: AsRef<str>>(&mut self, methods: &[S]) -> Result<()> {
        let mut out = Vec::with_capacity(methods.len());
        for m in methods {
            let m = m.as_ref().trim();
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(Error::invalid(format!("'{m}' is not an HTTP method")));
            }
            out.push(m.to_ascii_uppercase());
        }
        self.methods = Some(out);
        Ok(())
    }

    pub fn set_max_attempts(&mut self, n: u32) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid("max_attempts must be at least 1"));
        }
        self.max_attempts = n;
        Ok(())
    }

    pub fn set_backoff_factor(&mut self, seconds: f64) -> Result<()> {
        if !seconds.is_finite() || !(0.0..=MAX_WAIT).contains(&seconds) {
            return Err(Error::invalid(
                "retry_backoff_factor must be between 0 and 2592000 seconds",
            ));
        }
        self.backoff_factor = seconds;
        Ok(())
    }

    pub fn set_jitter(&mut self, ratio: f64) -> Result<()> {
        if !ratio.is_finite() || !(0.0..=0.5).contains(&ratio) {
            return Err(Error::invalid(
                "retry jitter must be a ratio between 0 and 0.5",
            ));
        }
        self.jitter = ratio;
        Ok(())
    }

    pub fn set_max_backoff_wait(&mut self, seconds: f64) -> Result<()> {
        if !seconds.is_finite() || !(0.0..=MAX_WAIT).contains(&seconds) {
            return Err(Error::invalid(
                "max_backoff_wait must be between 0 and 2592000 seconds",
            ));
        }
        self.max_backoff_wait = seconds;
        Ok(())
    }

    /// The wait before retry number `retry` (1 for the first retry), without jitter, capped.
    pub fn base_backoff(&self, retry: u32) -> f64 {
        let exp = retry.saturating_sub(1).min(62) as i32;
        (self.backoff_factor * 2f64.powi(exp)).min(self.max_backoff_wait)
    }

    /// The wait before retry number `retry`: backoff with jitter (`unit` is a uniform sample in
    /// 0..1), or the server's `Retry-After` when it sent one; always capped.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let cap = self.max_backoff_wait;
        let seconds = match retry_after {
            Some(d) => d.as_secs_f64().min(cap),
            None => {
                let base = self.base_backoff(retry);
                let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
                (base * factor).clamp(0.0, cap)
            }
        };
        Duration::from_secs_f64(seconds)
    }
}

/// Parse a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let p = RetryPolicy::default();
        assert!(!p.enabled());
        assert!(!p.method_retryable("GET"));
        assert!(!p.status_retryable(503));
    }

    #[test]
    fn status_codes_turn_on_with_default_methods() {
        let mut p = RetryPolicy::default();
        p.set_status_codes(&[500]).unwrap();
        assert!(p.status_retryable(500));
        assert!(!p.status_retryable(503));
        for m in DEFAULT_RETRYABLE_METHODS {
            assert!(p.method_retryable(m), "{m}");
        }
        assert!(!p.method_retryable("POST"));
        assert!(!p.method_retryable("PATCH"));
    }

    #[test]
    fn methods_turn_on_with_default_statuses() {
        let mut p = RetryPolicy::default();
        p.set_methods(&["post"]).unwrap();
        assert!(p.method_retryable("POST"));
        assert!(!p.method_retryable("GET"));
        for s in DEFAULT_RETRY_STATUS_CODES {
            assert!(p.status_retryable(s));
        }
        assert!(!p.status_retryable(500));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut p = RetryPolicy::default();
        p.set_backoff_factor(0.5).unwrap();
        p.set_max_backoff_wait(3.0).unwrap();
        assert_eq!(p.base_backoff(1), 0.5);
        assert_eq!(p.base_backoff(2), 1.0);
        assert_eq!(p.base_backoff(3), 2.0);
        assert_eq!(p.base_backoff(4), 3.0);
        assert_eq!(p.base_backoff(60), 3.0);
    }

    #[test]
    fn jitter_stays_within_ratio() {
        let mut p = RetryPolicy::default();
        p.set_backoff_factor(1.0).unwrap();
        p.set_jitter(0.2).unwrap();
        assert_eq!(p.wait(1, None, 0.0), Duration::from_secs_f64(0.8));
        assert_eq!(p.wait(1, None, 1.0), Duration::from_secs_f64(1.2));
        assert_eq!(p.wait(1, None, 0.5), Duration::from_secs_f64(1.0));
    }

    #[test]
    fn retry_after_is_used_and_capped() {
        let mut p = RetryPolicy::default();
        p.set_max_backoff_wait(10.0).unwrap();
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(3)), 0.9),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(3600)), 0.9),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn retry_after_parses_both_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let mut p = RetryPolicy::default();
        assert!(p.set_max_attempts(0).is_err());
        assert!(p.set_jitter(0.6).is_err());
        assert!(p.set_backoff_factor(f64::NAN).is_err());
        assert!(p.set_max_backoff_wait(1e20).is_err());
        assert!(p.set_status_codes(&[42]).is_err());
        assert!(p.set_methods(&["G ET"]).is_err());
        assert_eq!(p, RetryPolicy::default());
    }
}
