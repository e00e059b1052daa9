//! The S3 listener: transparent streaming proxy and ObjectCreated events.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use event_plane::http::{Body, full};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use support::{
    Behavior, FakeLambda, FakeS3, GenBody, MULTIPART_SIZE, Progress, Received, TestPlane, WAIT, gen_sha256, header_str,
    hex, start_plane,
};

/// What an S3 client leaves unescaped in a path-style object URL.
const PATH_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn object_path(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", utf8_percent_encode(key, PATH_SAFE))
}

fn event_of(received: &Received) -> S3Event {
    serde_json::from_slice(&received.body).expect("payload is an S3Event")
}

/// S3 event keys are form-encoded: `+` is a space.
fn decode_event_key(key: &str) -> String {
    percent_decode_str(&key.replace('+', " ")).decode_utf8().unwrap().into_owned()
}

async fn setup() -> (FakeS3, FakeLambda, TestPlane) {
    let s3 = FakeS3::start().await;
    let lambda = FakeLambda::start(|_, _| Behavior::Ok).await;
    let plane = start_plane(&s3.server.url(), &lambda.server.url(), 2, &[20], 8).await;
    (s3, lambda, plane)
}

#[tokio::test]
async fn a_put_under_batches_notifies_send_batch_once() {
    let (s3, lambda, plane) = setup().await;
    let key = "batches/day 21 ünïcødé €(1)+x.json";
    let path = object_path("pushbatch", key);
    let body = r#"{"campaign":"c","notification":{"title":"t"},"users":["u-1"]}"#;

    let answer = plane.put(&format!("{path}?x-id=PutObject"), body, &[("content-type", "application/json")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    // The proxy passes the upstream's answer through.
    let stored = s3.object(&path).expect("upstream stored the object");
    assert_eq!(header_str(&answer.headers, "etag"), Some(format!("\"{}\"", stored.etag).as_str()));

    let got = lambda.wait_for(1).await;
    plane.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(lambda.received().len(), 1, "exactly one event");
    assert_eq!(got[0].function, "send-batch");

    let event = event_of(&got[0]);
    assert_eq!(event.records.len(), 1);
    let record = &event.records[0];
    assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
    assert_eq!(record.event_source.as_deref(), Some("aws:s3"));
    assert_eq!(record.event_version.as_deref(), Some("2.1"));
    assert_eq!(record.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(record.request_parameters.source_ip_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(record.response_elements.get("x-amz-request-id").map(String::as_str), Some("FAKEREQUESTID123"));
    let s3e = &record.s3;
    assert_eq!(s3e.configuration_id.as_deref(), Some("batches-to-send-batch"));
    assert_eq!(s3e.bucket.name.as_deref(), Some("pushbatch"));
    assert_eq!(s3e.bucket.arn.as_deref(), Some("arn:aws:s3:::pushbatch"));
    let event_key = s3e.object.key.as_deref().unwrap();
    assert_eq!(event_key, "batches/day+21+%C3%BCn%C3%AFc%C3%B8d%C3%A9+%E2%82%AC%281%29%2Bx.json");
    assert_eq!(decode_event_key(event_key), key);
    assert_eq!(s3e.object.size, Some(body.len() as i64));
    assert_eq!(s3e.object.e_tag.as_deref(), Some(stored.etag.as_str()));
    let sequencer = s3e.object.sequencer.as_deref().unwrap();
    assert!(sequencer.len() >= 16 && sequencer.chars().all(|c| c.is_ascii_hexdigit()));

    let stats = plane.stats().await;
    assert_eq!(stats["s3_events"], 1);
    let records = plane.get_json("/_plane/invocations").await;
    assert_eq!(records[0]["source"], "s3");
}

#[tokio::test]
async fn only_matching_successful_creations_notify() {
    let (_s3, lambda, plane) = setup().await;

    // None of these may produce an event...
    let quiet = [
        ("/pushbatch/other/a.json", vec![]),
        ("/pushbatch/segments/c/2024-01-01.json", vec![]),
        ("/pushbatch/batches/part?partNumber=1&uploadId=u1", vec![]),
        ("/pushbatch/batches/tagged?tagging", vec![]),
        ("/denied/batches/a.json", vec![]),
        ("/pushbatch", vec![]),
    ];
    for (path, headers) in &quiet {
        plane.put(path, "{}", headers).await;
    }
    // ...and this one goes to ab-split, not send-batch.
    plane.put("/pushbatch/segments/c/2024-01-01.jsonl", "{}\n", &[]).await;

    let got = lambda.wait_for(1).await;
    plane.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lambda.received().len(), 1, "{:?}", lambda.received());
    assert_eq!(got[0].function, "ab-split");
    let event = event_of(&got[0]);
    assert_eq!(event.records[0].s3.configuration_id.as_deref(), Some("segments-to-ab-split"));
    assert_eq!(plane.stats().await["s3_events"], 1);
}

#[tokio::test]
async fn copy_and_complete_multipart_have_their_event_names() {
    let (s3, lambda, plane) = setup().await;
    plane.put("/pushbatch/requests/r1/audience.json", "[1,2,3]", &[]).await;
    let answer = plane
        .put(
            "/pushbatch/batches/copied.json?x-id=CopyObject",
            "",
            &[("x-amz-copy-source", "pushbatch/requests/r1/audience.json")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let got = lambda.wait_for(1).await;
    let record = &event_of(&got[0]).records[0];
    assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Copy"));
    assert_eq!(record.s3.object.size, Some(7));
    let source = s3.object("/pushbatch/requests/r1/audience.json").unwrap();
    assert_eq!(record.s3.object.e_tag.as_deref(), Some(source.etag.as_str()));

    let answer = plane
        .send(
            Request::post(plane.s3_url("/pushbatch/batches/big.jsonl?uploadId=abc"))
                .body(full("<CompleteMultipartUpload/>"))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let got = lambda.wait_for(2).await;
    let record = &event_of(&got[1]).records[0];
    assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:CompleteMultipartUpload"));
    assert_eq!(record.s3.object.size, Some(MULTIPART_SIZE as i64));
    assert_eq!(record.s3.object.e_tag.as_deref(), Some("d41d8cd98f00b204e9800998ecf8427e-3"));
}

#[tokio::test]
async fn sequencers_increase_and_redelivery_repeats_the_event() {
    let (_s3, lambda, plane) = setup().await;
    let mut sequencers = Vec::new();
    for n in 0..5 {
        plane.put(&format!("/pushbatch/batches/{n}.json"), "{}", &[]).await;
        let got = lambda.wait_for(n + 1).await;
        let event = event_of(&got[n]);
        sequencers.push(event.records[0].s3.object.sequencer.clone().unwrap());
    }
    for pair in sequencers.windows(2) {
        assert!(pair[0] < pair[1], "sequencers not increasing: {sequencers:?}");
    }

    // An overwrite is a new event with a higher sequencer.
    plane.put("/pushbatch/batches/0.json", "{\"v\":2}", &[]).await;
    let got = lambda.wait_for(6).await;
    let overwrite = event_of(&got[5]).records[0].s3.object.sequencer.clone().unwrap();
    assert!(overwrite > sequencers[4]);

    let answer = plane.post_plane("/_plane/redeliver-s3?bucket=pushbatch&key=batches%2F3.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["redelivered"], 1);
    let got = lambda.wait_for(7).await;
    assert_eq!(got[6].body, got[3].body, "redelivery is byte-identical");
    assert_eq!(got[6].function, "send-batch");

    let answer = plane.post_plane("/_plane/redeliver-s3?bucket=pushbatch&key=batches%2Fnever.json").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(plane.stats().await["s3_events"], 7);
}

#[tokio::test]
async fn the_aws_sdk_works_through_the_proxy() {
    let (s3, lambda, plane) = setup().await;
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(plane.s3_url(""))
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let key = "batches/sdk upload é.json";
    let body = br#"{"campaign":"sdk","notification":{"body":"b"},"users":[]}"#;
    let out =
        tokio::time::timeout(WAIT, client.put_object().bucket("pushbatch").key(key).body(body.to_vec().into()).send())
            .await
            .expect("in time")
            .expect("PutObject through the proxy");
    let etag = out.e_tag().unwrap().trim_matches('"').to_owned();

    let requests = s3.requests.lock().unwrap().clone();
    let put = requests.iter().find(|r| r.method == http::Method::PUT).unwrap();
    assert_eq!(
        header_str(&put.headers, "host"),
        Some(plane.plane.s3_addr().to_string().as_str()),
        "Host reaches the upstream unchanged"
    );
    assert!(put.headers.contains_key("authorization"));

    let got = lambda.wait_for(1).await;
    let object = &event_of(&got[0]).records[0].s3.object;
    assert_eq!(decode_event_key(object.key.as_deref().unwrap()), key);
    assert_eq!(object.size, Some(body.len() as i64));
    assert_eq!(object.e_tag.as_deref(), Some(etag.as_str()));
}

const FIFTY_MB: u64 = 50 * 1024 * 1024;

#[tokio::test]
async fn fifty_megabytes_stream_through_both_ways() {
    let (s3, lambda, plane) = setup().await;
    let expected = gen_sha256(FIFTY_MB);

    // Upload, chunked (no Content-Length). The body stops after 25 MB until the
    // upstream has seen 12.5 MB: a proxy that buffered the whole body first
    // would never get there.
    let gate = (FIFTY_MB / 2, Arc::clone(&s3.put_progress), FIFTY_MB / 4);
    let body: Body = GenBody::new(FIFTY_MB, false, Some(gate)).boxed_unsync();
    let answer = plane.send(Request::put(plane.s3_url("/pushbatch/batches/huge.jsonl")).body(body).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let stored = s3.object("/pushbatch/batches/huge.jsonl").unwrap();
    assert_eq!(stored.size, FIFTY_MB);
    assert_eq!(stored.sha256, expected, "upload arrived intact");

    let got = lambda.wait_for(1).await;
    assert_eq!(event_of(&got[0]).records[0].s3.object.size, Some(FIFTY_MB as i64));

    // Download: the upstream stops half-way until this client has read a
    // quarter, for the same reason.
    let read = Arc::new(Progress::default());
    *s3.get_gate.lock().unwrap() = Some(Arc::clone(&read));
    let resp = tokio::time::timeout(
        WAIT,
        plane.client.request(Request::get(plane.s3_url(&format!("/pushbatch/gen/{FIFTY_MB}"))).body(full("")).unwrap()),
    )
    .await
    .expect("headers in time")
    .expect("GET through the proxy");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_str(resp.headers(), "content-length"), Some(FIFTY_MB.to_string().as_str()));
    let mut body = resp.into_body();
    let mut hasher = Sha256::new();
    let download = async {
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.expect("frame").data_ref() {
                hasher.update(data);
                read.add(data.len() as u64);
            }
        }
    };
    tokio::time::timeout(WAIT, download).await.expect("download in time");
    assert_eq!(read.get(), FIFTY_MB);
    assert_eq!(hex(&hasher.finalize()), expected, "download arrived intact");
}
