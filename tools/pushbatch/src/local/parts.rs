//! The local stack's processes, their ports and where their files live.

use std::path::{Path, PathBuf};

use crate::context::STACK_ENV_FILE;

/// The gateway's APIs and routes, relative to the repository root.
pub const APIS_FILE: &str = "local/apis.json";
/// The issuer's clients and test users, relative to the repository root.
pub const USERS_FILE: &str = "local/users.json";

/// One process of the local stack, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Sandbox,
    Moto,
    Dynalite,
    Ses,
    Watch,
    EventPlane,
}

impl Part {
    /// Every part, in the order `local up` starts them.
    pub const ALL: [Part; 6] = [Part::Sandbox, Part::Moto, Part::Dynalite, Part::Ses, Part::Watch, Part::EventPlane];

    /// Name used for log and pid files and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Part::Sandbox => "sandbox",
            Part::Moto => "moto",
            Part::Dynalite => "dynalite",
            Part::Ses => "ses",
            Part::Watch => "watch",
            Part::EventPlane => "event-plane",
        }
    }

    pub fn from_name(name: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|part| part.name() == name)
    }

    /// The endpoints whose health makes up this part's health.
    pub fn endpoints(self) -> &'static [Endpoint] {
        match self {
            Part::Sandbox => &[Endpoint::Sandbox],
            Part::Moto => &[Endpoint::Moto],
            Part::Dynalite => &[Endpoint::Dynalite],
            Part::Ses => &[Endpoint::Ses],
            Part::Watch => &[Endpoint::Watch],
            Part::EventPlane => &[Endpoint::S3Proxy, Endpoint::Plane, Endpoint::Gateway, Endpoint::Issuer],
        }
    }

    /// How long a fresh start may take before it counts as failed. Generous:
    /// first starts compile or generate keys on a 2-core machine.
    pub fn start_timeout(self) -> std::time::Duration {
        let secs = match self {
            Part::Sandbox | Part::Moto => 60,
            Part::Dynalite | Part::Ses | Part::EventPlane => 30,
            Part::Watch => 120,
        };
        std::time::Duration::from_secs(secs)
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One health-checked address of the stack (the event plane has four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Moto,
    S3Proxy,
    Plane,
    Gateway,
    Issuer,
    Dynalite,
    Ses,
    Sandbox,
    Watch,
}

impl Endpoint {
    /// Rows of the status table, in display order.
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Moto,
        Endpoint::S3Proxy,
        Endpoint::Plane,
        Endpoint::Gateway,
        Endpoint::Issuer,
        Endpoint::Dynalite,
        Endpoint::Ses,
        Endpoint::Sandbox,
        Endpoint::Watch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Moto => "moto (s3)",
            Endpoint::S3Proxy => "s3 proxy",
            Endpoint::Plane => "lambda plane",
            Endpoint::Gateway => "api gateway",
            Endpoint::Issuer => "issuer",
            Endpoint::Dynalite => "dynalite",
            Endpoint::Ses => "ses",
            Endpoint::Sandbox => "push sandbox",
            Endpoint::Watch => "lambda watch",
        }
    }

    pub fn part(self) -> Part {
        match self {
            Endpoint::Moto => Part::Moto,
            Endpoint::S3Proxy | Endpoint::Plane | Endpoint::Gateway | Endpoint::Issuer => Part::EventPlane,
            Endpoint::Dynalite => Part::Dynalite,
            Endpoint::Ses => Part::Ses,
            Endpoint::Sandbox => Part::Sandbox,
            Endpoint::Watch => Part::Watch,
        }
    }

    pub fn port(self, ports: Ports) -> u16 {
        match self {
            Endpoint::Moto => ports.moto(),
            Endpoint::S3Proxy => ports.s3_proxy(),
            Endpoint::Plane => ports.plane(),
            Endpoint::Gateway => ports.gateway(),
            Endpoint::Issuer => ports.issuer(),
            Endpoint::Dynalite => ports.dynalite(),
            Endpoint::Ses => ports.ses(),
            Endpoint::Sandbox => ports.sandbox_http(),
            Endpoint::Watch => ports.watch(),
        }
    }

    pub fn url(self, ports: Ports) -> String {
        http_url(self.port(ports))
    }
}

/// The stack's port layout: ten consecutive ports from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ports {
    pub base: u16,
}

impl Ports {
    /// How many consecutive ports the stack uses.
    pub const SPAN: u16 = 10;
    pub const DEFAULT_BASE: u16 = 9100;

    pub fn new(base: u16) -> Self {
        Self { base }
    }
    pub fn moto(self) -> u16 {
        self.base
    }
    pub fn s3_proxy(self) -> u16 {
        self.base + 1
    }
    pub fn plane(self) -> u16 {
        self.base + 2
    }
    pub fn dynalite(self) -> u16 {
        self.base + 3
    }
    pub fn ses(self) -> u16 {
        self.base + 4
    }
    pub fn sandbox_tls(self) -> u16 {
        self.base + 5
    }
    pub fn sandbox_http(self) -> u16 {
        self.base + 6
    }
    pub fn watch(self) -> u16 {
        self.base + 7
    }
    /// The event plane's HTTP API gateway.
    pub fn gateway(self) -> u16 {
        self.base + 8
    }
    /// The event plane's OIDC issuer.
    pub fn issuer(self) -> u16 {
        self.base + 9
    }
}

/// `http://127.0.0.1:<port>`: never `localhost`, which would make S3 clients
/// try virtual-host addressing and may resolve to ::1.
pub fn http_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// `127.0.0.1:<port>` for listen flags.
pub fn listen_addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Files under the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    pub fn path(&self) -> &Path {
        &self.dir
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    pub fn pids(&self) -> PathBuf {
        self.dir.join("pids")
    }
    pub fn log_file(&self, part: Part) -> PathBuf {
        self.logs().join(format!("{}.log", part.name()))
    }
    pub fn pid_file(&self, part: Part) -> PathBuf {
        self.pids().join(format!("{}.pid", part.name()))
    }
    pub fn stack_env(&self) -> PathBuf {
        self.dir.join(STACK_ENV_FILE)
    }
    /// Records the port base so `status`/`down` need no flags.
    pub fn stack_json(&self) -> PathBuf {
        self.dir.join("stack.json")
    }
    /// The approval flow's link-signing key (random, made by `local up`).
    pub fn approval_link_key(&self) -> PathBuf {
        self.dir.join("approval-link.key")
    }
    /// send-batch's Web Push VAPID key (random, made by `local up`).
    pub fn vapid_key(&self) -> PathBuf {
        self.dir.join("vapid.key")
    }
    pub fn sandbox_dir(&self) -> PathBuf {
        self.dir.join("sandbox")
    }
    pub fn sandbox_ready(&self) -> PathBuf {
        self.sandbox_dir().join("ready.json")
    }
    pub fn plane_dir(&self) -> PathBuf {
        self.dir.join("event-plane")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_the_documented_layout() {
        let p = Ports::new(9100);
        let all = [
            p.moto(),
            p.s3_proxy(),
            p.plane(),
            p.dynalite(),
            p.ses(),
            p.sandbox_tls(),
            p.sandbox_http(),
            p.watch(),
            p.gateway(),
            p.issuer(),
        ];
        assert_eq!(all, [9100, 9101, 9102, 9103, 9104, 9105, 9106, 9107, 9108, 9109]);
        assert_eq!(usize::from(Ports::SPAN), all.len());
        assert_eq!(Endpoint::Plane.url(p), "http://127.0.0.1:9102");
    }

    #[test]
    fn every_part_has_an_endpoint_and_a_round_trippable_name() {
        for part in Part::ALL {
            assert!(!part.endpoints().is_empty());
            assert_eq!(Part::from_name(part.name()), Some(part));
            for endpoint in part.endpoints() {
                assert_eq!(endpoint.part(), part);
            }
        }
        assert_eq!(Endpoint::ALL.len(), Part::ALL.iter().map(|p| p.endpoints().len()).sum::<usize>());
    }
}
