//! SMART Backend Services against the real services: oidc-provider with `private_key_jwt`
//! clients (RS384 with 2048- and 4096-bit keys, ES384, a `jwks_uri` client; SMART-strict about
//! `kid`, `exp` and `sub`; replayed `jti`s refused) and nginx's `/smart/fhir`, which serves
//! `.well-known/smart-configuration` and lets a request reach HAPI only with a token the provider
//! says is active. The keys are generated per services state dir by tests/servers/pki/part.sh.
//!
//! `#[ignore]`d like tests/integration.rs: `scripts/test-all.sh` runs them with the services.
//! One at a time: one of them restarts the provider.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{block_on, on_threads, provider_lock, restart_service, tokens_issued, var};
use fhir_kindling::{ErrorKind, FhirServer, Options};

/// The SMART base URL through nginx. Plain HTTP, like the provider's token endpoint that its
/// smart-configuration names: from an https base an http token endpoint is refused (tested below).
fn smart_base() -> String {
    format!("{}/smart/fhir", var("FHIR_NGINX_HTTP"))
}

fn options(kid: &str) -> Options {
    let mut o = Options::default();
    o.add_ca_file(&var("FHIR_TEST_CA")).unwrap();
    o.set_smart_key_id(kid).unwrap();
    o.set_smart_scope("system/*.rs").unwrap();
    o
}

fn smart(client: &str, key: &str, kid: &str) -> FhirServer {
    FhirServer::new_smart_backend(&smart_base(), client, key, &options(kid)).unwrap()
}

fn read_patients(s: &FhirServer) -> fhir_kindling::Result<Vec<u8>> {
    block_on(s.request("GET", "Patient?_count=1", None)).map(|r| r.body)
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn rs384_and_es384_clients_get_a_token_and_read_through_the_gateway() {
    let _one = provider_lock();
    let rs = var("FHIR_SMART_RS384_CLIENT_ID");
    let es = var("FHIR_SMART_ES384_CLIENT_ID");
    let cases = [
        (&rs, "FHIR_SMART_RSA_KEY", "FHIR_SMART_RSA_KID"),
        (&rs, "FHIR_SMART_RSA_PKCS1_KEY", "FHIR_SMART_RSA_KID"),
        (&rs, "FHIR_SMART_RSA4096_KEY", "FHIR_SMART_RSA4096_KID"),
        (
            &rs,
            "FHIR_SMART_RSA4096_PKCS1_KEY",
            "FHIR_SMART_RSA4096_KID",
        ),
        (&es, "FHIR_SMART_EC_KEY", "FHIR_SMART_EC_KID"),
        (&es, "FHIR_SMART_EC_SEC1_KEY", "FHIR_SMART_EC_KID"),
    ];
    for (client, key, kid) in cases {
        let before = tokens_issued(client);
        // The key as a file path, and as PEM text.
        for key in [var(key), std::fs::read_to_string(var(key)).unwrap()] {
            let s = smart(client, &key, &var(kid));
            let body = read_patients(&s).unwrap_or_else(|e| panic!("{client} {kid}: {e}"));
            let bundle: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(bundle["resourceType"], "Bundle");
            assert_eq!(block_on(s.granted_scope()).unwrap(), "system/*.rs");
        }
        assert_eq!(tokens_issued(client) - before, 2, "{client} with {key}");
    }
    // The jwks_uri client: the provider fetches the public key from its URL.
    let client = var("FHIR_SMART_JWKS_URI_CLIENT_ID");
    let before = tokens_issued(&client);
    let s = smart(
        &client,
        &var("FHIR_SMART_RSA_KEY"),
        &var("FHIR_SMART_RSA_KID"),
    );
    read_patients(&s).unwrap();
    assert_eq!(tokens_issued(&client) - before, 1);
    // Without a token the gateway refuses the same location.
    let mut o = Options::default();
    o.add_ca_file(&var("FHIR_TEST_CA")).unwrap();
    let anonymous = FhirServer::new(&smart_base(), fhir_kindling::Auth::None, &o).unwrap();
    assert_eq!(
        read_patients(&anonymous).unwrap_err().kind(),
        ErrorKind::Auth
    );
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn the_wrong_key_an_unregistered_kid_or_client_are_refused_by_the_provider() {
    let _one = provider_lock();
    let rs = var("FHIR_SMART_RS384_CLIENT_ID");
    // With the provider's reason, from its log.
    let cases = [
        // A key the client never registered, under a registered kid.
        (
            rs.as_str(),
            var("FHIR_SMART_OTHER_KEY"),
            var("FHIR_SMART_RSA_KID"),
            "signature verification failed",
        ),
        // The right key under a kid the client does not have.
        (
            rs.as_str(),
            var("FHIR_SMART_RSA_KEY"),
            "no-such-kid".to_owned(),
            "no applicable key",
        ),
        // A client the provider does not know.
        (
            "smart-nobody",
            var("FHIR_SMART_RSA_KEY"),
            var("FHIR_SMART_RSA_KID"),
            "client not found",
        ),
        // An ES384 assertion for the RS384 client.
        (
            rs.as_str(),
            var("FHIR_SMART_EC_KEY"),
            var("FHIR_SMART_EC_KID"),
            "alg mismatch",
        ),
    ];
    for (client, key, kid, reason) in cases {
        let s = smart(client, &key, &kid);
        let e = read_patients(&s).unwrap_err();
        let m = e.message().to_owned();
        assert_eq!(e.kind(), ErrorKind::Auth, "{client}/{kid}: {m}");
        assert!(
            m.contains("SMART provider refused a token") && m.contains("invalid_client"),
            "{client}/{kid}: {m}"
        );
        assert!(!m.contains("eyJ"), "an assertion in {m}");
        let log = std::fs::read_to_string(var("FHIR_OIDC_TOKEN_LOG")).unwrap();
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("grant_error"))
            .unwrap();
        assert!(last.contains(reason), "{client}/{kid}: {last}");
        let body = String::from_utf8_lossy(e.body().unwrap()).into_owned();
        assert!(
            body.contains("invalid_client") && !body.contains("eyJ"),
            "{body}"
        );
    }
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn six_threads_share_one_token_and_after_the_ttl_exactly_one_new_one() {
    let _one = provider_lock();
    let client = var("FHIR_SMART_ES384_CLIENT_ID");
    let ttl: u64 = var("FHIR_OIDC_TOKEN_TTL").parse().unwrap();
    let s = Arc::new(smart(
        &client,
        &var("FHIR_SMART_EC_SEC1_KEY"),
        &var("FHIR_SMART_EC_KID"),
    ));
    let before = tokens_issued(&client);
    on_threads(&s, 6, 3, |s| {
        read_patients(s).unwrap();
    });
    assert_eq!(tokens_issued(&client) - before, 1, "18 requests, one token");
    std::thread::sleep(Duration::from_secs(ttl + 1));
    read_patients(&s).unwrap();
    read_patients(&s).unwrap();
    assert_eq!(
        tokens_issued(&client) - before,
        2,
        "one new token after the TTL"
    );
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_token_refused_after_a_provider_restart_is_refreshed_once_and_the_request_replayed() {
    let _one = provider_lock();
    let client = var("FHIR_SMART_RS384_CLIENT_ID");
    let s = smart(
        &client,
        &var("FHIR_SMART_RSA_KEY"),
        &var("FHIR_SMART_RSA_KID"),
    );
    read_patients(&s).unwrap();
    // The provider keeps tokens in memory: after a restart the cached token is inactive and
    // nginx answers 401 long before it expires. The keys stay (pki keeps them).
    restart_service("oidc");
    let before = tokens_issued(&client);
    read_patients(&s).unwrap();
    assert_eq!(
        tokens_issued(&client) - before,
        1,
        "one refresh after the 401"
    );
    let gateway =
        std::fs::read_to_string(format!("{}/gateway.log", var("FHIR_SERVICES_DIR"))).unwrap();
    let statuses: Vec<&str> = gateway
        .lines()
        .filter_map(|l| l.split("\"status\":").nth(1))
        .map(|rest| &rest[..3])
        .collect();
    assert_eq!(statuses, ["401", "200"], "refused once, then accepted");
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn discovery_from_the_base_url_and_a_server_without_smart_configuration() {
    let _one = provider_lock();
    let client = var("FHIR_SMART_RS384_CLIENT_ID");
    let (key, kid) = (var("FHIR_SMART_RSA_KEY"), var("FHIR_SMART_RSA_KID"));
    // HAPI itself publishes no SMART configuration.
    let s = FhirServer::new_smart_backend(&var("FHIR_HAPI_URL"), &client, &key, &options(&kid))
        .unwrap();
    let e = block_on(s.capabilities()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{}", e.message());
    assert!(
        e.message()
            .contains("/fhir/.well-known/smart-configuration")
            && e.message().contains("smart_token_url"),
        "{}",
        e.message()
    );
    // From an https base, the smart-configuration's http token endpoint is refused: no downgrade.
    let https = format!("{}/smart/fhir", var("FHIR_NGINX_HTTPS"));
    let s = FhirServer::new_smart_backend(&https, &client, &key, &options(&kid)).unwrap();
    let e = block_on(s.capabilities()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{}", e.message());
    assert!(
        e.message()
            .contains("http:// token_endpoint for an https:// server"),
        "{}",
        e.message()
    );
    // With the token endpoint given, the https base and /oidc/fhir (no SMART configuration) work.
    let mut o = options(&kid);
    o.set_smart_token_url(&var("FHIR_OIDC_TOKEN_URL")).unwrap();
    let s = FhirServer::new_smart_backend(&https, &client, &key, &o).unwrap();
    read_patients(&s).unwrap();
    let mut o = options(&kid);
    o.set_smart_token_url(&var("FHIR_OIDC_TOKEN_URL")).unwrap();
    let url = format!("{}/oidc/fhir", var("FHIR_NGINX_HTTPS"));
    let s = FhirServer::new_smart_backend(&url, &client, &key, &o).unwrap();
    read_patients(&s).unwrap();
    // from_env's SMART mode, discovering from the base URL.
    let env = [
        ("FHIR_API_URL", smart_base()),
        ("CLIENT_ID", var("FHIR_SMART_ES384_CLIENT_ID")),
        ("SMART_PRIVATE_KEY", var("FHIR_SMART_EC_KEY")),
        ("SMART_KEY_ID", var("FHIR_SMART_EC_KID")),
        ("SMART_SCOPE", "system/*.read".to_owned()),
    ];
    let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let mut o = Options::default();
    o.add_ca_file(&var("FHIR_TEST_CA")).unwrap();
    let s = FhirServer::from_env_with(get, false, &o).unwrap();
    read_patients(&s).unwrap();
    assert_eq!(block_on(s.granted_scope()).unwrap(), "system/*.read");
}
