//! Read (plain, versioned, error codes), create, update with version check, conditional update
//! and delete.

use super::server;
use crate::common::block_on;
use fhir_kindling::ErrorKind;
use httpmock::prelude::*;

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
        &block_on(s.read("Patient/1")).unwrap()[..],
        br#"{"resourceType":"Patient","id":"1"}"#
    );
    block_on(s.read("Patient/1/_history/2")).unwrap();
    m.assert();
    v.assert();
    let e = block_on(s.read("Patient/404")).unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::NotFound, Some(404)));
    assert!(e.body().is_some());
    assert_eq!(
        block_on(s.read("Patient/410")).unwrap_err().kind(),
        ErrorKind::Gone
    );
    assert_eq!(
        block_on(s.read("Patient/a b")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
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
    .unwrap();
    assert_eq!(
        &out[..],
        br#"{"resourceType":"Patient","id":"7","meta":{"versionId":"1"}}"#
    );
    c.assert();
    r.assert();
    let e = block_on(s.create(br#"{"id":"x"}"#, None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = block_on(s.create(b"{oops", None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Json);
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
    block_on(s.update(body, Some("3"))).unwrap();
    u.assert();
    let e = block_on(s.update(body, Some("W/\"2\""))).unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::Conflict, Some(412)));
    conflict.assert();
    assert_eq!(
        block_on(s.update(br#"{"resourceType":"Patient"}"#, None))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    block_on(s.update_conditional(
        br#"{"resourceType":"Patient"}"#,
        "Patient?identifier=sys%7C9",
    ))
    .unwrap();
    cu.assert();
    block_on(s.delete_by_query("Patient?identifier=sys%7C9")).unwrap();
    cd.assert();
    assert_eq!(
        block_on(s.delete_by_query("Patient")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    block_on(s.delete("Patient/5")).unwrap();
    d.assert();
}
