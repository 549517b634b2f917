//! Wire details of the FHIR operations, pinned with httpmock: request lines, headers, bodies,
//! paging links of each form, the loop and origin guards, batch splitting, error mapping.

mod common;

use fhir_kindling::auth::Auth;
use fhir_kindling::error::Code;
use fhir_kindling::runtime::block_on;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;
use serde_json::{json, Value};

fn server(mock: &MockServer) -> FhirServer {
    FhirServer::new(&mock.url("/fhir"), Auth::None, &Options::default()).unwrap()
}

fn page(ids: &[&str], next: Option<&str>) -> String {
    let entries: Vec<Value> = ids
        .iter()
        .map(|id| json!({"fullUrl": format!("http://x/fhir/Patient/{id}"), "resource": {"resourceType": "Patient", "id": id}, "search": {"mode": "match"}}))
        .collect();
    let mut links = vec![json!({"relation": "self", "url": "s"})];
    if let Some(n) = next {
        links.push(json!({"relation": "next", "url": n}));
    }
    json!({"resourceType": "Bundle", "type": "searchset", "total": 5, "link": links, "entry": entries}).to_string()
}

fn ids(bundle: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(bundle).unwrap();
    v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn read_plain_and_versioned_and_error_codes() {
    let mock = MockServer::start();
    let m = mock.mock(|when, then| {
        when.method(GET).path("/fhir/Patient/1");
        then.status(200)
            .body(r#"{"resourceType":"Patient","id":"1"}"#);
    });
    let v = mock.mock(|when, then| {
        when.method(GET).path("/fhir/Patient/1/_history/2");
        then.status(200)
            .body(r#"{"resourceType":"Patient","id":"1","meta":{"versionId":"2"}}"#);
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient/404");
        then.status(404).body(r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"no such"}]}"#);
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient/410");
        then.status(410)
            .body(r#"{"resourceType":"OperationOutcome"}"#);
    });
    let s = server(&mock);
    assert_eq!(
        &block_on(s.read("Patient/1")).unwrap().unwrap()[..],
        br#"{"resourceType":"Patient","id":"1"}"#
    );
    block_on(s.read("Patient/1/_history/2")).unwrap().unwrap();
    m.assert();
    v.assert();
    let e = block_on(s.read("Patient/404")).unwrap().unwrap_err();
    assert_eq!((e.code, e.status), (Code::FHIR_ERR_NOT_FOUND, Some(404)));
    assert!(e.body.is_some());
    assert_eq!(
        block_on(s.read("Patient/410")).unwrap().unwrap_err().code,
        Code::FHIR_ERR_GONE
    );
    assert_eq!(
        block_on(s.read("Patient/a b")).unwrap().unwrap_err().code,
        Code::FHIR_ERR_INVALID_ARGUMENT
    );
}

#[test]
fn paging_follows_absolute_host_relative_and_base_relative_links() {
    let mock = MockServer::start();
    let abs = format!("{}/fhir?_getpages=abc&_getpagesoffset=2", mock.base_url());
    mock.mock(|when, then| {
        when.method(GET)
            .path("/fhir/Patient")
            .query_param("_count", "2");
        then.status(200).body(page(&["1", "2"], Some(&abs)));
    });
    mock.mock(|when, then| {
        when.path("/fhir").query_param("_getpages", "abc");
        then.status(200)
            .body(page(&["3", "4"], Some("/fhir/Patient?page=3")));
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "3");
        then.status(200).body(page(&["5"], Some("Patient?page=4")));
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "4");
        then.status(200).body(page(&["6"], None));
    });
    let s = server(&mock);
    let all = block_on(s.search_all("Patient?_count=2")).unwrap().unwrap();
    assert_eq!(ids(&all), ["1", "2", "3", "4", "5", "6"]);
    let v: Value = serde_json::from_slice(&all).unwrap();
    assert_eq!(v["type"], "searchset");
    assert_eq!(v["total"], 6);
    assert_eq!(v["entry"][0]["search"]["mode"], "match");
}

#[test]
fn a_repeated_next_link_stops_with_a_paging_error() {
    let mock = MockServer::start();
    let again = mock.url("/fhir/Patient?page=2");
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "2");
        then.status(200).body(page(&["2"], Some(&again)));
    });
    let m1 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("name", "x");
        then.status(200).body(page(&["1"], Some(&again)));
    });
    let s = server(&mock);
    let e = block_on(s.search_all("Patient?name=x"))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_PAGING);
    assert!(e.message.contains("repeats"), "{}", e.message);
    m1.assert_hits(1);
}

#[test]
fn a_next_link_to_another_origin_is_refused_by_default() {
    let mock = MockServer::start();
    let other = MockServer::start();
    let foreign = other.mock(|when, then| {
        when.path("/fhir/Patient");
        then.status(200).body(page(&["9"], None));
    });
    let next = other.url("/fhir/Patient?page=2");
    mock.mock(|when, then| {
        when.path("/fhir/Patient");
        then.status(200).body(page(&["1"], Some(&next)));
    });
    let s = FhirServer::new_token(&mock.url("/fhir"), "secret-token", &Options::default()).unwrap();
    let e = block_on(s.search_all("Patient")).unwrap().unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_PAGING);
    assert!(e.message.contains("another server"), "{}", e.message);
    foreign.assert_hits(0);

    // Allowed explicitly: followed, but without the credentials and without the caller's
    // headers (recorded by a scripted server, which sees every header as sent).
    let recorder = common::Scripted::start(vec![common::Reply::new(200, &page(&["9"], None))]);
    let next = format!("{}/fhir/Patient?page=2", recorder.base);
    let home = MockServer::start();
    let first = home.mock(|when, then| {
        when.path("/fhir/Patient")
            .header("authorization", "Bearer secret-token")
            .header("x-api-key", "api-secret");
        then.status(200).body(page(&["1"], Some(&next)));
    });
    let mut o = Options {
        allow_foreign_links: true,
        ..Default::default()
    };
    o.add_header("X-Api-Key", "api-secret").unwrap();
    let s = FhirServer::new_token(&home.url("/fhir"), "secret-token", &o).unwrap();
    let all = block_on(s.search_all("Patient")).unwrap().unwrap();
    assert_eq!(ids(&all), ["1", "9"]);
    first.assert();
    let seen = recorder.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/fhir/Patient?page=2");
    assert!(
        seen[0].header("authorization").is_none(),
        "{:?}",
        seen[0].headers
    );
    assert!(
        seen[0].header("x-api-key").is_none(),
        "{:?}",
        seen[0].headers
    );
}

#[test]
fn query_only_links_are_relative_to_the_page_and_schemes_are_case_insensitive() {
    let mock = MockServer::start();
    let upper = mock
        .url("/fhir/Patient?page=3")
        .replacen("http://", "HTTP://", 1);
    let p3 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "3");
        then.status(200).body(page(&["3"], None));
    });
    let p2 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "2");
        then.status(200).body(page(&["2"], Some(&upper)));
    });
    let p1 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("name", "q");
        then.status(200).body(page(&["1"], Some("?page=2")));
    });
    let all = block_on(server(&mock).search_all("Patient?name=q"))
        .unwrap()
        .unwrap();
    assert_eq!(ids(&all), ["1", "2", "3"]);
    p1.assert();
    p2.assert();
    p3.assert();
}

#[test]
fn stopping_on_a_page_whose_next_link_is_refused_reports_it() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.path("/fhir/Patient");
        then.status(200).body(page(
            &["1"],
            Some("http://elsewhere.invalid/fhir/Patient?page=2"),
        ));
    });
    let s = server(&mock);
    let e = s.stream_pages("Patient", |_| false).unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_PAGING);
}

#[test]
fn limit_stops_fetching_and_sets_count() {
    let mock = MockServer::start();
    let p2 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "2");
        then.status(200)
            .body(page(&["3", "4"], Some("Patient?page=3")));
    });
    let p3 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "3");
        then.status(200).body(page(&["5"], None));
    });
    let p1 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("_count", "3");
        then.status(200)
            .body(page(&["1", "2"], Some("Patient?page=2")));
    });
    let s = server(&mock);
    let out = block_on(s.search_limit("Patient", 3)).unwrap().unwrap();
    assert_eq!(ids(&out), ["1", "2", "3"]);
    p1.assert_hits(1);
    p2.assert_hits(1);
    p3.assert_hits(0);
}

#[test]
fn first_and_count() {
    let mock = MockServer::start();
    let c = mock.mock(|when, then| {
        when.path("/fhir/Observation")
            .query_param("code", "x")
            .query_param("_summary", "count")
            .matches(|r| {
                !r.query_params
                    .as_ref()
                    .unwrap()
                    .iter()
                    .any(|(k, _)| k == "_count")
            });
        then.status(200)
            .body(r#"{"resourceType":"Bundle","type":"searchset","total":1234}"#);
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient");
        then.status(200).body(page(&["1"], Some("Patient?page=2")));
    });
    let s = server(&mock);
    assert_eq!(
        block_on(s.search_count("Observation?code=x&_count=10"))
            .unwrap()
            .unwrap(),
        1234
    );
    c.assert();
    let first = block_on(s.search_first("Patient")).unwrap().unwrap();
    assert_eq!(ids(&first), ["1"]);
}

#[test]
fn non_bundle_search_answers_are_protocol_errors() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.path("/fhir/Patient");
        then.status(200)
            .body(r#"{"resourceType":"Patient","id":"1"}"#);
    });
    let e = block_on(server(&mock).search_all("Patient"))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_PROTOCOL);
}

#[test]
fn streaming_hands_over_pages_and_can_stop_and_resume() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "2");
        then.status(200)
            .body(page(&["3", "4"], Some("Patient?page=3")));
    });
    let p3 = mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("page", "3");
        then.status(200).body(page(&["5"], None));
    });
    mock.mock(|when, then| {
        when.path("/fhir/Patient").query_param("name", "a");
        then.status(200)
            .body(page(&["1", "2"], Some("Patient?page=2")));
    });
    let s = server(&mock);
    let mut seen = Vec::new();
    let next = s
        .stream_pages("Patient?name=a", |p| {
            seen.extend(ids(p));
            seen.len() < 4
        })
        .unwrap();
    assert_eq!(seen, ["1", "2", "3", "4"]);
    assert_eq!(
        next.as_deref(),
        Some(mock.url("/fhir/Patient?page=3").as_str())
    );
    p3.assert_hits(0);
    // Resume from the returned URL.
    let mut rest = Vec::new();
    let end = s
        .stream_resources(&next.unwrap(), |r, mode| {
            assert_eq!(mode, "match");
            rest.push(
                serde_json::from_str::<Value>(r).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            true
        })
        .unwrap();
    assert_eq!(rest, ["5"]);
    assert!(end.is_none());
}

#[test]
fn create_asks_for_the_representation_and_falls_back_to_location() {
    let mock = MockServer::start();
    let c = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir/Patient")
            .header("prefer", "return=representation")
            .header("content-type", "application/fhir+json")
            .header("if-none-exist", "identifier=sys%7C1")
            .body(r#"{"resourceType":"Patient","identifier":[{"system":"sys","value":"1"}]}"#);
        then.status(201)
            .header(
                "location",
                format!("{}/fhir/Patient/7/_history/1", "http://ignored"),
            )
            .body("");
    });
    let r = mock.mock(|when, then| {
        when.method(GET).path("/fhir/Patient/7/_history/1");
        then.status(200)
            .body(r#"{"resourceType":"Patient","id":"7","meta":{"versionId":"1"}}"#);
    });
    let s = server(&mock);
    let out = block_on(s.create(
        br#"{"resourceType":"Patient","identifier":[{"system":"sys","value":"1"}]}"#,
        Some("identifier=sys%7C1"),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        &out[..],
        br#"{"resourceType":"Patient","id":"7","meta":{"versionId":"1"}}"#
    );
    c.assert();
    r.assert();
    let e = block_on(s.create(br#"{"id":"x"}"#, None))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_INVALID_ARGUMENT);
    let e = block_on(s.create(b"{oops", None)).unwrap().unwrap_err();
    assert_eq!(e.code, Code::FHIR_ERR_JSON);
}

#[test]
fn update_with_version_check_and_conditional_forms() {
    let mock = MockServer::start();
    let u = mock.mock(|when, then| {
        when.method(PUT)
            .path("/fhir/Patient/5")
            .header("if-match", "W/\"3\"")
            .header("prefer", "return=representation");
        then.status(200)
            .body(r#"{"resourceType":"Patient","id":"5","meta":{"versionId":"4"}}"#);
    });
    let conflict = mock.mock(|when, then| {
        when.method(PUT).path("/fhir/Patient/5").header("if-match", "W/\"2\"");
        then.status(412).body(r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","diagnostics":"version mismatch"}]}"#);
    });
    let cu = mock.mock(|when, then| {
        when.method(PUT)
            .path("/fhir/Patient")
            .query_param("identifier", "sys|9");
        then.status(201)
            .body(r#"{"resourceType":"Patient","id":"10"}"#);
    });
    let cd = mock.mock(|when, then| {
        when.method(DELETE)
            .path("/fhir/Patient")
            .query_param("identifier", "sys|9");
        then.status(204);
    });
    let d = mock.mock(|when, then| {
        when.method(DELETE).path("/fhir/Patient/5");
        then.status(200)
            .body(r#"{"resourceType":"OperationOutcome"}"#);
    });
    let s = server(&mock);
    let body = br#"{"resourceType":"Patient","id":"5"}"#;
    block_on(s.update(body, Some("3"))).unwrap().unwrap();
    u.assert();
    let e = block_on(s.update(body, Some("W/\"2\"")))
        .unwrap()
        .unwrap_err();
    assert_eq!((e.code, e.status), (Code::FHIR_ERR_CONFLICT, Some(412)));
    conflict.assert();
    assert_eq!(
        block_on(s.update(br#"{"resourceType":"Patient"}"#, None))
            .unwrap()
            .unwrap_err()
            .code,
        Code::FHIR_ERR_INVALID_ARGUMENT
    );
    block_on(s.update_conditional(
        br#"{"resourceType":"Patient"}"#,
        "Patient?identifier=sys%7C9",
    ))
    .unwrap()
    .unwrap();
    cu.assert();
    block_on(s.delete_by_query("Patient?identifier=sys%7C9"))
        .unwrap()
        .unwrap();
    cd.assert();
    assert_eq!(
        block_on(s.delete_by_query("Patient"))
            .unwrap()
            .unwrap_err()
            .code,
        Code::FHIR_ERR_INVALID_ARGUMENT
    );
    block_on(s.delete("Patient/5")).unwrap().unwrap();
    d.assert();
}

fn batch_answer(n: usize) -> String {
    let entries: Vec<Value> = (0..n)
        .map(|i| json!({"response": {"status": "201 Created", "location": format!("Patient/{}/_history/1", 100 + i)}}))
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}).to_string()
}

#[test]
fn create_all_splits_into_transactions_and_keeps_input_order() {
    let mock = MockServer::start();
    let full = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"type\":\"transaction\"")
            .matches(|r| {
                let v: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
                let e = v["entry"].as_array().unwrap();
                e.len() == 2
                    && e.iter().all(|x| {
                        x["request"]["method"] == "POST"
                            && x["request"]["url"] == "Patient"
                            && x["fullUrl"].as_str().unwrap().starts_with("urn:uuid:")
                    })
            });
        then.status(200).body(batch_answer(2));
    });
    let last = mock.mock(|when, then| {
        when.method(POST).path("/fhir").matches(|r| {
            let v: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
            v["entry"].as_array().unwrap().len() == 1
        });
        then.status(200).body(batch_answer(1));
    });
    let s = server(&mock);
    let input = br#"[{"resourceType":"Patient","id":"a"},{"resourceType":"Patient"},{"resourceType":"Patient"},{"resourceType":"Patient"},{"resourceType":"Patient"}]"#;
    let out = block_on(s.create_all(input, 2)).unwrap().unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["batches"], 3);
    assert_eq!(
        v["created"],
        json!([
            "Patient/100",
            "Patient/101",
            "Patient/100",
            "Patient/101",
            "Patient/100"
        ])
    );
    full.assert_hits(2);
    last.assert_hits(1);
}

#[test]
fn create_all_failure_names_the_batch_and_keeps_the_outcome() {
    let mock = MockServer::start();
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"bad gender"}]}"#;
    mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"gender\":\"x\"");
        then.status(400).body(oo);
    });
    mock.mock(|when, then| {
        when.method(POST).path("/fhir");
        then.status(200).body(batch_answer(2));
    });
    let s = server(&mock);
    let input = br#"[{"resourceType":"Patient"},{"resourceType":"Patient"},{"resourceType":"Patient","gender":"x"}]"#;
    let e = block_on(s.create_all(input, 2)).unwrap().unwrap_err();
    assert_eq!(e.status, Some(400));
    assert!(
        e.message.contains("batch 2 of 2 (input items 2..2)"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("2 items in earlier batches were committed"),
        "{}",
        e.message
    );
    assert!(e.message.contains("bad gender"));
    assert_eq!(e.body.as_deref(), Some(oo.as_bytes()));
}

#[test]
fn read_many_and_delete_many_keep_the_callers_order_and_report_per_entry() {
    let mock = MockServer::start();
    let b = mock.mock(|when, then| {
        when.method(POST).path("/fhir").matches(|r| {
            let v: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
            v["type"] == "batch" && v["entry"][0]["request"] == json!({"method": "GET", "url": "Patient/1"}) && v["entry"][1]["request"]["url"] == "Patient/missing"
        });
        then.status(200).body(
            json!({"resourceType": "Bundle", "type": "batch-response", "entry": [
                {"resource": {"resourceType": "Patient", "id": "1"}, "response": {"status": "200 OK"}},
                {"response": {"status": "404 Not Found", "outcome": {"resourceType": "OperationOutcome"}}}
            ]})
            .to_string(),
        );
    });
    let s = server(&mock);
    let out = block_on(s.read_many(&["Patient/1", "Patient/missing"]))
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["status"], 200);
    assert_eq!(v[0]["resource"]["id"], "1");
    assert_eq!(v[1]["reference"], "Patient/missing");
    assert_eq!(v[1]["status"], 404);
    assert_eq!(v[1]["outcome"]["resourceType"], "OperationOutcome");
    b.assert();
    assert_eq!(&block_on(s.read_many(&[])).unwrap().unwrap()[..], b"[]");

    let d = mock.mock(|when, then| {
        when.method(POST).path("/fhir").body_contains("\"DELETE\"");
        then.status(200).body(json!({"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "204 No Content"}}]}).to_string());
    });
    let out = block_on(s.delete_many(&["Patient/3"])).unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap()[0]["status"],
        204
    );
    d.assert();
}

#[test]
fn bundles_history_and_operations() {
    let mock = MockServer::start();
    let t = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"type\":\"transaction\"");
        then.status(200)
            .body(r#"{"resourceType":"Bundle","type":"transaction-response","entry":[]}"#);
    });
    let h = mock.mock(|when, then| {
        when.method(GET).path("/fhir/Patient/1/_history");
        then.status(200).body(r#"{"resourceType":"Bundle","type":"history","entry":[{"resource":{"resourceType":"Patient","id":"1"}},{"resource":{"resourceType":"Patient","id":"1"}}]}"#);
    });
    let ev = mock.mock(|when, then| {
        when.method(GET)
            .path("/fhir/Patient/1/$everything")
            .query_param("_count", "50");
        then.status(200)
            .body(r#"{"resourceType":"Bundle","type":"searchset"}"#);
    });
    let val = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir/Patient/$validate")
            .body(r#"{"resourceType":"Parameters"}"#);
        then.status(200)
            .body(r#"{"resourceType":"OperationOutcome"}"#);
    });
    let s = server(&mock);
    block_on(s.send_bundle(br#"{"resourceType":"Bundle","type":"transaction","entry":[]}"#))
        .unwrap()
        .unwrap();
    t.assert();
    assert_eq!(
        block_on(s.send_bundle(br#"{"resourceType":"Bundle","type":"collection"}"#))
            .unwrap()
            .unwrap_err()
            .code,
        Code::FHIR_ERR_INVALID_ARGUMENT
    );
    let hist = block_on(s.history("Patient/1", 0)).unwrap().unwrap();
    let v: Value = serde_json::from_slice(&hist).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["total"].as_u64()),
        (Some("history"), Some(2))
    );
    h.assert();
    block_on(s.operation("Patient/1", "$everything?_count=50", "GET", None))
        .unwrap()
        .unwrap();
    ev.assert();
    block_on(s.operation("Patient", "validate", "POST", None))
        .unwrap()
        .unwrap();
    val.assert();
    assert!(block_on(s.operation("Patient", "$bad name", "GET", None))
        .unwrap()
        .is_err());
}

#[test]
fn summary_counts_in_one_batch() {
    let mock = MockServer::start();
    mock.mock(|when, then| {
        when.path("/fhir/metadata");
        then.status(200).body(r#"{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Patient"},{"type":"Observation"},{"type":"Device"}]}]}"#);
    });
    let b = mock.mock(|when, then| {
        when.method(POST).path("/fhir").body_contains("Patient?_summary=count").body_contains("Device?_summary=count");
        then.status(200).body(
            json!({"resourceType": "Bundle", "type": "batch-response", "entry": [
                {"resource": {"resourceType": "Bundle", "total": 12}, "response": {"status": "200 OK"}},
                {"resource": {"resourceType": "Bundle", "total": 30}, "response": {"status": "200 OK"}},
                {"resource": {"resourceType": "Bundle", "total": 0}, "response": {"status": "200 OK"}}
            ]})
            .to_string(),
        );
    });
    let out = block_on(server(&mock).summary()).unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({"total": 42, "resources": {"Patient": 12, "Observation": 30}})
    );
    b.assert();
}
