//! One call of the library as the caller sees it: its cancel token, its deadline, what it did
//! (status, attempts, bytes, timings) and where its log records go.
//!
//! A [`Call`] is made for every blocking call and set as a tokio task-local for the futures it
//! runs ([`Call::run`]), so that the code deep inside (the request loop, the backoff sleep,
//! `create_all` between batches, the connector) can reach it without an extra argument:
//! [`checkpoint`], [`sleep`], [`with`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::{Error, ErrorKind, Result};
use crate::logging::{LogSink, Pending};

/// A cancel token: triggered once, from any thread; every call it governs ends promptly with
/// [`ErrorKind::Cancelled`]. Clones share the token.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Default)]
struct CancelInner {
    fired: AtomicBool,
    notify: Notify,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trigger the token (idempotent). Calls waiting on it wake at once.
    pub fn cancel(&self) {
        self.inner.fired.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Resolves once the token is triggered.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read: a trigger in between is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What governs the calls made through one handle: a cancel token and a deadline (both optional).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub cancel: Option<CancelToken>,
    pub deadline: Option<Instant>,
    /// The timeout the deadline was made from, for messages.
    pub timeout: Option<Duration>,
}

impl Scope {
    /// A scope ending `timeout` from now (none when `None`).
    pub fn new(cancel: Option<CancelToken>, timeout: Option<Duration>) -> Scope {
        Scope {
            cancel,
            deadline: timeout.map(|t| Instant::now() + t),
            timeout,
        }
    }

    fn cancelled_error() -> Error {
        Error::new(ErrorKind::Cancelled, "the call was cancelled")
    }

    fn deadline_error(&self) -> Error {
        let ms = self.timeout.map(|t| t.as_millis()).unwrap_or(0);
        Error::new(
            ErrorKind::Timeout,
            format!("the call's deadline ({ms} ms, all attempts and waits included) has passed"),
        )
    }

    /// `Cancelled` once the token is triggered, `Timeout` once the deadline has passed.
    pub fn check(&self) -> Result<()> {
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(Self::cancelled_error());
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(self.deadline_error());
        }
        Ok(())
    }

    /// Resolves with the error that ends the call: the cancel or the deadline (never without).
    async fn ended(&self) -> Error {
        let cancel = async {
            match &self.cancel {
                Some(t) => t.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel => Self::cancelled_error(),
            _ = deadline => self.deadline_error(),
        }
    }
}

/// What one call did: filled in as it runs, read by the caller after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The HTTP status of the last answer, 0 if none came.
    pub status: u16,
    /// Attempts of the last request (1 = not retried).
    pub attempts: u32,
    /// HTTP requests to the FHIR server (every attempt and page; token requests excluded).
    pub requests: u32,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received (after decompression).
    pub bytes_received: u64,
    /// Wall time of the call.
    pub total: Duration,
    /// The last request: from sending it to its response headers.
    pub first_byte: Duration,
    /// Time spent opening new connections (TCP connect and TLS handshake).
    pub connect: Duration,
    /// New connections opened (0 when every request reused a pooled one).
    pub new_connections: u32,
}

/// One call: its scope, its record, and where its log records go.
pub struct Call {
    scope: Scope,
    started: Instant,
    info: Mutex<CallInfo>,
    pub(crate) log: Option<Arc<dyn LogSink>>,
    /// The caller's thread: records made on another thread wait in `pending` for it.
    pub(crate) thread: ThreadId,
    pub(crate) pending: Pending,
}

tokio::task_local! {
    static CURRENT: Arc<Call>;
}

impl Call {
    /// A call made now on this thread, governed by `scope`, logging to `log` (or, when `None`,
    /// to the process-wide log callback).
    pub fn new(scope: Scope, log: Option<Arc<dyn LogSink>>) -> Arc<Call> {
        if let Some(sink) = &log {
            crate::logging::want(sink.max_level());
        }
        Arc::new(Call {
            scope,
            started: Instant::now(),
            info: Mutex::new(CallInfo::default()),
            log,
            thread: std::thread::current().id(),
            pending: Pending::default(),
        })
    }

    /// Run `future` as part of this call: it ends early with `Cancelled` when the token is
    /// triggered and with `Timeout` at the deadline (the future is dropped, and with it any
    /// connection in use). Records logged meanwhile on other threads are delivered here, on the
    /// caller's thread, before this returns.
    pub async fn run<T>(self: &Arc<Self>, future: impl Future<Output = Result<T>>) -> Result<T> {
        self.scope.check()?;
        let this = self.clone();
        let out = CURRENT
            .scope(this, async {
                tokio::select! {
                    // The future first: an error it builds itself on a cancel (with more
                    // context, as create_all does) wins over the bare one.
                    biased;
                    r = future => r,
                    e = self.scope.ended() => Err(e),
                }
            })
            .await;
        self.flush_log();
        out
    }

    /// Deliver the records made on other threads during this call (on the caller's thread).
    pub fn flush_log(&self) {
        crate::logging::flush(self);
    }

    pub fn check(&self) -> Result<()> {
        self.scope.check()
    }

    /// What the call did so far, with its total time up to now.
    pub fn info(&self) -> CallInfo {
        let mut info = *self.info.lock().unwrap_or_else(|e| e.into_inner());
        info.total = self.started.elapsed();
        info
    }

    pub(crate) fn record(&self, f: impl FnOnce(&mut CallInfo)) {
        f(&mut self.info.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// `f` applied to the current call, if the code runs inside one.
pub(crate) fn with<R>(f: impl FnOnce(&Arc<Call>) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}

/// Update the current call's record (nothing outside a call).
pub(crate) fn record(f: impl FnOnce(&mut CallInfo)) {
    with(|c| c.record(f));
}

/// `Cancelled` / `Timeout` when the current call should stop; `Ok` outside a call.
pub(crate) fn checkpoint() -> Result<()> {
    with(|c| c.check()).unwrap_or(Ok(()))
}

/// A backoff wait that never outlives the call's deadline: when the deadline comes first, the
/// wait is not started and the deadline's `Timeout` is returned at once.
pub(crate) async fn sleep(wait: Duration) -> Result<()> {
    checkpoint()?;
    let deadline = with(|c| c.scope.clone()).and_then(|s| s.deadline.map(|d| (d, s)));
    if let Some((deadline, scope)) = deadline {
        if Instant::now() + wait >= deadline {
            let ms = scope.timeout.map(|t| t.as_millis()).unwrap_or(0);
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the call's deadline ({ms} ms, all attempts and waits included) would pass \
                     during the next wait of {} ms; the wait was not started",
                    wait.as_millis()
                ),
            ));
        }
    }
    tokio::time::sleep(wait).await;
    Ok(())
}

/// Await `future` unless the current call is cancelled or reaches its deadline first; for the
/// places that must report what was done before (create_all between and during batches).
pub(crate) async fn interruptible<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let Some(scope) = with(|c| c.scope.clone()) else {
        return future.await;
    };
    scope.check()?;
    tokio::select! {
        // The future first: an answer that is there wins over a cancel that came with it.
        biased;
        r = future => r,
        e = scope.ended() => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_triggered_token_ends_a_pending_future_and_later_calls() {
        let token = CancelToken::new();
        let call = Call::new(Scope::new(Some(token.clone()), None), None);
        let t2 = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            t2.cancel();
        });
        let start = Instant::now();
        let r: Result<()> = rt().block_on(call.run(std::future::pending()));
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(start.elapsed() < Duration::from_secs(2));
        let again: Result<u8> = rt().block_on(call.run(async { Ok(1) }));
        assert_eq!(again.unwrap_err().kind(), ErrorKind::Cancelled);
    }

    #[test]
    fn the_deadline_ends_a_call_and_refuses_a_longer_backoff() {
        let call = Call::new(Scope::new(None, Some(Duration::from_millis(80))), None);
        let r: Result<()> = rt().block_on(call.run(async {
            sleep(Duration::from_secs(30)).await?;
            unreachable!("the backoff outlives the deadline")
        }));
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.message().contains("deadline (80 ms"), "{}", e.message());
        let call = Call::new(Scope::new(None, Some(Duration::from_millis(60))), None);
        let start = Instant::now();
        let r: Result<()> = rt().block_on(call.run(std::future::pending()));
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(60));
    }

    #[test]
    fn outside_a_call_nothing_stops() {
        assert!(checkpoint().is_ok());
        rt().block_on(async { sleep(Duration::from_millis(1)).await.unwrap() });
        let untouched: Result<u8> = rt().block_on(interruptible(async { Ok(7) }));
        assert_eq!(untouched.unwrap(), 7);
    }
}
