//! EventBridge Scheduler's one-time schedules through AWS's own client:
//! created, read, refused as AWS refuses, and fired into the asynchronous
//! queue when the schedule clock reaches them, once.

mod support;

use std::time::{Duration, SystemTime};

use event_plane::clock::Clock;

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use support::gateway::GatewayPlane;
use support::{Behavior, FakeLambda};

fn client(plane: &GatewayPlane) -> aws_sdk_scheduler::Client {
    let config = aws_sdk_scheduler::Config::builder()
        .behavior_version(aws_sdk_scheduler::config::BehaviorVersion::latest())
        .region(aws_sdk_scheduler::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_scheduler::config::Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(format!("http://{}", plane.test.plane.lambda_addr()))
        .build();
    aws_sdk_scheduler::Client::from_conf(config)
}

fn at(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    format!("at({})", t.format("%Y-%m-%dT%H:%M:%S"))
}

fn target(input: &str) -> Target {
    Target::builder()
        .arn("arn:aws:lambda:us-east-1:123456789012:function:send-batch")
        .role_arn("arn:aws:iam::123456789012:role/scheduler")
        .input(input)
        .build()
        .unwrap()
}

fn off() -> FlexibleTimeWindow {
    FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().unwrap()
}

#[tokio::test]
async fn a_one_time_schedule_invokes_its_function_once_when_its_time_comes() {
    let lambda = FakeLambda::start(|_, _| Behavior::Ok).await;
    let plane = GatewayPlane::start(&lambda.server.url(), Duration::from_secs(5)).await;
    let scheduler = client(&plane);
    let in_an_hour = plane.clock.now() + Duration::from_secs(3600);
    let created = scheduler
        .create_schedule()
        .name("pb-job-1")
        .schedule_expression(at(in_an_hour))
        .schedule_expression_timezone("UTC")
        .flexible_time_window(off())
        .target(target(r#"{"continue":{"seq":0}}"#))
        .action_after_completion(ActionAfterCompletion::Delete)
        .send()
        .await
        .expect("CreateSchedule");
    assert!(created.schedule_arn().ends_with(":schedule/default/pb-job-1"));
    let got = scheduler.get_schedule().name("pb-job-1").send().await.expect("GetSchedule");
    assert_eq!(got.target().map(Target::input), Some(Some(r#"{"continue":{"seq":0}}"#)));

    let again = scheduler
        .create_schedule()
        .name("pb-job-1")
        .schedule_expression(at(in_an_hour))
        .flexible_time_window(off())
        .target(target("{}"))
        .send()
        .await
        .expect_err("a second schedule of that name");
    assert!(again.into_service_error().is_conflict_exception());

    let refused = scheduler
        .create_schedule()
        .name("pb-job-2")
        .schedule_expression("at(tomorrow)")
        .flexible_time_window(off())
        .target(target("{}"))
        .send()
        .await
        .expect_err("a malformed expression");
    assert!(refused.into_service_error().is_validation_exception());

    // Not before its time (the unit tests pin that without waiting); once
    // the clock reaches it, invoked once and deleted.
    assert!(lambda.received().is_empty());
    plane.clock.advance(Duration::from_secs(3600));
    let invoked = lambda.wait_for(1).await;
    assert_eq!(&invoked[0].body[..], br#"{"continue":{"seq":0}}"#);
    let gone = scheduler.get_schedule().name("pb-job-1").send().await.expect_err("deleted after it ran");
    assert!(gone.into_service_error().is_resource_not_found_exception());
    let deleted_twice = scheduler.delete_schedule().name("pb-job-1").send().await.expect_err("already gone");
    assert!(deleted_twice.into_service_error().is_resource_not_found_exception());
}
