//! The ports a send-batch invocation works through, built once per container.

use shared::caps::CapTake;
use shared::devices::{DeviceLookup, DevicePrune};
use shared::invoke::InvokeAsync;
use shared::jobs::{ControlRead, ControlWrite, JobRead, JobWrite, LiveJobs};
use shared::objects::{ObjectList, ObjectRead, ObjectUpload, ObjectWrite};
use shared::push::PushSend;
use shared::quota::QuotaBuckets;
use shared::schedules::ScheduleJobs;

use crate::settings::Settings;

pub struct Deps<O, D, J, P, I, S, R, C> {
    pub objects: O,
    pub devices: D,
    pub jobs: J,
    pub push: P,
    pub invoker: I,
    /// One-time schedules for `send_at`.
    pub schedules: S,
    /// Token buckets for a job's `rate_per_second`.
    pub rates: R,
    /// Frequency caps per user and local day.
    pub caps: C,
    pub settings: Settings,
}

/// Everything a handler needs, as one bound.
pub trait Ports: Send + Sync {
    type Objects: ObjectRead + ObjectWrite + ObjectList + ObjectUpload;
    type Devices: DeviceLookup + DevicePrune;
    type Jobs: JobRead + JobWrite + ControlRead + ControlWrite + LiveJobs;
    type Push: PushSend;
    type Invoker: InvokeAsync;
    type Schedules: ScheduleJobs;
    type Rates: QuotaBuckets;
    type Caps: CapTake;
    fn objects(&self) -> &Self::Objects;
    fn devices(&self) -> &Self::Devices;
    fn jobs(&self) -> &Self::Jobs;
    fn push(&self) -> &Self::Push;
    fn invoker(&self) -> &Self::Invoker;
    fn schedules(&self) -> &Self::Schedules;
    fn rates(&self) -> &Self::Rates;
    fn caps(&self) -> &Self::Caps;
    fn settings(&self) -> &Settings;
}

impl<O, D, J, P, I, S, R, C> Ports for Deps<O, D, J, P, I, S, R, C>
where
    O: ObjectRead + ObjectWrite + ObjectList + ObjectUpload,
    D: DeviceLookup + DevicePrune,
    J: JobRead + JobWrite + ControlRead + ControlWrite + LiveJobs,
    P: PushSend,
    I: InvokeAsync,
    S: ScheduleJobs,
    R: QuotaBuckets,
    C: CapTake,
{
    type Objects = O;
    type Devices = D;
    type Jobs = J;
    type Push = P;
    type Invoker = I;
    type Schedules = S;
    type Rates = R;
    type Caps = C;
    fn objects(&self) -> &O {
        &self.objects
    }
    fn devices(&self) -> &D {
        &self.devices
    }
    fn jobs(&self) -> &J {
        &self.jobs
    }
    fn push(&self) -> &P {
        &self.push
    }
    fn invoker(&self) -> &I {
        &self.invoker
    }
    fn schedules(&self) -> &S {
        &self.schedules
    }
    fn rates(&self) -> &R {
        &self.rates
    }
    fn caps(&self) -> &C {
        &self.caps
    }
    fn settings(&self) -> &Settings {
        &self.settings
    }
}
