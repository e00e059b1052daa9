//! What a request is handled with, built once per container.

use shared::approval::{LinkSigner, RequestGet, RequestPut};
use shared::jobs::{JobRead, JobsByObject};
use shared::mail::SendMail;
use shared::objects::{ObjectCreate, ObjectRead};

use crate::settings::Settings;

/// The current time in Unix seconds; tests move it.
pub type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Box::new(|| chrono::Utc::now().timestamp())
}

pub struct Deps<O, R, M, J> {
    /// Reads `requests/`, creates files under `batches/approval/`.
    pub objects: O,
    pub requests: R,
    pub mail: M,
    /// Finds the send-batch job of a written batch file.
    pub jobs: J,
    pub signer: LinkSigner,
    pub settings: Settings,
    pub clock: Clock,
}

/// The bounds every handler needs, as one trait.
pub trait Ports: Send + Sync {
    type Objects: ObjectRead + ObjectCreate;
    type Requests: RequestGet + RequestPut;
    type Mail: SendMail;
    /// Finds a file's job, and reads a sharded job's shard records.
    type Jobs: JobsByObject + JobRead;
    fn objects(&self) -> &Self::Objects;
    fn requests(&self) -> &Self::Requests;
    fn mail(&self) -> &Self::Mail;
    fn jobs(&self) -> &Self::Jobs;
    fn signer(&self) -> &LinkSigner;
    fn settings(&self) -> &Settings;
    fn now(&self) -> i64;
}

impl<O, R, M, J> Ports for Deps<O, R, M, J>
where
    O: ObjectRead + ObjectCreate,
    R: RequestGet + RequestPut,
    M: SendMail,
    J: JobsByObject + JobRead,
{
    type Objects = O;
    type Requests = R;
    type Mail = M;
    type Jobs = J;
    fn objects(&self) -> &O {
        &self.objects
    }
    fn requests(&self) -> &R {
        &self.requests
    }
    fn mail(&self) -> &M {
        &self.mail
    }
    fn jobs(&self) -> &J {
        &self.jobs
    }
    fn signer(&self) -> &LinkSigner {
        &self.signer
    }
    fn settings(&self) -> &Settings {
        &self.settings
    }
    fn now(&self) -> i64 {
        (self.clock)()
    }
}
