//! scheduled: builds its clients once and runs the handler.

use lambda_runtime::{LambdaEvent, run, service_fn};
use shared::campaigns::DynamoRuns;
use shared::objects::S3Objects;
use shared::users::DynamoUsers;

use scheduled::event::ScheduleEvent;
use scheduled::handler::{Deps, handle};
use scheduled::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    shared::metrics::install("scheduled", None)?;
    let settings = Settings::load()?;
    let aws = shared::aws::sdk_config().await;
    let deps = Deps {
        users: DynamoUsers::new(shared::aws::dynamodb(&aws), &settings.users_table),
        runs: DynamoRuns::new(shared::aws::dynamodb(&aws), &settings.runs_table),
        // Segments are written once and never read back by this function.
        objects: S3Objects::new(shared::aws::s3(&aws), 0),
        bucket: settings.bucket.clone(),
        lease_ms: settings.lease.as_millis() as i64,
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<ScheduleEvent>| async move {
        let _metrics = shared::metrics::invocation();
        handle(deps, event).await
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
