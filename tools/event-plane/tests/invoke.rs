//! The Lambda listener: asynchronous Invoke, retries, dead letters,
//! pass-through, and the `/_plane` hooks.

mod support;

use std::time::Duration;

use event_plane::http::full;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use support::{Behavior, FakeLambda, FakeS3, header_str, start_plane};

#[tokio::test]
async fn event_invoke_answers_202_before_the_function_finishes() {
    let lambda = FakeLambda::start(|_, _| Behavior::Sleep(Duration::from_secs(2))).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[50], 8).await;

    let answer = plane.invoke("send-batch", Some("Event"), r#"{"continue":{"offset":500}}"#).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(answer.body.is_empty());
    let request_id = header_str(&answer.headers, "x-amzn-requestid").expect("request id header").to_owned();

    let got = lambda.wait_for(1).await;
    let delivery = &got[0];
    assert!(answer.received_at < delivery.finished, "the 202 came back only after the function finished");
    assert_eq!(delivery.function, "send-batch");
    assert_eq!(&delivery.body[..], br#"{"continue":{"offset":500}}"#);
    assert_eq!(header_str(&delivery.headers, "x-amz-invocation-type"), Some("RequestResponse"));

    let stats = plane.wait_idle().await;
    // Leave room for a stray duplicate to show up before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(lambda.received().len(), 1, "payload delivered exactly once");
    assert_eq!(stats["delivered"], 1);
    assert_eq!(stats["failed_attempts"], 0);
    assert_eq!(stats["by_function"]["send-batch"], json!({"invocations": 1, "errors": 0}));

    let records = plane.get_json("/_plane/invocations").await;
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["id"], request_id.as_str());
    assert_eq!(records[0]["source"], "invoke");
    assert_eq!(records[0]["attempt"], 1);
    assert_eq!(records[0]["status"], "ok");
    assert!(records[0].get("error").is_none());
}

#[tokio::test]
async fn arn_names_are_reduced_to_the_function_name() {
    let lambda = FakeLambda::start(|_, _| Behavior::Ok).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[50], 8).await;

    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Asend-batch%3A%24LATEST";
    let answer = plane.invoke(arn, Some("Event"), "{}").await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let got = lambda.wait_for(1).await;
    assert_eq!(got[0].path, "/2015-03-31/functions/send-batch/invocations");
}

#[tokio::test]
async fn failures_are_retried_and_the_third_attempt_delivers() {
    // Attempt 1: the function reports an error; attempt 2: the process dies
    // mid-request; attempt 3 succeeds.
    let lambda = FakeLambda::start(|_, call| match call {
        0 => Behavior::FunctionError,
        1 => Behavior::Crash,
        _ => Behavior::Ok,
    })
    .await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[50, 100], 8).await;

    let answer = plane.invoke("send-batch", Some("Event"), r#"{"n":1}"#).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    lambda.wait_for(3).await;
    let stats = plane.wait_idle().await;

    assert_eq!(lambda.received().len(), 3);
    assert!(lambda.received().iter().all(|r| &r.body[..] == br#"{"n":1}"#));
    assert_eq!(stats["delivered"], 1);
    assert_eq!(stats["failed_attempts"], 2);
    assert_eq!(stats["dead_lettered"], 0);
    assert_eq!(stats["by_function"]["send-batch"], json!({"invocations": 3, "errors": 2}));

    let records = plane.get_json("/_plane/invocations").await;
    let attempts: Vec<(u64, &str)> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["attempt"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(attempts, [(1, "function_error"), (2, "connection_error"), (3, "ok")]);
    let ids: Vec<&Value> = records.as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one invocation id across attempts");
    assert!(
        records[0]["error"].as_str().unwrap().contains("scripted failure"),
        "function error detail kept: {}",
        records[0]
    );
    assert!(plane.dead_letters().is_empty());
}

#[tokio::test]
async fn an_always_failing_function_ends_in_the_dead_letter_file() {
    let lambda = FakeLambda::start(|_, _| Behavior::Status(502)).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[20, 40], 8).await;

    plane.invoke("send-batch", Some("Event"), r#"{"job":"j-1"}"#).await;
    let stats = {
        lambda.wait_for(3).await;
        plane.wait_idle().await
    };
    assert_eq!(lambda.received().len(), 3, "1 + retries attempts");
    assert_eq!(stats["dead_lettered"], 1);
    assert_eq!(stats["failed_attempts"], 3);
    assert_eq!(stats["delivered"], 0);

    let dead = plane.dead_letters();
    assert_eq!(dead.len(), 1);
    let record = &dead[0];
    assert_eq!(record["function"], "send-batch");
    assert_eq!(record["payload"], json!({"job": "j-1"}));
    assert_eq!(record["attempts"], 3);
    assert!(record["error"].as_str().unwrap().contains("502"), "{record}");
    let time = record["time"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
}

#[tokio::test]
async fn a_rejected_invocation_is_dead_lettered_without_retries() {
    let lambda = FakeLambda::start(|_, _| Behavior::Status(404)).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[20], 8).await;

    plane.invoke("no-such-function", Some("Event"), "[1,2]").await;
    lambda.wait_for(1).await;
    let stats = plane.wait_idle().await;
    assert_eq!(lambda.received().len(), 1);
    assert_eq!(stats["dead_lettered"], 1);
    let dead = plane.dead_letters();
    assert_eq!(dead[0]["attempts"], 1);
    assert_eq!(dead[0]["payload"], json!([1, 2]));
}

#[tokio::test]
async fn concurrency_is_capped() {
    let lambda = FakeLambda::start(|_, _| Behavior::Sleep(Duration::from_millis(300))).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 0, &[], 2).await;

    for n in 0..6 {
        let answer = plane.invoke("send-batch", Some("Event"), &format!(r#"{{"n":{n}}}"#)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
    }
    lambda.wait_for(6).await;
    plane.wait_idle().await;
    let max = lambda.concurrent_max.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(max, 2, "at most --max-concurrency deliveries at once");
}

#[tokio::test]
async fn pause_holds_deliveries_and_resume_releases_them_in_order() {
    let lambda = FakeLambda::start(|_, _| Behavior::Ok).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 0, &[], 1).await;

    assert_eq!(plane.post_plane("/_plane/pause").await.status, StatusCode::OK);
    for n in 0..3 {
        plane.invoke("send-batch", Some("Event"), &format!("{n}")).await;
    }
    let stats = plane.stats().await;
    assert_eq!(stats["queued"], 3);
    assert_eq!(stats["paused"], true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(lambda.received().is_empty(), "delivered while paused");

    assert_eq!(plane.post_plane("/_plane/resume").await.status, StatusCode::OK);
    let got = lambda.wait_for(3).await;
    let bodies: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
    assert_eq!(bodies, [b"0", b"1", b"2"]);
}

#[tokio::test]
async fn request_response_passes_through_and_dry_run_answers_204() {
    let lambda = FakeLambda::start(|_, _| Behavior::FunctionError).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[20], 8).await;

    // A synchronous call goes straight through, error header and body included,
    // and is not retried.
    let answer = plane.invoke("send-batch", None, r#"{"sync":true}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(header_str(&answer.headers, "x-amz-function-error"), Some("Unhandled"));
    assert!(String::from_utf8_lossy(&answer.body).contains("scripted failure"));
    let answer = plane.invoke("send-batch", Some("RequestResponse"), r#"{"sync":2}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(lambda.received().len(), 2);
    let stats = plane.stats().await;
    assert_eq!(stats["sync_forwarded"], 2);
    assert_eq!(stats["failed_attempts"], 0);

    let answer = plane.invoke("send-batch", Some("DryRun"), "{}").await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(lambda.received().len(), 2, "DryRun reaches no function");
}

#[tokio::test]
async fn other_paths_get_json_errors_and_health_answers() {
    let lambda = FakeLambda::start(|_, _| Behavior::Ok).await;
    let s3 = FakeS3::start().await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[20], 8).await;

    assert_eq!(plane.get_json("/_plane/health").await["status"], "ok");

    let answer = plane
        .send(Request::get(plane.lambda_url("/2015-03-31/functions/send-batch/configuration")).body(full("")).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.json()["message"].is_string());

    let answer = plane.invoke("not%20a%20name", Some("Event"), "{}").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    let answer = plane.invoke("send-batch", Some("Sometimes"), "{}").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    let big = "x".repeat(event_plane::lambda_api::MAX_ASYNC_PAYLOAD + 1);
    let answer = plane.invoke("send-batch", Some("Event"), &big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header_str(&answer.headers, "x-amzn-errortype"), Some("RequestEntityTooLargeException"));
    assert!(lambda.received().is_empty());
}
