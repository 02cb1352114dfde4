//! The embedded MQTT broker (rumqttd), for a vigie that runs with no broker of its own.
//!
//! rumqttd's quirks, handled here: it cannot bind port 0 (callers pick a port), it has no
//! shutdown (one broker per process, on a thread that lives as long as the process), it
//! only *logs* a failed bind (we check the port first and then poll until it accepts), and
//! its router limits must be set explicitly (zeros disconnect every client).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot start the embedded MQTT broker on {addr}: {source}\n  fix: the port is probably taken (another broker?). Use that broker with --mqtt mqtt://{addr}, or set mqtt.embedded_listen to another port")]
    PortTaken {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the embedded MQTT broker on {0} did not start accepting connections within 10 s")]
    NotAccepting(SocketAddr),
}

/// Starts rumqttd on `addr` (MQTT 3.1.1) and returns once it accepts connections.
pub fn start(addr: SocketAddr, max_packet_bytes: usize) -> Result<(), BrokerError> {
    // rumqttd only logs a bind failure; find out ourselves first.
    drop(TcpListener::bind(addr).map_err(|source| BrokerError::PortTaken { addr, source })?);
    let router = rumqttd::RouterConfig {
        max_connections: 1000,
        max_outgoing_packet_count: 1000,
        max_segment_size: 64 * 1024 * 1024,
        max_segment_count: 10,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    };
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: max_packet_bytes,
        max_inflight_count: 1000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "vigie-embedded".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router,
        v4: Some(HashMap::from([("1".to_string(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!("embedded MQTT broker stopped: {e}");
            }
        })
        .expect("spawning the broker thread");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotAccepting(addr))
}

/// A free loopback port, for tests and for `vigie run --embedded-port 0`.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
