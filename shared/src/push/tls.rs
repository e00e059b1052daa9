//! TLS for the push clients: Mozilla's roots, plus one extra CA when the
//! endpoint is the local sandbox.

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the extra CA file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the extra CA file {path} holds no usable certificate: {message}")]
    Bad { path: String, message: String },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client config speaking HTTP/2 only (ALPN `h2`), as APNs requires.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let show = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TlsError::Read { path: show.clone(), source })?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| TlsError::Bad { path: show.clone(), message: e.to_string() })?;
            roots.add(cert).map_err(|e| TlsError::Bad { path: show.clone(), message: e.to_string() })?;
            added += 1;
        }
        if added == 0 {
            return Err(TlsError::Bad { path: show, message: "no PEM certificate found".into() });
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
