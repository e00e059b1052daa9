//! Routes a request to registration, unregistration or preferences and
//! answers it.
//!
//! Order of checks: who is calling (401), which route (404/405), may they
//! act on `{id}` (403), is the request well-formed (400/413/415), is its app
//! one of the deployment's (400); only then is anything written, so a
//! refused request never changes the table.

use std::time::Instant;

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use shared::batch::Platform;
use shared::devices::{DeviceError, DeviceRegister, DeviceUnregister, PreferencesStore, Registered, Registration};
use shared::metrics::{self, Provider};
use tracing::{info, warn};

use crate::auth::{self, Caller};
use crate::body::{self, RegisterBody};
use crate::preferences;
use crate::problem::{ApiError, empty_response, json_response};
use crate::settings::Settings;
use shared::errors::Chain;

/// The routes, with their path parameters (the `/backend/` twins route
/// alike: only the authorizer differs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `PUT /users/{id}/devices`
    Register { user_id: String },
    /// `DELETE /users/{id}/devices/{token}`
    Unregister { user_id: String, token: String },
    /// `PUT /users/{id}/preferences`
    PutPreferences { user_id: String },
    /// `GET /users/{id}/preferences`
    GetPreferences { user_id: String },
}

impl Route {
    fn name(&self) -> &'static str {
        match self {
            Route::Register { .. } => "register",
            Route::Unregister { .. } => "unregister",
            Route::PutPreferences { .. } => "put_preferences",
            Route::GetPreferences { .. } => "get_preferences",
        }
    }

    fn user_id(&self) -> &str {
        match self {
            Route::Register { user_id }
            | Route::Unregister { user_id, .. }
            | Route::PutPreferences { user_id }
            | Route::GetPreferences { user_id } => user_id,
        }
    }
}

/// The route, from the method, the path parameters API Gateway matched and
/// the path's last segment.
pub fn route(request: &Request) -> Result<Route, ApiError> {
    let params = request.path_parameters_ref();
    let param = |name: &str| params.and_then(|p| p.first(name)).map(str::to_owned);
    let preferences = request.uri().path().ends_with("/preferences");
    match (request.method(), param("id"), param("token")) {
        (&Method::PUT, Some(user_id), None) if preferences => Ok(Route::PutPreferences { user_id }),
        (&Method::GET, Some(user_id), None) if preferences => Ok(Route::GetPreferences { user_id }),
        (_, Some(_), None) if preferences => Err(ApiError::MethodNotAllowed { allow: "GET, PUT" }),
        (&Method::PUT, Some(user_id), None) => Ok(Route::Register { user_id }),
        (&Method::DELETE, Some(user_id), Some(token)) => Ok(Route::Unregister { user_id, token }),
        (_, Some(_), None) => Err(ApiError::MethodNotAllowed { allow: "PUT" }),
        (_, Some(_), Some(_)) => Err(ApiError::MethodNotAllowed { allow: "DELETE" }),
        (_, None, _) => Err(ApiError::NotFound),
    }
}

/// Answers one request; store failures become 503s, never Lambda errors, so
/// API Gateway always relays a JSON answer.
pub async fn handle<S>(store: &S, settings: &Settings, request: Request, now: DateTime<Utc>) -> Response<Body>
where
    S: DeviceRegister + DeviceUnregister + PreferencesStore,
{
    let started = Instant::now();
    let caller = auth::caller(&request);
    let route = route(&request);
    let route_name = route.as_ref().map_or("none", Route::name);
    let user_id = route.as_ref().map(|r| r.user_id().to_owned()).unwrap_or_default();
    let response = match answer(store, settings, caller.as_ref(), route, &request, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let caller_kind = match caller {
        Some(Caller::User(_)) => "user",
        Some(Caller::Backend(_)) => "backend",
        None => "none",
    };
    info!(
        route = route_name,
        method = %request.method(),
        status = response.status().as_u16(),
        user_id = %user_id,
        caller = caller_kind,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "devices request"
    );
    response
}

async fn answer<S>(
    store: &S,
    settings: &Settings,
    caller: Option<&Caller>,
    route: Result<Route, ApiError>,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Response<Body>, ApiError>
where
    S: DeviceRegister + DeviceUnregister + PreferencesStore,
{
    let caller = caller.ok_or(ApiError::Unauthenticated)?;
    let route = route?;
    let user_id = body::user_id(route.user_id())?;
    auth::authorize(caller, user_id)?;
    match &route {
        Route::Register { .. } => {
            let parsed = body::register_body(request.headers(), request.body())?;
            known_app(settings, &parsed)?;
            let registration = Registration { device: parsed.device, app: parsed.app, at: now };
            let outcome = store
                .register(user_id, &registration, settings.max_devices)
                .await
                .map_err(|e| store_error(&e, user_id))?;
            // An evicted entry's platform was read back from the table;
            // one that no longer parses is not counted.
            let evicted: Vec<Provider> =
                outcome.evicted.iter().filter_map(|e| Platform::parse(&e.platform)).map(Provider::from).collect();
            metrics::devices::registered(registration.device.platform.into(), outcome.created, &evicted);
            Ok(registered(user_id, &registration, &outcome))
        }
        Route::Unregister { token, .. } => {
            for spelling in body::path_token(token)? {
                if store.unregister(user_id, &spelling).await.map_err(|e| store_error(&e, user_id))? {
                    break;
                }
            }
            // Absent or removed alike: the device is not registered now,
            // which is what the caller asked for.
            metrics::devices::unregistered();
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        Route::PutPreferences { .. } => {
            let document = preferences::preferences_body(request.headers(), request.body())?;
            store.put_preferences(user_id, &document).await.map_err(|e| store_error(&e, user_id))?;
            Ok(json_response(StatusCode::OK, &preferences::to_json(&document)))
        }
        Route::GetPreferences { .. } => {
            let document = store.get_preferences(user_id).await.map_err(|e| store_error(&e, user_id))?;
            Ok(json_response(StatusCode::OK, &preferences::to_json(&document)))
        }
    }
}

/// With `APPS` set, the device's app must be one send-batch can send it as:
/// a listed app, or the platform's default app when it names none.
fn known_app(settings: &Settings, parsed: &RegisterBody) -> Result<(), ApiError> {
    let Some(apps) = &settings.apps else { return Ok(()) };
    match (apps.resolve(&parsed.device), &parsed.app) {
        (Ok(_), _) => Ok(()),
        (Err(unknown), Some(_)) => Err(ApiError::InvalidField {
            field: "app",
            reason: format!("{unknown}; tokens are registered only for the deployment's apps"),
        }),
        (Err(_), None) => Err(ApiError::InvalidField {
            field: "app",
            reason: format!(
                "is required: this deployment has no default {} app, so name one of its apps",
                parsed.device.platform.as_str()
            ),
        }),
    }
}

fn store_error(error: &DeviceError, user_id: &str) -> ApiError {
    match error {
        // A lost race, answered as such; nothing went wrong with the table.
        DeviceError::Claimed { .. } => {
            info!(user_id = %user_id, "token claimed by another user at the same time");
            ApiError::Conflict { field: "token" }
        }
        DeviceError::Contended { .. } | DeviceError::TokenContended { .. } => {
            warn!(error = %Chain(error), user_id = %user_id, "devices table write contended");
            ApiError::Busy
        }
        _ => {
            warn!(error = %Chain(error), user_id = %user_id, "devices table write failed");
            ApiError::Unavailable
        }
    }
}

/// `201` for a new device, `200` for a refreshed one; the body echoes what is
/// stored and names any device evicted for the cap.
fn registered(user_id: &str, registration: &Registration, outcome: &Registered) -> Response<Body> {
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    let mut device = json!({
        "platform": registration.device.platform.as_str(),
        "token": registration.device.token,
        "updated_at": registration.updated_at(),
    });
    if let Some(app) = &registration.app {
        device["app"] = json!(app);
    }
    let evicted: Vec<_> = outcome.evicted.iter().map(|e| json!({"platform": e.platform, "token": e.token})).collect();
    json_response(
        status,
        &json!({"user_id": user_id, "device": device, "created": outcome.created, "evicted": evicted}),
    )
}
