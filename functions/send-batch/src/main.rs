//! send-batch: streams a batch file to APNs and FCM, one chain link per
//! invocation. This file only builds the clients, once per container.

use anyhow::Context as _;
use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::devices::DynamoDevices;
use shared::invoke::LambdaInvoker;
use shared::jobs::DynamoJobs;
use shared::objects::S3Objects;
use shared::push::apns::{ApnsClient, TokenSigner};
use shared::push::fcm::FcmClient;
use shared::push::h2::PoolOptions;
use shared::push::retry::Providers;
use shared::quota::{Bucket, DynamoQuota, SharedQuota};

use send_batch::deps::Deps;
use send_batch::handler::handle;
use send_batch::settings::{Settings, SharedQuotaSettings};

// A quarter of the send path's CPU went to glibc's malloc (see BENCHMARKS.md):
// every request allocates its URI, headers, stream state and futures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    let settings = Settings::load()?;
    let aws = shared::aws::sdk_config().await;
    let tls = shared::push::client_config(settings.extra_ca.as_deref())?;
    let apns = match &settings.apns {
        Some(a) => {
            let key = shared::aws::load_secret(&aws, &a.key).await?;
            let signer = TokenSigner::new(&key, &a.key_id, &a.team_id)?;
            let options = PoolOptions {
                connections: a.connections,
                max_in_flight: a.max_in_flight,
                request_timeout: settings.request_timeout,
            };
            let client = ApnsClient::new(&a.endpoint, tls.clone(), &options, signer)?;
            let name = format!("apns#{}", a.team_id);
            Some(match shared_quota(&aws, &settings, settings.apns_shared, &name) {
                Some(quota) => client.with_shared_quota(quota),
                None => client,
            })
        }
        None => None,
    };
    let fcm = match &settings.fcm {
        Some(f) => {
            let account = shared::aws::load_secret(&aws, &f.service_account).await?;
            let account = String::from_utf8(account).context("the FCM service account is not UTF-8")?;
            let options = PoolOptions {
                connections: f.connections,
                max_in_flight: f.max_in_flight,
                request_timeout: settings.request_timeout,
            };
            let client = FcmClient::new(
                &f.endpoint,
                tls.clone(),
                &options,
                &account,
                f.project_id.as_deref(),
                f.rate_per_minute,
            )?;
            let name = format!("fcm#{}", f.project_id.as_deref().unwrap_or("default"));
            Some(match shared_quota(&aws, &settings, settings.fcm_shared, &name) {
                Some(quota) => client.with_shared_quota(quota),
                None => client,
            })
        }
        None => None,
    };
    let deps = Deps {
        objects: S3Objects::new(shared::aws::s3(&aws), settings.file_cache_max_bytes),
        devices: DynamoDevices::new(shared::aws::dynamodb(&aws), &settings.devices_table),
        jobs: DynamoJobs::new(shared::aws::dynamodb(&aws), &settings.jobs_table),
        push: Providers { apns, fcm },
        invoker: LambdaInvoker::new(shared::aws::lambda(&aws)),
        settings,
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move { handle(deps, event).await }))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

/// The provider's rate shared by every concurrent invocation, when one is
/// set: a token bucket item `name` in the jobs table.
fn shared_quota(
    aws: &shared::aws::SdkConfig,
    settings: &Settings,
    quota: Option<SharedQuotaSettings>,
    name: &str,
) -> Option<SharedQuota<DynamoQuota>> {
    let quota = quota?;
    let bucket = Bucket::new(quota.per_minute, quota.block);
    let store = DynamoQuota::new(shared::aws::dynamodb(aws), &settings.jobs_table, name, bucket);
    Some(SharedQuota::new(store, quota.block))
}
