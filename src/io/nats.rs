//! The adapter to NATS JetStream for the replicated deployment (contract §9): the streams
//! and buckets vigie uses, subjects and MQTT topics, the alert log every replica writes to
//! and JetStream deduplicates, the relay from that log to the centres, and the lease that
//! lets one replica do what cannot be deduplicated. [`super::replicated`] drives a pipeline with it.
//!
//! Why these parts: a replica is a deterministic function of the contact stream's order
//! (event time drives the engine, the stream's timestamp is the receive time), so every
//! replica computes the same alerts; JetStream's `Nats-Msg-Id` deduplication makes their
//! publishes one event; and a KV entry that expires unless renewed is a lease that a dead
//! replica gives up by itself.

use crate::behaviour::{AlertEvent, AlertState};
use crate::time::EventTime;
use async_nats::jetstream::{self, kv, object_store, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The contact stream (contract §9).
pub const CONTACTS_STREAM: &str = "VIGIE_CONTACTS";
/// Every replica's alert events, stored once each (deduplicated by `Nats-Msg-Id`); the
/// lease holder relays them from there to `{prefix}.alerts`.
pub const ALERTS_STREAM: &str = "VIGIE_ALERTS";
/// The active set: alert id → its latest event; cleared alerts are deleted.
pub const ACTIVE_BUCKET: &str = "VIGIE_ACTIVE_ALERTS";
/// The relay's progress: the alert-log sequence last relayed to centres.
pub const RELAY_BUCKET: &str = "VIGIE_RELAY";
const RELAY_KEY: &str = "alerts";
/// Header of each relayed alert event: its sequence in the alert log.
pub const LOG_SEQ_HEADER: &str = "Vigie-Log-Seq";
/// The output lease: one key, its holder's name, expiring unless renewed.
pub const LEASE_BUCKET: &str = "VIGIE_LEASE";
const LEASE_KEY: &str = "outputs";
/// Header of each stored alert event: the contact stream sequence it came from. A
/// replica starting or far behind reads the last one and does not publish again what the
/// log already holds, even beyond the duplicate window.
pub const CONTACT_SEQ_HEADER: &str = "Vigie-Contact-Seq";
/// Object store of engine snapshots, one object per replica (see [`crate::snapshot`]).
pub const SNAPSHOT_BUCKET: &str = "VIGIE_SNAPSHOTS";

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {urls}: {message}\n  fix: start the cluster (docs/nats/), or check --nats / nats.urls")]
    Connect { urls: String, message: String },
    #[error("JetStream, {what}: {message}\n  fix: JetStream must be enabled on every node (`jetstream {{}}`, docs/nats/)")]
    JetStream { what: String, message: String },
}

fn js_err(what: &str) -> impl FnOnce(String) -> NatsError + '_ {
    move |message| NatsError::JetStream {
        what: what.to_string(),
        message,
    }
}

/// vigie's subjects under the MQTT prefix: NATS's MQTT listener maps topic `a/b` to subject
/// `a.b` (and a `.` inside a level to `//`), so sensors and centres on MQTT see the §2/§3
/// topics they know.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
    /// What the contact stream holds: `{p}.contacts.>`.
    pub contacts: String,
    /// Where replicas publish alert events (the alert stream's only subject).
    pub alert_log: String,
    /// Where the lease holder relays each stored event once: MQTT `{prefix}/alerts`.
    pub alerts: String,
}

impl Subjects {
    pub fn new(mqtt_prefix: &str) -> Self {
        let prefix = topic_to_subject(mqtt_prefix);
        Subjects {
            contacts: format!("{prefix}.contacts.>"),
            alert_log: format!("{prefix}.replicas.alerts"),
            alerts: format!("{prefix}.alerts"),
            prefix,
        }
    }

    /// A track state's subject (MQTT `{prefix}/tracks/{id}` or `…/exercise/tracks/{id}`).
    pub fn track(&self, exercise: bool, id: &str) -> String {
        let id = topic_to_subject(id);
        if exercise {
            format!("{}.exercise.tracks.{id}", self.prefix)
        } else {
            format!("{}.tracks.{id}", self.prefix)
        }
    }
}

/// MQTT topic → NATS subject, as NATS's MQTT listener maps them.
pub fn topic_to_subject(topic: &str) -> String {
    let mut s = String::with_capacity(topic.len());
    for (i, level) in topic.split('/').enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(&level.replace('.', "//"));
    }
    s
}

/// NATS subject → MQTT topic: the inverse of [`topic_to_subject`], so that the pipeline
/// sees the §2 topic a sensor published on the MQTT listener.
pub fn subject_to_topic(subject: &str) -> String {
    let mut t = String::with_capacity(subject.len());
    for (i, level) in subject.split('.').enumerate() {
        if i > 0 {
            t.push('/');
        }
        t.push_str(&level.replace("//", "."));
    }
    t
}

/// How a replica reaches the cluster and what it creates there.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub urls: Vec<String>,
    /// Client name (seen in the server's connection list).
    pub name: String,
    pub stream_replicas: usize,
    pub max_age: Duration,
    pub duplicate_window: Duration,
    pub lease_ttl: Duration,
}

/// The streams and buckets of one connection, created if absent.
pub struct Cluster {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub contacts: stream::Stream,
    pub alerts: stream::Stream,
    pub active: kv::Store,
    /// How far the relay has gone (see [`Relay`]).
    pub relayed: kv::Store,
    pub lease: kv::Store,
    pub snapshots: object_store::ObjectStore,
}

/// A client connected to any of `urls` (it reconnects to the others when its node goes).
pub async fn connect(urls: &[String], name: &str) -> Result<async_nats::Client, NatsError> {
    let err = |message: String| NatsError::Connect {
        urls: urls.join(","),
        message,
    };
    let addrs = urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        // A node going down must not hold a publish for long: the alert log retries it
        // (same message id) through another node.
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(addrs)
        .await
        .map_err(|e| err(e.to_string()))
}

impl Cluster {
    /// Connects and makes sure the streams and buckets exist. Existing ones are used as
    /// they are (an operator may have tuned them); vigie never rewrites them.
    pub async fn connect(o: &ClusterOptions, subjects: &Subjects) -> Result<Cluster, NatsError> {
        let client = connect(&o.urls, &o.name).await?;
        let js = jetstream::new(client.clone());
        let contacts = ensure_stream(
            &js,
            "the contact stream",
            stream::Config {
                name: CONTACTS_STREAM.into(),
                subjects: vec![subjects.contacts.clone()],
                num_replicas: o.stream_replicas,
                max_age: o.max_age,
                storage: stream::StorageType::File,
                ..Default::default()
            },
        )
        .await?;
        let alerts = ensure_stream(
            &js,
            "the alert stream",
            stream::Config {
                name: ALERTS_STREAM.into(),
                subjects: vec![subjects.alert_log.clone()],
                num_replicas: o.stream_replicas,
                max_age: o.max_age,
                duplicate_window: o.duplicate_window,
                storage: stream::StorageType::File,
                ..Default::default()
            },
        )
        .await?;
        let active = bucket(&js, ACTIVE_BUCKET, o.stream_replicas, Duration::ZERO).await?;
        let relayed = bucket(&js, RELAY_BUCKET, o.stream_replicas, Duration::ZERO).await?;
        let lease = bucket(&js, LEASE_BUCKET, o.stream_replicas, o.lease_ttl).await?;
        let snapshots = objects(&js, SNAPSHOT_BUCKET, o.stream_replicas).await?;
        Ok(Cluster {
            client,
            js,
            contacts,
            alerts,
            active,
            relayed,
            lease,
            snapshots,
        })
    }

    /// Every event of contacts up to this sequence is in the alert log (0: none): the
    /// contact before the one of the last stored event, whose later events, if any, may
    /// not have been published before its replica stopped.
    pub async fn logged_upto(&self, subjects: &Subjects) -> Result<u64, NatsError> {
        Self::upto(&self.alerts, subjects).await
    }

    async fn upto(alerts: &stream::Stream, subjects: &Subjects) -> Result<u64, NatsError> {
        match alerts
            .get_last_raw_message_by_subject(&subjects.alert_log)
            .await
        {
            Ok(m) => Ok(m
                .headers
                .get(CONTACT_SEQ_HEADER)
                .and_then(|v| v.as_str().parse::<u64>().ok())
                .map_or(0, |seq| seq.saturating_sub(1))),
            Err(e)
                if e.kind()
                    == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(0)
            }
            Err(e) => Err(js_err("reading the alert log")(e.to_string())),
        }
    }
}

/// A key-value bucket, created if absent. Created as the stream that backs it (the KV
/// layout every NATS client shares: `KV_{bucket}` on `$KV.{bucket}.>`, one message per key
/// and history entry, new writes refused rather than old ones dropped) because the
/// client's own bucket creation first reads the account's limits in a form server 2.9,
/// Debian's, does not send.
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
    max_age: Duration,
) -> Result<kv::Store, NatsError> {
    let what = format!("the bucket {name}");
    ensure_stream(
        js,
        &what,
        stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: replicas,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        },
    )
    .await?;
    js.get_key_value(name)
        .await
        .map_err(|e| js_err(&what)(e.to_string()))
}

/// An object store, created as its backing stream for the same reason as [`bucket`].
async fn objects(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
) -> Result<object_store::ObjectStore, NatsError> {
    let what = format!("the object store {name}");
    ensure_stream(
        js,
        &what,
        stream::Config {
            name: format!("OBJ_{name}"),
            subjects: vec![format!("$O.{name}.C.>"), format!("$O.{name}.M.>")],
            storage: stream::StorageType::File,
            allow_rollup: true,
            allow_direct: true,
            num_replicas: replicas,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        },
    )
    .await?;
    js.get_object_store(name)
        .await
        .map_err(|e| js_err(&what)(e.to_string()))
}

/// Stores `bytes` as this replica's snapshot (replacing its previous one).
pub async fn put_snapshot(
    store: &object_store::ObjectStore,
    replica: &str,
    mut bytes: &[u8],
) -> Result<(), NatsError> {
    store
        .put(format!("replica-{replica}").as_str(), &mut bytes)
        .await
        .map(|_| ())
        .map_err(|e| js_err("storing a snapshot")(e.to_string()))
}

/// Every replica's snapshot (name, bytes); one that cannot be read is left out with a log
/// line (the others, or a replay from the start, will do).
pub async fn snapshots(store: &object_store::ObjectStore) -> Vec<(String, Vec<u8>)> {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let mut names = vec![];
    match store.list().await {
        Ok(mut list) => {
            while let Some(info) = list.next().await {
                match info {
                    Ok(i) if !i.deleted => names.push(i.name),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("listing snapshots: {e}"),
                }
            }
        }
        Err(e) => tracing::warn!("listing snapshots: {e}"),
    }
    let mut out = vec![];
    for name in names {
        let mut bytes = vec![];
        let read = match store.get(&name).await {
            Ok(mut o) => o.read_to_end(&mut bytes).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match read {
            Ok(_) => out.push((name, bytes)),
            Err(e) => tracing::warn!("snapshot {name} not read: {e}"),
        }
    }
    out
}

/// A stream, created if absent. Tried a few times: replicas starting together race to
/// create it (the loser's create fails although the stream now exists), and a cluster just
/// started may not have elected its JetStream leader yet.
async fn ensure_stream(
    js: &jetstream::Context,
    what: &str,
    config: stream::Config,
) -> Result<stream::Stream, NatsError> {
    let mut last = String::new();
    for attempt in 0..5 {
        match js.get_or_create_stream(config.clone()).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                last = e.to_string();
                tracing::warn!("{what}: {last} (attempt {})", attempt + 1);
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    Err(js_err(what)(last))
}

/// Silence after which a reader asks its stream whether it holds more (see [`holds_more`]).
pub const STALL_CHECK: Duration = Duration::from_secs(3);

/// An ordered consumer of `stream` from sequence `from` (1: the whole stream). The engine
/// reads the contact stream with one (its order is what makes every replica compute the same
/// picture), the relay the alert log; each makes a new one from its next sequence when the
/// last errs, ends or stalls.
pub async fn read_from(
    stream: &stream::Stream,
    from: u64,
    what: &str,
) -> Result<jetstream::consumer::pull::Ordered, NatsError> {
    use jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
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
        .map_err(|e| js_err(&format!("the ordered consumer of {what}"))(e.to_string()))?;
    consumer
        .messages()
        .await
        .map_err(|e| js_err(&format!("reading {what}"))(e.to_string()))
}

/// The stream's last sequence if it holds messages after `after`. Asked by a reader whose
/// consumer has been silent for [`STALL_CHECK`]: on server 2.9 an ordered consumer whose node
/// was killed was seen to stall for good without an error (the engine's in the kill test,
/// then the relay's under the full suite's load); `Some` means read on with a new one.
pub async fn holds_more(stream: &stream::Stream, after: u64) -> Option<u64> {
    let last = stream.get_info().await.ok()?.state.last_sequence;
    (last > after).then_some(last)
}

/// The deterministic message id of an alert event: the same on every replica (contract
/// §9: alert id, state, event time), so JetStream stores it once.
pub fn message_id(a: &AlertEvent) -> String {
    format!("{}:{}:{}", a.id, a.state.as_str(), a.t.0)
}

/// One alert event for the log, with the contact it came from.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    /// Stream sequence of the contact that caused the event.
    pub contact_seq: u64,
    /// When the stream stored that contact (wall clock).
    pub t_stream: EventTime,
    pub event: AlertEvent,
    /// The event as published (stamped with this replica's `emitted_at`).
    pub json: Bytes,
}

/// What became of a publish to the alert log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// Stored: this replica's copy is the one centres receive.
    Stored,
    /// Another replica's copy was stored first (within the duplicate window).
    Duplicate,
    /// The log already holds every event of this contact: not sent.
    Skipped,
}

/// How long a stopping replica keeps retrying an event the log does not acknowledge.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Publishes to the alert log, in order. Never gives up on an event while running (a node
/// may be down for seconds; the retried publish carries the same id, so it cannot be
/// stored twice).
pub struct AlertLog {
    js: jetstream::Context,
    stream: stream::Stream,
    subjects: Subjects,
    duplicate_window: Duration,
    /// Every event of contacts up to this sequence is in the log.
    logged_upto: u64,
    /// When the log was last read for [`Self::logged_upto`].
    read_at: Option<std::time::Instant>,
    /// When this replica was first seen stopping during a retry.
    stop_seen: Option<std::time::Instant>,
}

impl AlertLog {
    /// Reads where the log is (see [`Cluster::logged_upto`]).
    pub async fn start(
        cluster: &Cluster,
        subjects: &Subjects,
        duplicate_window: Duration,
    ) -> Result<Self, NatsError> {
        let logged_upto = cluster.logged_upto(subjects).await?;
        Ok(AlertLog {
            js: cluster.js.clone(),
            stream: cluster.alerts.clone(),
            subjects: subjects.clone(),
            duplicate_window,
            logged_upto,
            read_at: Some(std::time::Instant::now()),
            stop_seen: None,
        })
    }

    /// Every event of contacts up to this sequence is known to be in the log.
    pub fn logged_upto(&self) -> u64 {
        self.logged_upto
    }

    /// Publishes one event and waits for JetStream's acknowledgement, retrying until it
    /// comes or, once `stopping`, for [`STOP_GRACE`]. `None`: given up.
    ///
    /// A replica behind the stream by more than half the duplicate window (catching up
    /// after a restart) first reads how far the log is, at most once a second: JetStream
    /// would no longer recognise its copies of events another replica logged long ago.
    pub async fn publish(&mut self, e: &LoggedEvent, stopping: &AtomicBool) -> Option<Logged> {
        let behind =
            EventTime::now().secs_since(e.t_stream) > self.duplicate_window.as_secs_f64() / 2.0;
        if behind
            && e.contact_seq > self.logged_upto
            && self
                .read_at
                .is_none_or(|t| t.elapsed() > Duration::from_secs(1))
        {
            let c = Cluster::upto(&self.stream, &self.subjects).await;
            if let Ok(upto) = c {
                self.logged_upto = self.logged_upto.max(upto);
            }
            self.read_at = Some(std::time::Instant::now());
        }
        if e.contact_seq <= self.logged_upto {
            return Some(Logged::Skipped);
        }
        let id = message_id(&e.event);
        let mut wait = Duration::from_millis(50);
        loop {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            headers.insert(CONTACT_SEQ_HEADER, e.contact_seq.to_string().as_str());
            let acked = match self
                .js
                .publish_with_headers(self.subjects.alert_log.clone(), headers, e.json.clone())
                .await
            {
                Ok(ack) => ack.await.map_err(|x| x.to_string()),
                Err(x) => Err(x.to_string()),
            };
            match acked {
                Ok(ack) => {
                    // Events are logged in contact order: once one of this contact is in,
                    // so is every event of the contacts before it.
                    self.logged_upto = self.logged_upto.max(e.contact_seq - 1);
                    return Some(if ack.duplicate {
                        Logged::Duplicate
                    } else {
                        Logged::Stored
                    });
                }
                Err(x) => {
                    if stopping.load(Ordering::Relaxed)
                        && self
                            .stop_seen
                            .get_or_insert_with(std::time::Instant::now)
                            .elapsed()
                            > STOP_GRACE
                    {
                        tracing::error!(
                            "alert {} {} not logged before stopping: {x}",
                            e.event.id,
                            e.event.state.as_str()
                        );
                        return None;
                    }
                    tracing::warn!(
                        "alert {} {} not yet logged ({x}); retrying in {:?}",
                        e.event.id,
                        e.event.state.as_str(),
                        wait
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Relays the alert log to centres: each stored event, once, in log order, on
/// `{prefix}.alerts` (MQTT `{prefix}/alerts`), published by the lease holder only.
///
/// Why not the stream's own RePublish: on server 2.9 (Debian's) a message JetStream
/// republishes is not delivered to MQTT subscribers on the node that leads the stream
/// (measured: with the alert stream's leader on the centre's node, the centre received
/// nothing; on another node, everything).
///
/// Why once across a change of holder: every replica listens to `{prefix}.alerts` and
/// notes the log sequence of each relayed event (header [`LOG_SEQ_HEADER`]), so a replica
/// taking the lease goes on after the last event its predecessor relayed, not after the
/// last it recorded in [`RELAY_BUCKET`] (written after each relay, read by a replica
/// that has heard nothing yet).
pub struct Relay {
    client: async_nats::Client,
    alerts: stream::Stream,
    progress: kv::Store,
    subject: String,
    /// Highest log sequence seen relayed on the subject or recorded in the bucket.
    relayed: u64,
}

impl Relay {
    pub fn new(cluster: &Cluster, subjects: &Subjects) -> Self {
        Relay {
            client: cluster.client.clone(),
            alerts: cluster.alerts.clone(),
            progress: cluster.relayed.clone(),
            subject: subjects.alerts.clone(),
            relayed: 0,
        }
    }

    /// Runs for ever: listens to relayed events, and relays while `held` says this replica
    /// holds the lease.
    pub async fn run(mut self, held: Arc<AtomicBool>) {
        use futures_util::StreamExt;
        let mut heard = match self.client.subscribe(self.subject.clone()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(
                    "relay: cannot listen to {}: {e}; not relaying",
                    self.subject
                );
                return;
            }
        };
        let mut log: Option<jetstream::consumer::pull::Ordered> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        // When the log's consumer last gave something, or was opened (see [`holds_more`]).
        let mut progress = std::time::Instant::now();
        loop {
            tokio::select! {
                m = heard.next() => {
                    let Some(m) = m else { return };
                    if let Some(seq) = m.headers.as_ref().and_then(|h| h.get(LOG_SEQ_HEADER)).and_then(|v| v.as_str().parse::<u64>().ok()) {
                        self.relayed = self.relayed.max(seq);
                    }
                }
                m = async { match log.as_mut() { Some(l) => l.next().await, None => std::future::pending().await } } => {
                    match m {
                        Some(Ok(m)) => {
                            progress = std::time::Instant::now();
                            let Ok(seq) = m.info().map(|i| i.stream_sequence) else { continue };
                            if seq <= self.relayed {
                                continue;
                            }
                            let mut h = HeaderMap::new();
                            h.insert(LOG_SEQ_HEADER, seq.to_string().as_str());
                            if let Err(e) = self.client.publish_with_headers(self.subject.clone(), h, m.payload.clone()).await {
                                tracing::warn!("relay: event #{seq} not published ({e}); reading the log again");
                                log = None;
                                continue;
                            }
                            self.relayed = seq;
                            let _ = self.progress.put(RELAY_KEY, seq.to_string().into()).await;
                        }
                        Some(Err(e)) => {
                            // Seen on 2.9 after the node under the consumer died: the
                            // ordered consumer stopped for good. Read on with a new one.
                            tracing::warn!("relay: alert log: {e}; reading on from #{}", self.relayed + 1);
                            log = None;
                        }
                        None => log = None,
                    }
                }
                _ = tick.tick() => {
                    let holding = held.load(Ordering::Relaxed);
                    if holding && log.is_none() {
                        log = self.open().await;
                        progress = std::time::Instant::now();
                    } else if !holding && log.is_some() {
                        log = None;
                    } else if log.is_some() && progress.elapsed() > STALL_CHECK {
                        progress = std::time::Instant::now();
                        if let Some(last) = holds_more(&self.alerts, self.relayed).await {
                            tracing::warn!(
                                "relay: the alert log holds #{last} but nothing came after #{} for {STALL_CHECK:?}; reading on with a new consumer",
                                self.relayed
                            );
                            log = None;
                        }
                    }
                }
            }
        }
    }

    /// An ordered consumer of the alert log after the last event relayed.
    async fn open(&mut self) -> Option<jetstream::consumer::pull::Ordered> {
        if let Ok(Some(v)) = self.progress.get(RELAY_KEY).await {
            if let Some(seq) = std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()) {
                self.relayed = self.relayed.max(seq);
            }
        }
        let from = self.relayed + 1;
        match read_from(&self.alerts, from, "the alert log").await {
            Ok(m) => {
                tracing::info!("relaying the alert log to {} from #{from}", self.subject);
                Some(m)
            }
            Err(e) => {
                tracing::warn!("relay: {e}");
                None
            }
        }
    }
}

/// Keeps the active set in its bucket: the latest event of every active alert, cleared
/// ones deleted. Written by the lease holder only (a lagging replica would write an older
/// picture over a newer one).
pub async fn put_active(store: &kv::Store, a: &AlertEvent, json: Bytes) -> Result<(), String> {
    let key = kv_key(&a.id);
    if a.state == AlertState::Cleared {
        store.delete(&key).await.map_err(|e| e.to_string())
    } else {
        store
            .put(&key, json)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// An alert id as a KV key (keys allow `[-/_=.a-zA-Z0-9]`).
pub fn kv_key(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_=.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The output lease, held by at most one replica at a time: a KV entry holding the
/// holder's name that the bucket expires unless renewed (contract §9: what cannot be
/// deduplicated is done once). A holder that dies or loses the cluster stops renewing; the
/// entry expires after the bucket's age and another replica takes it.
pub struct Lease {
    store: kv::Store,
    name: String,
    /// The revision of our entry while we hold the lease.
    held: Option<u64>,
}

impl Lease {
    pub fn new(store: kv::Store, name: &str) -> Self {
        Lease {
            store,
            name: name.to_string(),
            held: None,
        }
    }

    pub fn held(&self) -> bool {
        self.held.is_some()
    }

    /// Renews the lease if held, or tries to take it. Returns whether it is held now.
    pub async fn tick(&mut self) -> bool {
        let me = Bytes::from(self.name.clone());
        self.held = match self.held {
            Some(rev) => self.store.update(LEASE_KEY, me, rev).await.ok(),
            None => match self.store.create(LEASE_KEY, me.clone()).await {
                Ok(rev) => Some(rev),
                // Ours from before a quick restart: take it back rather than wait.
                Err(_) => match self.store.entry(LEASE_KEY).await {
                    Ok(Some(e)) if e.value == me && e.operation == kv::Operation::Put => {
                        self.store.update(LEASE_KEY, me, e.revision).await.ok()
                    }
                    _ => None,
                },
            },
        };
        self.held.is_some()
    }

    /// Gives the lease up at shutdown, so that another replica takes over at once.
    pub async fn release(&mut self) {
        if let Some(rev) = self.held.take() {
            let _ = self
                .store
                .delete_expect_revision(LEASE_KEY, Some(rev))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_subjects_map_as_the_nats_mqtt_listener_does() {
        assert_eq!(
            topic_to_subject("vigie/contacts/radar/gris-nez"),
            "vigie.contacts.radar.gris-nez"
        );
        assert_eq!(
            subject_to_topic("vigie.contacts.radar.gris-nez"),
            "vigie/contacts/radar/gris-nez"
        );
        // A dot inside a level is `//` on the NATS side, and comes back.
        assert_eq!(
            topic_to_subject("vigie/contacts/ais/st.omer"),
            "vigie.contacts.ais.st//omer"
        );
        assert_eq!(
            subject_to_topic("vigie.contacts.ais.st//omer"),
            "vigie/contacts/ais/st.omer"
        );
        let s = Subjects::new("test/run-1");
        assert_eq!(s.contacts, "test.run-1.contacts.>");
        assert_eq!(s.alerts, "test.run-1.alerts");
        assert_eq!(s.track(true, "T12"), "test.run-1.exercise.tracks.T12");
    }

    #[test]
    fn kv_keys_keep_alert_ids_readable() {
        assert_eq!(kv_key("A-20261204-0001"), "A-20261204-0001");
        assert_eq!(kv_key("a b*c"), "a_b_c");
    }
}
