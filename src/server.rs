//! `FhirServer`: one configured connection to a FHIR REST server (base URL, auth, options) and
//! the general request call every FHIR operation builds on.

use bytes::Bytes;
use reqwest::Method;
use url::Url;

use crate::auth::{Auth, OidcAuth};
use crate::config::Options;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Request, Response, Transport};

pub struct FhirServer {
    base: Url,
    base_str: String,
    pub(crate) transport: Transport,
    pub(crate) allow_foreign_links: bool,
    /// Transactions `create_all` keeps in flight (1: one after the other).
    pub(crate) create_all_parallel: usize,
}

impl std::fmt::Debug for FhirServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirServer")
            .field("base", &self.base_str)
            .field("auth", &self.transport.auth)
            .field("allow_foreign_links", &self.allow_foreign_links)
            .finish()
    }
}

/// Validate a base URL: http or https, a host, no credentials, query or fragment; trailing `/` removed.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Error::invalid("base URL is empty"));
    }
    // The input is not echoed: it may hold credentials.
    let url =
        Url::parse(raw).map_err(|e| Error::invalid(format!("base URL is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(format!(
            "base URL scheme '{}' is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid("base URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "base URL must not carry credentials; use the basic auth mode (or another auth mode)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid("base URL must not have a query or fragment"));
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

impl FhirServer {
    pub fn new(base_url: &str, auth: Auth, options: &Options) -> Result<FhirServer> {
        let base = parse_base_url(base_url)?;
        let base_str = base.as_str().trim_end_matches('/').to_owned();
        let transport = Transport::build(options, auth)?;
        Ok(FhirServer {
            base,
            base_str,
            transport,
            allow_foreign_links: options.allow_foreign_links,
            create_all_parallel: options.create_all_parallel,
        })
    }

    pub fn new_basic(
        base_url: &str,
        username: &str,
        password: &str,
        options: &Options,
    ) -> Result<FhirServer> {
        FhirServer::new(base_url, Auth::basic(username, password)?, options)
    }

    pub fn new_token(base_url: &str, token: &str, options: &Options) -> Result<FhirServer> {
        FhirServer::new(base_url, Auth::token(token)?, options)
    }

    pub fn new_oidc(
        base_url: &str,
        client_id: &str,
        client_secret: &str,
        provider_url: &str,
        options: &Options,
    ) -> Result<FhirServer> {
        let oidc = OidcAuth::new(
            client_id,
            client_secret,
            provider_url,
            options.oidc_scope.clone(),
            options.oidc_auth_method,
        )?;
        FhirServer::new(base_url, Auth::Oidc(Box::new(oidc)), options)
    }

    /// Configure from the process environment (see [`crate::env`]).
    pub fn from_env(no_auth: bool, options: &Options) -> Result<FhirServer> {
        Self::from_env_with(|k| std::env::var(k).ok(), no_auth, options)
    }

    pub fn from_env_with(
        get: impl Fn(&str) -> Option<String>,
        no_auth: bool,
        options: &Options,
    ) -> Result<FhirServer> {
        let cfg = crate::env::load(get, no_auth, options)?;
        FhirServer::new(&cfg.base_url, cfg.auth, options).map_err(|e| match e.kind() {
            ErrorKind::InvalidArgument => {
                Error::config(format!("FHIR_API_URL / FHIR_SERVER_URL: {}", e.message()))
            }
            _ => e,
        })
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_str
    }

    /// Whether `url` has the same scheme, host and port as the base URL (the url crate keeps
    /// scheme and host in lower case, so the comparison is case-insensitive).
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Whether `url` is on the configured server and under the base path: the only URLs that get
    /// the credentials and the caller's headers.
    pub(crate) fn under_base(&self, url: &Url) -> bool {
        let base = self.base.path().trim_end_matches('/');
        self.same_origin(url)
            && url.username().is_empty()
            && url.password().is_none()
            && (base.is_empty()
                || url.path() == base
                || url
                    .path()
                    .strip_prefix(base)
                    .is_some_and(|r| r.starts_with('/')))
    }

    /// A path relative to the base URL (`Patient/1`, `/metadata`, `Patient?name=x`) or an
    /// absolute URL under the base URL. Dot segments (plain or percent-encoded), encoded slashes,
    /// backslashes and credentials are refused, so that no path leaves the base path. The input
    /// is never echoed: it may hold credentials or patient data.
    pub(crate) fn resolve(&self, path: &str) -> Result<Url> {
        let path = path.trim();
        if path.chars().any(|c| c.is_control()) {
            return Err(Error::invalid("path contains control characters"));
        }
        check_path_segments(path).map_err(Error::invalid)?;
        if is_http_url(path) {
            let url = Url::parse(path)
                .map_err(|e| Error::invalid(format!("the URL given as path is invalid: {e}")))?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(Error::invalid(
                    "the URL given as path carries credentials; they are set by the auth mode",
                ));
            }
            if !self.under_base(&url) {
                return Err(Error::invalid(format!(
                    "the URL given as path is not under the configured base URL {}; credentials are only sent there",
                    self.base_str
                )));
            }
            return Ok(url);
        }
        if path.split('?').next().unwrap_or("").contains("://") {
            return Err(Error::invalid(
                "the path is neither a relative path nor an http(s) URL",
            ));
        }
        let rest = path.trim_start_matches('/');
        if rest.is_empty() {
            return Ok(self.base.clone());
        }
        let url = self.join(rest);
        if !self.under_base(&url) {
            return Err(Error::invalid("the path leaves the base URL's path"));
        }
        Ok(url)
    }

    /// `[base]/rest`, built on the parsed base URL: only the path, query and fragment of `rest`
    /// are parsed, not the scheme and host again (their parsing, IDNA and IPv4 forms included,
    /// was most of the cost of a request's URL). The same URL as parsing `"[base]/rest"` whole
    /// (`join_is_parsing_the_joined_string` checks it).
    fn join(&self, rest: &str) -> Url {
        // As a URL parser splits them: the fragment first, then the query.
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (rel, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let base_path = self.base.path().trim_end_matches('/');
        let mut path = String::with_capacity(base_path.len() + 1 + rel.len());
        path.push_str(base_path);
        path.push('/');
        path.push_str(rel);
        let mut url = self.base.clone();
        url.set_path(&path);
        if query.is_some() {
            url.set_query(query);
        }
        if fragment.is_some() {
            url.set_fragment(fragment);
        }
        url
    }

    /// Send a request; an HTTP error status becomes an [`Error`] carrying the status and body.
    pub(crate) async fn send_ok(&self, req: Request) -> Result<Response> {
        let resp = self.transport.send(&req).await?;
        if resp.is_success() {
            return Ok(resp);
        }
        let mut err = Error::from_status(resp.status, &req.describe(), resp.body);
        if resp.attempts > 1 {
            err.push_message(&format!(" (after {} attempts)", resp.attempts));
        }
        Err(err)
    }

    /// The general request call: `method` and a path (or same-server URL), an optional JSON body.
    /// Returns the response on a 2xx status; otherwise an error with the status and body.
    pub async fn request(&self, method: &str, path: &str, body: Option<Bytes>) -> Result<Response> {
        let method = parse_method(method)?;
        if let Some(b) = &body {
            validate_json(b)?;
        }
        let url = self.resolve(path)?;
        let mut req = Request::new(method, url);
        req.body = body;
        self.send_ok(req).await
    }

    /// `GET [base]/metadata`: the CapabilityStatement.
    pub async fn capabilities(&self) -> Result<Vec<u8>> {
        let resp = self
            .send_ok(Request::new(Method::GET, self.resolve("metadata")?))
            .await?;
        validate_json(&resp.body)
            .map_err(|e| e.with_context("the server's CapabilityStatement"))?;
        Ok(resp.body)
    }
}

/// Whether `s` starts with `http://` or `https://`, in any case.
pub(crate) fn is_http_url(s: &str) -> bool {
    let starts = |prefix: &str| {
        s.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    starts("http://") || starts("https://")
}

/// Refuse a path (the part before `?`, after any scheme and authority) with a `.` or `..`
/// segment (also percent-encoded), an encoded slash or backslash, or a backslash: each could
/// take a request out of the base path on the server or in a proxy.
pub(crate) fn check_path_segments(raw: &str) -> std::result::Result<(), &'static str> {
    let mut path = raw.split(['?', '#']).next().unwrap_or("");
    if is_http_url(path) {
        let after_scheme = &path[path.find("://").map_or(0, |i| i + 3)..];
        path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    }
    if path.contains('\\') {
        return Err("the path contains a backslash");
    }
    for segment in path.split('/') {
        if !segment.contains('%') {
            // Nothing encoded (the common case): no copy to make.
            let name = segment.split(';').next().unwrap_or("");
            if name == "." || name == ".." {
                return Err(DOT_SEGMENT);
            }
            continue;
        }
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err("the path contains an encoded slash or backslash");
        }
        if lower.contains("%25") {
            return Err("the path contains an encoded percent sign (double encoding)");
        }
        // Servlet containers read `..;x` (a path parameter) as `..`.
        let decoded = lower.replace("%2e", ".").replace("%3b", ";");
        let name = decoded.split(';').next().unwrap_or("");
        if name == "." || name == ".." {
            return Err(DOT_SEGMENT);
        }
    }
    Ok(())
}

const DOT_SEGMENT: &str =
    "the path contains a '.' or '..' segment; paths must stay under the base URL";

pub(crate) fn parse_method(method: &str) -> Result<Method> {
    let m = method.trim();
    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::invalid(format!("'{method}' is not an HTTP method")));
    }
    // Upper-cased into a copy only when it is not already (callers mostly pass "GET").
    let upper = match m.bytes().all(|b| b.is_ascii_uppercase()) {
        true => std::borrow::Cow::Borrowed(m),
        false => std::borrow::Cow::Owned(m.to_ascii_uppercase()),
    };
    Method::from_bytes(upper.as_bytes())
        .map_err(|_| Error::invalid(format!("'{method}' is not an HTTP method")))
}

/// Check that `bytes` is one well-formed JSON document, without building a tree.
pub(crate) fn validate_json(bytes: &[u8]) -> Result<()> {
    crate::ops::bundle::check_utf8(bytes)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|e| Error::json(format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(base: &str) -> FhirServer {
        FhirServer::new(base, Auth::None, &Options::default()).unwrap()
    }

    #[test]
    fn base_url_is_validated_and_trimmed() {
        assert_eq!(
            server("http://h:8080/fhir/").base_url(),
            "http://h:8080/fhir"
        );
        assert_eq!(server("https://h/fhir//").base_url(), "https://h/fhir");
        assert_eq!(server("https://h").base_url(), "https://h");
        for bad in [
            "",
            "h/fhir",
            "ftp://h/fhir",
            "http://",
            "http://u:p@h/fhir",
            "http://h/fhir?x=1",
            "not a url",
        ] {
            let e = FhirServer::new(bad, Auth::None, &Options::default()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        let e = FhirServer::new("http://u:hunter2@h/fhir", Auth::None, &Options::default())
            .unwrap_err();
        assert!(!e.message().contains("hunter2"));
        let e = FhirServer::new(
            "https://alice:hunter2@fhir.example:80a/fhir",
            Auth::None,
            &Options::default(),
        )
        .unwrap_err();
        assert!(!e.message().contains("hunter2"), "{}", e.message());
        let s = server("http://h/fhir");
        let e = s.resolve("http://alice:hunter2@h:80a/fhir").unwrap_err();
        assert!(!e.message().contains("hunter2"), "{}", e.message());
    }

    #[test]
    fn paths_resolve_under_the_base() {
        let s = server("http://h:8080/fhir");
        assert_eq!(
            s.resolve("Patient/1").unwrap().as_str(),
            "http://h:8080/fhir/Patient/1"
        );
        assert_eq!(
            s.resolve("/metadata").unwrap().as_str(),
            "http://h:8080/fhir/metadata"
        );
        assert_eq!(
            s.resolve("Patient?name=a%2Bb&_count=2").unwrap().as_str(),
            "http://h:8080/fhir/Patient?name=a%2Bb&_count=2"
        );
        assert_eq!(
            s.resolve("http://h:8080/fhir/Patient?_getpages=x")
                .unwrap()
                .as_str(),
            "http://h:8080/fhir/Patient?_getpages=x"
        );
        assert!(s.resolve("http://evil:8080/fhir/Patient").is_err());
        assert!(s.resolve("https://h:8080/fhir/Patient").is_err());
        assert!(s.resolve("file:///etc/passwd").is_err());
        assert_eq!(
            s.resolve("Observation?code=http://loinc.org%7C8867-4")
                .unwrap()
                .as_str(),
            "http://h:8080/fhir/Observation?code=http://loinc.org%7C8867-4"
        );
    }

    #[test]
    fn paths_never_leave_the_base_path() {
        let s = server("http://h:8080/fhir");
        for bad in [
            "../../admin",
            "Patient/../../admin",
            "%2e%2e/admin",
            "%2E%2E/%2e%2e/admin?x=1",
            ".%2e/admin",
            "Patient/./1",
            "Patient/..%2fadmin",
            "Patient%2F..%2F..%2Fadmin",
            "Patient\\..\\admin",
            "Patient/..;/..;/admin",
            "Patient/%2e%2e%3bx/admin",
            "Patient/.;/1",
            "%252e%252e/admin",
            "http://h:8080/fhir/../admin",
            "HTTP://h:8080/fhir/%2e%2e/admin",
            "http://h:8080/admin",
            "http://h:8080/fhirx/Patient",
            "/../admin",
        ] {
            let e = s.resolve(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        // Schemes and hosts compare case-insensitively; dots inside names are fine.
        assert_eq!(
            s.resolve("HTTP://H:8080/fhir/Patient?_getpages=x")
                .unwrap()
                .as_str(),
            "http://h:8080/fhir/Patient?_getpages=x"
        );
        assert!(s.resolve("Patient/a.b").is_ok());
        assert!(s.resolve("Patient?name=..&x=%2e%2e").is_ok());
        // Credentials in a URL are refused and never echoed, whatever the case of the scheme.
        for bad in [
            "HTTPS://alice:hunter2@h:8080/fhir/Patient",
            "http://alice:hunter2@h:8080/fhir/Patient",
        ] {
            let e = s.resolve(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(!e.message().contains("hunter2"), "{}", e.message());
        }
    }

    #[test]
    fn join_is_parsing_the_joined_string() {
        let rests = [
            "Patient/1",
            "Patient",
            "Patient/",
            "Patient?name=a%2Bb&_count=2",
            "Patient?",
            "Patient?name=x#frag",
            "Patient#frag?notquery",
            "?x=1",
            "#only",
            "Observation?code=http://loinc.org%7C8867-4",
            "Patient?name=Müller&given=Zoë",
            "Patient/ä ö/x y?q=a b&r=\"<>`{}|^'",
            "Patient/a%20b/%7Bc%7D?x=%ZZ&y=%",
            "Patient/@x:y/$everything",
            "Patient/1/_history/2?_format=json&_pretty=true",
            "Patient;x=1/a;b",
            "Binary/1?x=\u{1F600}#\u{1F600} y",
            "a/b//c///d",
            "x?a?b#c#d",
            "Patient?name=..&x=%2e%2e",
        ];
        for base in [
            "http://h:8080/fhir",
            "https://h",
            "https://h/",
            "http://[::1]:9/a/b/",
            "https://xn--mller-kva.example/r4",
            "https://MÜLLER.example/R4",
            "http://127.0.0.1/fhir%20x",
        ] {
            let s = server(base);
            for rest in rests {
                let joined = Url::parse(&format!("{}/{}", s.base_str, rest)).unwrap();
                assert_eq!(s.join(rest), joined, "{base} + {rest}");
                assert_eq!(s.join(rest).as_str(), joined.as_str(), "{base} + {rest}");
            }
        }
    }

    #[test]
    fn http_urls_are_recognised_in_any_case() {
        for yes in ["http://h", "HTTPS://h", "hTtP://", "https://"] {
            assert!(is_http_url(yes), "{yes}");
        }
        for no in [
            "",
            "http:/",
            "https:",
            "ftp://h",
            "Patient",
            "httpx://h",
            "ü",
            "httpü://",
        ] {
            assert!(!is_http_url(no), "{no}");
        }
    }

    #[test]
    fn methods_are_checked() {
        assert_eq!(parse_method("get").unwrap(), Method::GET);
        assert_eq!(parse_method(" Post ").unwrap(), Method::POST);
        assert_eq!(parse_method("PATCH").unwrap(), Method::PATCH);
        assert_eq!(parse_method("purge").unwrap().as_str(), "PURGE");
        assert!(parse_method("").is_err());
        assert!(parse_method("GE T").is_err());
    }
}
