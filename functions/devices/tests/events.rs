//! Every sample in events/ for devices is a request the handler accepts and
//! answers with success (`cargo lambda invoke devices --data-file …`).

use std::path::{Path, PathBuf};

use chrono::Utc;
use devices::handler::{Route, handle, route};
use devices::settings::Settings;
use shared::devices::{DeviceLookup, MemoryDevices, PreferencesStore};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn sample(name: &str) -> lambda_http::Request {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn settings() -> Settings {
    Settings::new("unused", 10)
}

#[test]
fn every_devices_sample_is_an_api_gateway_request_for_a_route() {
    let mut seen = 0;
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("devices-") {
            let request = sample(&name);
            assert!(route(&request).is_ok(), "{name} matches no route");
            seen += 1;
        }
    }
    assert!(seen >= 5, "expected the put, delete, backend and preferences samples, found {seen}");
}

#[tokio::test]
async fn put_then_delete_samples_register_and_unregister() {
    let store = MemoryDevices::default();
    let put = sample("devices-put.json");
    assert_eq!(route(&put).unwrap(), Route::Register { user_id: "u-1".into() });
    let response = handle(&store, &settings(), put, Utc::now()).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert_eq!(store.lookup(&["u-1".into()]).await.unwrap()["u-1"].devices.len(), 1);

    let response = handle(&store, &settings(), sample("devices-delete.json"), Utc::now()).await;
    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(store.lookup(&["u-1".into()]).await.unwrap()["u-1"].devices.is_empty());
}

#[tokio::test]
async fn backend_sample_registers_for_any_user() {
    let store = MemoryDevices::default();
    let response = handle(&store, &settings(), sample("devices-put-backend.json"), Utc::now()).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let user = &store.lookup(&["u-2".into()]).await.unwrap()["u-2"];
    assert_eq!(user.devices[0].platform, shared::batch::Platform::Android);
}

#[tokio::test]
async fn preferences_samples_put_and_get() {
    let store = MemoryDevices::default();
    let put = sample("devices-preferences-put.json");
    assert_eq!(route(&put).unwrap(), Route::PutPreferences { user_id: "u-1".into() });
    let response = handle(&store, &settings(), put, Utc::now()).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(store.get_preferences("u-1").await.unwrap().locale.as_deref(), Some("pt-BR"));

    let get = sample("devices-preferences-get-backend.json");
    assert_eq!(route(&get).unwrap(), Route::GetPreferences { user_id: "u-2".into() });
    let response = handle(&store, &settings(), get, Utc::now()).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
}
