//! The Lambda entry point: an S3 event on `segments/` in, one split per
//! segment out.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use shared::campaigns::RunSplit;
use shared::objects::{ObjectCreate, ObjectRead, ObjectUpload, ObjectWrite, created_objects};

use crate::split::split;

pub struct Deps<O, R> {
    pub objects: O,
    pub runs: R,
}

pub async fn handle<O, R>(deps: &Deps<O, R>, event: LambdaEvent<S3Event>) -> Result<Value, Error>
where
    O: ObjectRead + ObjectCreate + ObjectWrite + ObjectUpload,
    R: RunSplit,
{
    let mut splits = Vec::new();
    for segment in created_objects(event.payload) {
        // Boxed: the split's future nests the upload's, too deep to lay out inline.
        let record = Box::pin(split(&deps.objects, &deps.runs, &segment)).await?;
        splits.push(json!({"segment": segment.key, "assigned": record.assigned, "batches": record.batches}));
    }
    Ok(json!({ "splits": splits }))
}
