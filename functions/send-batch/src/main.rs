//! send-batch: streams a batch file to APNs and FCM, one chain link per
//! invocation. This file only builds the clients, once per container.

use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::caps::DynamoCaps;
use shared::devices::DynamoDevices;
use shared::invoke::LambdaInvoker;
use shared::jobs::DynamoJobs;
use shared::objects::S3Objects;
use shared::quota::DynamoQuotaBuckets;
use shared::schedules::EventBridgeSchedules;

use send_batch::deps::Deps;
use send_batch::handler::handle;
use send_batch::settings::Settings;

// A quarter of the send path's CPU went to glibc's malloc (see BENCHMARKS.md):
// every request allocates its URI, headers, stream state and futures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    shared::metrics::install("send-batch", Some(std::time::Duration::from_secs(60)))?;
    let settings = Settings::load()?;
    let aws = shared::aws::sdk_config().await;
    let deps = Deps {
        objects: S3Objects::new(shared::aws::s3(&aws), settings.file_cache_max_bytes),
        devices: DynamoDevices::new(shared::aws::dynamodb(&aws), &settings.devices_table),
        jobs: DynamoJobs::new(shared::aws::dynamodb(&aws), &settings.jobs_table),
        push: send_batch::providers::build(&aws, &settings).await?,
        invoker: LambdaInvoker::new(shared::aws::lambda(&aws)),
        schedules: (settings.scheduler.clone())
            .map(|target| EventBridgeSchedules::new(shared::aws::scheduler(&aws), target)),
        rates: DynamoQuotaBuckets::new(shared::aws::dynamodb(&aws), &settings.jobs_table),
        caps: DynamoCaps::new(shared::aws::dynamodb(&aws), &settings.caps_table),
        settings,
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move { handle(deps, event).await }))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
