//! `local status`: a real health check of every endpoint.

use std::path::Path;

use serde::Serialize;

use super::health;
use super::parts::{Endpoint, Part, Ports, StateDir};
use super::process::{group_alive, read_pid};
use crate::table;

/// One row of the status table.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    pub name: &'static str,
    pub part: &'static str,
    pub url: String,
    pub pid: Option<u32>,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub port_base: u16,
    pub endpoints: Vec<EndpointStatus>,
}

impl StatusReport {
    pub fn all_healthy(&self) -> bool {
        self.endpoints.iter().all(|e| e.healthy)
    }

    pub fn get(&self, endpoint: Endpoint) -> Option<&EndpointStatus> {
        self.endpoints.iter().find(|e| e.name == endpoint.name())
    }

    /// The human table: part, url, pid, healthy (with the failure reason).
    pub fn render_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    e.name.to_string(),
                    e.url.clone(),
                    e.pid.map_or_else(|| "-".to_string(), |p| p.to_string()),
                    match (&e.healthy, &e.detail) {
                        (true, _) => "yes".to_string(),
                        (false, Some(reason)) => format!("NO ({reason})"),
                        (false, None) => "NO".to_string(),
                    },
                ]
            })
            .collect();
        table::render(&["part", "url", "pid", "healthy"], &rows)
    }
}

/// Checks the endpoints of `parts` concurrently.
pub async fn status(state_dir: &Path, ports: Ports, parts: &[Part]) -> StatusReport {
    let state = StateDir::new(state_dir);
    let client = health::http_client();
    let endpoints: Vec<Endpoint> = Endpoint::ALL.into_iter().filter(|e| parts.contains(&e.part())).collect();
    let checks = endpoints.iter().map(|&endpoint| {
        let client = &client;
        let state = &state;
        async move {
            let result = health::check(client, endpoint, ports).await;
            let pid = read_pid(&state.pid_file(endpoint.part())).filter(|&pid| group_alive(pid));
            EndpointStatus {
                name: endpoint.name(),
                part: endpoint.part().name(),
                url: endpoint.url(ports),
                pid,
                healthy: result.is_ok(),
                detail: result.err(),
            }
        }
    });
    StatusReport { port_base: ports.base, endpoints: futures::future::join_all(checks).await }
}
