//! `vigie run --nats`: one replica of the replicated deployment (contract §9).
//!
//! Every replica reads the whole contact stream in stream order with an ordered consumer
//! and drives its own [`Pipeline`] with it, the stream's timestamp standing for the receive
//! time: the engine is a deterministic function of that order, so every replica, and an
//! offline replay of the same contacts, computes the same tracks and alerts. A replica that
//! starts (or restarts) resumes from the newest engine snapshot it can read (any
//! replica's: they are the same state) and replays the stream after it, or from the
//! stream's beginning without one, and so continues the same tracks, dwell times and
//! alert ids.
//!
//! Tasks: the engine loop (contacts in, outputs out, never waiting on JetStream
//! acknowledgements), the alert log (every alert event published with its deterministic
//! message id, in order, retried until stored; and, while this replica holds the lease,
//! the active set in its bucket), the relay (the log to the centres, by the lease holder),
//! track states (by the lease holder, at most once), and the lease (taken only by a
//! replica that has caught up with the stream, renewed every third of its time to live),
//! and snapshots (serialised by the engine between two contacts every
//! `nats.snapshot_interval_s`, stored by their own task; one still being stored when the
//! next is due makes the engine skip that one rather than wait).

use super::active_mqtt::{ActiveChange, ActiveTopics};
use super::error::{io_err, ServiceError};
use super::http::{self, Readiness};
use super::nats::{self, AlertLog, Cluster, ClusterOptions, Lease, Logged, LoggedEvent, Subjects};
use super::publish::{stamp, RejectLog};
use crate::config::Config;
use crate::geo::zones;
use crate::metrics::{Metrics, ReplicaMetrics};
use crate::pipeline::Pipeline;
use crate::snapshot;
use crate::time::EventTime;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

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
    let fingerprint = snapshot::fingerprint(&cfg, &zone_list);
    let pipeline = Pipeline::new(&cfg, zone_list.clone(), false);
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
    let resumed = resume(&cluster, &cfg, zone_list, fingerprint, &replica).await;
    let (pipeline, last_seq, active) = match resumed {
        Some(r) => {
            let mut active = BTreeMap::new();
            for json in r.active {
                match serde_json::from_str::<crate::behaviour::AlertEvent>(&json) {
                    Ok(a) => {
                        active.insert(a.id, Bytes::from(json));
                    }
                    Err(e) => tracing::warn!("an active alert of the snapshot not read: {e}"),
                }
            }
            (r.pipeline, r.header.stream_seq, active)
        }
        None => (pipeline, 0, BTreeMap::new()),
    };
    let contacts = nats::read_from(&cluster.contacts, last_seq + 1, "the contact stream").await?;
    let lease_held = Arc::new(AtomicBool::new(false));
    let caught_up = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (active_topics, active_task) = if n.mqtt_urls.is_empty() {
        // NATS does not tell its clients where its MQTT listeners are, and a guess could
        // reach another broker (a Mosquitto on 1883): said, not guessed.
        tracing::warn!("nats.mqtt_urls (--nats-mqtt) is empty: the active set is kept in the KV bucket {} only; neither it nor the status is retained on the cluster's MQTT listeners (contract §3)", nats::ACTIVE_BUCKET);
        (None, None)
    } else {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            ActiveTopics {
                urls: n.mqtt_urls.clone(),
                prefix: cfg.mqtt.prefix.clone(),
                client_id: format!("vigie-{name}-active"),
                replica: name.clone(),
                held: lease_held.clone(),
            }
            .run(active.clone(), rx),
        );
        (Some(tx), Some(task))
    };
    let outputs = tokio::spawn(
        Outputs {
            log,
            active_store: cluster.active.clone(),
            lease_held: lease_held.clone(),
            replica: replica.clone(),
            active: active.clone(),
            reconciled: false,
            active_topics,
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
    let (snapshot_tx, snapshot_rx) = mpsc::channel::<Taken>(1);
    let snapshot_task = tokio::spawn(store_snapshots(
        snapshot_rx,
        cluster.snapshots.clone(),
        name.clone(),
        replica.clone(),
    ));
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
        last_seq,
        last_t_rx: EventTime(0),
        tracks: tracks_tx,
        active,
        snapshots: SnapshotPlan {
            every: (n.snapshot_interval_s > 0.0)
                .then(|| Duration::from_secs_f64(n.snapshot_interval_s)),
            last: Instant::now(),
            fingerprint,
            tx: snapshot_tx,
        },
    };
    let name2 = name.clone();
    let join = tokio::spawn(async move {
        engine.run(contacts, rx).await;
        // The engine has stopped: the log takes what is in flight, then the lease goes.
        stopping.store(true, Ordering::Relaxed);
        let _ = outputs.await;
        let _ = lease_task.await;
        let _ = snapshot_task.await;
        if let Some(t) = active_task {
            let _ = t.await;
        }
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
    /// Stream sequence of the last contact processed, and when the stream stored it.
    last_seq: u64,
    last_t_rx: EventTime,
    /// Every active alert's latest event as published: part of a snapshot (a replica
    /// restored from it rebuilds the active set from it).
    active: BTreeMap<String, Bytes>,
    snapshots: SnapshotPlan,
}

/// When and where the engine's snapshots go.
struct SnapshotPlan {
    /// None: snapshots off.
    every: Option<Duration>,
    last: Instant,
    fingerprint: u64,
    tx: mpsc::Sender<Taken>,
}

/// A snapshot taken, on its way to the object store.
struct Taken {
    stream_seq: u64,
    t_rx: EventTime,
    bytes: Vec<u8>,
}

/// The newest snapshot in the object store that this replica can use: any replica's (the
/// state is the same), the one furthest along the stream that the stream still reaches.
/// One it cannot read is counted and skipped; none at all is a replay from the start.
async fn resume(
    cluster: &Cluster,
    cfg: &Config,
    zones: Vec<crate::geo::zones::Zone>,
    fp: u64,
    replica: &ReplicaMetrics,
) -> Option<snapshot::Restored> {
    if cfg.nats.snapshot_interval_s <= 0.0 {
        return None;
    }
    let last = match cluster.contacts.clone().get_info().await {
        Ok(i) => i.state.last_sequence,
        Err(e) => {
            tracing::warn!(
                "the contact stream's state not read ({e}): replaying it from the start"
            );
            return None;
        }
    };
    let found =
        match tokio::time::timeout(Duration::from_secs(20), nats::snapshots(&cluster.snapshots))
            .await
        {
            Ok(f) => f,
            Err(_) => {
                tracing::warn!(
                    "snapshots not listed within 20 s: replaying the stream from the start"
                );
                return None;
            }
        };
    let mut usable = vec![];
    for (name, bytes) in found {
        match snapshot::header(&bytes, fp) {
            Ok(h) if h.stream_seq <= last => usable.push((h.stream_seq, name, bytes)),
            Ok(h) => tracing::warn!(
                "snapshot {name} is at contact #{} but the stream ends at #{last}: not used",
                h.stream_seq
            ),
            Err(e) => {
                replica.snapshots.with_label_values(&["refused"]).inc();
                tracing::warn!("snapshot {name} not used: {e}");
            }
        }
    }
    usable.sort_by_key(|u| std::cmp::Reverse(u.0));
    for (seq, name, bytes) in usable {
        match snapshot::read(&bytes, cfg, zones.clone()) {
            Ok(r) => {
                replica.snapshots.with_label_values(&["restored"]).inc();
                replica.snapshot_sequence.set(seq as i64);
                replica.snapshot_bytes.set(bytes.len() as i64);
                tracing::info!(
                    "resuming from snapshot {name} at contact #{seq} ({} bytes, {} active alerts)",
                    bytes.len(),
                    r.active.len()
                );
                return Some(r);
            }
            Err(e) => {
                replica.snapshots.with_label_values(&["refused"]).inc();
                tracing::warn!("snapshot {name} not used: {e}");
            }
        }
    }
    tracing::info!("no snapshot to resume from: replaying the contact stream from its start");
    None
}

/// Stores the engine's snapshots as they come, and keeps their age current.
async fn store_snapshots(
    mut rx: mpsc::Receiver<Taken>,
    store: async_nats::jetstream::object_store::ObjectStore,
    name: String,
    replica: Arc<ReplicaMetrics>,
) {
    let mut taken_at: Option<EventTime> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            s = rx.recv() => {
                let Some(s) = s else { break };
                match nats::put_snapshot(&store, &name, &s.bytes).await {
                    Ok(()) => {
                        replica.snapshots.with_label_values(&["written"]).inc();
                        replica.snapshot_sequence.set(s.stream_seq as i64);
                        replica.snapshot_bytes.set(s.bytes.len() as i64);
                        taken_at = Some(s.t_rx);
                    }
                    Err(e) => {
                        replica.snapshots.with_label_values(&["failed"]).inc();
                        tracing::warn!("snapshot at contact #{} not stored: {e}", s.stream_seq);
                    }
                }
            }
            _ = tick.tick() => {}
        }
        if let Some(t) = taken_at {
            replica
                .snapshot_age_seconds
                .set(EventTime::now().secs_since(t).max(0.0));
        }
    }
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
                    // ...unless the stream holds more: its consumer stalled (see
                    // `nats::holds_more`); read on from the next contact with a new one.
                    if silent_since.elapsed() > nats::STALL_CHECK {
                        silent_since = Instant::now();
                        if let Some(last) = nats::holds_more(&self.stream, self.last_seq).await {
                            tracing::warn!(
                                "the contact stream holds #{last} but nothing came after #{} for {:?}",
                                self.last_seq, nats::STALL_CHECK
                            );
                            self.caught_up.store(false, Ordering::Relaxed);
                            self.read_on(&mut contacts).await;
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
        match nats::read_from(&self.stream, self.last_seq + 1, "the contact stream").await {
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
        self.last_t_rx = t_rx;
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
            let json = Bytes::from(stamp(a));
            if a.state == crate::behaviour::AlertState::Cleared {
                self.active.remove(&a.id);
            } else {
                self.active.insert(a.id.clone(), json.clone());
            }
            let _ = self.events.send(LoggedEvent {
                contact_seq: seq,
                t_stream: t_rx,
                json,
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
        self.snapshot_if_due();
    }

    /// Between two contacts, when one is due: the pipeline as it stands after `last_seq`.
    fn snapshot_if_due(&mut self) {
        let Some(every) = self.snapshots.every else {
            return;
        };
        if self.snapshots.last.elapsed() < every {
            return;
        }
        self.snapshots.last = Instant::now();
        if self.snapshots.tx.capacity() == 0 {
            tracing::warn!("the last snapshot is still being stored: this one skipped");
            return;
        }
        let active: Vec<String> = self
            .active
            .values()
            .map(|j| String::from_utf8_lossy(j).into_owned())
            .collect();
        let t0 = Instant::now();
        let bytes = snapshot::write(
            &self.pipeline,
            &active,
            self.snapshots.fingerprint,
            self.last_seq,
            self.last_t_rx.0,
        );
        tracing::debug!(
            "snapshot at contact #{}: {} bytes in {:?}",
            self.last_seq,
            bytes.len(),
            t0.elapsed()
        );
        let _ = self.snapshots.tx.try_send(Taken {
            stream_seq: self.last_seq,
            t_rx: self.last_t_rx,
            bytes,
        });
    }
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
    /// To the retained active set on the cluster's MQTT listeners, if configured.
    active_topics: Option<mpsc::UnboundedSender<ActiveChange>>,
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
                    let cleared = ev.event.state == crate::behaviour::AlertState::Cleared;
                    if cleared {
                        self.active.remove(&key);
                    } else {
                        self.active.insert(key.clone(), ev.json.clone());
                    }
                    if let Some(t) = &self.active_topics {
                        let json = (!cleared).then(|| ev.json.clone());
                        let _ = t.send(ActiveChange { id: key, json });
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
