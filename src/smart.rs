//! SMART Backend Services (HL7 SMART App Launch, "client-confidential-asymmetric"): the client
//! proves itself to the token endpoint with a JWT signed by its own private key
//! (`private_key_jwt`, RFC 7523), RS384 or ES384.
//!
//! This module holds what is SMART-specific: the signing key (PEM text or file; RSA 2048–4096 bit
//! in PKCS#8 or PKCS#1, P-384 in PKCS#8 or SEC1), the client assertion, the discovery of the token
//! endpoint through `[base]/.well-known/smart-configuration`, and the public JWK Set of a key. The
//! token lifecycle (cache shared by threads, refresh before expiry, single flight, one refresh and
//! replay after a 401) is the OpenID Connect one in [`crate::auth`]; SMART is one of its client
//! authentication methods.
//!
//! Signing uses `ring`, already in the tree through rustls: no second crypto stack. RS384 is
//! RSASSA-PKCS1-v1_5 with SHA-384 (deterministic), ES384 ECDSA P-384 with SHA-384 in the fixed
//! `r || s` form that JWS requires. The private key is never formatted: no message, `Debug` output
//! or error body carries it, and each assertion is registered as a secret before it is sent.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use reqwest::header::ACCEPT;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use url::Url;

use crate::auth::{Auth, OidcAuth};
use crate::config::{redact_url, Options};
use crate::error::{Error, ErrorKind, Result};
use crate::redact::quote;
use crate::server::{parse_base_url, FhirServer};
use crate::transport::{map_reqwest_error, read_body};

/// Most bytes read from a smart-configuration document.
const MAX_DISCOVERY_ANSWER: u64 = 1 << 20;
/// Lifetime of a client assertion. SMART allows at most 5 minutes; 4 leave room for clock skew.
const ASSERTION_LIFETIME_SECS: u64 = 240;
/// RFC 7523 §2.2.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The JWS algorithms SMART Backend Services allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-384 (an RSA key of 2048 to 4096 bits).
    Rs384,
    /// ECDSA P-384 with SHA-384 (a P-384 key).
    Es384,
}

impl Algorithm {
    pub fn parse(s: &str) -> Result<Algorithm> {
        match s.trim().to_ascii_uppercase().as_str() {
            "RS384" => Ok(Algorithm::Rs384),
            "ES384" => Ok(Algorithm::Es384),
            other => Err(Error::invalid(format!(
                "SMART algorithm {} is not RS384 or ES384",
                quote(other, 40)
            ))),
        }
    }

    /// The JWS name: "RS384" or "ES384".
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs384 => "RS384",
            Algorithm::Es384 => "ES384",
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private key able to sign client assertions.
pub(crate) struct SigningKey {
    pair: Pair,
}

/// Never shows the key.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())?;
        f.write_str(" (private key: ***)")
    }
}

// DER object identifiers (the value bytes) that name what a PKCS#8 key is.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_EC_PARAMETERS: u8 = 0xa0;

/// One DER element at the start of `input`: (tag, value, the rest). Definite lengths only.
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// One DER element: tag, length, value.
fn der_write(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(value);
    out
}

/// What a curve OID is called, for messages.
fn curve_name(oid: &[u8]) -> &'static str {
    match oid {
        OID_P384 => "P-384",
        OID_P256 => "P-256",
        OID_P521 => "P-521",
        _ => "an unknown curve",
    }
}

fn wrong_curve(oid: &[u8]) -> Error {
    Error::invalid(format!(
        "the SMART private key is an EC key on {}; SMART needs P-384 (ES384) or RSA (RS384)",
        curve_name(oid)
    ))
}

/// The algorithm and, for EC, curve OIDs of a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_algorithm(der: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (TAG_SEQUENCE, info, _) = der_read(der)? else {
        return None;
    };
    let (TAG_INTEGER, _, rest) = der_read(info)? else {
        return None;
    };
    let (TAG_SEQUENCE, alg_id, _) = der_read(rest)? else {
        return None;
    };
    let (TAG_OID, oid, rest) = der_read(alg_id)? else {
        return None;
    };
    let params = match der_read(rest) {
        Some((TAG_OID, p, _)) => Some(p),
        _ => None,
    };
    Some((oid, params))
}

/// A SEC1 `ECPrivateKey` (`BEGIN EC PRIVATE KEY`) as the PKCS#8 `PrivateKeyInfo` ring reads, in
/// the form `openssl pkcs8 -topk8 -nocrypt` writes: the curve moves from the key's optional `[0]`
/// parameters into the algorithm identifier.
pub(crate) fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::invalid("the SMART private key (EC PRIVATE KEY) is not valid SEC1 DER");
    let (tag, body, _) = der_read(sec1).ok_or_else(bad)?;
    if tag != TAG_SEQUENCE {
        return Err(bad());
    }
    // version INTEGER 1, privateKey OCTET STRING, [0] parameters OPTIONAL, [1] publicKey OPTIONAL
    let (tag, version, rest) = der_read(body).ok_or_else(bad)?;
    if tag != TAG_INTEGER || version != [1] {
        return Err(bad());
    }
    let (tag, _, after_key) = der_read(rest).ok_or_else(bad)?;
    if tag != TAG_OCTET_STRING {
        return Err(bad());
    }
    let kept_len = rest.len() - after_key.len();
    let mut inner = der_write(TAG_INTEGER, &[1]);
    inner.extend_from_slice(&rest[..kept_len]);
    let mut tail = after_key;
    if let Some((TAG_EC_PARAMETERS, params, after)) = der_read(tail) {
        match der_read(params) {
            Some((TAG_OID, OID_P384, _)) => {}
            Some((TAG_OID, other, _)) => return Err(wrong_curve(other)),
            _ => return Err(bad()),
        }
        tail = after;
    }
    inner.extend_from_slice(tail);
    let mut alg_id = der_write(TAG_OID, OID_EC);
    alg_id.extend(der_write(TAG_OID, OID_P384));
    let mut info = der_write(TAG_INTEGER, &[0]);
    info.extend(der_write(TAG_SEQUENCE, &alg_id));
    info.extend(der_write(
        TAG_OCTET_STRING,
        &der_write(TAG_SEQUENCE, &inner),
    ));
    Ok(der_write(TAG_SEQUENCE, &info))
}

/// ring's reason for refusing a key, in words.
fn rejected(what: &str, e: ring::error::KeyRejected) -> Error {
    let why = match e.to_string().as_str() {
        "TooSmall" => "it is smaller than 2048 bits".to_owned(),
        "TooLarge" => "it is larger than 4096 bits".to_owned(),
        "InvalidEncoding" => "its DER encoding is invalid".to_owned(),
        "WrongAlgorithm" => "it is not of the expected type".to_owned(),
        "PublicKeyIsMissing" => "it does not include its public key".to_owned(),
        other => other.to_owned(),
    };
    Error::invalid(format!("the SMART private key ({what}) is refused: {why}"))
}

fn rsa_pkcs8(der: &[u8]) -> Result<Pair> {
    RsaKeyPair::from_pkcs8(der)
        .map(Pair::Rsa)
        .map_err(|e| rejected("RSA, PKCS#8", e))
}

fn p384_pkcs8(der: &[u8], what: &str) -> Result<Pair> {
    EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        der,
        &SystemRandom::new(),
    )
    .map(Pair::Ec)
    .map_err(|e| rejected(what, e))
}

impl SigningKey {
    /// A key given as PEM text (anything containing `-----BEGIN`) or as the path of a PEM file.
    /// An unreadable file is `Io`; anything else wrong is `InvalidArgument`. Neither the text nor
    /// the path is echoed (a misplaced key must not reach a log).
    pub(crate) fn load(text_or_path: &str) -> Result<SigningKey> {
        if text_or_path.contains("-----BEGIN") {
            return SigningKey::from_pem(text_or_path.as_bytes());
        }
        let path = text_or_path.trim();
        if path.is_empty() {
            return Err(Error::invalid("the SMART private key is empty"));
        }
        let pem = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read the SMART private key file (the argument is not PEM text, so it was taken as a path): {e}"),
            )
        })?;
        SigningKey::from_pem(&pem)
    }

    /// A key from PEM: `PRIVATE KEY` (PKCS#8, RSA or P-384), `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC1, P-384). Other sections (such as `EC PARAMETERS`) are skipped.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<SigningKey> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY")
            || text.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(Error::invalid(
                "the SMART private key is encrypted; give it unencrypted (openssl pkey -in KEY -out PLAIN)",
            ));
        }
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound if text.contains("PUBLIC KEY-----") => {
                Error::invalid("the SMART private key is a public key; give the private key")
            }
            rustls_pki_types::pem::Error::NoItemsFound => Error::invalid(
                "no private key in the SMART private key PEM (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            ),
            // Not detailed: a parser's detail could quote a line of the key.
            _ => Error::invalid("the SMART private key is not well-formed PEM"),
        })?;
        let pair = match &der {
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
                .map(Pair::Rsa)
                .map_err(|e| rejected("RSA, PKCS#1", e))?,
            PrivateKeyDer::Sec1(k) => p384_pkcs8(&sec1_to_pkcs8(k.secret_sec1_der())?, "EC, SEC1")?,
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                match pkcs8_algorithm(der) {
                    Some((OID_RSA, _)) => rsa_pkcs8(der)?,
                    Some((OID_EC, Some(OID_P384))) => p384_pkcs8(der, "EC P-384, PKCS#8")?,
                    Some((OID_EC, Some(curve))) => return Err(wrong_curve(curve)),
                    Some((OID_ED25519 | OID_ED448, _)) => {
                        return Err(Error::invalid(
                            "the SMART private key is an EdDSA key; SMART needs RSA (RS384) or P-384 (ES384)",
                        ))
                    }
                    _ => {
                        return Err(Error::invalid(
                            "the SMART private key (PKCS#8) is neither an RSA nor an EC P-384 key",
                        ))
                    }
                }
            }
            _ => {
                return Err(Error::invalid(
                    "the SMART private key is of an unsupported kind",
                ))
            }
        };
        Ok(SigningKey { pair })
    }

    /// The algorithm this key signs with.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Rsa(_) => Algorithm::Rs384,
            Pair::Ec(_) => Algorithm::Es384,
        }
    }

    /// "an RSA 2048-bit key" / "an EC P-384 key".
    fn describe(&self) -> String {
        match &self.pair {
            Pair::Rsa(k) => format!("an RSA {}-bit key", k.public().modulus_len() * 8),
            Pair::Ec(_) => "an EC P-384 key".to_owned(),
        }
    }

    /// `wanted` if this key can sign with it, else the key's own algorithm when none is wanted.
    pub(crate) fn check_algorithm(&self, wanted: Option<Algorithm>) -> Result<Algorithm> {
        match wanted {
            Some(alg) if alg != self.algorithm() => Err(Error::invalid(format!(
                "the SMART algorithm {} does not fit the private key, {} (which signs {})",
                alg.as_str(),
                self.describe(),
                self.algorithm().as_str()
            ))),
            _ => Ok(self.algorithm()),
        }
    }

    /// The JWS signature of `message`.
    pub(crate) fn sign(&self, message: &[u8], rng: &SystemRandom) -> Result<Vec<u8>> {
        let failed = || Error::new(ErrorKind::Auth, "signing the SMART client assertion failed");
        match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA384, rng, message, &mut sig)
                    .map_err(|_| failed())?;
                Ok(sig)
            }
            Pair::Ec(k) => Ok(k
                .sign(rng, message)
                .map_err(|_| failed())?
                .as_ref()
                .to_vec()),
        }
    }

    /// The public JWK of this key (RFC 7517/7518), with `kid`, `alg` and `use: "sig"`.
    pub(crate) fn public_jwk(&self, kid: &str, alg: Algorithm) -> serde_json::Value {
        match &self.pair {
            Pair::Rsa(k) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public());
                serde_json::json!({
                    "kty": "RSA", "kid": kid, "alg": alg.as_str(), "use": "sig",
                    "n": B64URL.encode(&c.n), "e": B64URL.encode(&c.e),
                })
            }
            Pair::Ec(k) => {
                // The uncompressed point: 0x04 || x || y, 48 bytes each.
                let point = k.public_key().as_ref();
                let (x, y) = point[1..].split_at(48);
                serde_json::json!({
                    "kty": "EC", "kid": kid, "alg": alg.as_str(), "use": "sig", "crv": "P-384",
                    "x": B64URL.encode(x), "y": B64URL.encode(y),
                })
            }
        }
    }
}

/// A compact JWS: `base64url(header) . base64url(claims) . base64url(signature)`.
pub(crate) fn jws(
    key: &SigningKey,
    header: &[u8],
    claims: &[u8],
    rng: &SystemRandom,
) -> Result<String> {
    let input = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims));
    let sig = key.sign(input.as_bytes(), rng)?;
    Ok(format!("{input}.{}", B64URL.encode(sig)))
}

/// The public JWK Set (`{"keys":[...]}`) of a private key (PEM text or file) under `kid`, to
/// register with an EHR. `alg` must fit the key; absent, it is the key's own.
pub fn public_jwks(private_key: &str, kid: &str, alg: Option<&str>) -> Result<String> {
    let key = SigningKey::load(private_key)?;
    let kid = check_kid(kid)?;
    let alg = key.check_algorithm(alg.map(Algorithm::parse).transpose()?)?;
    let set = serde_json::json!({ "keys": [key.public_jwk(kid, alg)] });
    Ok(set.to_string())
}

fn check_kid(kid: &str) -> Result<&str> {
    if kid.trim().is_empty() {
        return Err(Error::invalid(
            "the SMART key id (kid) is empty; it is required (option smart_key_id)",
        ));
    }
    Ok(kid)
}

/// The http(s) URL of an option or a discovery document.
fn http_url(raw: &str, what: &str, kind: ErrorKind) -> Result<Url> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::new(kind, format!("{what} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::new(
            kind,
            format!("{what} must be http:// or https:// with a host"),
        ));
    }
    Ok(url)
}

/// The SMART settings of the options, checked when set.
#[derive(Clone, Debug, Default)]
pub(crate) struct SmartOptions {
    pub(crate) key_id: Option<String>,
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) scope: Option<String>,
    pub(crate) token_url: Option<Url>,
    pub(crate) jku: Option<Url>,
}

impl SmartOptions {
    pub(crate) fn set_key_id(&mut self, kid: &str) -> Result<()> {
        self.key_id = Some(check_kid(kid)?.to_owned());
        Ok(())
    }

    pub(crate) fn set_algorithm(&mut self, alg: &str) -> Result<()> {
        self.algorithm = Some(Algorithm::parse(alg)?);
        Ok(())
    }

    /// Passed through verbatim (SMART v1 `system/*.read` or v2 `system/*.rs`); empty means none.
    pub(crate) fn set_scope(&mut self, scope: &str) -> Result<()> {
        if scope.chars().any(char::is_control) {
            return Err(Error::invalid(
                "the SMART scope contains control characters",
            ));
        }
        self.scope = (!scope.is_empty()).then(|| scope.to_owned());
        Ok(())
    }

    pub(crate) fn set_token_url(&mut self, url: &str) -> Result<()> {
        self.token_url = Some(http_url(
            url,
            "the SMART token URL",
            ErrorKind::InvalidArgument,
        )?);
        Ok(())
    }

    pub(crate) fn set_jku(&mut self, url: &str) -> Result<()> {
        self.jku = Some(http_url(
            url,
            "the SMART jku URL",
            ErrorKind::InvalidArgument,
        )?);
        Ok(())
    }
}

/// The SMART half of a token client: how it signs its assertions and finds its token endpoint.
pub(crate) struct SmartClient {
    key: SigningKey,
    alg: Algorithm,
    kid: String,
    jku: Option<Url>,
    /// The FHIR base URL, where `.well-known/smart-configuration` lives.
    base: Url,
    /// The configured token endpoint (no discovery then).
    token_url: Option<Url>,
    rng: SystemRandom,
}

impl fmt::Debug for SmartClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmartClient")
            .field("key", &self.key)
            .field("alg", &self.alg.as_str())
            .field("kid", &self.kid)
            .field("jku", &self.jku.as_ref().map(redact_url))
            .field("token_url", &self.token_url.as_ref().map(redact_url))
            .finish()
    }
}

impl SmartClient {
    /// Everything is checked here, so that a bad key or setting is an error at construction.
    pub(crate) fn new(
        base: &Url,
        private_key: &str,
        options: &SmartOptions,
    ) -> Result<SmartClient> {
        let kid = options.key_id.clone().ok_or_else(|| {
            Error::invalid(
                "SMART Backend Services needs a key id (kid): set the option smart_key_id",
            )
        })?;
        let key = SigningKey::load(private_key)?;
        let alg = key.check_algorithm(options.algorithm)?;
        Ok(SmartClient {
            key,
            alg,
            kid,
            jku: options.jku.clone(),
            base: base.clone(),
            token_url: options.token_url.clone(),
            rng: SystemRandom::new(),
        })
    }

    /// Where this client's first request goes: the configured token endpoint, else the FHIR base
    /// whose smart-configuration names it.
    pub(crate) fn discovery_root(&self) -> &Url {
        self.token_url.as_ref().unwrap_or(&self.base)
    }

    /// A fresh client assertion for a token request to `aud`: `iss` = `sub` = the client id,
    /// a new random `jti`, `exp` four minutes ahead.
    pub(crate) fn assertion(&self, client_id: &str, aud: &Url) -> Result<String> {
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| Error::new(ErrorKind::Auth, "no random bytes for the SMART jti"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header =
            serde_json::json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": "JWT" });
        if let Some(jku) = &self.jku {
            header["jku"] = jku.as_str().into();
        }
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": aud.as_str(),
            "exp": now + ASSERTION_LIFETIME_SECS,
            "iat": now,
            "jti": B64URL.encode(jti),
        });
        jws(
            &self.key,
            header.to_string().as_bytes(),
            claims.to_string().as_bytes(),
            &self.rng,
        )
    }

    /// The token endpoint: the configured one, or the `token_endpoint` of
    /// `[base]/.well-known/smart-configuration`, after checking that the server supports what
    /// this client does (client_credentials, private_key_jwt, the algorithm).
    pub(crate) async fn token_endpoint(&self, http: &reqwest::Client) -> Result<Url> {
        if let Some(url) = &self.token_url {
            return Ok(url.clone());
        }
        let mut url = self.base.clone();
        let path = format!(
            "{}/.well-known/smart-configuration",
            self.base.path().trim_end_matches('/')
        );
        url.set_path(&path);
        let context = "SMART discovery";
        let resp = http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| map_reqwest_error(e, context))?;
        let status = resp.status().as_u16();
        let body = read_body(resp, MAX_DISCOVERY_ANSWER, context)
            .await?
            .map_err(|e| map_reqwest_error(e, context))?;
        let auth_error = |msg: String| Error::new(ErrorKind::Auth, msg);
        let at = redact_url(&url);
        if !(200..300).contains(&status) {
            let mut e = auth_error(format!(
                "{context}: GET {at} answered HTTP {status}: the server publishes no SMART \
                 configuration; give the token endpoint with the option smart_token_url"
            ));
            e.status = Some(status);
            return Err(e);
        }
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| auth_error(format!("{context}: {at} is not JSON: {e}")))?;
        check_configuration(&doc, self.alg, self.base.scheme() == "https")
            .map_err(|m| auth_error(format!("{context}: {at} {m}")))
    }
}

/// Check a smart-configuration document for what a backend client needs; the token endpoint, or
/// what is missing. As for OpenID Connect discovery, the token endpoint must not carry
/// credentials nor fall back to http from an https server (the access token comes back there);
/// a token URL the caller configures is the caller's choice.
fn check_configuration(
    doc: &serde_json::Value,
    alg: Algorithm,
    base_is_https: bool,
) -> std::result::Result<Url, String> {
    let endpoint = doc
        .get("token_endpoint")
        .and_then(|v| v.as_str())
        .ok_or("has no token_endpoint")?;
    let endpoint = http_url(endpoint, "token_endpoint", ErrorKind::Auth)
        .map_err(|e| format!("names a bad {}", e.message()))?;
    if !endpoint.username().is_empty() || endpoint.password().is_some() {
        return Err("names a token_endpoint with credentials; refused".to_owned());
    }
    if base_is_https && endpoint.scheme() != "https" {
        return Err(
            "names an http:// token_endpoint for an https:// server; refused (give the token \
             endpoint with the option smart_token_url to use it anyway)"
                .to_owned(),
        );
    }
    for (field, wanted) in [
        ("grant_types_supported", "client_credentials"),
        ("token_endpoint_auth_methods_supported", "private_key_jwt"),
        (
            "token_endpoint_auth_signing_alg_values_supported",
            alg.as_str(),
        ),
    ] {
        let listed = doc
            .get(field)
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("has no {field} (it must list {wanted})"))?;
        if !listed.iter().any(|v| v.as_str() == Some(wanted)) {
            return Err(format!(
                "does not list {wanted} in {field}: the server does not support what SMART \
                 Backend Services with {} needs",
                alg.as_str()
            ));
        }
    }
    Ok(endpoint)
}

impl FhirServer {
    /// A server with SMART Backend Services auth: `private_key` is PEM text or a PEM file's path;
    /// the key id (required), algorithm, scope, token endpoint and `jku` come from the options.
    /// The key and settings are checked here; no request is sent yet.
    pub fn new_smart_backend(
        base_url: &str,
        client_id: &str,
        private_key: &str,
        options: &Options,
    ) -> Result<FhirServer> {
        let base = parse_base_url(base_url)?;
        let auth = smart_auth(&base, client_id, private_key, &options.smart)?;
        FhirServer::new(base_url, auth, options)
    }

    /// The scope granted with the current access token (OpenID Connect or SMART): the provider's
    /// `scope`, or the requested one when it named none (RFC 6749 §5.1), or "" when neither. A
    /// token is fetched first when none is cached.
    pub async fn granted_scope(&self) -> Result<String> {
        let t = &self.transport;
        t.auth.granted_scope(&t.client()?, &t.secrets).await
    }
}

/// The SMART auth mode for a FHIR server at `base`.
pub(crate) fn smart_auth(
    base: &Url,
    client_id: &str,
    private_key: &str,
    options: &SmartOptions,
) -> Result<Auth> {
    if client_id.trim().is_empty() {
        return Err(Error::invalid("SMART client id is empty"));
    }
    let client = SmartClient::new(base, private_key, options)?;
    Ok(Auth::Smart(Box::new(OidcAuth::smart(
        client_id,
        client,
        options.scope.clone(),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/data");

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}/{name}")).unwrap()
    }

    fn pem_der(name: &str) -> Vec<u8> {
        let (_, der) =
            <(rustls_pki_types::pem::SectionKind, Vec<u8>)>::from_pem_slice(data(name).as_bytes())
                .unwrap();
        der
    }

    #[test]
    fn rs384_signature_is_the_known_answer() {
        // The signing input and signature made by `openssl dgst -sha384 -sign` with the same key:
        // RSASSA-PKCS1-v1_5 is deterministic, so the bytes are pinned.
        let key = SigningKey::from_pem(data("smart-rsa2048.pkcs8.pem").as_bytes()).unwrap();
        let header = br#"{"alg":"RS384","kid":"kat-key","typ":"JWT"}"#;
        let claims = br#"{"aud":"https://ehr.example/token","exp":1700000300,"iat":1700000060,"iss":"kat-client","jti":"AAAAAAAAAAAAAAAAAAAAAA","sub":"kat-client"}"#;
        let jwt = jws(&key, header, claims, &SystemRandom::new()).unwrap();
        assert_eq!(
            jwt,
            "eyJhbGciOiJSUzM4NCIsImtpZCI6ImthdC1rZXkiLCJ0eXAiOiJKV1QifQ.\
             eyJhdWQiOiJodHRwczovL2Voci5leGFtcGxlL3Rva2VuIiwiZXhwIjoxNzAwMDAwMzAwLCJpYXQiOjE3MDAwMDAwNjAsImlzcyI6ImthdC1jbGllbnQiLCJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwic3ViIjoia2F0LWNsaWVudCJ9.\
             plXHoKcno2aXK3AZmy86q-ig5PxNzYfhmdJDfNSb1RYthLsundU2t4knSXlHRLkNvneREZXoyo38k3hIquonBg5y8L4iGWm8FfYHMIcMKW5hKelbqfVj6WuJ9M3nqCKH4tdKTP0wzCJ36vKtUaGjqJIMa1UCJncDIdDURiEl1ARMsOS-nddyj_nfwinnmMC3wwb5bdGUUOh0uFNCTtsaBUQkJCSDvHQ9NwmOMc-ZJV_AAX8qCO9bQV0yxJZ5kqNTzHUgxRUz3Cgu-Il7kHfyZp-tiaPzrFMQFRyQp1I6swU_G4P3LGE0Y1YT-kbEhZMbyKsRkVjlgP8vxiPl9bFRqQ"
        );
        // PKCS#1 of the same key signs the same bytes.
        let pkcs1 = SigningKey::from_pem(data("smart-rsa2048.pkcs1.pem").as_bytes()).unwrap();
        assert_eq!(
            jws(&pkcs1, header, claims, &SystemRandom::new()).unwrap(),
            jwt
        );
    }

    #[test]
    fn sec1_is_wrapped_exactly_as_openssl_does() {
        // The file starts with an EC PARAMETERS section, as `openssl ecparam -genkey` writes it.
        let PrivateKeyDer::Sec1(sec1) =
            PrivateKeyDer::from_pem_slice(data("smart-p384.sec1.pem").as_bytes()).unwrap()
        else {
            panic!("not SEC1");
        };
        assert_eq!(
            sec1_to_pkcs8(sec1.secret_sec1_der()).unwrap(),
            pem_der("smart-p384.pkcs8.pem")
        );
    }

    #[test]
    fn every_supported_form_loads_and_the_algorithm_follows_the_key() {
        for (file, alg) in [
            ("smart-rsa2048.pkcs8.pem", Algorithm::Rs384),
            ("smart-rsa2048.pkcs1.pem", Algorithm::Rs384),
            ("smart-p384.pkcs8.pem", Algorithm::Es384),
            ("smart-p384.sec1.pem", Algorithm::Es384),
        ] {
            let by_text = SigningKey::load(&data(file)).unwrap();
            let by_path = SigningKey::load(&format!("{DATA}/{file}")).unwrap();
            assert_eq!(by_text.algorithm(), alg, "{file}");
            assert_eq!(by_path.algorithm(), alg, "{file}");
        }
    }

    #[test]
    fn public_jwks_match_node_crypto() {
        for (file, jwk, alg) in [
            ("smart-rsa2048.pkcs1.pem", "smart-rsa2048.jwk.json", "RS384"),
            ("smart-p384.sec1.pem", "smart-p384.jwk.json", "ES384"),
        ] {
            let set: serde_json::Value =
                serde_json::from_str(&public_jwks(&data(file), "k1", None).unwrap()).unwrap();
            let got = &set["keys"][0];
            let want: serde_json::Value = serde_json::from_str(&data(jwk)).unwrap();
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(&got[k], v, "{file}: {k}");
            }
            assert_eq!(got["kid"], "k1");
            assert_eq!(got["alg"], alg);
            assert_eq!(got["use"], "sig");
            assert!(got.get("d").is_none(), "private part in {got}");
        }
    }

    #[test]
    fn wrong_keys_are_refused_clearly_at_load() {
        let cases = [
            ("smart-rsa1024.pkcs8.pem", "smaller than 2048 bits"),
            ("smart-p256.sec1.pem", "P-256"),
            ("smart-ed25519.pkcs8.pem", "EdDSA"),
            ("smart-rsa2048.pub.pem", "public key"),
        ];
        for (file, expected) in cases {
            let e = SigningKey::load(&data(file)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{file}");
            assert!(e.message().contains(expected), "{file}: {}", e.message());
        }
        let e = SigningKey::load("/nonexistent/key.pem").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(!e.message().contains("nonexistent"), "{}", e.message());
        let e = SigningKey::load(
            "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = SigningKey::load(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(e.message().contains("encrypted"), "{}", e.message());
    }

    #[test]
    fn the_algorithm_must_fit_the_key() {
        let rsa = SigningKey::load(&data("smart-rsa2048.pkcs8.pem")).unwrap();
        assert!(rsa.check_algorithm(Some(Algorithm::Es384)).is_err());
        assert_eq!(rsa.check_algorithm(None).unwrap(), Algorithm::Rs384);
        let e = public_jwks(&data("smart-p384.pkcs8.pem"), "k", Some("RS384")).unwrap_err();
        assert!(e.message().contains("EC P-384"), "{}", e.message());
        assert!(public_jwks(&data("smart-p384.pkcs8.pem"), " ", None).is_err());
        assert!(Algorithm::parse("HS256").is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SigningKey::load(&data("smart-rsa2048.pkcs8.pem")).unwrap();
        let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(match &key.pair {
            Pair::Rsa(k) => k.public(),
            Pair::Ec(_) => unreachable!(),
        });
        let dbg = format!("{key:?}");
        assert!(dbg.contains("RSA 2048-bit") && dbg.contains("***"), "{dbg}");
        assert!(!dbg.contains(&B64URL.encode(&c.n)[..20]));
    }

    #[test]
    fn discovery_names_what_is_missing() {
        let full = serde_json::json!({
            "token_endpoint": "https://ehr.example/token",
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        });
        assert_eq!(
            check_configuration(&full, Algorithm::Es384, true)
                .unwrap()
                .as_str(),
            "https://ehr.example/token"
        );
        for (field, value, expected) in [
            (
                "token_endpoint",
                serde_json::Value::Null,
                "no token_endpoint",
            ),
            ("token_endpoint", "ftp://x".into(), "http:// or https://"),
            (
                "grant_types_supported",
                serde_json::json!(["authorization_code"]),
                "client_credentials",
            ),
            (
                "token_endpoint_auth_methods_supported",
                serde_json::Value::Null,
                "has no token_endpoint_auth_methods_supported",
            ),
            (
                "token_endpoint_auth_signing_alg_values_supported",
                serde_json::json!(["RS384"]),
                "ES384",
            ),
        ] {
            let mut doc = full.clone();
            if value.is_null() {
                doc.as_object_mut().unwrap().remove(field);
            } else {
                doc[field] = value;
            }
            let e = check_configuration(&doc, Algorithm::Es384, true).unwrap_err();
            assert!(e.contains(expected), "{field}: {e}");
        }
        // No downgrade from an https server, no credentials.
        let mut doc = full.clone();
        doc["token_endpoint"] = "http://ehr.example/token".into();
        let e = check_configuration(&doc, Algorithm::Es384, true).unwrap_err();
        assert!(
            e.contains("http:// token_endpoint for an https:// server"),
            "{e}"
        );
        assert!(check_configuration(&doc, Algorithm::Es384, false).is_ok());
        doc["token_endpoint"] = "https://u:p@ehr.example/token".into();
        let e = check_configuration(&doc, Algorithm::Es384, false).unwrap_err();
        assert!(e.contains("credentials"), "{e}");
    }

    #[test]
    fn der_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let v = vec![7u8; len];
            let enc = der_write(0x04, &v);
            let (tag, value, rest) = der_read(&enc).unwrap();
            assert_eq!((tag, value.len(), rest.len()), (0x04, len, 0));
        }
        assert!(der_read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(der_read(&[0x30, 0x05, 1]).is_none());
    }
}
