//! `vigie run`: the live service. Embedded broker if no URL, metrics endpoint, MQTT link,
//! one processing loop around the [`Pipeline`]; alerts an earlier run left active are taken
//! back before the first contact.

use super::cap::CapSink;
use super::console::server::{Access, Console};
use super::console::{ActionRequest, Hub};
use super::engine_thread::EngineThread;
use super::error::{io_err, ServiceError};
use super::http::{self, Readiness};
use super::incidents::{self, IncidentLog, Record};
use super::mqtt::{Inbound, Link, LinkOptions};
use super::mqtt_states::StateLinkOptions;
use super::outputs::{Destinations, OutputStage};
use super::publish::{publish_alerts, Outbox, RejectLog};
use crate::behaviour::{AlertEvent, AlertState};
use crate::config::broker::Security;
use crate::config::Config;
use crate::geo::zones;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::report::Reports;
use crate::time::EventTime;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A running service, for `main` and tests.
pub struct ServiceHandle {
    pub mqtt_url: String,
    pub metrics_addr: SocketAddr,
    /// Where the operator's console listens (`None`: turned off, or its address was taken).
    pub console_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    running: super::lifecycle::Running,
}

impl ServiceHandle {
    /// SIGTERM semantics: stop taking contacts, process what is in flight, publish
    /// `offline`, disconnect.
    pub async fn stop(self) {
        self.running.stop().await;
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
    let report_ctx = crate::report::ReportContext::new(&cfg, &zone_list);
    let mut pipeline = Pipeline::new(&cfg, zone_list, false);
    // The console can show what the radar may be starting to follow (tentative tracks).
    pipeline.set_tentative_states(!cfg.console.listen.is_empty());
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
    let record = open_incidents(&cfg, &metrics);

    let prefix = cfg.mqtt.prefix.clone();
    let status = |state: &str| {
        serde_json::json!({"state": state, "version": env!("CARGO_PKG_VERSION"), "since": EventTime::now()}).to_string()
    };
    // What an earlier run learned (buoys, boats under way), then the alerts still active
    // from it, come back before any contact is processed.
    let memory_file =
        (!cfg.alerts.memory_file.as_os_str().is_empty()).then(|| cfg.alerts.memory_file.clone());
    if let Some(path) = &memory_file {
        match super::memory_file::load(path) {
            Ok(Some(m)) => {
                pipeline.load_memory(&m);
                tracing::info!(
                    "memory from {}: {} learned fixed object(s), {} boat(s) recently under way",
                    path.display(),
                    m.live.fixed_objects.len() + m.exercise.fixed_objects.len(),
                    m.live.movers.len() + m.exercise.movers.len()
                );
            }
            Ok(None) => tracing::info!("no memory at {} yet: a first start", path.display()),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    let (restored, retained_cap) = read_active_alerts(&url, &cfg, &security).await;
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
    opts.security = security.clone();
    opts.max_packet_bytes = cfg.mqtt.max_packet_bytes;
    opts.keep_alive = Duration::from_secs(cfg.mqtt.keep_alive_s.into());
    opts.subscribe = vec![
        format!("{prefix}/contacts/#"),
        format!("{prefix}/alerts/actions/+/set"),
    ];
    opts.will = Some((format!("{prefix}/status"), r#"{"state":"offline"}"#.into()));
    opts.online = Some((format!("{prefix}/status"), status("online")));
    opts.metrics = Some(metrics.clone());
    // The connection's task runs where the engine's loop does (see [`EngineThread`]).
    let engine = EngineThread::start(cfg.threads.engine_nice)?;
    let link = {
        let _on_engine_thread = engine.handle.enter();
        Link::start(opts)?
    };
    let states_security = security.clone();
    let (stop_watch, watch_stopped) = oneshot::channel();
    let watch = tokio::spawn(super::broker_watch::watch(
        url.clone(),
        cfg.mqtt.client_id.clone(),
        security,
        metrics.clone(),
        watch_stopped,
    ));
    let cap = cfg.cap.publish.then(|| {
        let sink = CapSink::new(
            Reports::new(report_ctx.clone(), LIVE_EXERCISE),
            link.client.clone(),
            prefix.clone(),
            metrics.clone(),
        );
        for a in &restored {
            sink.restore(a, retained_cap.get(&a.id).map(Vec::as_slice));
        }
        sink
    });
    let hub = Hub::new(
        cfg.console.backlog,
        cfg.console.track_timeout_s,
        Some(Arc::new(report_ctx)),
    );
    // Track states, their text and the console's share go on a thread of their own.
    let (stage, own_connection) = OutputStage::start(
        StateLinkOptions {
            url: url.clone(),
            client_id: cfg.mqtt.client_id.clone(),
            security: states_security,
            keep_alive: Duration::from_secs(cfg.mqtt.keep_alive_s.into()),
            max_packet_bytes: cfg.mqtt.max_packet_bytes,
            metrics: Some(metrics.clone()),
        },
        Destinations {
            hub: hub.clone(),
            client: link.client.clone(),
            prefix: prefix.clone(),
            metrics: metrics.clone(),
        },
        cfg.threads.outputs_nice,
    )?;
    if !own_connection {
        tracing::info!(
            "track states share the main MQTT connection (mqtts:// without mqtt.ca_file)"
        );
    }
    let access = Access::from_config(&cfg)?;
    let console = Arc::new(Console {
        hub: hub.clone(),
        users: access.users,
        zones_geojson: access.zones_geojson,
        incidents_file: cfg.console.incidents_file.clone(),
        record: record.clone(),
        mqtt: Some((link.client.clone(), prefix.clone())),
        cap: cap.clone(),
        metrics: metrics.clone(),
        debrief: None,
        sse_batch: Duration::from_secs_f64(cfg.console.sse_batch_s),
    });
    let tls = access.tls;
    let (console_addr, console_task) = start_console(&cfg, console.clone(), tls).await;
    let (tx, rx) = oneshot::channel();
    let m2 = metrics.clone();
    let zones_path = cfg.zones.path.clone();
    let persistent = cfg.mqtt.persistent_session;
    let EngineThread { handle, done } = engine;
    let main = tokio::runtime::Handle::current();
    let join = handle.spawn(async move {
        let sinks = Sinks {
            console,
            record,
            cap,
        };
        serve_loop(
            link,
            stage,
            pipeline,
            m2,
            ready,
            prefix,
            zones_path,
            persistent,
            sinks,
            MemoryKeeper::new(memory_file, main),
            rx,
        )
        .await;
        let _ = stop_watch.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), watch).await;
        http_task.abort();
        if let Some(t) = console_task {
            t.abort();
        }
        let _ = done.send(());
    });
    Ok(ServiceHandle {
        mqtt_url: url,
        metrics_addr,
        console_addr,
        metrics,
        running: super::lifecycle::Running::new(tx, join),
    })
}

/// What a live CAP document of exercise data says the exercise is: replayed recordings and
/// simulations published onto the broker (`vigie replay --mqtt`, `vigie demo`).
const LIVE_EXERCISE: &str =
    "replay of recorded or simulated data (vigie replay or demo); not a live incident";

/// How often (wall clock) `alerts.memory_file` is rewritten: a restart forgets at most
/// this much of what was learned.
const MEMORY_SAVE_EVERY: Duration = Duration::from_secs(5);

/// Writes the pipeline's memory to `alerts.memory_file` off the engine's task (a sync to
/// disk can take tens of milliseconds), one write at a time.
struct MemoryKeeper {
    path: Option<std::path::PathBuf>,
    writing: Option<tokio::task::JoinHandle<()>>,
    /// The main runtime, whose blocking threads do the writing, asked for by a task of its
    /// own: a thread is created with the priority of the thread that asks for it, and one
    /// the engine's thread made would run at `threads.engine_nice` — a disk write is no
    /// reason to take a core before the broker.
    main: tokio::runtime::Handle,
    /// The last write failed: said once, not every five seconds, until one succeeds.
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryKeeper {
    fn new(path: Option<std::path::PathBuf>, main: tokio::runtime::Handle) -> Self {
        MemoryKeeper {
            path,
            writing: None,
            main,
            failing: Arc::default(),
        }
    }

    fn save(&mut self, pipeline: &Pipeline) {
        let Some(path) = self.path.clone() else {
            return;
        };
        if self.writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return; // the disk is slow: the next tick writes a fresher picture
        }
        let m = pipeline.memory();
        let failing = self.failing.clone();
        let write = move || match super::memory_file::save(&path, &m) {
            Ok(()) => {
                if failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("memory saved to {} again", path.display());
                }
            }
            Err(e) => {
                if !failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!("{e}; a restart will forget what was learned since");
                }
            }
        };
        self.writing = Some(self.main.spawn(async move {
            let _ = tokio::task::spawn_blocking(write).await;
        }));
    }

    /// Waits for the write under way (at shutdown).
    async fn finish(&mut self) {
        if let Some(w) = self.writing.take() {
            let _ = w.await;
        }
    }
}

/// Where alert events go besides MQTT: the console's pages and the incident record.
struct Sinks {
    console: Arc<Console>,
    record: Option<std::sync::mpsc::Sender<Record>>,
    cap: Option<Arc<CapSink>>,
}

impl Sinks {
    /// After the MQTT publication (alerts first): the CAP documents, the record, and the
    /// retained latest action of an alert that has cleared emptied. (The pages get alerts
    /// and states from the output thread, [`OutputStage`].)
    fn take(
        &self,
        link: &super::mqtt::Link,
        prefix: &str,
        out: &crate::engine::Outputs,
        metrics: &Metrics,
        outbox: &mut Outbox,
    ) {
        if let Some(cap) = &self.cap {
            cap.alerts(out, outbox);
            outbox.flush(link);
        }
        for a in &out.alerts {
            if let Some(tx) = &self.record {
                let _ = tx.send(Record::Event(a.clone()));
            }
            if a.state == AlertState::Cleared
                && link
                    .client
                    .try_publish(
                        format!("{prefix}/alerts/actions/{}", a.id),
                        rumqttc::QoS::AtLeastOnce,
                        true,
                        Vec::new(),
                    )
                    .is_err()
            {
                metrics.publish_failures.inc();
            }
        }
    }

    /// An action from another console or a C2 system on `…/actions/{id}/set`.
    fn mqtt_action(&self, id: &str, payload: &[u8]) {
        match serde_json::from_slice::<ActionRequest>(payload) {
            Ok(req) => {
                if let Err(e) = self.console.take_action(id, req, None) {
                    tracing::warn!("action on alert {id} from MQTT refused: {e}");
                }
            }
            Err(e) => tracing::warn!("action on alert {id} from MQTT is not an action: {e}"),
        }
    }
}

/// The alert id of an action topic `{prefix}/alerts/actions/{id}/set`.
fn action_topic<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    topic
        .strip_prefix(prefix)?
        .strip_prefix("/alerts/actions/")?
        .strip_suffix("/set")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Opens the incident record and starts its writer; without it the service still runs
/// (and says why): an unwritable disk must not blind the coast.
fn open_incidents(cfg: &Config, metrics: &Arc<Metrics>) -> Option<std::sync::mpsc::Sender<Record>> {
    match IncidentLog::open(&cfg.console.incidents_file) {
        Ok(log) => {
            tracing::info!("incident record: {}", cfg.console.incidents_file.display());
            let m = metrics.clone();
            Some(incidents::writer(log, move || m.incident_failures.inc()))
        }
        Err(e) => {
            tracing::error!("{e}: alerts are not recorded in the incident history");
            metrics.incident_failures.inc();
            None
        }
    }
}

/// Starts the console if configured. An address already taken turns it off with an error
/// in the log, not the service: the tracking goes on.
async fn start_console(
    cfg: &Config,
    console: Arc<Console>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (Option<SocketAddr>, Option<tokio::task::JoinHandle<()>>) {
    if cfg.console.listen.is_empty() {
        return (None, None);
    }
    match tokio::net::TcpListener::bind(&cfg.console.listen).await {
        Ok(l) => {
            let addr = l.local_addr().ok();
            let scheme = if tls.is_some() { "https" } else { "http" };
            if let Some(a) = addr {
                tracing::info!("operator console on {scheme}://{a}/");
            }
            let task = tokio::spawn(async move {
                if let Err(e) = super::console::server::serve(l, console, tls).await {
                    tracing::error!("console stopped: {e}");
                }
            });
            (addr, Some(task))
        }
        Err(e) => {
            tracing::error!(
                "operator console not started: cannot listen on {} ({e}); set console.listen",
                cfg.console.listen
            );
            (None, None)
        }
    }
}

/// Retained CAP documents of active alerts, by alert id.
type RetainedCap = std::collections::HashMap<String, Vec<u8>>;

/// The latest retained event of every alert still active under `{prefix}/alerts/active/#`
/// (and the CAP document each left retained under `{prefix}/cap/active/#`, for its chain to
/// go on), read with a short-lived clean session of its own. Empty if the broker holds none
/// or cannot be reached in time (the service then starts without them and says so).
async fn read_active_alerts(
    url: &str,
    cfg: &Config,
    security: &Security,
) -> (Vec<AlertEvent>, RetainedCap) {
    let prefix = &cfg.mqtt.prefix;
    let mut o = LinkOptions::new(url, &format!("{}-restore", cfg.mqtt.client_id));
    o.subscribe = vec![
        format!("{prefix}/alerts/active/#"),
        format!("{prefix}/cap/active/#"),
    ];
    o.security = security.clone();
    o.max_packet_bytes = cfg.mqtt.max_packet_bytes;
    let Ok(mut link) = Link::start(o) else {
        return Default::default();
    };
    if link.wait_connected(url, 10).await.is_err() {
        tracing::warn!("could not read active alerts from {url}: none restored");
        return Default::default();
    }
    // Retained messages follow the SubAck at once; half a second of silence means all came.
    let mut found = vec![];
    let mut cap = RetainedCap::new();
    let cap_topic = format!("{prefix}/cap/active/");
    while let Ok(Some(m)) =
        tokio::time::timeout(Duration::from_millis(500), link.inbound.recv()).await
    {
        if !m.retain || m.payload.is_empty() {
            continue;
        }
        if let Some(id) = m.topic.strip_prefix(&cap_topic) {
            cap.insert(id.to_string(), m.payload.to_vec());
            continue;
        }
        match serde_json::from_slice::<AlertEvent>(&m.payload) {
            Ok(a) if a.state != AlertState::Cleared => found.push(a),
            Ok(_) => {}
            Err(e) => tracing::warn!("ignoring retained {}: not an alert ({e})", m.topic),
        }
    }
    link.close().await;
    (found, cap)
}

/// Whether vigie is falling behind the broker: the messages received and waiting for the
/// engine, as a gauge, and one warning each time they pass half the inbound queue (again
/// once they have come back under an eighth). Beyond the queue the broker holds the rest,
/// and past its own limit drops them (see [`super::broker_watch`]).
#[derive(Default)]
struct Behind {
    warned: bool,
}

impl Behind {
    fn observe(&mut self, waiting: usize, capacity: usize, metrics: &Metrics) {
        metrics.inbound_backlog.set(waiting as i64);
        if !self.warned && waiting >= capacity / 2 {
            self.warned = true;
            tracing::warn!(
                waiting,
                capacity,
                "vigie is behind the broker: {waiting} messages received and waiting; \
                 the broker queues what does not fit and drops past its own limit"
            );
        } else if self.warned && waiting < capacity / 8 {
            self.warned = false;
            tracing::info!("vigie has caught up with the broker ({waiting} messages waiting)");
        }
    }
}

/// Hands a message's alert events over as soon as they are decided.
struct HandOver<'a> {
    link: &'a super::mqtt::Link,
    prefix: &'a str,
    metrics: &'a Metrics,
    /// When the proving message arrived, and how long it waited for the engine.
    t_rx: EventTime,
    waited: f64,
}

impl HandOver<'_> {
    /// Alerts first: handed to the connection before this scan's track states (hundreds
    /// after a radar scan) are serialised, and the states go on a connection of their own
    /// from a thread of their own ([`OutputStage`]), so the alert never waits behind them.
    /// The connection task runs on this thread ([`super::engine_thread`]): without a yield
    /// here it wrote the alert only after the CAP documents, the console's SITREP and the
    /// scan's states were built — 2–3 ms between an alert's `emitted_at` and the
    /// subscriber at 1k–10k msg/s (latency bench), against a broker hop of 0.1–0.3 ms.
    /// Then the core itself is given up once (below). Alerts are rare: nothing is yielded
    /// on other messages.
    async fn alerts(&self, alerts: &[AlertEvent], outbox: &mut Outbox) {
        if alerts.is_empty() {
            return;
        }
        publish_alerts(self.link, self.prefix, alerts, self.metrics, outbox);
        let inside = EventTime::now().secs_since(self.t_rx);
        for _ in alerts {
            self.metrics.alert_handover.observe(inside);
            self.metrics.alert_waiting.observe(self.waited);
        }
        tokio::task::yield_now().await;
        // The alert is on the wire now (the connection task ran in the yield above), and the
        // broker that must carry it has been woken by it; on a machine whose cores are all
        // busy it waited for one until this thread blocked — after the rest of the scan and
        // its hundreds of states, 0.7–1.6 ms later (packet capture of issue 23's latency
        // bench on two cores: the loopback silent that long after the alert, the broker
        // forwarding it as soon as vigie's thread slept). Giving up the core once lets the
        // broker carry the alert first: contact → alert p50 1.0–1.8 → 0.6 ms at 10,000
        // msg/s (BENCHMARKS.md). One system call per message with alerts; they are rare.
        std::thread::yield_now();
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_loop(
    mut link: Link,
    mut stage: OutputStage,
    mut pipeline: Pipeline,
    metrics: Arc<Metrics>,
    ready: Arc<Readiness>,
    prefix: String,
    zones_path: std::path::PathBuf,
    persistent: bool,
    sinks: Sinks,
    mut memory: MemoryKeeper,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut save_tick = tokio::time::interval(MEMORY_SAVE_EVERY);
    save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rejects = RejectLog::default();
    // Alerts waiting for room in the client queue; counts what was handed over, to wait for
    // its acknowledgement at shutdown.
    let mut outbox = Outbox::default();
    let mut behind = Behind::default();
    let mut connected = link.connected.clone();
    // When the states waiting on this side must go to the output thread at the latest.
    let flush_at = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(flush_at);
    let mut armed: Option<Instant> = None;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!("no SIGHUP zone reload: {e}"))
        .ok();
    // At shutdown, what already arrived: processed whole, published after.
    let handle = |msg: &Inbound, pipeline: &mut Pipeline, rejects: &mut RejectLog| {
        let t0 = Instant::now();
        pipeline.process(&msg.topic, &msg.payload, msg.t_rx);
        let out = pipeline.last_outputs();
        metrics.observe(out, || pipeline.counts(), msg.t_rx, t0.elapsed());
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
                behind.observe(link.inbound.len(), link.inbound.max_capacity(), &metrics);
                if let Some(id) = action_topic(&prefix, &msg.topic) {
                    sinks.mqtt_action(id, &msg.payload);
                    link.ack(&msg);
                    continue;
                }
                let t0 = Instant::now();
                let waited = EventTime::now().secs_since(msg.t_rx);
                // A large radar scan may be done in two parts, its plots near the tracks
                // inside zones first ([`Pipeline::process_first`]): their alerts go out
                // before the hundreds of plots across the strait are associated.
                let more = pipeline.process_first(&msg.topic, &msg.payload, msg.t_rx);
                let mut took = t0.elapsed();
                let handed = HandOver { link: &link, prefix: &prefix, metrics: &metrics, t_rx: msg.t_rx, waited };
                handed.alerts(&pipeline.last_outputs().alerts, &mut outbox).await;
                if more {
                    let first = pipeline.last_outputs().alerts.len();
                    let t1 = Instant::now();
                    pipeline.process_rest(&msg.topic);
                    took += t1.elapsed();
                    handed.alerts(&pipeline.last_outputs().alerts[first..], &mut outbox).await;
                }
                let out = pipeline.last_outputs();
                metrics.observe(out, || pipeline.counts(), msg.t_rx, took);
                rejects.log(&msg.topic, out);
                sinks.take(&link, &prefix, out, &metrics, &mut outbox);
                link.ack(&msg);
                // The states and the pages' share: to the output thread, in batches.
                stage.take_from(&mut pipeline, Instant::now());
                if stage.due() != armed {
                    armed = stage.due();
                    if let Some(d) = armed {
                        flush_at.as_mut().reset(d.into());
                    }
                }
            }
            () = &mut flush_at, if armed.is_some() => {
                armed = None;
                stage.flush();
            }
            _ = tokio::time::sleep(Duration::from_millis(2)), if !outbox.is_empty() => {
                outbox.flush(&link);
            }
            _ = save_tick.tick() => memory.save(&pipeline),
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
        if action_topic(&prefix, &msg.topic).is_some() {
            continue;
        }
        handle(&msg, &mut pipeline, &mut rejects);
        let out = pipeline.last_outputs();
        // As in the loop above: alerts first, then the rest, the states to the output thread.
        publish_alerts(&link, &prefix, &out.alerts, &metrics, &mut outbox);
        sinks.take(&link, &prefix, out, &metrics, &mut outbox);
        link.ack(&msg);
        stage.take_from(&mut pipeline, Instant::now());
    }
    // Every state handed over is written, and their connection closed.
    stage.finish().await;
    memory.finish().await;
    memory.save(&pipeline);
    memory.finish().await;
    outbox.push(
        format!("{prefix}/status"),
        r#"{"state":"offline"}"#.into(),
        true,
        &metrics,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while outbox.flush(&link) && Instant::now() < deadline {
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
