//! The apps a deployment sends to. Every device belongs to an app (its bundle
//! id or package name, from the devices API or an inline `app`), and is sent
//! with that app's topic and credentials: an iOS and an iPad app, a debug and
//! a release bundle, or two brands can share one devices table without their
//! tokens being sent to the wrong app (and pruned for it).
//!
//! `APPS` is a JSON list: `{"app": "com.example.ios", "platform": "ios",
//! "environment": "development"}` (APNs' sandbox endpoint, for debug builds),
//! `{"app": "com.example.android", "platform": "android", "project":
//! "example-dev", "service_account": "<secret ARN or file:/path>"}` (another
//! Firebase project, with its own key). Without `APPS` there is one app per
//! platform: `APNS_TOPIC` and the FCM project, the one-line default.

use std::collections::HashMap;

use http::HeaderValue;
use serde::Deserialize;

use crate::batch::{Device, Platform};
use crate::config::SecretSource;

/// Longest app id accepted (a bundle id or package name).
pub const MAX_APP_CHARS: usize = 256;

/// Why a string is not an app id, or None when it is one.
pub fn app_id_problem(app: &str) -> Option<&'static str> {
    if app.trim().is_empty() {
        Some("must not be empty (leave it out instead)")
    } else if app.chars().count() > MAX_APP_CHARS {
        Some("is longer than 256 characters")
    } else if !app.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        // Bundle ids and package names: letters, digits, `.`, `_` and `-`.
        // Anything else is not an app id, and may be markup meant for a page.
        Some("must be a bundle id or package name (letters, digits, `.`, `_`, `-`)")
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApnsEnvironment {
    /// `api.push.apple.com`: App Store, TestFlight and ad hoc builds.
    #[default]
    Production,
    /// `api.sandbox.push.apple.com`: builds signed for development.
    Development,
}

/// Where one device's request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The APNs endpoint of the app's environment, with its topic.
    Apns { environment: ApnsEnvironment, topic: HeaderValue },
    /// The FCM client of the app's Firebase project (None: the default one).
    Fcm { project: Option<String> },
    /// The subscription's own push service, named by its endpoint: a
    /// browser subscribes for a site, not an app, so there is nothing to
    /// configure per app.
    WebPush,
}

/// Every web device goes out the same way, whatever `app` it names.
static WEB: App = App { id: String::new(), platform: Platform::Web, route: Route::WebPush, service_account: None };

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: String,
    pub platform: Platform,
    pub route: Route,
    /// An Android app in another Firebase project: that project's key.
    pub service_account: Option<SecretSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    app: String,
    platform: String,
    #[serde(default)]
    environment: Option<ApnsEnvironment>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    service_account: Option<String>,
}

/// A device whose app is not one of the deployment's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown app {app:?} for {platform}: it is not in APPS")]
pub struct UnknownApp {
    pub app: String,
    pub platform: &'static str,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Apps {
    by_id: HashMap<(Platform, String), App>,
    /// Devices without an app go to these.
    defaults: HashMap<Platform, App>,
}

impl Apps {
    /// The one-line default: one app per configured platform. One Firebase
    /// project can hold several Android apps, so until `APPS` lists Android
    /// apps, any package name goes to the default project; an iOS app is its
    /// topic, so only `APNS_TOPIC` is known.
    pub fn single(default_topic: Option<&str>, fcm: bool) -> Result<Self, String> {
        let mut apps = Apps::default();
        if let Some(topic) = default_topic.filter(|t| !t.is_empty()) {
            let app = ios(topic, ApnsEnvironment::Production)?;
            apps.by_id.insert((Platform::Ios, topic.to_owned()), app.clone());
            apps.defaults.insert(Platform::Ios, app);
        }
        if fcm {
            let app = App {
                id: String::new(),
                platform: Platform::Android,
                route: Route::Fcm { project: None },
                service_account: None,
            };
            apps.defaults.insert(Platform::Android, app);
        }
        Ok(apps)
    }

    /// `APPS` over the single default: the default apps stay, for devices
    /// that name none; every listed app is added. `default_project` is the
    /// FCM project of the main key (an app naming it needs no key of its own).
    pub fn parse(json: &str, default_topic: Option<&str>, default_project: Option<&str>) -> Result<Self, String> {
        let entries: Vec<AppEntry> =
            serde_json::from_str(json).map_err(|e| format!("APPS is not a list of apps: {e}"))?;
        let mut apps = Apps::single(default_topic, true)?;
        for (i, e) in entries.into_iter().enumerate() {
            let at = |field: &str| format!("APPS[{i}].{field}");
            if let Some(problem) = app_id_problem(&e.app) {
                return Err(format!("{} {problem}", at("app")));
            }
            let platform = Platform::parse(&e.platform)
                .ok_or_else(|| format!("{} must be ios or android, got {:?}", at("platform"), e.platform))?;
            let app = match platform {
                Platform::Ios => {
                    if e.project.is_some() || e.service_account.is_some() {
                        return Err(format!("{}: `project` and `service_account` are for android apps", at("app")));
                    }
                    ios(&e.app, e.environment.unwrap_or_default())?
                }
                // A browser subscribes for a site, not an app: see Route::WebPush.
                Platform::Web => return Err(format!("{}: web devices need no entry in APPS", at("platform"))),
                Platform::Android => {
                    if e.environment.is_some() {
                        return Err(format!("{}: `environment` is for ios apps", at("app")));
                    }
                    let project = e.project.filter(|p| Some(p.as_str()) != default_project);
                    let service_account = match (&project, e.service_account) {
                        (Some(_), Some(s)) => Some(SecretSource::parse(&s)),
                        (Some(p), None) => {
                            return Err(format!(
                                "{} is in project {p}, which needs its own `service_account`",
                                at("app")
                            ));
                        }
                        (None, _) => None,
                    };
                    App { id: e.app.clone(), platform, route: Route::Fcm { project }, service_account }
                }
            };
            if apps.by_id.insert((platform, e.app.clone()), app).is_some() && Some(e.app.as_str()) != default_topic {
                return Err(format!("{} lists {} twice", at("app"), e.app));
            }
        }
        Ok(apps)
    }

    /// The app a device is sent as.
    pub fn resolve(&self, device: &Device) -> Result<&App, UnknownApp> {
        if device.platform == Platform::Web {
            return Ok(&WEB);
        }
        let unknown = |app: &str| UnknownApp { app: app.to_owned(), platform: device.platform.as_str() };
        match &device.app {
            Some(id) => match self.by_id.get(&(device.platform, id.clone())) {
                Some(app) => Ok(app),
                None if device.platform == Platform::Android && !self.lists(Platform::Android) => {
                    self.defaults.get(&Platform::Android).ok_or_else(|| unknown(id))
                }
                None => Err(unknown(id)),
            },
            None => self.defaults.get(&device.platform).ok_or_else(|| unknown("(none)")),
        }
    }

    fn lists(&self, platform: Platform) -> bool {
        self.by_id.keys().any(|(p, _)| *p == platform)
    }

    /// Whether the devices API may register a token for this app.
    pub fn knows(&self, platform: Platform, app: &str) -> bool {
        let device = Device { app: Some(app.to_owned()), ..Device::new(platform, "") };
        self.resolve(&device).is_ok()
    }

    /// Every FCM project other than the default, with its key.
    pub fn fcm_projects(&self) -> Vec<(String, SecretSource)> {
        let mut out: Vec<(String, SecretSource)> = self
            .by_id
            .values()
            .filter_map(|a| match (&a.route, &a.service_account) {
                (Route::Fcm { project: Some(p) }, Some(key)) => Some((p.clone(), key.clone())),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Whether any app sends through APNs' development endpoint.
    pub fn uses_apns_development(&self) -> bool {
        self.by_id.values().any(|a| matches!(a.route, Route::Apns { environment: ApnsEnvironment::Development, .. }))
    }
}

fn ios(topic: &str, environment: ApnsEnvironment) -> Result<App, String> {
    let topic = HeaderValue::from_str(topic).map_err(|_| format!("{topic:?} is not a usable apns-topic"))?;
    let id = topic.to_str().map_err(|_| "an apns-topic is ASCII".to_string())?.to_owned();
    Ok(App { id, platform: Platform::Ios, route: Route::Apns { environment, topic }, service_account: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(platform: Platform, app: Option<&str>) -> Device {
        Device { app: app.map(str::to_owned), ..Device::new(platform, "t") }
    }

    #[test]
    fn the_single_default_serves_devices_without_an_app() {
        let apps = Apps::single(Some("com.example"), true).unwrap();
        let ios = apps.resolve(&device(Platform::Ios, None)).unwrap();
        assert_eq!(
            ios.route,
            Route::Apns { environment: ApnsEnvironment::Production, topic: HeaderValue::from_static("com.example") }
        );
        assert!(apps.resolve(&device(Platform::Ios, Some("com.example"))).is_ok());
        assert_eq!(
            apps.resolve(&device(Platform::Ios, Some("com.other"))).unwrap_err().to_string(),
            "unknown app \"com.other\" for ios: it is not in APPS"
        );
        assert_eq!(apps.resolve(&device(Platform::Android, None)).unwrap().route, Route::Fcm { project: None });
        assert!(apps.knows(Platform::Android, "any.package"), "one project holds every package until APPS lists them");
        let web = Device { app: Some("any.site".into()), ..Device::new(Platform::Web, "https://push.example/1") };
        assert_eq!(apps.resolve(&web).unwrap().route, Route::WebPush, "a browser needs no app");
    }

    #[test]
    fn apps_route_by_environment_and_project() {
        let apps = Apps::parse(
            r#"[{"app": "com.example.debug", "platform": "ios", "environment": "development"},
                {"app": "com.example.ipad", "platform": "ios"},
                {"app": "com.example.android", "platform": "android", "project": "main"},
                {"app": "com.brand.android", "platform": "android", "project": "brand", "service_account": "file:/k.json"}]"#,
            Some("com.example"),
            Some("main"),
        )
        .unwrap();
        let debug = apps.resolve(&device(Platform::Ios, Some("com.example.debug"))).unwrap();
        assert!(
            matches!(&debug.route, Route::Apns { environment: ApnsEnvironment::Development, topic } if topic == "com.example.debug")
        );
        let ipad = apps.resolve(&device(Platform::Ios, Some("com.example.ipad"))).unwrap();
        assert!(matches!(&ipad.route, Route::Apns { topic, .. } if topic == "com.example.ipad"));
        let main = apps.resolve(&device(Platform::Android, Some("com.example.android"))).unwrap();
        assert_eq!(main.route, Route::Fcm { project: None }, "the default project needs no key of its own");
        let brand = apps.resolve(&device(Platform::Android, Some("com.brand.android"))).unwrap();
        assert_eq!(brand.route, Route::Fcm { project: Some("brand".into()) });
        assert_eq!(apps.fcm_projects().len(), 1);
        assert!(!apps.knows(Platform::Android, "any.package"), "listed, so only the listed ones");
        assert!(apps.uses_apns_development());
    }

    #[test]
    fn bad_apps_are_named() {
        for (json, needle) in [
            (r#"[{"app": "<b>", "platform": "ios"}]"#, "APPS[0].app must be a bundle id"),
            (r#"[{"app": "a.b", "platform": "windows"}]"#, "APPS[0].platform must be ios or android"),
            (r#"[{"app": "a.b", "platform": "web"}]"#, "APPS[0].platform: web devices need no entry"),
            (r#"[{"app": "a.b", "platform": "android", "project": "other"}]"#, "needs its own `service_account`"),
            (r#"[{"app": "a.b", "platform": "ios", "colour": "red"}]"#, "unknown field `colour`"),
            (
                r#"[{"app": "a.b", "platform": "ios"}, {"app": "a.b", "platform": "ios"}]"#,
                "APPS[1].app lists a.b twice",
            ),
        ] {
            let e = Apps::parse(json, Some("com.example"), Some("main")).unwrap_err();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }
}
