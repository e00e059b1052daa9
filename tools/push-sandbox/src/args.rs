//! Command-line flags. Every flag can also come from `SANDBOX_<FLAG_IN_CAPS>`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::error::SandboxError;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "push-sandbox",
    version,
    about = "Local APNs provider API + FCM HTTP v1 + Google OAuth2 token endpoint, for tests and benchmarks"
)]
pub struct Args {
    /// Directory for generated credentials and ready.json (created if missing; reused on restart).
    #[arg(long, env = "SANDBOX_STATE_DIR")]
    pub state_dir: PathBuf,
    /// TLS listener (ALPN h2 and http/1.1). Port 0 picks a free port (see ready.json).
    #[arg(long, env = "SANDBOX_TLS_LISTEN")]
    pub tls_listen: SocketAddr,
    /// Plain listener (HTTP/1.1 and h2c with prior knowledge). Port 0 picks a free port.
    #[arg(long, env = "SANDBOX_HTTP_LISTEN")]
    pub http_listen: SocketAddr,

    /// Key ID expected in the `kid` header of APNs provider tokens.
    #[arg(long, env = "SANDBOX_APNS_KEY_ID", default_value = "PUSHBATCH1")]
    pub apns_key_id: String,
    /// Team ID expected in the `iss` claim of APNs provider tokens.
    #[arg(long, env = "SANDBOX_APNS_TEAM_ID", default_value = "PUSHBATCHT")]
    pub apns_team_id: String,
    /// Verify APNs provider tokens with this key (public key PEM or a .p8) instead of the generated one.
    #[arg(long, env = "SANDBOX_APNS_PUBLIC_KEY")]
    pub apns_public_key: Option<PathBuf>,
    /// The only FCM project that messages:send accepts.
    #[arg(long, env = "SANDBOX_FCM_PROJECT", default_value = "pushbatch-local")]
    pub fcm_project: String,

    /// Tokens starting with this are dead (empty disables the prefix rule).
    #[arg(long, env = "SANDBOX_DEAD_PREFIX", default_value = "dead")]
    pub dead_prefix: String,
    /// Share of tokens that are dead, by FNV-1a 64 hash (0.0 to 1.0).
    #[arg(long, env = "SANDBOX_DEAD_FRACTION", default_value_t = 0.0)]
    pub dead_fraction: f64,
    /// File with one dead token per line.
    #[arg(long, env = "SANDBOX_DEAD_TOKENS_FILE")]
    pub dead_tokens_file: Option<PathBuf>,

    /// Fixed latency added to every push response, in ms.
    #[arg(long, env = "SANDBOX_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Uniform random extra latency 0..=jitter, in ms.
    #[arg(long, env = "SANDBOX_JITTER_MS", default_value_t = 0)]
    pub jitter_ms: u64,
    /// Extra latency of a spike, in ms.
    #[arg(long, env = "SANDBOX_SPIKE_MS", default_value_t = 0)]
    pub spike_ms: u64,
    /// Probability that a response gets a spike (0.0 to 1.0).
    #[arg(long, env = "SANDBOX_SPIKE_RATE", default_value_t = 0.0)]
    pub spike_rate: f64,

    /// Probability of an injected 500.
    #[arg(long = "rate-500", env = "SANDBOX_RATE_500", default_value_t = 0.0)]
    pub rate_500: f64,
    /// Probability of an injected 503.
    #[arg(long = "rate-503", env = "SANDBOX_RATE_503", default_value_t = 0.0)]
    pub rate_503: f64,
    /// Probability of an injected 429 (with retry-after).
    #[arg(long = "rate-429", env = "SANDBOX_RATE_429", default_value_t = 0.0)]
    pub rate_429: f64,
    /// Value of the retry-after header on injected 429s (and 503s).
    #[arg(long, env = "SANDBOX_RETRY_AFTER_SECS", default_value_t = 1)]
    pub retry_after_secs: u64,

    /// Gracefully close (GOAWAY) a connection after this many streams; 0 never.
    #[arg(long, env = "SANDBOX_GOAWAY_AFTER", default_value_t = 0)]
    pub goaway_after: u64,
    /// SETTINGS_MAX_CONCURRENT_STREAMS announced on HTTP/2 connections.
    #[arg(long, env = "SANDBOX_MAX_STREAMS", default_value_t = 1000)]
    pub max_streams: u32,
    /// Count 200 responses per token (reported under "deliveries" in /stats).
    #[arg(long, env = "SANDBOX_TRACK_TOKENS")]
    pub track_tokens: bool,
    /// Seed for the fault/latency random generator (per worker thread: seed + thread index).
    #[arg(long, env = "SANDBOX_SEED")]
    pub seed: Option<u64>,
}

impl Args {
    /// Checks what clap cannot: ranges and the loopback-only rule.
    pub fn validate(&self) -> Result<(), SandboxError> {
        for addr in [self.tls_listen, self.http_listen] {
            if !addr.ip().is_loopback() {
                return Err(SandboxError::NotLoopback { addr });
            }
        }
        for (name, value) in [
            ("dead-fraction", self.dead_fraction),
            ("spike-rate", self.spike_rate),
            ("rate-500", self.rate_500),
            ("rate-503", self.rate_503),
            ("rate-429", self.rate_429),
        ] {
            check_probability(name, value)?;
        }
        if self.max_streams == 0 {
            return Err(SandboxError::InvalidSetting { name: "max-streams", reason: "must be at least 1".into() });
        }
        for (name, value) in [
            ("apns-key-id", &self.apns_key_id),
            ("apns-team-id", &self.apns_team_id),
            ("fcm-project", &self.fcm_project),
        ] {
            if value.is_empty() {
                return Err(SandboxError::InvalidSetting { name, reason: "must not be empty".into() });
            }
        }
        Ok(())
    }
}

pub(crate) fn check_probability(name: &'static str, value: f64) -> Result<(), SandboxError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(SandboxError::InvalidSetting { name, reason: format!("{value} is not between 0.0 and 1.0") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Args {
        let mut argv = vec![
            "push-sandbox",
            "--state-dir",
            "/tmp/x",
            "--tls-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("parse")
    }

    #[test]
    fn defaults_match_the_brief() {
        let a = parse(&[]);
        assert_eq!(a.apns_key_id, "PUSHBATCH1");
        assert_eq!(a.apns_team_id, "PUSHBATCHT");
        assert_eq!(a.fcm_project, "pushbatch-local");
        assert_eq!(a.dead_prefix, "dead");
        assert_eq!(a.max_streams, 1000);
        assert_eq!(a.retry_after_secs, 1);
        assert!(!a.track_tokens);
        a.validate().expect("defaults are valid");
    }

    #[test]
    fn rejects_out_of_range_and_non_loopback() {
        assert!(parse(&["--rate-429", "1.5"]).validate().is_err());
        assert!(parse(&["--dead-fraction=-0.1"]).validate().is_err());
        assert!(parse(&["--max-streams", "0"]).validate().is_err());
        let mut a = parse(&["--rate-429", "1.0", "--track-tokens"]);
        assert!(a.track_tokens);
        a.validate().expect("valid");
        a.http_listen = "0.0.0.0:80".parse().expect("addr");
        assert!(matches!(a.validate(), Err(SandboxError::NotLoopback { .. })));
    }
}
