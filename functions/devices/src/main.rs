//! devices: registers and unregisters push tokens for the HTTP API. This
//! file only reads the settings and builds the DynamoDB client, once per
//! container.

use std::convert::Infallible;

use lambda_http::{Request, run, service_fn};
use shared::devices::DynamoDevices;

use devices::handler::handle;
use devices::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    shared::metrics::install("devices", None)?;
    let settings = Settings::load()?;
    let aws = shared::aws::sdk_config().await;
    let store = DynamoDevices::new(shared::aws::dynamodb(&aws), &settings.devices_table);
    let (store, settings) = (&store, &settings);
    run(service_fn(move |request: Request| async move {
        let _metrics = shared::metrics::invocation();
        Ok::<_, Infallible>(handle(store, settings, request, chrono::Utc::now()).await)
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
