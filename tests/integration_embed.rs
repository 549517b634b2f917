//! Embedding against the real services (issue 11): a call blocked on the real nginx `/slow`
//! location cancelled from another thread, a deadline on real retries, the request hook's
//! `traceparent` seen by the gateway on every attempt, and a 600-id search sent as
//! `POST _search` to HAPI and paged to the end. Through the C ABI, as users call it.
//!
//! `#[ignore]`d: `scripts/test-all.sh` starts the services and runs them with `--ignored`.

mod common;

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::time::{Duration, Instant};

use common::{block_on, lines_containing, var};
use fhir_kindling::ffi::buffer::fhir_string_free;
use fhir_kindling::ffi::embed::*;
use fhir_kindling::ffi::error::*;
use fhir_kindling::ffi::fhir_result;
use fhir_kindling::ffi::options::*;
use fhir_kindling::ffi::search::*;
use fhir_kindling::ffi::server::*;
use fhir_kindling::{Auth, FhirServer, Options};
use serde_json::Value;

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A handle on `base` (the test CA trusted) with the options `configure` sets.
fn handle(base: &str, configure: impl FnOnce(*mut fhir_options_t)) -> *mut fhir_server_t {
    unsafe {
        let o = fhir_options_new();
        fhir_options_add_ca_file(o, cstr(&var("FHIR_TEST_CA")).as_ptr(), ptr::null_mut());
        configure(o);
        let mut s = ptr::null_mut();
        let mut err = ptr::null_mut();
        let rc = fhir_server_new(cstr(base).as_ptr(), o, &mut s, &mut err);
        assert_eq!(rc, fhir_result::FHIR_OK);
        fhir_options_free(o);
        s
    }
}

fn scope(s: *const fhir_server_t, cancel: *const fhir_cancel_t, ms: u64) -> *mut fhir_server_t {
    let mut scoped = ptr::null_mut();
    let rc = unsafe { fhir_server_scope(s, cancel, ms, &mut scoped, ptr::null_mut()) };
    assert_eq!(rc, fhir_result::FHIR_OK);
    scoped
}

fn last_call(s: *const fhir_server_t) -> fhir_call_info_t {
    let mut info = fhir_call_info_t::default();
    assert_eq!(
        unsafe { fhir_server_last_call(s, &mut info, ptr::null_mut()) },
        fhir_result::FHIR_OK
    );
    info
}

/// `fhir_server_request(GET path)`: the code and the error message.
fn get(s: *const fhir_server_t, path: &str) -> (fhir_result, String) {
    unsafe {
        let mut body = ptr::null_mut();
        let mut err = ptr::null_mut();
        let mut status = 0u16;
        let rc = fhir_server_request(
            s,
            cstr("GET").as_ptr(),
            cstr(path).as_ptr(),
            ptr::null(),
            0,
            &mut status,
            &mut body,
            ptr::null_mut(),
            &mut err,
        );
        let m = match err.is_null() {
            true => String::new(),
            false => CStr::from_ptr(fhir_error_message(err))
                .to_string_lossy()
                .into_owned(),
        };
        fhir_error_free(err);
        fhir_string_free(body);
        (rc, m)
    }
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_call_blocked_on_the_real_slow_location_is_cancelled_promptly() {
    let s = handle(&var("FHIR_SLOW_URL"), |_| {});
    for delay in [0u64, 300, 800] {
        let cancel = fhir_cancel_new();
        let scoped = scope(s, cancel, 0);
        let addr = cancel as usize;
        let trigger = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay));
            unsafe { fhir_cancel_trigger(addr as *const fhir_cancel_t) };
            Instant::now()
        });
        let (rc, msg) = get(scoped, "anything");
        let returned = Instant::now();
        let triggered = trigger.join().unwrap();
        assert_eq!(rc, fhir_result::FHIR_ERR_CANCELLED, "{msg}");
        let late = returned.saturating_duration_since(triggered);
        assert!(
            late < Duration::from_millis(100),
            "returned {late:?} after the cancel"
        );
        unsafe {
            fhir_server_free(scoped);
            fhir_cancel_free(cancel);
        }
    }
    unsafe { fhir_server_free(s) };
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_deadline_ends_real_retries_at_the_deadline() {
    // Always 503 with Retry-After: 1 (capped at 0.5 s): 10 attempts would take 4.5 s.
    let s = handle(&var("FHIR_UNAVAILABLE_URL"), |o| unsafe {
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_max_attempts(o, 10, ptr::null_mut());
        fhir_options_set_retry_max_backoff_wait(o, 0.5, ptr::null_mut());
    });
    let scoped = scope(s, ptr::null(), 1200);
    let t = Instant::now();
    let (rc, msg) = get(scoped, "metadata");
    assert_eq!(rc, fhir_result::FHIR_ERR_TIMEOUT, "{msg}");
    assert!(msg.contains("deadline (1200 ms"), "{msg}");
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    let info = last_call(scoped);
    assert_eq!(info.status, 503);
    assert!((2..=3).contains(&info.attempts), "{info:?}");
    unsafe {
        fhir_server_free(scoped);
        fhir_server_free(s);
    }
}

/// The lines of `log` holding `needle`, once there are `want` of them or after 5 s: nginx writes
/// a line after its answer.
fn logged(log: &str, needle: &str, want: usize) -> usize {
    for _ in 0..50 {
        if lines_containing(log, needle) >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    lines_containing(log, needle)
}

/// Adds `traceparent: 00-<trace id in user_data>-00f067aa0ba902b7-01` to every attempt.
unsafe extern "C" fn traceparent(
    _: *const c_char,
    _: *const c_char,
    headers: *mut fhir_headers_t,
    user_data: *mut c_void,
) -> c_int {
    let trace = CStr::from_ptr(user_data as *const c_char).to_str().unwrap();
    let value = cstr(&format!("00-{trace}-00f067aa0ba902b7-01"));
    fhir_headers_add(
        headers,
        cstr("traceparent").as_ptr(),
        value.as_ptr(),
        ptr::null_mut(),
    ) as c_int
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn the_hooks_traceparent_reaches_the_gateway_on_every_attempt() {
    let log = var("FHIR_NGINX_ACCESS_LOG");
    // A trace id of this run (32 hex digits).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let trace = cstr(&format!("{nanos:032x}"));
    let trace_str = trace.to_str().unwrap().to_owned();
    // The always-503 location: every attempt is a request the gateway logs.
    let s = handle(&var("FHIR_UNAVAILABLE_URL"), |o| unsafe {
        let codes = [503u16];
        fhir_options_set_retry_status_codes(o, codes.as_ptr(), 1, ptr::null_mut());
        fhir_options_set_retry_max_attempts(o, 3, ptr::null_mut());
        fhir_options_set_retry_max_backoff_wait(o, 0.1, ptr::null_mut());
        fhir_options_set_request_hook(
            o,
            Some(traceparent),
            trace.as_ptr() as *mut c_void,
            ptr::null_mut(),
        );
    });
    assert_eq!(get(s, "metadata").0, fhir_result::FHIR_ERR_HTTP_STATUS);
    let info = last_call(s);
    assert_eq!((info.status, info.attempts), (503, 3));
    assert_eq!(logged(&log, &trace_str, 3), 3, "every attempt carries it");
    // And through the gateway to the real HAPI server.
    let h = handle(&format!("{}/fhir", var("FHIR_NGINX_HTTPS")), |o| unsafe {
        fhir_options_set_request_hook(
            o,
            Some(traceparent),
            trace.as_ptr() as *mut c_void,
            ptr::null_mut(),
        );
    });
    assert_eq!(get(h, "metadata").0, fhir_result::FHIR_OK);
    logged(&log, &trace_str, 4);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().any(|l| l.contains(&trace_str)
            && l.contains("GET /fhir/metadata")
            && l.contains(" 200 ")),
        "the gateway logged HAPI's 200 with the trace id"
    );
    unsafe {
        fhir_server_free(s);
        fhir_server_free(h);
    }
}

unsafe extern "C" fn collect_ids(
    resource: *const c_char,
    len: usize,
    _mode: *const c_char,
    user_data: *mut c_void,
) -> c_int {
    let json = std::slice::from_raw_parts(resource as *const u8, len);
    let v: Value = serde_json::from_slice(json).unwrap();
    (*(user_data as *mut Vec<String>)).push(v["id"].as_str().unwrap().to_owned());
    0
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_600_id_search_goes_as_post_search_to_hapi_and_pages_to_the_end() {
    // 250 Patients of this run, found among 600 ids (350 of them unknown to the server).
    let hapi = FhirServer::new(
        &format!("{}/fhir", var("FHIR_NGINX_HTTP")),
        Auth::None,
        &Options::default(),
    )
    .unwrap();
    let system = format!("urn:embed:{}", std::process::id());
    let input: Vec<Value> = (0..250)
        .map(|i| {
            serde_json::json!({"resourceType": "Patient",
                "identifier": [{"system": system, "value": format!("p{i}")}]})
        })
        .collect();
    let out = block_on(hapi.create_all(&serde_json::to_vec(&input).unwrap(), 250)).unwrap();
    let created: Value = serde_json::from_slice(&out).unwrap();
    let known: HashSet<String> = created["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_str()
                .unwrap()
                .trim_start_matches("Patient/")
                .to_owned()
        })
        .collect();
    assert_eq!(known.len(), 250);
    let mut ids: Vec<String> = known.iter().cloned().collect();
    ids.extend((0..350).map(|i| format!("no-such-patient-{i}-{}", std::process::id())));
    let query = format!("Patient?_id={}&_count=40", ids.join(","));
    assert!(
        query.len() > 8192,
        "{} bytes: too long for a URL",
        query.len()
    );

    let h = handle(&format!("{}/fhir", var("FHIR_NGINX_HTTP")), |_| {});
    let q = cstr(&query);
    let mut found: Vec<String> = Vec::new();
    let rc = unsafe {
        fhir_search_resources(
            h,
            q.as_ptr(),
            Some(collect_ids),
            &mut found as *mut Vec<String> as *mut c_void,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    assert_eq!(rc, fhir_result::FHIR_OK);
    assert_eq!(found.len(), 250, "every match once");
    assert_eq!(found.iter().cloned().collect::<HashSet<_>>(), known);
    let info = last_call(h);
    assert_eq!(info.requests, 7, "7 pages of 40: {info:?}");
    assert!(info.bytes_sent as usize >= query.len() - "Patient?".len());
    let posted = "\"POST /fhir/Patient/_search HTTP";
    assert!(logged(&var("FHIR_NGINX_ACCESS_LOG"), posted, 1) > 0);

    // The same search as a GET is refused by the gateway: why POST is needed.
    let never = handle(&format!("{}/fhir", var("FHIR_NGINX_HTTP")), |o| unsafe {
        fhir_options_set_search_post_threshold(o, usize::MAX, ptr::null_mut());
    });
    let mut count = 0u64;
    let rc = unsafe { fhir_search_count(never, q.as_ptr(), &mut count, ptr::null_mut()) };
    assert_ne!(rc, fhir_result::FHIR_OK, "a 24 kB URL is refused");
    unsafe {
        fhir_server_free(h);
        fhir_server_free(never);
    }
}
