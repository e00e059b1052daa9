//! The files in `--state-dir`: a CA and server certificate, the APNs .p8 key and the
//! FCM service-account file. Generated once and reused, so a restarted sandbox keeps
//! the credentials that clients (and their config) already point at.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

pub const CA_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const SERVER_CERT_FILE: &str = "server.pem";
pub const SERVER_KEY_FILE: &str = "server-key.pem";
pub const APNS_KEY_FILE: &str = "apns-key.p8";
pub const FCM_SERVICE_ACCOUNT_FILE: &str = "fcm-service-account.json";
pub const READY_FILE: &str = "ready.json";

/// Google's service-account key file, as the console hands it out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceAccountFile {
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: String,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub client_id: String,
    pub auth_uri: String,
    pub token_uri: String,
    pub auth_provider_x509_cert_url: String,
    pub client_x509_cert_url: String,
    pub universe_domain: String,
}

/// What the running sandbox needs from the state dir.
pub struct Credentials {
    pub ca_path: PathBuf,
    pub server_certs: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    pub apns_key_path: PathBuf,
    /// SPKI PEM that provider tokens are verified against.
    pub apns_public_key_pem: String,
    pub fcm_service_account_path: PathBuf,
    pub fcm_client_email: String,
    pub fcm_private_key_id: String,
    /// SPKI PEM of the service account's RSA key.
    pub fcm_public_key_pem: String,
    pub fcm_token_uri: String,
}

pub struct CredentialSpec<'a> {
    pub state_dir: &'a Path,
    pub fcm_project: &'a str,
    pub http_addr: SocketAddr,
    pub apns_public_key: Option<&'a Path>,
}

pub fn prepare(spec: &CredentialSpec<'_>) -> Result<Credentials, SandboxError> {
    let dir = spec.state_dir;
    fs::create_dir_all(dir).map_err(|source| SandboxError::Io {
        what: "creating --state-dir",
        path: dir.to_path_buf(),
        source,
    })?;
    let (server_certs, server_key) = tls_files(dir)?;
    let apns_key_path = dir.join(APNS_KEY_FILE);
    let apns_own_public = apns_key(&apns_key_path)?;
    let apns_public_key_pem = match spec.apns_public_key {
        Some(path) => public_key_from_file(path)?,
        None => apns_own_public,
    };
    let fcm_service_account_path = dir.join(FCM_SERVICE_ACCOUNT_FILE);
    let token_uri = format!("http://{}/token", spec.http_addr);
    let (sa, fcm_public_key_pem) = service_account(&fcm_service_account_path, spec.fcm_project, &token_uri)?;
    Ok(Credentials {
        ca_path: dir.join(CA_FILE),
        server_certs,
        server_key,
        apns_key_path,
        apns_public_key_pem,
        fcm_service_account_path,
        fcm_client_email: sa.client_email,
        fcm_private_key_id: sa.private_key_id,
        fcm_public_key_pem,
        fcm_token_uri: sa.token_uri,
    })
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError {
    let path = path.to_path_buf();
    move |source| SandboxError::Io { what, path, source }
}

fn gen_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> SandboxError {
    move |source| SandboxError::Generate { what, source }
}

fn bad(what: &'static str, path: &Path, reason: impl ToString) -> SandboxError {
    SandboxError::BadCredential { what, path: path.to_path_buf(), reason: reason.to_string() }
}

/// Writes through a temporary file and a rename, so a reader (a launcher polling
/// for ready.json, a client loading the CA) never sees half a file.
pub fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> Result<(), SandboxError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).map_err(io_err("writing", &tmp))?;
    file.write_all(contents).map_err(io_err("writing", &tmp))?;
    file.sync_all().map_err(io_err("syncing", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("renaming into place", path))
}

fn read(path: &Path) -> Result<String, SandboxError> {
    fs::read_to_string(path).map_err(io_err("reading", path))
}

/// CA + server certificate for 127.0.0.1 and localhost. If any of the files is
/// missing, all are regenerated (the server cert must chain to the CA on disk).
fn tls_files(dir: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SandboxError> {
    let ca = dir.join(CA_FILE);
    let cert = dir.join(SERVER_CERT_FILE);
    let key = dir.join(SERVER_KEY_FILE);
    if !(ca.exists() && cert.exists() && key.exists()) {
        generate_tls_files(dir)?;
    }
    let certs = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("server certificate", &cert, e))?;
    if certs.is_empty() {
        return Err(bad("server certificate", &cert, "no certificate in file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(&key).map_err(|e| bad("server key", &key, e))?;
    Ok((certs, key_der))
}

fn generate_tls_files(dir: &Path) -> Result<(), SandboxError> {
    let ca_key = KeyPair::generate().map_err(gen_err("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err("CA"))?;
    ca_params.distinguished_name.push(DnType::CommonName, "pushbatch push-sandbox CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(gen_err("CA"))?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(gen_err("server key"))?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(gen_err("server certificate"))?;
    params.distinguished_name.push(DnType::CommonName, "push-sandbox");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params.signed_by(&server_key, &issuer).map_err(gen_err("server certificate"))?;

    write_atomic(&dir.join(CA_KEY_FILE), ca_key_pem.as_bytes(), true)?;
    write_atomic(&dir.join(SERVER_KEY_FILE), server_key.serialize_pem().as_bytes(), true)?;
    // Leaf then CA: clients that only trust ca.pem can build the chain either way.
    let chain = format!("{}{}", server_cert.pem(), ca_cert.pem());
    write_atomic(&dir.join(SERVER_CERT_FILE), chain.as_bytes(), false)?;
    write_atomic(&dir.join(CA_FILE), ca_cert.pem().as_bytes(), false)
}

/// The APNs signing key: PKCS#8 PEM of a P-256 key, like Apple's AuthKey_XXXX.p8.
/// Returns its public key (SPKI PEM).
fn apns_key(path: &Path) -> Result<String, SandboxError> {
    if path.exists() {
        let key = KeyPair::from_pem(&read(path)?).map_err(|e| bad("APNs key", path, e))?;
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(bad("APNs key", path, "not a P-256 (ES256) key"));
        }
        return Ok(key.public_key_pem());
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err("APNs key"))?;
    write_atomic(path, key.serialize_pem().as_bytes(), true)?;
    Ok(key.public_key_pem())
}

/// `--apns-public-key`: a SPKI public key PEM, or a private key (.p8) to take it from.
fn public_key_from_file(path: &Path) -> Result<String, SandboxError> {
    let text = read(path)?;
    if text.contains("-----BEGIN PUBLIC KEY-----") {
        jsonwebtoken::DecodingKey::from_ec_pem(text.as_bytes()).map_err(|e| bad("--apns-public-key", path, e))?;
        return Ok(text);
    }
    let key = KeyPair::from_pem(&text).map_err(|e| bad("--apns-public-key", path, e))?;
    if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
        return Err(bad("--apns-public-key", path, "not a P-256 (ES256) key"));
    }
    Ok(key.public_key_pem())
}

/// Loads or creates the service-account file. An existing key is kept; the fields
/// that depend on this run (project, token_uri with the http port) are rewritten.
fn service_account(path: &Path, project: &str, token_uri: &str) -> Result<(ServiceAccountFile, String), SandboxError> {
    let (private_key, private_key_id, public_pem) = if path.exists() {
        let existing: ServiceAccountFile =
            serde_json::from_str(&read(path)?).map_err(|e| bad("service account", path, e))?;
        let key = KeyPair::from_pem(&existing.private_key).map_err(|e| bad("service account private_key", path, e))?;
        if key.algorithm() != &PKCS_RSA_SHA256 {
            return Err(bad("service account", path, "private_key is not an RSA key"));
        }
        (existing.private_key, existing.private_key_id, key.public_key_pem())
    } else {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(gen_err("FCM RSA key"))?;
        let id: [u8; 20] = rand::random();
        let id = id.iter().map(|b| format!("{b:02x}")).collect::<String>();
        (key.serialize_pem(), id, key.public_key_pem())
    };
    let client_email = format!("pushbatch@{project}.iam.gserviceaccount.com");
    let sa = ServiceAccountFile {
        kind: "service_account".into(),
        project_id: project.into(),
        private_key_id,
        private_key,
        client_email: client_email.clone(),
        client_id: "1".into(),
        auth_uri: "https://accounts.google.com/o/oauth2/auth".into(),
        token_uri: token_uri.into(),
        auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs".into(),
        client_x509_cert_url: format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/pushbatch%40{project}.iam.gserviceaccount.com"
        ),
        universe_domain: "googleapis.com".into(),
    };
    let json =
        serde_json::to_vec_pretty(&sa).map_err(|source| SandboxError::Json { path: path.to_path_buf(), source })?;
    write_atomic(path, &json, true)?;
    Ok((sa, public_pem))
}

/// The JSON of `ready.json`, written last so launchers can wait for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadyFile {
    pub tls: String,
    pub http: String,
    pub ca: PathBuf,
    pub apns_key: PathBuf,
    pub apns_key_id: String,
    pub apns_team_id: String,
    pub fcm_service_account: PathBuf,
    pub fcm_project: String,
    pub pid: u32,
}

pub fn write_ready(dir: &Path, ready: &ReadyFile) -> Result<(), SandboxError> {
    let path = dir.join(READY_FILE);
    let json = serde_json::to_vec_pretty(ready).map_err(|source| SandboxError::Json { path: path.clone(), source })?;
    write_atomic(&path, &json, false)
}

/// A stale ready.json from a previous run would let a launcher connect too early.
pub fn remove_ready(dir: &Path) -> Result<(), SandboxError> {
    let path = dir.join(READY_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SandboxError::Io { what: "removing stale ready.json", path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(dir: &'a Path, port: u16) -> CredentialSpec<'a> {
        CredentialSpec {
            state_dir: dir,
            fcm_project: "proj-x",
            http_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            apns_public_key: None,
        }
    }

    #[test]
    fn generates_then_reuses() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("state");
        let first = prepare(&spec(&dir, 1111)).expect("generate");
        let ca1 = fs::read(dir.join(CA_FILE)).expect("ca");
        let p8 = fs::read_to_string(dir.join(APNS_KEY_FILE)).expect("p8");
        assert!(p8.starts_with("-----BEGIN PRIVATE KEY-----"), "{p8}");
        let sa: ServiceAccountFile =
            serde_json::from_slice(&fs::read(dir.join(FCM_SERVICE_ACCOUNT_FILE)).expect("sa")).expect("sa json");
        assert_eq!(sa.kind, "service_account");
        assert_eq!(sa.project_id, "proj-x");
        assert_eq!(sa.client_email, "pushbatch@proj-x.iam.gserviceaccount.com");
        assert_eq!(sa.token_uri, "http://127.0.0.1:1111/token");
        assert!(sa.private_key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(first.server_certs.len(), 2);

        // Restart on another port: same keys, new token_uri.
        let second = prepare(&spec(&dir, 2222)).expect("reuse");
        assert_eq!(fs::read(dir.join(CA_FILE)).expect("ca"), ca1);
        assert_eq!(second.apns_public_key_pem, first.apns_public_key_pem);
        assert_eq!(second.fcm_public_key_pem, first.fcm_public_key_pem);
        assert_eq!(second.fcm_private_key_id, first.fcm_private_key_id);
        assert_eq!(second.fcm_token_uri, "http://127.0.0.1:2222/token");
    }

    #[test]
    fn apns_public_key_override_accepts_p8_and_spki() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let p8 = tmp.path().join("other.p8");
        fs::write(&p8, other.serialize_pem()).expect("write");
        let spki = tmp.path().join("other.pub");
        fs::write(&spki, other.public_key_pem()).expect("write");
        assert_eq!(public_key_from_file(&p8).expect("p8"), other.public_key_pem());
        assert_eq!(public_key_from_file(&spki).expect("spki"), other.public_key_pem());
    }
}
