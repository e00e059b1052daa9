//! ab-split: builds its clients once and runs the handler.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{LambdaEvent, run, service_fn};
use shared::campaigns::DynamoRuns;
use shared::config::EnvReader;
use shared::objects::S3Objects;
use shared::schema::CAMPAIGN_RUNS;

use ab_split::handler::{Deps, handle};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    shared::metrics::install("ab-split", None)?;
    let mut env = EnvReader::from_process();
    let runs_table = env.string_or(CAMPAIGN_RUNS.env, CAMPAIGN_RUNS.default_name);
    env.finish()?;
    let aws = shared::aws::sdk_config().await;
    let deps = Deps {
        // A segment is read once, from the start: no cache.
        objects: S3Objects::new(shared::aws::s3(&aws), 0),
        runs: DynamoRuns::new(shared::aws::dynamodb(&aws), runs_table),
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let _metrics = shared::metrics::invocation();
        handle(deps, event).await
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
