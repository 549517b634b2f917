//! Auth modes: none, HTTP basic, static bearer token, OpenID Connect client credentials, and
//! SMART Backend Services (client credentials with a signed JWT, see [`crate::smart`]).
//!
//! OIDC: the access token is cached per handle and shared by every thread; it is refreshed shortly
//! before it expires, by one request even when many threads need it at once (the refresh holds an
//! async mutex that the others wait on); after a 401 the caller asks for a token newer than the
//! one that was refused, which is fetched once. The provider URL may be the token endpoint itself
//! or the issuer, whose `/.well-known/openid-configuration` names the `token_endpoint`.
//!
//! SMART uses the same token client ([`OidcAuth`]): only the client authentication
//! ([`ClientAuth::PrivateKeyJwt`]) and the discovery of the token endpoint differ.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};

use crate::config::{redact_url, ClientAuthMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::redact::{quote, Secrets};
use crate::smart::{SmartClient, ASSERTION_TYPE};
use crate::transport::{map_reqwest_error, read_body};

/// Most bytes read from a provider answer (discovery document, token response).
const MAX_PROVIDER_ANSWER: u64 = 1 << 20;

pub enum Auth {
    None,
    Basic {
        username: String,
        password: String,
    },
    Token(String),
    Oidc(Box<OidcAuth>),
    /// SMART Backend Services: the token client authenticated with a signed JWT.
    Smart(Box<OidcAuth>),
}

/// Never prints a secret.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Basic { username, .. } => write!(
                f,
                "Auth::Basic {{ username: {username:?}, password: \"***\" }}"
            ),
            Auth::Token(_) => f.write_str("Auth::Token(\"***\")"),
            Auth::Oidc(o) => fmt::Debug::fmt(o, f),
            Auth::Smart(o) => {
                f.write_str("Auth::Smart(")?;
                fmt::Debug::fmt(o, f)?;
                f.write_str(")")
            }
        }
    }
}

/// An `Authorization` header value and, for OIDC, the generation of the token it carries.
pub(crate) struct Credential {
    pub header: Option<HeaderValue>,
    pub generation: u64,
}

impl Auth {
    pub fn basic(username: &str, password: &str) -> Result<Auth> {
        if username.is_empty() {
            return Err(Error::invalid("basic auth username is empty"));
        }
        if username.contains(':') {
            return Err(Error::invalid("basic auth username must not contain ':'"));
        }
        Ok(Auth::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    pub fn token(token: &str) -> Result<Auth> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::invalid("token is empty"));
        }
        HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::invalid("token contains characters not allowed in a header"))?;
        Ok(Auth::Token(token.to_owned()))
    }

    /// Register every secret of this mode (and the forms it takes on the wire) for redaction.
    pub(crate) fn register_secrets(&self, secrets: &Secrets) {
        match self {
            Auth::None => {}
            Auth::Basic { username, password } => secrets.add_basic(username, password),
            Auth::Token(token) => secrets.add(token),
            Auth::Oidc(o) | Auth::Smart(o) => match &o.client {
                ClientAuth::SecretBasic(secret) | ClientAuth::SecretPost(secret) => {
                    secrets.add(secret);
                    let id: String =
                        form_urlencoded::byte_serialize(o.client_id.as_bytes()).collect();
                    let secret: String =
                        form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                    secrets.add_basic(&id, &secret);
                }
                // The key is never formatted; each assertion is registered when it is made.
                ClientAuth::PrivateKeyJwt(_) => {}
            },
        }
    }

    /// The token client of the modes that fetch their tokens (OpenID Connect, SMART).
    fn token_client(&self) -> Option<&OidcAuth> {
        match self {
            Auth::Oidc(o) | Auth::Smart(o) => Some(o),
            _ => None,
        }
    }

    /// The token provider's URL, for the modes that have one. SMART: the token endpoint once
    /// known, else the FHIR base its smart-configuration is read from.
    pub(crate) fn provider_url(&self) -> Option<&url::Url> {
        let o = self.token_client()?;
        match &o.client {
            ClientAuth::PrivateKeyJwt(smart) => Some(
                o.token_endpoint
                    .get()
                    .unwrap_or_else(|| smart.discovery_root()),
            ),
            _ => o.provider_url.as_ref(),
        }
    }

    /// Whether a 401 is worth a fresh token and a replay (the modes that fetch their tokens).
    pub(crate) fn refreshes_tokens(&self) -> bool {
        self.token_client().is_some()
    }

    /// The scope granted with the current token (fetched first when none is cached).
    pub(crate) async fn granted_scope(
        &self,
        http: &reqwest::Client,
        secrets: &Secrets,
    ) -> Result<String> {
        let client = self.token_client().ok_or_else(|| {
            Error::invalid("the granted scope exists only for the OpenID Connect and SMART modes")
        })?;
        let token = client.access_token(http, secrets, None).await?;
        Ok(token
            .scope
            .or_else(|| client.scope.clone())
            .unwrap_or_default())
    }

    /// The credential for the next request. For OIDC, `refused` is the generation of a token the
    /// server just answered 401 to: a newer one is fetched (once, however many threads ask).
    pub(crate) async fn credential(
        &self,
        http: &reqwest::Client,
        secrets: &Secrets,
        refused: Option<u64>,
    ) -> Result<Credential> {
        let header = match self {
            Auth::None => None,
            Auth::Basic { username, password } => Some(basic(username, password)?),
            Auth::Token(token) => Some(sensitive(&format!("Bearer {token}"))?),
            Auth::Oidc(oidc) | Auth::Smart(oidc) => {
                let token = oidc.access_token(http, secrets, refused).await?;
                // Checked before it was cached, so this cannot fail.
                let header = sensitive(&format!("Bearer {}", token.value))?;
                return Ok(Credential {
                    header: Some(header),
                    generation: token.generation,
                });
            }
        };
        Ok(Credential {
            header,
            generation: 0,
        })
    }
}

/// `Basic base64(user:password)`, marked sensitive.
fn basic(user: &str, password: &str) -> Result<HeaderValue> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    sensitive(&format!("Basic {encoded}"))
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid("credential contains characters not allowed in a header"))?;
    v.set_sensitive(true);
    Ok(v)
}

/// How a token client proves itself to the token endpoint.
pub(crate) enum ClientAuth {
    /// `client_secret_basic`: HTTP basic with the form-encoded id and secret.
    SecretBasic(String),
    /// `client_secret_post`: id and secret in the form.
    SecretPost(String),
    /// `private_key_jwt` (SMART Backend Services): a signed client assertion in the form.
    PrivateKeyJwt(Box<SmartClient>),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::SecretBasic(_) => f.write_str("client_secret_basic"),
            ClientAuth::SecretPost(_) => f.write_str("client_secret_post"),
            ClientAuth::PrivateKeyJwt(s) => fmt::Debug::fmt(s, f),
        }
    }
}

/// The client-credentials token client of the OpenID Connect and SMART modes.
pub struct OidcAuth {
    client_id: String,
    client: ClientAuth,
    /// OpenID Connect: the token endpoint or the issuer. SMART: unused (its client knows).
    provider_url: Option<url::Url>,
    scope: Option<String>,
    token_endpoint: tokio::sync::OnceCell<url::Url>,
    state: tokio::sync::Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    current: Option<CachedToken>,
    generation: u64,
    /// The last failed fetch: callers that were already waiting when it failed get it too,
    /// instead of each trying (and timing out) again in turn.
    last_failure: Option<(Instant, Error)>,
}

#[derive(Clone)]
struct CachedToken {
    value: String,
    /// When to stop using it: shortly before the provider's expiry.
    refresh_at: Option<Instant>,
    generation: u64,
    /// The scope the provider said it granted.
    scope: Option<String>,
}

impl fmt::Debug for OidcAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OidcAuth");
        d.field("client_id", &self.client_id);
        if let ClientAuth::SecretBasic(_) | ClientAuth::SecretPost(_) = self.client {
            d.field("client_secret", &"***");
        }
        d.field("provider_url", &self.provider_url.as_ref().map(redact_url))
            .field("scope", &self.scope)
            .field("method", &self.client)
            .finish()
    }
}

/// Refresh this long before expiry: a tenth of the lifetime, at most 30 s.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(30))
}

impl OidcAuth {
    pub fn new(
        client_id: &str,
        client_secret: &str,
        provider_url: &str,
        scope: Option<String>,
        method: ClientAuthMethod,
    ) -> Result<OidcAuth> {
        if client_id.is_empty() {
            return Err(Error::invalid("OIDC client id is empty"));
        }
        if client_secret.is_empty() {
            return Err(Error::invalid("OIDC client secret is empty"));
        }
        let provider_url = url::Url::parse(provider_url.trim())
            .map_err(|e| Error::invalid(format!("OIDC provider URL is invalid: {e}")))?;
        if !matches!(provider_url.scheme(), "http" | "https") || provider_url.host().is_none() {
            return Err(Error::invalid(
                "OIDC provider URL must be http:// or https:// with a host",
            ));
        }
        let secret = client_secret.to_owned();
        let client = match method {
            ClientAuthMethod::Basic => ClientAuth::SecretBasic(secret),
            ClientAuthMethod::Post => ClientAuth::SecretPost(secret),
        };
        Ok(OidcAuth::with_client(
            client_id,
            client,
            Some(provider_url),
            scope,
        ))
    }

    /// The token client of SMART Backend Services (all checked by [`SmartClient::new`]).
    pub(crate) fn smart(client_id: &str, client: SmartClient, scope: Option<String>) -> OidcAuth {
        let client = ClientAuth::PrivateKeyJwt(Box::new(client));
        OidcAuth::with_client(client_id, client, None, scope)
    }

    fn with_client(
        client_id: &str,
        client: ClientAuth,
        provider_url: Option<url::Url>,
        scope: Option<String>,
    ) -> OidcAuth {
        OidcAuth {
            client_id: client_id.to_owned(),
            client,
            provider_url,
            scope,
            token_endpoint: tokio::sync::OnceCell::new(),
            state: tokio::sync::Mutex::new(TokenState::default()),
        }
    }

    /// "OIDC" or "SMART", for messages.
    fn label(&self) -> &'static str {
        match self.client {
            ClientAuth::PrivateKeyJwt(_) => "SMART",
            _ => "OIDC",
        }
    }

    async fn access_token(
        &self,
        http: &reqwest::Client,
        secrets: &Secrets,
        refused: Option<u64>,
    ) -> Result<CachedToken> {
        let arrived = Instant::now();
        let mut state = self.state.lock().await;
        if let Some((at, err)) = &state.last_failure {
            if *at >= arrived {
                return Err(err.clone());
            }
        }
        if let Some(tok) = &state.current {
            let stale_by_401 = refused == Some(tok.generation);
            let expired = tok.refresh_at.is_some_and(|at| Instant::now() >= at);
            if !stale_by_401 && !expired {
                return Ok(tok.clone());
            }
        }
        let started = Instant::now();
        log::info!(
            target: "fhir_kindling::auth",
            "{} token: {}",
            self.label(),
            match &state.current {
                None => "fetching the first token",
                Some(t) if refused == Some(t.generation) => "the server refused the token (401); fetching a new one",
                Some(_) => "the token is about to expire; fetching a new one",
            }
        );
        let fetched = match self
            .token_endpoint
            .get_or_try_init(|| self.discover(http))
            .await
        {
            Ok(endpoint) => self.fetch(http, endpoint, secrets).await,
            Err(e) => Err(e),
        };
        let TokenAnswer {
            token: value,
            lifetime,
            scope,
        } = match fetched {
            Ok(ok) => ok,
            Err(e) => {
                log::error!(target: "fhir_kindling::auth", "{}", e.message());
                state.last_failure = Some((Instant::now(), e.clone()));
                return Err(e);
            }
        };
        log::info!(
            target: "fhir_kindling::auth",
            "{} token received in {} ms{}",
            self.label(),
            started.elapsed().as_millis(),
            match lifetime {
                Some(l) => format!(", valid for {} s", l.as_secs()),
                None => String::new(),
            }
        );
        state.last_failure = None;
        state.generation += 1;
        let generation = state.generation;
        let token = CachedToken {
            value,
            // A lifetime of 0 means "use once": the next request fetches again.
            refresh_at: lifetime.map(|l| started + (l - refresh_margin(l))),
            generation,
            scope,
        };
        state.current = Some(token.clone());
        Ok(token)
    }

    /// The token endpoint. SMART: configured or from the FHIR server's smart-configuration.
    /// OIDC: the provider URL itself, unless it is an issuer whose discovery document names one.
    async fn discover(&self, http: &reqwest::Client) -> Result<url::Url> {
        let provider_url = match (&self.client, &self.provider_url) {
            (ClientAuth::PrivateKeyJwt(smart), _) => return smart.token_endpoint(http).await,
            (_, Some(url)) => url,
            (_, None) => return Err(Error::invalid("OIDC provider URL is missing")),
        };
        let path = provider_url.path();
        if path.ends_with("/token") {
            return Ok(provider_url.clone());
        }
        let discovery = if path.ends_with("/.well-known/openid-configuration") {
            provider_url.clone()
        } else {
            let mut u = provider_url.clone();
            let p = format!(
                "{}/.well-known/openid-configuration",
                path.trim_end_matches('/')
            );
            u.set_path(&p);
            u
        };
        let resp = http
            .get(discovery.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| map_reqwest_error(e, "OIDC discovery").with_context("OIDC provider"))?;
        let status = resp.status();
        if status.is_success() {
            let body = read_body(resp, MAX_PROVIDER_ANSWER, "OIDC discovery")
                .await?
                .map_err(|e| map_reqwest_error(e, "OIDC discovery"))?;
            let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    ErrorKind::Auth,
                    format!("OIDC discovery document is not JSON: {e}"),
                )
            })?;
            let endpoint = doc
                .get("token_endpoint")
                .and_then(|v| v.as_str())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Auth,
                        "OIDC discovery document has no token_endpoint",
                    )
                })?;
            let endpoint = url::Url::parse(endpoint).map_err(|e| {
                Error::new(
                    ErrorKind::Auth,
                    format!("OIDC token_endpoint is not a URL: {e}"),
                )
            })?;
            // The client secret goes there: never in clear text from an https issuer, never with
            // credentials of the provider's choosing.
            if !endpoint.username().is_empty() || endpoint.password().is_some() {
                return Err(Error::new(
                    ErrorKind::Auth,
                    "OIDC token_endpoint carries credentials; refused",
                ));
            }
            let downgrade = provider_url.scheme() == "https" && endpoint.scheme() != "https";
            if downgrade || !matches!(endpoint.scheme(), "http" | "https") {
                return Err(Error::new(
                    ErrorKind::Auth,
                    "OIDC token_endpoint must be https:// (as the issuer is); refused",
                ));
            }
            return Ok(endpoint);
        }
        if !matches!(status.as_u16(), 404 | 405)
            || path.ends_with("/.well-known/openid-configuration")
        {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "OIDC discovery at {} answered HTTP {}",
                    redact_url(&discovery),
                    status.as_u16()
                ),
            ));
        }
        // No discovery document (404/405): the URL is the token endpoint itself. Any other status
        // (a provider restarting, a 429) is an error that is not remembered, so the next call
        // discovers again.
        Ok(provider_url.clone())
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        endpoint: &url::Url,
        secrets: &Secrets,
    ) -> Result<TokenAnswer> {
        let label = self.label();
        let context = format!("{label} token request");
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &self.scope {
            form.append_pair("scope", scope);
        }
        let mut req = http
            .post(endpoint.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        let mut assertion = None;
        match &self.client {
            ClientAuth::SecretBasic(secret) => {
                // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
                let id: String =
                    form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
                let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                req = req.header(reqwest::header::AUTHORIZATION, basic(&id, &secret)?);
            }
            ClientAuth::SecretPost(secret) => {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", secret);
            }
            ClientAuth::PrivateKeyJwt(smart) => {
                // A new one (new jti) for every request; a secret before it leaves.
                let jwt = smart.assertion(&self.client_id, endpoint)?;
                // Kept with the access tokens: as many, evicted alike.
                secrets.add_token(&jwt);
                form.append_pair("client_assertion_type", ASSERTION_TYPE);
                form.append_pair("client_assertion", &jwt);
                assertion = Some(jwt);
            }
        }
        let resp = req
            .body(form.finish())
            .send()
            .await
            .map_err(|e| map_reqwest_error(e, &context))?;
        let status = resp.status();
        let mut body = read_body(resp, MAX_PROVIDER_ANSWER, &context)
            .await?
            .map_err(|e| map_reqwest_error(e, &context))?
            .to_vec();
        if let Some(jwt) = &assertion {
            // The error body goes to the caller as it is: not with the assertion in it.
            body = scrub(&body, jwt.as_bytes());
        }
        parse_token_response(status.as_u16(), &body, &self.client_id, secrets, label)
    }
}

/// `body` with every occurrence of `secret` replaced by `[redacted]`.
fn scrub(body: &[u8], secret: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while !secret.is_empty() && rest.len() >= secret.len() {
        match rest.windows(secret.len()).position(|w| w == secret) {
            Some(at) => {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(crate::redact::REDACTED.as_bytes());
                rest = &rest[at + secret.len()..];
            }
            None => break,
        }
    }
    out.extend_from_slice(rest);
    out
}

/// What a token response gives: the access token, its lifetime and the granted scope.
pub(crate) struct TokenAnswer {
    pub(crate) token: String,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) scope: Option<String>,
}

/// The provider's answer to a token request: the access token and its lifetime, or an `Auth`
/// error quoting (bounded) what the provider said. The token is registered for redaction before
/// anything else is done with it, and refused unless it can be sent as a header value, so that
/// an unusable token is never cached.
pub(crate) fn parse_token_response(
    status: u16,
    body: &[u8],
    client_id: &str,
    secrets: &Secrets,
    label: &str,
) -> Result<TokenAnswer> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(token) = json
        .as_ref()
        .and_then(|j| j.get("access_token"))
        .and_then(|v| v.as_str())
    {
        secrets.add_token(token);
    }
    if !(200..300).contains(&status) {
        let detail = json
            .as_ref()
            .map(|j| {
                let field = |k: &str| j.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let (err, desc) = (field("error"), field("error_description"));
                match (err.is_empty(), desc.is_empty()) {
                    (true, true) => String::new(),
                    (false, true) => format!(": {}", quote(err, 100)),
                    _ => format!(": {} {}", quote(err, 100), quote(desc, 300)),
                }
            })
            .unwrap_or_default();
        let mut e = Error::new(
            ErrorKind::Auth,
            format!(
                "{label} provider refused a token for client {} (HTTP {status}){detail}",
                quote(client_id, 100)
            ),
        );
        e.status = Some(status);
        e.body = Some(bytes::Bytes::copy_from_slice(body));
        return Err(e);
    }
    let json = json.ok_or_else(|| {
        Error::new(
            ErrorKind::Auth,
            format!("{label} token response is not JSON"),
        )
    })?;
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Auth,
                format!("{label} token response has no access_token"),
            )
        })?;
    if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(Error::new(
            ErrorKind::Auth,
            format!("the {label} provider's access token is not a valid header value; it was not cached"),
        ));
    }
    if let Some(tt) = json.get("token_type") {
        if !tt
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "{label} token_type {} is not Bearer",
                    quote(&tt.to_string(), 40)
                ),
            ));
        }
    }
    let lifetime = json
        .get("expires_in")
        .and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .filter(|s| s.is_finite())
        // Clamped to 0..=10 years, so that no value a provider sends can overflow a clock.
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 315_360_000.0)));
    let scope = json
        .get("scope")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(TokenAnswer {
        token: token.to_owned(),
        lifetime,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let b = Auth::basic("alice", "pa55word").unwrap();
        let t = Auth::token("tok-123").unwrap();
        let o = Auth::Oidc(Box::new(
            OidcAuth::new(
                "cid",
                "csecret",
                "https://idp.example/token",
                None,
                ClientAuthMethod::Basic,
            )
            .unwrap(),
        ));
        let all = format!("{b:?} {t:?} {o:?}");
        assert!(all.contains("alice") && all.contains("cid"));
        for secret in ["pa55word", "tok-123", "csecret"] {
            assert!(!all.contains(secret), "{secret} leaked in {all}");
        }
    }

    #[test]
    fn refresh_margin_is_a_tenth_capped_at_30s() {
        assert_eq!(
            refresh_margin(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn bad_credentials_are_refused_up_front() {
        assert!(Auth::basic("", "x").is_err());
        assert!(Auth::basic("a:b", "x").is_err());
        assert!(Auth::token("  ").is_err());
        assert!(Auth::token("bad\ntoken").is_err());
        assert!(OidcAuth::new("id", "", "https://x/token", None, ClientAuthMethod::Basic).is_err());
        assert!(OidcAuth::new("id", "s", "ftp://x/token", None, ClientAuthMethod::Basic).is_err());
    }
}
