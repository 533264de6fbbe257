//! rustls client configurations for each [`SslMode`].
//!
//! The ring provider is passed explicitly (never the process default) so that Sluice works no
//! matter which other crates in the process install a default provider.
//!
//! - Allow / Prefer / Require: encrypt but accept any certificate, as libpq and Npgsql do. The
//!   handshake signatures are still checked, so the peer must hold the key of the certificate it
//!   shows; what is not checked is who issued that certificate.
//! - VerifyCa: the chain must lead to a trusted root (the configured CA file, or the system
//!   roots), but the name in the certificate is not compared with the host.
//! - VerifyFull: chain and host name.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

use crate::model::pg_endpoint::SslMode;

/// What a mode means for TLS, in words, for logs and messages.
pub fn tls_description(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "no TLS",
        SslMode::Allow => "plain, falling back to TLS without certificate checks",
        SslMode::Prefer => "TLS without certificate checks when the server offers it, else plain",
        SslMode::Require => "TLS required, certificate not checked",
        SslMode::VerifyCa => "TLS required, certificate chain checked (host name not checked)",
        SslMode::VerifyFull => "TLS required, certificate chain and host name checked",
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration for `mode`; `None` for [`SslMode::Disable`]. `root_cert` (a PEM
/// file) replaces the system roots for the verifying modes and is ignored by the others.
pub fn client_config(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> anyhow::Result<Option<ClientConfig>> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Allow | SslMode::Prefer | SslMode::Require => Arc::new(NoCertificateCheck {
            provider: provider.clone(),
        }),
        SslMode::VerifyCa => Arc::new(ChainOnly {
            inner: webpki_verifier(root_cert, provider.clone())?,
        }),
        SslMode::VerifyFull => webpki_verifier(root_cert, provider.clone())?,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(config))
}

/// The roots to trust: only the CA file when given (a private CA should not be diluted by the
/// public ones), else the system store.
fn roots(root_cert: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let file = File::open(path).map_err(|e| {
                anyhow::anyhow!("cannot read root certificate file {}: {e}", path.display())
            })?;
            let mut reader = BufReader::new(file);
            let mut count = 0usize;
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| {
                    anyhow::anyhow!("root certificate file {}: {e}", path.display())
                })?;
                store.add(cert).map_err(|e| {
                    anyhow::anyhow!(
                        "root certificate file {}: unusable certificate: {e}",
                        path.display()
                    )
                })?;
                count += 1;
            }
            if count == 0 {
                anyhow::bail!(
                    "root certificate file {} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                );
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!("while loading system root certificates: {e}");
            }
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                anyhow::bail!(
                    "no trusted root certificates: the system store is empty or unreadable; \
                     install ca-certificates or give the server's CA file \
                     (rootCertificate / TrustStore / sslrootcert)"
                );
            }
        }
    }
    Ok(store)
}

fn webpki_verifier(
    root_cert: Option<&Path>,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<WebPkiServerVerifier>> {
    let roots = roots(root_cert)?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up certificate checks: {e}"))
}

/// Require / Prefer / Allow: any certificate, but the handshake must be signed by its key.
#[derive(Debug)]
struct NoCertificateCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// VerifyCa: the full webpki check, except that a name mismatch is accepted.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // webpki checks the chain before the name, so reaching a name error means the chain
            // is good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_build_for_every_mode() -> anyhow::Result<()> {
        assert!(client_config(SslMode::Disable, None)?.is_none());
        for mode in [SslMode::Allow, SslMode::Prefer, SslMode::Require] {
            assert!(client_config(mode, None)?.is_some());
        }
        let missing = Path::new("/nonexistent/sluice-ca.pem");
        let e = client_config(SslMode::VerifyFull, Some(missing))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("cannot read root certificate file"), "{e}");
        Ok(())
    }
}
