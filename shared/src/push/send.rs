//! The port the sending loop uses, and the real providers behind it.

use std::collections::HashMap;
use std::future::Future;

use super::Outcome;
use super::apns::ApnsClient;
use super::fcm::FcmClient;
use super::webpush::WebPushClient;
use crate::apps::{ApnsEnvironment, Route};
use crate::batch::Device;
use crate::render::{Headers, Payloads};

/// The port the sending loop uses: one request to one provider, routed to
/// the device's app (its APNs environment and topic, or its FCM project),
/// or to a browser's push service. The device is passed whole: a web
/// device's message is encrypted to its subscription's keys.
pub trait PushSend: Send + Sync {
    fn send(
        &self,
        route: &Route,
        device: &Device,
        payloads: &Payloads,
        headers: &Headers,
    ) -> impl Future<Output = Outcome> + Send;

    /// Renews credentials after the provider refused them.
    fn renew(&self, route: &Route) -> impl Future<Output = ()> + Send;
}

/// The real providers. Any may be absent when not configured.
#[derive(Default)]
pub struct Providers {
    /// `api.push.apple.com`.
    pub apns: Option<ApnsClient>,
    /// `api.sandbox.push.apple.com`, for apps built for development.
    pub apns_development: Option<ApnsClient>,
    /// The default Firebase project.
    pub fcm: Option<FcmClient>,
    /// Other Firebase projects, each with its own key.
    pub fcm_projects: HashMap<String, FcmClient>,
    /// Every browser's push service, with the deployment's VAPID key.
    pub webpush: Option<WebPushClient>,
}

impl Providers {
    fn apns(&self, environment: ApnsEnvironment) -> Option<&ApnsClient> {
        match environment {
            ApnsEnvironment::Production => self.apns.as_ref(),
            ApnsEnvironment::Development => self.apns_development.as_ref(),
        }
    }

    fn fcm(&self, project: Option<&str>) -> Option<&FcmClient> {
        match project {
            None => self.fcm.as_ref(),
            Some(p) => self.fcm_projects.get(p),
        }
    }
}

impl PushSend for Providers {
    async fn send(&self, route: &Route, device: &Device, payloads: &Payloads, headers: &Headers) -> Outcome {
        match route {
            Route::Apns { environment, topic } => match self.apns(*environment) {
                Some(client) => client.send(&device.token, payloads.apns.clone(), &headers.apns, topic).await,
                None => Outcome::Failed(format!("APNs ({environment:?}) is not configured")),
            },
            Route::Fcm { project } => match self.fcm(project.as_deref()) {
                Some(client) => client.send(payloads.fcm_body(&device.token)).await,
                None => Outcome::Failed(format!(
                    "FCM project {} is not configured",
                    project.as_deref().unwrap_or("(default)")
                )),
            },
            Route::WebPush => match (&self.webpush, &device.keys) {
                (Some(client), Some(keys)) => client.send(&device.token, keys, &payloads.web, &headers.web).await,
                (None, _) => Outcome::Failed(
                    "Web Push is not configured (WEBPUSH_VAPID_KEY_FILE or WEBPUSH_VAPID_KEY_SECRET_ARN)".into(),
                ),
                (Some(_), None) => Outcome::Failed("a web device without its subscription's keys".into()),
            },
        }
    }

    async fn renew(&self, route: &Route) {
        match route {
            Route::Apns { environment, .. } => {
                if let Some(c) = self.apns(*environment) {
                    c.renew_token().await
                }
            }
            Route::Fcm { project } => {
                if let Some(c) = self.fcm(project.as_deref()) {
                    c.renew_token().await
                }
            }
            Route::WebPush => {
                if let Some(c) = &self.webpush {
                    c.renew()
                }
            }
        }
    }
}
