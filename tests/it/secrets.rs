//! Secrets never reach a message. Every kind of secret is set (basic password, static token,
//! OIDC client secret with both client authentication methods, access tokens current and past,
//! a custom header value, a proxy password), and an echo server (`common::RawServer`) reflects
//! what it received — the Authorization header, the custom header, the token request's form
//! body — into every answer a failure is made of: OperationOutcome diagnostics of each error
//! status, plain text, OIDC error JSON and token_type, a 401 naming every token issued so far,
//! next links, a Location header, malformed and wrongly typed JSON. Every failure of every
//! operation is collected, and no message may hold a secret in any form (plain,
//! percent-encoded, inside a Basic header's base64), nor a raw control character.
//!
//! The log records of every call (at trace level) are held to the same rule.
//!
//! The secrets are distinctive (all contain "S3cr3t"), so that the check is a plain substring
//! search, case-insensitive, which also catches a secret cut short or lower-cased.

use std::ffi::{c_char, CStr, CString};
use std::net::TcpStream;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use fhir_kindling::call::{Call, Scope};
use fhir_kindling::ffi::error::*;
use fhir_kindling::ffi::fhir_result;
use fhir_kindling::ffi::options::*;
use fhir_kindling::ffi::server::*;
use fhir_kindling::logging::{Level, LevelFilter, LogSink};
use fhir_kindling::{Auth, ErrorKind, FhirServer, Options};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::json;

use crate::common::{block_on, closed_port, write_reply, After, RawRequest, RawServer};

const BASIC_USER: &str = "alice";
const BASIC_PW: &str = "pw-S3cr3t+Basic/1";
const TOKEN: &str = "tok-S3cr3t+Static/1";
const CLIENT_ID: &str = "client-1";
const CLIENT_SECRET: &str = "cs-S3cr3t+Oidc/1";
const HEADER_VALUE: &str = "hdr-S3cr3t+Value/1";
const PROXY_USER: &str = "proxyuser";
const PROXY_PW: &str = "px-S3cr3t+Proxy/1";
/// Access tokens issued by the echo provider: `at-S3cr3t+Access/<n>`.
const ACCESS_PREFIX: &str = "at-S3cr3t+Access/";

/// Control characters a server slips into its text (a log injection).
const INJECTION: &str = "\r\nX-Injected: 1\u{1b}[31m\u{7}";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every form in which a secret could leak: each secret plain, form-encoded and fully
/// percent-encoded, and the base64 of each Basic credential.
fn leak_forms(access_tokens: &[String]) -> Vec<String> {
    let mut plain = vec![
        BASIC_PW.to_owned(),
        TOKEN.to_owned(),
        CLIENT_SECRET.to_owned(),
        HEADER_VALUE.to_owned(),
        PROXY_PW.to_owned(),
    ];
    plain.extend(access_tokens.iter().cloned());
    let mut forms = Vec::new();
    for s in &plain {
        forms.push(s.clone());
        forms.push(form(s));
        forms.push(utf8_percent_encode(s, NON_ALPHANUMERIC).to_string());
    }
    forms.push(b64(&format!("{BASIC_USER}:{BASIC_PW}")));
    forms.push(b64(&format!("{}:{}", form(CLIENT_ID), form(CLIENT_SECRET))));
    forms.push(b64(&format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    forms.push(b64(&format!("{PROXY_USER}:{PROXY_PW}")));
    forms
}

/// Whether a run of base64 characters in `m` decodes to text holding part of a secret (a Basic
/// credential cut short by a length bound).
fn base64_leak(m: &str) -> Option<String> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=';
    for run in m.split(|c: char| !is_b64(c)).filter(|r| r.len() >= 8) {
        let run = run.trim_end_matches('=');
        let usable = &run[..run.len() - run.len() % 4];
        let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
        if let Ok(d) = engine.decode(usable) {
            let d = String::from_utf8_lossy(&d).to_ascii_lowercase();
            if d.contains("s3cr") {
                return Some(run.to_owned());
            }
        }
    }
    None
}

/// The leaks in `messages` (context, message): secrets in any form, "s3cr3t" in any case (a
/// secret cut short or lower-cased), base64 that decodes to part of a secret, raw control
/// characters.
fn leaks(messages: &[(String, String)], access_tokens: &[String]) -> Vec<String> {
    let forms = leak_forms(access_tokens);
    let mut found = Vec::new();
    for (context, m) in messages {
        if let Some(f) = forms.iter().find(|f| m.contains(f.as_str())) {
            found.push(format!("{context}: holds {f:?}: {m:?}"));
        } else if m.to_ascii_lowercase().contains("s3cr3t") {
            found.push(format!("{context}: holds part of a secret: {m:?}"));
        } else if let Some(run) = base64_leak(m) {
            found.push(format!(
                "{context}: holds base64 of part of a secret ({run}): {m:?}"
            ));
        }
        if m.chars().any(char::is_control) {
            found.push(format!("{context}: holds a raw control character: {m:?}"));
        }
    }
    found
}

#[track_caller]
fn assert_no_leaks(messages: &[(String, String)], access_tokens: &[String]) {
    // Not vacuous: the echoes reached the messages, and were cleaned there.
    assert!(
        messages.iter().any(|(_, m)| m.contains("[redacted]")),
        "no message held an echoed secret: {messages:#?}"
    );
    let found = leaks(messages, access_tokens);
    assert!(
        found.is_empty(),
        "{} of {} messages leak:\n{}",
        found.len(),
        messages.len(),
        found.join("\n")
    );
}

// ---------------------------------------------------------------- the echo server

/// How the echo server answers API requests (the provider has its own modes).
#[derive(Clone, Debug, PartialEq)]
enum Scenario {
    /// An OperationOutcome whose diagnostics echo the request, with this status.
    Outcome(u16),
    /// The echo as text/plain, with this status.
    PlainText(u16),
    /// 200 with a JSON document cut short inside a string holding the echo.
    Truncated,
    /// 200 with the echo in strings where other types belong (serde quotes those).
    WrongTypes,
    /// 200 with a searchset whose next link carries the echo in the given way.
    NextLink(&'static str),
    /// 201 without a body, Location holding the echo.
    Location,
    /// Like `Outcome(401)`, diagnostics naming every access token issued so far.
    PastTokens,
}

/// How the provider answers token requests.
#[derive(Clone, Debug, PartialEq)]
enum Provider {
    /// A new token each time (`at-S3cr3t+Access/<n>`), valid for one request.
    Rotate,
    /// 401 `{"error": <secret echo>, "error_description": <Authorization + form body>}`.
    Refuse,
    /// 200 with `token_type` echoing what was received.
    TokenType,
    /// 200 with a JSON document cut short inside a string holding the echo.
    Truncated,
}

struct Echo {
    server: RawServer,
    scenario: Arc<Mutex<Scenario>>,
    provider: Arc<Mutex<Provider>>,
    issued: Arc<Mutex<Vec<String>>>,
}

/// What the server received that could be secret, decoded where it was encoded.
fn echo_of(req: &RawRequest) -> String {
    let mut parts = Vec::new();
    for h in ["authorization", "x-api-key", "proxy-authorization"] {
        if let Some(v) = req.header(h) {
            parts.push(v.to_owned());
            if let Some(basic) = v.strip_prefix("Basic ") {
                if let Ok(d) = base64::engine::general_purpose::STANDARD.decode(basic) {
                    parts.push(String::from_utf8_lossy(&d).into_owned());
                }
            }
        }
    }
    if req.path().ends_with("/token") {
        parts.push(String::from_utf8_lossy(&req.body).into_owned());
    }
    format!("{}{INJECTION}", parts.join(" | "))
}

fn outcome(diagnostics: &str) -> String {
    json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": diagnostics}]}).to_string()
}

fn answer(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &str) -> After {
    let _ = write_reply(stream, status, headers, body.as_bytes(), true);
    After::Close
}

const FHIR: (&str, &str) = ("Content-Type", "application/fhir+json");

impl Echo {
    fn start() -> Echo {
        let scenario = Arc::new(Mutex::new(Scenario::Outcome(500)));
        let provider = Arc::new(Mutex::new(Provider::Rotate));
        let issued: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let origin = Arc::new(OnceLock::<String>::new());
        let (sc, pr, is, or) = (
            scenario.clone(),
            provider.clone(),
            issued.clone(),
            origin.clone(),
        );
        let server = RawServer::start(move |req, stream| {
            let echo = echo_of(req);
            let origin = or.get().unwrap();
            if req.path() == "/oidc/token" {
                let p = pr.lock().unwrap().clone();
                return match p {
                    Provider::Rotate => {
                        let mut issued = is.lock().unwrap();
                        let token = format!("{ACCESS_PREFIX}{}", issued.len() + 1);
                        issued.push(token.clone());
                        let body =
                            json!({"access_token": token, "token_type": "Bearer", "expires_in": 0});
                        answer(stream, 200, &[FHIR], &body.to_string())
                    }
                    Provider::Refuse => {
                        let body = json!({"error": format!("{CLIENT_SECRET} {echo}"), "error_description": echo});
                        answer(stream, 401, &[FHIR], &body.to_string())
                    }
                    Provider::TokenType => {
                        let mut issued = is.lock().unwrap();
                        let token = format!("{ACCESS_PREFIX}{}", issued.len() + 1);
                        issued.push(token.clone());
                        let body =
                            json!({"access_token": token, "token_type": echo, "expires_in": 60});
                        answer(stream, 200, &[FHIR], &body.to_string())
                    }
                    Provider::Truncated => {
                        let body = format!("{{\"access_token\": 7, \"error\": {}", json!(echo));
                        answer(stream, 200, &[FHIR], &body)
                    }
                };
            }
            let s = sc.lock().unwrap().clone();
            match s {
                Scenario::Outcome(status) => answer(stream, status, &[FHIR], &outcome(&echo)),
                Scenario::PlainText(status) => {
                    answer(stream, status, &[("Content-Type", "text/plain")], &echo)
                }
                Scenario::Truncated => {
                    let body = format!(
                        "{{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"id\":{}",
                        json!(echo)
                    );
                    answer(stream, 200, &[FHIR], &body)
                }
                Scenario::WrongTypes => {
                    let body = json!({"resourceType": "Bundle", "type": echo, "total": echo, "link": echo, "entry": echo, "id": 1});
                    answer(stream, 200, &[FHIR], &body.to_string())
                }
                Scenario::NextLink(how) => {
                    let secret = echo.split(" | ").next().unwrap_or("").trim();
                    let raw = secret.replace(' ', "");
                    let enc = form(secret);
                    let link = match how {
                        "query" => format!("{origin}/fhir/Patient?echo={enc}"),
                        "foreign-host" => format!("http://evil.example/fhir/{enc}?echo={raw}"),
                        "foreign-path" => format!("{origin}/{enc}/Patient?echo={enc}"),
                        "userinfo" => format!("http://u:{enc}@{}/fhir/Patient", &origin[7..]),
                        "dots" => format!("{origin}/fhir/../{enc}?echo={enc}"),
                        "control" => format!("{origin}/fhir/Patient?echo={raw}{INJECTION}"),
                        _ => format!("not a url {raw} :://{enc}"),
                    };
                    let body = json!({"resourceType": "Bundle", "type": "searchset",
                        "link": [{"relation": "next", "url": link}],
                        "entry": [{"fullUrl": format!("{origin}/fhir/Patient/1"), "resource": {"resourceType": "Patient", "id": "1"}, "search": {"mode": "match"}}]});
                    answer(stream, 200, &[FHIR], &body.to_string())
                }
                Scenario::Location => {
                    let secret = form(echo.split(" | ").next().unwrap_or(""));
                    let location = format!("{origin}/fhir/Patient/{secret}/_history/{secret}");
                    answer(stream, 201, &[FHIR, ("Location", &location)], "")
                }
                Scenario::PastTokens => {
                    let all = is.lock().unwrap().join(", ");
                    answer(
                        stream,
                        401,
                        &[FHIR],
                        &outcome(&format!("refused {all}{INJECTION}")),
                    )
                }
            }
        });
        origin.set(server.origin.clone()).unwrap();
        Echo {
            server,
            scenario,
            provider,
            issued,
        }
    }

    fn set(&self, s: Scenario) {
        *self.scenario.lock().unwrap() = s;
    }

    fn provider(&self, p: Provider) {
        *self.provider.lock().unwrap() = p;
    }

    fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------- handles of each auth mode

#[derive(Clone, Copy, Debug)]
enum Mode {
    Basic,
    Token,
    OidcBasic,
    OidcPost,
    /// SMART Backend Services: a private key signs an assertion for every token request.
    Smart,
}

/// The SMART handle's private key (a fixed test key) and key id.
fn smart_key() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/data/smart-rsa2048.pkcs8.pem"
    ))
    .unwrap()
}
const SMART_KID: &str = "kid-S3cr3t-free";

const MODES: [Mode; 4] = [Mode::Basic, Mode::Token, Mode::OidcBasic, Mode::OidcPost];

/// A proxy URL with the proxy password, percent-encoded as a URL requires.
fn proxy_url(port: u16) -> String {
    format!(
        "http://{PROXY_USER}:{}@127.0.0.1:{port}",
        utf8_percent_encode(PROXY_PW, NON_ALPHANUMERIC)
    )
}

/// Options with the custom header and a proxy with credentials for `proxy_scheme`.
fn options(mode: Mode, proxy_scheme: &str, proxy_port: u16) -> Options {
    let mut o = Options::default();
    // With OIDC every request carries a new token, so a next link echoing it is new on every
    // page: a search would go on for ever (until the default of a million pages).
    o.set_max_pages(20).unwrap();
    o.add_header("X-Api-Key", HEADER_VALUE).unwrap();
    o.set_proxy(proxy_scheme, &proxy_url(proxy_port)).unwrap();
    match mode {
        Mode::OidcBasic => o.set_oidc_auth_method("client_secret_basic").unwrap(),
        Mode::OidcPost => o.set_oidc_auth_method("client_secret_post").unwrap(),
        Mode::Smart => {
            o.set_smart_key_id(SMART_KID).unwrap();
            o.set_smart_algorithm("RS384").unwrap();
        }
        _ => {}
    }
    o
}

fn handle_with(echo: &Echo, mode: Mode, o: &Options) -> FhirServer {
    let base = echo.server.url("/fhir");
    let auth = match mode {
        Mode::Basic => Auth::basic(BASIC_USER, BASIC_PW).unwrap(),
        Mode::Token => Auth::token(TOKEN).unwrap(),
        Mode::OidcBasic | Mode::OidcPost => {
            return FhirServer::new_oidc(
                &base,
                CLIENT_ID,
                CLIENT_SECRET,
                &echo.server.url("/oidc/token"),
                o,
            )
            .unwrap()
        }
        Mode::Smart => {
            let mut o = o.clone();
            o.set_smart_token_url(&echo.server.url("/oidc/token"))
                .unwrap();
            return FhirServer::new_smart_backend(&base, CLIENT_ID, &smart_key(), &o).unwrap();
        }
    };
    FhirServer::new(&base, auth, o).unwrap()
}

/// A handle of `mode` whose proxy (with a password) is for https only: these plain-http requests
/// go straight to the echo server.
fn handle(echo: &Echo, mode: Mode) -> FhirServer {
    handle_with(echo, mode, &options(mode, "https", closed_port()))
}

// ---------------------------------------------------------------- every operation

const CALLS: [&str; 11] = [
    "capabilities",
    "read",
    "create",
    "update",
    "delete",
    "search_all",
    "search_stream",
    "create_all",
    "send_bundle",
    "operation GET",
    "operation POST",
];

/// Log records of the calls, collected per thread: the library delivers them on the calling
/// thread, so a thread-local sees exactly this test's records (and would miss any delivered
/// elsewhere).
struct ThreadRecords;

thread_local! {
    static RECORDS: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl LogSink for ThreadRecords {
    fn max_level(&self) -> LevelFilter {
        LevelFilter::Trace
    }
    fn log(&self, level: Level, target: &str, message: &str) {
        RECORDS.with(|r| {
            r.borrow_mut()
                .push((format!("log {level} {target}"), message.to_owned()))
        });
    }
}

/// Run `future` as one call logging at trace level into this thread's records.
fn run<T>(
    future: impl std::future::Future<Output = fhir_kindling::Result<T>>,
) -> fhir_kindling::Result<T> {
    let sink: Arc<dyn LogSink> = Arc::new(ThreadRecords);
    block_on(Call::new(Scope::default(), Some(sink)).run(future))
}

/// The records collected on this thread so far (and forget them).
fn take_records() -> Vec<(String, String)> {
    RECORDS.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

fn call(s: &FhirServer, name: &str) -> fhir_kindling::Result<()> {
    let patient = br#"{"resourceType":"Patient","id":"1"}"#;
    match name {
        "capabilities" => run(s.capabilities()).map(drop),
        "read" => run(s.read("Patient/1")).map(drop),
        "create" => run(s.create(br#"{"resourceType":"Patient"}"#, None)).map(drop),
        "update" => run(s.update(patient, None)).map(drop),
        "delete" => run(s.delete("Patient/1")).map(drop),
        "search_all" => run(s.search_all("Patient?name=x")).map(drop),
        "search_stream" => {
            let mut stream = s.search_stream("Patient?name=x")?;
            while run(stream.next_page())?.is_some() {}
            Ok(())
        }
        "create_all" => run(s.create_all(br#"[{"resourceType":"Patient"}]"#, 0)).map(drop),
        "send_bundle" => {
            run(s.send_bundle(br#"{"resourceType":"Bundle","type":"batch","entry":[]}"#)).map(drop)
        }
        "operation GET" => run(s.operation("Patient", "$everything", "GET", None)).map(drop),
        "operation POST" => run(s.operation(
            "Patient/1",
            "$validate",
            "POST",
            Some(br#"{"resourceType":"Parameters"}"#),
        ))
        .map(drop),
        _ => unreachable!("{name}"),
    }
}

const STATUSES: [u16; 9] = [400, 401, 403, 404, 409, 410, 412, 500, 503];

fn scenarios() -> Vec<Scenario> {
    let mut all: Vec<Scenario> = STATUSES.iter().map(|&s| Scenario::Outcome(s)).collect();
    all.extend([
        Scenario::PlainText(400),
        Scenario::PlainText(500),
        Scenario::Truncated,
        Scenario::WrongTypes,
        Scenario::Location,
    ]);
    for how in [
        "query",
        "foreign-host",
        "foreign-path",
        "userinfo",
        "dots",
        "control",
        "garbage",
    ] {
        all.push(Scenario::NextLink(how));
    }
    all
}

/// Every scenario × every call on a handle of `mode`; the messages of the failures.
fn drive(echo: &Echo, mode: Mode) -> Vec<(String, String)> {
    let s = handle(echo, mode);
    let mut messages = Vec::new();
    for scenario in scenarios() {
        echo.set(scenario.clone());
        for name in CALLS {
            if let Err(e) = call(&s, name) {
                messages.push((
                    format!("{mode:?} {scenario:?} {name}"),
                    e.message().to_owned(),
                ));
            } else if matches!(scenario, Scenario::Outcome(_) | Scenario::PlainText(_)) {
                panic!("{mode:?} {scenario:?} {name}: an error status succeeded");
            }
        }
    }
    // Every log record of every call (trace level: full URLs, retries, token fetches) too.
    let records = take_records();
    assert!(records.len() > 300, "{} log records", records.len());
    messages.extend(records);
    messages
}

#[test]
fn no_failure_of_any_operation_shows_a_secret_basic() {
    let echo = Echo::start();
    let messages = drive(&echo, Mode::Basic);
    assert!(messages.len() > 150, "{} failures", messages.len());
    assert_no_leaks(&messages, &[]);
}

#[test]
fn no_failure_of_any_operation_shows_a_secret_token() {
    let echo = Echo::start();
    let messages = drive(&echo, Mode::Token);
    assert!(messages.len() > 150, "{} failures", messages.len());
    assert_no_leaks(&messages, &[]);
}

#[test]
fn no_failure_of_any_operation_shows_a_secret_oidc_client_secret_basic() {
    let echo = Echo::start();
    let messages = drive(&echo, Mode::OidcBasic);
    assert!(messages.len() > 150, "{} failures", messages.len());
    let issued = echo.issued();
    assert!(issued.len() > 100, "a token per request: {}", issued.len());
    assert_no_leaks(&messages, &issued);
}

#[test]
fn no_failure_of_any_operation_shows_a_secret_oidc_client_secret_post() {
    let echo = Echo::start();
    let messages = drive(&echo, Mode::OidcPost);
    assert!(messages.len() > 150, "{} failures", messages.len());
    let issued = echo.issued();
    assert!(issued.len() > 100, "a token per request: {}", issued.len());
    assert_no_leaks(&messages, &issued);
}

#[test]
fn no_failure_of_any_operation_shows_a_secret_smart_backend_services() {
    let echo = Echo::start();
    let messages = drive(&echo, Mode::Smart);
    assert!(messages.len() > 150, "{} failures", messages.len());
    let issued = echo.issued();
    assert!(issued.len() > 100, "a token per request: {}", issued.len());
    assert_no_leaks(&messages, &issued);
    // Neither the key nor a signed assertion (a JWT: base64url of `{"`) shows anywhere.
    let key_body: Vec<String> = smart_key()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    for (what, m) in &messages {
        assert!(!m.contains("eyJ"), "{what}: an assertion in {m}");
        assert!(
            !key_body.iter().any(|l| m.contains(l.as_str())),
            "{what}: the key in {m}"
        );
    }
}

#[test]
fn provider_refusals_and_odd_answers_show_no_secret() {
    let echo = Echo::start();
    let mut messages = Vec::new();
    for mode in [Mode::OidcBasic, Mode::OidcPost] {
        for provider in [Provider::Refuse, Provider::TokenType, Provider::Truncated] {
            echo.provider(provider.clone());
            // A new handle each time: the token endpoint is asked on its first request.
            let s = handle(&echo, mode);
            for name in ["capabilities", "read", "search_all", "create"] {
                let e = call(&s, name).expect_err("the provider gave no usable token");
                assert_eq!(
                    e.kind(),
                    ErrorKind::Auth,
                    "{mode:?} {provider:?} {name}: {e:?}"
                );
                messages.push((
                    format!("{mode:?} {provider:?} {name}"),
                    e.message().to_owned(),
                ));
            }
        }
    }
    assert_no_leaks(&messages, &echo.issued());
}

#[test]
fn a_401_naming_current_and_past_access_tokens_shows_none() {
    for mode in [Mode::OidcBasic, Mode::OidcPost] {
        // An echo server per handle: tokens issued to a handle that is gone are no secret of a
        // live one.
        let echo = Echo::start();
        let mut messages = Vec::new();
        let s = handle(&echo, mode);
        // Tokens are used once each (expires_in 0): every request fetches a new one, and
        // every 401 is replayed with yet another. The 401 names all of them.
        echo.set(Scenario::PastTokens);
        for name in CALLS {
            let e = call(&s, name).unwrap_err();
            messages.push((format!("{mode:?} {name}"), e.message().to_owned()));
        }
        let issued = echo.issued();
        assert!(issued.len() >= 20, "{} tokens", issued.len());
        assert_no_leaks(&messages, &issued);
    }
}

/// A long-lived handle goes through many tokens (one an hour for a year is 8760); a server or
/// provider may echo any of them.
#[test]
fn a_401_naming_the_first_of_many_past_access_tokens_shows_none() {
    let echo = Echo::start();
    let s = handle(&echo, Mode::OidcBasic);
    echo.set(Scenario::Outcome(500));
    for _ in 0..200 {
        call(&s, "read").unwrap_err();
    }
    echo.set(Scenario::PastTokens);
    let e = call(&s, "read").unwrap_err();
    let issued = echo.issued();
    assert!(issued.len() > 200, "{} tokens", issued.len());
    assert_no_leaks(
        &[("after 200 tokens".to_owned(), e.message().to_owned())],
        &issued,
    );
}

#[test]
fn a_proxy_that_echoes_its_credentials_or_cannot_be_reached_shows_no_password() {
    // The echo server as the proxy of plain-http requests: it answers each proxied request
    // (absolute-form target, Proxy-Authorization) with the echo.
    let echo = Echo::start();
    let target = Echo::start();
    let mut messages = Vec::new();
    let mut wrong_kinds = Vec::new();
    let port: u16 = echo
        .server
        .origin
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for mode in MODES {
        for status in [400, 403, 407, 502] {
            echo.set(Scenario::Outcome(status));
            let s = handle_with(&target, mode, &options(mode, "http", port));
            // The OIDC token request goes through the proxy too.
            let e = call(&s, "read").unwrap_err();
            messages.push((format!("{mode:?} proxy {status}"), e.message().to_owned()));
        }
        let s = handle_with(&target, mode, &options(mode, "all", closed_port()));
        for name in ["read", "search_all", "create"] {
            let e = call(&s, name).unwrap_err();
            // The header: a proxy that cannot be reached gives FHIR_ERR_PROXY.
            if e.kind() != ErrorKind::Proxy || !e.message().contains("proxy") {
                wrong_kinds.push(format!("{mode:?} {name}: {e:?}"));
            }
            messages.push((
                format!("{mode:?} unreachable proxy {name}"),
                e.message().to_owned(),
            ));
        }
    }
    let proxied = echo.server.requests();
    assert!(
        proxied
            .iter()
            .any(|r| r.header("proxy-authorization").is_some()),
        "the proxy was used with its credentials"
    );
    assert_no_leaks(&messages, &echo.issued());
    assert!(
        wrong_kinds.is_empty(),
        "an unreachable proxy is not FHIR_ERR_PROXY naming the proxy:\n{}",
        wrong_kinds.join("\n")
    );
}

#[test]
fn control_characters_from_the_server_come_out_escaped() {
    let echo = Echo::start();
    let s = handle(&echo, Mode::Basic);
    echo.set(Scenario::Outcome(500));
    let e = call(&s, "read").unwrap_err();
    let m = e.message();
    assert!(
        m.contains("X-Injected: 1"),
        "the diagnostics are quoted: {m:?}"
    );
    for c in ['\r', '\n', '\u{1b}', '\u{7}'] {
        assert!(!m.contains(c), "raw {c:?} in {m:?}");
    }
    assert!(m.contains("\\r\\n"), "escaped: {m:?}");
}

/// A secret that a length bound would cut in two must not leave its first part in the
/// message: the bounds on server text are 300 bytes for OperationOutcome diagnostics and for
/// `error_description`, 100 for the OIDC `error`, 40 for `token_type`. The server pads its
/// text so that each bound falls at each place inside the client secret (and inside the
/// base64 of the client_secret_basic header that follows it).
#[test]
fn a_secret_cut_by_a_length_bound_leaves_no_part_behind() {
    let state = Arc::new(Mutex::new(("diagnostics", 0usize)));
    let st = state.clone();
    let server = RawServer::start(move |req, stream| {
        let (place, pad) = *st.lock().unwrap();
        let text = format!(
            "{}{CLIENT_SECRET} {}",
            "x".repeat(pad),
            req.header("authorization").unwrap_or("")
        );
        let token = json!({"access_token": "at-fine", "token_type": "Bearer", "expires_in": 60});
        match (req.path(), place) {
            ("/oidc/token", "token_type") => {
                let body = json!({"access_token": "at-fine", "token_type": text});
                answer(stream, 200, &[FHIR], &body.to_string())
            }
            ("/oidc/token", "error") => {
                answer(stream, 400, &[FHIR], &json!({"error": text}).to_string())
            }
            ("/oidc/token", "error_description") => {
                let body = json!({"error": "invalid_client", "error_description": text});
                answer(stream, 400, &[FHIR], &body.to_string())
            }
            ("/oidc/token", _) => answer(stream, 200, &[FHIR], &token.to_string()),
            _ => answer(stream, 500, &[FHIR], &outcome(&text)),
        }
    });
    let mut messages = Vec::new();
    for (place, bound) in [
        ("diagnostics", 300u32),
        ("error_description", 300),
        ("error", 100),
        ("token_type", 40),
    ] {
        for pad in (bound as usize - 40)..bound as usize {
            *state.lock().unwrap() = (place, pad);
            let mut o = Options::default();
            o.set_oidc_auth_method("client_secret_basic").unwrap();
            let s = FhirServer::new_oidc(
                &server.url("/fhir"),
                CLIENT_ID,
                CLIENT_SECRET,
                &server.url("/oidc/token"),
                &o,
            )
            .unwrap();
            let e = block_on(s.read("Patient/1")).unwrap_err();
            messages.push((format!("{place} padded by {pad}"), e.message().to_owned()));
        }
    }
    assert_no_leaks(&messages, &[]);
}

// ---------------------------------------------------------------- through the C ABI

fn c_message(e: *const fhir_error_t) -> String {
    unsafe {
        CStr::from_ptr(fhir_error_message(e))
            .to_string_lossy()
            .into_owned()
    }
}

/// C options with the custom header and the https proxy with its password.
unsafe fn c_options(mode: Mode) -> *mut fhir_options_t {
    let o = fhir_options_new();
    let (name, value) = (
        CString::new("X-Api-Key").unwrap(),
        CString::new(HEADER_VALUE).unwrap(),
    );
    assert_eq!(
        fhir_options_add_header(o, name.as_ptr(), value.as_ptr(), ptr::null_mut()),
        fhir_result::FHIR_OK
    );
    let (scheme, url) = (
        CString::new("https").unwrap(),
        CString::new(proxy_url(closed_port())).unwrap(),
    );
    assert_eq!(
        fhir_options_set_proxy(o, scheme.as_ptr(), url.as_ptr(), ptr::null_mut()),
        fhir_result::FHIR_OK
    );
    let method = match mode {
        Mode::OidcPost => Some("client_secret_post"),
        Mode::OidcBasic => Some("client_secret_basic"),
        _ => None,
    };
    if let Some(m) = method {
        let m = CString::new(m).unwrap();
        assert_eq!(
            fhir_options_set_oidc_auth_method(o, m.as_ptr(), ptr::null_mut()),
            fhir_result::FHIR_OK
        );
    }
    o
}

unsafe fn c_handle(echo: &Echo, mode: Mode) -> *mut fhir_server_t {
    let o = c_options(mode);
    let base = CString::new(echo.server.url("/fhir")).unwrap();
    let mut s: *mut fhir_server_t = ptr::null_mut();
    let rc = match mode {
        Mode::Basic => {
            let (u, p) = (
                CString::new(BASIC_USER).unwrap(),
                CString::new(BASIC_PW).unwrap(),
            );
            fhir_server_new_basic(
                base.as_ptr(),
                u.as_ptr(),
                p.as_ptr(),
                o,
                &mut s,
                ptr::null_mut(),
            )
        }
        Mode::Token => {
            let t = CString::new(TOKEN).unwrap();
            fhir_server_new_token(base.as_ptr(), t.as_ptr(), o, &mut s, ptr::null_mut())
        }
        Mode::Smart => unreachable!("the C ABI matrix runs the four modes of MODES"),
        Mode::OidcBasic | Mode::OidcPost => {
            let (id, secret) = (
                CString::new(CLIENT_ID).unwrap(),
                CString::new(CLIENT_SECRET).unwrap(),
            );
            let provider = CString::new(echo.server.url("/oidc/token")).unwrap();
            fhir_server_new_oidc(
                base.as_ptr(),
                id.as_ptr(),
                secret.as_ptr(),
                provider.as_ptr(),
                o,
                &mut s,
                ptr::null_mut(),
            )
        }
    };
    fhir_options_free(o);
    assert_eq!(rc, fhir_result::FHIR_OK);
    s
}

/// `fhir_resource_read` of Patient/1; the code and message of its failure.
unsafe fn c_read(s: *const fhir_server_t) -> (fhir_result, String) {
    let r = CString::new("Patient/1").unwrap();
    let mut json: *mut c_char = ptr::null_mut();
    let mut err: *mut fhir_error_t = ptr::null_mut();
    let rc = fhir_kindling::ffi::ops::fhir_resource_read(
        s,
        r.as_ptr(),
        &mut json,
        ptr::null_mut(),
        &mut err,
    );
    assert!(json.is_null());
    let m = c_message(err);
    fhir_error_free(err);
    (rc, m)
}

#[test]
fn through_the_c_abi_no_message_shows_a_secret() {
    let mut messages = Vec::new();
    let mut issued = Vec::new();
    unsafe {
        for mode in MODES {
            // An echo server per handle: tokens of a freed handle are no secret of a live one.
            let echo = Echo::start();
            let s = c_handle(&echo, mode);
            for status in [401, 500] {
                echo.set(Scenario::Outcome(status));
                let (rc, m) = c_read(s);
                assert_ne!(rc, fhir_result::FHIR_OK);
                messages.push((format!("C {mode:?} {status}"), m));
            }
            echo.set(Scenario::PastTokens);
            let (rc, m) = c_read(s);
            assert_eq!(rc, fhir_result::FHIR_ERR_AUTH, "{m}");
            messages.push((format!("C {mode:?} past tokens"), m));
            fhir_server_free(s);
            issued.extend(echo.issued());
        }
        for mode in [Mode::OidcBasic, Mode::OidcPost] {
            let echo = Echo::start();
            echo.provider(Provider::Refuse);
            let s = c_handle(&echo, mode);
            let (rc, m) = c_read(s);
            assert_eq!(rc, fhir_result::FHIR_ERR_AUTH, "{m}");
            messages.push((format!("C {mode:?} provider refuses"), m));
            fhir_server_free(s);
        }
    }
    assert_no_leaks(&messages, &issued);
}
