//! Wire behaviour pinned with httpmock (and a scripted server where answers must change between
//! attempts): auth headers, OIDC flows, headers and proxies, retries, timeouts, error mapping.

mod common;

use std::time::{Duration, Instant};

use common::{closed_port, Reply, Scripted};
use fhir_kindling::error::Code;
use fhir_kindling::runtime::block_on;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;

fn no_authorization(req: &HttpMockRequest) -> bool {
    !req.headers.as_ref().is_some_and(|h| {
        h.iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    })
}

const CAPS: &str =
    r#"{"resourceType":"CapabilityStatement","status":"active","fhirVersion":"4.0.1"}"#;

fn caps(s: &FhirServer) -> fhir_kindling::Result<bytes::Bytes> {
    block_on(s.capabilities()).unwrap()
}

// ---------------------------------------------------------------- auth headers

#[test]
fn no_auth_sends_no_authorization_header() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/fhir/metadata")
            .matches(no_authorization)
            .header("accept", "application/fhir+json");
        then.status(200).body(CAPS);
    });
    let s = FhirServer::new(
        &server.url("/fhir/"),
        fhir_kindling::auth::Auth::None,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(&caps(&s).unwrap()[..], CAPS.as_bytes());
    m.assert();
}

#[test]
fn basic_auth_header_is_exact() {
    let server = MockServer::start();
    // base64("fhir-user:pa:ss wörd")
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/fhir/metadata")
            .header("authorization", "Basic Zmhpci11c2VyOnBhOnNzIHfDtnJk");
        then.status(200).body(CAPS);
    });
    let s = FhirServer::new_basic(
        &server.url("/fhir"),
        "fhir-user",
        "pa:ss wörd",
        &Options::default(),
    )
    .unwrap();
    caps(&s).unwrap();
    m.assert();
}

#[test]
fn token_auth_header_is_exact() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/fhir/metadata")
            .header("authorization", "Bearer abc.def-123");
        then.status(200).body(CAPS);
    });
    let s =
        FhirServer::new_token(&server.url("/fhir"), "abc.def-123", &Options::default()).unwrap();
    caps(&s).unwrap();
    m.assert();
}

// ---------------------------------------------------------------- OIDC

fn token_body(token: &str, expires_in: u64) -> String {
    format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{expires_in}}}"#)
}

#[test]
fn oidc_token_request_form_basic_and_caching() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST)
            .path("/idp/token")
            // base64("my-client:s3cr%2Bt") — the secret is form-encoded first (RFC 6749 2.3.1).
            .header("authorization", "Basic bXktY2xpZW50OnMzY3IlMkJ0")
            .header("content-type", "application/x-www-form-urlencoded")
            .x_www_form_urlencoded_tuple("grant_type", "client_credentials")
            .x_www_form_urlencoded_tuple("scope", "system/*.read");
        then.status(200).body(token_body("tok-1", 3600));
    });
    let api = server.mock(|when, then| {
        when.method(GET)
            .path("/fhir/metadata")
            .header("authorization", "Bearer tok-1");
        then.status(200).body(CAPS);
    });
    let mut o = Options::default();
    o.set_oidc_scope("system/*.read");
    let s = FhirServer::new_oidc(
        &server.url("/fhir"),
        "my-client",
        "s3cr+t",
        &server.url("/idp/token"),
        &o,
    )
    .unwrap();
    for _ in 0..3 {
        caps(&s).unwrap();
    }
    token.assert_hits(1);
    api.assert_hits(3);
    assert_eq!(block_on(s.oidc_tokens_fetched()).unwrap(), 1);
}

#[test]
fn oidc_client_secret_post_puts_credentials_in_the_form() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST)
            .path("/token")
            .matches(no_authorization)
            .x_www_form_urlencoded_tuple("grant_type", "client_credentials")
            .x_www_form_urlencoded_tuple("client_id", "cid")
            .x_www_form_urlencoded_tuple("client_secret", "cs");
        then.status(200).body(token_body("tok-p", 3600));
    });
    let api = server.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("authorization", "Bearer tok-p");
        then.status(200).body(CAPS);
    });
    let mut o = Options::default();
    o.set_oidc_auth_method("client_secret_post").unwrap();
    let s =
        FhirServer::new_oidc(&server.url("/fhir"), "cid", "cs", &server.url("/token"), &o).unwrap();
    caps(&s).unwrap();
    token.assert();
    api.assert();
}

#[test]
fn oidc_discovers_the_token_endpoint_from_the_issuer() {
    let server = MockServer::start();
    let disco = server.mock(|when, then| {
        when.method(GET)
            .path("/realms/x/.well-known/openid-configuration");
        then.status(200).body(format!(
            r#"{{"issuer":"{}","token_endpoint":"{}"}}"#,
            server.url("/realms/x"),
            server.url("/realms/x/protocol/openid-connect/token")
        ));
    });
    let token = server.mock(|when, then| {
        when.method(POST)
            .path("/realms/x/protocol/openid-connect/token");
        then.status(200).body(token_body("tok-d", 3600));
    });
    let api = server.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("authorization", "Bearer tok-d");
        then.status(200).body(CAPS);
    });
    let s = FhirServer::new_oidc(
        &server.url("/fhir"),
        "c",
        "s",
        &server.url("/realms/x/"),
        &Options::default(),
    )
    .unwrap();
    caps(&s).unwrap();
    caps(&s).unwrap();
    disco.assert_hits(1);
    token.assert_hits(1);
    api.assert_hits(2);
}

#[test]
fn oidc_token_is_refreshed_before_expiry() {
    let server = MockServer::start();
    // expires_in 2 s → refreshed 0.2 s before expiry, i.e. after 1.8 s.
    let token = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).body(token_body("tok-e", 2));
    });
    let api = server.mock(|when, then| {
        when.path("/fhir/metadata");
        then.status(200).body(CAPS);
    });
    let s = FhirServer::new_oidc(
        &server.url("/fhir"),
        "c",
        "s",
        &server.url("/token"),
        &Options::default(),
    )
    .unwrap();
    caps(&s).unwrap();
    caps(&s).unwrap();
    token.assert_hits(1);
    std::thread::sleep(Duration::from_millis(1900));
    caps(&s).unwrap();
    token.assert_hits(2);
    api.assert_hits(3);
}

#[test]
fn oidc_401_refreshes_once_and_replays_once() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).body(token_body("revoked", 3600));
    });
    let api = server.mock(|when, then| {
        when.path("/fhir/metadata");
        then.status(401)
            .header("www-authenticate", "Bearer error=\"invalid_token\"")
            .body(r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"token revoked"}]}"#);
    });
    let s = FhirServer::new_oidc(
        &server.url("/fhir"),
        "c",
        "s",
        &server.url("/token"),
        &Options::default(),
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_AUTH);
    assert_eq!(e.status, Some(401));
    assert!(e.message.contains("token revoked"), "{}", e.message);
    assert!(!e.message.contains("revoked\""));
    token.assert_hits(2);
    api.assert_hits(2);
}

#[test]
fn oidc_401_replay_succeeds_with_the_new_token() {
    // Token endpoint hands out tok-1 then tok-2; the API refuses tok-1.
    let idp = Scripted::start(vec![
        Reply::new(200, &token_body("tok-1", 3600)),
        Reply::new(200, &token_body("tok-2", 3600)),
    ]);
    let api = MockServer::start();
    let refused = api.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("authorization", "Bearer tok-1");
        then.status(401);
    });
    let ok = api.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("authorization", "Bearer tok-2");
        then.status(200).body(CAPS);
    });
    let s = FhirServer::new_oidc(
        &api.url("/fhir"),
        "c",
        "s",
        &format!("{}/token", idp.base),
        &Options::default(),
    )
    .unwrap();
    caps(&s).unwrap();
    caps(&s).unwrap();
    refused.assert_hits(1);
    ok.assert_hits(2);
    assert_eq!(idp.requests().len(), 2);
}

#[test]
fn oidc_single_refresh_under_concurrency() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200)
            .delay(Duration::from_millis(300))
            .body(token_body("tok-c", 3600));
    });
    let api = server.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("authorization", "Bearer tok-c");
        then.status(200).body(CAPS);
    });
    let s = std::sync::Arc::new(
        FhirServer::new_oidc(
            &server.url("/fhir"),
            "c",
            "s",
            &server.url("/token"),
            &Options::default(),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || caps(&s).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    token.assert_hits(1);
    api.assert_hits(8);
}

#[test]
fn oidc_refusal_is_an_auth_error_without_the_secret() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(401).body(
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
        );
    });
    let s = FhirServer::new_oidc(
        &server.url("/fhir"),
        "cid",
        "very-secret-value",
        &server.url("/token"),
        &Options::default(),
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_AUTH);
    assert!(e.message.contains("invalid_client"), "{}", e.message);
    assert!(!e.message.contains("very-secret-value"));
    assert!(!format!("{s:?}").contains("very-secret-value"));
}

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
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::auth::Auth::None, &o).unwrap();
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
    let s = FhirServer::new(
        "http://fhir.invalid/fhir",
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
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
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::auth::Auth::None, &o).unwrap();
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
    let s = FhirServer::new(
        "http://fhir.invalid/fhir",
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_PROXY, "{}", e.message);
    assert!(
        e.message.contains("through proxy http://***@127.0.0.1"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("ppass"));
}

// ---------------------------------------------------------------- retries

fn retry_options(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    o.retry.set_backoff_factor(0.01).unwrap();
    f(&mut o);
    o
}

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
        fhir_kindling::auth::Auth::None,
        &Options::default(),
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_HTTP_STATUS);
    assert_eq!(e.status, Some(503));
    assert!(e
        .body
        .as_deref()
        .unwrap()
        .starts_with(b"{\"resourceType\":\"OperationOutcome\""));
    m.assert_hits(1);
}

#[test]
fn retry_matrix_methods_and_statuses() {
    // (configure, method, status, expected attempts)
    type Cfg = fn(&mut Options);
    let on_status: Cfg = |o| o.retry.set_status_codes(&[503, 500]).unwrap();
    let on_methods_post: Cfg = |o| o.retry.set_methods(&["GET", "POST"]).unwrap();
    let defaults_on: Cfg = |o| o.retry.set_status_codes(&[413, 429, 503, 504]).unwrap();
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
        let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::auth::Auth::None, &o).unwrap();
        let body = (method == "POST" || method == "PUT" || method == "PATCH")
            .then(|| bytes::Bytes::from_static(b"{}"));
        let e = block_on(s.request(method, "Patient", body))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.status, Some(status), "{name}");
        assert_eq!(m.hits(), attempts, "{name}");
        if attempts > 1 {
            assert!(
                e.message.contains(&format!("after {attempts} attempts")),
                "{name}: {}",
                e.message
            );
        }
    }
}

#[test]
fn max_attempts_is_honoured() {
    let server = MockServer::start();
    let m = server_503(&server);
    let o = retry_options(|o| {
        o.retry.set_status_codes(&[503]).unwrap();
        o.retry.set_max_attempts(3).unwrap();
    });
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::auth::Auth::None, &o).unwrap();
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
    let o = retry_options(|o| o.retry.set_status_codes(&[503]).unwrap());
    let s = FhirServer::new(
        &format!("{}/fhir", srv.base),
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
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
        o.retry.set_status_codes(&[503]).unwrap();
        o.retry.set_backoff_factor(0.1).unwrap();
        o.retry.set_jitter(0.0).unwrap();
        o.retry.set_max_backoff_wait(0.35).unwrap();
    });
    let s = FhirServer::new(
        &format!("{}/fhir", srv.base),
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
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
    let o = retry_options(|o| o.retry.set_status_codes(&[503]).unwrap());
    let s = FhirServer::new(
        &format!("{}/fhir", srv.base),
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
    caps(&s).unwrap();
    let g = gaps(&srv);
    assert!(g[0] >= 0.99 && g[0] < 1.5, "{g:?}");

    let srv = Scripted::start(vec![
        Reply::new(429, "{}").header("Retry-After", "3600"),
        Reply::new(200, CAPS),
    ]);
    let o = retry_options(|o| {
        o.retry.set_status_codes(&[429]).unwrap();
        o.retry.set_max_backoff_wait(0.3).unwrap();
    });
    let s = FhirServer::new(
        &format!("{}/fhir", srv.base),
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
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
    let o = retry_options(|o| o.retry.set_status_codes(&[503]).unwrap());
    let s = FhirServer::new(
        &format!("{}/fhir", srv.base),
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap();
    caps(&s).unwrap();
    let g = gaps(&srv);
    // HTTP dates have one-second resolution: the wait is between 1 and 2 s.
    assert!(g[0] >= 0.95 && g[0] < 2.5, "{g:?}");
}

#[test]
fn connection_failures_are_retried_for_retryable_methods_only() {
    let base = format!("http://127.0.0.1:{}/fhir", closed_port());
    let o = retry_options(|o| {
        o.retry.set_status_codes(&[503]).unwrap();
        o.retry.set_backoff_factor(0.1).unwrap();
        o.retry.set_jitter(0.0).unwrap();
        o.retry.set_max_attempts(3).unwrap();
    });
    let s = FhirServer::new(&base, fhir_kindling::auth::Auth::None, &o).unwrap();
    let t = Instant::now();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_CONNECT);
    assert!(e.message.contains("after 3 attempts"), "{}", e.message);
    assert!(t.elapsed() >= Duration::from_millis(300), "waits 0.1 + 0.2");

    let t = Instant::now();
    let e = block_on(s.request("POST", "Patient", Some(bytes::Bytes::from_static(b"{}"))))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_CONNECT);
    assert!(!e.message.contains("attempts"), "{}", e.message);
    assert!(t.elapsed() < Duration::from_millis(300));
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
    o.set_timeout_ms(200);
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::auth::Auth::None, &o).unwrap();
    let t = Instant::now();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_TIMEOUT, "{}", e.message);
    assert!(t.elapsed() < Duration::from_millis(1200));

    let mut o = retry_options(|o| o.retry.set_max_attempts(2).unwrap());
    o.retry.set_methods(&["GET"]).unwrap();
    o.set_timeout_ms(200);
    let s = FhirServer::new(&server.url("/fhir"), fhir_kindling::auth::Auth::None, &o).unwrap();
    assert_eq!(caps(&s).unwrap_err().code, Code::FHIR_ERR_TIMEOUT);
    // Two requests from the second handle plus one from the first.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(m.hits(), 3);
}

#[test]
fn error_statuses_map_to_codes_with_body() {
    let server = MockServer::start();
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Resource Patient/nope is not known"}]}"#;
    for (path, status, code) in [
        ("Patient/nope", 404, Code::FHIR_ERR_NOT_FOUND),
        ("Patient/gone", 410, Code::FHIR_ERR_GONE),
        ("Patient/forbidden", 403, Code::FHIR_ERR_AUTH),
        ("Patient/conflict", 412, Code::FHIR_ERR_CONFLICT),
        ("Patient/boom", 500, Code::FHIR_ERR_HTTP_STATUS),
    ] {
        server.mock(|when, then| {
            when.path(format!("/fhir/{path}"));
            then.status(status).body(oo);
        });
        let s = FhirServer::new(
            &server.url("/fhir"),
            fhir_kindling::auth::Auth::None,
            &Options::default(),
        )
        .unwrap();
        let e = block_on(s.request("GET", path, None)).unwrap().unwrap_err();
        assert_eq!(e.code, code, "{path}");
        assert_eq!(e.status, Some(status));
        assert_eq!(e.body.as_deref(), Some(oo.as_bytes()));
        assert!(
            e.message.contains("Resource Patient/nope is not known"),
            "{}",
            e.message
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
        fhir_kindling::auth::Auth::None,
        &Options::default(),
    )
    .unwrap();
    let r = block_on(s.request(
        "post",
        "/Patient",
        Some(bytes::Bytes::from_static(br#"{"resourceType":"Patient"}"#)),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(&r.body[..], br#"{"resourceType":"Patient","id":"1"}"#);
    m.assert();

    let e = block_on(s.request(
        "POST",
        "Patient",
        Some(bytes::Bytes::from_static(b"{not json")),
    ))
    .unwrap()
    .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_JSON);
    m.assert_hits(1);
}

#[test]
fn tls_to_a_plain_http_port_is_a_tls_or_connect_error() {
    let server = MockServer::start();
    let base = format!("https://127.0.0.1:{}/fhir", server.port());
    let s = FhirServer::new(&base, fhir_kindling::auth::Auth::None, &Options::default()).unwrap();
    let e = caps(&s).unwrap_err();
    assert!(
        matches!(e.code, Code::FHIR_ERR_TLS | Code::FHIR_ERR_CONNECT),
        "{:?}",
        e
    );
}

#[test]
fn missing_ca_file_is_an_io_error_at_construction() {
    let mut o = Options::default();
    o.add_ca_file("/nonexistent/ca.pem").unwrap();
    let e = FhirServer::new(
        "https://127.0.0.1/fhir",
        fhir_kindling::auth::Auth::None,
        &o,
    )
    .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_IO);
    assert!(e.message.contains("/nonexistent/ca.pem"));
}

#[test]
fn from_env_reaches_the_server_with_the_right_header() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.path("/fhir/metadata")
            .header("authorization", "Bearer env-token");
        then.status(200).body(CAPS);
    });
    let url = server.url("/fhir");
    let vars = move |k: &str| match k {
        "FHIR_API_URL" => Some(url.clone()),
        "FHIR_TOKEN" => Some("env-token".to_owned()),
        _ => None,
    };
    let s = FhirServer::from_env_with(vars, false, &Options::default()).unwrap();
    caps(&s).unwrap();
    m.assert();
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
        fhir_kindling::auth::Auth::None,
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
    let s = FhirServer::new(&base, fhir_kindling::auth::Auth::None, &Options::default()).unwrap();
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
        o.retry.set_status_codes(&[503]).unwrap();
        o.retry.set_max_attempts(3).unwrap();
    });
    let s = FhirServer::new(&base, fhir_kindling::auth::Auth::None, &o).unwrap();
    let e = block_on(s.request("GET", "Flag?code=alert&x=tls-certificate", None))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_CONNECT, "{}", e.message);
    assert!(e.message.contains("after 3 attempts"), "{}", e.message);
    assert!(
        !e.message.contains("alert"),
        "the query is not in the message: {}",
        e.message
    );
}

#[test]
fn extreme_token_lifetimes_neither_panic_nor_cache_forever() {
    for (expires_in, calls, fetches) in [("1e19", 3, 1), ("0", 3, 3), ("-5", 2, 2)] {
        let server = MockServer::start();
        let token = server.mock(|when, then| {
            when.method(POST).path("/token");
            then.status(200).body(format!(
                r#"{{"access_token":"t","token_type":"Bearer","expires_in":{expires_in}}}"#
            ));
        });
        server.mock(|when, then| {
            when.path("/fhir/metadata");
            then.status(200).body(CAPS);
        });
        let s = FhirServer::new_oidc(
            &server.url("/fhir"),
            "c",
            "s",
            &server.url("/token"),
            &Options::default(),
        )
        .unwrap();
        for _ in 0..calls {
            caps(&s).unwrap();
        }
        assert_eq!(token.hits(), fetches, "expires_in {expires_in}");
    }
}

#[test]
fn a_hanging_provider_costs_waiting_threads_one_timeout_not_one_each() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200)
            .delay(Duration::from_secs(3))
            .body(token_body("late", 3600));
    });
    let mut o = Options::default();
    o.set_timeout_ms(500);
    let s = std::sync::Arc::new(
        FhirServer::new_oidc(&server.url("/fhir"), "c", "s", &server.url("/token"), &o).unwrap(),
    );
    let t = Instant::now();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || caps(&s).unwrap_err().code)
        })
        .collect();
    for th in threads {
        assert_eq!(th.join().unwrap(), Code::FHIR_ERR_TIMEOUT);
    }
    // Six threads one after the other would take 3 s; sharing the failure takes one timeout.
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert!(token.hits() <= 2, "{} token requests", token.hits());
}
