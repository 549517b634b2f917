//! Search: paging links of each form, the loop and origin guards, limit, first and count,
//! non-Bundle answers, streaming pages and resources with stop and resume.

use super::{ids, page, server};
use crate::common;
use crate::common::block_on;
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;
use serde_json::Value;

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
    let all = block_on(s.search_all("Patient?_count=2")).unwrap();
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
    let e = block_on(s.search_all("Patient?name=x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Paging);
    assert!(e.message().contains("repeats"), "{}", e.message());
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
    let e = block_on(s.search_all("Patient")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Paging);
    assert!(
        e.message().contains("outside the base URL"),
        "{}",
        e.message()
    );
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
    let mut o = Options::default();
    o.set_allow_foreign_links(true).unwrap();
    o.add_header("X-Api-Key", "api-secret").unwrap();
    let s = FhirServer::new_token(&home.url("/fhir"), "secret-token", &o).unwrap();
    let all = block_on(s.search_all("Patient")).unwrap();
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
    let all = block_on(server(&mock).search_all("Patient?name=q")).unwrap();
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
    let e = crate::common::stream_pages(&s, "Patient", |_| false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Paging);
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
    let out = block_on(s.search_limit("Patient", 3)).unwrap();
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
        block_on(s.search_count("Observation?code=x&_count=10")).unwrap(),
        1234
    );
    c.assert();
    let first = block_on(s.search_first("Patient")).unwrap();
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
    let e = block_on(server(&mock).search_all("Patient")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
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
    let next = crate::common::stream_pages(&s, "Patient?name=a", |p| {
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
    let end = crate::common::stream_resources(&s, &next.unwrap(), |r, mode| {
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
fn next_links_that_leave_the_base_path_or_add_credentials_are_refused() {
    let mock = MockServer::start();
    let admin = mock.mock(|when, then| {
        when.path_contains("admin");
        then.status(200).body(page(&["x"], None));
    });
    let with_userinfo = mock
        .url("/fhir/Patient?page=2")
        .replacen("://", "://mallory:pw@", 1);
    let links = [
        mock.url("/admin?page=2"),
        "/admin?page=2".to_owned(),
        "Patient/../../admin".to_owned(),
        "%2e%2e/admin".to_owned(),
        with_userinfo,
    ];
    for (i, link) in links.iter().enumerate() {
        let q = format!("Patient?case={i}");
        let mut first = mock.mock(|when, then| {
            when.path("/fhir/Patient")
                .query_param("case", i.to_string());
            then.status(200).body(page(&["1"], Some(link)));
        });
        let s =
            FhirServer::new_token(&mock.url("/fhir"), "secret-token", &Options::default()).unwrap();
        let e = block_on(s.search_all(&q)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Paging, "{link}: {}", e.message());
        assert!(!e.message().contains("mallory:pw"), "{}", e.message());
        first.assert_hits(1);
        first.delete();
    }
    admin.assert_hits(0);
}
