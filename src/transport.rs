//! The HTTP transport of one handle: pooled HTTP clients (headers, proxies, TLS, timeouts, gzip)
//! plus the request loop that adds credentials, retries as configured and replays a request once
//! after an OIDC 401 with a fresh token.
//!
//! Requests to the server go through hyper-util's client directly ([`direct`]) when no proxy is
//! configured or set in the environment, else through reqwest (which also carries the token
//! requests of OIDC and SMART and the bulk export downloads). Both use the handle's one TLS
//! configuration ([`tls`]).

mod direct;
mod tls;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER,
};
use reqwest::Method;
use url::Url;

use crate::auth::Auth;
use crate::config::{redact_url, Limits, Options, ProxyScheme, ProxySetting};
use crate::error::{Error, ErrorKind, Result};
use crate::hook::{HookHeaders, RequestHook};
use crate::logging::url_shape;
use crate::redact::Secrets;
use crate::retry::{parse_retry_after, RetryPolicy};
use direct::DirectError;

pub const FHIR_JSON: &str = "application/fhir+json";

pub struct Transport {
    /// How to build this handle's HTTP clients: they are built per calling thread (see
    /// [`Self::client`]).
    recipe: Arc<ClientRecipe>,
    /// The whole-request timeout (head and body) of the direct path; reqwest's clients have it.
    timeout: Option<Duration>,
    pub auth: Auth,
    /// The `Authorization` header of an auth mode whose credential never changes (basic, static
    /// token), made once for the handle instead of for every request. `None` without auth, for
    /// token clients (OIDC, SMART: their token is fetched and renewed), and if it cannot be made
    /// (each request then asks [`Auth::credential`] and fails as before).
    fixed_credential: Option<HeaderValue>,
    pub retry: RetryPolicy,
    /// Every secret of this handle, registered for redaction for as long as it lives.
    pub(crate) secrets: Secrets,
    pub(crate) limits: Limits,
    /// The proxies requests go through: the configured ones, or those of the environment.
    proxies: Vec<ProxySetting>,
    /// The environment's `no_proxy` rules (with configured proxies, none apply).
    no_proxy: Vec<String>,
    /// The caller's extra headers: sent to the configured server only, never on anonymous requests.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The caller's hook, called before each attempt of a non-anonymous request.
    request_hook: Option<RequestHook>,
    /// Searches with a longer first URL go as `POST _search`.
    pub(crate) search_post_threshold: usize,
    /// This handle's log sink (else the process-wide one).
    pub(crate) log: Option<std::sync::Arc<dyn crate::logging::LogSink>>,
}

/// Steps that configure a `reqwest::ClientBuilder`, kept so that the same client can be built again.
type Step = Box<dyn Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync>;

/// How a handle's HTTP clients are built. A client's pooled connections are driven by the
/// runtime they were opened on, and every calling thread drives its calls on a runtime of its own
/// (see `ffi::runtime`): so each thread gets its own clients (its own connections, as libcurl
/// users keep an easy handle per thread), while the credentials, the token cache and the options
/// stay the handle's, shared by all threads.
#[derive(Default)]
pub(crate) struct ClientRecipe {
    steps: Vec<Step>,
    /// The direct path's settings; `None` when requests may go through a proxy.
    direct: Option<direct::Settings>,
}

impl ClientRecipe {
    fn add(
        &mut self,
        step: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) {
        self.steps.push(Box::new(step));
    }

    fn build(&self) -> Result<reqwest::Client> {
        let mut b = reqwest::Client::builder();
        for step in &self.steps {
            b = step(b);
        }
        b.build().map_err(|e| {
            Error::new(
                ErrorKind::Tls,
                format!("cannot build the HTTP client: {}", chain(&e)),
            )
        })
    }
}

thread_local! {
    /// This thread's clients, one per live handle it has used (dead handles are pruned when a
    /// client is added, and by the handle's own drop on the thread that frees it).
    /// Keyed by the kind of runtime too: a thread that also runs the core on a multi-thread
    /// runtime of its own (a Rust caller) never hands that runtime a connection of its
    /// current-thread one, which nothing would drive.
    static CLIENTS: ThreadClients<reqwest::Client> = const { RefCell::new(Vec::new()) };
    /// This thread's direct clients, kept the same way.
    static DIRECT: ThreadClients<direct::DirectClient> = const { RefCell::new(Vec::new()) };
}

/// One thread's clients of one kind, by handle (its recipe) and kind of runtime.
type ThreadClients<C> = RefCell<Vec<(Weak<ClientRecipe>, Flavor, C)>>;

type Flavor = Option<tokio::runtime::RuntimeFlavor>;

/// This thread's client in `cache` for `recipe`'s handle, built with `build` on first use.
fn thread_client<C: Clone>(
    cache: &'static std::thread::LocalKey<ThreadClients<C>>,
    recipe: &Arc<ClientRecipe>,
    build: impl Fn() -> Result<C>,
) -> Result<C> {
    let key = Arc::as_ptr(recipe);
    let flavor = runtime_flavor();
    cache
        .try_with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, _, c)) = clients
                .iter()
                .find(|(w, f, _)| w.as_ptr() == key && *f == flavor)
            {
                return Ok(c.clone());
            }
            clients.retain(|(w, _, _)| w.strong_count() > 0);
            let c = build()?;
            clients.push((Arc::downgrade(recipe), flavor, c.clone()));
            Ok(c)
        })
        // The thread is exiting (its thread-locals are gone): a client for this call alone.
        .unwrap_or_else(|_| build())
}

/// Let go of this thread's client in `cache` for the handle of `key` (and of dead handles).
fn forget_thread_client<C>(
    cache: &'static std::thread::LocalKey<ThreadClients<C>>,
    key: *const ClientRecipe,
) {
    let _ = cache.try_with(|clients| {
        if let Ok(mut clients) = clients.try_borrow_mut() {
            clients.retain(|(w, _, _)| w.as_ptr() != key && w.strong_count() > 0);
        }
    });
}

fn runtime_flavor() -> Flavor {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|h| h.runtime_flavor())
}

/// One request to send. The body is shared between attempts without copying.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub body: Option<Bytes>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Send without credentials (a paging link to another server the caller allowed).
    pub anonymous: bool,
    /// A read sent with POST (`_search`): retried like a GET.
    pub read_only: bool,
}

impl Request {
    pub fn new(method: Method, url: Url) -> Self {
        Request {
            method,
            url,
            body: None,
            headers: Vec::new(),
            anonymous: false,
            read_only: false,
        }
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// "GET /fhir/Patient" — for messages; the query string is left out (it may hold patient data).
    pub fn describe(&self) -> String {
        self.what().to_string()
    }

    /// [`Self::describe`], written only when a message needs it (most requests make none).
    pub(crate) fn what(&self) -> What<'_> {
        What(self)
    }
}

/// A request as messages name it: see [`Request::describe`].
#[derive(Clone, Copy)]
pub(crate) struct What<'a>(&'a Request);

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0.method, self.0.url.path())
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as read, with room for one more byte (a C caller's NUL, written in place).
    pub body: Vec<u8>,
    pub attempts: u32,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })
}

impl Transport {
    pub fn build(options: &Options, auth: Auth) -> Result<Transport> {
        // First, so that no message made from here on can carry one of them.
        let secrets = Secrets::new();
        auth.register_secrets(&secrets);
        options.register_secrets(&secrets);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(FHIR_JSON));
        let ua = options
            .user_agent
            .clone()
            .unwrap_or_else(|| format!("fhir_kindling-c/{}", env!("CARGO_PKG_VERSION")));
        let user_agent = HeaderValue::from_str(&ua)
            .map_err(|_| Error::invalid("the user agent is not a valid header value"))?;
        // The handle's TLS configuration, built once (roots, CA files, client certificate) and
        // shared by every client of every thread: nothing is parsed again per client.
        let tls = tls::client_config(options)?;
        let reqwest_tls = (*tls).clone();
        let (idle_timeout, max_idle) = (options.pool_idle_timeout, options.pool_max_idle_per_host);
        let mut recipe = ClientRecipe::default();
        let agent = user_agent.clone();
        recipe.add(move |b| {
            b.default_headers(headers.clone())
                .user_agent(agent.clone())
                .gzip(true)
                .use_preconfigured_tls(reqwest_tls.clone())
                .pool_idle_timeout(idle_timeout)
                .pool_max_idle_per_host(max_idle)
                .connector_layer(TimedConnect)
                // Redirects are not followed: a FHIR server does not redirect API calls, and
                // following one could carry credentials elsewhere.
                .redirect(reqwest::redirect::Policy::none())
        });
        if let Some(t) = options.timeout {
            recipe.add(move |b| b.timeout(t));
        }
        if let Some(t) = options.connect_timeout {
            recipe.add(move |b| b.connect_timeout(t));
        }
        for p in &options.proxies {
            let url = p.url.as_str();
            let proxy = match p.scheme {
                ProxyScheme::Http => reqwest::Proxy::http(url),
                ProxyScheme::Https => reqwest::Proxy::https(url),
                ProxyScheme::All => reqwest::Proxy::all(url),
            }
            .map_err(|e| Error::invalid(format!("proxy {} rejected: {e}", redact_url(&p.url))))?;
            recipe.add(move |b| b.proxy(proxy.clone()));
        }
        // Which proxy a request goes through, to name it (and say PROXY) when it cannot be
        // reached: the configured ones, or else those reqwest takes from the environment.
        let (proxies, no_proxy) = if options.proxies.is_empty() {
            env_proxies(|k| std::env::var(k).ok())
        } else {
            (options.proxies.clone(), Vec::new())
        };
        // No proxy configured and none in the environment when the handle is made: the clients
        // of this handle (built later, per calling thread) say so to reqwest, which otherwise
        // matches every request against the environment's (empty) proxy rules, twice. The
        // environment is read here, once for the handle, as for naming the proxy above.
        // Such a handle's requests to the server take the direct path (see [`direct`]).
        if options.proxies.is_empty() && !env_sets_proxy(|k| std::env::var_os(k)) {
            recipe.add(|b| b.no_proxy());
            recipe.direct = Some(direct::Settings::new(tls, options, user_agent));
        }
        for p in &proxies {
            if let Some(pw) = p.url.password() {
                secrets.add(pw);
                secrets.add(&percent_encoding::percent_decode_str(pw).decode_utf8_lossy());
            }
        }
        // Built once here so that a client that cannot be built fails the handle's creation; it
        // becomes the client of the thread that created the handle.
        let recipe = Arc::new(recipe);
        let client = recipe.build()?;
        let fixed_credential = match &auth {
            Auth::Basic { .. } | Auth::Token(_) => {
                use futures_util::FutureExt;
                // Ready at once: only token clients wait for anything.
                auth.credential(&client, &secrets, None)
                    .now_or_never()
                    .and_then(|c| c.ok())
                    .and_then(|c| c.header)
            }
            _ => None,
        };
        // Created outside any runtime (the C API): this thread's calls will run on its
        // current-thread runtime.
        if runtime_flavor().is_none() {
            let flavor = Some(tokio::runtime::RuntimeFlavor::CurrentThread);
            let _ = CLIENTS.try_with(|c| {
                c.borrow_mut()
                    .push((Arc::downgrade(&recipe), flavor, client))
            });
        }
        Ok(Transport {
            recipe,
            timeout: options.timeout,
            auth,
            fixed_credential,
            secrets,
            limits: options.limits,
            retry: options.retry.clone(),
            proxies,
            no_proxy,
            headers: options.headers.clone(),
            request_hook: options.request_hook.clone(),
            search_post_threshold: options.search_post_threshold,
            log: options.log.clone(),
        })
    }

    /// This thread's client for this handle, built on first use.
    pub(crate) fn client(&self) -> Result<reqwest::Client> {
        thread_client(&CLIENTS, &self.recipe, || self.recipe.build())
    }

    /// This thread's direct client for this handle, built on first use; `None` when this
    /// handle's requests may go through a proxy.
    fn direct_client(&self) -> Option<(&direct::Settings, direct::DirectClient)> {
        let settings = self.recipe.direct.as_ref()?;
        let client = thread_client(&DIRECT, &self.recipe, || Ok(settings.build())).ok()?;
        Some((settings, client))
    }

    fn proxy_for(&self, url: &Url) -> Option<&ProxySetting> {
        if self.no_proxy.iter().any(|rule| no_proxy_matches(rule, url)) {
            return None;
        }
        let scheme = match url.scheme() {
            "https" => ProxyScheme::Https,
            _ => ProxyScheme::Http,
        };
        self.proxies
            .iter()
            .find(|p| p.scheme == scheme)
            .or_else(|| self.proxies.iter().find(|p| p.scheme == ProxyScheme::All))
    }

    /// A failure to reach `url` through a proxy is the proxy's: `Proxy`, naming the proxy
    /// without its credentials.
    fn blame_proxy(&self, mut err: Error, url: &Url) -> Error {
        if let Some(p) = self.proxy_for(url) {
            if err.kind == ErrorKind::Connect {
                err.kind = ErrorKind::Proxy;
            }
            err.push_message(&format!(" (through proxy {})", redact_url(&p.url)));
        }
        err
    }

    /// Add what a request to the configured server carries besides its credentials: the
    /// caller's extra headers and the request hook's (which may refuse the request). For requests
    /// built outside [`Transport::send`] (bulk export file downloads to the server's origin).
    pub(crate) fn decorate(
        &self,
        mut builder: reqwest::RequestBuilder,
        method: &Method,
        url: &Url,
        what: &str,
    ) -> Result<reqwest::RequestBuilder> {
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        for (name, value) in self.hook_headers(method, url, &what)? {
            builder = builder.header(name, value);
        }
        Ok(builder)
    }

    /// The request hook's headers for a request to the configured server (none without a
    /// hook), or `Cancelled` when the hook refuses the request.
    fn hook_headers(
        &self,
        method: &Method,
        url: &Url,
        what: &dyn std::fmt::Display,
    ) -> Result<Vec<(HeaderName, HeaderValue)>> {
        let Some(hook) = &self.request_hook else {
            return Ok(Vec::new());
        };
        let mut extra = HookHeaders::default();
        if !hook(method, url, &mut extra) {
            return Err(Error::new(
                ErrorKind::Cancelled,
                format!("{what}: the request hook refused the request"),
            ));
        }
        Ok(extra.items)
    }

    /// Send `req`, retrying and replaying as configured. Any HTTP status is returned as a
    /// [`Response`]; only transport failures are errors.
    pub async fn send(&self, req: &Request) -> Result<Response> {
        let mut attempt: u32 = 1;
        let mut refused_generation: Option<u64> = None;
        let mut replayed = false;
        let mut stale_retries = 0;
        let method = match req.read_only {
            true => "GET",
            false => req.method.as_str(),
        };
        let method_retryable = self.retry.method_retryable(method);
        let what = req.what();
        // Without a proxy the request goes on hyper-util's client directly, with its URL parsed
        // once into the URI of the request line.
        let direct = match self.direct_client() {
            Some((settings, client)) => {
                let uri = http::Uri::try_from(req.url.as_str()).map_err(|e| {
                    Error::invalid(format!("{what}: the URL is not a valid request URI: {e}"))
                })?;
                Some((settings, client, uri))
            }
            None => None,
        };
        loop {
            // Nothing more is sent once the call is cancelled or past its deadline.
            crate::call::checkpoint()?;
            // A request to another server (an allowed foreign paging link) carries neither the
            // credentials nor the caller's headers.
            let credential = if req.anonymous {
                crate::auth::Credential {
                    header: None,
                    generation: 0,
                }
            } else if let Some(header) = &self.fixed_credential {
                crate::auth::Credential {
                    header: Some(header.clone()),
                    generation: 0,
                }
            } else {
                // The token provider is reached through the same proxies as the server.
                self.auth
                    .credential(&self.client()?, &self.secrets, refused_generation)
                    .await
                    .map_err(|e| match self.auth.provider_url() {
                        Some(url) => self.blame_proxy(e, url),
                        None => e,
                    })?
            };
            let mut headers = HeaderMap::new();
            if !req.anonymous {
                for (name, value) in &self.headers {
                    headers.append(name, value.clone());
                }
            }
            for (name, value) in &req.headers {
                headers.append(name, value.clone());
            }
            if !req.anonymous {
                for (name, value) in self.hook_headers(&req.method, &req.url, &what)? {
                    headers.append(name, value);
                }
            }
            if let Some(h) = credential.header {
                headers.append(AUTHORIZATION, h);
            }
            if req.body.is_some() && !headers.contains_key(CONTENT_TYPE) {
                headers.append(CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
            }
            log::debug!(target: "fhir_kindling::transport", "{} {} (attempt {attempt})", req.method, url_shape(&req.url));
            log::trace!(target: "fhir_kindling::transport", "{} {}", req.method, req.url);
            let sent = req.body.as_ref().map_or(0, |b| b.len() as u64);
            crate::call::record(|i| {
                i.requests += 1;
                i.attempts = attempt;
                i.bytes_sent += sent;
            });
            let started = Instant::now();
            let limit = Limits::get(self.limits.max_response_bytes);
            // Whether a failure came before any byte of the answer (the head) or while reading it.
            let outcome = match &direct {
                Some((settings, client, uri)) => {
                    self.attempt_direct(settings, client, uri, req, headers, limit, started)
                        .await?
                }
                None => self.attempt_reqwest(req, headers, limit, started).await?,
            };
            if let Ok((status, _, body)) = &outcome {
                crate::call::record(|i| i.bytes_received += body.len() as u64);
                log::debug!(
                    target: "fhir_kindling::transport",
                    "{what} -> {status}, {} bytes in {} ms",
                    body.len(),
                    started.elapsed().as_millis()
                );
            }
            match outcome {
                Ok((status, headers, body)) => {
                    if status == 401 && self.auth.refreshes_tokens() && !replayed && !req.anonymous
                    {
                        // The token may have been revoked or expired early: fetch a newer one, once.
                        replayed = true;
                        refused_generation = Some(credential.generation);
                        log::info!(target: "fhir_kindling::auth", "{what}: 401, fetching a new token and replaying the request once");
                        continue;
                    }
                    if method_retryable
                        && self.retry.status_retryable(status)
                        && attempt < self.retry.max_attempts
                    {
                        let retry_after = headers
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, SystemTime::now()));
                        let wait = self.retry.wait(attempt, retry_after, fastrand::f64());
                        log::info!(
                            target: "fhir_kindling::retry",
                            "{what} -> {status}: retrying in {} ms (attempt {} of {})",
                            wait.as_millis(),
                            attempt + 1,
                            self.retry.max_attempts
                        );
                        crate::call::sleep(wait).await?;
                        attempt += 1;
                        continue;
                    }
                    return Ok(Response {
                        status,
                        headers,
                        body,
                        attempts: attempt,
                    });
                }
                Err((e, before_answer)) => {
                    // A pooled connection the server had closed: the request never got an answer.
                    // Tried again at once on another connection, whatever the retry options (as
                    // libcurl does): for every method when provably nothing was sent, else for
                    // idempotent methods only.
                    if before_answer && stale_retries < MAX_STALE_RETRIES {
                        let stale = e.stale();
                        let idempotent = IDEMPOTENT.contains(&method);
                        if stale == Some(true) || (stale == Some(false) && idempotent) {
                            stale_retries += 1;
                            log::debug!(target: "fhir_kindling::transport", "{what}: the pooled connection was closed by the server; sending again on a new one");
                            continue;
                        }
                    }
                    let mut err = e.into_error(&what.to_string());
                    let transient = matches!(err.kind, ErrorKind::Connect | ErrorKind::Timeout);
                    if transient && method_retryable && attempt < self.retry.max_attempts {
                        let wait = self.retry.wait(attempt, None, fastrand::f64());
                        log::warn!(
                            target: "fhir_kindling::retry",
                            "{}; retrying in {} ms (attempt {} of {})",
                            err.message(),
                            wait.as_millis(),
                            attempt + 1,
                            self.retry.max_attempts
                        );
                        crate::call::sleep(wait).await?;
                        attempt += 1;
                        continue;
                    }
                    err = self.blame_proxy(err, &req.url);
                    if attempt > 1 {
                        err.push_message(&format!(" (after {attempt} attempts)"));
                    }
                    return Err(err);
                }
            }
        }
    }

    /// One attempt through reqwest (a handle whose requests may go through a proxy).
    async fn attempt_reqwest(
        &self,
        req: &Request,
        headers: HeaderMap,
        limit: u64,
        started: Instant,
    ) -> Result<Attempt> {
        let mut builder = self
            .client()?
            .request(req.method.clone(), req.url.clone())
            .headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let mut resp = match builder.send().await {
            Ok(resp) => resp,
            Err(e) => return Ok(Err((AttemptError::Reqwest(e), true))),
        };
        let status = resp.status().as_u16();
        answered(status, started);
        // Taken, not copied: the response is read for its body only from here on.
        let headers = std::mem::take(resp.headers_mut());
        Ok(match read_body(resp, limit, req.what()).await? {
            Ok(body) => Ok((status, headers, body)),
            Err(e) => Err((AttemptError::Reqwest(e), false)),
        })
    }

    /// One attempt on the direct path, within the whole-request timeout.
    #[allow(clippy::too_many_arguments)]
    async fn attempt_direct(
        &self,
        settings: &direct::Settings,
        client: &direct::DirectClient,
        uri: &http::Uri,
        req: &Request,
        mut headers: HeaderMap,
        limit: u64,
        started: Instant,
    ) -> Result<Attempt> {
        settings.complete(&mut headers);
        let body = req.body.clone().unwrap_or_default();
        let mut request = http::Request::new(http_body_util::Full::new(body));
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        let exchange = async {
            let resp = match client.request(request).await {
                Ok(resp) => resp,
                Err(e) => return Ok(Err((AttemptError::Direct(DirectError::Send(e)), true))),
            };
            let (mut head, body) = resp.into_parts();
            let status = head.status.as_u16();
            answered(status, started);
            let gzip = direct::take_gzip(&mut head.headers);
            Ok(
                match direct::read_body(body, gzip, limit, req.what()).await? {
                    Ok(body) => Ok((status, head.headers, body)),
                    Err(e) => Err((AttemptError::Direct(e), false)),
                },
            )
        };
        match self.timeout {
            None => exchange.await,
            Some(t) => match tokio::time::timeout(t, exchange).await {
                Ok(outcome) => outcome,
                Err(_) => Ok(Err((AttemptError::Direct(DirectError::TimedOut(t)), false))),
            },
        }
    }
}

/// What one attempt got: the answer (status, headers, body), or a transport failure and whether
/// it came before the answer's head.
type Attempt = std::result::Result<(u16, HeaderMap, Vec<u8>), (AttemptError, bool)>;

/// The answer's head arrived: its status and time to first byte go in the call's record.
fn answered(status: u16, started: Instant) {
    let first_byte = started.elapsed();
    crate::call::record(|i| {
        i.status = status;
        i.first_byte = first_byte;
    });
}

/// A transport failure of one attempt, from either path.
#[derive(Debug)]
enum AttemptError {
    Reqwest(reqwest::Error),
    Direct(DirectError),
}

impl AttemptError {
    /// See [`stale_connection`].
    fn stale(&self) -> Option<bool> {
        match self {
            AttemptError::Reqwest(e) if e.is_timeout() || e.is_connect() => None,
            // reqwest's own retry layer resends on HTTP/2 refusals: not counted again here.
            AttemptError::Reqwest(e) => stale_connection(e, false),
            AttemptError::Direct(DirectError::TimedOut(_)) => None,
            AttemptError::Direct(DirectError::Send(e)) if e.is_connect() => None,
            AttemptError::Direct(e) => stale_connection(e, true),
        }
    }

    fn into_error(self, context: &str) -> Error {
        match self {
            AttemptError::Reqwest(e) => map_reqwest_error(e, context),
            AttemptError::Direct(e) => {
                let code = match &e {
                    DirectError::TimedOut(_) => ErrorKind::Timeout,
                    DirectError::Decode(_) => ErrorKind::Protocol,
                    _ => classify_chain(&e, false, false),
                };
                Error::new(code, format!("{context}: {}", chain(&e)))
            }
        }
    }
}

impl Drop for Transport {
    /// The freeing thread lets go of its client at once (other threads' clients of this handle
    /// go when those threads next add a client).
    fn drop(&mut self) {
        let key = Arc::as_ptr(&self.recipe);
        forget_thread_client(&CLIENTS, key);
        forget_thread_client(&DIRECT, key);
    }
}

/// The proxies reqwest takes from the environment (`http_proxy`, `https_proxy`, `all_proxy`,
/// lower case first, as curl does; a URL without a scheme is http) and the `no_proxy` rules.
fn env_proxies(get: impl Fn(&str) -> Option<String>) -> (Vec<ProxySetting>, Vec<String>) {
    let var = |name: &str| {
        get(name)
            .or_else(|| get(&name.to_ascii_uppercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let mut proxies = Vec::new();
    for (scheme, name) in [
        (ProxyScheme::Http, "http_proxy"),
        (ProxyScheme::Https, "https_proxy"),
        (ProxyScheme::All, "all_proxy"),
    ] {
        if let Some(v) = var(name) {
            let v = v.trim();
            let with_scheme = if v.contains("://") {
                v.to_owned()
            } else {
                format!("http://{v}")
            };
            if let Ok(url) = Url::parse(&with_scheme) {
                proxies.push(ProxySetting { scheme, url });
            }
        }
    }
    let no_proxy = var("no_proxy")
        .map(|v| {
            v.split(',')
                .map(|r| r.trim().to_ascii_lowercase())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    (proxies, no_proxy)
}

/// Whether the environment names any proxy reqwest would use: one of the variables it reads
/// (hyper-util's `Matcher::from_system`, without the system-configuration feature: environment
/// only) with a value other than blanks. Without one, reqwest's system proxy matcher matches
/// nothing.
fn env_sets_proxy(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    PROXY_VARIABLES
        .iter()
        .any(|k| get(k).is_some_and(|v| !v.to_string_lossy().trim().is_empty()))
}

/// The variables that name a proxy for reqwest (`NO_PROXY` only makes exceptions).
const PROXY_VARIABLES: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// A `no_proxy` rule: `*`, a host name (also matching its subdomains; a leading dot is the same),
/// or an address, optionally with `:port`.
fn no_proxy_matches(rule: &str, url: &Url) -> bool {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if rule == "*" {
        return true;
    }
    let (name, port) = match rule.rsplit_once(':') {
        Some((n, p)) if p.chars().all(|c| c.is_ascii_digit()) && !n.contains(':') => {
            (n, p.parse::<u16>().ok())
        }
        _ => (rule, None),
    };
    let name = name.trim_start_matches('.');
    let host_ok = host == name || host.ends_with(&format!(".{name}"));
    host_ok && port.is_none_or(|p| url.port_or_known_default() == Some(p))
}

/// The connector layer that times new connections (TCP connect and TLS handshake) for the call
/// that opened them ([`crate::call::CallInfo`]).
#[derive(Clone, Copy)]
struct TimedConnect;

impl<S> tower_layer::Layer<S> for TimedConnect {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        // reqwest applies its own connect timeout around this layer.
        Timed {
            inner,
            timeout: None,
        }
    }
}

/// A connector that times its new connections (see [`TimedConnect`]) and, with a `timeout`,
/// fails one that takes longer (TCP connect and TLS handshake together) with `TimedOut`.
#[derive(Clone)]
pub(crate) struct Timed<S> {
    inner: S,
    timeout: Option<Duration>,
}

impl<S, R> tower_service::Service<R> for Timed<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Error: From<std::io::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // Taken now, while the request's future (inside the call) is being polled: the connect
        // may finish in a background task.
        let call = crate::call::with(|c| c.clone());
        let started = Instant::now();
        let connecting = self.inner.call(req);
        let timeout = self.timeout;
        Box::pin(async move {
            let conn = match timeout {
                None => connecting.await,
                Some(t) => match tokio::time::timeout(t, connecting).await {
                    Ok(conn) => conn,
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "connect timed out after {} ms (option connect_timeout)",
                            t.as_millis()
                        ),
                    )
                    .into()),
                },
            };
            if let (Ok(_), Some(call)) = (&conn, call) {
                call.record(|i| {
                    i.connect += started.elapsed();
                    i.new_connections += 1;
                });
            }
            conn
        })
    }
}

/// Methods a server must treat as idempotent (RFC 9110 §9.2.2).
const IDEMPOTENT: [&str; 6] = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"];
/// Immediate retries on another connection after a stale pooled one.
const MAX_STALE_RETRIES: u32 = 3;

/// Read a response body, counting decompressed bytes as they arrive: past `limit` the reading
/// stops, the response (and so its connection) is dropped, and the result is a `Limit` error.
/// Memory is reserved fallibly: an allocation failure is an error, never an abort. The outer
/// error ends the request; the inner one is a transport failure while reading.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
    context: impl std::fmt::Display,
) -> Result<std::result::Result<Vec<u8>, reqwest::Error>> {
    let mut body = body_buffer(resp.content_length(), limit, &context)?;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => append_chunk(&mut body, &chunk, limit, &context)?,
            Ok(None) => return Ok(Ok(body)),
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// The buffer a body is read into: a body whose length (`exact`, when the answer gives it) is
/// past `limit` is refused before a byte of it is read; room is made for it (up to 1 MiB) and for
/// the NUL a C caller gets after it, written in place; the thread's spare buffer when it holds
/// one.
fn body_buffer(
    exact: Option<u64>,
    limit: u64,
    context: &impl std::fmt::Display,
) -> Result<Vec<u8>> {
    if exact.is_some_and(|n| n > limit) {
        return Err(body_too_big(context, limit));
    }
    let hint = exact.unwrap_or(0).min(1 << 20) as usize + 1;
    let mut body = SPARE_BODY.try_with(Cell::take).unwrap_or_default();
    reserve(&mut body, hint, context)?;
    Ok(body)
}

/// Add a chunk of the body, or a `Limit` error when it would pass `limit`.
fn append_chunk(
    body: &mut Vec<u8>,
    chunk: &[u8],
    limit: u64,
    context: &impl std::fmt::Display,
) -> Result<()> {
    if (body.len() + chunk.len()) as u64 > limit {
        return Err(body_too_big(context, limit));
    }
    reserve(body, chunk.len(), context)?;
    body.extend_from_slice(chunk);
    Ok(())
}

/// The error of a body past `limit`.
fn body_too_big(context: &impl std::fmt::Display, limit: u64) -> Error {
    Error::new(
        ErrorKind::Limit,
        format!(
            "{context}: the response body exceeds the limit of {limit} bytes (option max_response_bytes); \
             the connection was dropped"
        ),
    )
}

thread_local! {
    /// A body buffer a streaming search handed back after the caller saw its page: the next
    /// body read on this thread fills it instead of a new allocation (no malloc/free, no fresh
    /// pages from the kernel, per page). Held only during that search (see [`recycle_body`]).
    static SPARE_BODY: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Hand a body buffer back for the next body read on this thread (`Some`), or drop the one held
/// (`None`: at the end of the search, so that nothing stays allocated between calls).
pub(crate) fn recycle_body(buf: Option<Vec<u8>>) {
    let _ = SPARE_BODY.try_with(|spare| {
        spare.set(buf.map_or_else(Vec::new, |mut b| {
            b.clear();
            b
        }))
    });
}

/// Grow `buf` by `more` bytes or fail with a `Limit` error instead of aborting the process.
pub(crate) fn reserve(
    buf: &mut Vec<u8>,
    more: usize,
    context: impl std::fmt::Display,
) -> Result<()> {
    buf.try_reserve(more).map_err(|_| {
        Error::new(
            ErrorKind::Limit,
            format!(
                "{context}: out of memory for {} more bytes after {}",
                more,
                buf.len()
            ),
        )
    })
}

/// Whether a failure before the answer is a pooled connection the server had closed: `Some(true)`
/// when the request provably was not sent, `Some(false)` when it may have been, `None` when the
/// failure is something else (refused, DNS, TLS, timeout).
/// (Timeouts and failures to connect are told apart by the caller, [`AttemptError::stale`].)
/// With `http2`, also a stream the server refused and a server going away gracefully: neither
/// processed the request (RFC 9113 §8.7), as reqwest's own retry layer assumes.
fn stale_connection(e: &(dyn std::error::Error + 'static), http2: bool) -> Option<bool> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h2) = err.downcast_ref::<h2::Error>().filter(|_| http2) {
            let refused = h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM);
            let going_away = h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR);
            if h2.is_remote() && (refused || going_away) {
                return Some(true);
            }
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_canceled() {
                return Some(true);
            }
            if h.is_incomplete_message() {
                return Some(false);
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
            ) {
                return Some(false);
            }
        }
        cur = err.source();
    }
    None
}

/// The error and all its sources, joined, for a message.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

/// The result code of a reqwest failure, from the error's kind and its source chain (never from
/// message text, which holds the URL): a rustls error anywhere is TLS; timeouts are TIMEOUT;
/// failures to connect, resets and truncated bodies are CONNECT (transient, so retryable); a
/// body that does not decode is PROTOCOL.
fn classify(e: &reqwest::Error) -> ErrorKind {
    classify_chain(e, e.is_timeout(), e.is_decode())
}

/// [`classify`] on any error chain: `timeout` and `decode` say what the outer error itself is.
fn classify_chain(e: &(dyn std::error::Error + 'static), timeout: bool, decode: bool) -> ErrorKind {
    let mut io_kind = None;
    let mut transport = false;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return ErrorKind::Tls;
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            transport = true;
            // A garbage status line, malformed or oversized headers: the server's fault, not a
            // transient network failure, so not retried.
            if h.is_parse() || h.is_parse_status() {
                return ErrorKind::Protocol;
            }
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => {
                if io.kind() != std::io::ErrorKind::Other {
                    io_kind.get_or_insert(io.kind());
                }
                // io::Error's source() skips the error it wraps: descend into it instead.
                match io.get_ref() {
                    Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                    None => err.source(),
                }
            }
            None => err.source(),
        };
    }
    if timeout || io_kind == Some(std::io::ErrorKind::TimedOut) {
        ErrorKind::Timeout
    } else if decode && (io_kind.is_none() || !transport) {
        // A body that does not decode (corrupt or truncated gzip, the HTTP body itself complete):
        // the server's fault. (A connection lost while decoding has an I/O error under hyper's.)
        ErrorKind::Protocol
    } else {
        ErrorKind::Connect
    }
}

/// Map a reqwest failure to a result code with a message naming what was attempted (the URL,
/// whose query may hold patient data, is left out: `context` names method and path).
pub fn map_reqwest_error(e: reqwest::Error, context: &str) -> Error {
    let code = classify(&e);
    let text = chain(&e.without_url());
    Error::new(code, format!("{context}: {text}"))
}

#[cfg(test)]
mod proxy_env_tests {
    use super::*;

    #[test]
    fn environment_proxies_and_no_proxy_rules() {
        let env = |k: &str| match k {
            "http_proxy" => Some("user:pw@127.0.0.1:3128".to_owned()),
            "HTTPS_PROXY" => Some("http://127.0.0.1:3129".to_owned()),
            "NO_PROXY" => Some(".internal.example, localhost:8080".to_owned()),
            _ => None,
        };
        let (proxies, no_proxy) = env_proxies(env);
        assert_eq!(proxies.len(), 2);
        assert_eq!(proxies[0].url.as_str(), "http://user:pw@127.0.0.1:3128/");
        assert_eq!(proxies[1].scheme, ProxyScheme::Https);
        let url = |s: &str| Url::parse(s).unwrap();
        let matches = |u: &str| no_proxy.iter().any(|r| no_proxy_matches(r, &url(u)));
        assert!(matches("https://fhir.internal.example/fhir"));
        assert!(matches("http://internal.example/fhir"));
        assert!(matches("http://localhost:8080/fhir"));
        assert!(!matches("http://localhost:8081/fhir"));
        assert!(!matches("http://notinternal.example/fhir"));
        assert!(no_proxy_matches("*", &url("http://any/")));
    }

    #[test]
    fn a_proxy_in_the_environment_is_seen_in_any_variable() {
        let only = |name: &'static str, value: &'static str| {
            move |k: &str| (k == name).then(|| std::ffi::OsString::from(value))
        };
        assert!(!env_sets_proxy(|_| None));
        assert!(!env_sets_proxy(only("HTTP_PROXY", "  ")));
        assert!(!env_sets_proxy(only("NO_PROXY", "*")));
        for name in PROXY_VARIABLES {
            assert!(env_sets_proxy(only(name, "127.0.0.1:3128")), "{name}");
        }
    }
}
