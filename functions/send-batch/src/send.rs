//! Sending to one device, and a batch's tally of what came back: counts,
//! the devices that failed (for `failed.jsonl`), the dead tokens to prune,
//! and the deliveries' receipts when they are kept. The pipeline (`pipeline`) decides when each device goes.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use shared::apps::{Apps, Route, UnknownApp};
use shared::batch::{Device, UserEntry};
use shared::clock::now_ms;
use shared::counters::Counters;
use shared::devices::DevicePrune;
use shared::errors::Chain;
use shared::push::retry::{Final, deliver};
use shared::render::{Payloads, Renderer, Renderers};

use crate::audience::Target;
use crate::deps::Ports;
use crate::receipts;

/// A user to push now, rendered once for all their devices.
pub struct UserSend<'r> {
    pub user: UserEntry,
    /// In the user's language (`notification.localized`).
    pub renderer: &'r Renderer,
    /// Their payloads, or why they cannot have any (their `vars` push the
    /// notification over a provider's limit).
    pub payloads: Result<Payloads, String>,
    /// Their devices are their stored list, in its order.
    pub stored: bool,
}

impl<'r> UserSend<'r> {
    /// Picks the user's renderer by their locale and renders their push.
    pub fn render(renderers: &'r Renderers, target: Target) -> (Arc<UserSend<'r>>, Vec<Device>) {
        let renderer = renderers.for_locale(target.locale.as_deref());
        let payloads = renderer.for_user(&target.user.vars).map_err(|e| e.to_string());
        let stored = target.stored;
        (Arc::new(UserSend { user: target.user, renderer, payloads, stored }), target.devices)
    }
}

/// Sends one device its user's push: the final outcome and the retries.
pub async fn one<P: Ports>(ports: &P, user: &UserSend<'_>, device: &Device) -> (Final, u32) {
    let renderer = user.renderer;
    // A Live Activity exists only on iOS: another device in such a file is
    // a mistake in the file, recorded, and never a request.
    if !renderer.sends_to(device.platform) {
        let reason = format!(
            "a {} push is sent to iOS only; {} devices are not sent",
            renderer.kind().as_str(),
            device.platform.as_str()
        );
        return (Final::Failed(reason), 0);
    }
    let settings = ports.settings();
    // Each device goes as its own app: a device of an app this deployment
    // does not know fails, named; it is never pruned.
    let route = match route(&settings.apps, renderer, device) {
        Ok(route) => route,
        Err(unknown) => return (Final::Failed(unknown.to_string()), 0),
    };
    match &user.payloads {
        Ok(payloads) => deliver(ports.push(), &settings.retry, &route, device, payloads, renderer.headers()).await,
        Err(e) => (Final::Failed(e.clone()), 0),
    }
}

/// How many requests one link keeps in flight: every provider's window.
pub fn window<P: Ports>(ports: &P) -> usize {
    let settings = ports.settings();
    let in_flight = settings.apns.as_ref().map_or(0, |a| a.max_in_flight)
        + settings.fcm.as_ref().map_or(0, |f| f.max_in_flight)
        + settings.webpush.as_ref().map_or(0, |w| w.max_in_flight);
    in_flight.max(1)
}

/// A dead token to prune: its user, its device, and its position in the
/// user's stored list when the lookup read it there.
pub struct Dead {
    user_id: String,
    device: Device,
    index: Option<usize>,
}

/// A user with the devices that failed, and why.
type FailedUser<'r> = (Arc<UserSend<'r>>, Vec<(Device, String)>);

/// What a batch's sends came back with, as they come back.
#[derive(Default)]
pub struct Tally<'r> {
    pub counters: Counters,
    failed: BTreeMap<String, FailedUser<'r>>,
    /// Every dead token, with where the lookup saw it.
    pub dead: Vec<Dead>,
    /// Lines for `receipts.jsonl`, when the deployment writes them.
    pub receipts: Option<Vec<String>>,
}

impl<'r> Tally<'r> {
    /// `receipts`: keep a line per delivery for `receipts.jsonl`.
    pub fn new(counters: Counters, receipts: bool) -> Self {
        Tally { counters, receipts: receipts.then(Vec::new), ..Tally::default() }
    }

    /// `index`: the device's position among its user's devices.
    pub fn record(&mut self, user: &Arc<UserSend<'r>>, index: usize, device: Device, outcome: Final, retries: u32) {
        let c = self.counters.platform(device.platform);
        c.attempted += 1;
        c.retries += u64::from(retries);
        match outcome {
            Final::Delivered(receipt) => {
                c.delivered += 1;
                if let Some(lines) = &mut self.receipts {
                    lines.push(receipts::line(&user.user.user_id, &device, &receipt, now_ms()));
                }
            }
            Final::Dead(_) => {
                c.pruned += 1;
                let index = user.stored.then_some(index);
                self.dead.push(Dead { user_id: user.user.user_id.clone(), device, index });
            }
            Final::Failed(reason) => {
                c.failed += 1;
                self.failed
                    .entry(user.user.user_id.clone())
                    .or_insert_with(|| (Arc::clone(user), Vec::new()))
                    .1
                    .push((device, reason));
            }
        }
    }

    /// Lines for `failed.jsonl`, in user id order: one user entry each,
    /// with the devices that failed.
    pub fn failed_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.failed).into_values().map(|(user, devices)| failed_line(&user.user, devices)).collect()
    }
}

/// Removes dead tokens. The provider has spoken; a table error here must
/// not resend the batch, so it is logged and the token is pruned the next
/// time a send finds it dead.
pub async fn prune<P: Ports>(ports: &P, dead: Vec<Dead>) {
    let errors = stream::iter(dead)
        .map(|Dead { user_id, device, index }| async move {
            let devices = ports.devices();
            let pruned = match index {
                Some(i) => devices.prune_seen(&user_id, device.platform, &device.token, i).await,
                None => devices.prune(&user_id, &device.token).await,
            };
            pruned.map_err(|e| (user_id, e))
        })
        .buffer_unordered(16)
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    for (user_id, e) in errors {
        tracing::error!(user_id, error = %Chain(&e), "could not remove a dead token");
    }
}

/// Where a device's request goes. A device that names no app goes as the
/// default app, with the file's own `apns.topic` when it sets one.
fn route(apps: &Apps, renderer: &Renderer, device: &Device) -> Result<Route, UnknownApp> {
    let app = apps.resolve(device)?;
    Ok(match (&device.app, &app.route) {
        (None, Route::Apns { environment, .. }) => {
            Route::Apns { environment: *environment, topic: renderer.apns_headers().wire.topic.clone() }
        }
        (_, route) => route.clone(),
    })
}

/// A user entry that re-drives exactly the devices that failed.
fn failed_line(user: &UserEntry, devices: Vec<(Device, String)>) -> String {
    let mut entry = Map::new();
    entry.insert("user_id".into(), json!(user.user_id));
    if !user.vars.is_empty() {
        entry.insert("vars".into(), Value::Object(user.vars.clone()));
    }
    let (devices, errors): (Vec<_>, Vec<_>) = devices.into_iter().unzip();
    entry.insert("devices".into(), json!(devices));
    entry.insert("errors".into(), json!(errors));
    Value::Object(entry).to_string()
}
