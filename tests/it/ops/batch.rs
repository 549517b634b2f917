//! Transactions and batches: create_all splitting and its failure message, read_many /
//! delete_many, send_bundle, history, operations, summary.

use super::server;
use crate::common::assert_create_all_failure;
use crate::common::block_on;
use fhir_kindling::ErrorKind;
use httpmock::prelude::*;
use serde_json::{json, Value};

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
    let out = block_on(s.create_all(input, 2)).unwrap();
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
    let e = block_on(s.create_all(input, 2)).unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_create_all_failure(e.message(), "batch 2 of 2 (input items 2..2)", 2);
    assert!(e.message().contains("bad gender"));
    assert_eq!(e.body(), Some(oo.as_bytes()));
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
    let out = block_on(s.read_many(&["Patient/1", "Patient/missing"])).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["status"], 200);
    assert_eq!(v[0]["resource"]["id"], "1");
    assert_eq!(v[1]["reference"], "Patient/missing");
    assert_eq!(v[1]["status"], 404);
    assert_eq!(v[1]["outcome"]["resourceType"], "OperationOutcome");
    b.assert();
    assert_eq!(&block_on(s.read_many(&[])).unwrap()[..], b"[]");

    let d = mock.mock(|when, then| {
        when.method(POST).path("/fhir").body_contains("\"DELETE\"");
        then.status(200).body(json!({"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "204 No Content"}}]}).to_string());
    });
    let out = block_on(s.delete_many(&["Patient/3"])).unwrap();
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
        .unwrap();
    t.assert();
    assert_eq!(
        block_on(s.send_bundle(br#"{"resourceType":"Bundle","type":"collection"}"#))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let hist = block_on(s.history("Patient/1", 0)).unwrap();
    let v: Value = serde_json::from_slice(&hist).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["total"].as_u64()),
        (Some("history"), Some(2))
    );
    h.assert();
    block_on(s.operation("Patient/1", "$everything?_count=50", "GET", None)).unwrap();
    ev.assert();
    block_on(s.operation("Patient", "validate", "POST", None)).unwrap();
    val.assert();
    assert!(block_on(s.operation("Patient", "$bad name", "GET", None)).is_err());
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
    let out = block_on(server(&mock).summary()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({"total": 42, "resources": {"Patient": 12, "Observation": 30}})
    );
    b.assert();
}

/// A transaction answer whose locations are `Patient/{base}`, `Patient/{base+1}`, ...
fn batch_answer_from(base: usize, n: usize) -> String {
    let entries: Vec<Value> = (0..n)
        .map(|i| json!({"response": {"status": "201 Created", "location": format!("Patient/{}/_history/1", base + i)}}))
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}).to_string()
}

/// Items 0..n, each carrying its batch number (`"b{k}"`) so the mock can tell batches apart.
fn tagged_items(n: usize, size: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"resourceType": "Patient", "identifier": [{"value": format!("b{}", i / size)}]}))
        .collect();
    serde_json::to_vec(&items).unwrap()
}

fn parallel_server(mock: &MockServer, n: usize) -> fhir_kindling::FhirServer {
    let mut o = fhir_kindling::Options::default();
    o.set_create_all_parallel(n).unwrap();
    fhir_kindling::FhirServer::new(&mock.url("/fhir"), fhir_kindling::Auth::None, &o).unwrap()
}

#[test]
fn create_all_in_parallel_keeps_input_order_when_answers_come_out_of_order() {
    let mock = MockServer::start();
    let delay = std::time::Duration::from_millis(400);
    let mocks: Vec<_> = (0..4)
        .map(|k| {
            mock.mock(|when, then| {
                when.method(POST)
                    .path("/fhir")
                    .body_contains(format!("\"value\":\"b{k}\""));
                // The first batch answers last.
                let then = then.status(200).body(batch_answer_from(100 * (k + 1), 2));
                if k == 0 {
                    then.delay(delay);
                }
            })
        })
        .collect();
    let s = parallel_server(&mock, 3);
    let started = std::time::Instant::now();
    let out = block_on(s.create_all(&tagged_items(8, 2), 2)).unwrap();
    let elapsed = started.elapsed();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({"created": ["Patient/100", "Patient/101", "Patient/200", "Patient/201", "Patient/300", "Patient/301", "Patient/400", "Patient/401"], "batches": 4})
    );
    for m in &mocks {
        m.assert_hits(1);
    }
    // Batches 2..4 went out while batch 1 was answered: about one delay, not one per batch.
    assert!(elapsed < delay * 2, "{elapsed:?}");
}

#[test]
fn create_all_in_parallel_reports_the_first_failed_batch_and_what_was_committed_meanwhile() {
    let mock = MockServer::start();
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"bad batch"}]}"#;
    let first = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"value\":\"b0\"");
        then.status(200)
            .body(batch_answer_from(100, 2))
            .delay(std::time::Duration::from_millis(300));
    });
    mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"value\":\"b1\"");
        then.status(400).body(oo);
    });
    let third = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"value\":\"b2\"");
        then.status(200).body(batch_answer_from(300, 2));
    });
    let fourth = mock.mock(|when, then| {
        when.method(POST)
            .path("/fhir")
            .body_contains("\"value\":\"b3\"");
        then.status(200).body(batch_answer_from(400, 2));
    });
    let s = parallel_server(&mock, 3);
    let e = block_on(s.create_all(&tagged_items(8, 2), 2)).unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_create_all_failure(e.message(), "batch 2 of 4 (input items 2..3)", 2);
    assert!(e.message().contains("bad batch"), "{}", e.message());
    assert!(
        e.message()
            .contains("1 later batches had been sent; committed: batches 3"),
        "{}",
        e.message()
    );
    assert_eq!(e.body(), Some(oo.as_bytes()));
    first.assert_hits(1);
    third.assert_hits(1);
    // Nothing is sent after the failure is known.
    fourth.assert_hits(0);
}

#[test]
fn create_all_parallel_option_is_bounded() {
    let mut o = fhir_kindling::Options::default();
    assert_eq!(
        o.set_create_all_parallel(0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(o.set_create_all_parallel(65).is_err());
    o.set_create_all_parallel(64).unwrap();
}
