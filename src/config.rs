//! Connection options shared by every auth mode: extra headers, proxies, timeouts, TLS,
//! retries, OpenID Connect details and paging safety. Values are validated when set, so a
//! bad option is reported at the call that set it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// Which requests a proxy applies to, like the keys of fhir_kindling's `proxies={...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyScheme {
    Http,
    Https,
    All,
}

impl ProxyScheme {
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().trim_end_matches("://") {
            "http" => Ok(ProxyScheme::Http),
            "https" => Ok(ProxyScheme::Https),
            "all" | "*" => Ok(ProxyScheme::All),
            other => Err(Error::invalid(format!(
                "proxy scheme '{other}' is not one of http, https, all"
            ))),
        }
    }
}

#[derive(Clone)]
pub struct ProxySetting {
    pub(crate) scheme: ProxyScheme,
    pub(crate) url: url::Url,
}

/// How the client authenticates to the OpenID Connect token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuthMethod {
    /// HTTP basic auth with the client id and secret (`client_secret_basic`, the default).
    #[default]
    Basic,
    /// Client id and secret in the form body (`client_secret_post`).
    Post,
}

#[derive(Clone)]
pub struct Options {
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) proxies: Vec<ProxySetting>,
    /// Whole-request timeout; `None` for no limit.
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) ca_files: Vec<PathBuf>,
    pub(crate) client_cert: Option<(PathBuf, PathBuf)>,
    pub(crate) use_system_roots: bool,
    pub(crate) insecure_skip_verify: bool,
    pub(crate) retry: RetryPolicy,
    pub(crate) user_agent: Option<String>,
    pub(crate) oidc_scope: Option<String>,
    pub(crate) oidc_auth_method: ClientAuthMethod,
    /// Follow paging links to another origin (off: credentials only ever go to the configured server).
    pub(crate) allow_foreign_links: bool,
    /// Transactions create_all keeps in flight (default 1).
    pub(crate) create_all_parallel: usize,
    pub(crate) limits: Limits,
    /// SMART Backend Services: key id, algorithm, scope, token endpoint, jku.
    pub(crate) smart: crate::smart::SmartOptions,
    /// Called before each attempt of each request to the server (embedding).
    pub(crate) request_hook: Option<crate::hook::RequestHook>,
    /// This server's log sink (else the process-wide one).
    pub(crate) log: Option<std::sync::Arc<dyn crate::logging::LogSink>>,
    /// A search whose first URL is longer goes as `POST [type]/_search` (0: always; `usize::MAX`: never).
    pub(crate) search_post_threshold: usize,
    /// How long an idle pooled connection is kept; `None` for ever.
    pub(crate) pool_idle_timeout: Option<Duration>,
    /// Idle connections kept per host.
    pub(crate) pool_max_idle_per_host: usize,
}

/// Default URL length above which a search is sent as `POST _search`: below the 8 KiB request
/// line and header limits of common servers and gateways, with room for headers.
/// The most transactions create_all may keep in flight.
pub(crate) const MAX_CREATE_ALL_PARALLEL: usize = 64;
pub(crate) const DEFAULT_SEARCH_POST_THRESHOLD: usize = 4096;
/// Default idle time of a pooled connection.
pub(crate) const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Bounds on everything a server controls. 0 means "no limit".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Bytes of one response body, counted after decompression while reading.
    pub(crate) max_response_bytes: u64,
    /// Bytes of a result collected from several pages (search all / limit, history).
    pub(crate) max_result_bytes: u64,
    /// Pages one search may follow.
    pub(crate) max_pages: u64,
}

/// Default limit of one response body: 256 MiB.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 << 20;
/// Default limit of a collected result: 2 GiB.
pub(crate) const DEFAULT_MAX_RESULT_BYTES: u64 = 2 << 30;
/// Default limit of pages per search: one million.
pub(crate) const DEFAULT_MAX_PAGES: u64 = 1_000_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

impl Limits {
    /// `n` as a limit: 0 is none.
    pub(crate) fn get(n: u64) -> u64 {
        if n == 0 {
            u64::MAX
        } else {
            n
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            headers: Vec::new(),
            proxies: Vec::new(),
            timeout: Some(Duration::from_secs(60)),
            connect_timeout: Some(Duration::from_secs(10)),
            ca_files: Vec::new(),
            client_cert: None,
            use_system_roots: true,
            insecure_skip_verify: false,
            retry: RetryPolicy::default(),
            user_agent: None,
            oidc_scope: None,
            oidc_auth_method: ClientAuthMethod::Basic,
            allow_foreign_links: false,
            create_all_parallel: 1,
            limits: Limits::default(),
            smart: Default::default(),
            request_hook: None,
            log: None,
            search_post_threshold: DEFAULT_SEARCH_POST_THRESHOLD,
            pool_idle_timeout: Some(DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: usize::MAX,
        }
    }
}

/// Header values may carry secrets (API keys): Debug shows names only.
impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        let proxies: Vec<String> = self
            .proxies
            .iter()
            .map(|p| format!("{:?}={}", p.scheme, redact_url(&p.url)))
            .collect();
        f.debug_struct("Options")
            .field("headers", &header_names)
            .field("proxies", &proxies)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("ca_files", &self.ca_files)
            .field("client_cert", &self.client_cert.as_ref().map(|c| &c.0))
            .field("use_system_roots", &self.use_system_roots)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("retry", &self.retry)
            .field("oidc_scope", &self.oidc_scope)
            .field("oidc_auth_method", &self.oidc_auth_method)
            .field("allow_foreign_links", &self.allow_foreign_links)
            .field("limits", &self.limits)
            .field("smart", &self.smart)
            .field("request_hook", &self.request_hook.is_some())
            .field("log", &self.log.is_some())
            .field("search_post_threshold", &self.search_post_threshold)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .finish()
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A URL with any user info replaced, for messages.
pub(crate) fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("***");
        let _ = u.set_password(None);
    }
    u.to_string()
}

impl Options {
    /// Add a header sent with every request to the configured server (not to the OIDC provider,
    /// nor to another server). Setting `Authorization` is refused: use an auth mode.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<()> {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::invalid(format!("'{}' is not a valid header name", name.trim())))?;
        if name == reqwest::header::AUTHORIZATION {
            return Err(Error::invalid(
                "the Authorization header is set by the auth mode; use the basic, token or OIDC constructor",
            ));
        }
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid(format!(
                "the value of header '{name}' is not a valid header value"
            ))
        })?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(())
    }

    /// Route requests of `scheme` through the proxy at `url` (http, https or socks-less forward proxy).
    pub fn set_proxy(&mut self, scheme: &str, url: &str) -> Result<()> {
        let scheme = ProxyScheme::parse(scheme)?;
        let parsed = url::Url::parse(url.trim())
            .map_err(|e| Error::invalid(format!("proxy URL is invalid: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            // Not echoed: without a scheme, "user:password@host" parses with the password in the path.
            return Err(Error::invalid(
                "the proxy URL must be http:// or https:// with a host",
            ));
        }
        self.proxies.retain(|p| p.scheme != scheme);
        self.proxies.push(ProxySetting {
            scheme,
            url: parsed,
        });
        Ok(())
    }

    pub fn set_timeout_ms(&mut self, ms: u64) -> Result<()> {
        self.timeout = (ms > 0).then(|| Duration::from_millis(ms));
        Ok(())
    }

    pub fn set_connect_timeout_ms(&mut self, ms: u64) -> Result<()> {
        self.connect_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        Ok(())
    }

    pub fn add_ca_file(&mut self, path: &str) -> Result<()> {
        if path.is_empty() {
            return Err(Error::invalid("CA file path is empty"));
        }
        self.ca_files.push(PathBuf::from(path));
        Ok(())
    }

    pub fn set_client_cert(&mut self, cert_path: &str, key_path: &str) -> Result<()> {
        if cert_path.is_empty() || key_path.is_empty() {
            return Err(Error::invalid(
                "client certificate and key paths must not be empty",
            ));
        }
        self.client_cert = Some((PathBuf::from(cert_path), PathBuf::from(key_path)));
        Ok(())
    }

    pub fn set_oidc_scope(&mut self, scope: &str) -> Result<()> {
        let scope = scope.trim();
        self.oidc_scope = (!scope.is_empty()).then(|| scope.to_owned());
        Ok(())
    }

    pub fn set_oidc_auth_method(&mut self, method: &str) -> Result<()> {
        self.oidc_auth_method = match method.trim().to_ascii_lowercase().as_str() {
            "basic" | "client_secret_basic" => ClientAuthMethod::Basic,
            "post" | "client_secret_post" => ClientAuthMethod::Post,
            other => {
                return Err(Error::invalid(format!(
                    "OIDC client auth method '{other}' is not client_secret_basic or client_secret_post"
                )))
            }
        };
        Ok(())
    }

    /// Whether the system's root certificates are trusted (default true).
    pub fn set_system_roots(&mut self, enabled: bool) -> Result<()> {
        self.use_system_roots = enabled;
        Ok(())
    }

    /// Accept any server certificate (default false). Only for tests.
    pub fn set_insecure_skip_verify(&mut self, skip: bool) -> Result<()> {
        self.insecure_skip_verify = skip;
        Ok(())
    }

    /// Follow paging links to another origin, without credentials (default false).
    pub fn set_allow_foreign_links(&mut self, allow: bool) -> Result<()> {
        self.allow_foreign_links = allow;
        Ok(())
    }

    /// Transactions `create_all` keeps in flight: 1 (default) sends one batch after the other;
    /// more sends the next batches before the earlier ones are answered (at most 64).
    pub fn set_create_all_parallel(&mut self, n: usize) -> Result<()> {
        if !(1..=MAX_CREATE_ALL_PARALLEL).contains(&n) {
            return Err(Error::invalid(format!(
                "create_all_parallel must be 1..={MAX_CREATE_ALL_PARALLEL}, not {n}"
            )));
        }
        self.create_all_parallel = n;
        Ok(())
    }

    /// Retry on these HTTP statuses (turns retrying on); at most 1000 of them.
    pub fn set_retry_status_codes(&mut self, codes: &[u16]) -> Result<()> {
        if codes.len() > 1000 {
            return Err(Error::invalid(format!(
                "{} retry status codes: at most 1000",
                codes.len()
            )));
        }
        self.retry.set_status_codes(codes)
    }

    /// Retry requests of these methods (turns retrying on), given as a comma-separated list
    /// such as "GET,PUT,POST".
    pub fn set_retry_methods(&mut self, methods: &str) -> Result<()> {
        let list: Vec<&str> = methods
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        self.retry.set_methods(&list)
    }

    /// Total attempts per request, the first included (at least 1).
    pub fn set_retry_max_attempts(&mut self, n: u32) -> Result<()> {
        self.retry.set_max_attempts(n)
    }

    /// Backoff factor in seconds: retry n waits `factor * 2^(n-1)`.
    pub fn set_retry_backoff_factor(&mut self, seconds: f64) -> Result<()> {
        self.retry.set_backoff_factor(seconds)
    }

    /// Jitter ratio in 0..=0.5.
    pub fn set_retry_jitter(&mut self, ratio: f64) -> Result<()> {
        self.retry.set_jitter(ratio)
    }

    /// Cap in seconds for every wait between attempts, `Retry-After` included.
    pub fn set_retry_max_backoff_wait(&mut self, seconds: f64) -> Result<()> {
        self.retry.set_max_backoff_wait(seconds)
    }

    /// Most bytes of one response body, counted after decompression (0: no limit).
    pub fn set_max_response_bytes(&mut self, n: u64) -> Result<()> {
        self.limits.max_response_bytes = n;
        Ok(())
    }

    /// Most bytes of a result collected from several pages (0: no limit).
    pub fn set_max_result_bytes(&mut self, n: u64) -> Result<()> {
        self.limits.max_result_bytes = n;
        Ok(())
    }

    /// Most pages one search follows (0: no limit).
    pub fn set_max_pages(&mut self, n: u64) -> Result<()> {
        self.limits.max_pages = n;
        Ok(())
    }

    /// Register the secrets among the options for redaction: custom header values (they may be
    /// API keys) and proxy credentials.
    pub(crate) fn register_secrets(&self, secrets: &crate::redact::Secrets) {
        for (_, value) in &self.headers {
            secrets.add(&String::from_utf8_lossy(value.as_bytes()));
        }
        for p in &self.proxies {
            if let Some(pw) = p.url.password() {
                secrets.add(pw);
                let decoded = percent_decode(pw);
                secrets.add(&decoded);
                secrets.add_basic(&percent_decode(p.url.username()), &decoded);
            }
        }
    }

    /// Call `hook` before each attempt of each request to the server (not to the token
    /// endpoint, not to another server), on the caller's thread; `None` removes it.
    pub fn set_request_hook(&mut self, hook: Option<crate::hook::RequestHook>) {
        self.request_hook = hook;
    }

    /// Log this server's calls to `sink` instead of the process-wide sink; `None` removes it.
    pub fn set_log_sink(&mut self, sink: Option<std::sync::Arc<dyn crate::logging::LogSink>>) {
        if let Some(s) = &sink {
            crate::logging::want(s.max_level());
        }
        self.log = sink;
    }

    /// Searches whose first URL is longer than `url_len` bytes go as `POST [type]/_search` with a
    /// form body (0: every search; `usize::MAX`: never). Later pages follow the server's links.
    pub fn set_search_post_threshold(&mut self, url_len: usize) {
        self.search_post_threshold = url_len;
    }

    /// Close pooled connections idle for longer than `timeout` (`None`: keep them).
    pub fn set_pool_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.pool_idle_timeout = timeout;
    }

    /// Keep at most `n` idle connections per host (0: no reuse).
    pub fn set_pool_max_idle_per_host(&mut self, n: usize) {
        self.pool_max_idle_per_host = n;
    }

    pub fn set_user_agent(&mut self, ua: &str) -> Result<()> {
        HeaderValue::from_str(ua)
            .map_err(|_| Error::invalid("user agent is not a valid header value"))?;
        self.user_agent = Some(ua.to_owned());
        Ok(())
    }

    /// SMART Backend Services: the key id (`kid`) the token endpoint knows the key by (required).
    pub fn set_smart_key_id(&mut self, kid: &str) -> Result<()> {
        self.smart.set_key_id(kid)
    }

    /// SMART Backend Services: "RS384" or "ES384" (default: the one the key signs with).
    pub fn set_smart_algorithm(&mut self, alg: &str) -> Result<()> {
        self.smart.set_algorithm(alg)
    }

    /// SMART Backend Services: the `scope` of the token request, verbatim (empty: none).
    pub fn set_smart_scope(&mut self, scope: &str) -> Result<()> {
        self.smart.set_scope(scope)
    }

    /// SMART Backend Services: the token endpoint (default: from the smart-configuration).
    pub fn set_smart_token_url(&mut self, url: &str) -> Result<()> {
        self.smart.set_token_url(url)
    }

    /// SMART Backend Services: the `jku` header of the assertion, the URL of the client's JWK Set.
    pub fn set_smart_jku(&mut self, url: &str) -> Result<()> {
        self.smart.set_jku(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_not_in_debug() {
        let mut o = Options::default();
        o.add_header("X-Api-Key", "super-secret-key").unwrap();
        o.set_proxy("all", "http://user:proxypass@127.0.0.1:3128")
            .unwrap();
        let dbg = format!("{o:?}");
        assert!(dbg.contains("x-api-key"));
        assert!(!dbg.contains("super-secret-key"));
        assert!(!dbg.contains("proxypass"));
        assert!(!dbg.contains("user:"));
    }

    #[test]
    fn bad_values_are_refused() {
        let mut o = Options::default();
        assert!(o.add_header("Bad Header", "x").is_err());
        assert!(o.add_header("X-Ok", "line\nbreak").is_err());
        assert!(o.add_header("authorization", "Bearer x").is_err());
        assert!(o.set_proxy("ftp", "http://127.0.0.1:1").is_err());
        assert!(o.set_proxy("http", "not a url").is_err());
        assert!(o.set_proxy("http", "socks5://127.0.0.1:1").is_err());
        assert!(o.set_oidc_auth_method("jwt").is_err());
        let e = o.set_proxy("all", "alice:hunter2@proxy:3128").unwrap_err();
        assert!(!e.message().contains("hunter2"), "{}", e.message());
        assert!(o.headers.is_empty() && o.proxies.is_empty());
    }

    #[test]
    fn a_second_proxy_for_a_scheme_replaces_the_first() {
        let mut o = Options::default();
        o.set_proxy("http", "http://127.0.0.1:1").unwrap();
        o.set_proxy("HTTP", "http://127.0.0.1:2").unwrap();
        assert_eq!(o.proxies.len(), 1);
        assert_eq!(o.proxies[0].url.port(), Some(2));
    }
}
