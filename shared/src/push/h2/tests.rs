//! The pool against a local HTTP/2 server whose connections misbehave on
//! purpose: one that stops answering (pings included), one that says GOAWAY.
//! Either way the pool must drop the connection and the next request must
//! get a new one, without waiting for its own timeout.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::{H2Pool, PoolOptions, TransportError};

/// What the server does on one connection.
#[derive(Debug, Clone, Copy)]
enum Conduct {
    /// Answers every request.
    Answer,
    /// Answers the first request, then reads nothing more: no answers, no
    /// pongs, the socket left open.
    FallSilent,
    /// Answers the first request and closes with GOAWAY.
    GoAway,
    /// Holds the first request unanswered; answers the second and closes
    /// with GOAWAY, so the connection stays open for the first.
    GoAwayWhileBusy,
}

struct Server {
    origin: String,
    ca: tempfile::NamedTempFile,
    /// The index of each connection the server accepts.
    accepted: mpsc::UnboundedReceiver<usize>,
}

/// Reads the whole request, as a provider does, then answers 200.
async fn answer(request: Request<::h2::RecvStream>, mut respond: ::h2::server::SendResponse<Bytes>) {
    let mut body = request.into_body();
    while let Some(chunk) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.unwrap().len());
    }
    respond.send_response(Response::new(()), true).unwrap();
}

async fn serve(conduct: fn(usize) -> Conduct) -> Server {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    ca.write_all(certified.cert.pem().as_bytes()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (tx, accepted) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for index in 0.. {
            let (tcp, _) = listener.accept().await.unwrap();
            tx.send(index).unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                let mut connection = ::h2::server::handshake(tls).await.unwrap();
                let mut received = 0;
                let mut held = Vec::new();
                while let Some(request) = connection.accept().await {
                    let (request, respond) = request.unwrap();
                    received += 1;
                    match conduct(index) {
                        // Keeps the connection (and its socket) without ever
                        // reading from it again: no answer, no pong.
                        Conduct::FallSilent if received > 1 => std::future::pending::<()>().await,
                        // Answers this request, then closes: the client may
                        // open no new stream on this connection.
                        Conduct::GoAway => connection.graceful_shutdown(),
                        Conduct::GoAwayWhileBusy if received == 1 => {
                            held.push((request, respond));
                            continue;
                        }
                        Conduct::GoAwayWhileBusy => connection.graceful_shutdown(),
                        _ => {}
                    }
                    tokio::spawn(answer(request, respond));
                }
            });
        }
    });
    Server { origin, ca, accepted }
}

fn pool(server: &Server, request_timeout: Duration) -> H2Pool {
    let tls = crate::push::client_config(Some(server.ca.path())).unwrap();
    let options = PoolOptions { connections: 1, max_in_flight: 10, request_timeout };
    H2Pool::new(&server.origin, tls, &options).unwrap()
}

fn request(server: &Server) -> Request<Bytes> {
    Request::post(format!("{}/3/device/abc", server.origin)).body(Bytes::from_static(b"{}")).unwrap()
}

#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_replaced() {
    let mut server = serve(|index| if index == 0 { Conduct::FallSilent } else { Conduct::Answer }).await;
    // Pings every 20 ms, dead after 100 ms without a pong; a request would
    // wait 30 s, so an answer within that means the pings found the silence.
    let pool =
        pool(&server, Duration::from_secs(30)).with_keep_alive(Duration::from_millis(20), Duration::from_millis(100));

    let first = pool.send(request(&server)).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(server.accepted.recv().await, Some(0));

    let stuck = pool.send(request(&server)).await.unwrap_err();
    assert!(!matches!(stuck, TransportError::Timeout(_)), "the ping, not the request's timeout, ends it: {stuck}");

    let next = pool.send(request(&server)).await.unwrap();
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(server.accepted.recv().await, Some(1), "a second connection");
}

#[tokio::test]
async fn a_connection_that_says_goaway_is_replaced() {
    let mut server = serve(|index| if index == 0 { Conduct::GoAway } else { Conduct::Answer }).await;
    let pool = pool(&server, Duration::from_secs(30));

    assert_eq!(pool.send(request(&server)).await.unwrap().status(), StatusCode::OK);
    assert_eq!(server.accepted.recv().await, Some(0));
    the_next_requests_reach_a_new_connection(&pool, &mut server).await;
}

/// The request after a GOAWAY may go out before the GOAWAY is read (and be
/// refused), or after it (and open a new connection): either way one of the
/// next two is answered on a second connection, and none waits for its
/// timeout.
async fn the_next_requests_reach_a_new_connection(pool: &H2Pool, server: &mut Server) {
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(pool.send(request(server)).await.map(|r| r.status()));
    }
    assert!(answers.iter().any(|a| matches!(a, Ok(StatusCode::OK))), "{answers:?}");
    assert!(answers.iter().all(|a| !matches!(a, Err(TransportError::Timeout(_)))), "{answers:?}");
    assert_eq!(server.accepted.recv().await, Some(1), "a second connection");
}

#[tokio::test]
async fn a_connection_going_away_with_a_request_in_flight_takes_no_new_ones() {
    let mut server = serve(|index| if index == 0 { Conduct::GoAwayWhileBusy } else { Conduct::Answer }).await;
    // Short enough that a request left on the old connection fails the test
    // in seconds, not minutes.
    let pool = Arc::new(pool(&server, Duration::from_secs(5)));

    let held = tokio::spawn({
        let (pool, request) = (pool.clone(), request(&server));
        async move { pool.send(request).await.map(|r| r.status()) }
    });
    assert_eq!(server.accepted.recv().await, Some(0));
    assert_eq!(pool.send(request(&server)).await.unwrap().status(), StatusCode::OK);

    the_next_requests_reach_a_new_connection(&pool, &mut server).await;
    held.abort();
}
