//! Log records of the library, for the caller's own log: the core logs with the `log` crate under
//! targets `fhir_kindling::<area>` (auth, retry, transport, paging, bulk, call); a bridge hands
//! each record to a [`LogSink`] — the one of the handle making the call if it has one, else the
//! process-wide one.
//!
//! Rules the bridge enforces, whoever logs:
//! - every message passes through [`crate::redact::sanitize`]: no registered secret (password,
//!   token, client secret, key, custom header value) reaches a sink, control characters are
//!   escaped and the length is bounded;
//! - during a call, records are delivered on the caller's thread: a record made on another thread
//!   (a runtime worker) waits, bounded, until the call hands it over before returning.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub use log::{Level, LevelFilter};

use crate::call::Call;

/// Where log records go. Called with the message already redacted.
pub trait LogSink: Send + Sync {
    /// The most detailed level wanted.
    fn max_level(&self) -> LevelFilter;
    /// One record: `target` is the area (`auth`, `retry`, `transport`, `paging`, ...).
    fn log(&self, level: Level, target: &str, message: &str);
}

static GLOBAL: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
/// The most detailed level any sink ever asked for (as a `LevelFilter` number): the `log` crate's
/// cheap filter in front of every record.
static WANTED: AtomicUsize = AtomicUsize::new(0);
static BRIDGE: Bridge = Bridge;
/// Records of one call kept while they wait for the caller's thread.
const MAX_PENDING: usize = 1024;

/// Set (or with `None` remove) the process-wide sink.
pub fn set_global(sink: Option<Arc<dyn LogSink>>) {
    if let Some(s) = &sink {
        want(s.max_level());
    }
    *GLOBAL.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// Make sure records up to `level` reach the bridge (called for every sink made).
pub fn want(level: LevelFilter) {
    if level == LevelFilter::Off {
        return;
    }
    // Installed once; in a process where another logger was installed first (a Rust host using
    // the crate directly), the records go to that logger instead.
    let _ = log::set_logger(&BRIDGE);
    let before = WANTED.fetch_max(level as usize, Ordering::SeqCst);
    if (level as usize) > before {
        log::set_max_level(level);
    }
}

fn global() -> Option<Arc<dyn LogSink>> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Records of one call made on another thread, waiting for the caller's thread.
#[derive(Default)]
pub(crate) struct Pending {
    records: Mutex<VecDeque<(Level, String, String)>>,
    dropped: AtomicUsize,
}

impl Pending {
    fn push(&self, level: Level, target: &str, message: String) {
        let mut q = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_PENDING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push_back((level, target.to_owned(), message));
    }
}

/// Deliver `call`'s waiting records to its sink (on the caller's thread).
pub(crate) fn flush(call: &Call) {
    let records: Vec<_> = {
        let mut q = call
            .pending
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    };
    let dropped = call.pending.dropped.swap(0, Ordering::Relaxed);
    if records.is_empty() && dropped == 0 {
        return;
    }
    let Some(sink) = call.log.clone().or_else(global) else {
        return;
    };
    for (level, target, message) in records {
        sink.log(level, &target, &message);
    }
    if dropped > 0 {
        sink.log(
            Level::Warn,
            "call",
            &format!(
                "{dropped} log records of this call were dropped (more than {MAX_PENDING} waiting)"
            ),
        );
    }
}

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("fhir_kindling")
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = record.level();
        let target = record
            .target()
            .strip_prefix("fhir_kindling::")
            .unwrap_or("general");
        let call = crate::call::with(|c| c.clone());
        let sink = match &call {
            Some(c) => c.log.clone().or_else(global),
            None => global(),
        };
        let Some(sink) = sink else {
            return;
        };
        if level > sink.max_level() {
            return;
        }
        let message = crate::redact::sanitize(&record.args().to_string());
        match call {
            Some(c) if c.thread != std::thread::current().id() => {
                c.pending.push(level, target, message)
            }
            _ => sink.log(level, target, &message),
        }
    }

    fn flush(&self) {}
}

/// `url` for a log line: scheme, host, port and path, with every query value replaced by `…`
/// (values may be patient data or secrets); the full URL is logged at trace level only.
pub(crate) fn url_shape(url: &url::Url) -> String {
    let mut s = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    s.push_str(url.path());
    if let Some(q) = url.query() {
        s.push('?');
        let names: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{k}=…"),
                None => kv.to_owned(),
            })
            .collect();
        s.push_str(&names.join("&"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_shape_keeps_names_and_drops_values() {
        let u = url::Url::parse("https://h:8443/fhir/Patient?name=Smith&_count=5&flag").unwrap();
        assert_eq!(
            url_shape(&u),
            "https://h:8443/fhir/Patient?name=…&_count=…&flag"
        );
    }
}
