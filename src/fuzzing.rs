//! Entry points for the `cargo fuzz` targets in `fuzz/` (compiled only with `--cfg fuzzing`, which
//! cargo fuzz sets; not part of the API). Each one feeds untrusted input to the parsers the
//! library runs on what servers, providers, callers and the environment give it.
//!
//! The library must never panic on any input. Beyond that, each entry point asserts a few
//! properties that hold by design (credentials only go to the configured server unless foreign
//! links are allowed; a `next` link seen before stops paging; a parsed reference is valid in a
//! URL; a secret never shows in a `Debug` print): an assertion failure here is a library bug too.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::{parse_token_response, Auth, TokenAnswer};
use crate::config::Options;
use crate::error::ErrorKind;
use crate::ops::bundle::{
    entry_view, is_match, parse_page, status_code, type_and_id, BundleWriter,
};
use crate::ops::query::{has_param, remove_param, set_param};
use crate::ops::reference::{from_location, valid_id, valid_type, Reference};
use crate::ops::search::{page_resources, Pager};
use crate::redact::Secrets;
use crate::retry::{parse_retry_after, RetryPolicy};
use crate::server::{parse_base_url, FhirServer};

/// Base URLs of the servers the page, reference and query targets resolve against.
const BASES: [&str; 4] = [
    "http://fhir.test/fhir",
    "https://fhir.test:8443/base/R4",
    "http://fhir.test",
    "http://127.0.0.1:8080/fhir",
];

/// Options for servers built per input: no system roots, so that building the client does not
/// read the machine's certificate store on every run.
fn options(allow_foreign_links: bool) -> Options {
    let mut o = Options::default();
    o.set_system_roots(false).expect("system roots off");
    o.set_allow_foreign_links(allow_foreign_links)
        .expect("foreign links");
    o
}

/// One server per base URL and foreign-link setting, built once per process.
fn servers() -> &'static [FhirServer] {
    static SERVERS: OnceLock<Vec<FhirServer>> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let mut v = Vec::new();
        for allow in [false, true] {
            for base in BASES {
                v.push(FhirServer::new(base, Auth::None, &options(allow)).expect("fixed base URL"));
            }
        }
        v
    })
}

fn server(selector: u8) -> &'static FhirServer {
    let s = servers();
    &s[selector as usize % s.len()]
}

/// Search pages as a server sends them. `data`: one selector byte (server and query), then up to
/// 8 page bodies separated by NUL bytes (which valid JSON never contains). Each page is parsed as
/// the search calls do (entries, matches, resources, created references, an error body), written
/// back with the Bundle writer, and its `next` link handed to the pager, whose next URL is the
/// following page's, so links are resolved (query-only ones against the page that carried them)
/// and loops detected page after page.
pub fn page(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let server = server(selector & 0x0f);
    let query = [
        "Patient",
        "Patient?name=x&_count=2",
        "/Observation",
        "?_id=1",
    ][(selector >> 4) as usize % 4];
    let mut pager = Pager::new(server, query).expect("fixed query resolves");
    for body in rest.split(|b| *b == 0).take(8) {
        // A well-formed body is parsed whether or not a link was refused before it.
        let fetched = pager.fetch_offline();
        one_page(server, &mut pager, body, fetched.is_some());
        if fetched.is_none() {
            break;
        }
    }
    let _ = pager.resume_url();
}

fn one_page(server: &FhirServer, pager: &mut Pager, body: &[u8], advance: bool) {
    // An error answer's body goes through the OperationOutcome summary.
    let e =
        crate::error::Error::from_status(400, "GET Patient", bytes::Bytes::copy_from_slice(body));
    assert!(e.message().starts_with("GET Patient: HTTP 400"));
    let _ = crate::server::validate_json(body);

    // The single pass over a search page reads exactly what serde reads, errors included.
    for views in [false, true] {
        assert_eq!(
            crate::ops::bundle::parse_search_page(body, views).map(|p| p.resolved(body)),
            crate::ops::bundle::parse_search_page_serde(body, views).map(|p| p.resolved(body)),
        );
    }
    let Ok(page) = parse_page(body) else {
        return;
    };
    let _ = page.bundle_type.as_deref().map(str::len);
    let mut writer = BundleWriter::new("searchset");
    let mut matches = 0u64;
    for entry in &page.entries {
        let Ok(view) = entry_view(entry) else {
            continue;
        };
        if is_match(&view) {
            matches += 1;
        }
        if let Some(res) = view.resource {
            let _ = type_and_id(res.get());
        }
        if let Some(resp) = &view.response {
            let _ = resp.status.as_deref().and_then(status_code);
            let _ = resp.location.as_deref().and_then(from_location);
        }
        writer.push_raw(entry.get()).expect("no limit is set");
    }
    let resources: Vec<_> = page_resources(&page).collect();
    let written = writer.finish(Some(matches), Some(pager.first_url()));
    // What collect_pages writes is a Bundle again, with the entries it was given.
    let again = parse_page(&written).expect("the Bundle writer writes a Bundle");
    let kept = page
        .entries
        .iter()
        .filter(|e| entry_view(e).is_ok())
        .count();
    assert_eq!(again.entries.len(), kept);
    assert_eq!(again.total, Some(matches));
    if resources.iter().all(Result::is_ok) {
        let public = crate::ops::search::bundle_resources(body).expect("same page");
        assert_eq!(public.len(), resources.len());
    }

    if !advance {
        return;
    }
    let link = page.next.as_deref();
    pager.advance(link);
    match pager.resume_url() {
        Ok(Some(next)) => {
            let url = url::Url::parse(&next).expect("the pager keeps absolute URLs");
            if !server.allow_foreign_links {
                assert!(
                    server.same_origin(&url),
                    "link {link:?} led to another server: {next}"
                );
            }
            // The pager's state is unchanged by resume_url when there is a next URL.
            assert_eq!(pager.next_url().as_deref(), Some(next.as_str()));
        }
        Ok(None) => assert!(link.is_none()),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Paging);
            // The error stays pending for the next fetch (resume_url took it: put it back).
            pager.advance(link);
        }
    }
}

/// A `Retry-After` value, as delta-seconds or an HTTP date, and the wait the retry policy
/// derives from it. `now_secs` is the clock (seconds since the epoch); `unit` the jitter sample
/// (as fastrand's in 0..1); `factor` and `cap` the policy's settings (refused when out of range).
pub fn retry_after(value: &str, now_secs: u64, retry: u32, unit: u32, factor: f64, cap: f64) {
    let now = UNIX_EPOCH + Duration::from_secs(now_secs % 253_402_300_800);
    let parsed = parse_retry_after(value, now);
    let _ = parse_retry_after(value, SystemTime::now());
    let mut policy = RetryPolicy::default();
    let _ = policy.set_backoff_factor(factor);
    let _ = policy.set_max_backoff_wait(cap);
    let unit = unit as f64 / (u32::MAX as f64 + 1.0);
    let wait = policy.wait(retry, parsed, unit);
    assert!(wait.as_secs_f64() <= policy.max_backoff_wait + 1e-9);
    let _ = policy.wait(retry, None, unit);
    // The option parsers that feed the policy.
    let mut options = Options::default();
    let _ = options.set_retry_methods(value);
    let codes: Vec<u16> = value.bytes().map(|b| b as u16 * 3).collect();
    let _ = options.set_retry_status_codes(&codes);
}

/// An OIDC token endpoint's answer (any status), through the library's own parsing: it never
/// panics, a token it accepts is a valid `Authorization` value, and no message it makes holds the
/// token or the provider's error text unquoted.
pub fn token_response(status: u16, body: &[u8]) {
    let secrets = Secrets::new();
    match parse_token_response(status, body, "fuzz-client", &secrets, "OIDC") {
        Ok(TokenAnswer {
            token, lifetime, ..
        }) => {
            assert!(!token.is_empty());
            assert!(
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_ok(),
                "an accepted token is a header value"
            );
            if let Some(l) = lifetime {
                assert!(l <= Duration::from_secs(315_360_000));
            }
        }
        Err(e) => {
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
                if let Some(t) = json.get("access_token").and_then(|v| v.as_str()) {
                    if t.len() >= 3 {
                        assert!(!e.message().contains(t), "a token in a message");
                    }
                }
            }
            assert!(!e.message().chars().any(char::is_control));
        }
    }
}

/// A base URL as a caller or the environment gives it, and paths resolved against it.
pub fn base_url(base: &str, paths: &[&str]) {
    let Ok(url) = parse_base_url(base) else {
        // Whatever parse_base_url refuses, the server refuses too (cheaply: no client is built).
        return;
    };
    assert!(matches!(url.scheme(), "http" | "https"));
    assert!(url.query().is_none() && url.fragment().is_none());
    // Building the server (its HTTP client) is the slow part: reuse it while the base is the same.
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, FhirServer)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        if last.as_ref().is_none_or(|(b, _)| b != base) {
            let server = FhirServer::new(base, Auth::None, &options(false))
                .expect("a base URL that parses makes a server");
            *last = Some((base.to_owned(), server));
        }
        let (_, server) = last.as_ref().expect("just set");
        base_url_paths(base, server, paths);
    });
}

fn base_url_paths(base: &str, server: &FhirServer, paths: &[&str]) {
    // The base URL the server reports is accepted again, as the same URL.
    let again = parse_base_url(server.base_url()).expect("the reported base URL parses");
    assert_eq!(
        again.as_str().trim_end_matches('/'),
        server.base_url(),
        "base URL {base:?} is not stable"
    );
    for path in paths {
        resolve_checked(server, path);
    }
}

/// A path or URL given as request target: on success it is on the configured server.
fn resolve_checked(server: &FhirServer, path: &str) {
    if let Ok(url) = server.resolve(path) {
        assert!(
            server.same_origin(&url),
            "path {path:?} resolved to another server: {url}"
        );
    }
}

/// A reference given by a caller, and a `Location` header or `response.location` from a server.
pub fn reference(s: &str, selector: u8) {
    let server = server(selector);
    let _ = valid_type(s);
    let _ = valid_id(s);
    if let Ok(r) = Reference::parse(s) {
        assert!(valid_type(&r.resource_type) && valid_id(&r.id));
        assert_eq!(Reference::parse(&r.full_path()).as_ref(), Ok(&r));
        let url = server
            .resolve(&r.full_path())
            .expect("a valid reference is a valid path");
        assert!(server.same_origin(&url));
    }
    if let Some(r) = from_location(s) {
        // Type and id are checked; the version is kept as the server wrote it.
        let plain = Reference::parse(&r.path()).expect("type and id from a location are valid");
        assert_eq!((&plain.resource_type, &plain.id), (&r.resource_type, &r.id));
    }
}

/// The search-parameter helpers on a query string (`path?a=b&c=d`), as search_limit and
/// search_count use them, and a built query resolved against a server.
pub fn query_string(query: &str, name: &str, value: &str, selector: u8) {
    let server = server(selector);
    resolve_checked(server, query);
    let _ = has_param(query, name);
    let set = set_param(query, name, value);
    let removed = remove_param(query, name);
    let plain = !name.is_empty() && !name.contains(['&', '=', '?']);
    if plain {
        assert!(has_param(&set, name), "{query:?} + {name:?}: {set:?}");
        assert!(
            !has_param(&removed, name),
            "{query:?} - {name:?}: {removed:?}"
        );
        assert!(!has_param(&remove_param(&set, name), name));
    }
}

/// A query built with [`crate::Query`]: a valid request target on the server, every name and
/// value encoded (no space, control character or fragment can reach the URL).
pub fn built_query(built: &str, selector: u8) {
    assert!(
        built
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'#' && b != b' '),
        "built query {built:?} has a character that breaks a URL"
    );
    let server = server(selector);
    let url = server
        .resolve(built)
        .expect("a built query is a valid path");
    assert!(server.same_origin(&url));
}

/// The first eight variables `from_env` reads (in the order of [`crate::env::VARIABLES`]; the
/// SMART variables after them stay unset).
pub fn env(values: &[Option<String>; 8], no_auth: bool, post: bool) {
    let mut options = Options::default();
    if post {
        options.set_oidc_auth_method("post").expect("post");
    }
    let get = |vals: &[Option<String>; 8]| {
        let vals = vals.clone();
        move |name: &str| {
            // The first eight variables; the SMART ones after them are left unset.
            let i = crate::env::VARIABLES.iter().position(|n| *n == name)?;
            vals.get(i).cloned().flatten()
        }
    };
    let result = crate::env::load(get(values), no_auth, &options);
    // The same environment with other (valid) secrets: the Debug print and the error message
    // must not change, or they show a secret.
    const SECRETS: [usize; 3] = [3, 4, 6]; // FHIR_PW, FHIR_TOKEN, CLIENT_SECRET
    let mut other = values.clone();
    for i in SECRETS {
        if let Some(v) = &mut other[i] {
            if !v.trim().is_empty() {
                *v = "zz-other-secret-zz".to_owned();
            }
        }
    }
    let result2 = crate::env::load(get(&other), no_auth, &options);
    match (&result, &result2) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "a secret shows in Debug"
            );
            let _ = parse_base_url(&a.base_url);
        }
        (Err(a), Err(b)) => {
            for i in SECRETS {
                let Some(secret) = values[i].as_deref().map(str::trim) else {
                    continue;
                };
                if secret.len() >= 4 && a.message().contains(secret) {
                    assert!(
                        b.message().contains(secret),
                        "a secret shows in the error: {}",
                        a.message()
                    );
                }
            }
        }
        // A secret's content may make the environment invalid (a token that is no header value).
        _ => {}
    }
}
