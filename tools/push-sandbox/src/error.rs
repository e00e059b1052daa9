use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the sandbox from starting.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} is not a loopback address: the sandbox only listens on 127.0.0.0/8 or ::1")]
    NotLoopback { addr: SocketAddr },
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting { name: &'static str, reason: String },
    #[error("generating {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("{what} ({path}) is not usable: {reason}")]
    BadCredential { what: &'static str, path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("writing {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}
