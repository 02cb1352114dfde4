//! MQTT adapter (rumqttc): one connection task that owns the event loop, reconnects with
//! bounded exponential back-off and jitter (rumqttc retries in a hot loop without one),
//! logs each outage once, re-subscribes and re-announces `online` on every connection, and
//! hands inbound publishes to a bounded channel.

use crate::metrics::Metrics;
use crate::time::EventTime;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(
        "bad MQTT URL `{url}`: {reason}\n  fix: use mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883"
    )]
    Url { url: String, reason: String },
    #[error("could not connect to the MQTT broker at {url} within {secs} s (last error: {last})\n  fix: check the broker is running and reachable, or omit --mqtt to use the embedded broker")]
    Timeout {
        url: String,
        secs: u64,
        last: String,
    },
}

/// `mqtt://host:port` or `tcp://host:port` (port defaults to 1883) → (host, port).
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or("the scheme must be mqtt:// or tcp://")?;
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() || hostport.contains('/') {
        return Err("expected mqtt://HOST:PORT".into());
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| format!("bad port `{p}`"))?)
        }
        _ => (hostport, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok((host.to_string(), port))
}

/// One inbound publish.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub t_rx: EventTime,
}

/// What to set up on a connection.
#[derive(Clone)]
pub struct LinkOptions {
    pub url: String,
    pub client_id: String,
    pub max_packet_bytes: usize,
    pub subscribe: Vec<String>,
    /// Retained Last Will (topic, payload), set by the broker if we vanish.
    pub will: Option<(String, String)>,
    /// Retained message (topic, payload) published on every (re)connection.
    pub online: Option<(String, String)>,
    pub metrics: Option<Arc<Metrics>>,
    pub inbound_capacity: usize,
    pub clean_session: bool,
}

impl LinkOptions {
    pub fn new(url: &str, client_id: &str) -> Self {
        LinkOptions {
            url: url.into(),
            client_id: client_id.into(),
            max_packet_bytes: 2 * 1024 * 1024,
            subscribe: vec![],
            will: None,
            online: None,
            metrics: None,
            inbound_capacity: 4096,
            clean_session: true,
        }
    }
}

/// A live connection: publish through `client`, receive from `inbound`.
pub struct Link {
    pub client: AsyncClient,
    pub inbound: mpsc::Receiver<Inbound>,
    pub connected: watch::Receiver<bool>,
    /// QoS 1 publications the broker has acknowledged (PUBACK) on this link.
    pub acked: Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
}

impl Link {
    /// Starts the connection task. Does not wait for the broker: see [`Link::wait_connected`].
    pub fn start(o: LinkOptions) -> Result<Link, MqttError> {
        let (host, port) = parse_url(&o.url).map_err(|reason| MqttError::Url {
            url: o.url.clone(),
            reason,
        })?;
        let mut opts = MqttOptions::new(o.client_id.clone(), host, port);
        opts.set_keep_alive(Duration::from_secs(15));
        opts.set_max_packet_size(o.max_packet_bytes, o.max_packet_bytes);
        opts.set_clean_session(o.clean_session);
        opts.set_inflight(200);
        if let Some((t, p)) = &o.will {
            opts.set_last_will(LastWill::new(t, p.clone(), QoS::AtLeastOnce, true));
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
        // Small MQTT packets must not wait for Nagle's algorithm (up to ~40 ms with delayed
        // ACKs): an alert is a few hundred bytes and should leave at once.
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let (tx, inbound) = mpsc::channel(o.inbound_capacity);
        let (ctx, connected) = watch::channel(false);
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(drive(eventloop, client.clone(), o, tx, ctx, acked.clone()));
        Ok(Link {
            client,
            inbound,
            connected,
            acked,
            task,
        })
    }

    /// Waits until connected (ConnAck received, and SubAck when subscribing), or errors
    /// after `secs`.
    pub async fn wait_connected(&mut self, url: &str, secs: u64) -> Result<(), MqttError> {
        let r =
            tokio::time::timeout(Duration::from_secs(secs), self.connected.wait_for(|c| *c)).await;
        match r {
            Ok(Ok(_)) => Ok(()),
            _ => Err(MqttError::Timeout {
                url: url.to_string(),
                secs,
                last: "no connection acknowledgement".into(),
            }),
        }
    }

    /// Waits until the broker has acknowledged `n` QoS 1 publications, for at most `secs`.
    pub async fn wait_acked(&self, n: u64, secs: f64) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        while self.acked.load(std::sync::atomic::Ordering::Relaxed) < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Disconnects cleanly (no Last Will) and waits for the connection task to finish.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn drive(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    o: LinkOptions,
    tx: mpsc::Sender<Inbound>,
    connected: watch::Sender<bool>,
    acked: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut down_since: Option<std::time::Instant> = None;
    let mut ever_connected = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                if let Some(since) = down_since.take() {
                    tracing::info!(
                        "MQTT connection to {} restored after {:.1} s",
                        o.url,
                        since.elapsed().as_secs_f64()
                    );
                }
                if ever_connected {
                    if let Some(m) = &o.metrics {
                        m.mqtt_reconnects.inc();
                    }
                } else {
                    tracing::info!("connected to MQTT broker {}", o.url);
                }
                ever_connected = true;
                if let Some(m) = &o.metrics {
                    m.mqtt_connected.set(1);
                }
                for t in &o.subscribe {
                    if let Err(e) = client.try_subscribe(t, QoS::AtLeastOnce) {
                        tracing::error!("cannot subscribe to {t}: {e}");
                    }
                }
                if let Some((t, p)) = &o.online {
                    if let Err(e) = client.try_publish(t, QoS::AtLeastOnce, true, p.clone()) {
                        tracing::error!("cannot publish status on {t}: {e}");
                    }
                }
                // "Connected" means able to receive: with subscriptions, wait for SubAck.
                if o.subscribe.is_empty() {
                    let _ = connected.send(true);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = connected.send(true);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let msg = Inbound {
                    topic: p.topic.clone(),
                    payload: p.payload,
                    t_rx: EventTime::now(),
                };
                if tx.send(msg).await.is_err() {
                    // The consumer is gone: we are shutting down.
                    break;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                // Drain the disconnect onto the wire, then stop.
                let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
                break;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = connected.send(false);
                if let Some(m) = &o.metrics {
                    m.mqtt_connected.set(0);
                }
                if down_since.is_none() {
                    tracing::warn!(
                        "MQTT connection to {} lost or refused: {e}; retrying with back-off",
                        o.url
                    );
                    down_since = Some(std::time::Instant::now());
                } else {
                    tracing::debug!("MQTT still down: {e}");
                }
                let jitter = Duration::from_millis(
                    rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1),
                );
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    let _ = connected.send(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(parse_url("tcp://broker").unwrap(), ("broker".into(), 1883));
        assert_eq!(
            parse_url("mqtt://[::1]:1884").unwrap(),
            ("::1".into(), 1884)
        );
        assert!(parse_url("http://x:1").is_err());
        assert!(parse_url("mqtt://x:notaport").is_err());
        assert!(parse_url("mqtt://").is_err());
    }
}
