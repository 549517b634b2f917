//! Bad input never crashes and never panics: thousands of mutated server answers and caller
//! inputs go through the public calls; every outcome must be a result, and no result may be the
//! panic code. Deterministic (seeded), no services needed.

use crate::common::block_on;
use crate::common::{closed_port, Reply, Scripted};
use fhir_kindling::Auth;
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};

const PAGE: &str = r#"{"resourceType":"Bundle","type":"searchset","total":2,"link":[{"relation":"self","url":"s"},{"relation":"next","url":"Patient?page=2"}],"entry":[{"fullUrl":"urn:x","resource":{"resourceType":"Patient","id":"1","name":[{"family":"Ä"}]},"search":{"mode":"match"}},{"resource":{"resourceType":"Practitioner","id":"2"},"search":{"mode":"include"}}]}"#;
const TX: &str = r#"{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201 Created","location":"Patient/1/_history/1"}}]}"#;

fn mutate(rng: &mut fastrand::Rng, s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    for _ in 0..rng.usize(1..6) {
        if b.is_empty() {
            break;
        }
        let i = rng.usize(..b.len());
        match rng.u8(..4) {
            0 => b[i] = rng.u8(..),
            1 => {
                b.truncate(i);
            }
            2 => b.insert(i, *b"{}[]\",:\\0".get(rng.usize(..9)).unwrap()),
            _ => {
                b.remove(i);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// The outcome of a call that must not panic (a panic fails the test): its error kind, if any,
/// with a message.
fn no_panic<T>(what: &str, r: fhir_kindling::Result<T>) -> Option<ErrorKind> {
    r.err().map(|e| {
        assert!(
            !e.message().is_empty(),
            "{what}: an error without a message"
        );
        e.kind()
    })
}

#[test]
fn mutated_server_answers_give_result_codes() {
    let mut rng = fastrand::Rng::with_seed(20261126);
    let n = 300;
    let mut replies = Vec::with_capacity(n);
    for i in 0..n {
        let body = mutate(&mut rng, if i % 2 == 0 { PAGE } else { TX });
        replies.push(Reply::new(200, &body));
    }
    let srv = Scripted::start(replies);
    let s = FhirServer::new(
        &format!("{}/fhir", srv.base),
        Auth::None,
        &Options::default(),
    )
    .unwrap();
    let mut errors = 0;
    for i in 0..n / 3 {
        let r = match i % 3 {
            0 => no_panic("search_limit", block_on(s.search_limit("Patient", 1))),
            1 => no_panic(
                "create_all",
                block_on(s.create_all(br#"[{"resourceType":"Patient"}]"#, 0)),
            ),
            _ => no_panic("read_many", block_on(s.read_many(&["Patient/1"]))),
        };
        errors += r.is_some() as usize;
    }
    assert!(errors > 0, "mutations produced errors, not only successes");
}

#[test]
fn mutated_caller_inputs_give_result_codes() {
    let mut rng = fastrand::Rng::with_seed(7);
    let base = format!("http://127.0.0.1:{}/fhir", closed_port());
    let mut o = Options::default();
    o.set_connect_timeout_ms(200).unwrap();
    let s = FhirServer::new(&base, Auth::None, &o).unwrap();
    let resource =
        r#"{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"v"}]}"#;
    let array = r#"[{"resourceType":"Patient"},{"resourceType":"Observation","status":"final"}]"#;
    let bundle = r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}"#;
    for _ in 0..400 {
        let r = mutate(&mut rng, resource);
        no_panic(
            "create",
            block_on(s.create(r.as_bytes(), Some(&mutate(&mut rng, "identifier=s%7Cv")))),
        );
        no_panic(
            "update",
            block_on(s.update(r.as_bytes(), Some(&mutate(&mut rng, "3")))),
        );
        no_panic(
            "create_all",
            block_on(s.create_all(mutate(&mut rng, array).as_bytes(), rng.usize(..3))),
        );
        no_panic(
            "send_bundle",
            block_on(s.send_bundle(mutate(&mut rng, bundle).as_bytes())),
        );
        no_panic(
            "read",
            block_on(s.read(&mutate(&mut rng, "Patient/1/_history/2"))),
        );
        no_panic(
            "delete_by_query",
            block_on(s.delete_by_query(&mutate(&mut rng, "Patient?identifier=s%7Cv"))),
        );
        no_panic(
            "search",
            block_on(s.search_first(&mutate(&mut rng, "Patient?name=a&_count=2"))),
        );
        no_panic(
            "operation",
            block_on(s.operation(
                &mutate(&mut rng, "Patient/1"),
                &mutate(&mut rng, "$everything"),
                "GET",
                None,
            )),
        );
        no_panic(
            "base url",
            FhirServer::new(
                &mutate(&mut rng, "https://h:8080/fhir"),
                Auth::None,
                &Options::default(),
            ),
        );
        let mut q = Options::default();
        let _ = q.set_proxy(
            &mutate(&mut rng, "https"),
            &mutate(&mut rng, "http://u:p@127.0.0.1:3128"),
        );
        let _ = q.add_header(&mutate(&mut rng, "X-Site"), &mutate(&mut rng, "north"));
    }
}
