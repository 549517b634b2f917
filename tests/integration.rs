//! Integration tests against the real services started by tests/servers/services.sh: HAPI FHIR
//! (JPA, H2), nginx (TLS with a test CA, basic / bearer / mTLS / OIDC-introspection locations, a
//! rate-limited 503 location, an always-503 location, a slow location), a real OpenID Connect
//! provider (oidc-provider) and tinyproxy.
//!
//! They are `#[ignore]`d so that a plain `cargo test` needs no services; `scripts/test-all.sh`
//! starts the services and runs them with `--ignored`. A missing variable or a stopped service
//! makes them fail, never skip.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{
    block_on, lines_containing, on_threads, provider_lock, restart_service, tokens_issued, var,
};
use fhir_kindling::Auth;
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};
use serde_json::{json, Value};

fn tls() -> Options {
    let mut o = Options::default();
    o.add_ca_file(&var("FHIR_TEST_CA")).unwrap();
    o
}

fn hapi() -> FhirServer {
    FhirServer::new(&var("FHIR_HAPI_URL"), Auth::None, &Options::default()).unwrap()
}

fn nginx(path: &str) -> String {
    format!("{}{path}", var("FHIR_NGINX_HTTPS"))
}

fn unique(tag: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("urn:it:{tag}:{n}")
}

fn caps(s: &FhirServer) -> fhir_kindling::Result<Vec<u8>> {
    block_on(s.capabilities())
}

fn patients(system: &str, n: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"resourceType": "Patient", "identifier": [{"system": system, "value": format!("{i}")}], "name": [{"family": format!("Family{i}"), "given": ["It"]}], "birthDate": format!("19{:02}-01-01", i % 100)}))
        .collect();
    serde_json::to_vec(&items).unwrap()
}

fn enc(system: &str) -> String {
    fhir_kindling::encode_search_value(&format!("{system}|"))
}

// ---------------------------------------------------------------- auth modes, for real

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn every_auth_mode_through_the_gateway() {
    let basic = FhirServer::new_basic(
        &nginx("/basic/fhir"),
        &var("FHIR_BASIC_USER"),
        &var("FHIR_BASIC_PASSWORD"),
        &tls(),
    )
    .unwrap();
    caps(&basic).unwrap();
    let wrong = FhirServer::new_basic(
        &nginx("/basic/fhir"),
        &var("FHIR_BASIC_USER"),
        "nope",
        &tls(),
    )
    .unwrap();
    let e = caps(&wrong).unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::Auth, Some(401)));

    let token =
        FhirServer::new_token(&nginx("/token/fhir"), &var("FHIR_STATIC_TOKEN"), &tls()).unwrap();
    caps(&token).unwrap();
    let wrong = FhirServer::new_token(&nginx("/token/fhir"), "other-token", &tls()).unwrap();
    assert_eq!(caps(&wrong).unwrap_err().kind(), ErrorKind::Auth);
    // No credentials at a protected location.
    let none = FhirServer::new(&nginx("/token/fhir"), Auth::None, &tls()).unwrap();
    assert_eq!(caps(&none).unwrap_err().status(), Some(401));

    let mut mtls = tls();
    mtls.set_client_cert(&var("FHIR_TEST_CLIENT_CERT"), &var("FHIR_TEST_CLIENT_KEY"))
        .unwrap();
    caps(&FhirServer::new(&nginx("/mtls/fhir"), Auth::None, &mtls).unwrap()).unwrap();
    let e = caps(&FhirServer::new(&nginx("/mtls/fhir"), Auth::None, &tls()).unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{}", e.message());
    let mut other = tls();
    other
        .set_client_cert(
            &var("FHIR_TEST_OTHER_CLIENT_CERT"),
            &var("FHIR_TEST_OTHER_CLIENT_KEY"),
        )
        .unwrap();
    let r = caps(&FhirServer::new(&nginx("/mtls/fhir"), Auth::None, &other).unwrap());
    assert!(
        r.is_err(),
        "a client certificate from another CA is refused"
    );
}

/// Over TLS the library offers HTTP/2 (ALPN) and the gateway speaks it: the direct path's
/// requests arrive as HTTP/2, several on one connection, gzip decoded; through the forward proxy
/// (reqwest's path, a CONNECT tunnel) they arrive too.
#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn https_requests_go_as_http2_directly_and_through_the_proxy() {
    let id = unique("h2");
    let mut o = tls();
    o.add_header("X-Test-Id", &id).unwrap();
    let s = FhirServer::new(&nginx("/fhir"), Auth::None, &o).unwrap();
    for _ in 0..3 {
        let body = caps(&s).unwrap();
        assert!(body.starts_with(b"{"), "decoded JSON");
    }
    let log = std::fs::read_to_string(var("FHIR_NGINX_ACCESS_LOG")).unwrap();
    let ours: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    assert_eq!(ours.len(), 3, "{ours:#?}");
    assert!(
        ours.iter().all(|l| l.contains(" HTTP/2.0\" 200 ")),
        "{ours:#?}"
    );

    let proxied_id = unique("h2-proxied");
    let mut p = tls();
    p.add_header("X-Test-Id", &proxied_id).unwrap();
    p.set_proxy("https", &var("FHIR_PROXY_URL")).unwrap();
    let s = FhirServer::new(&nginx("/fhir"), Auth::None, &p).unwrap();
    caps(&s).unwrap();
    let log = std::fs::read_to_string(var("FHIR_NGINX_ACCESS_LOG")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains(&proxied_id)).count(), 1);
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn tls_is_verified_by_default() {
    let e = caps(&FhirServer::new(&nginx("/fhir"), Auth::None, &Options::default()).unwrap())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{}", e.message());
    let mut wrong_ca = Options::default();
    wrong_ca.add_ca_file(&var("FHIR_TEST_OTHER_CA")).unwrap();
    assert_eq!(
        caps(&FhirServer::new(&nginx("/fhir"), Auth::None, &wrong_ca).unwrap())
            .unwrap_err()
            .kind(),
        ErrorKind::Tls
    );
    let mut insecure = Options::default();
    insecure.set_insecure_skip_verify(true).unwrap();
    caps(&FhirServer::new(&nginx("/fhir"), Auth::None, &insecure).unwrap()).unwrap();
    caps(&FhirServer::new(&nginx("/fhir"), Auth::None, &tls()).unwrap()).unwrap();
}

// ---------------------------------------------------------------- OIDC against oidc-provider

/// The OIDC tests run one at a time: one of them restarts the provider.
#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn oidc_tokens_are_fetched_cached_refreshed_and_introspected() {
    let _one_at_a_time = provider_lock();
    let client = var("FHIR_OIDC_CLIENT_ID");
    let ttl: u64 = var("FHIR_OIDC_TOKEN_TTL").parse().unwrap();
    // Discovery from the issuer URL.
    let s = std::sync::Arc::new(
        FhirServer::new_oidc(
            &nginx("/oidc/fhir"),
            &client,
            &var("FHIR_OIDC_CLIENT_SECRET"),
            &var("FHIR_OIDC_ISSUER"),
            &tls(),
        )
        .unwrap(),
    );
    let before = tokens_issued(&client);
    let checks_before = lines_containing(
        &format!("{}/gateway.log", var("FHIR_SERVICES_DIR")),
        "\"active\":true,\"client_id\":\"fhir-client\"",
    );
    on_threads(&s, 6, 3, |s| {
        caps(s).unwrap();
    });
    assert_eq!(
        tokens_issued(&client) - before,
        1,
        "18 requests from 6 threads, one token"
    );
    // The gateway introspected every request's token with the provider: active, our client.
    let checks = lines_containing(
        &format!("{}/gateway.log", var("FHIR_SERVICES_DIR")),
        "\"active\":true,\"client_id\":\"fhir-client\"",
    );
    assert!(
        checks - checks_before >= 18,
        "{} introspections",
        checks - checks_before
    );

    // After the lifetime, the cached token is refreshed before use (no 401 round trip needed).
    std::thread::sleep(Duration::from_secs(ttl + 1));
    caps(&s).unwrap();
    assert_eq!(tokens_issued(&client) - before, 2);
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn oidc_client_secret_post_and_direct_token_endpoint() {
    let _one_at_a_time = provider_lock();
    let mut o = tls();
    o.set_oidc_auth_method("client_secret_post").unwrap();
    let s = FhirServer::new_oidc(
        &nginx("/oidc/fhir"),
        &var("FHIR_OIDC_POST_CLIENT_ID"),
        &var("FHIR_OIDC_POST_CLIENT_SECRET"),
        &var("FHIR_OIDC_TOKEN_URL"),
        &o,
    )
    .unwrap();
    caps(&s).unwrap();
    // The provider enforces each client's registered method: basic for the post client fails.
    let s = FhirServer::new_oidc(
        &nginx("/oidc/fhir"),
        &var("FHIR_OIDC_POST_CLIENT_ID"),
        &var("FHIR_OIDC_POST_CLIENT_SECRET"),
        &var("FHIR_OIDC_TOKEN_URL"),
        &tls(),
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.message().contains("invalid_client"), "{}", e.message());
    assert!(!e.message().contains(&var("FHIR_OIDC_POST_CLIENT_SECRET")));
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_token_the_provider_no_longer_knows_is_refreshed_once_and_the_request_replayed() {
    let _one_at_a_time = provider_lock();
    let s = FhirServer::new_oidc(
        &nginx("/oidc/fhir"),
        &var("FHIR_OIDC_CLIENT_ID"),
        &var("FHIR_OIDC_CLIENT_SECRET"),
        &var("FHIR_OIDC_ISSUER"),
        &tls(),
    )
    .unwrap();
    let client = var("FHIR_OIDC_CLIENT_ID");
    let before = tokens_issued(&client);
    caps(&s).unwrap();
    assert_eq!(tokens_issued(&client) - before, 1);
    // The provider keeps tokens in memory: after a restart the cached token is unknown to it, the
    // gateway's introspection answers inactive and nginx says 401 — long before the token expires.
    restart_service("oidc");
    let gateway_log = format!("{}/gateway.log", var("FHIR_SERVICES_DIR"));
    // The restarted provider may have started a new token log: count from here.
    let before = tokens_issued(&client);
    caps(&s).unwrap();
    assert_eq!(
        tokens_issued(&client) - before,
        1,
        "one refresh after the 401"
    );
    let log = std::fs::read_to_string(&gateway_log).unwrap();
    let statuses: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("\"status\":").nth(1))
        .map(|rest| &rest[..3])
        .collect();
    assert_eq!(
        statuses,
        ["401", "200"],
        "refused once, then accepted with the new token"
    );
}

// ---------------------------------------------------------------- proxy

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn requests_go_through_the_real_proxy() {
    let log = var("FHIR_PROXY_LOG");
    let marker = unique("proxy").replace([':', '.'], "-");
    let mut o = tls();
    o.set_proxy("all", &var("FHIR_PROXY_URL")).unwrap();
    o.add_header("X-Marker", &marker).unwrap();
    // Plain HTTP: tinyproxy logs the absolute request line.
    let http =
        FhirServer::new(&format!("{}/fhir", var("FHIR_NGINX_HTTP")), Auth::None, &o).unwrap();
    let path = format!("Patient?identifier={marker}");
    block_on(http.search_first(&path)).unwrap();
    // HTTPS: tunnelled with CONNECT.
    let https = FhirServer::new(&nginx("/fhir"), Auth::None, &o).unwrap();
    caps(&https).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&marker),
        "tinyproxy log shows the plain-HTTP request"
    );
    assert!(
        text.contains("CONNECT")
            && text.contains(var("FHIR_NGINX_HTTPS").trim_start_matches("https://")),
        "tinyproxy log shows the CONNECT tunnel"
    );

    let mut bad = tls();
    bad.set_proxy("all", "http://127.0.0.1:9").unwrap();
    let e = caps(&FhirServer::new(&nginx("/fhir"), Auth::None, &bad).unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Proxy, "{}", e.message());
}

// ---------------------------------------------------------------- retries, timeouts

fn access_hits(path: &str) -> usize {
    lines_containing(&var("FHIR_NGINX_ACCESS_LOG"), path)
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn retry_against_real_503s() {
    // Rate-limited location: the second quick request gets a real 503, a retry 1 s later passes.
    let mut o = tls();
    o.set_retry_status_codes(&[503]).unwrap();
    o.set_retry_backoff_factor(0.6).unwrap();
    o.set_retry_jitter(0.0).unwrap();
    let s = FhirServer::new(&nginx("/flaky/fhir"), Auth::None, &o).unwrap();
    let marker = unique("flaky").replace([':', '.'], "-");
    let before = access_hits(&marker);
    for _ in 0..3 {
        block_on(s.search_first(&format!("Patient?_id={marker}"))).unwrap();
    }
    let hits = access_hits(&marker) - before;
    assert!(
        hits > 3,
        "some requests were refused with 503 and retried: {hits} hits for 3 calls"
    );

    // Always 503 with Retry-After: 1, capped at 0.3 s: exactly max_attempts tries, then the error.
    let mut o = tls();
    o.set_retry_status_codes(&[503]).unwrap();
    o.set_retry_max_attempts(3).unwrap();
    o.set_retry_max_backoff_wait(0.3).unwrap();
    let s = FhirServer::new(&var("FHIR_UNAVAILABLE_URL"), Auth::None, &o).unwrap();
    let before = access_hits("/unavailable/");
    let t = Instant::now();
    let e = caps(&s).unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::HttpStatus, Some(503)));
    assert!(
        e.body().is_some_and(|b| b.starts_with(b"{")),
        "OperationOutcome body kept"
    );
    assert!(e.message().contains("after 3 attempts"), "{}", e.message());
    assert!(
        t.elapsed() >= Duration::from_millis(590) && t.elapsed() < Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(access_hits("/unavailable/") - before, 3);

    // Without retry settings: one request.
    let s = FhirServer::new(&var("FHIR_UNAVAILABLE_URL"), Auth::None, &tls()).unwrap();
    let before = access_hits("/unavailable/");
    caps(&s).unwrap_err();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(access_hits("/unavailable/") - before, 1);
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_slow_server_times_out() {
    let mut o = tls();
    o.set_timeout_ms(800).unwrap();
    let s = FhirServer::new(&var("FHIR_SLOW_URL"), Auth::None, &o).unwrap();
    let t = Instant::now();
    let e = block_on(s.request("GET", "anything", None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{}", e.message());
    assert!(t.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------- operations on HAPI

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn upload_1000_in_a_transaction_and_read_them_back() {
    let s = hapi();
    let system = unique("bulk");
    let out = block_on(s.create_all(&patients(&system, 1000), 1000)).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["batches"], 1);
    let created: Vec<String> = v["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), 1000);
    let refs: Vec<&str> = created.iter().map(String::as_str).collect();
    let back = block_on(s.read_many(&refs)).unwrap();
    let back: Vec<Value> = serde_json::from_slice(&back).unwrap();
    assert_eq!(back.len(), 1000);
    for (i, item) in back.iter().enumerate() {
        assert_eq!(item["status"], 200, "{item}");
        assert_eq!(item["reference"], created[i]);
        // Input order is kept: item i is the patient with identifier value i.
        assert_eq!(item["resource"]["identifier"][0]["value"], format!("{i}"));
        assert_eq!(item["resource"]["identifier"][0]["system"], system);
    }
    assert_eq!(
        block_on(s.search_count(&format!("Patient?identifier={}", enc(&system)))).unwrap(),
        1000
    );
    // No clean-up: the server's database is in memory and thrown away; a unique system per run
    // keeps tests apart (HAPI takes over a minute to conditionally delete 1,000 resources).
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn paging_through_1200_resources_every_mode() {
    let s = hapi();
    let system = unique("paging");
    let out = block_on(s.create_all(&patients(&system, 1200), 0)).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["batches"], 3, "1200 in batches of 500");
    let created: HashSet<String> = v["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), 1200);
    let q = format!("Patient?identifier={}&_count=100", enc(&system));

    let all = block_on(s.search_all(&q)).unwrap();
    let all: Value = serde_json::from_slice(&all).unwrap();
    assert_eq!(all["total"], 1200);
    let got: HashSet<String> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("Patient/{}", e["resource"]["id"].as_str().unwrap()))
        .collect();
    assert_eq!(got, created);

    let limited: Value =
        serde_json::from_slice(&block_on(s.search_limit(&q, 250)).unwrap()).unwrap();
    assert_eq!(limited["entry"].as_array().unwrap().len(), 250);

    let first: Value = serde_json::from_slice(&block_on(s.search_first(&q)).unwrap()).unwrap();
    assert_eq!(first["entry"].as_array().unwrap().len(), 100);
    assert!(first["link"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["relation"] == "next"));

    let mut pages = 0;
    let mut seen = 0;
    let next = common::stream_pages(&s, &q, |p| {
        pages += 1;
        seen += serde_json::from_slice::<Value>(p).unwrap()["entry"]
            .as_array()
            .map_or(0, |e| e.len());
        true
    })
    .unwrap();
    assert_eq!((pages, seen, next), (12, 1200, None));

    // Stop after 5 resources, then resume from the returned URL.
    let mut n = 0;
    let resume = common::stream_resources(&s, &q, |_, _| {
        n += 1;
        n < 5
    })
    .unwrap()
    .expect("a next page");
    let mut rest = 0;
    common::stream_resources(&s, &resume, |_, mode| {
        assert_eq!(mode, "match");
        rest += 1;
        true
    })
    .unwrap();
    assert_eq!(rest, 1100, "resuming continues at the second page");
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn paging_through_the_gateway_with_basic_auth_over_tls() {
    let s = hapi();
    let system = unique("gateway");
    block_on(s.create_all(&patients(&system, 230), 0)).unwrap();
    let q = format!("Patient?identifier={}&_count=50", enc(&system));
    // HAPI's next links point back through nginx (X-Forwarded-*), so credentials go along.
    let gw = FhirServer::new_basic(
        &nginx("/basic/fhir"),
        &var("FHIR_BASIC_USER"),
        &var("FHIR_BASIC_PASSWORD"),
        &tls(),
    )
    .unwrap();
    let via: Value = serde_json::from_slice(&block_on(gw.search_all(&q)).unwrap()).unwrap();
    assert_eq!(via["total"], 230);
    assert_eq!(via["entry"].as_array().unwrap().len(), 230);
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn crud_history_operations_and_summary() {
    let s = hapi();
    let system = unique("crud");
    let p = json!({"resourceType": "Patient", "identifier": [{"system": system, "value": "1"}], "name": [{"family": "Crud"}]}).to_string();
    let cond = format!("identifier={}1", enc(&system));
    let created: Value =
        serde_json::from_slice(&block_on(s.create(p.as_bytes(), Some(&cond))).unwrap()).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["meta"]["versionId"], "1");
    // Conditional create again: the existing one comes back, nothing new.
    let again: Value =
        serde_json::from_slice(&block_on(s.create(p.as_bytes(), Some(&cond))).unwrap()).unwrap();
    assert_eq!(again["id"], id.as_str());

    let upd = json!({"resourceType": "Patient", "id": id, "identifier": [{"system": system, "value": "1"}], "name": [{"family": "Crud2"}]}).to_string();
    let u: Value =
        serde_json::from_slice(&block_on(s.update(upd.as_bytes(), Some("1"))).unwrap()).unwrap();
    assert_eq!(u["meta"]["versionId"], "2");
    let e = block_on(s.update(upd.as_bytes(), Some("1"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{}", e.message());
    let v1: Value =
        serde_json::from_slice(&block_on(s.read(&format!("Patient/{id}/_history/1"))).unwrap())
            .unwrap();
    assert_eq!(v1["name"][0]["family"], "Crud");

    let cu = json!({"resourceType": "Patient", "identifier": [{"system": system, "value": "1"}], "name": [{"family": "Crud3"}]}).to_string();
    let c: Value =
        serde_json::from_slice(&block_on(s.update_conditional(cu.as_bytes(), &cond)).unwrap())
            .unwrap();
    assert_eq!(
        (c["id"].as_str(), c["meta"]["versionId"].as_str()),
        (Some(id.as_str()), Some("3"))
    );

    let hist: Value =
        serde_json::from_slice(&block_on(s.history(&format!("Patient/{id}"), 0)).unwrap()).unwrap();
    assert_eq!(hist["type"], "history");
    assert_eq!(hist["total"], 3);

    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, "subject": {"reference": format!("Patient/{id}")}, "valueQuantity": {"value": 72, "unit": "/min"}}).to_string();
    let o: Value =
        serde_json::from_slice(&block_on(s.create(obs.as_bytes(), None)).unwrap()).unwrap();
    let everything: Value = serde_json::from_slice(
        &block_on(s.operation(&format!("Patient/{id}"), "$everything", "GET", None)).unwrap(),
    )
    .unwrap();
    let types: HashSet<&str> = everything["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains("Patient") && types.contains("Observation"),
        "{types:?}"
    );

    // _include / _revinclude / _has through the builder.
    let mut q = fhir_kindling::Query::new("Patient").unwrap();
    q.where_("identifier", None, &format!("{system}|1"))
        .unwrap();
    q.revinclude("Observation:subject", false).unwrap();
    q.has("Observation:patient:code", "http://loinc.org|8867-4")
        .unwrap();
    let r: Value = serde_json::from_slice(&block_on(s.search_all(&q.build())).unwrap()).unwrap();
    assert_eq!(r["total"], 1);
    let modes: Vec<&str> = r["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["search"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["match", "include"]);

    let summary: Value = serde_json::from_slice(&block_on(s.summary()).unwrap()).unwrap();
    assert!(summary["resources"]["Patient"].as_u64().unwrap() >= 1);
    assert!(summary["resources"]["Observation"].as_u64().unwrap() >= 1);

    let obs_ref = format!("Observation/{}", o["id"].as_str().unwrap());
    let del: Value = serde_json::from_slice(
        &block_on(s.delete_many(&[obs_ref.as_str(), &format!("Patient/{id}")])).unwrap(),
    )
    .unwrap();
    assert!(
        del[0]["status"].as_u64().unwrap() < 300 && del[1]["status"].as_u64().unwrap() < 300,
        "{del}"
    );
    assert_eq!(
        block_on(s.read(&format!("Patient/{id}")))
            .unwrap_err()
            .kind(),
        ErrorKind::Gone
    );
    let many: Value = serde_json::from_slice(
        &block_on(s.read_many(&[&format!("Patient/{id}"), "Patient/never-existed-x"])).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (many[0]["status"].as_u64(), many[1]["status"].as_u64()),
        (Some(410), Some(404))
    );
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn a_failed_transaction_reports_the_outcome() {
    let s = hapi();
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "NotAResourceType"}, "request": {"method": "POST", "url": "NotAResourceType"}}
    ]})
    .to_string();
    let e = block_on(s.send_bundle(bad.as_bytes())).unwrap_err();
    assert!(
        e.status().is_some_and(|st| (400..500).contains(&st)),
        "{e:?}"
    );
    let body: Value = serde_json::from_slice(e.body().unwrap()).unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");

    let system = unique("fail");
    let mut items: Vec<Value> = serde_json::from_slice(&patients(&system, 5)).unwrap();
    items[3] = json!({"resourceType": "NotAResourceType"});
    let e = block_on(s.create_all(&serde_json::to_vec(&items).unwrap(), 2)).unwrap_err();
    common::assert_create_all_failure(e.message(), "batch 2 of 3 (input items 2..3)", 2);
    assert_eq!(
        block_on(s.search_count(&format!("Patient?identifier={}", enc(&system)))).unwrap(),
        2
    );
    // Clean up with one batch of deletes (servers differ on conditional deletes of several).
    let found: Value = serde_json::from_slice(
        &block_on(s.search_all(&format!("Patient?identifier={}", enc(&system)))).unwrap(),
    )
    .unwrap();
    let refs: Vec<String> = found["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("Patient/{}", e["resource"]["id"].as_str().unwrap()))
        .collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let deleted: Value = serde_json::from_slice(&block_on(s.delete_many(&refs)).unwrap()).unwrap();
    assert!(deleted
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"].as_u64().is_some_and(|st| st < 300)));
    assert_eq!(
        block_on(s.search_count(&format!("Patient?identifier={}", enc(&system)))).unwrap(),
        0
    );
}
