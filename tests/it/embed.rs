//! Embedding, through the C ABI: cancel tokens and deadlines (scoped handles), the per-call
//! record, log callbacks, the request hook, POST `_search` and the pool settings. Servers are the
//! raw scripted server of tests/common (which can hold an answer back) and httpmock.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fhir_kindling::ffi::buffer::*;
use fhir_kindling::ffi::embed::*;
use fhir_kindling::ffi::error::*;
use fhir_kindling::ffi::fhir_result;
use fhir_kindling::ffi::ops::*;
use fhir_kindling::ffi::options::*;
use fhir_kindling::ffi::search::*;
use fhir_kindling::ffi::server::*;

use crate::common::{assert_create_all_failure, reply_json, After, RawServer};

const PATIENT: &str = r#"{"resourceType":"Patient","id":"1"}"#;
/// How soon after the trigger a cancelled call must have returned (the issue's promise).
const PROMPT: Duration = Duration::from_millis(100);

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn message(e: *const fhir_error_t) -> String {
    unsafe {
        CStr::from_ptr(fhir_error_message(e))
            .to_string_lossy()
            .into_owned()
    }
}

/// A handle on `base` built with the options `configure` sets.
fn handle(base: &str, configure: impl FnOnce(*mut fhir_options_t)) -> *mut fhir_server_t {
    unsafe {
        let o = fhir_options_new();
        configure(o);
        let mut s = ptr::null_mut();
        let url = cstr(base);
        assert_eq!(
            fhir_server_new(url.as_ptr(), o, &mut s, ptr::null_mut()),
            fhir_result::FHIR_OK
        );
        fhir_options_free(o);
        s
    }
}

fn scope(
    server: *const fhir_server_t,
    cancel: *const fhir_cancel_t,
    ms: u64,
) -> *mut fhir_server_t {
    let mut scoped = ptr::null_mut();
    let rc = unsafe { fhir_server_scope(server, cancel, ms, &mut scoped, ptr::null_mut()) };
    assert_eq!(rc, fhir_result::FHIR_OK);
    scoped
}

/// `fhir_resource_read`: the code and the error's message.
fn read(server: *const fhir_server_t, reference: &str) -> (fhir_result, String) {
    unsafe {
        let r = cstr(reference);
        let mut json = ptr::null_mut();
        let mut err = ptr::null_mut();
        let rc = fhir_resource_read(server, r.as_ptr(), &mut json, ptr::null_mut(), &mut err);
        let m = message(err);
        fhir_error_free(err);
        fhir_string_free(json);
        (rc, m)
    }
}

fn last_call(server: *const fhir_server_t) -> fhir_call_info_t {
    let mut info = fhir_call_info_t::default();
    let rc = unsafe { fhir_server_last_call(server, &mut info, ptr::null_mut()) };
    assert_eq!(rc, fhir_result::FHIR_OK);
    info
}

/// A cancel token with a thread that triggers it after `after`; the thread returns the instant
/// of the trigger.
fn trigger_later(after: Duration) -> (*mut fhir_cancel_t, thread::JoinHandle<Instant>) {
    let cancel = fhir_cancel_new();
    let addr = cancel as usize;
    let t = thread::spawn(move || {
        thread::sleep(after);
        unsafe { fhir_cancel_trigger(addr as *const fhir_cancel_t) };
        Instant::now()
    });
    (cancel, t)
}

/// A server whose answers to `slow` paths never come (the handler sleeps for a minute); any other
/// path gets `reply`.
fn slow_server(slow: &'static str, reply: &'static str) -> RawServer {
    RawServer::start(move |req, stream| {
        if req.path().contains(slow) {
            thread::sleep(Duration::from_secs(60));
        }
        reply_json(stream, 200, reply)
    })
}

#[test]
fn a_read_blocked_on_a_slow_server_is_cancelled_from_another_thread_promptly() {
    let server = slow_server("/Patient/slow", PATIENT);
    let s = handle(&server.url("/fhir"), |_| {});
    let (cancel, trigger) = trigger_later(Duration::from_millis(300));
    let scoped = scope(s, cancel, 0);
    let (rc, msg) = read(scoped, "Patient/slow");
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED, "{msg}");
    assert!(msg.contains("cancelled"), "{msg}");
    assert!(
        returned.duration_since(triggered) < PROMPT,
        "returned {:?} after the cancel",
        returned.duration_since(triggered)
    );
    unsafe {
        assert!(fhir_cancel_is_triggered(cancel));
        // A triggered token fails later calls at once, before any request.
        let before = server.requests().len();
        assert_eq!(read(scoped, "Patient/1").0, fhir_result::FHIR_ERR_CANCELLED);
        assert_eq!(server.requests().len(), before);
        // The parent handle is not affected.
        assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
        fhir_cancel_free(cancel);
        fhir_server_free(scoped);
        fhir_server_free(s);
    }
}

#[test]
fn a_cancel_during_a_backoff_wait_ends_the_call_with_no_retry() {
    let server = RawServer::start(|_, stream| reply_json(stream, 503, "{}"));
    let s = handle(&server.url("/fhir"), |o| unsafe {
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_backoff_factor(o, 30.0, ptr::null_mut());
    });
    let (cancel, trigger) = trigger_later(Duration::from_millis(300));
    let scoped = scope(s, cancel, 0);
    let (rc, msg) = read(scoped, "Patient/1");
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED, "{msg}");
    assert!(returned.duration_since(triggered) < PROMPT);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        server.requests().len(),
        1,
        "nothing is retried after the cancel"
    );
    let info = last_call(scoped);
    assert_eq!((info.status, info.attempts, info.requests), (503, 1, 1));
    unsafe {
        fhir_server_free(scoped);
        fhir_cancel_free(cancel);
        fhir_server_free(s);
    }
}

unsafe extern "C" fn count_page(_: *const c_char, _: usize, user_data: *mut c_void) -> c_int {
    (*(user_data as *const AtomicUsize)).fetch_add(1, Ordering::SeqCst);
    0
}

#[test]
fn a_streaming_search_is_cancelled_mid_page_and_says_where_to_resume() {
    let server = RawServer::start(|req, stream| {
        if req.param("page") == Some("2") {
            thread::sleep(Duration::from_secs(60));
        }
        reply_json(
            stream,
            200,
            r#"{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"Patient?page=2"}],"entry":[{"resource":{"resourceType":"Patient","id":"1"}}]}"#,
        )
    });
    let s = handle(&server.url("/fhir"), |_| {});
    let (cancel, trigger) = trigger_later(Duration::from_millis(300));
    let scoped = scope(s, cancel, 0);
    let pages = AtomicUsize::new(0);
    let mut next: *mut c_char = ptr::null_mut();
    let q = cstr("Patient?name=x");
    let rc = unsafe {
        fhir_search_pages(
            scoped,
            q.as_ptr(),
            Some(count_page),
            &pages as *const AtomicUsize as *mut c_void,
            &mut next,
            ptr::null_mut(),
        )
    };
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED);
    assert!(returned.duration_since(triggered) < PROMPT);
    assert_eq!(pages.load(Ordering::SeqCst), 1);
    let resume = unsafe { CStr::from_ptr(next).to_str().unwrap().to_owned() };
    assert_eq!(resume, server.url("/fhir/Patient?page=2"));
    let info = last_call(scoped);
    assert_eq!(info.requests, 2, "one call for the whole search");
    unsafe {
        fhir_string_free(next);
        fhir_server_free(scoped);
        fhir_cancel_free(cancel);
        fhir_server_free(s);
    }
}

/// The answer of a transaction of `n` creations.
fn transaction_response(n: usize, first_id: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"response":{{"status":"201 Created","location":"Patient/{}/_history/1"}}}}"#,
                first_id + i
            )
        })
        .collect();
    format!(
        r#"{{"resourceType":"Bundle","type":"transaction-response","entry":[{}]}}"#,
        entries.join(",")
    )
}

/// `fhir_resource_create_all` of `n` Patients in batches of 2: the code and the error's message
/// (no output on failure).
fn create_all(server: *const fhir_server_t, n: usize) -> (fhir_result, String) {
    let input = format!("[{}]", vec![PATIENT; n].join(","));
    let mut err = ptr::null_mut();
    let mut out = ptr::null_mut();
    let rc = unsafe {
        fhir_resource_create_all(
            server,
            input.as_ptr() as *const c_char,
            input.len(),
            2,
            &mut out,
            ptr::null_mut(),
            &mut err,
        )
    };
    let m = message(err);
    unsafe {
        if rc != fhir_result::FHIR_OK {
            assert!(out.is_null(), "no output on failure");
        }
        fhir_string_free(out);
        fhir_error_free(err);
    }
    (rc, m)
}

/// A log callback that triggers the cancel token in `user_data` when create_all announces its
/// second batch: a cancel exactly between two batches.
unsafe extern "C" fn cancel_at_second_batch(
    _: fhir_log_level,
    _: *const c_char,
    _: usize,
    message: *const c_char,
    _: usize,
    user_data: *mut c_void,
) {
    if CStr::from_ptr(message)
        .to_string_lossy()
        .contains("batch 2 of")
    {
        fhir_cancel_trigger(user_data as *const fhir_cancel_t);
    }
}

#[test]
fn create_all_cancelled_between_batches_reports_what_was_committed() {
    let server = RawServer::start(|_, stream| reply_json(stream, 200, &transaction_response(2, 1)));
    let cancel = fhir_cancel_new();
    let s = handle(&server.url("/fhir"), |o| unsafe {
        fhir_options_set_log_callback(
            o,
            fhir_log_level::FHIR_LOG_DEBUG as c_int,
            Some(cancel_at_second_batch),
            cancel as *mut c_void,
            ptr::null_mut(),
        );
    });
    let scoped = scope(s, cancel, 0);
    let (rc, m) = create_all(scoped, 5);
    assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED);
    assert_create_all_failure(&m, "batch 2 of 3 (input items 2..3)", 2);
    assert!(m.contains("cancelled"), "{m}");
    assert_eq!(
        server.requests().len(),
        1,
        "no batch is sent after the cancel"
    );
    unsafe {
        fhir_server_free(scoped);
        fhir_server_free(s);
        fhir_cancel_free(cancel);
    }
}

#[test]
fn create_all_cancelled_during_a_batch_reports_what_was_committed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let server = RawServer::start(move |_, stream| {
        if c2.fetch_add(1, Ordering::SeqCst) == 1 {
            thread::sleep(Duration::from_secs(60));
        }
        reply_json(stream, 200, &transaction_response(2, 1))
    });
    let s = handle(&server.url("/fhir"), |_| {});
    let (cancel, trigger) = trigger_later(Duration::from_millis(400));
    let scoped = scope(s, cancel, 0);
    let (rc, m) = create_all(scoped, 4);
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED);
    assert!(returned.duration_since(triggered) < PROMPT);
    assert_create_all_failure(&m, "batch 2 of 2 (input items 2..3)", 2);
    unsafe {
        fhir_server_free(scoped);
        fhir_cancel_free(cancel);
        fhir_server_free(s);
    }
}

#[test]
fn a_deadline_shorter_than_the_retry_budget_ends_the_call_at_the_deadline() {
    let server = RawServer::start(|_, stream| reply_json(stream, 503, "{}"));
    // Waits of 0.2, 0.4, 0.8, 1.6 s: a budget of 3 s; the deadline is 0.5 s.
    let s = handle(&server.url("/fhir"), |o| unsafe {
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_backoff_factor(o, 0.2, ptr::null_mut());
        fhir_options_set_retry_jitter(o, 0.0, ptr::null_mut());
    });
    let scoped = scope(s, ptr::null(), 500);
    let start = Instant::now();
    let (rc, msg) = read(scoped, "Patient/1");
    let took = start.elapsed();
    assert_eq!(rc, fhir_result::FHIR_ERR_TIMEOUT, "{msg}");
    assert!(msg.contains("deadline (500 ms"), "{msg}");
    // Attempts at 0 and 0.2 s; the next wait (0.4 s) would end after the deadline: not started.
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert_eq!(server.requests().len(), 2);
    // The deadline is the scope's: later calls through it fail at once.
    thread::sleep(Duration::from_millis(500));
    assert_eq!(read(scoped, "Patient/1").0, fhir_result::FHIR_ERR_TIMEOUT);
    assert_eq!(server.requests().len(), 2);
    unsafe {
        fhir_server_free(scoped);
        fhir_server_free(s);
    }
}

#[test]
fn a_deadline_cuts_a_request_in_flight() {
    let server = slow_server("/Patient/slow", PATIENT);
    let s = handle(&server.url("/fhir"), |_| {});
    let scoped = scope(s, ptr::null(), 300);
    let start = Instant::now();
    let (rc, msg) = read(scoped, "Patient/slow");
    assert_eq!(rc, fhir_result::FHIR_ERR_TIMEOUT, "{msg}");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(300) + PROMPT);
    unsafe {
        fhir_server_free(scoped);
        fhir_server_free(s);
    }
}

#[test]
fn scoped_handles_and_tokens_may_be_freed_in_any_order() {
    let server = RawServer::start(|_, stream| reply_json(stream, 200, PATIENT));
    let s = handle(&server.url("/fhir"), |_| {});
    let cancel = fhir_cancel_new();
    let scoped = scope(s, cancel, 0);
    unsafe {
        fhir_cancel_free(cancel);
        fhir_server_free(s);
    }
    assert_eq!(read(scoped, "Patient/1").0, fhir_result::FHIR_OK);
    unsafe {
        fhir_server_free(scoped);
        // NULL is accepted everywhere.
        fhir_cancel_trigger(ptr::null());
        assert!(!fhir_cancel_is_triggered(ptr::null()));
        fhir_cancel_free(ptr::null_mut());
        let mut out = ptr::null_mut();
        assert_eq!(
            fhir_server_scope(ptr::null(), ptr::null(), 0, &mut out, ptr::null_mut()),
            fhir_result::FHIR_ERR_NULL_ARGUMENT
        );
        let t = handle(&server.url("/fhir"), |_| {});
        assert_eq!(
            fhir_server_scope(t, ptr::null(), u64::MAX, &mut out, ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        assert!(out.is_null());
        fhir_server_free(t);
    }
}

#[test]
fn the_call_record_counts_attempts_bytes_and_connections() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = RawServer::start(move |_, stream| {
        if n2.fetch_add(1, Ordering::SeqCst) < 2 {
            let _ = crate::common::write_reply(stream, 503, &[], b"{}", false);
            return After::KeepAlive;
        }
        let _ = crate::common::write_reply(stream, 200, &[], PATIENT.as_bytes(), false);
        After::KeepAlive
    });
    let s = handle(&server.url("/fhir"), |o| unsafe {
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_backoff_factor(o, 0.01, ptr::null_mut());
    });
    assert_eq!(last_call(s), fhir_call_info_t::default());
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    let info = last_call(s);
    assert_eq!((info.status, info.attempts, info.requests), (200, 3, 3));
    assert_eq!(info.bytes_received, (2 + 2 + PATIENT.len()) as u64);
    assert_eq!(info.new_connections, 1, "the retries reuse the connection");
    assert!(info.connect_us > 0 && info.total_us >= info.first_byte_us);
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    let again = last_call(s);
    assert_eq!(
        (again.attempts, again.requests, again.new_connections),
        (1, 1, 0)
    );
    assert_eq!(again.connect_us, 0);
    unsafe { fhir_server_free(s) };
}

#[test]
fn without_idle_connections_every_call_opens_a_new_one() {
    let server = RawServer::start(|_, stream| {
        let _ = crate::common::write_reply(stream, 200, &[], PATIENT.as_bytes(), false);
        After::KeepAlive
    });
    let s = handle(&server.url("/fhir"), |o| unsafe {
        fhir_options_set_pool_max_idle_per_host(o, 0, ptr::null_mut());
        fhir_options_set_pool_idle_timeout_ms(o, 5_000, ptr::null_mut());
    });
    for _ in 0..3 {
        assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
        assert_eq!(last_call(s).new_connections, 1);
    }
    unsafe { fhir_server_free(s) };
}

/// A server that closes an idle connection between two calls (its keep-alive timeout): the next
/// call, a POST (never retried once it may have been sent), goes out on a new connection, not
/// into the closed one (see `ffi::runtime::settle`).
#[test]
fn a_post_after_the_server_closed_the_idle_connection_goes_on_a_new_one() {
    let server = RawServer::start(|req, stream| {
        let status = if req.method == "POST" { 201 } else { 200 };
        // Answered as if the connection stayed open, then closed by the server.
        let _ = crate::common::write_reply(stream, status, &[], PATIENT.as_bytes(), false);
        After::Close
    });
    let s = handle(&server.url("/fhir"), |_| {});
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    // The server's FIN arrives while the connection sits in the pool.
    thread::sleep(Duration::from_millis(200));
    let (method, path) = (cstr("POST"), cstr("Patient"));
    let (mut body, mut status, mut err) = (ptr::null_mut(), 0u16, ptr::null_mut());
    let rc = unsafe {
        fhir_server_request(
            s,
            method.as_ptr(),
            path.as_ptr(),
            PATIENT.as_ptr() as *const c_char,
            PATIENT.len(),
            &mut status,
            &mut body,
            ptr::null_mut(),
            &mut err,
        )
    };
    assert_eq!(rc, fhir_result::FHIR_OK, "{}", message(err));
    assert_eq!(status, 201);
    let info = last_call(s);
    assert_eq!((info.attempts, info.new_connections), (1, 1));
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "the POST was sent once");
    unsafe {
        fhir_string_free(body);
        fhir_server_free(s);
    }
}

// ---------------------------------------------------------------- logging

/// Records collected by [`collect`]: (level, target, message, thread).
type Records = Mutex<Vec<(fhir_log_level, String, String, thread::ThreadId)>>;

unsafe extern "C" fn collect(
    level: fhir_log_level,
    target: *const c_char,
    target_len: usize,
    message: *const c_char,
    message_len: usize,
    user_data: *mut c_void,
) {
    let t = std::slice::from_raw_parts(target as *const u8, target_len);
    let m = std::slice::from_raw_parts(message as *const u8, message_len);
    assert_eq!(*message.add(message_len), 0, "NUL-terminated");
    (*(user_data as *const Records)).lock().unwrap().push((
        level,
        String::from_utf8_lossy(t).into_owned(),
        String::from_utf8_lossy(m).into_owned(),
        thread::current().id(),
    ));
}

#[test]
fn log_records_show_requests_retries_and_token_refreshes_without_any_secret() {
    use httpmock::prelude::*;
    const SECRET: &str = "client-secret-0xC0FFEE";
    const TOKEN: &str = "access-token-0xBEEF";
    const HEADER_VALUE: &str = "api-key-0xFACADE";
    let provider = MockServer::start();
    provider.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":1}}"#
            ));
    });
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = RawServer::start(move |req, stream| {
        assert_eq!(
            req.header("authorization"),
            Some(&*format!("Bearer {TOKEN}"))
        );
        match (n2.fetch_add(1, Ordering::SeqCst), req.path()) {
            (0, _) => reply_json(stream, 503, "{}"),
            (_, "/fhir/Patient") => reply_json(stream, 200, &bundle(None, "1")),
            _ => reply_json(stream, 200, PATIENT),
        }
    });
    let records: Records = Mutex::new(Vec::new());
    let mut s = ptr::null_mut();
    unsafe {
        let o = fhir_options_new();
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_backoff_factor(o, 0.01, ptr::null_mut());
        fhir_options_add_header(
            o,
            cstr("X-Api-Key").as_ptr(),
            cstr(HEADER_VALUE).as_ptr(),
            ptr::null_mut(),
        );
        assert_eq!(
            fhir_options_set_log_callback(
                o,
                fhir_log_level::FHIR_LOG_TRACE as c_int,
                Some(collect),
                &records as *const Records as *mut c_void,
                ptr::null_mut()
            ),
            fhir_result::FHIR_OK
        );
        let rc = fhir_server_new_oidc(
            cstr(&server.url("/fhir")).as_ptr(),
            cstr("app").as_ptr(),
            cstr(SECRET).as_ptr(),
            cstr(&provider.url("/token")).as_ptr(),
            o,
            &mut s,
            ptr::null_mut(),
        );
        assert_eq!(rc, fhir_result::FHIR_OK);
        fhir_options_free(o);
    }
    let me = thread::current().id();
    assert_eq!(search_all(s, "Patient?name=Smith").0, fhir_result::FHIR_OK);
    // The 1 s token is refreshed before the next call.
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    let recs = records.lock().unwrap().clone();
    let has = |target: &str, needle: &str| {
        recs.iter()
            .any(|(_, t, m, _)| t == target && m.contains(needle))
    };
    assert!(has("auth", "fetching the first token"), "{recs:#?}");
    assert!(has("auth", "about to expire"), "{recs:#?}");
    assert!(has("auth", "token received"), "{recs:#?}");
    assert!(has("transport", "GET http://127.0.0.1"), "{recs:#?}");
    assert!(has("transport", "/fhir/Patient?name=…"), "{recs:#?}");
    assert!(has("transport", "-> 503"), "{recs:#?}");
    assert!(has("retry", "retrying in"), "{recs:#?}");
    // Query values at trace level only.
    assert!(recs
        .iter()
        .any(|(l, _, m, _)| *l == fhir_log_level::FHIR_LOG_TRACE && m.contains("name=Smith")));
    assert!(recs
        .iter()
        .all(|(l, _, m, _)| *l == fhir_log_level::FHIR_LOG_TRACE || !m.contains("name=Smith")));
    for (_, _, m, thread) in &recs {
        for secret in [SECRET, TOKEN, HEADER_VALUE] {
            assert!(!m.contains(secret), "{secret} in {m}");
        }
        assert_eq!(*thread, me, "delivered on the calling thread");
    }
    unsafe { fhir_server_free(s) };
    drop(n);
}

#[test]
fn a_log_level_filters_records_and_a_bad_level_is_refused() {
    let server = RawServer::start(|_, stream| reply_json(stream, 200, PATIENT));
    let records: Records = Mutex::new(Vec::new());
    let s = handle(&server.url("/fhir"), |o| unsafe {
        assert_eq!(
            fhir_options_set_log_callback(o, 6, Some(collect), ptr::null_mut(), ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        fhir_options_set_log_callback(
            o,
            fhir_log_level::FHIR_LOG_INFO as c_int,
            Some(collect),
            &records as *const Records as *mut c_void,
            ptr::null_mut(),
        );
    });
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    assert!(records.lock().unwrap().is_empty(), "requests are DEBUG");
    unsafe {
        fhir_server_free(s);
        assert_eq!(
            fhir_set_log_callback(-1, None, ptr::null_mut(), ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
    }
}

/// The process-wide callback receives the records of handles without one of their own. (Other
/// tests of this binary may log to it meanwhile: only this test's own records are asserted.)
#[test]
fn the_process_wide_callback_receives_records_of_handles_without_their_own() {
    let server = RawServer::start(|_, stream| reply_json(stream, 200, PATIENT));
    static RECORDS: Records = Mutex::new(Vec::new());
    let s = handle(&server.url("/fhir"), |_| {});
    unsafe {
        assert_eq!(
            fhir_set_log_callback(
                fhir_log_level::FHIR_LOG_DEBUG as c_int,
                Some(collect),
                &RECORDS as *const Records as *mut c_void,
                ptr::null_mut()
            ),
            fhir_result::FHIR_OK
        );
    }
    assert_eq!(read(s, "Patient/process-wide").0, fhir_result::FHIR_OK);
    unsafe { fhir_set_log_callback(0, None, ptr::null_mut(), ptr::null_mut()) };
    let mine = |r: &(fhir_log_level, String, String, thread::ThreadId)| {
        r.2.contains(&server.origin) && r.2.contains("process-wide")
    };
    assert!(RECORDS.lock().unwrap().iter().any(mine));
    let before = RECORDS.lock().unwrap().len();
    assert_eq!(read(s, "Patient/process-wide").0, fhir_result::FHIR_OK);
    assert!(
        RECORDS.lock().unwrap()[before..].iter().all(|r| !mine(r)),
        "nothing after the callback was removed"
    );
    unsafe { fhir_server_free(s) };
}

// ---------------------------------------------------------------- request hook

/// Adds `traceparent` with a counter, and refuses once the counter reaches `user_data`'s limit.
struct HookState {
    calls: AtomicUsize,
    refuse_at: usize,
    seen_methods: Mutex<Vec<String>>,
}

unsafe extern "C" fn trace_hook(
    method: *const c_char,
    url: *const c_char,
    headers: *mut fhir_headers_t,
    user_data: *mut c_void,
) -> c_int {
    let st = &*(user_data as *const HookState);
    let n = st.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let m = CStr::from_ptr(method).to_str().unwrap();
    let u = CStr::from_ptr(url).to_str().unwrap();
    st.seen_methods.lock().unwrap().push(format!("{m} {u}"));
    if n == st.refuse_at {
        return 1;
    }
    let value = cstr(&format!(
        "00-4bf92f3577b34da6a3ce929d0e0e47{n:02}-00f067aa0ba902b7-01"
    ));
    assert_eq!(
        fhir_headers_add(
            headers,
            cstr("traceparent").as_ptr(),
            value.as_ptr(),
            ptr::null_mut()
        ),
        fhir_result::FHIR_OK
    );
    // The library's own headers are refused.
    assert_eq!(
        fhir_headers_add(
            headers,
            cstr("Authorization").as_ptr(),
            cstr("x").as_ptr(),
            ptr::null_mut()
        ),
        fhir_result::FHIR_ERR_INVALID_ARGUMENT
    );
    0
}

#[test]
fn the_request_hook_adds_its_header_to_every_attempt_and_can_refuse() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = RawServer::start(move |_, stream| match n2.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => reply_json(stream, 503, "{}"),
        _ => reply_json(stream, 200, PATIENT),
    });
    let state = HookState {
        calls: AtomicUsize::new(0),
        refuse_at: 4,
        seen_methods: Mutex::new(Vec::new()),
    };
    let s = handle(&server.url("/fhir"), |o| unsafe {
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_backoff_factor(o, 0.01, ptr::null_mut());
        fhir_options_set_request_hook(
            o,
            Some(trace_hook),
            &state as *const HookState as *mut c_void,
            ptr::null_mut(),
        );
    });
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    for (i, r) in reqs.iter().enumerate() {
        let tp = r.header("traceparent").unwrap_or_default();
        assert!(
            tp.ends_with(&format!("47{:02}-00f067aa0ba902b7-01", i + 1)),
            "{tp}"
        );
        assert!(r.header("authorization").is_none());
    }
    assert_eq!(
        state.seen_methods.lock().unwrap()[0],
        format!("GET {}", server.url("/fhir/Patient/1"))
    );
    // The fourth attempt is refused by the hook: nothing is sent.
    let (rc, msg) = read(s, "Patient/1");
    assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED);
    assert!(msg.contains("request hook refused"), "{msg}");
    assert_eq!(server.requests().len(), 3);
    unsafe { fhir_server_free(s) };
}

// ---------------------------------------------------------------- POST _search

fn bundle(next: Option<&str>, id: &str) -> String {
    let link = next.map_or(String::new(), |n| {
        format!(r#","link":[{{"relation":"next","url":"{n}"}}]"#)
    });
    format!(
        r#"{{"resourceType":"Bundle","type":"searchset"{link},"entry":[{{"resource":{{"resourceType":"Patient","id":"{id}"}}}}]}}"#
    )
}

fn search_all(server: *const fhir_server_t, query: &str) -> (fhir_result, String) {
    unsafe {
        let q = cstr(query);
        let mut json = ptr::null_mut();
        let mut len = 0usize;
        let rc = fhir_search_all(server, q.as_ptr(), &mut json, &mut len, ptr::null_mut());
        let out = match json.is_null() {
            true => String::new(),
            false => String::from_utf8_lossy(std::slice::from_raw_parts(json as *const u8, len))
                .into_owned(),
        };
        fhir_string_free(json);
        (rc, out)
    }
}

#[test]
fn a_long_search_goes_as_post_search_and_pages_on_with_get() {
    let server = RawServer::start(|req, stream| match (req.method.as_str(), req.path()) {
        ("POST", "/fhir/Patient/_search") => {
            reply_json(stream, 200, &bundle(Some("Patient?_page=2"), "1"))
        }
        ("GET", "/fhir/Patient") => reply_json(stream, 200, &bundle(None, "2")),
        _ => reply_json(stream, 400, "{}"),
    });
    let ids: Vec<String> = (0..600).map(|i| format!("patient-{i:05}")).collect();
    let query = format!("Patient?_id={}&_count=100", ids.join(","));
    assert!(query.len() > 4096);
    let s = handle(&server.url("/fhir"), |_| {});
    let (rc, body) = search_all(s, &query);
    assert_eq!(rc, fhir_result::FHIR_OK, "{body}");
    assert!(body.contains(r#""id":"1""#) && body.contains(r#""id":"2""#));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8_lossy(&reqs[0].body),
        query.split_once('?').unwrap().1
    );
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].target.as_str()),
        ("GET", "/fhir/Patient?_page=2")
    );
    // A short search stays a GET; with a threshold of 0 every search is posted, with SIZE_MAX none.
    let (rc, _) = search_all(s, "Patient?_page=2");
    assert_eq!(rc, fhir_result::FHIR_OK);
    assert_eq!(server.requests()[2].method, "GET");
    let always = handle(&server.url("/fhir"), |o| unsafe {
        fhir_options_set_search_post_threshold(o, 0, ptr::null_mut());
    });
    assert_eq!(search_all(always, "Patient?name=x").0, fhir_result::FHIR_OK);
    assert_eq!(server.requests()[3].target, "/fhir/Patient/_search");
    assert_eq!(server.requests()[3].body, b"name=x");
    let never = handle(&server.url("/fhir"), |o| unsafe {
        fhir_options_set_search_post_threshold(o, usize::MAX, ptr::null_mut());
    });
    let _ = search_all(never, &query);
    let last = server.requests().pop().unwrap();
    assert_eq!(last.method, "GET");
    unsafe {
        fhir_server_free(s);
        fhir_server_free(always);
        fhir_server_free(never);
    }
}

#[test]
fn a_posted_search_is_retried_like_a_read() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = RawServer::start(move |_, stream| match n2.fetch_add(1, Ordering::SeqCst) {
        0 => reply_json(stream, 503, "{}"),
        _ => reply_json(stream, 200, &bundle(None, "1")),
    });
    let s = handle(&server.url("/fhir"), |o| unsafe {
        fhir_options_set_search_post_threshold(o, 0, ptr::null_mut());
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_backoff_factor(o, 0.01, ptr::null_mut());
    });
    assert_eq!(search_all(s, "Patient?name=x").0, fhir_result::FHIR_OK);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.method == "POST"));
    unsafe { fhir_server_free(s) };
}

/// A hook that tries a blocking call of the library on the handle in `user_data` and stores
/// its code there.
unsafe extern "C" fn reentrant_hook(
    _: *const c_char,
    _: *const c_char,
    _: *mut fhir_headers_t,
    user_data: *mut c_void,
) -> c_int {
    let slot = &*(user_data as *const (AtomicUsize, AtomicUsize));
    let server = slot.0.load(Ordering::SeqCst) as *const fhir_server_t;
    if !server.is_null() {
        let (rc, _) = read(server, "Patient/1");
        slot.1.store(rc as usize, Ordering::SeqCst);
    }
    0
}

#[test]
fn a_blocking_call_from_inside_a_hook_is_refused_not_deadlocked() {
    let server = RawServer::start(|_, stream| reply_json(stream, 200, PATIENT));
    let slot = (AtomicUsize::new(0), AtomicUsize::new(usize::MAX));
    let s = handle(&server.url("/fhir"), |o| unsafe {
        fhir_options_set_request_hook(
            o,
            Some(reentrant_hook),
            &slot as *const (AtomicUsize, AtomicUsize) as *mut c_void,
            ptr::null_mut(),
        );
    });
    slot.0.store(s as usize, Ordering::SeqCst);
    assert_eq!(read(s, "Patient/1").0, fhir_result::FHIR_OK);
    assert_eq!(
        slot.1.load(Ordering::SeqCst),
        fhir_result::FHIR_ERR_RUNTIME as usize
    );
    unsafe { fhir_server_free(s) };
}
