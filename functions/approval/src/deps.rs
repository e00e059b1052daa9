//! What a request is handled with, built once per container.

use shared::approval::{LinkSigner, RequestGet, RequestPut};
use shared::jobs::{ControlRead, JobRead, JobsByObject};
use shared::mail::SendMail;
use shared::objects::{ObjectCreate, ObjectRead, ObjectUpload};

use crate::control::SendControl;
use crate::settings::Settings;

/// The current time in Unix seconds; tests move it.
pub type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Box::new(|| chrono::Utc::now().timestamp())
}

pub struct Deps<O, R, M, J, C> {
    /// Reads `requests/`, creates files under `batches/approval/`.
    pub objects: O,
    pub requests: R,
    pub mail: M,
    /// Finds the send-batch job of a written batch file, and its control.
    pub jobs: J,
    /// Sends the Stop button's control to send-batch.
    pub controls: C,
    pub signer: LinkSigner,
    pub settings: Settings,
    pub clock: Clock,
}

/// The bounds every handler needs, as one trait.
pub trait Ports: Send + Sync {
    type Objects: ObjectRead + ObjectCreate + ObjectUpload;
    type Requests: RequestGet + RequestPut;
    type Mail: SendMail;
    /// Finds a file's job, reads a sharded job's shard records and the
    /// job's control (a stop shows before the job has finished).
    type Jobs: JobsByObject + JobRead + ControlRead;
    type Controls: SendControl;
    fn objects(&self) -> &Self::Objects;
    fn requests(&self) -> &Self::Requests;
    fn mail(&self) -> &Self::Mail;
    fn jobs(&self) -> &Self::Jobs;
    fn controls(&self) -> &Self::Controls;
    fn signer(&self) -> &LinkSigner;
    fn settings(&self) -> &Settings;
    fn now(&self) -> i64;
}

impl<O, R, M, J, C> Ports for Deps<O, R, M, J, C>
where
    O: ObjectRead + ObjectCreate + ObjectUpload,
    R: RequestGet + RequestPut,
    M: SendMail,
    J: JobsByObject + JobRead + ControlRead,
    C: SendControl,
{
    type Objects = O;
    type Requests = R;
    type Mail = M;
    type Jobs = J;
    type Controls = C;
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
    fn controls(&self) -> &C {
        &self.controls
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
