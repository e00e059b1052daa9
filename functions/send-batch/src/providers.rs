//! Building the push providers once per container: each client with its
//! secret, its connection pool and, when one is set, the rate it shares
//! with every other sender (a bucket item in the jobs table).

use shared::aws::{SdkConfig, SecretError, load_secret};
use shared::config::SecretSource;
use shared::push::apns::{ApnsClient, ApnsError, TokenSigner};
use shared::push::fcm::{FcmClient, FcmError};
use shared::push::h2::PoolOptions;
use shared::push::vapid::{VapidError, VapidKey, VapidSigner};
use shared::push::webpush::{WebPushClient, WebPushOptions};
use shared::push::{Providers, TlsError, client_config};
use shared::quota::{Bucket, DynSharedQuota, DynamoQuota, QuotaTake, SharedQuota};

use crate::settings::{Settings, SharedQuotaSettings};

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Apns(#[from] ApnsError),
    #[error(transparent)]
    Fcm(#[from] FcmError),
    #[error("the FCM service account is not UTF-8")]
    AccountNotUtf8(#[source] std::string::FromUtf8Error),
    #[error(transparent)]
    Vapid(#[from] VapidError),
}

/// The configured providers; an unconfigured one is absent.
pub async fn build(aws: &SdkConfig, settings: &Settings) -> Result<Providers, ProviderError> {
    let tls = client_config(settings.extra_ca.as_deref())?;
    let mut providers = Providers::default();
    if let Some(a) = &settings.apns {
        let key = load_secret(aws, &a.key).await?;
        let options = pool(a.connections, a.max_in_flight, settings);
        // One key serves every app of the team, on either endpoint; the
        // shared rate (when set) covers both.
        let apns = |endpoint: &str| -> Result<ApnsClient, ProviderError> {
            let signer = TokenSigner::new(&key, &a.key_id, &a.team_id)?;
            let client =
                ApnsClient::new(endpoint, tls.clone(), &options, signer)?.with_receipts(settings.delivery_receipts);
            Ok(match shared_quota(aws, settings, settings.apns_shared, &format!("apns#{}", a.team_id)) {
                Some(quota) => client.with_shared_quota(quota),
                None => client,
            })
        };
        providers.apns = Some(apns(&a.endpoint)?);
        if settings.apps.uses_apns_development() {
            providers.apns_development = Some(apns(&a.development_endpoint)?);
        }
    }
    if let Some(f) = &settings.fcm {
        let options = pool(f.connections, f.max_in_flight, settings);
        let fcm = |account: &str, project: Option<&str>| -> Result<FcmClient, ProviderError> {
            let client = FcmClient::new(&f.endpoint, tls.clone(), &options, account, project, f.rate_per_minute)?
                .with_receipts(settings.delivery_receipts);
            // FCM's quota is per project: each project's senders share their own.
            let name = format!("fcm#{}", project.unwrap_or("default"));
            Ok(match shared_quota(aws, settings, settings.fcm_shared, &name) {
                Some(quota) => client.with_shared_quota(quota),
                None => client,
            })
        };
        let account = secret_text(aws, &f.service_account).await?;
        providers.fcm = Some(fcm(&account, f.project_id.as_deref())?);
        for (project, key) in settings.apps.fcm_projects() {
            let account = secret_text(aws, &key).await?;
            providers.fcm_projects.insert(project.clone(), fcm(&account, Some(&project))?);
        }
    }
    if let Some(w) = &settings.webpush {
        let signer = VapidSigner::new(VapidKey::parse(&load_secret(aws, &w.vapid_key).await?)?, &w.subject)?;
        let options = WebPushOptions { max_in_flight: w.max_in_flight, request_timeout: settings.request_timeout };
        let client = WebPushClient::new(&tls, signer, &options).with_receipts(settings.delivery_receipts);
        tracing::info!(application_server_key = client.public_key(), "Web Push is configured");
        providers.webpush = Some(client);
    }
    Ok(providers)
}

async fn secret_text(aws: &SdkConfig, source: &SecretSource) -> Result<String, ProviderError> {
    String::from_utf8(load_secret(aws, source).await?).map_err(ProviderError::AccountNotUtf8)
}

fn pool(connections: usize, max_in_flight: usize, settings: &Settings) -> PoolOptions {
    PoolOptions { connections, max_in_flight, request_timeout: settings.request_timeout }
}

/// The provider's rate shared by every concurrent invocation, when one is
/// set: a token bucket item `name` in the jobs table.
fn shared_quota(
    aws: &SdkConfig,
    settings: &Settings,
    quota: Option<SharedQuotaSettings>,
    name: &str,
) -> Option<DynSharedQuota> {
    let quota = quota?;
    let bucket = Bucket::new(quota.per_minute, quota.block);
    let store = DynamoQuota::new(shared::aws::dynamodb(aws), &settings.jobs_table, name, bucket);
    Some(SharedQuota::new(Box::new(store) as Box<dyn QuotaTake>, quota.block))
}
