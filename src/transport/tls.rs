//! The TLS configuration of a handle: one rustls `ClientConfig`, built once when the handle is
//! made and shared by every connection of every calling thread (both HTTP stacks of
//! [`super::Transport`]). Roots: the system's and Mozilla's (webpki-roots) unless turned off,
//! plus the caller's CA files; an optional client certificate; ALPN h2 and http/1.1.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::read_file;
use crate::config::Options;
use crate::error::{Error, ErrorKind, Result};

/// The handle's TLS configuration, or a `Tls` / `Io` error naming the file at fault.
pub(crate) fn client_config(options: &Options) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
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
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider))),
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
            let chain = CertificateDer::pem_slice_iter(&read_file(cert, "client certificate")?)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| unusable(&e))?;
            if chain.is_empty() {
                return Err(unusable(&"the certificate file holds no PEM certificate"));
            }
            let key = PrivateKeyDer::from_pem_slice(&read_file(key, "client key")?)
                .map_err(|e| unusable(&e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| unusable(&e))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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

/// `insecure_skip_verify`: any server certificate is accepted, for any name. The handshake's
/// signatures are still checked with the provider's algorithms (the peer holds the key of the
/// certificate it sent), as curl's `--insecure` does.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
