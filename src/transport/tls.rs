//! The TLS configuration of a handle: one rustls `ClientConfig`, built once when the handle is
//! made and shared by every connection of every calling thread (both HTTP stacks of
//! [`super::Transport`]). Roots: the system's and Mozilla's (webpki-roots) unless turned off,
//! plus the caller's CA files; an optional client certificate; ALPN h2 and http/1.1.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::read_file;
use crate::config::Options;
use crate::error::{Error, ErrorKind, Result};

/// The handle's TLS configuration, or a `Tls` / `Io` error naming the file at fault.
pub(crate) fn client_config(options: &Options) -> Result<Arc<ClientConfig>> {
    // The process's default provider when a Rust caller installed one (aws-lc-rs, FIPS), else
    // ring, as reqwest chooses.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut roots = RootCertStore::empty();
    if options.use_system_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        add_native_roots(&mut roots)?;
    }
    for path in &options.ca_files {
        let pem = read_file(path, "CA file")?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Tls,
                    format!("CA file {} is not PEM certificates: {e}", path.display()),
                )
            })?;
        if certs.is_empty() {
            return Err(Error::new(
                ErrorKind::Tls,
                format!("CA file {} holds no PEM certificate", path.display()),
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                Error::new(
                    ErrorKind::Tls,
                    format!(
                        "CA file {} holds a certificate that cannot be trusted: {e}",
                        path.display()
                    ),
                )
            })?;
        }
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Tls, format!("cannot configure TLS: {e}")))?;
    let builder = match options.insecure_skip_verify {
        true => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate)),
        false => builder.with_root_certificates(roots),
    };
    let mut config = match &options.client_cert {
        Some((cert, key)) => {
            let unusable = |e: &dyn std::fmt::Display| {
                Error::new(
                    ErrorKind::Tls,
                    format!(
                        "client certificate {} / key {} are not a usable PEM pair: {e}",
                        cert.display(),
                        key.display()
                    ),
                )
            };
            // Read as reqwest's `Identity::from_pem` reads the two files joined: every
            // certificate (the chain, in order), the last private key (PKCS#8, PKCS#1 or SEC1);
            // any other PEM section is refused.
            let mut pem = read_file(cert, "client certificate")?;
            pem.push(b'\n');
            pem.extend_from_slice(&read_file(key, "client key")?);
            let (chain, key) = identity(&pem).map_err(|e| unusable(&e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| unusable(&e))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates and the private key of a client identity in PEM.
fn identity(
    pem: &[u8],
) -> std::result::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let (mut chain, mut keys) = (Vec::new(), Vec::new());
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = section.map_err(|e| format!("not PEM: {e}"))?;
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey => keys.push(PrivateKeyDer::Pkcs8(der.into())),
            SectionKind::RsaPrivateKey => keys.push(PrivateKeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => keys.push(PrivateKeyDer::Sec1(der.into())),
            other => return Err(format!("unexpected PEM section {other:?}")),
        }
    }
    match (keys.pop(), chain.is_empty()) {
        (Some(key), false) => Ok((chain, key)),
        _ => Err("private key or certificate not found".into()),
    }
}

/// The system's CA certificates that rustls accepts (unusable ones skipped; none usable among
/// some is an error).
fn add_native_roots(roots: &mut RootCertStore) -> Result<()> {
    let loaded = rustls_native_certs::load_native_certs();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 && ignored > 0 {
        return Err(Error::new(
            ErrorKind::Tls,
            "cannot build the HTTP client: zero valid certificates found in native root store",
        ));
    }
    Ok(())
}

/// `insecure_skip_verify`: any server certificate is accepted, for any name, with any
/// signature scheme the server offers (as reqwest's "invalid certificates" mode).
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        use SignatureScheme as S;
        vec![
            S::RSA_PKCS1_SHA1,
            S::ECDSA_SHA1_Legacy,
            S::RSA_PKCS1_SHA256,
            S::ECDSA_NISTP256_SHA256,
            S::RSA_PKCS1_SHA384,
            S::ECDSA_NISTP384_SHA384,
            S::RSA_PKCS1_SHA512,
            S::ECDSA_NISTP521_SHA512,
            S::RSA_PSS_SHA256,
            S::RSA_PSS_SHA384,
            S::RSA_PSS_SHA512,
            S::ED25519,
            S::ED448,
        ]
    }
}
