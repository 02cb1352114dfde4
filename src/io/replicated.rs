//! `vigie run --nats`: one replica of the replicated deployment (contract §9).
//!
//! Every replica reads the whole contact stream in stream order with an ordered consumer
//! and drives its own [`Pipeline`] with it, the stream's timestamp standing for the receive
//! time: the engine is a deterministic function of that order, so every replica, and an
//! offline replay of the same contacts, computes the same tracks and alerts. A replica that
//! starts (or restarts) replays the stream from its beginning and so continues the same
//! tracks, dwell times and alert ids.
//!
//! Tasks: the engine loop (contacts in, outputs out, never waiting on JetStream
//! acknowledgements), the alert log (every alert event published with its deterministic
//! message id, in order, retried until stored; and, while this replica holds the lease,
//! the active set in its bucket), the relay (the log to the centres, by the lease holder),
//! track states (by the lease holder, at most once), and the lease (taken only by a
//! replica that has caught up with the stream, renewed every third of its time to live).

use super::error::{io_err, ServiceError};
use super::http::{self, Readiness};
use super::nats::{self, AlertLog, Cluster, ClusterOptions, Lease, Logged, LoggedEvent, Subjects};
use super::publish::{stamp, RejectLog};
use crate::config::Config;
use crate::engine::Pipeline;
use crate::geo::zones;
use crate::metrics::{Metrics, ReplicaMetrics};
use crate::time::EventTime;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Silence after which a replica asks the stream whether it holds more than it was given.
const STALL_CHECK: Duration = Duration::from_secs(5);

/// Track states waiting for the link: a few scans of a busy coast.
const TRACK_QUEUE: usize = 8192;

/// A running replica, for `main` and tests.
pub struct ReplicaHandle {
    pub name: String,
    pub metrics_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub replica: Arc<ReplicaMetrics>,
    running: super::lifecycle::Running,
}

impl ReplicaHandle {
    /// SIGTERM semantics: stop taking contacts, log the alert events in flight, give the
    /// lease up so that another replica takes over at once.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// This replica's name: `nats.replica`, else the host name.
fn replica_name(cfg: &Config) -> String {
    if !cfg.nats.replica.is_empty() {
        return cfg.nats.replica.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| nats::kv_key(h.trim()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "vigie".into())
}

/// Starts a replica: metrics endpoint, connection to the cluster (streams and buckets
/// created if absent), the engine from the stream's first contact.
pub async fn start(cfg: Config) -> Result<ReplicaHandle, ServiceError> {
    let name = replica_name(&cfg);
    let zone_list = zones::load(&cfg.zones.path)?;
    let zone_ids: Vec<String> = zone_list.iter().map(|z| z.id.clone()).collect();
    let pipeline = Pipeline::new(&cfg, zone_list, false);
    let metrics = Arc::new(Metrics::new(pipeline.sensor_ids(), &zone_ids));
    let replica = Arc::new(ReplicaMetrics::register(&metrics.registry, &name));
    let ready = Arc::new(Readiness::default());
    ready.zones_loaded.store(true, Ordering::Relaxed);
    let listener = tokio::net::TcpListener::bind(&cfg.metrics.listen)
        .await
        .map_err(|source| ServiceError::MetricsListen {
            addr: cfg.metrics.listen.clone(),
            source,
        })?;
    let metrics_addr = listener.local_addr().map_err(io_err("metrics address"))?;
    tracing::info!("replica {name}: metrics on http://{metrics_addr}/metrics");
    let http_task = tokio::spawn(http::serve(listener, metrics.clone(), ready.clone()));

    let subjects = Subjects::new(&cfg.mqtt.prefix);
    let n = &cfg.nats;
    let cluster = Cluster::connect(
        &ClusterOptions {
            urls: n.urls.clone(),
            name: format!("vigie-{name}"),
            stream_replicas: n.stream_replicas,
            max_age: Duration::from_secs(n.max_age_s),
            duplicate_window: Duration::from_secs(n.duplicate_window_s),
            lease_ttl: Duration::from_secs_f64(n.lease_ttl_s),
        },
        &subjects,
    )
    .await?;
    ready.broker_connected.store(true, Ordering::Relaxed);
    let log = AlertLog::start(
        &cluster,
        &subjects,
        Duration::from_secs(n.duplicate_window_s),
    )
    .await?;
    tracing::info!(
        "replica {name} on {}: contacts from {} ({}), alert events to {} once each (stream {}); events of contacts up to #{} are logged already",
        n.urls.join(","),
        nats::CONTACTS_STREAM,
        subjects.contacts,
        subjects.alerts,
        nats::ALERTS_STREAM,
        log.logged_upto()
    );
    let contacts = read_contacts(&cluster.contacts, 1).await?;
    let lease_held = Arc::new(AtomicBool::new(false));
    let caught_up = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let outputs = tokio::spawn(
        Outputs {
            log,
            active_store: cluster.active.clone(),
            lease_held: lease_held.clone(),
            replica: replica.clone(),
            active: BTreeMap::new(),
            reconciled: false,
        }
        .run(events_rx, stopping.clone()),
    );
    let relay_task = tokio::spawn(nats::Relay::new(&cluster, &subjects).run(lease_held.clone()));
    let lease_task = tokio::spawn(keep_lease(
        Lease::new(cluster.lease.clone(), &name),
        Duration::from_secs_f64(n.lease_ttl_s / 3.0),
        LeaseFlags {
            held: lease_held.clone(),
            caught_up: caught_up.clone(),
            stopping: stopping.clone(),
        },
        replica.clone(),
        cluster.client.clone(),
        ready.clone(),
    ));
    let (tracks_tx, mut tracks_rx) = mpsc::channel::<(String, Bytes)>(TRACK_QUEUE);
    let client = cluster.client.clone();
    let tracks_task = tokio::spawn(async move {
        while let Some((subject, payload)) = tracks_rx.recv().await {
            let _ = client.publish(subject, payload).await;
        }
    });
    let (tx, rx) = oneshot::channel();
    let engine = Engine {
        pipeline,
        metrics: metrics.clone(),
        replica: replica.clone(),
        subjects,
        lease_held,
        caught_up,
        events: events_tx,
        rejects: RejectLog::default(),
        stream: cluster.contacts.clone(),
        last_seq: 0,
        tracks: tracks_tx,
    };
    let name2 = name.clone();
    let join = tokio::spawn(async move {
        engine.run(contacts, rx).await;
        // The engine has stopped: the log takes what is in flight, then the lease goes.
        stopping.store(true, Ordering::Relaxed);
        let _ = outputs.await;
        let _ = lease_task.await;
        tracks_task.abort();
        relay_task.abort();
        http_task.abort();
        tracing::info!("replica {name2} stopped");
    });
    Ok(ReplicaHandle {
        name,
        metrics_addr,
        metrics,
        replica,
        running: super::lifecycle::Running::new(tx, join),
    })
}

/// The engine loop's state.
struct Engine {
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    replica: Arc<ReplicaMetrics>,
    subjects: Subjects,
    lease_held: Arc<AtomicBool>,
    caught_up: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<LoggedEvent>,
    rejects: RejectLog,
    /// Track states to the publishing task (bounded: the engine never waits on the link).
    tracks: mpsc::Sender<(String, Bytes)>,
    /// The contact stream, to read it again from `last_seq + 1` if the consumer ends.
    stream: async_nats::jetstream::stream::Stream,
    /// Stream sequence of the last contact processed.
    last_seq: u64,
}

impl Engine {
    async fn run(
        mut self,
        mut contacts: async_nats::jetstream::consumer::pull::Ordered,
        mut shutdown: oneshot::Receiver<()>,
    ) {
        let mut silent_since = Instant::now();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                // Nothing for a while: this replica has read all there is (an empty stream
                // says nothing else, and the lease must not wait for a first contact)...
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    self.caught_up.store(true, Ordering::Relaxed);
                    self.replica.lag_messages.set(0);
                    self.replica.lag_seconds.set(0.0);
                    // ...unless the stream holds more: a consumer can stall silently when
                    // its node dies (seen with a stream leader killed mid-scene); read on
                    // from the next contact with a new one.
                    if silent_since.elapsed() > STALL_CHECK {
                        silent_since = Instant::now();
                        if let Ok(info) = self.stream.get_info().await {
                            if info.state.last_sequence > self.last_seq {
                                tracing::warn!(
                                    "the contact stream holds #{} but nothing came after #{} for {:?}",
                                    info.state.last_sequence, self.last_seq, STALL_CHECK
                                );
                                self.caught_up.store(false, Ordering::Relaxed);
                                self.read_on(&mut contacts).await;
                            }
                        }
                    }
                }
                m = contacts.next() => match m {
                    Some(Ok(m)) => {
                        silent_since = Instant::now();
                        self.take(&m);
                    }
                    // The ordered consumer is meant to recreate itself; on server 2.9 it
                    // was seen to stop for good, or to end, after its node died.
                    Some(Err(e)) => {
                        tracing::warn!("contact stream: {e}");
                        self.read_on(&mut contacts).await;
                    }
                    None => {
                        tracing::warn!("the contact stream's consumer ended");
                        self.read_on(&mut contacts).await;
                    }
                },
            }
        }
    }

    /// Replaces the consumer with one from the next contact (on failure, waits a second:
    /// the caller's next error or stall check tries again).
    async fn read_on(&self, contacts: &mut async_nats::jetstream::consumer::pull::Ordered) {
        tracing::warn!(
            "reading on from contact #{} with a new consumer",
            self.last_seq + 1
        );
        match read_contacts(&self.stream, self.last_seq + 1).await {
            Ok(c) => *contacts = c,
            Err(e) => {
                tracing::warn!("{e}; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    fn take(&mut self, m: &async_nats::jetstream::Message) {
        let (seq, t_rx, pending) = match m.info() {
            Ok(i) => (
                i.stream_sequence,
                EventTime(i.published.timestamp_micros()),
                i.pending,
            ),
            Err(e) => {
                tracing::warn!("a contact without stream metadata ({e}): skipped");
                return;
            }
        };
        if seq <= self.last_seq {
            return; // already processed (a consumer recreated from an earlier point)
        }
        self.last_seq = seq;
        let topic = nats::subject_to_topic(&m.subject);
        let t0 = Instant::now();
        self.pipeline.process(&topic, &m.payload, t_rx);
        let out = self.pipeline.last_outputs();
        let pipeline = &self.pipeline;
        self.metrics
            .observe(out, || pipeline.counts(), t_rx, t0.elapsed());
        self.rejects.log(&topic, out);
        for a in &out.alerts {
            tracing::info!(
                id = %a.id, state = a.state.as_str(), zone = %a.zone_id(), exercise = a.exercise,
                "alert {} {} (contact #{seq})", a.id, a.state.as_str()
            );
            let _ = self.events.send(LoggedEvent {
                contact_seq: seq,
                t_stream: t_rx,
                json: Bytes::from(stamp(a)),
                event: a.clone(),
            });
        }
        if self.lease_held.load(Ordering::Relaxed) {
            for t in out.tracks.iter().filter(|t| t.publish) {
                let json = serde_json::to_vec(t).expect("tracks serialise");
                let msg = (
                    self.subjects.track(t.exercise, &t.track_id),
                    Bytes::from(json),
                );
                // Track states are at most once (as on MQTT): when the link is down and the
                // queue full, they are dropped and counted, never waited for.
                if self.tracks.try_send(msg).is_err() {
                    self.metrics.publish_failures.inc();
                }
            }
        }
        self.replica.stream_sequence.set(seq as i64);
        self.replica.lag_messages.set(pending as i64);
        self.replica.lag_seconds.set(if pending == 0 {
            0.0
        } else {
            EventTime::now().secs_since(t_rx).max(0.0)
        });
        self.caught_up.store(pending == 0, Ordering::Relaxed);
    }
}

/// An ordered consumer of the contact stream from sequence `from`: the stream's order is
/// what makes every replica compute the same picture.
async fn read_contacts(
    stream: &async_nats::jetstream::stream::Stream,
    from: u64,
) -> Result<async_nats::jetstream::consumer::pull::Ordered, nats::NatsError> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    let err = |what: &str, e: String| nats::NatsError::JetStream {
        what: what.into(),
        message: e,
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: if from <= 1 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                }
            },
            ..Default::default()
        })
        .await
        .map_err(|e| err("the ordered consumer of the contact stream", e.to_string()))?;
    consumer
        .messages()
        .await
        .map_err(|e| err("reading the contact stream", e.to_string()))
}

/// The alert log's task: publishes events in order, keeps the active set.
struct Outputs {
    log: AlertLog,
    active_store: async_nats::jetstream::kv::Store,
    lease_held: Arc<AtomicBool>,
    replica: Arc<ReplicaMetrics>,
    /// Every active alert's latest event, as this replica computed it.
    active: BTreeMap<String, Bytes>,
    /// The bucket holds this replica's picture (written in full since it took the lease).
    reconciled: bool,
}

impl Outputs {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<LoggedEvent>,
        stopping: Arc<AtomicBool>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    self.replica.alert_log_waiting.set(rx.len() as i64 + 1);
                    let result = self.log.publish(&ev, &stopping).await;
                    self.replica.alert_log_waiting.set(rx.len() as i64);
                    if let Some(r) = result {
                        let label = match r {
                            Logged::Stored => "stored",
                            Logged::Duplicate => "duplicate",
                            Logged::Skipped => "skipped",
                        };
                        self.replica.alert_log.with_label_values(&[label]).inc();
                    }
                    let key = ev.event.id.clone();
                    if ev.event.state == crate::behaviour::AlertState::Cleared {
                        self.active.remove(&key);
                    } else {
                        self.active.insert(key, ev.json.clone());
                    }
                    if self.lease_held.load(Ordering::Relaxed) && self.reconciled {
                        if let Err(e) = nats::put_active(&self.active_store, &ev.event, ev.json).await {
                            tracing::warn!("active set not updated for {}: {e}", ev.event.id);
                            self.reconciled = false;
                        }
                    }
                }
                _ = tick.tick() => {
                    if stopping.load(Ordering::Relaxed) && rx.is_empty() {
                        break;
                    }
                }
            }
            self.reconcile().await;
        }
    }

    /// On taking the lease (or after a failed write), writes this replica's whole active
    /// set to the bucket and deletes what is no longer active there.
    async fn reconcile(&mut self) {
        if !self.lease_held.load(Ordering::Relaxed) {
            self.reconciled = false;
            return;
        }
        if self.reconciled {
            return;
        }
        let stale: Vec<String> = match self.active_store.keys().await {
            Ok(keys) => keys
                .filter_map(|k| async move { k.ok() })
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .filter(|k| !self.active.keys().any(|id| nats::kv_key(id) == *k))
                .collect(),
            Err(e) => {
                tracing::warn!("active set not read: {e}");
                return;
            }
        };
        for k in stale {
            if let Err(e) = self.active_store.delete(&k).await {
                tracing::warn!("active set: {k} not deleted: {e}");
                return;
            }
        }
        for (id, json) in &self.active {
            if let Err(e) = self.active_store.put(nats::kv_key(id), json.clone()).await {
                tracing::warn!("active set: {id} not written: {e}");
                return;
            }
        }
        self.reconciled = true;
    }
}

struct LeaseFlags {
    held: Arc<AtomicBool>,
    caught_up: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
}

/// Renews or tries to take the lease every `every`; a replica still catching up with the
/// stream does not take it (it would write an old picture over a newer one).
async fn keep_lease(
    mut lease: Lease,
    every: Duration,
    flags: LeaseFlags,
    replica: Arc<ReplicaMetrics>,
    client: async_nats::Client,
    ready: Arc<Readiness>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if flags.stopping.load(Ordering::Relaxed) {
            break;
        }
        ready.broker_connected.store(
            client.connection_state() == async_nats::connection::State::Connected,
            Ordering::Relaxed,
        );
        let was = lease.held();
        let now = if was || flags.caught_up.load(Ordering::Relaxed) {
            lease.tick().await
        } else {
            false
        };
        flags.held.store(now, Ordering::Relaxed);
        replica.lease_held.set(i64::from(now));
        if now != was {
            replica.lease_changes.inc();
            if now {
                tracing::info!("took the output lease: track states and the active set are published from here");
            } else {
                tracing::warn!("lost the output lease");
            }
        }
    }
    flags.held.store(false, Ordering::Relaxed);
    lease.release().await;
    replica.lease_held.set(0);
}
