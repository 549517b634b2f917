//! Authentication on the wire, pinned with httpmock (and a scripted server where the token
//! endpoint must answer differently between requests): the Authorization header of each mode,
//! the OIDC client-credentials flow (form, discovery, caching, refresh, 401 replay, concurrency,
//! refusals), and `from_env` choosing the mode.

use std::time::{Duration, Instant};

use crate::common::{caps, Reply, Scripted, CAPS};
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;

fn no_authorization(req: &HttpMockRequest) -> bool {
    !req.headers.as_ref().is_some_and(|h| {
        h.iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    })
}
// ---------------------------------------------------------------- auth headers

/// An OIDC handle (client "c", secret "s") for the mock's `/fhir`, with the token URL or issuer
/// at `provider` on the same mock.
fn oidc(server: &MockServer, provider: &str) -> FhirServer {
    FhirServer::new_oidc(
        &server.url("/fhir"),
        "c",
        "s",
        &server.url(provider),
        &Options::default(),
    )
    .unwrap()
}

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
        fhir_kindling::Auth::None,
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
    o.set_oidc_scope("system/*.read").unwrap();
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
    let s = oidc(&server, "/realms/x/");
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
    let s = oidc(&server, "/token");
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
        then.status(200).body(token_body("tok-revoked-1", 3600));
    });
    let api = server.mock(|when, then| {
        when.path("/fhir/metadata");
        then.status(401)
            .header("www-authenticate", "Bearer error=\"invalid_token\"")
            .body(r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"token revoked"}]}"#);
    });
    let s = oidc(&server, "/token");
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.status(), Some(401));
    assert!(e.message().contains("token revoked"), "{}", e.message());
    assert!(!e.message().contains("tok-revoked-1"));
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
    let s = std::sync::Arc::new(oidc(&server, "/token"));
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
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.message().contains("invalid_client"), "{}", e.message());
    assert!(!e.message().contains("very-secret-value"));
    assert!(!format!("{s:?}").contains("very-secret-value"));
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
// ---------------------------------------------------------------- review regressions

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
        let s = oidc(&server, "/token");
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
    o.set_timeout_ms(500).unwrap();
    let s = std::sync::Arc::new(
        FhirServer::new_oidc(&server.url("/fhir"), "c", "s", &server.url("/token"), &o).unwrap(),
    );
    let t = Instant::now();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || caps(&s).unwrap_err().kind())
        })
        .collect();
    for th in threads {
        assert_eq!(th.join().unwrap(), ErrorKind::Timeout);
    }
    // Six threads one after the other would take 3 s; sharing the failure takes one timeout.
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert!(token.hits() <= 2, "{} token requests", token.hits());
}
