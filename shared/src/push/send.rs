//! The port the sending loop uses, and the real providers behind it.

use std::future::Future;

use super::Outcome;
use super::apns::ApnsClient;
use super::fcm::FcmClient;
use crate::batch::Platform;
use crate::render::{ApnsHeaders, Payloads};

/// The port the sending loop uses: one request to one provider.
pub trait PushSend: Send + Sync {
    fn send(
        &self,
        platform: Platform,
        token: &str,
        payloads: &Payloads,
        apns: &ApnsHeaders,
    ) -> impl Future<Output = Outcome> + Send;

    /// Renews credentials after the provider refused them.
    fn renew(&self, platform: Platform) -> impl Future<Output = ()> + Send;
}

/// The real providers. Either may be absent when not configured.
pub struct Providers {
    pub apns: Option<ApnsClient>,
    pub fcm: Option<FcmClient>,
}

impl PushSend for Providers {
    async fn send(&self, platform: Platform, token: &str, payloads: &Payloads, apns: &ApnsHeaders) -> Outcome {
        match platform {
            Platform::Ios => match &self.apns {
                Some(client) => client.send(token, payloads.apns.clone(), apns).await,
                None => Outcome::Failed("APNs is not configured".into()),
            },
            Platform::Android => match &self.fcm {
                Some(client) => client.send(payloads.fcm_body(token)).await,
                None => Outcome::Failed("FCM is not configured".into()),
            },
        }
    }

    async fn renew(&self, platform: Platform) {
        match platform {
            Platform::Ios => {
                if let Some(c) = &self.apns {
                    c.renew_token().await
                }
            }
            Platform::Android => {
                if let Some(c) = &self.fcm {
                    c.renew_token().await
                }
            }
        }
    }
}
