//! EventBridge Scheduler: a one-time `at()` schedule whose target is
//! send-batch itself, deleted by Scheduler once it has run.

use aws_sdk_scheduler::error::ProvideErrorMetadata;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};

use super::{OneTime, ScheduleError, ScheduleJobs, at_expression};

/// Where schedules go and how they invoke their target.
#[derive(Debug, Clone)]
pub struct ScheduleTarget {
    /// The schedule group (the template creates one for pushbatch).
    pub group: String,
    /// The role Scheduler assumes to invoke the target.
    pub role_arn: String,
    /// Where an invocation that failed every retry goes (SQS ARN).
    pub dead_letter_arn: Option<String>,
}

pub struct EventBridgeSchedules {
    client: aws_sdk_scheduler::Client,
    target: ScheduleTarget,
}

impl EventBridgeSchedules {
    pub fn new(client: aws_sdk_scheduler::Client, target: ScheduleTarget) -> Self {
        Self { client, target }
    }

    fn error(operation: &'static str, name: &str, e: impl std::error::Error + Send + Sync + 'static) -> ScheduleError {
        ScheduleError { operation, name: name.into(), source: Box::new(e) }
    }
}

impl ScheduleJobs for EventBridgeSchedules {
    async fn create(&self, schedule: &OneTime) -> Result<(), ScheduleError> {
        let name = &schedule.name;
        let at = at_expression(schedule.at_ms).ok_or_else(|| ScheduleError {
            operation: "CreateSchedule",
            name: name.clone(),
            source: "no such time".into(),
        })?;
        let input = String::from_utf8(schedule.payload.clone()).map_err(|e| Self::error("CreateSchedule", name, e))?;
        let target = Target::builder()
            .arn(&schedule.target_arn)
            .role_arn(&self.target.role_arn)
            .input(input)
            // Lambda's own async retries follow; these cover Scheduler → Lambda.
            .retry_policy(RetryPolicy::builder().maximum_retry_attempts(10).maximum_event_age_in_seconds(3600).build())
            .set_dead_letter_config(
                self.target.dead_letter_arn.as_ref().map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|e| Self::error("CreateSchedule", name, e))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Self::error("CreateSchedule", name, e))?;
        let result = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.target.group)
            .schedule_expression(at)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A retried creation: the schedule is there.
            Err(e) if e.code() == Some("ConflictException") => Ok(()),
            Err(e) => Err(Self::error("CreateSchedule", name, e)),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        match self.client.delete_schedule().name(name).group_name(&self.target.group).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(Self::error("DeleteSchedule", name, e)),
        }
    }
}
