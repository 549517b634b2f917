//! SMART Backend Services on the wire, against scripted servers that record every request: the
//! discovery request, the token request form, the client assertion (decoded here: every header
//! field and claim, the signature verified with the public key computed by node's crypto), a
//! fresh `jti` per token request, the 401 refresh and replay, refusals (with the assertion kept
//! out of message and body), construction errors and the C ABI.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::ptr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use fhir_kindling::ffi::buffer::fhir_string_free;
use fhir_kindling::ffi::error::{fhir_error_free, fhir_error_message, fhir_error_t};
use fhir_kindling::ffi::options::*;
use fhir_kindling::ffi::result::fhir_result;
use fhir_kindling::ffi::server::{fhir_server_free, fhir_server_t};
use fhir_kindling::ffi::smart::*;
use fhir_kindling::{ErrorKind, FhirServer, Options};
use serde_json::Value;

use crate::common::{block_on, caps, Recorded, Reply, Scripted, CAPS};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/data");
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{DATA}/{name}")).unwrap()
}

fn path(name: &str) -> String {
    format!("{DATA}/{name}")
}

fn json_reply(status: u16, body: &str) -> Reply {
    let mut r = Reply::new(status, body);
    r.headers = vec![("Content-Type".into(), "application/json".into())];
    r
}

fn token_reply(token: &str, expires_in: u64) -> Reply {
    json_reply(
        200,
        &format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{expires_in},"scope":"system/Patient.rs"}}"#
        ),
    )
}

fn smart_configuration(token_url: &str, algs: &str) -> Reply {
    json_reply(
        200,
        &format!(
            r#"{{"token_endpoint":"{token_url}","grant_types_supported":["client_credentials"],
               "token_endpoint_auth_methods_supported":["private_key_jwt"],
               "token_endpoint_auth_signing_alg_values_supported":{algs},
               "capabilities":["client-confidential-asymmetric"]}}"#
        ),
    )
}

fn form(req: &Recorded) -> HashMap<String, String> {
    form_urlencoded::parse(&req.body).into_owned().collect()
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&B64URL.decode(segment).unwrap()).unwrap()
}

/// Verify the JWS signature with the public key node's crypto computed from the same PEM.
fn verify(jwt: &str, jwk_file: &str) {
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let sig = B64URL.decode(sig).unwrap();
    let jwk: Value = serde_json::from_str(&data(jwk_file)).unwrap();
    let b = |k: &str| B64URL.decode(jwk[k].as_str().unwrap()).unwrap();
    let ok = if jwk["kty"] == "RSA" {
        ring::signature::RsaPublicKeyComponents {
            n: b("n"),
            e: b("e"),
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA384,
            input.as_bytes(),
            &sig,
        )
    } else {
        let mut point = vec![4u8];
        point.extend(b("x"));
        point.extend(b("y"));
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P384_SHA384_FIXED, point)
            .verify(input.as_bytes(), &sig)
    };
    assert!(
        ok.is_ok(),
        "signature of {jwt} does not verify with {jwk_file}"
    );
}

/// Check a token request and its assertion; the assertion's claims.
#[track_caller]
fn check_token_request(req: &Recorded, token_url: &str, alg: &str, jwk: &str) -> Value {
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(req.header("authorization").is_none(), "{req:?}");
    let f = form(req);
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["client_assertion_type"], ASSERTION_TYPE);
    assert!(!f.contains_key("client_secret") && !f.contains_key("client_id"));
    let jwt = &f["client_assertion"];
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode(parts[0]);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["kid"], "key-1");
    assert_eq!(header["typ"], "JWT");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "backend-client");
    assert_eq!(claims["sub"], "backend-client");
    assert_eq!(claims["aud"], token_url);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now - iat).abs() <= 5, "iat {iat}, now {now}");
    assert!(exp > now && exp - iat <= 300, "exp {exp}, iat {iat}");
    let jti = B64URL.decode(claims["jti"].as_str().unwrap()).unwrap();
    assert_eq!(jti.len(), 16);
    let names: Vec<&String> = claims.as_object().unwrap().keys().collect();
    assert_eq!(names, ["aud", "exp", "iat", "iss", "jti", "sub"]);
    verify(jwt, jwk);
    serde_json::json!({ "header": header, "claims": claims })
}

fn options(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    o.set_smart_key_id("key-1").unwrap();
    f(&mut o);
    o
}

#[test]
fn discovery_token_request_and_assertion_are_pinned_for_rs384_and_es384() {
    for (key, jwk, alg, with_jku) in [
        (
            "smart-rsa2048.pkcs8.pem",
            "smart-rsa2048.jwk.json",
            "RS384",
            false,
        ),
        (
            "smart-rsa2048.pkcs1.pem",
            "smart-rsa2048.jwk.json",
            "RS384",
            true,
        ),
        ("smart-p384.pkcs8.pem", "smart-p384.jwk.json", "ES384", true),
        ("smart-p384.sec1.pem", "smart-p384.jwk.json", "ES384", false),
    ] {
        let idp = Scripted::start(vec![token_reply("tok-1", 300)]);
        let token_url = format!("{}/auth/token", idp.base);
        let fhir = Scripted::start(vec![
            smart_configuration(&token_url, r#"["RS384","ES384"]"#),
            Reply::new(200, CAPS),
        ]);
        let o = options(|o| {
            o.set_smart_scope("system/Patient.rs").unwrap();
            if with_jku {
                o.set_smart_jku("https://client.example/jwks.json").unwrap();
            }
        });
        let s = FhirServer::new_smart_backend(
            &format!("{}/fhir/", fhir.base),
            "backend-client",
            &path(key),
            &o,
        )
        .unwrap();
        caps(&s).unwrap();
        assert_eq!(block_on(s.granted_scope()).unwrap(), "system/Patient.rs");

        let seen = fhir.requests();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].target, "/fhir/.well-known/smart-configuration");
        assert_eq!(seen[0].header("accept"), Some("application/json"));
        assert!(seen[0].header("authorization").is_none());
        assert_eq!(seen[1].target, "/fhir/metadata");
        assert_eq!(seen[1].header("authorization"), Some("Bearer tok-1"));

        let tokens = idp.requests();
        assert_eq!(tokens.len(), 1, "the granted scope reuses the cached token");
        assert_eq!(tokens[0].target, "/auth/token");
        assert_eq!(form(&tokens[0])["scope"], "system/Patient.rs");
        let jwt = check_token_request(&tokens[0], &token_url, alg, jwk);
        let jku = &jwt["header"]["jku"];
        if with_jku {
            assert_eq!(jku, "https://client.example/jwks.json");
        } else {
            assert!(jku.is_null(), "{jwt}");
        }
    }
}

#[test]
fn every_token_request_has_a_fresh_jti_and_the_token_url_as_aud() {
    // expires_in 0: a token is used once, so each request fetches a new one.
    let idp = Scripted::start(vec![token_reply("tok-once", 0)]);
    let token_url = format!("{}/oauth2/token?tenant=a", idp.base);
    let fhir = Scripted::start(vec![Reply::new(200, CAPS)]);
    let o = options(|o| o.set_smart_token_url(&token_url).unwrap());
    let s = FhirServer::new_smart_backend(
        &fhir.base,
        "backend-client",
        &data("smart-p384.sec1.pem"),
        &o,
    )
    .unwrap();
    for _ in 0..3 {
        caps(&s).unwrap();
    }
    let tokens = idp.requests();
    assert_eq!(tokens.len(), 3);
    let mut jtis: Vec<String> = tokens
        .iter()
        .map(|r| {
            let c = check_token_request(r, &token_url, "ES384", "smart-p384.jwk.json");
            assert!(!form(r).contains_key("scope"), "no scope unless set");
            c["claims"]["jti"].as_str().unwrap().to_owned()
        })
        .collect();
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "a jti was reused");
    assert!(
        fhir.requests()
            .iter()
            .all(|r| !r.target.contains(".well-known")),
        "a configured token URL is not discovered"
    );
}

#[test]
fn a_401_refreshes_once_with_a_new_assertion_and_replays() {
    let idp = Scripted::start(vec![token_reply("tok-a", 300), token_reply("tok-b", 300)]);
    let token_url = format!("{}/token", idp.base);
    let fhir = Scripted::start(vec![
        json_reply(401, r#"{"resourceType":"OperationOutcome"}"#),
        Reply::new(200, CAPS),
        json_reply(401, r#"{"resourceType":"OperationOutcome"}"#),
    ]);
    let o = options(|o| o.set_smart_token_url(&token_url).unwrap());
    let s = FhirServer::new_smart_backend(
        &fhir.base,
        "backend-client",
        &path("smart-rsa2048.pkcs8.pem"),
        &o,
    )
    .unwrap();
    caps(&s).unwrap();
    let seen = fhir.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok-a"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer tok-b"));
    let tokens = idp.requests();
    assert_eq!(tokens.len(), 2);
    let jti = |r: &Recorded| {
        check_token_request(r, &token_url, "RS384", "smart-rsa2048.jwk.json")["claims"]["jti"]
            .clone()
    };
    assert_ne!(jti(&tokens[0]), jti(&tokens[1]));
    // A second 401 after the replay is the caller's answer: one refresh per request.
    let e = caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
}

/// A token endpoint that answers 400 with the request's form echoed in its error description.
fn echoing_token_endpoint() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let form: HashMap<String, String> =
                form_urlencoded::parse(&body).into_owned().collect();
            let echo = serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("bad assertion {}", form["client_assertion"]),
                "assertion": form["client_assertion"],
            })
            .to_string();
            let _ = tx.send(body);
            let out = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{echo}",
                echo.len()
            );
            let _ = stream.write_all(out.as_bytes());
        }
    });
    (url, rx)
}

#[test]
fn a_refusal_is_auth_with_the_provider_error_and_never_the_assertion() {
    let (token_url, sent) = echoing_token_endpoint();
    let fhir = Scripted::start(vec![Reply::new(200, CAPS)]);
    let o = options(|o| o.set_smart_token_url(&token_url).unwrap());
    let s = FhirServer::new_smart_backend(
        &fhir.base,
        "backend-client",
        &path("smart-p384.pkcs8.pem"),
        &o,
    )
    .unwrap();
    let e = caps(&s).unwrap_err();
    let body = sent.recv().unwrap();
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let jwt = &form["client_assertion"];
    let signature = jwt.rsplit('.').next().unwrap();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.status(), Some(400));
    let m = e.message();
    assert!(
        m.contains("SMART") && m.contains("invalid_client") && m.contains("backend-client"),
        "{m}"
    );
    let error_body = String::from_utf8_lossy(e.body().unwrap()).into_owned();
    assert!(error_body.contains("invalid_client"), "{error_body}");
    for text in [m, error_body.as_str(), &format!("{s:?}")] {
        assert!(!text.contains(signature), "assertion leaked: {text}");
    }
    assert!(fhir.requests().is_empty(), "no request without a token");
}

#[test]
fn discovery_failures_name_what_is_missing() {
    let cases: Vec<(Reply, &str)> = vec![
        (
            json_reply(404, r#"{"resourceType":"OperationOutcome"}"#),
            "HTTP 404",
        ),
        (json_reply(200, "<html>"), "not JSON"),
        (
            json_reply(200, r#"{"grant_types_supported":[]}"#),
            "no token_endpoint",
        ),
        (
            smart_configuration("http://127.0.0.1:9/token", r#"["RS384"]"#),
            "does not list ES384 in token_endpoint_auth_signing_alg_values_supported",
        ),
        (
            json_reply(
                200,
                r#"{"token_endpoint":"http://127.0.0.1:9/token","grant_types_supported":["authorization_code"]}"#,
            ),
            "does not list client_credentials in grant_types_supported",
        ),
        (
            json_reply(
                200,
                r#"{"token_endpoint":"http://127.0.0.1:9/token","grant_types_supported":["client_credentials"],"token_endpoint_auth_methods_supported":["client_secret_basic"]}"#,
            ),
            "does not list private_key_jwt",
        ),
    ];
    for (reply, expected) in cases {
        let fhir = Scripted::start(vec![reply]);
        let s = FhirServer::new_smart_backend(
            &format!("{}/r4", fhir.base),
            "backend-client",
            &path("smart-p384.sec1.pem"),
            &options(|_| {}),
        )
        .unwrap();
        let e = caps(&s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{}", e.message());
        assert!(
            e.message().contains(expected),
            "{} / {expected}",
            e.message()
        );
        assert!(
            e.message().contains("/r4/.well-known/smart-configuration"),
            "{}",
            e.message()
        );
        assert_eq!(fhir.requests().len(), 1, "no FHIR request without a token");
    }
}

#[test]
fn construction_refuses_what_cannot_work() {
    let url = "https://ehr.example/fhir";
    let cases: Vec<(Options, String, ErrorKind, &str)> = vec![
        (
            Options::default(),
            path("smart-p384.sec1.pem"),
            ErrorKind::InvalidArgument,
            "smart_key_id",
        ),
        (
            options(|o| o.set_smart_algorithm("RS384").unwrap()),
            path("smart-p384.sec1.pem"),
            ErrorKind::InvalidArgument,
            "RS384 does not fit",
        ),
        (
            options(|_| {}),
            path("smart-rsa1024.pkcs8.pem"),
            ErrorKind::InvalidArgument,
            "2048",
        ),
        (
            options(|_| {}),
            path("smart-p256.sec1.pem"),
            ErrorKind::InvalidArgument,
            "P-256",
        ),
        (
            options(|_| {}),
            path("no-such-key.pem"),
            ErrorKind::Io,
            "cannot read",
        ),
        (
            options(|_| {}),
            "".into(),
            ErrorKind::InvalidArgument,
            "empty",
        ),
    ];
    for (o, key, kind, expected) in cases {
        let e = FhirServer::new_smart_backend(url, "c", &key, &o).unwrap_err();
        assert_eq!(e.kind(), kind, "{}", e.message());
        assert!(
            e.message().contains(expected),
            "{} / {expected}",
            e.message()
        );
        assert!(!e.message().contains("no-such-key"), "{}", e.message());
    }
    let e = FhirServer::new_smart_backend(url, "", &path("smart-p384.sec1.pem"), &options(|_| {}))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let mut o = Options::default();
    assert!(o.set_smart_algorithm("HS256").is_err());
    assert!(o.set_smart_token_url("ftp://x/token").is_err());
    assert!(o.set_smart_jku("not a url").is_err());
    assert!(o.set_smart_key_id("").is_err());
    assert!(o.set_smart_scope("system/*.rs\n").is_err());
}

// ---------------------------------------------------------------- the C ABI

unsafe fn message(e: *mut fhir_error_t) -> String {
    let m = CStr::from_ptr(fhir_error_message(e))
        .to_string_lossy()
        .into_owned();
    fhir_error_free(e);
    m
}

#[test]
fn the_c_abi_constructs_reads_the_scope_and_prints_the_jwks() {
    let idp = Scripted::start(vec![token_reply("tok-c", 300)]);
    let fhir = Scripted::start(vec![Reply::new(200, CAPS)]);
    let c = |s: &str| CString::new(s).unwrap();
    unsafe {
        let opts = fhir_options_new();
        let mut err: *mut fhir_error_t = ptr::null_mut();
        let mut server: *mut fhir_server_t = ptr::null_mut();
        let (url, id, key) = (
            c(&fhir.base),
            c("backend-client"),
            c(&data("smart-p384.sec1.pem")),
        );
        // Without a key id: refused at construction, naming it.
        assert_eq!(
            fhir_server_new_smart_backend(
                url.as_ptr(),
                id.as_ptr(),
                key.as_ptr(),
                opts,
                &mut server,
                &mut err
            ),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        assert!(server.is_null());
        assert!(message(err).contains("smart_key_id"));
        for (f, v) in [
            (
                fhir_options_set_smart_key_id as unsafe extern "C" fn(_, _, _) -> _,
                "key-1",
            ),
            (fhir_options_set_smart_algorithm, "es384"),
            (
                fhir_options_set_smart_token_url,
                &format!("{}/token", idp.base),
            ),
        ] {
            let v = c(v);
            assert_eq!(f(opts, v.as_ptr(), ptr::null_mut()), fhir_result::FHIR_OK);
        }
        let bad = c("PS256");
        assert_eq!(
            fhir_options_set_smart_algorithm(opts, bad.as_ptr(), ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            fhir_server_new_smart_backend(
                url.as_ptr(),
                id.as_ptr(),
                key.as_ptr(),
                opts,
                &mut server,
                ptr::null_mut()
            ),
            fhir_result::FHIR_OK
        );
        fhir_options_free(opts);
        let mut scope: *mut std::ffi::c_char = ptr::null_mut();
        let mut len = 0usize;
        assert_eq!(
            fhir_server_granted_scope(server, &mut scope, &mut len, ptr::null_mut()),
            fhir_result::FHIR_OK
        );
        assert_eq!(CStr::from_ptr(scope).to_str().unwrap(), "system/Patient.rs");
        assert_eq!(len, "system/Patient.rs".len());
        fhir_string_free(scope);
        fhir_server_free(server);

        let mut json: *mut std::ffi::c_char = ptr::null_mut();
        let (kid, p) = (c("key-1"), c(&path("smart-rsa2048.pkcs1.pem")));
        assert_eq!(
            fhir_smart_public_jwks(
                p.as_ptr(),
                kid.as_ptr(),
                ptr::null(),
                &mut json,
                &mut len,
                ptr::null_mut()
            ),
            fhir_result::FHIR_OK
        );
        let set: Value = serde_json::from_str(CStr::from_ptr(json).to_str().unwrap()).unwrap();
        fhir_string_free(json);
        let want: Value = serde_json::from_str(&data("smart-rsa2048.jwk.json")).unwrap();
        assert_eq!(set["keys"][0]["n"], want["n"]);
        assert_eq!(set["keys"][0]["alg"], "RS384");
        json = ptr::null_mut();
        let es = c("ES384");
        assert_eq!(
            fhir_smart_public_jwks(
                p.as_ptr(),
                kid.as_ptr(),
                es.as_ptr(),
                &mut json,
                ptr::null_mut(),
                &mut err
            ),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        assert!(json.is_null());
        assert!(message(err).contains("ES384"));
        assert_eq!(
            fhir_smart_public_jwks(
                ptr::null(),
                kid.as_ptr(),
                ptr::null(),
                &mut json,
                ptr::null_mut(),
                ptr::null_mut()
            ),
            fhir_result::FHIR_ERR_NULL_ARGUMENT
        );
        let missing = c("/nonexistent/key.pem");
        assert_eq!(
            fhir_smart_public_jwks(
                missing.as_ptr(),
                kid.as_ptr(),
                ptr::null(),
                &mut json,
                ptr::null_mut(),
                ptr::null_mut()
            ),
            fhir_result::FHIR_ERR_IO
        );

        // Another auth mode has no granted scope.
        let tok = c("static");
        assert_eq!(
            fhir_kindling::ffi::server::fhir_server_new_token(
                url.as_ptr(),
                tok.as_ptr(),
                ptr::null(),
                &mut server,
                ptr::null_mut()
            ),
            fhir_result::FHIR_OK
        );
        assert_eq!(
            fhir_server_granted_scope(server, &mut scope, ptr::null_mut(), ptr::null_mut()),
            fhir_result::FHIR_ERR_INVALID_ARGUMENT
        );
        fhir_server_free(server);
    }
}
