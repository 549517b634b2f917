//! Retries, pinned with httpmock (and a scripted server where answers must change between
//! attempts): which methods and statuses are retried, max attempts, recovery, exponential
//! backoff with its cap, Retry-After (seconds and HTTP date), connection failures.

use std::time::{Duration, Instant};

use crate::common::block_on;
use crate::common::{caps, closed_port, retry_options, Reply, Scripted, CAPS};
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;

fn server_503(server: &MockServer) -> httpmock::Mock<'_> {
    server.mock(|when, then| {
        when.path_contains("/fhir/");
        then.status(503).body(r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"busy"}]}"#);
    })
}

#[test]
fn no_retry_by_default() {
    let server = MockServer::start();
    let m = server_503(&server);
    let s = FhirServer::new(
        &server.url("/fhir"),
        fhir_kindling::Auth::None,
        &Options::default(),
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::HttpStatus);
    assert_eq!(e.status(), Some(503));
    assert!(e
        .body()
        .unwrap()
        .starts_with(b"{\"resourceType\":\"OperationOutcome\""));
    m.assert_hits(1);
}

#[test]
fn retry_matrix_methods_and_statuses() {
    // (configure, method, status, expected attempts)
    type Cfg = fn(&mut Options);
    let on_status: Cfg = |o| o.set_retry_status_codes(&[503, 500]).unwrap();
    let on_methods_post: Cfg = |o| o.set_retry_methods("GET,POST").unwrap();
    let defaults_on: Cfg = |o| o.set_retry_status_codes(&[413, 429, 503, 504]).unwrap();
    let cases: Vec<(&str, Cfg, &str, u16, usize)> = vec![
        ("GET retried on listed 503", on_status, "GET", 503, 5),
        ("GET retried on listed 500", on_status, "GET", 500, 5),
        ("PUT retried by default methods", on_status, "PUT", 503, 5),
        (
            "DELETE retried by default methods",
            on_status,
            "DELETE",
            503,
            5,
        ),
        ("POST not retried by default", on_status, "POST", 503, 1),
        ("PATCH not retried by default", on_status, "PATCH", 503, 1),
        ("POST retried when listed", on_methods_post, "POST", 503, 5),
        (
            "PUT not retried when not listed",
            on_methods_post,
            "PUT",
            503,
            1,
        ),
        ("default statuses: 429", defaults_on, "GET", 429, 5),
        (
            "default statuses: 500 not retried",
            defaults_on,
            "GET",
            500,
            1,
        ),
        (
            "default statuses: 404 not retried",
            defaults_on,
            "GET",
            404,
            1,
        ),
    ];
    for (name, cfg, method, status, attempts) in cases {
        let server = MockServer::start();
        let m = server.mock(|when, then| {
            when.path("/fhir/Patient");
            then.status(status).body("{}");
        });
        let o = retry_options(cfg);
        let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap();
        let body = (method == "POST" || method == "PUT" || method == "PATCH")
            .then(|| bytes::Bytes::from_static(b"{}"));
        let e = block_on(s.request(method, "Patient", body)).unwrap_err();
        assert_eq!(e.status(), Some(status), "{name}");
        assert_eq!(m.hits(), attempts, "{name}");
        if attempts > 1 {
            assert!(
                e.message().contains(&format!("after {attempts} attempts")),
                "{name}: {}",
                e.message()
            );
        }
    }
}

#[test]
fn max_attempts_is_honoured() {
    let server = MockServer::start();
    let m = server_503(&server);
    let o = retry_options(|o| {
        o.set_retry_status_codes(&[503]).unwrap();
        o.set_retry_max_attempts(3).unwrap();
    });
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap_err();
    m.assert_hits(3);
}

#[test]
fn retry_succeeds_when_the_server_recovers() {
    let srv = Scripted::start(vec![
        Reply::new(503, "{}"),
        Reply::new(503, "{}"),
        Reply::new(200, CAPS),
    ]);
    let o = retry_options(|o| o.set_retry_status_codes(&[503]).unwrap());
    let s = FhirServer::new(&format!("{}/fhir", srv.base), fhir_kindling::Auth::None, &o).unwrap();
    assert_eq!(&caps(&s).unwrap()[..], CAPS.as_bytes());
    assert_eq!(srv.requests().len(), 3);
}

fn gaps(srv: &Scripted) -> Vec<f64> {
    let r = srv.requests();
    r.windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect()
}

#[test]
fn backoff_grows_exponentially_and_is_capped() {
    let srv = Scripted::start(vec![Reply::new(503, "{}")]);
    let o = retry_options(|o| {
        o.set_retry_status_codes(&[503]).unwrap();
        o.set_retry_backoff_factor(0.1).unwrap();
        o.set_retry_jitter(0.0).unwrap();
        o.set_retry_max_backoff_wait(0.35).unwrap();
    });
    let s = FhirServer::new(&format!("{}/fhir", srv.base), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap_err();
    let g = gaps(&srv);
    assert_eq!(g.len(), 4, "{g:?}");
    // Expected waits 0.1, 0.2, 0.35 (0.4 capped), 0.35 (0.8 capped).
    let expected = [0.1, 0.2, 0.35, 0.35];
    for (got, want) in g.iter().zip(expected) {
        assert!(
            *got >= want - 0.005 && *got < want + 0.5,
            "gaps {g:?} vs {expected:?}"
        );
    }
}

#[test]
fn retry_after_seconds_is_honoured_and_capped() {
    let srv = Scripted::start(vec![
        Reply::new(503, "{}").header("Retry-After", "1"),
        Reply::new(200, CAPS),
    ]);
    let o = retry_options(|o| o.set_retry_status_codes(&[503]).unwrap());
    let s = FhirServer::new(&format!("{}/fhir", srv.base), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap();
    let g = gaps(&srv);
    assert!(g[0] >= 0.99 && g[0] < 1.5, "{g:?}");

    let srv = Scripted::start(vec![
        Reply::new(429, "{}").header("Retry-After", "3600"),
        Reply::new(200, CAPS),
    ]);
    let o = retry_options(|o| {
        o.set_retry_status_codes(&[429]).unwrap();
        o.set_retry_max_backoff_wait(0.3).unwrap();
    });
    let s = FhirServer::new(&format!("{}/fhir", srv.base), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap();
    let g = gaps(&srv);
    assert!(g[0] >= 0.29 && g[0] < 0.8, "{g:?}");
}

#[test]
fn retry_after_http_date_is_honoured() {
    let when = std::time::SystemTime::now() + Duration::from_secs(2);
    let date = httpdate::fmt_http_date(when);
    let srv = Scripted::start(vec![
        Reply::new(503, "{}").header("Retry-After", &date),
        Reply::new(200, CAPS),
    ]);
    let o = retry_options(|o| o.set_retry_status_codes(&[503]).unwrap());
    let s = FhirServer::new(&format!("{}/fhir", srv.base), fhir_kindling::Auth::None, &o).unwrap();
    caps(&s).unwrap();
    let g = gaps(&srv);
    // HTTP dates have one-second resolution: the wait is between 1 and 2 s.
    assert!(g[0] >= 0.95 && g[0] < 2.5, "{g:?}");
}

#[test]
fn connection_failures_are_retried_for_retryable_methods_only() {
    let base = format!("http://127.0.0.1:{}/fhir", closed_port());
    let o = retry_options(|o| {
        o.set_retry_status_codes(&[503]).unwrap();
        o.set_retry_backoff_factor(0.1).unwrap();
        o.set_retry_jitter(0.0).unwrap();
        o.set_retry_max_attempts(3).unwrap();
    });
    let s = FhirServer::new(&base, fhir_kindling::Auth::None, &o).unwrap();
    let t = Instant::now();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert!(e.message().contains("after 3 attempts"), "{}", e.message());
    assert!(t.elapsed() >= Duration::from_millis(300), "waits 0.1 + 0.2");

    let t = Instant::now();
    let e =
        block_on(s.request("POST", "Patient", Some(bytes::Bytes::from_static(b"{}")))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert!(!e.message().contains("attempts"), "{}", e.message());
    assert!(t.elapsed() < Duration::from_millis(300));
}
