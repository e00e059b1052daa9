//! The ports a send-batch invocation works through, built once per container.

use shared::devices::{DeviceLookup, DevicePrune};
use shared::invoke::InvokeAsync;
use shared::jobs::{JobRead, JobWrite};
use shared::objects::{ObjectList, ObjectRead, ObjectWrite};
use shared::push::PushSend;

use crate::settings::Settings;

pub struct Deps<O, D, J, P, I> {
    pub objects: O,
    pub devices: D,
    pub jobs: J,
    pub push: P,
    pub invoker: I,
    pub settings: Settings,
}

/// Everything a handler needs, as one bound.
pub trait Ports: Send + Sync {
    type Objects: ObjectRead + ObjectWrite + ObjectList;
    type Devices: DeviceLookup + DevicePrune;
    type Jobs: JobRead + JobWrite;
    type Push: PushSend;
    type Invoker: InvokeAsync;
    fn objects(&self) -> &Self::Objects;
    fn devices(&self) -> &Self::Devices;
    fn jobs(&self) -> &Self::Jobs;
    fn push(&self) -> &Self::Push;
    fn invoker(&self) -> &Self::Invoker;
    fn settings(&self) -> &Settings;
}

impl<O, D, J, P, I> Ports for Deps<O, D, J, P, I>
where
    O: ObjectRead + ObjectWrite + ObjectList,
    D: DeviceLookup + DevicePrune,
    J: JobRead + JobWrite,
    P: PushSend,
    I: InvokeAsync,
{
    type Objects = O;
    type Devices = D;
    type Jobs = J;
    type Push = P;
    type Invoker = I;
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
    fn settings(&self) -> &Settings {
        &self.settings
    }
}
