//! Real health checks, one per endpoint: each asks the service something it
//! only answers when it actually works, not merely whether a port is open
//! (except `cargo lambda watch`, whose only cheap probe is a connect).

use std::time::Duration;

use super::parts::{Endpoint, Ports, http_url, listen_addr};

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// An HTTP client for health checks: short timeouts, and never an
/// environment proxy (loopback traffic must not leave the machine).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CHECK_TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
        .build()
        // Building only fails when TLS roots cannot be loaded; the checks use
        // plain HTTP, so fall back to the default client.
        .unwrap_or_default()
}

/// `Ok(())` when healthy, else a one-line reason.
pub async fn check(client: &reqwest::Client, endpoint: Endpoint, ports: Ports) -> Result<(), String> {
    let base = endpoint.url(ports);
    match endpoint {
        Endpoint::Moto => expect_ok(client.get(format!("{base}/moto-api/"))).await,
        // ListBuckets through the proxy: proves the proxy and moto behind it.
        Endpoint::S3Proxy => expect_ok(client.get(format!("{base}/"))).await,
        Endpoint::Plane => expect_ok(client.get(format!("{base}/_plane/health"))).await,
        // The gateway has no path of its own (any path may be a route): the
        // plane says where its gateway listens, and that port must answer.
        Endpoint::Gateway => {
            let health = json_of(client.get(format!("{}/_plane/health", Endpoint::Plane.url(ports)))).await?;
            let expected = listen_addr(ports.gateway());
            match health["gateway"].as_str() {
                Some(addr) if addr == expected => connect(ports.gateway()).await,
                other => Err(format!("the plane's gateway is {other:?}, not {expected}")),
            }
        }
        // Discovery must name this issuer: tokens carry that URL as `iss`.
        Endpoint::Issuer => {
            let discovery = json_of(client.get(format!("{base}/.well-known/openid-configuration"))).await?;
            let expected = http_url(ports.issuer());
            match discovery["issuer"].as_str() {
                Some(issuer) if issuer == expected => Ok(()),
                other => Err(format!("discovery names issuer {other:?}, not {expected}")),
            }
        }
        Endpoint::Dynalite => {
            // dynalite insists on a SigV4-shaped Authorization header but
            // does not verify the signature.
            let request = client
                .post(format!("{base}/"))
                .header("x-amz-target", "DynamoDB_20120810.ListTables")
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-date", "20240101T000000Z")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, \
                     SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
                )
                .body("{}");
            expect_ok(request).await
        }
        Endpoint::Ses => expect_ok(client.get(format!("{base}/store"))).await,
        Endpoint::Sandbox => expect_ok(client.get(format!("{base}/health"))).await,
        Endpoint::Watch => connect(endpoint.port(ports)).await,
    }
}

async fn connect(port: u16) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, tokio::net::TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err("connect timed out".to_string()),
    }
}

async fn json_of(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    let response = request.send().await.map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| format!("not JSON: {e}"))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    }
}

async fn expect_ok(request: reqwest::RequestBuilder) -> Result<(), String> {
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("HTTP {}", response.status())),
        Err(e) => Err(describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_ports_are_unhealthy() {
        // Bind then drop a listener to get a port that nothing serves.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let ports = Ports::new(port - 7);
        let client = http_client();
        let reason = check(&client, Endpoint::Watch, ports).await.unwrap_err();
        assert!(reason.starts_with("connect"), "{reason}");
    }
}
