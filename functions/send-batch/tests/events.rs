//! Every sample in events/ for send-batch is an input its handler accepts.

use send_batch::handler::triggers;
use send_batch::link::Trigger;

fn sample(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn s3_put_sample_is_an_upload() {
    let t = triggers(sample("send-batch-s3-put.json")).unwrap();
    assert!(matches!(&t[..], [Trigger::Upload { key, .. }] if key == "batches/day21-inactive.json"));
}

#[test]
fn continuation_sample_is_a_continuation() {
    let t = triggers(sample("send-batch-continuation.json")).unwrap();
    assert!(matches!(&t[..], [Trigger::Continue(c)] if c.seq == 1 && c.offset == 4096));
}

#[test]
fn every_send_batch_sample_is_covered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("send-batch-") {
            assert!(triggers(sample(&name)).is_ok(), "{name} is not a send-batch input");
        }
    }
}
