//! The commands' bodies as library functions: `run` (the live service), `record`, `replay`
//! (live, paced) and offline replay. `main.rs` only parses arguments and reports errors;
//! tests start these same functions in-process.

use super::http::{self, Readiness};
use super::mqtt::{Inbound, Link, LinkOptions, MqttError};
use super::recording::{self, RecordLine};
use crate::behaviour::{AlertEvent, AlertState};
use crate::config::Config;
use crate::engine::{Outputs, Pipeline};
use crate::geo::zones::{self, ZoneError};
use crate::metrics::Metrics;
use crate::time::EventTime;
use rumqttc::{AsyncClient, QoS};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Zones(#[from] ZoneError),
    #[error(transparent)]
    Broker(#[from] super::broker::BrokerError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot listen for metrics on {addr}: {source}\n  fix: set metrics.listen (or VIGIE_METRICS_LISTEN) to a free address")]
    MetricsListen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let what = what.into();
    move |source| ServiceError::Io { what, source }
}

/// Logs rejections without letting a flood of garbage flood the log: each reason is logged
/// at its 1st, 10th, 100th, … occurrence with the running count; the rest at debug level.
/// Every rejection is counted in metrics regardless.
#[derive(Default)]
pub struct RejectLog {
    counts: HashMap<&'static str, u64>,
}

impl RejectLog {
    pub fn log(&mut self, topic: &str, out: &Outputs) {
        for r in &out.rejects {
            let n = self.counts.entry(r.reason()).or_insert(0);
            *n += 1;
            let topic: String = topic.chars().take(120).collect();
            if is_power_of_ten(*n) {
                tracing::warn!(
                    reason = r.reason(),
                    total = *n,
                    "rejected input on {topic}: {r}"
                );
            } else {
                tracing::debug!(reason = r.reason(), "rejected input on {topic}: {r}");
            }
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// The serialised alert as published, stamped with `emitted_at` now.
pub fn stamp(a: &AlertEvent) -> String {
    let mut a = a.clone();
    a.emitted_at = Some(EventTime::now());
    serde_json::to_string(&a).expect("alerts serialise")
}

/// QoS 1 publications (alerts, status) waiting for room in the MQTT client's request queue.
///
/// Why the processing loop never waits for that room: the connection task hands each
/// received contact to the loop and waits when the loop is behind; had the loop in turn
/// waited for room in the request queue, which only the connection task drains, both would
/// have waited for ever. The latency benchmark found this flat out: vigie stopped, missed its
/// keep-alives and the broker dropped it. Order is kept: nothing is handed over while older
/// publications wait.
#[derive(Default)]
pub struct Outbox {
    queue: std::collections::VecDeque<(String, String, bool)>,
    /// Publications handed to the client, for the acknowledgement count at shutdown.
    pub requested: u64,
}

/// Alerts held while the client queue is full; beyond, the oldest are dropped and counted
/// (`vigie_publish_failures_total`). Reached only if the connection task is gone for good.
const MAX_OUTBOX: usize = 100_000;

impl Outbox {
    pub fn push(&mut self, topic: String, payload: String, retain: bool, metrics: &Metrics) {
        if self.queue.len() >= MAX_OUTBOX {
            self.queue.pop_front();
            metrics.publish_failures.inc();
        }
        self.queue.push_back((topic, payload, retain));
    }

    /// Hands over as many as the client queue takes; true if some still wait.
    pub fn flush(&mut self, client: &AsyncClient) -> bool {
        while let Some((topic, payload, retain)) = self.queue.front() {
            if client
                .try_publish(topic.clone(), QoS::AtLeastOnce, *retain, payload.clone())
                .is_err()
            {
                return true;
            }
            self.requested += 1;
            self.queue.pop_front();
        }
        false
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

/// Publishes what one message caused, without ever waiting: alerts (QoS 1) go through the
/// [`Outbox`], track states (QoS 0, droppable) are dropped and counted when the client queue
/// is full.
pub fn publish_outputs(
    client: &AsyncClient,
    prefix: &str,
    out: &Outputs,
    metrics: &Metrics,
    outbox: &mut Outbox,
) {
    publish_alerts(client, prefix, out, metrics, outbox);
    publish_tracks(client, prefix, out, metrics);
}

/// The alerts of [`publish_outputs`].
pub fn publish_alerts(
    client: &AsyncClient,
    prefix: &str,
    out: &Outputs,
    metrics: &Metrics,
    outbox: &mut Outbox,
) {
    for a in &out.alerts {
        let json = stamp(a);
        let active = format!("{prefix}/alerts/active/{}", a.id);
        let retained = if a.state == AlertState::Cleared {
            String::new()
        } else {
            json.clone()
        };
        // The retained state first, then the event: the broker handles one connection's
        // publications in order, so a centre that has seen an event on `alerts` can rely on
        // the retained topic already saying as much, and a vigie killed between the two
        // leaves an alert it can restore (event first, a kill -9 in between left a `raised`
        // that no restarted vigie knew of and nothing would ever clear; the restart test
        // caught it under load).
        outbox.push(active, retained, true, metrics);
        outbox.push(format!("{prefix}/alerts"), json, false, metrics);
        tracing::info!(
            id = %a.id, state = a.state.as_str(), zone = %a.zone.id, exercise = a.exercise,
            "alert {} {} in {} (dwell {:.0} s)", a.id, a.state.as_str(), a.zone.name, a.dwell_s
        );
    }
    outbox.flush(client);
}

/// The track states of [`publish_outputs`].
pub fn publish_tracks(client: &AsyncClient, prefix: &str, out: &Outputs, metrics: &Metrics) {
    for t in out.tracks.iter().filter(|t| t.publish) {
        let topic = if t.exercise {
            format!("{prefix}/exercise/tracks/{}", t.track_id)
        } else {
            format!("{prefix}/tracks/{}", t.track_id)
        };
        let json = serde_json::to_string(t).expect("tracks serialise");
        if client
            .try_publish(topic, QoS::AtMostOnce, false, json)
            .is_err()
        {
            metrics.publish_failures.inc();
        }
    }
}

/// A running service, for `main` and tests.
pub struct ServiceHandle {
    pub mqtt_url: String,
    pub metrics_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    shutdown: Option<oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<()>,
}

impl ServiceHandle {
    /// SIGTERM semantics: stop taking contacts, process what is in flight, publish
    /// `offline`, disconnect.
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let _ = self.join.await;
    }
}

/// Starts `vigie run`: embedded broker if no URL, metrics endpoint, MQTT link, engine.
pub async fn start(cfg: Config) -> Result<ServiceHandle, ServiceError> {
    let zone_list = zones::load(&cfg.zones.path)?;
    let zone_ids: Vec<String> = zone_list.iter().map(|z| z.id.clone()).collect();
    tracing::info!(
        "{} interception zones from {}",
        zone_list.len(),
        cfg.zones.path.display()
    );
    let url = match &cfg.mqtt.url {
        Some(u) => u.clone(),
        None => {
            let addr: SocketAddr = cfg.mqtt.embedded_listen.parse().expect("validated");
            super::broker::start(addr, cfg.mqtt.max_packet_bytes)?;
            tracing::info!("embedded MQTT broker listening on mqtt://{addr} (no --mqtt URL given)");
            format!("mqtt://{addr}")
        }
    };
    let mut pipeline = Pipeline::new(&cfg, zone_list, false);
    let security = cfg.mqtt.security()?;
    let metrics = Arc::new(Metrics::new(pipeline.sensor_ids(), &zone_ids));
    let ready = Arc::new(Readiness::default());
    ready.zones_loaded.store(true, Ordering::Relaxed);
    let listener = tokio::net::TcpListener::bind(&cfg.metrics.listen)
        .await
        .map_err(|source| ServiceError::MetricsListen {
            addr: cfg.metrics.listen.clone(),
            source,
        })?;
    let metrics_addr = listener.local_addr().map_err(io_err("metrics address"))?;
    tracing::info!("metrics on http://{metrics_addr}/metrics");
    let http_task = tokio::spawn(http::serve(listener, metrics.clone(), ready.clone()));

    let prefix = cfg.mqtt.prefix.clone();
    let status = |state: &str| {
        serde_json::json!({"state": state, "version": env!("CARGO_PKG_VERSION"), "since": EventTime::now()}).to_string()
    };
    // Alerts still active from an earlier run come back before any contact is processed.
    let restored = read_active_alerts(&url, &cfg, &security).await;
    if !restored.is_empty() {
        let n = pipeline.restore_alerts(&restored);
        tracing::info!(
            "restored {n} active alert(s) from {prefix}/alerts/active/#; each continues when its boat's new track is found, or clears after {} s",
            cfg.alerts.restore_grace_s
        );
    }
    let mut opts = LinkOptions::new(&url, &cfg.mqtt.client_id);
    opts.clean_session = !cfg.mqtt.persistent_session;
    opts.manual_acks = cfg.mqtt.persistent_session;
    opts.security = security;
    opts.max_packet_bytes = cfg.mqtt.max_packet_bytes;
    opts.subscribe = vec![format!("{prefix}/contacts/#")];
    opts.will = Some((format!("{prefix}/status"), r#"{"state":"offline"}"#.into()));
    opts.online = Some((format!("{prefix}/status"), status("online")));
    opts.metrics = Some(metrics.clone());
    let link = Link::start(opts)?;
    let (tx, rx) = oneshot::channel();
    let m2 = metrics.clone();
    let zones_path = cfg.zones.path.clone();
    let persistent = cfg.mqtt.persistent_session;
    let join = tokio::spawn(async move {
        serve_loop(
            link, pipeline, m2, ready, prefix, zones_path, persistent, rx,
        )
        .await;
        http_task.abort();
    });
    Ok(ServiceHandle {
        mqtt_url: url,
        metrics_addr,
        metrics,
        shutdown: Some(tx),
        join,
    })
}

/// The latest retained event of every alert still active under `{prefix}/alerts/active/#`,
/// read with a short-lived clean session of its own. An empty list if the broker holds none
/// or cannot be reached in time (the service then starts without them and says so).
async fn read_active_alerts(
    url: &str,
    cfg: &Config,
    security: &super::mqtt::Security,
) -> Vec<AlertEvent> {
    let prefix = &cfg.mqtt.prefix;
    let mut o = LinkOptions::new(url, &format!("{}-restore", cfg.mqtt.client_id));
    o.subscribe = vec![format!("{prefix}/alerts/active/#")];
    o.security = security.clone();
    o.max_packet_bytes = cfg.mqtt.max_packet_bytes;
    let Ok(mut link) = Link::start(o) else {
        return vec![];
    };
    if link.wait_connected(url, 10).await.is_err() {
        tracing::warn!("could not read active alerts from {url}: none restored");
        return vec![];
    }
    // Retained messages follow the SubAck at once; half a second of silence means all came.
    let mut found = vec![];
    while let Ok(Some(m)) =
        tokio::time::timeout(Duration::from_millis(500), link.inbound.recv()).await
    {
        if !m.retain || m.payload.is_empty() {
            continue;
        }
        match serde_json::from_slice::<AlertEvent>(&m.payload) {
            Ok(a) if a.state != AlertState::Cleared => found.push(a),
            Ok(_) => {}
            Err(e) => tracing::warn!("ignoring retained {}: not an alert ({e})", m.topic),
        }
    }
    link.close().await;
    found
}

#[allow(clippy::too_many_arguments)]
async fn serve_loop(
    mut link: Link,
    mut pipeline: Pipeline,
    metrics: Arc<Metrics>,
    ready: Arc<Readiness>,
    prefix: String,
    zones_path: std::path::PathBuf,
    persistent: bool,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut rejects = RejectLog::default();
    // Alerts waiting for room in the client queue; counts what was handed over, to wait for
    // its acknowledgement at shutdown.
    let mut outbox = Outbox::default();
    let mut connected = link.connected.clone();
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!("no SIGHUP zone reload: {e}"))
        .ok();
    let handle = |msg: &Inbound, pipeline: &mut Pipeline, rejects: &mut RejectLog| {
        let t0 = Instant::now();
        pipeline.process(&msg.topic, &msg.payload, msg.t_rx);
        let out = pipeline.last_outputs();
        metrics.observe(out, pipeline, msg.t_rx, t0.elapsed());
        rejects.log(&msg.topic, out);
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = connected.changed() => {
                ready.broker_connected.store(*connected.borrow(), Ordering::Relaxed);
            }
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                // Zones reload without a restart; tracks and active alerts are kept.
                match zones::load(&zones_path) {
                    Ok(z) => {
                        tracing::info!("SIGHUP: reloaded {} zones from {}", z.len(), zones_path.display());
                        pipeline.reload_zones(z);
                    }
                    Err(e) => tracing::error!("SIGHUP: zones not reloaded, keeping the current ones: {e}"),
                }
            }
            msg = link.inbound.recv() => {
                let Some(msg) = msg else { break };
                handle(&msg, &mut pipeline, &mut rejects);
                let out = pipeline.last_outputs();
                publish_alerts(&link.client, &prefix, out, &metrics, &mut outbox);
                // Let the connection task send each alert at once, on its own: not behind
                // this scan's track states (hundreds after a radar scan), which the broker
                // would read and route first, nor behind the next contacts (tokio lets this
                // loop run on while messages are ready, and the woken connection task waits
                // on this worker). Alerts reached a subscriber ~5 ms after the radar scan that
                // proved them, ~1 ms of it processing (latency bench, BENCHMARKS.md).
                if !out.alerts.is_empty() {
                    tokio::task::yield_now().await;
                }
                let out = pipeline.last_outputs();
                publish_tracks(&link.client, &prefix, out, &metrics);
                link.ack(&msg);
                if !out.tracks.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(2)), if !outbox.is_empty() => {
                outbox.flush(&link.client);
            }
        }
    }
    // Stop taking contacts; process what already arrived. With a persistent session the
    // subscription stays: contacts published while vigie is down wait at the broker, and
    // any delivered but not yet acknowledged are delivered again on the next start.
    if !persistent {
        let _ = link
            .client
            .unsubscribe(format!("{prefix}/contacts/#"))
            .await;
    }
    while let Ok(msg) = link.inbound.try_recv() {
        handle(&msg, &mut pipeline, &mut rejects);
        publish_outputs(
            &link.client,
            &prefix,
            pipeline.last_outputs(),
            &metrics,
            &mut outbox,
        );
        link.ack(&msg);
    }
    outbox.push(
        format!("{prefix}/status"),
        r#"{"state":"offline"}"#.into(),
        true,
        &metrics,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while outbox.flush(&link.client) && Instant::now() < deadline {
        // Contacts still arriving would block the connection task, which must drain the
        // queue: let them go unacknowledged (a persistent session gets them again).
        while link.inbound.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if !outbox.is_empty() {
        tracing::error!(
            "{} alert or status publications could not be handed to the MQTT client within 5 s of shutdown; they are lost",
            outbox.len()
        );
        metrics.publish_failures.inc_by(outbox.len() as u64);
    }
    // PUBACKs come in order: once as many as we published (alerts, every `online`, this
    // `offline`) are in, nothing we sent is still only in flight.
    let want = outbox.requested + link.online_published.load(Ordering::Relaxed);
    if link.wait_acked(want, 5.0).await {
        tracing::info!("published offline status; every alert acknowledged; disconnecting");
    } else {
        tracing::warn!(
            "the broker acknowledged {} of {want} QoS 1 publications within 5 s; disconnecting anyway",
            link.acked.load(Ordering::Relaxed)
        );
    }
    link.close().await;
}

/// What an offline replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub messages: u64,
    pub contacts: u64,
    pub rejected: u64,
    pub bad_lines: u64,
    pub tracks: u64,
    pub alerts: u64,
    pub seconds: f64,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages, {} contacts, {} confirmed tracks, {} alert events, {} rejected, {} bad lines; {:.0} contacts/s",
            self.messages,
            self.contacts,
            self.tracks,
            self.alerts,
            self.rejected,
            self.bad_lines,
            self.contacts as f64 / self.seconds.max(1e-9)
        )
    }
}

/// `vigie replay FILE --offline`: processes a recording as fast as it can, in file order,
/// with no broker. Alerts and (optionally) confirmed track states are written as NDJSON.
pub fn replay_offline(
    cfg: &Config,
    input: impl BufRead,
    alerts_out: &mut dyn Write,
    mut tracks_out: Option<&mut dyn Write>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ReplaySummary, ServiceError> {
    let zone_list = zones::load(&cfg.zones.path)?;
    let mut pipeline = Pipeline::new(cfg, zone_list, true);
    let mut s = ReplaySummary::default();
    let mut confirmed = rustc_hash::FxHashSet::default();
    let t0 = Instant::now();
    let mut rejects = RejectLog::default();
    let mut buf = Vec::with_capacity(256);
    recording::for_each_raw(input, |item| {
        let line = match item {
            Ok(l) => l,
            Err(recording::RecordingError::BadLine { line, message }) => {
                tracing::warn!("recording line {line} skipped: {message}");
                s.bad_lines += 1;
                return Ok(());
            }
            Err(recording::RecordingError::Io(e)) => {
                return Err(io_err("reading the recording")(e))
            }
        };
        if let Some(p) = progress {
            p.inc(1);
        }
        s.messages += 1;
        let out = pipeline.process(&line.topic, &line.payload, line.t_rx);
        rejects.log(&line.topic, out);
        s.contacts += out.contacts as u64;
        s.rejected += out.rejects.len() as u64;
        for a in &out.alerts {
            s.alerts += 1;
            alerts_out
                .write_all(stamp(a).as_bytes())
                .and_then(|_| alerts_out.write_all(b"\n"))
                .map_err(io_err("writing alerts"))?;
        }
        for t in &out.tracks {
            if !confirmed.contains(&t.track_id) {
                confirmed.insert(t.track_id.clone());
            }
            if let Some(w) = tracks_out.as_deref_mut() {
                buf.clear();
                serde_json::to_writer(&mut buf, t).expect("tracks serialise");
                buf.push(b'\n');
                w.write_all(&buf).map_err(io_err("writing tracks"))?;
            }
        }
        Ok(())
    })?;
    alerts_out.flush().map_err(io_err("writing alerts"))?;
    if let Some(w) = tracks_out {
        w.flush().map_err(io_err("writing tracks"))?;
    }
    s.tracks = confirmed.len() as u64;
    s.seconds = t0.elapsed().as_secs_f64();
    Ok(s)
}

/// `vigie replay FILE --mqtt URL [--speed X]`: publishes a recording's messages on their
/// topics, marked as exercise data, paced by their receive times divided by `speed`
/// (`None`: as fast as possible). Returns the number of messages published.
pub async fn replay_live(
    url: &str,
    security: &super::mqtt::Security,
    input: impl BufRead,
    speed: Option<f64>,
) -> Result<u64, ServiceError> {
    let mut o = LinkOptions::new(url, &format!("vigie-replay-{}", std::process::id()));
    o.security = security.clone();
    let mut link = Link::start(o)?;
    link.wait_connected(url, 10).await?;
    let start = Instant::now();
    let mut base: Option<EventTime> = None;
    let mut n = 0;
    for item in recording::read(input) {
        let line = match item {
            Ok(l) => l,
            Err(recording::RecordingError::BadLine { line, message }) => {
                tracing::warn!("recording line {line} skipped: {message}");
                continue;
            }
            Err(recording::RecordingError::Io(e)) => {
                return Err(io_err("reading the recording")(e))
            }
        };
        if let Some(speed) = speed {
            let b = *base.get_or_insert(line.t_rx);
            let due = Duration::from_secs_f64((line.t_rx.secs_since(b) / speed).max(0.0));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        if let Err(e) = link
            .client
            .publish(
                line.topic.clone(),
                QoS::AtLeastOnce,
                false,
                line.exercise_payload(),
            )
            .await
        {
            tracing::error!("cannot publish line for {}: {e}", line.topic);
            continue;
        }
        n += 1;
    }
    // Every message acknowledged by the broker before we hang up.
    if !link.wait_acked(n, 10.0).await {
        tracing::warn!(
            "the broker acknowledged only {} of {n} messages within 10 s: some were lost",
            link.acked.load(Ordering::Relaxed)
        );
    }
    link.close().await;
    Ok(n)
}

/// `vigie record`: writes every message on `{prefix}/contacts/#` until `stop` resolves.
pub async fn record(
    url: &str,
    prefix: &str,
    security: &super::mqtt::Security,
    out: &mut (dyn Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<u64, ServiceError> {
    let mut o = LinkOptions::new(url, &format!("vigie-record-{}", std::process::id()));
    o.security = security.clone();
    o.subscribe = vec![format!("{prefix}/contacts/#")];
    let mut link = Link::start(o)?;
    link.wait_connected(url, 10).await?;
    tokio::pin!(stop);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            msg = link.inbound.recv() => {
                let Some(msg) = msg else { break };
                let line = RecordLine::new(msg.t_rx, &msg.topic, &msg.payload);
                let mut text = serde_json::to_string(&line).expect("serialises");
                text.push('\n');
                out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(io_err("writing the recording"))?;
                n += 1;
            }
        }
    }
    link.close().await;
    Ok(n)
}
