//! One batch: sort its users (`audience`), render, send, prune, count.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use shared::apps::{Apps, Route, UnknownApp};
use shared::batch::{Device, RawItem, UserEntry};
use shared::counters::Counters;
use shared::devices::DevicePrune;
use shared::push::retry::{Final, deliver};
use shared::render::{Renderer, Renderers};

use crate::audience::{self, AudienceError, Rules};
use crate::deps::Ports;
use shared::errors::Chain;

pub struct BatchResult {
    pub counters: Counters,
    /// Lines for `failed.jsonl`: one user entry with the devices that failed.
    pub failed_lines: Vec<String>,
    /// Lines for `skipped.jsonl`: every user not sent, and why.
    pub skipped_lines: Vec<String>,
    /// Users due later, by instant.
    pub deferred: BTreeMap<i64, Vec<String>>,
}

/// A user with the devices that failed, and why.
type FailedUser<'a> = (&'a UserEntry, Vec<(Device, String)>);

struct Send<'a> {
    user: &'a UserEntry,
    device: Device,
    /// In the user's language (`notification.localized`).
    renderer: &'a Renderer,
}

pub async fn process<P: Ports>(
    ports: &P,
    renderers: &Renderers,
    rules: &Rules<'_>,
    items: &[RawItem],
) -> Result<BatchResult, AudienceError> {
    let audience = audience::sort(ports, rules, items).await?;
    let mut counters = audience.counters;
    let sends: Vec<Send<'_>> = audience
        .now
        .into_iter()
        .flat_map(|due| {
            let renderer = renderers.for_locale(due.locale.as_deref());
            due.devices.into_iter().map(move |device| Send { user: due.user, device, renderer })
        })
        .collect();

    let settings = ports.settings();
    let in_flight = settings.apns.as_ref().map_or(0, |a| a.max_in_flight)
        + settings.fcm.as_ref().map_or(0, |f| f.max_in_flight)
        + settings.webpush.as_ref().map_or(0, |w| w.max_in_flight);
    let results: Vec<(Send<'_>, Final, u32)> = stream::iter(sends)
        .map(|send| async move {
            let renderer = send.renderer;
            // A Live Activity exists only on iOS: another device in such a
            // file is a mistake in the file, recorded, and never a request.
            if !renderer.sends_to(send.device.platform) {
                let reason = format!(
                    "a {} push is sent to iOS only; {} devices are not sent",
                    renderer.kind().as_str(),
                    send.device.platform.as_str()
                );
                return (send, Final::Failed(reason), 0);
            }
            // Each device goes as its own app: a device of an app this
            // deployment does not know fails, named; it is never pruned.
            let route = match route(&settings.apps, renderer, &send.device) {
                Ok(route) => route,
                Err(unknown) => return (send, Final::Failed(unknown.to_string()), 0),
            };
            let (outcome, retries) = match renderer.for_user(&send.user.vars) {
                Ok(payloads) => {
                    let (push, policy, headers) = (ports.push(), &settings.retry, renderer.headers());
                    deliver(push, policy, &route, &send.device, &payloads, headers).await
                }
                Err(e) => (Final::Failed(e.to_string()), 0),
            };
            (send, outcome, retries)
        })
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;

    let mut failed: BTreeMap<&str, FailedUser<'_>> = BTreeMap::new();
    let mut dead = Vec::new();
    for (send, outcome, retries) in results {
        let c = counters.platform(send.device.platform);
        c.attempted += 1;
        c.retries += u64::from(retries);
        match outcome {
            Final::Delivered => c.delivered += 1,
            Final::Dead(_) => {
                c.pruned += 1;
                dead.push((send.user.user_id.as_str(), send.device.token));
            }
            Final::Failed(reason) => {
                c.failed += 1;
                failed
                    .entry(send.user.user_id.as_str())
                    .or_insert((send.user, Vec::new()))
                    .1
                    .push((send.device, reason));
            }
        }
    }

    // The provider has spoken; a table error here must not resend the batch.
    let prune_errors = stream::iter(dead)
        .map(|(user_id, token)| async move { ports.devices().prune(user_id, &token).await.map_err(|e| (user_id, e)) })
        .buffer_unordered(16)
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    for (user_id, e) in prune_errors {
        tracing::error!(user_id, error = %Chain(&e), "could not remove a dead token");
    }

    let failed_lines = failed.into_values().map(|(user, devices)| failed_line(user, devices)).collect();
    Ok(BatchResult { counters, failed_lines, skipped_lines: audience.skipped_lines, deferred: audience.deferred })
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
