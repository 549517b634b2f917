//! The HTTP transport, pinned with httpmock and plain sockets: extra headers and the user agent,
//! proxies, timeouts, how statuses and failures map to error codes, request lines and bodies,
//! TLS and CA files, gzip, connection pooling.

use std::time::{Duration, Instant};

use crate::common::block_on;
use crate::common::{caps, closed_port, retry_options, CAPS};
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;

// ---------------------------------------------------------------- headers and proxies

#[test]
fn extra_headers_are_sent_on_every_request() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("x-tenant", "north")
            .header("x-api-key", "k1")
            .header("user-agent", "my-ehr/2.0");
        then.status(200).body(CAPS);
    });
    let mut o = Options::default();
    o.add_header("X-Tenant", "north").unwrap();
    o.add_header("X-Api-Key", "k1").unwrap();
    o.set_user_agent("my-ehr/2.0").unwrap();
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap();
    caps(&s).unwrap();
    m.assert_hits(2);
}

#[test]
fn http_proxy_receives_the_request_in_absolute_form() {
    // The FHIR host does not resolve: the request can only succeed through the proxy.
    let proxy = MockServer::start();
    let m = proxy.mock(|when, then| {
        when.method(GET)
            .path("/fhir/metadata")
            .header("host", "fhir.invalid");
        then.status(200).body(CAPS);
    });
    let mut o = Options::default();
    o.set_proxy("http", &proxy.base_url()).unwrap();
    let s = FhirServer::new("http://fhir.invalid/fhir", fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap();
    m.assert();
}

#[test]
fn https_only_proxy_is_not_used_for_http() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.path("/fhir/metadata");
        then.status(200).body(CAPS);
    });
    let mut o = Options::default();
    o.set_proxy("https", &format!("http://127.0.0.1:{}", closed_port()))
        .unwrap();
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap();
    m.assert();
}

#[test]
fn unreachable_proxy_is_a_proxy_error_naming_it_without_credentials() {
    let mut o = Options::default();
    o.set_proxy(
        "all",
        &format!("http://puser:ppass@127.0.0.1:{}", closed_port()),
    )
    .unwrap();
    let s = FhirServer::new("http://fhir.invalid/fhir", fhir_kindling::Auth::None, &o).unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Proxy, "{}", e.message());
    assert!(
        e.message().contains("through proxy http://***@127.0.0.1"),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("ppass"));
}
// ---------------------------------------------------------------- timeouts and errors

#[test]
fn request_timeout_is_a_timeout_error_and_is_retried_when_configured() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.path("/fhir/metadata");
        then.status(200)
            .delay(Duration::from_millis(1500))
            .body(CAPS);
    });
    let mut o = Options::default();
    o.set_timeout_ms(200).unwrap();
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap();
    let t = Instant::now();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{}", e.message());
    assert!(t.elapsed() < Duration::from_millis(1200));

    let mut o = retry_options(|o| o.set_retry_max_attempts(2).unwrap());
    o.set_retry_methods("GET").unwrap();
    o.set_timeout_ms(200).unwrap();
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap();
    assert_eq!(caps(&s).unwrap_err().kind(), ErrorKind::Timeout);
    // Two requests from the second handle plus one from the first.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(m.hits(), 3);
}

#[test]
fn error_statuses_map_to_codes_with_body() {
    let server = MockServer::start();
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Resource Patient/nope is not known"}]}"#;
    for (path, status, code) in [
        ("Patient/nope", 404, ErrorKind::NotFound),
        ("Patient/gone", 410, ErrorKind::Gone),
        ("Patient/forbidden", 403, ErrorKind::Auth),
        ("Patient/conflict", 412, ErrorKind::Conflict),
        ("Patient/boom", 500, ErrorKind::HttpStatus),
    ] {
        server.mock(|when, then| {
            when.path(format!("/fhir/{path}"));
            then.status(status).body(oo);
        });
        let s = FhirServer::new(
            &server.url("/fhir"),
            fhir_kindling::Auth::None,
            &Options::default(),
        )
        .unwrap();
        let e = block_on(s.request("GET", path, None)).unwrap_err();
        assert_eq!(e.kind(), code, "{path}");
        assert_eq!(e.status(), Some(status));
        assert_eq!(e.body(), Some(oo.as_bytes()));
        assert!(
            e.message().contains("Resource Patient/nope is not known"),
            "{}",
            e.message()
        );
    }
}

#[test]
fn request_sends_method_path_and_json_body() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/fhir/Patient")
            .header("content-type", "application/fhir+json")
            .body(r#"{"resourceType":"Patient"}"#);
        then.status(201)
            .header("location", "Patient/1/_history/1")
            .body(r#"{"resourceType":"Patient","id":"1"}"#);
    });
    let s = FhirServer::new(
        &server.url("/fhir"),
        fhir_kindling::Auth::None,
        &Options::default(),
    )
    .unwrap();
    let r = block_on(s.request(
        "post",
        "/Patient",
        Some(bytes::Bytes::from_static(br#"{"resourceType":"Patient"}"#)),
    ))
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(&r.body[..], br#"{"resourceType":"Patient","id":"1"}"#);
    m.assert();

    let e = block_on(s.request(
        "POST",
        "Patient",
        Some(bytes::Bytes::from_static(b"{not json")),
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Json);
    m.assert_hits(1);
}

#[test]
fn tls_to_a_plain_http_port_is_a_tls_or_connect_error() {
    let server = MockServer::start();
    let base = format!("https://127.0.0.1:{}/fhir", server.port());
    let s = FhirServer::new(&base, fhir_kindling::Auth::None, &Options::default()).unwrap();
    let e = caps(&s).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Tls | ErrorKind::Connect),
        "{:?}",
        e
    );
}

#[test]
fn missing_ca_file_is_an_io_error_at_construction() {
    let mut o = Options::default();
    o.add_ca_file("/nonexistent/ca.pem").unwrap();
    let e = FhirServer::new("https://127.0.0.1/fhir", fhir_kindling::Auth::None, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("/nonexistent/ca.pem"));
}
// ---------------------------------------------------------------- gzip and connection reuse

#[test]
fn gzip_is_asked_for_and_decoded() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CAPS.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.path("/fhir/metadata").matches(|r| {
            r.headers.as_ref().is_some_and(|h| {
                h.iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case("accept-encoding") && v.contains("gzip"))
            })
        });
        then.status(200)
            .header("content-encoding", "gzip")
            .body(compressed.clone());
    });
    let s = FhirServer::new(
        &server.url("/fhir"),
        fhir_kindling::Auth::None,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(&caps(&s).unwrap()[..], CAPS.as_bytes());
    m.assert();
}

#[test]
fn one_connection_serves_many_requests() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/fhir+json\r\n\r\n{CAPS}", CAPS.len());
                    if writer.write_all(out.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let s = FhirServer::new(&base, fhir_kindling::Auth::None, &Options::default()).unwrap();
    for _ in 0..10 {
        caps(&s).unwrap();
    }
    // Ten sequential calls share the pooled connection. (A connection goes back to the pool a
    // moment after its response is read, so on a busy machine a call may rarely open a second.)
    let n = connections.load(Ordering::SeqCst);
    assert!(n <= 3, "ten sequential calls opened {n} connections");
}

// ---------------------------------------------------------------- review regressions
#[test]
fn error_codes_do_not_depend_on_words_in_the_url() {
    // "alert", "tls" and "certificate" in a query or host must not make a refused connection a
    // TLS error (which would also stop retries).
    let base = format!("http://127.0.0.1:{}/fhir", closed_port());
    let o = retry_options(|o| {
        o.set_retry_status_codes(&[503]).unwrap();
        o.set_retry_max_attempts(3).unwrap();
    });
    let s = FhirServer::new(&base, fhir_kindling::Auth::None, &o).unwrap();
    let e = block_on(s.request("GET", "Flag?code=alert&x=tls-certificate", None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{}", e.message());
    assert!(e.message().contains("after 3 attempts"), "{}", e.message());
    assert!(
        !e.message().contains("alert"),
        "the query is not in the message: {}",
        e.message()
    );
}
