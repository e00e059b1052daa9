//! Prints an APNs provider token (ES256 JWT) signed with a running sandbox's key,
//! for curl / h2load by hand: `cargo run -p push-sandbox --example apns_jwt -- STATE_DIR/ready.json`.

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use push_sandbox::ReadyFile;

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: apns_jwt STATE_DIR/ready.json")?;
    let ready: ReadyFile = serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {path}"))?)
        .context("parsing ready.json")?;
    let pem = std::fs::read(&ready.apns_key).with_context(|| format!("reading {}", ready.apns_key.display()))?;
    let key = EncodingKey::from_ec_pem(&pem).context("APNs key is not an EC PKCS#8 PEM")?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(ready.apns_key_id.clone());
    let iat =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?.as_secs();
    let claims = Claims { iss: &ready.apns_team_id, iat };
    println!("{}", jsonwebtoken::encode(&header, &claims, &key)?);
    Ok(())
}
