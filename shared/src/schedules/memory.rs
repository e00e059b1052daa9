//! Schedules kept in memory, for tests: they never fire by themselves; a
//! test takes them and invokes their payloads.

use std::sync::Mutex;

use super::{OneTime, ScheduleError, ScheduleJobs};

#[derive(Default)]
pub struct MemorySchedules {
    pub schedules: Mutex<Vec<OneTime>>,
}

impl MemorySchedules {
    /// The schedules created and not deleted, removing them.
    pub fn take(&self) -> Vec<OneTime> {
        std::mem::take(&mut *self.schedules.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn names(&self) -> Vec<String> {
        self.schedules.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.name.clone()).collect()
    }
}

impl ScheduleJobs for MemorySchedules {
    async fn create(&self, schedule: &OneTime) -> Result<(), ScheduleError> {
        let mut schedules = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if !schedules.iter().any(|s| s.name == schedule.name) {
            schedules.push(schedule.clone());
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        self.schedules.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| s.name != name);
        Ok(())
    }
}
