//! approval: the HTTP API behind the request form and the approvers' links.
//! This file only reads settings and builds the clients, once per container.

use anyhow::Context as _;
use lambda_http::{Request, run, service_fn};
use shared::approval::{DynamoRequests, LinkSigner};
use shared::jobs::DynamoJobs;
use shared::mail::SesMail;
use shared::objects::S3Objects;

use approval::control::LambdaControls;
use approval::deps::{Deps, system_clock};
use approval::handler::handle;
use approval::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    shared::metrics::install("approval", None)?;
    let settings = Settings::load()?;
    let aws = shared::aws::sdk_config().await;
    let key = shared::aws::load_secret(&aws, &settings.link_key).await?;
    let signer = LinkSigner::new(&key).context("the link-signing key")?;
    let deps = Deps {
        // Audience files are read once per request: nothing to cache.
        objects: S3Objects::new(shared::aws::s3(&aws), 0),
        requests: DynamoRequests::new(shared::aws::dynamodb(&aws), &settings.requests_table),
        mail: SesMail::from_config(&aws),
        jobs: DynamoJobs::new(shared::aws::dynamodb(&aws), &settings.jobs_table),
        controls: LambdaControls::new(shared::aws::lambda(&aws)),
        signer,
        settings,
        clock: system_clock(),
    };
    let deps = &deps;
    run(service_fn(move |request: Request| async move {
        let _metrics = shared::metrics::invocation();
        Ok::<_, std::convert::Infallible>(handle(deps, request).await)
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
