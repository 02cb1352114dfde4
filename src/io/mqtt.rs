//! MQTT adapter (rumqttc): one connection task that owns the event loop, reconnects with
//! bounded exponential back-off and jitter (rumqttc retries in a hot loop without one),
//! logs each outage once, re-subscribes and re-announces `online` on every connection, and
//! hands inbound publishes to a bounded channel.
//!
//! Nothing QoS 1 is lost across an outage. rumqttc moves un-acknowledged publications and
//! everything still queued in its request channel into `EventLoop::pending` when a
//! connection drops, but *throws that list away* when the broker answers the reconnection
//! with `session_present = false` (a broker restarted without its session, or a clean
//! session). The connection task therefore takes the QoS 1 publications out of `pending` at
//! every failure and puts them back, in their original order, once the new connection is
//! acknowledged. QoS 0 track states queued during an outage are stale by then and dropped.
//!
//! With `manual_acks`, an inbound QoS 1 message is acknowledged only after the consumer has
//! processed it ([`Link::ack`]): a message received but not processed when vigie dies is
//! redelivered by the broker to the persistent session on restart.
//!
//! Those acknowledgements do not go through rumqttc's request queue: its event loop writes
//! and flushes each request on its own, so every contact cost a system call (and a turn of
//! the loop) for its PUBACK (issue 23's profile). The connection task takes them from a
//! channel of its own instead, puts every one waiting into the connection's write buffer
//! and flushes once. Why that is safe with rumqttc 0.25: the task stops waiting in
//! `EventLoop::poll` to do it, and a `poll` dropped while waiting loses nothing — it waits
//! only on a read (buffered by its framing), on a flush (what is unwritten stays in the
//! buffer, and the acknowledgements' own flush, waited for to the end, sends it), or on a
//! connection attempt (made again); a write into an empty buffer never waits. An
//! acknowledgement carries the connection it came in on: one from a connection since lost
//! is dropped, as rumqttc drops its own (the broker sends the message again).
//!
//! Alerts take a way of their own to the socket as well ([`Link::try_publish_first`]).
//! rumqttc's `poll` hands out every message it has already read before it looks at the
//! request queue, and then picks at random between reading more and writing a request;
//! the connection task runs on the engine's thread, so each message handed out lets the
//! engine process more before the alert is written — about a millisecond at 10,000
//! contacts a second (issue 23's latency bench). Publications given to `try_publish_first`
//! are written and flushed by the connection task before anything else it does, through
//! rumqttc's own session state (packet id, in-flight window, kept for a resend after an
//! outage like any QoS 1 publication), on the same grounds as the acknowledgements.

use crate::config::broker::{parse_url, Security};
use crate::metrics::Metrics;
use crate::time::EventTime;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, Request};
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

/// One inbound publish.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub t_rx: EventTime,
    /// The broker sent it as a retained message (a subscription's first look at a topic).
    pub retain: bool,
    /// With manual acknowledgements: what to hand back to [`Link::ack`] once processed.
    pub ack: Option<AckToken>,
}

/// Which message to acknowledge, on which connection (see the module comment).
#[derive(Debug, Clone, Copy)]
pub struct AckToken {
    pkid: u16,
    connection: u64,
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
    /// Off: the broker keeps our subscriptions and queues QoS 1 messages while we are away
    /// (needs a fixed client id).
    pub clean_session: bool,
    /// Acknowledge inbound QoS 1 messages only when the consumer calls [`Link::ack`].
    pub manual_acks: bool,
    /// TLS and credentials, when the broker asks for them.
    pub security: Security,
    /// MQTT keep-alive (at least 1 s).
    pub keep_alive: Duration,
    /// For what a broker may not offer (`$SYS`): if the connection ends before the first
    /// subscription is acknowledged, stop instead of retrying (rumqttd hangs up on a `$`
    /// subscription; retrying would reconnect for ever).
    pub stop_if_refused: bool,
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
            manual_acks: false,
            security: Security::default(),
            keep_alive: Duration::from_secs(15),
            stop_if_refused: false,
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
    /// Retained `online` announcements published (one per connection).
    pub online_published: Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
    /// To the connection task, which writes them (see the module comment).
    acks: mpsc::UnboundedSender<AckToken>,
    /// QoS 1 publications to write before anything else ([`Link::try_publish_first`]).
    first: mpsc::Sender<rumqttc::Publish>,
}

impl Link {
    /// Starts the connection task. Does not wait for the broker: see [`Link::wait_connected`].
    pub fn start(o: LinkOptions) -> Result<Link, MqttError> {
        let addr = parse_url(&o.url).map_err(|reason| MqttError::Url {
            url: o.url.clone(),
            reason,
        })?;
        let mut opts = MqttOptions::new(o.client_id.clone(), addr.host, addr.port);
        opts.set_keep_alive(o.keep_alive.max(Duration::from_secs(1)));
        opts.set_max_packet_size(o.max_packet_bytes, o.max_packet_bytes);
        opts.set_clean_session(o.clean_session);
        opts.set_manual_acks(o.manual_acks);
        opts.set_inflight(INFLIGHT);
        if let Some(user) = &o.security.username {
            opts.set_credentials(user, o.security.password.clone().unwrap_or_default());
        }
        if addr.tls {
            // One process-wide crypto provider (ring); a second install is a no-op error.
            let _ = rustls::crypto::ring::default_provider().install_default();
            opts.set_transport(match &o.security.ca_pem {
                Some(ca) => {
                    rumqttc::Transport::tls(ca.clone(), o.security.client_cert.clone(), None)
                }
                None => rumqttc::Transport::tls_with_default_config(),
            });
        } else if o.security.ca_pem.is_some() {
            return Err(MqttError::Url {
                url: o.url.clone(),
                reason: "a CA file is configured but the URL is not mqtts://".into(),
            });
        }
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
        let online_published = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let (first, first_rx) = mpsc::channel(FIRST_CAPACITY);
        let task = tokio::spawn(drive(
            eventloop,
            client.clone(),
            o,
            ConsumerEnds {
                inbound: tx,
                acks: acks_rx,
                first: first_rx,
            },
            ctx,
            acked.clone(),
            online_published.clone(),
        ));
        Ok(Link {
            client,
            inbound,
            connected,
            acked,
            online_published,
            task,
            acks,
            first,
        })
    }

    /// Hands a QoS 1 publication to the connection task to be written before anything
    /// else it does (see the module comment): for alerts, whose latency is counted in
    /// milliseconds. Never waits; false if the queue is full (the caller keeps it and tries
    /// again) or the connection task has stopped. Order is kept among these publications,
    /// not with those made through `client`.
    pub fn try_publish_first(&self, topic: &str, payload: &str, retain: bool) -> bool {
        let mut p = rumqttc::Publish::new(topic, QoS::AtLeastOnce, payload.as_bytes().to_vec());
        p.retain = retain;
        self.first.try_send(p).is_ok()
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

    /// Acknowledges a processed inbound message (with `manual_acks`), in the order the
    /// messages came (MQTT asks it). Never blocks and never drops one: the channel is
    /// unbounded, but holds at most the messages received and not yet acknowledged — the
    /// inbound queue and the broker's in-flight window. (Dropping one stalled vigie for
    /// good once: the broker redelivers only on reconnection, and with its in-flight window
    /// full of unacknowledged messages it sent nothing more; seen in a CI rehearsal.)
    pub fn ack(&mut self, msg: &Inbound) {
        if let Some(token) = msg.ack {
            // Err: the connection task has stopped (shutting down); nothing to acknowledge.
            let _ = self.acks.send(token);
        }
    }

    /// Disconnects cleanly (no Last Will) and waits for the connection task to finish.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// QoS 1 publications held across one outage at most; beyond it the oldest are dropped
/// and counted (`vigie_publish_failures_total`). Alerts are a few hundred bytes: this is
/// hours of alerts, and bounded memory if the broker never comes back.
const MAX_SAVED: usize = 100_000;

/// The connection task's ends of the consumer's two channels: messages to it,
/// acknowledgements from it.
struct ConsumerEnds {
    inbound: mpsc::Sender<Inbound>,
    acks: mpsc::UnboundedReceiver<AckToken>,
    first: mpsc::Receiver<rumqttc::Publish>,
}

/// Publications waiting to be written first ([`Link::try_publish_first`]); as many as
/// rumqttc's own request queue.
const FIRST_CAPACITY: usize = 10_000;
/// QoS 1 publications in flight (sent, not yet acknowledged) on one connection.
const INFLIGHT: u16 = 200;

async fn drive(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    o: LinkOptions,
    ConsumerEnds {
        inbound: tx,
        mut acks,
        first: mut first_rx,
    }: ConsumerEnds,
    connected: watch::Sender<bool>,
    acked: Arc<std::sync::atomic::AtomicU64>,
    online_published: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut down_since: Option<std::time::Instant> = None;
    let mut ever_connected = false;
    let mut ever_subscribed = false;
    // QoS 1 publications kept across an outage (see the module comment).
    let mut saved: std::collections::VecDeque<Request> = Default::default();
    // Which connection the messages come in on, for their acknowledgements.
    let mut connection = 0u64;
    let mut waiting_acks = Vec::with_capacity(256);
    let mut acks_open = true;
    let mut waiting_first = Vec::with_capacity(16);
    let mut first_open = true;
    loop {
        let event = tokio::select! {
            biased;
            // Alerts before anything else (see the module comment).
            n = first_rx.recv_many(&mut waiting_first, 256), if first_open => {
                if n == 0 {
                    first_open = false;
                    continue;
                }
                match write_first(&mut eventloop, &mut waiting_first, &mut saved).await {
                    Ok(()) => continue,
                    Err(e) => Err(e),
                }
            }
            // Then acknowledgements: the broker's in-flight window waits on them.
            n = acks.recv_many(&mut waiting_acks, 4096), if acks_open => {
                if n == 0 {
                    // The `Link` is gone without closing; its task goes on until the
                    // inbound channel says so.
                    acks_open = false;
                    continue;
                }
                match write_acks(&mut eventloop, &mut waiting_acks, connection).await {
                    Ok(()) => continue,
                    Err(e) => {
                        // As rumqttc does on a failed write: what is in flight waits in
                        // `pending` for the next connection.
                        eventloop.clean();
                        Err(e)
                    }
                }
            }
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                connection += 1;
                if !saved.is_empty() {
                    tracing::info!(
                        "re-sending {} QoS 1 publications queued during the outage",
                        saved.len()
                    );
                    for r in saved.iter_mut() {
                        // A new session knows none of our packet ids.
                        if let Request::Publish(p) = r {
                            if !ack.session_present {
                                p.pkid = 0;
                            } else {
                                p.dup = true;
                            }
                        }
                    }
                    saved.extend(eventloop.pending.drain(..));
                    eventloop.pending = std::mem::take(&mut saved);
                }
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
                    match client.try_publish(t, QoS::AtLeastOnce, true, p.clone()) {
                        Ok(()) => {
                            online_published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => tracing::error!("cannot publish status on {t}: {e}"),
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
                ever_subscribed = true;
                let _ = connected.send(true);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                // A publish from the broker proves the connection alive as a ping answer
                // does. Why: when vigie falls behind a flood, the broker's answer to a ping
                // waits behind every message it has queued for vigie; rumqttc, seeing no
                // answer by the next keep-alive tick, drops a connection that is carrying
                // thousands of messages a second, and every unacknowledged contact is
                // delivered again (measured: ping answers 1.3–2.2 s late while strait-200
                // is published flat out; with a 1 s keep-alive, a reconnection per run, 26
                // with a slow-disk broker).
                eventloop.state.await_pingresp = false;
                let ack = (o.manual_acks && p.qos != QoS::AtMostOnce).then_some(AckToken {
                    pkid: p.pkid,
                    connection,
                });
                let msg = Inbound {
                    topic: p.topic.clone(),
                    retain: p.retain,
                    payload: p.payload,
                    t_rx: EventTime::now(),
                    ack,
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
            Err(e) if o.stop_if_refused && !ever_subscribed => {
                tracing::debug!("{}: {e}; not retrying", o.url);
                break;
            }
            Err(e) => {
                let before = saved.len();
                for r in eventloop.pending.drain(..) {
                    match r {
                        Request::Publish(p) if p.qos != QoS::AtMostOnce => {
                            if saved.len() >= MAX_SAVED {
                                saved.pop_front();
                                if let Some(m) = &o.metrics {
                                    m.publish_failures.inc();
                                }
                            }
                            saved.push_back(Request::Publish(p));
                        }
                        // Stale track states; subscriptions are renewed on reconnection.
                        _ => {}
                    }
                }
                if saved.len() > before {
                    tracing::debug!(
                        "{} QoS 1 publications held for the next connection",
                        saved.len()
                    );
                }
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
                tokio::time::sleep(next_backoff(&mut backoff)).await;
            }
        }
    }
    let _ = connected.send(false);
}

/// Writes the acknowledgements waiting into the connection's buffer and flushes once;
/// those of a connection since lost are dropped (the broker sends their messages again).
async fn write_acks(
    eventloop: &mut rumqttc::EventLoop,
    acks: &mut Vec<AckToken>,
    connection: u64,
) -> Result<(), rumqttc::ConnectionError> {
    let timeout = Duration::from_secs(eventloop.network_options.connection_timeout());
    let Some(network) = eventloop.network.as_mut() else {
        acks.clear();
        return Ok(());
    };
    // Past 8 KiB the buffer is written while filling: the whole is bounded in time, as
    // rumqttc bounds its flushes, so a broker that stops reading ends the connection.
    let write = async {
        let mut any = false;
        for a in acks.drain(..).filter(|a| a.connection == connection) {
            network
                .write(Packet::PubAck(rumqttc::PubAck::new(a.pkid)))
                .await?;
            any = true;
        }
        if any {
            network.flush().await?;
        }
        Ok::<(), rumqttc::StateError>(())
    };
    tokio::time::timeout(timeout, write)
        .await
        .map_err(|_| rumqttc::ConnectionError::FlushTimeout)??;
    Ok(())
}

/// Writes the publications waiting to go first into the connection's buffer, in order,
/// and flushes once. Through rumqttc's session state, as its own requests go: a packet id,
/// a place in the in-flight window, and a copy kept until acknowledged (moved to `pending`
/// by `clean` if the connection fails). Without a connection, or with the in-flight window
/// full or a packet-id collision waiting, they join the queue rumqttc sends before its
/// request channel: `saved` while down (rumqttc empties `pending` on a new session; the
/// connection task puts `saved` back once connected), else `pending`. If the write fails,
/// the connection is cleaned as rumqttc cleans it (what is in flight to `pending`) and
/// the publications not yet handed over follow them: none is lost.
async fn write_first(
    eventloop: &mut rumqttc::EventLoop,
    waiting: &mut Vec<rumqttc::Publish>,
    saved: &mut std::collections::VecDeque<Request>,
) -> Result<(), rumqttc::ConnectionError> {
    let timeout = Duration::from_secs(eventloop.network_options.connection_timeout());
    let Some(network) = eventloop.network.as_mut() else {
        saved.extend(waiting.drain(..).map(Request::Publish));
        return Ok(());
    };
    let state = &mut eventloop.state;
    let pending = &mut eventloop.pending;
    // How many of `waiting` rumqttc has taken (written, or queued in `pending`).
    let mut taken = 0;
    let write = async {
        let mut any = false;
        while let Some(p) = waiting.get(taken).cloned() {
            taken += 1;
            if !pending.is_empty() || state.inflight() >= INFLIGHT || state.collision.is_some() {
                pending.push_back(Request::Publish(p));
                continue;
            }
            if let Some(packet) = state.handle_outgoing_packet(Request::Publish(p))? {
                network.write(packet).await?;
                any = true;
            }
        }
        if any {
            network.flush().await?;
        }
        Ok::<(), rumqttc::StateError>(())
    };
    let r = match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(rumqttc::ConnectionError::from(e)),
        Err(_) => Err(rumqttc::ConnectionError::FlushTimeout),
    };
    if r.is_err() {
        eventloop.clean();
        eventloop
            .pending
            .extend(waiting.drain(taken..).map(Request::Publish));
    }
    waiting.clear();
    r
}

/// How long to wait before the next connection attempt: `backoff` plus up to half of it
/// again at random (clients that lost one broker together do not all come back in the
/// same instant), and `backoff` doubled for next time, up to 5 s.
pub(crate) fn next_backoff(backoff: &mut Duration) -> Duration {
    let jitter =
        Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
    let wait = *backoff + jitter;
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
    wait
}
