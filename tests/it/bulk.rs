//! Bulk Data `$export` on the wire, for what a real server cannot be made to do: 429 on kick-off
//! and on files, an hour-long and an HTTP-date `Retry-After`, transient OperationOutcomes, a file
//! that breaks off (resumed without duplicates) or stays truncated, an over-long line, a gzip
//! file, a redirect to another origin (no Authorization after it), `error[]` files, a `count`
//! that does not match, token refresh between files and a 401 that restarts a file once, cancel,
//! the deadline and the directory mode. The server is `common::RawServer`, scripted per path.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fhir_kindling::{
    Auth, BulkOptions, CancelOutcome, ErrorKind, ExportLevel, ExportRequest, FhirServer, FileKind,
    Manifest, Options, PollStatus,
};

use crate::common::{block_on, write_reply, After, RawRequest, RawServer};

type Handler = dyn Fn(&RawRequest, &mut TcpStream, usize) -> After + Send + Sync;

/// A scripted bulk server: `handler(request, stream, n)` where `n` counts the requests to the
/// same path (from 0).
fn bulk_server(
    handler: impl Fn(&RawRequest, &mut TcpStream, usize) -> After + Send + Sync + 'static,
) -> RawServer {
    let counts: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let handler: Arc<Handler> = Arc::new(handler);
    RawServer::start(move |req, stream| {
        let n = {
            let mut c = counts.lock().unwrap();
            let e = c.entry(req.path().to_owned()).or_insert(0);
            *e += 1;
            *e - 1
        };
        handler(req, stream, n)
    })
}

fn reply(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) -> After {
    let _ = write_reply(stream, status, headers, body, false);
    After::KeepAlive
}

fn ndjson(resource_type: &str, prefix: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            r#"{{"resourceType":"{resource_type}","id":"{prefix}{i}"}}"#
        )
        .unwrap();
    }
    out
}

fn fast() -> BulkOptions {
    let mut o = BulkOptions::default();
    o.set_poll_interval(Duration::from_millis(10), Duration::from_millis(50))
        .unwrap();
    o
}

fn token_server(s: &RawServer) -> FhirServer {
    FhirServer::new(
        &s.url("/fhir"),
        Auth::token("secret-token").unwrap(),
        &Options::default(),
    )
    .unwrap()
}

fn manifest_json(origin: &str, requires_token: bool, files: &[(&str, &str, &str)]) -> String {
    let list = |kind: &str| {
        files
            .iter()
            .filter(|f| f.0 == kind)
            .map(|(_, t, u)| {
                let url = if u.starts_with("http") {
                    u.to_string()
                } else {
                    format!("{origin}{u}")
                };
                format!(r#"{{"type":"{t}","url":"{url}"}}"#)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"transactionTime":"2024-01-01T00:00:00Z","request":"{origin}/fhir/$export","requiresAccessToken":{requires_token},"output":[{}],"error":[{}]}}"#,
        list("output"),
        list("error")
    )
}

/// A manifest of `files` on `origin`, parsed for `server`.
fn manifest(
    server: &FhirServer,
    origin: &str,
    requires_token: bool,
    files: &[(&str, &str, &str)],
) -> Manifest {
    Manifest::parse(
        server,
        manifest_json(origin, requires_token, files).into(),
        &fast(),
    )
    .unwrap()
}

/// Each line handed over: its file's kind and type, and the line.
type Lines = Vec<(FileKind, String, String)>;

/// Lines per file, collected.
fn collect(
    server: &FhirServer,
    manifest: &Manifest,
    options: &BulkOptions,
) -> fhir_kindling::Result<(fhir_kindling::DownloadSummary, Lines)> {
    let mut lines = Vec::new();
    let summary = block_on(server.bulk_download_each(manifest, options, |f, line| {
        lines.push((
            f.kind,
            f.resource_type.clone(),
            String::from_utf8(line.to_vec()).unwrap(),
        ));
        true
    }))?;
    Ok((summary, lines))
}

#[test]
fn a_whole_export_with_an_hour_long_retry_after_clamped() {
    let s = bulk_server(|req, stream, n| {
        let origin = format!("http://{}", req.header("host").unwrap());
        match req.path() {
            "/fhir/Patient/$export" => {
                assert_eq!(req.header("prefer"), Some("respond-async"));
                assert_eq!(req.header("accept"), Some("application/fhir+json"));
                assert_eq!(req.param("_type"), Some("Patient%2CObservation"));
                reply(
                    stream,
                    202,
                    &[("Content-Location", "$export-poll-status?_jobId=42")],
                    b"",
                )
            }
            "/fhir/$export-poll-status" if n < 2 => reply(
                stream,
                202,
                &[("Retry-After", "3600"), ("X-Progress", "step\t1 of 3")],
                b"",
            ),
            "/fhir/$export-poll-status" => {
                let m = manifest_json(
                    &origin,
                    true,
                    &[
                        ("output", "Patient", "/fhir/Binary/p"),
                        ("output", "Observation", "/fhir/Binary/o"),
                        ("error", "OperationOutcome", "/fhir/Binary/e"),
                    ],
                );
                reply(stream, 200, &[("Content-Type", "application/json")], m.as_bytes())
            }
            "/fhir/Binary/p" => reply(stream, 200, &[], &ndjson("Patient", "p", 500)),
            "/fhir/Binary/o" => reply(stream, 200, &[], &ndjson("Observation", "o", 1500)),
            "/fhir/Binary/e" => reply(
                stream,
                200,
                &[],
                b"{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"processing\"}]}\n",
            ),
            _ => reply(stream, 404, &[], b""),
        }
    });
    let server = token_server(&s);
    let req = ExportRequest {
        level: ExportLevel::Patient,
        types: vec!["Patient".into(), "Observation".into()],
        ..Default::default()
    };
    let started = Instant::now();
    let mut progress = Vec::new();
    let mut status_url = String::new();
    let mut ids = std::collections::HashSet::new();
    let mut errors = 0;
    let summary = block_on(server.bulk_export(
        &req,
        &fast(),
        |u| status_url = u.to_owned(),
        |p| progress.push(p.map(str::to_owned)),
        |f, line| {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            match f.kind {
                FileKind::Output => {
                    assert_eq!(v["resourceType"], f.resource_type.as_str());
                    assert!(ids.insert(v["id"].as_str().unwrap().to_owned()));
                }
                _ => errors += 1,
            }
            true
        },
    ))
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "Retry-After: 3600 was not clamped"
    );
    assert_eq!(
        status_url,
        format!("{}/fhir/$export-poll-status?_jobId=42", s.origin)
    );
    assert_eq!(progress, vec![Some("step1 of 3".to_owned()); 2]);
    assert_eq!(ids.len(), 2000);
    assert_eq!(errors, 1);
    assert_eq!(summary.resources, 2000);
    assert_eq!(summary.errors, 1);
    assert_eq!(summary.files, 3);
    assert!(!summary.stopped);
    for r in s.requests() {
        // requiresAccessToken and the same origin: every request carries the token.
        assert_eq!(
            r.header("authorization"),
            Some("Bearer secret-token"),
            "{}",
            r.target
        );
        if r.path().starts_with("/fhir/Binary") {
            assert_eq!(r.header("accept"), Some("application/fhir+ndjson"));
        }
    }
}

#[test]
fn kickoff_and_file_429s_are_retried_with_clamped_waits() {
    let s = bulk_server(|req, stream, n| match req.path() {
        "/fhir/$export" if n == 0 => reply(stream, 429, &[("Retry-After", "7200")], b""),
        "/fhir/$export" => reply(
            stream,
            202,
            &[("Content-Location", "/fhir/$export-poll-status?_jobId=1")],
            b"",
        ),
        "/fhir/Binary/p" if n < 2 => reply(stream, 429, &[("Retry-After", "120")], b""),
        "/fhir/Binary/p" => reply(stream, 200, &[], &ndjson("Patient", "p", 10)),
        _ => reply(stream, 404, &[], b""),
    });
    let server = token_server(&s);
    let started = Instant::now();
    let status = block_on(server.bulk_kickoff(&ExportRequest::default(), &fast())).unwrap();
    assert!(status
        .as_str()
        .ends_with("/fhir/$export-poll-status?_jobId=1"));
    let m = manifest(
        &server,
        &s.origin,
        true,
        &[("output", "Patient", "/fhir/Binary/p")],
    );
    let (summary, lines) = collect(&server, &m, &fast()).unwrap();
    assert_eq!(lines.len(), 10);
    assert_eq!(summary.resources, 10);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        s.requests()
            .iter()
            .filter(|r| r.path() == "/fhir/Binary/p")
            .count(),
        3
    );
}

#[test]
fn an_http_date_retry_after_is_honoured_within_the_bounds() {
    let s = bulk_server(|req, stream, n| match req.path() {
        "/fhir/$export-poll-status" if n == 0 => {
            let when =
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
            reply(stream, 202, &[("Retry-After", &when)], b"")
        }
        "/fhir/$export-poll-status" => {
            let m = manifest_json("http://x", true, &[]);
            reply(stream, 200, &[], m.as_bytes())
        }
        _ => reply(stream, 404, &[], b""),
    });
    let server = token_server(&s);
    let mut o = BulkOptions::default();
    o.set_poll_interval(Duration::from_millis(10), Duration::from_secs(10))
        .unwrap();
    let started = Instant::now();
    let m = block_on(server.bulk_wait("$export-poll-status?_jobId=1", &o, |_| {})).unwrap();
    let took = started.elapsed();
    assert!(m.files.is_empty());
    // The date has a resolution of a second: between 1 and 2 s from now.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // And an HTTP date an hour ahead is cut to the maximum.
    o.set_poll_interval(Duration::from_millis(10), Duration::from_millis(100))
        .unwrap();
    let s2 = bulk_server(|req, stream, n| match req.path() {
        "/fhir/s" if n == 0 => {
            let when =
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
            reply(stream, 202, &[("Retry-After", &when)], b"")
        }
        _ => reply(stream, 200, &[], br#"{"output":[]}"#),
    });
    let started = Instant::now();
    block_on(token_server(&s2).bulk_wait("s", &o, |_| {})).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn transient_operation_outcomes_are_retried_and_others_fail_with_the_outcome() {
    const TRANSIENT: &str = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"busy"}]}"#;
    const FATAL: &str = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"job failed: disk full"}]}"#;
    let s = bulk_server(|req, stream, n| match req.path() {
        "/fhir/a" if n < 2 => reply(stream, 500, &[], TRANSIENT.as_bytes()),
        "/fhir/a" => reply(stream, 200, &[], br#"{"output":[]}"#),
        "/fhir/b" => reply(stream, 500, &[], FATAL.as_bytes()),
        _ => reply(stream, 404, &[], b""),
    });
    let server = token_server(&s);
    let mut notes = Vec::new();
    block_on(server.bulk_wait("a", &fast(), |p| notes.push(p.map(str::to_owned)))).unwrap();
    assert_eq!(notes.len(), 2);
    assert!(notes[0].as_deref().unwrap().contains("HTTP 500"));
    // One poll reports the transient failure as "in progress".
    match block_on(server.bulk_poll("a", &fast())).unwrap() {
        PollStatus::Complete(_) => {}
        other => panic!("{other:?}"),
    }
    let e = block_on(server.bulk_wait("b", &fast(), |_| {})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::HttpStatus);
    assert_eq!(e.status(), Some(500));
    assert!(e.message().contains("disk full"), "{}", e.message());
    assert!(e
        .body()
        .unwrap()
        .starts_with(b"{\"resourceType\":\"OperationOutcome\""));
}

#[test]
fn a_file_that_breaks_off_is_resumed_without_duplicates_and_one_that_stays_truncated_fails() {
    let full = ndjson("Patient", "p", 2000);
    let half = full.len() / 2;
    let full2 = full.clone();
    let s = bulk_server(move |req, stream, n| match req.path() {
        // Claims the whole length, sends half (cut in the middle of a line), closes.
        "/fhir/Binary/flaky" if n == 0 => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", full2.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&full2[..half]);
            After::Close
        }
        "/fhir/Binary/flaky" => reply(stream, 200, &[], &full2),
        "/fhir/Binary/cut" => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", full2.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&full2[..half]);
            After::Close
        }
        _ => reply(stream, 404, &[], b""),
    });
    let server = token_server(&s);
    let m = manifest(
        &server,
        &s.origin,
        true,
        &[("output", "Patient", "/fhir/Binary/flaky")],
    );
    let (summary, lines) = collect(&server, &m, &fast()).unwrap();
    assert_eq!(summary.resources, 2000);
    let ids: std::collections::HashSet<_> = lines.iter().map(|l| l.2.clone()).collect();
    assert_eq!(ids.len(), 2000, "a line was handed over twice");

    let mut o = fast();
    o.set_file_attempts(2).unwrap();
    let m = manifest(
        &server,
        &s.origin,
        true,
        &[("output", "Patient", "/fhir/Binary/cut")],
    );
    let e = collect(&server, &m, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{}", e.message());
    assert!(e.message().contains("after 2 attempts"), "{}", e.message());
}

#[test]
fn an_over_long_line_is_a_limit_error_naming_the_line_and_the_limit() {
    let s = bulk_server(|req, stream, _| match req.path() {
        "/fhir/Binary/long" => {
            let mut body = ndjson("Patient", "p", 3);
            body.extend_from_slice(b"{\"resourceType\":\"Patient\",\"text\":\"");
            body.extend(std::iter::repeat_n(b'x', 5000));
            body.extend_from_slice(b"\"}\n");
            reply(stream, 200, &[], &body)
        }
        _ => reply(stream, 404, &[], b""),
    });
    let server = token_server(&s);
    let mut o = fast();
    o.set_max_line_bytes(4096).unwrap();
    let m = manifest(
        &server,
        &s.origin,
        true,
        &[("output", "Patient", "/fhir/Binary/long")],
    );
    let e = collect(&server, &m, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert!(
        e.message().contains("line 4") && e.message().contains("4096 bytes"),
        "{}",
        e.message()
    );
}

#[test]
fn a_gzip_file_is_decompressed() {
    let body = ndjson("Observation", "o", 3000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let s = bulk_server(move |req, stream, _| {
        assert!(req
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip")));
        reply(stream, 200, &[("Content-Encoding", "gzip")], &gz)
    });
    let server = token_server(&s);
    let m = manifest(
        &server,
        &s.origin,
        true,
        &[("output", "Observation", "/fhir/Binary/g")],
    );
    let (summary, lines) = collect(&server, &m, &fast()).unwrap();
    assert_eq!(summary.resources, 3000);
    assert_eq!(
        lines[2999].2,
        r#"{"resourceType":"Observation","id":"o2999"}"#
    );
}

#[test]
fn the_token_never_leaves_the_fhir_origin_nor_follows_a_cross_origin_redirect() {
    let store = bulk_server(|req, stream, _| {
        if req.header("authorization").is_some() {
            return reply(
                stream,
                400,
                &[],
                b"<Error>Only one auth mechanism allowed</Error>",
            );
        }
        reply(stream, 200, &[], &ndjson("Patient", req.path(), 5))
    });
    let store_origin = store.origin.clone();
    let s = bulk_server(move |req, stream, _| match req.path() {
        // Same origin, redirected to the store (another origin).
        "/fhir/Binary/r" => reply(
            stream,
            302,
            &[("Location", &format!("{store_origin}/bucket/back"))],
            b"",
        ),
        "/fhir/Binary/same" => reply(stream, 200, &[], &ndjson("Patient", "same", 5)),
        "/fhir/Binary/relative" => reply(stream, 307, &[("Location", "same")], b""),
        _ => reply(stream, 404, &[], b""),
    });
    let server = token_server(&s);
    let files = [
        ("output", "Patient", "/fhir/Binary/r"),
        ("output", "Patient", "/fhir/Binary/relative"),
        (
            "output",
            "Patient",
            &format!("{}/bucket/direct?sig=abc", store.origin),
        ),
    ];
    let m = manifest(&server, &s.origin, true, &files);
    let (summary, _) = collect(&server, &m, &fast()).unwrap();
    assert_eq!(summary.resources, 15);
    assert_eq!(store.requests().len(), 2);
    for r in store.requests() {
        assert_eq!(r.header("authorization"), None, "{}", r.target);
        assert_eq!(r.header("accept"), Some("application/fhir+ndjson"));
    }
    // Same-origin hops carried the token (a relative redirect stays on the origin).
    let fhir = s.requests();
    assert_eq!(fhir.len(), 3);
    assert!(fhir
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer secret-token")));

    // requiresAccessToken false: not even the FHIR origin gets the token.
    let m = manifest(
        &server,
        &s.origin,
        false,
        &[("output", "Patient", "/fhir/Binary/same")],
    );
    collect(&server, &m, &fast()).unwrap();
    assert_eq!(s.requests().last().unwrap().header("authorization"), None);
}

#[test]
fn a_count_that_does_not_match_is_a_protocol_error() {
    let s = bulk_server(|_, stream, _| reply(stream, 200, &[], &ndjson("Patient", "p", 9)));
    let server = token_server(&s);
    let json = format!(
        r#"{{"requiresAccessToken":true,"output":[{{"type":"Patient","url":"{}/fhir/Binary/1","count":10}}],"error":[]}}"#,
        s.origin
    );
    let m = Manifest::parse(&server, json.into(), &fast()).unwrap();
    let e = collect(&server, &m, &fast()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.message().contains("10 resources") && e.message().contains("has 9"));
}

#[test]
fn a_short_lived_token_is_refreshed_between_files_and_a_401_restarts_a_file_once() {
    let issued = Arc::new(AtomicUsize::new(0));
    let iss = issued.clone();
    let s = bulk_server(move |req, stream, n| match req.path() {
        "/token" => {
            let k = iss.fetch_add(1, Ordering::SeqCst) + 1;
            let body =
                format!(r#"{{"access_token":"tok{k}","token_type":"Bearer","expires_in":1}}"#);
            reply(
                stream,
                200,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
        }
        // The first answer to the 401 file is a 401 (as if the token had been revoked).
        "/fhir/Binary/revoked" if n == 0 => reply(stream, 401, &[], b""),
        p if p.starts_with("/fhir/Binary/") => {
            std::thread::sleep(Duration::from_millis(1000));
            reply(stream, 200, &[], &ndjson("Patient", p, 2))
        }
        _ => reply(stream, 404, &[], b""),
    });
    let server = FhirServer::new_oidc(
        &s.url("/fhir"),
        "client",
        "client-secret",
        &s.url("/token"),
        &Options::default(),
    )
    .unwrap();
    let mut o = fast();
    o.set_parallel(1).unwrap();
    let files = [
        ("output", "Patient", "/fhir/Binary/1"),
        ("output", "Patient", "/fhir/Binary/2"),
        ("output", "Patient", "/fhir/Binary/revoked"),
    ];
    let m = manifest(&server, &s.origin, true, &files);
    let (summary, _) = collect(&server, &m, &o).unwrap();
    assert_eq!(summary.resources, 6);
    let tokens: Vec<String> = s
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/fhir/Binary/"))
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(tokens.len(), 4, "{tokens:?}");
    // Each file after a 1 s transfer got a fresh token; the 401 was followed by a newer one.
    assert_ne!(tokens[0], tokens[1]);
    assert_ne!(tokens[1], tokens[2]);
    assert_ne!(tokens[2], tokens[3]);
}

#[test]
fn cancel_accepts_202_and_counts_404_as_done() {
    let s = bulk_server(|req, stream, _| {
        assert_eq!(req.method, "DELETE");
        match req.path() {
            "/fhir/running" => reply(stream, 202, &[], b""),
            "/fhir/done" => reply(stream, 404, &[], b""),
            _ => reply(
                stream,
                403,
                &[],
                br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"not yours"}]}"#,
            ),
        }
    });
    let server = token_server(&s);
    assert_eq!(
        block_on(server.bulk_cancel("running")).unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        block_on(server.bulk_cancel(&s.url("/fhir/done"))).unwrap(),
        CancelOutcome::AlreadyGone
    );
    let e = block_on(server.bulk_cancel("other")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    // A status URL on another origin never receives the credentials.
    let e = block_on(server.bulk_cancel("http://127.0.0.1:9/fhir/x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn the_deadline_ends_polling_with_a_timeout() {
    let s = bulk_server(|_, stream, _| reply(stream, 202, &[("Retry-After", "1")], b""));
    let server = token_server(&s);
    let mut o = fast();
    o.deadline = Some(Duration::from_millis(300));
    let started = Instant::now();
    let e = block_on(server.bulk_wait("s", &o, |_| {})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.message().contains("deadline"), "{}", e.message());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn kickoff_errors_carry_the_operation_outcome_and_a_200_is_refused() {
    let s = bulk_server(|req, stream, _| {
        match req.path() {
        "/fhir/Group/g1/$export" => reply(
            stream,
            400,
            &[],
            br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"Unknown _type Foo"}]}"#,
        ),
        _ => reply(stream, 200, &[], br#"{"resourceType":"Bundle"}"#),
    }
    });
    let server = token_server(&s);
    let req = ExportRequest {
        level: ExportLevel::Group("g1".into()),
        ..Default::default()
    };
    let e = block_on(server.bulk_kickoff(&req, &fast())).unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(e.message().contains("Unknown _type Foo"));
    let e = block_on(server.bulk_kickoff(&ExportRequest::default(), &fast())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    // A Content-Location off the base is refused (it would receive the credentials).
    let s2 = bulk_server(|_, stream, _| {
        reply(
            stream,
            202,
            &[("Content-Location", "http://evil.example/poll")],
            b"",
        )
    });
    let e =
        block_on(token_server(&s2).bulk_kickoff(&ExportRequest::default(), &fast())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
}

#[test]
fn stopping_and_the_directory_mode() {
    let s =
        bulk_server(|req, stream, _| reply(stream, 200, &[], &ndjson("Patient", req.path(), 1000)));
    let server = token_server(&s);
    let files = [
        ("output", "Patient", "/fhir/Binary/a"),
        ("output", "Patient", "/fhir/Binary/b"),
        ("error", "OperationOutcome", "/fhir/Binary/e"),
    ];
    let m = manifest(&server, &s.origin, true, &files);
    let mut seen = 0;
    let summary = block_on(server.bulk_download_each(&m, &fast(), |_, _| {
        seen += 1;
        seen < 10
    }))
    .unwrap();
    assert!(summary.stopped);
    assert_eq!(seen, 10);

    let dir = std::env::temp_dir().join(format!("fhir-bulk-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (summary, written) = block_on(server.bulk_download_to_dir(&m, &fast(), &dir)).unwrap();
    assert_eq!(summary.resources, 2000);
    assert_eq!(summary.errors, 1000);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "error-00003-OperationOutcome.ndjson",
            "manifest.json",
            "output-00001-Patient.ndjson",
            "output-00002-Patient.ndjson"
        ]
    );
    assert_eq!(written.len(), 3);
    let a = std::fs::read(dir.join("output-00001-Patient.ndjson")).unwrap();
    assert_eq!(a, ndjson("Patient", "/fhir/Binary/a", 1000));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- the C ABI

mod c_abi {
    use std::ffi::{c_char, c_int, c_void, CStr, CString};
    use std::ptr::{null, null_mut};
    use std::time::{Duration, Instant};

    use fhir_kindling::ffi::buffer::fhir_string_free;
    use fhir_kindling::ffi::bulk::*;
    use fhir_kindling::ffi::embed::*;
    use fhir_kindling::ffi::error::*;
    use fhir_kindling::ffi::fhir_result;
    use fhir_kindling::ffi::server::*;

    use super::{bulk_server, manifest_json, ndjson, reply};
    use crate::common::After;

    struct Seen {
        lines: Vec<(String, fhir_bulk_file_kind, usize)>,
        /// Trigger this token once this many lines were seen.
        cancel_after: Option<(usize, *const fhir_cancel_t)>,
        progress: usize,
    }

    unsafe extern "C" fn on_line(
        line: *const c_char,
        len: usize,
        resource_type: *const c_char,
        kind: fhir_bulk_file_kind,
        file_index: usize,
        user_data: *mut c_void,
    ) -> c_int {
        let seen = &mut *(user_data as *mut Seen);
        let text = CStr::from_ptr(line).to_str().unwrap().to_owned();
        assert_eq!(text.len(), len);
        let t = CStr::from_ptr(resource_type).to_str().unwrap();
        assert!(text.contains(&format!("\"resourceType\":\"{t}\"")));
        seen.lines.push((text, kind, file_index));
        if let Some((n, token)) = seen.cancel_after {
            if seen.lines.len() == n {
                fhir_cancel_trigger(token);
            }
        }
        0
    }

    unsafe extern "C" fn on_progress(_p: *const c_char, next_ms: u64, user_data: *mut c_void) {
        assert!(next_ms <= 50);
        (*(user_data as *mut Seen)).progress += 1;
    }

    unsafe fn server(url: &str) -> *mut fhir_server_t {
        let mut s = null_mut();
        let base = CString::new(url).unwrap();
        let tok = CString::new("secret-token").unwrap();
        let r = fhir_server_new_token(base.as_ptr(), tok.as_ptr(), null(), &mut s, null_mut());
        assert_eq!(r, fhir_result::FHIR_OK);
        s
    }

    unsafe fn bulk() -> *mut fhir_bulk_t {
        let b = fhir_bulk_new();
        assert_eq!(
            fhir_bulk_set_poll_interval_ms(b, 10, 50, null_mut()),
            fhir_result::FHIR_OK
        );
        b
    }

    fn message(e: *mut fhir_error_t) -> String {
        unsafe {
            let m = CStr::from_ptr(fhir_error_message(e))
                .to_string_lossy()
                .into_owned();
            fhir_error_free(e);
            m
        }
    }

    #[test]
    fn one_call_export_step_by_step_and_bad_parameters() {
        let s = bulk_server(|req, stream, n| {
            let origin = format!("http://{}", req.header("host").unwrap());
            match req.path() {
                "/fhir/Group/g1/$export" => reply(
                    stream,
                    202,
                    &[("Content-Location", "$export-poll-status?_jobId=7")],
                    b"",
                ),
                "/fhir/$export-poll-status" if req.method == "DELETE" => {
                    reply(stream, 404, &[], b"")
                }
                "/fhir/$export-poll-status" if n < 1 => reply(
                    stream,
                    202,
                    &[("Retry-After", "120"), ("X-Progress", "half")],
                    b"",
                ),
                "/fhir/$export-poll-status" => {
                    let m = manifest_json(
                        &origin,
                        true,
                        &[
                            ("output", "Patient", "/fhir/Binary/p"),
                            ("error", "OperationOutcome", "/fhir/Binary/e"),
                        ],
                    );
                    reply(stream, 200, &[], m.as_bytes())
                }
                "/fhir/Binary/p" => reply(stream, 200, &[], &ndjson("Patient", "p", 700)),
                "/fhir/Binary/e" => reply(stream, 200, &[], &ndjson("OperationOutcome", "e", 2)),
                _ => reply(stream, 404, &[], b""),
            }
        });
        unsafe {
            let srv = server(&s.url("/fhir"));
            let b = bulk();
            let g = CString::new("g1").unwrap();
            let t = CString::new("Patient").unwrap();
            assert_eq!(
                fhir_bulk_set_level(b, fhir_bulk_level::FHIR_BULK_GROUP, g.as_ptr(), null_mut()),
                fhir_result::FHIR_OK
            );
            assert_eq!(
                fhir_bulk_add_type(b, t.as_ptr(), null_mut()),
                fhir_result::FHIR_OK
            );
            let mut seen = Seen {
                lines: Vec::new(),
                cancel_after: None,
                progress: 0,
            };
            let data = &mut seen as *mut Seen as *mut c_void;
            fhir_bulk_set_progress_callback(b, Some(on_progress), data, null_mut());
            let mut status_url = null_mut();
            let mut summary = fhir_bulk_summary_t::default();
            let started = Instant::now();
            let r = fhir_bulk_export(
                srv,
                b,
                Some(on_line),
                data,
                &mut status_url,
                &mut summary,
                null_mut(),
            );
            assert_eq!(r, fhir_result::FHIR_OK);
            assert!(started.elapsed() < Duration::from_secs(3));
            assert_eq!(seen.progress, 1);
            assert_eq!(summary.resources, 700);
            assert_eq!(summary.errors, 2);
            assert_eq!(summary.files, 2);
            assert!(!summary.stopped);
            assert_eq!(seen.lines.len(), 702);
            assert_eq!(
                seen.lines
                    .iter()
                    .filter(|l| l.1 == fhir_bulk_file_kind::FHIR_BULK_ERROR && l.2 == 1)
                    .count(),
                2
            );
            let url = CStr::from_ptr(status_url).to_str().unwrap().to_owned();
            assert!(url.ends_with("/fhir/$export-poll-status?_jobId=7"), "{url}");

            // Step by step: poll once (complete now), then download into a directory, cancel.
            let mut done = false;
            let mut manifest = null_mut();
            let mut len = 0usize;
            let mut next = 99u64;
            let r = fhir_bulk_poll(
                srv,
                b,
                status_url,
                &mut done,
                &mut manifest,
                &mut len,
                &mut next,
                null_mut(),
            );
            assert_eq!(r, fhir_result::FHIR_OK);
            assert!(done && !manifest.is_null() && next == 0);
            let dir = std::env::temp_dir().join(format!("fhir-bulk-c-{}", std::process::id()));
            let cdir = CString::new(dir.to_str().unwrap()).unwrap();
            let mut summary = fhir_bulk_summary_t::default();
            let r = fhir_bulk_download_to_dir(
                srv,
                b,
                manifest,
                len,
                cdir.as_ptr(),
                &mut summary,
                null_mut(),
            );
            assert_eq!(r, fhir_result::FHIR_OK);
            assert_eq!(summary.resources, 700);
            assert!(dir.join("output-00001-Patient.ndjson").exists());
            std::fs::remove_dir_all(&dir).unwrap();
            let mut gone = false;
            assert_eq!(
                fhir_bulk_cancel(srv, status_url, &mut gone, null_mut()),
                fhir_result::FHIR_OK
            );
            assert!(gone);

            // Bad parameters are refused by their setter, with a message.
            let bad = CString::new("Pat ient").unwrap();
            let mut e = null_mut();
            assert_eq!(
                fhir_bulk_add_type(b, bad.as_ptr(), &mut e),
                fhir_result::FHIR_ERR_INVALID_ARGUMENT
            );
            assert!(message(e).contains("_type"));
            assert_eq!(
                fhir_bulk_set_poll_interval_ms(b, 5000, 10, null_mut()),
                fhir_result::FHIR_ERR_INVALID_ARGUMENT
            );
            assert_eq!(
                fhir_bulk_set_level(b, fhir_bulk_level::FHIR_BULK_GROUP, null(), null_mut()),
                fhir_result::FHIR_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                fhir_bulk_download(
                    srv,
                    b,
                    manifest,
                    len,
                    None,
                    null_mut(),
                    null_mut(),
                    null_mut()
                ),
                fhir_result::FHIR_ERR_NULL_ARGUMENT
            );
            let junk = b"{\"output\":";
            assert_eq!(
                fhir_bulk_download(
                    srv,
                    b,
                    junk.as_ptr() as *const c_char,
                    junk.len(),
                    Some(on_line),
                    data,
                    null_mut(),
                    null_mut()
                ),
                fhir_result::FHIR_ERR_JSON
            );
            fhir_string_free(manifest);
            fhir_string_free(status_url);
            fhir_bulk_free(b);
            fhir_server_free(srv);
        }
    }

    #[test]
    fn a_cancel_stops_between_lines_mid_transfer_and_during_a_wait() {
        let s = bulk_server(|req, stream, _| match req.path() {
            "/fhir/Binary/big" => reply(stream, 200, &[], &ndjson("Patient", "p", 5000)),
            // Half a file, then nothing for a minute.
            "/fhir/Binary/stall" => {
                use std::io::Write;
                let body = ndjson("Patient", "s", 1000);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body[..body.len() / 2]);
                let _ = stream.flush();
                std::thread::sleep(Duration::from_secs(60));
                After::Close
            }
            _ => reply(stream, 202, &[("Retry-After", "3600")], b""),
        });
        unsafe {
            let srv = server(&s.url("/fhir"));
            let b = bulk();
            fhir_bulk_set_poll_interval_ms(b, 10, 60_000, null_mut());
            let scoped = |token: *const fhir_cancel_t| {
                let mut h = null_mut();
                assert_eq!(
                    fhir_server_scope(srv, token, 0, &mut h, null_mut()),
                    fhir_result::FHIR_OK
                );
                h
            };

            // Between lines: the callback triggers the token at line 10 and sees no 11th.
            let token = fhir_cancel_new();
            let h = scoped(token);
            let m = manifest_json(
                &s.origin,
                true,
                &[("output", "Patient", "/fhir/Binary/big")],
            );
            let mut seen = Seen {
                lines: Vec::new(),
                cancel_after: Some((10, token)),
                progress: 0,
            };
            let mut e = null_mut();
            let r = fhir_bulk_download(
                h,
                b,
                m.as_ptr() as *const c_char,
                m.len(),
                Some(on_line),
                &mut seen as *mut Seen as *mut c_void,
                null_mut(),
                &mut e,
            );
            assert_eq!(r, fhir_result::FHIR_ERR_CANCELLED, "{}", message(e));
            assert_eq!(seen.lines.len(), 10);
            fhir_server_free(h);
            fhir_cancel_free(token);

            // Mid-transfer: a stalled file; another thread triggers the token.
            for (what, json) in [
                (
                    "download",
                    manifest_json(
                        &s.origin,
                        true,
                        &[("output", "Patient", "/fhir/Binary/stall")],
                    ),
                ),
                ("wait", String::new()),
            ] {
                let token = fhir_cancel_new();
                let h = scoped(token);
                let t = token as usize;
                let trigger = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    fhir_cancel_trigger(t as *const fhir_cancel_t);
                });
                let started = Instant::now();
                let mut seen = Seen {
                    lines: Vec::new(),
                    cancel_after: None,
                    progress: 0,
                };
                let r = if what == "download" {
                    fhir_bulk_download(
                        h,
                        b,
                        json.as_ptr() as *const c_char,
                        json.len(),
                        Some(on_line),
                        &mut seen as *mut Seen as *mut c_void,
                        null_mut(),
                        null_mut(),
                    )
                } else {
                    let url = CString::new("$export-poll-status?_jobId=1").unwrap();
                    let mut manifest = null_mut();
                    fhir_bulk_wait(h, b, url.as_ptr(), &mut manifest, null_mut(), null_mut())
                };
                trigger.join().unwrap();
                assert_eq!(r, fhir_result::FHIR_ERR_CANCELLED, "{what}");
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "{what}: {:?}",
                    started.elapsed()
                );
                fhir_server_free(h);
                fhir_cancel_free(token);
            }
            fhir_bulk_free(b);
            fhir_server_free(srv);
        }
    }
}
