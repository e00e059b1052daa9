//! approval's settings (Contract 4), read once at cold start.

use std::collections::BTreeMap;

use shared::config::{ConfigError, EnvReader, SecretSource};

/// Who may submit requests: exact addresses, or whole domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requesters {
    pub emails: Vec<String>,
    pub domains: Vec<String>,
}

impl Requesters {
    /// `ann@example.com, @example.org, example.net`: an entry with `@` in
    /// the middle is an address, anything else a domain.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for item in list.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()) {
            if let Some(domain) = item.strip_prefix('@') {
                out.domains.push(domain.to_owned());
            } else if item.contains('@') {
                if !is_email(&item) {
                    return Err(format!("{item:?} is not an email address"));
                }
                out.emails.push(item);
            } else {
                out.domains.push(item);
            }
        }
        if out.emails.is_empty() && out.domains.is_empty() {
            return Err("no requester is allowed".into());
        }
        Ok(out)
    }

    pub fn allows(&self, email: &str) -> bool {
        let email = email.to_ascii_lowercase();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        self.emails.contains(&email) || self.domains.iter().any(|d| d == domain)
    }
}

/// A deliberately plain check: one `@`, something on each side, a dot in
/// the domain, no spaces or angle brackets (which would break a header).
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.len() <= 254
        && s.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',' | ';' | '\\'))
}

/// Whether an approver must also be signed in to act on a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApproverSignIn {
    /// The signed link alone is enough (the product's design: approvers act
    /// from their email, wherever they read it).
    #[default]
    Optional,
    /// The POST of a link also needs the approver's own authenticated
    /// identity, equal to the approver the link was sent to.
    Required,
}

impl ApproverSignIn {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bucket: String,
    pub requests_table: String,
    pub jobs_table: String,
    /// Lowercased.
    pub approvers: Vec<String>,
    pub requesters: Requesters,
    /// Approver (lowercased) → the user ids their test sends go to.
    pub approver_users: BTreeMap<String, Vec<String>>,
    /// Absolute base of every link; `{host}` is replaced by the request's
    /// Host header (local stacks only, where the port is not known ahead).
    pub public_base_url: String,
    pub mail_from: String,
    pub link_key: SecretSource,
    pub link_ttl_secs: i64,
    pub approver_sign_in: ApproverSignIn,
    /// send-batch's name or ARN: the Stop button invokes it.
    pub send_batch_function: String,
    pub test_sends_per_approver: u32,
    pub test_min_interval_secs: i64,
    pub max_upload_bytes: usize,
    /// Only used to render the APNs preview and size check.
    pub apns_topic: String,
}

impl Settings {
    pub fn from_env(env: &mut EnvReader<'_>) -> Self {
        let approvers = Self::approvers(env);
        let requesters = match Requesters::parse(
            &env.required_string("REQUESTERS", "who may request: emails or domains, comma-separated"),
        ) {
            Ok(r) => r,
            Err(e) if env.optional_string("REQUESTERS").is_some() => {
                env.problem(format!("REQUESTERS: {e}"));
                Requesters::default()
            }
            Err(_) => Requesters::default(),
        };
        let approver_users = Self::approver_users(env, &approvers);
        let public_base_url = env.required_string("PUBLIC_BASE_URL", "the absolute URL links in emails start with");
        let absolute = public_base_url.starts_with("https://") || public_base_url.starts_with("http://");
        if !public_base_url.is_empty() && !absolute {
            env.problem(format!("PUBLIC_BASE_URL={public_base_url:?} must start with https:// (or http:// locally)"));
        }
        let mail_from = env.required_string("MAIL_FROM", "the sender address of approval emails (verified in SES)");
        if !mail_from.is_empty() && !is_email(&mail_from) {
            env.problem(format!("MAIL_FROM={mail_from:?} is not an email address"));
        }
        let link_key = SecretSource::from_env(env, "LINK_KEY", "the link-signing key (at least 32 bytes)")
            .unwrap_or(SecretSource::File(Default::default()));
        let sign_in = env.string_or("APPROVER_SIGN_IN", "optional");
        let approver_sign_in = ApproverSignIn::parse(&sign_in).unwrap_or_else(|| {
            env.problem(format!("APPROVER_SIGN_IN={sign_in:?} must be optional or required"));
            ApproverSignIn::default()
        });
        Self {
            bucket: env.required_string(shared::schema::BUCKET_ENV, "the bucket (requests/ and batches/)"),
            requests_table: env.required_string(shared::schema::REQUESTS.env, "the requests table"),
            jobs_table: env.required_string(shared::schema::JOBS.env, "the jobs table (for the status page)"),
            approvers,
            requesters,
            approver_users,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            mail_from,
            link_key,
            link_ttl_secs: env.bounded_or("LINK_TTL_HOURS", 24i64, 1..=720) * 3600,
            approver_sign_in,
            send_batch_function: env.string_or("SEND_BATCH_FUNCTION", "send-batch"),
            test_sends_per_approver: env.bounded_or("TEST_SENDS_PER_APPROVER", 3, 1..=100),
            test_min_interval_secs: env.bounded_or("TEST_MIN_INTERVAL_SECONDS", 60, 0..=86_400),
            // The uploaded file lives in the request's DynamoDB item (400 KB).
            max_upload_bytes: env.bounded_or("MAX_UPLOAD_KB", 256usize, 1..=350) * 1024,
            apns_topic: env.string_or("APNS_TOPIC", "com.example.app"),
        }
    }

    fn approvers(env: &mut EnvReader<'_>) -> Vec<String> {
        let raw = env.required_string("APPROVERS", "the approvers' emails, comma-separated");
        let list: Vec<String> =
            raw.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
        for bad in list.iter().filter(|a| !is_email(a)) {
            env.problem(format!("APPROVERS: {bad:?} is not an email address"));
        }
        list
    }

    fn approver_users(env: &mut EnvReader<'_>, approvers: &[String]) -> BTreeMap<String, Vec<String>> {
        let Some(raw) = env.optional_string("APPROVER_USERS") else { return BTreeMap::new() };
        match serde_json::from_str::<BTreeMap<String, Vec<String>>>(&raw) {
            Ok(map) => {
                let map: BTreeMap<String, Vec<String>> =
                    map.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
                for who in map.keys().filter(|k| !approvers.contains(k)) {
                    env.problem(format!("APPROVER_USERS names {who:?}, who is not in APPROVERS"));
                }
                map
            }
            Err(e) => {
                env.problem(format!(
                    "APPROVER_USERS is not a JSON object of email → list of user ids ({e}); e.g. {{\"ann@example.com\": [\"u-1\"]}}"
                ));
                BTreeMap::new()
            }
        }
    }

    pub fn load() -> Result<Self, ConfigError> {
        let mut env = EnvReader::from_process();
        let settings = Self::from_env(&mut env);
        env.finish().map(|_| settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut env = EnvReader::from_map(&map);
        let s = Settings::from_env(&mut env);
        env.finish().map(|_| s)
    }

    const GOOD: &[(&str, &str)] = &[
        ("BUCKET", "b"),
        ("REQUESTS_TABLE", "r"),
        ("JOBS_TABLE", "j"),
        ("APPROVERS", "Ann@Example.com, bob@example.com"),
        ("REQUESTERS", "@example.com, mia@other.org"),
        ("APPROVER_USERS", r#"{"ann@example.com": ["u-1", "u-2"]}"#),
        ("PUBLIC_BASE_URL", "https://push.example.com/"),
        ("MAIL_FROM", "push@example.com"),
        ("LINK_KEY_FILE", "/k"),
    ];

    #[test]
    fn reads_and_defaults() {
        let s = load(GOOD).unwrap();
        assert_eq!(s.approvers, ["ann@example.com", "bob@example.com"]);
        assert_eq!(s.approver_users["ann@example.com"], ["u-1", "u-2"]);
        assert_eq!(s.public_base_url, "https://push.example.com");
        assert_eq!(s.link_ttl_secs, 24 * 3600);
        assert_eq!(s.approver_sign_in, ApproverSignIn::Optional);
        assert_eq!(s.send_batch_function, "send-batch");
        let mut required = GOOD.to_vec();
        required.push(("APPROVER_SIGN_IN", "required"));
        assert_eq!(load(&required).unwrap().approver_sign_in, ApproverSignIn::Required);
        assert_eq!((s.test_sends_per_approver, s.test_min_interval_secs), (3, 60));
        assert!(s.requesters.allows("Zed@example.com"));
        assert!(s.requesters.allows("mia@other.org"));
        assert!(!s.requesters.allows("max@other.org"));
        assert!(!s.requesters.allows("eve@example.com.evil.org"));
    }

    #[test]
    fn names_every_problem() {
        let err = load(&[
            ("APPROVERS", "not-an-email"),
            ("APPROVER_USERS", "[1]"),
            ("LINK_TTL_HOURS", "0"),
            ("APPROVER_SIGN_IN", "sometimes"),
        ])
        .unwrap_err()
        .to_string();
        for needle in [
            "BUCKET",
            "REQUESTS_TABLE",
            "JOBS_TABLE",
            "not-an-email",
            "APPROVER_USERS",
            "PUBLIC_BASE_URL",
            "MAIL_FROM",
            "LINK_KEY_FILE",
            "LINK_TTL_HOURS",
            "REQUESTERS",
            "APPROVER_SIGN_IN",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
        let mut bad = GOOD.to_vec();
        bad.push(("APPROVER_USERS", r#"{"eve@example.com": ["u-9"]}"#));
        let err = load(&bad).unwrap_err().to_string();
        assert!(err.contains("eve@example.com"), "{err}");
    }

    #[test]
    fn email_shapes() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in
            ["", "a", "a@b", "@b.co", "a@.co", "a@b.co.", "a b@c.co", "a@b.co\r\nBcc: x@y.z", "<a@b.co>", "a@b@c.co"]
        {
            assert!(!is_email(bad), "{bad:?}");
        }
    }
}
