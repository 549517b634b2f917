//! The C ABI's promises, checked from Rust: NULL and non-UTF-8 arguments give codes (never a
//! crash), outputs are written only on success, errors carry details, frees accept NULL.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use fhir_kindling::ffi::buffer::*;
use fhir_kindling::ffi::error::*;
use fhir_kindling::ffi::fhir_result;
use fhir_kindling::ffi::options::*;
use fhir_kindling::ffi::result::*;
use fhir_kindling::ffi::server::*;
use fhir_kindling::ffi::*;
use httpmock::prelude::*;

fn msg(e: *const fhir_error_t) -> String {
    unsafe {
        CStr::from_ptr(fhir_error_message(e))
            .to_string_lossy()
            .into_owned()
    }
}

#[test]
fn null_arguments_are_reported_not_crashed() {
    unsafe {
        let mut server: *mut fhir_server_t = ptr::null_mut();
        let mut err: *mut fhir_error_t = ptr::null_mut();
        let rc = fhir_server_new(ptr::null(), ptr::null(), &mut server, &mut err);
        assert_eq!(rc, fhir_result::FHIR_ERR_NULL_ARGUMENT);
        assert!(server.is_null(), "output untouched on failure");
        assert_eq!(fhir_error_code(err), fhir_result::FHIR_ERR_NULL_ARGUMENT);
        assert!(msg(err).contains("base_url"));
        fhir_error_free(err);

        let url = CString::new("http://127.0.0.1:1/fhir").unwrap();
        assert_eq!(
            fhir_server_new(url.as_ptr(), ptr::null(), ptr::null_mut(), ptr::null_mut()),
            fhir_result::FHIR_ERR_NULL_ARGUMENT
        );
        let mut json: *mut c_char = ptr::null_mut();
        assert_eq!(
            fhir_server_capabilities(ptr::null(), &mut json, ptr::null_mut(), ptr::null_mut()),
            fhir_result::FHIR_ERR_NULL_ARGUMENT
        );
        assert!(json.is_null());
        assert_eq!(
            fhir_options_add_header(ptr::null_mut(), ptr::null(), ptr::null(), ptr::null_mut()),
            fhir_result::FHIR_ERR_NULL_ARGUMENT
        );
        // Every free accepts NULL.
        fhir_server_free(ptr::null_mut());
        fhir_options_free(ptr::null_mut());
        fhir_error_free(ptr::null_mut());
        fhir_string_free(ptr::null_mut());
        // Accessors accept NULL.
        assert_eq!(fhir_error_http_status(ptr::null()), 0);
        assert!(fhir_error_body(ptr::null(), ptr::null_mut()).is_null());
        assert_eq!(
            CStr::from_ptr(fhir_error_message(ptr::null())).to_bytes(),
            b""
        );
    }
}

#[test]
fn non_utf8_is_an_invalid_argument() {
    unsafe {
        let bad = [0x68u8, 0x74, 0xff, 0xfe, 0];
        let mut server: *mut fhir_server_t = ptr::null_mut();
        let mut err: *mut fhir_error_t = ptr::null_mut();
        let rc = fhir_server_new(
            bad.as_ptr() as *const c_char,
            ptr::null(),
            &mut server,
            &mut err,
        );
        assert_eq!(rc, fhir_result::FHIR_ERR_INVALID_ARGUMENT);
        assert!(msg(err).contains("UTF-8"));
        assert!(server.is_null());
        fhir_error_free(err);
    }
}

#[test]
fn result_strings_are_static_and_total() {
    for code in -1..40 {
        let s = unsafe { CStr::from_ptr(fhir_result_str(code)) };
        assert!(!s.to_bytes().is_empty());
    }
    assert_eq!(
        unsafe { CStr::from_ptr(fhir_result_str(10)) }
            .to_str()
            .unwrap(),
        "not found (HTTP 404)"
    );
    assert_eq!(
        unsafe { CStr::from_ptr(fhir_result_str(999)) }
            .to_str()
            .unwrap(),
        "unknown result code"
    );
    let v = unsafe { CStr::from_ptr(fhir_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

#[test]
fn request_round_trip_and_error_details_through_the_abi() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.method(GET)
            .path("/fhir/Patient/1")
            .header("x-site", "a");
        then.status(200)
            .body(r#"{"resourceType":"Patient","id":"1"}"#);
    });
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"gone fishing"}]}"#;
    mock.mock(|when, then| {
        when.path("/fhir/Patient/2");
        then.status(404).body(oo);
    });
    unsafe {
        let opts = fhir_options_new();
        let (n, v) = (CString::new("X-Site").unwrap(), CString::new("a").unwrap());
        assert_eq!(
            fhir_options_add_header(opts, n.as_ptr(), v.as_ptr(), ptr::null_mut()),
            fhir_result::FHIR_OK
        );
        let url = CString::new(mock.url("/fhir/")).unwrap();
        let mut server: *mut fhir_server_t = ptr::null_mut();
        assert_eq!(
            fhir_server_new(url.as_ptr(), opts, &mut server, ptr::null_mut()),
            fhir_result::FHIR_OK
        );
        fhir_options_free(opts); // the handle keeps its own copy
        assert_eq!(
            CStr::from_ptr(fhir_server_base_url(server))
                .to_str()
                .unwrap(),
            mock.url("/fhir")
        );

        let (get, p1, p2) = (
            CString::new("GET").unwrap(),
            CString::new("Patient/1").unwrap(),
            CString::new("Patient/2").unwrap(),
        );
        let mut status = 0u16;
        let mut body: *mut c_char = ptr::null_mut();
        let mut len = 0usize;
        let rc = fhir_server_request(
            server,
            get.as_ptr(),
            p1.as_ptr(),
            ptr::null(),
            0,
            &mut status,
            &mut body,
            &mut len,
            ptr::null_mut(),
        );
        assert_eq!(rc, fhir_result::FHIR_OK);
        assert_eq!(status, 200);
        assert_eq!(
            CStr::from_ptr(body).to_bytes(),
            br#"{"resourceType":"Patient","id":"1"}"#
        );
        assert_eq!(len, 35);
        fhir_string_free(body);

        let mut body: *mut c_char = ptr::null_mut();
        let mut err: *mut fhir_error_t = ptr::null_mut();
        let rc = fhir_server_request(
            server,
            get.as_ptr(),
            p2.as_ptr(),
            ptr::null(),
            0,
            ptr::null_mut(),
            &mut body,
            ptr::null_mut(),
            &mut err,
        );
        assert_eq!(rc, fhir_result::FHIR_ERR_NOT_FOUND);
        assert!(body.is_null());
        assert_eq!(fhir_error_http_status(err), 404);
        let mut blen = 0usize;
        let b = fhir_error_body(err, &mut blen);
        assert_eq!(
            std::slice::from_raw_parts(b as *const u8, blen),
            oo.as_bytes()
        );
        assert!(msg(err).contains("gone fishing"));
        fhir_error_free(err);

        // A body pointer that is NULL with a length is refused before anything is sent.
        let post = CString::new("POST").unwrap();
        let rc = fhir_server_request(
            server,
            post.as_ptr(),
            p1.as_ptr(),
            ptr::null(),
            5,
            ptr::null_mut(),
            &mut body,
            ptr::null_mut(),
            ptr::null_mut(),
        );
        assert_eq!(rc, fhir_result::FHIR_ERR_NULL_ARGUMENT);
        fhir_server_free(server);
    }
}

#[test]
fn option_setters_validate() {
    unsafe {
        let o = fhir_options_new();
        let mut err: *mut fhir_error_t = ptr::null_mut();
        assert_eq!(
            fhir_options_set_retry_jitter(o, 0.9, &mut err),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        assert!(msg(err).contains("jitter"));
        fhir_error_free(err);
        assert_eq!(
            fhir_options_set_retry_max_attempts(o, 0, ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        let codes = [503u16, 504];
        assert_eq!(
            fhir_options_set_retry_status_codes(o, codes.as_ptr(), 2, ptr::null_mut()),
            fhir_result::FHIR_OK
        );
        assert_eq!(
            fhir_options_set_retry_status_codes(o, ptr::null(), 2, ptr::null_mut()),
            fhir_result::FHIR_ERR_NULL_ARGUMENT
        );
        let m = CString::new("get, post").unwrap();
        assert_eq!(
            fhir_options_set_retry_methods(o, m.as_ptr(), ptr::null_mut()),
            fhir_result::FHIR_OK
        );
        let (s, u) = (
            CString::new("gopher").unwrap(),
            CString::new("http://127.0.0.1:3128").unwrap(),
        );
        assert_eq!(
            fhir_options_set_proxy(o, s.as_ptr(), u.as_ptr(), ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        fhir_options_free(o);
    }
}

/// A page callback that counts pages in `*user_data` (a `usize`) and goes on.
unsafe extern "C" fn count_pages(_: *const c_char, _: usize, user_data: *mut c_void) -> c_int {
    *(user_data as *mut usize) += 1;
    0
}

fn bundle_page(id: &str, next: Option<&str>) -> String {
    let link = next.map_or(String::new(), |n| {
        format!(r#","link":[{{"relation":"next","url":"{n}"}}]"#)
    });
    format!(
        r#"{{"resourceType":"Bundle","type":"searchset"{link},"entry":[{{"resource":{{"resourceType":"Patient","id":"{id}"}}}}]}}"#
    )
}

/// A handle without auth on the mock's `/fhir`; free it with `fhir_server_free`.
unsafe fn mock_server(mock: &MockServer) -> *mut fhir_server_t {
    let url = CString::new(mock.url("/fhir")).unwrap();
    let mut server: *mut fhir_server_t = ptr::null_mut();
    let rc = fhir_server_new(url.as_ptr(), ptr::null(), &mut server, ptr::null_mut());
    assert_eq!(rc, fhir_result::FHIR_OK);
    server
}

/// Run `fhir_search_pages`; returns the code, the pages handed over and `*next_url_out`.
unsafe fn search_pages(
    server: *const fhir_server_t,
    query: &str,
) -> (fhir_result, usize, Option<String>) {
    let q = CString::new(query).unwrap();
    let mut pages = 0usize;
    let mut next: *mut c_char = ptr::null_mut();
    let rc = fhir_kindling::ffi::search::fhir_search_pages(
        server,
        q.as_ptr(),
        Some(count_pages),
        &mut pages as *mut usize as *mut c_void,
        &mut next,
        ptr::null_mut(),
    );
    let url = (!next.is_null()).then(|| CStr::from_ptr(next).to_string_lossy().into_owned());
    fhir_string_free(next);
    (rc, pages, url)
}

#[test]
fn a_stream_that_fails_mid_way_gives_the_url_of_the_failed_page_to_retry_from() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("name", "a");
        then.status(200)
            .body(bundle_page("1", Some("Patient?page=2")));
    });
    let mut broken = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "2");
        then.status(500).body("{}");
    });
    let page2 = mock.url("/fhir/Patient?page=2");
    unsafe {
        let server = mock_server(&mock);

        // Page 2 fails: one page was handed over, and the failed page's URL comes back.
        let (rc, pages, next) = search_pages(server, "Patient?name=a");
        assert_eq!(rc, fhir_result::FHIR_ERR_HTTP_STATUS);
        assert_eq!(pages, 1);
        assert_eq!(next.as_deref(), Some(page2.as_str()));

        // The server recovers: retrying from that URL finishes the search.
        broken.delete();
        mock.mock(|when, then| {
            when.path("/fhir/Patient").query_param("page", "2");
            then.status(200).body(bundle_page("2", None));
        });
        let (rc, pages, next) = search_pages(server, &page2);
        assert_eq!((rc, pages, next), (fhir_result::FHIR_OK, 1, None));
        fhir_server_free(server);
    }
}

/// Pages that give their `next` link before the entries have the next page asked for before they
/// are read (issue 13). What the caller gets does not change: a page the single pass leaves to
/// serde (an escaped member name after the entries) still pages on, in the streaming and the
/// collecting calls; a page that is malformed after its link fails as that page (its URL to
/// retry from), and the next page's answer, even if it was asked for, is never handed over.
#[test]
fn pages_read_while_the_next_is_fetched_give_what_sequential_reading_gave() {
    let mock = MockServer::start();
    let page1 = bundle_page("1", Some("Patient?page=2"));
    let escaped_after_entries = format!(r#"{},"\u0069d":"p1"}}"#, &page1[..page1.len() - 1]);
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("name", "a");
        then.status(200).body(&escaped_after_entries);
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("name", "broken");
        then.status(200)
            .body(format!("{}x", bundle_page("1", Some("Patient?page=2"))));
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "2");
        then.status(200).body(bundle_page("2", None));
    });
    unsafe {
        let server = mock_server(&mock);

        let (rc, pages, next) = search_pages(server, "Patient?name=a");
        assert_eq!((rc, pages, next), (fhir_result::FHIR_OK, 2, None));

        let q = CString::new("Patient?name=a").unwrap();
        let (mut out, mut len): (*mut c_char, usize) = (ptr::null_mut(), 0);
        let rc = fhir_kindling::ffi::search::fhir_search_all(
            server,
            q.as_ptr(),
            &mut out,
            &mut len,
            ptr::null_mut(),
        );
        assert_eq!(rc, fhir_result::FHIR_OK);
        let all: serde_json::Value =
            serde_json::from_slice(std::slice::from_raw_parts(out as *const u8, len)).unwrap();
        fhir_string_free(out);
        let ids: Vec<&str> = all["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["1", "2"]);

        let (rc, pages, next) = search_pages(server, "Patient?name=broken");
        assert_eq!(rc, fhir_result::FHIR_ERR_JSON);
        assert_eq!(
            pages, 0,
            "no page of a search whose first page is malformed"
        );
        assert_eq!(
            next.as_deref(),
            Some(mock.url("/fhir/Patient?name=broken").as_str())
        );
        fhir_server_free(server);
    }
}

#[test]
fn a_stream_stopped_by_a_refused_link_gives_no_url() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.path("/fhir/Patient");
        then.status(200).body(bundle_page(
            "1",
            Some("http://elsewhere.invalid/fhir/Patient?page=2"),
        ));
    });
    unsafe {
        let server = mock_server(&mock);
        let (rc, pages, next) = search_pages(server, "Patient");
        assert_eq!((rc, pages, next), (fhir_result::FHIR_ERR_PAGING, 1, None));
        fhir_server_free(server);
    }
}

#[test]
fn json_from_the_caller_is_checked_before_anything_is_sent() {
    let mock = MockServer::start();
    let any = mock.mock(|when, then| {
        when.any_request();
        then.status(200).body("{}");
    });
    unsafe {
        let server = mock_server(&mock);
        let create = |json: &[u8]| {
            let mut out: *mut c_char = ptr::null_mut();
            let rc = fhir_kindling::ffi::ops::fhir_resource_create(
                server,
                json.as_ptr() as *const c_char,
                json.len(),
                ptr::null(),
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
            );
            assert!(out.is_null());
            rc
        };
        // A non-UTF-8 byte inside a JSON string (serde would skip it unchecked).
        assert_eq!(
            create(b"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}"),
            fhir_result::FHIR_ERR_JSON
        );
        // A JSON array where a resource is expected (serde would read it as a tuple).
        assert_eq!(
            create(br#"["Patient","1"]"#),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        // A resource that is not a Bundle, given to fhir_bundle_send.
        let patient = br#"{"resourceType":"Patient"}"#;
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut fhir_error_t = ptr::null_mut();
        let rc = fhir_kindling::ffi::ops::fhir_bundle_send(
            server,
            patient.as_ptr() as *const c_char,
            patient.len(),
            &mut out,
            ptr::null_mut(),
            &mut err,
        );
        assert_eq!(rc, fhir_result::FHIR_ERR_INVALID_ARGUMENT);
        assert!(msg(err).contains("not a Bundle"), "{}", msg(err));
        fhir_error_free(err);
        any.assert_hits(0);
        fhir_server_free(server);
    }
}
