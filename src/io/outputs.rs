//! The output stage: each message's track states serialised (contract §6.2), written on
//! their MQTT connection and given to the console's hub — on a thread of its own
//! (`vigie-outputs`), not the engine's.
//!
//! Why: the live engine keeps one order for every message, so a radar scan that proves an
//! alert waits for the whole of the message before it. After a scan of ~400 plots the
//! engine's thread spent as long again on that scan's outputs as on the tracking itself
//! (a diagnostic build's timings at 10,000 msg/s in issue 23's latency bench: tracking
//! ~500 µs, the states' text ~100–160, the hub (and, with an alert, the CAP documents)
//! 60–700, their MQTT batch 20–50); the
//! proving scan that followed waited for all of it. Here the engine's thread hands the
//! message's [`Outputs`] over as they are (swapped out of the pipeline, not copied) and
//! goes on with the next message while this thread does the rest on the other core.
//!
//! What stays on the engine's thread: alert events on MQTT (written first, before the
//! rest of the message is even processed), CAP documents, the incident record, metrics.
//! The hub still sees every message's alerts and states in the engine's order: one
//! channel, one consumer.
//!
//! Wake-ups are what a thread hand-over costs (a system call each, and the other thread's
//! turn to be scheduled): outputs are handed over in batches — at once when a message
//! carries alerts or when [`FLUSH_ITEMS`] states are waiting (a radar scan), else when the
//! oldest has waited [`FLUSH_AFTER`] — so the AIS reports between two scans do not each
//! wake the other thread. Nothing is allocated per message once warm: the batches and the
//! [`Outputs`] in them come back to be reused.
//!
//! Never waits on the engine's side. If this thread falls [`MAX_IN_FLIGHT`] messages
//! behind, the track states of further messages are dropped and counted
//! (`vigie_mqtt_publish_failures_total`; QoS 0 and superseded within seconds), never their
//! alerts.

use super::console::{state_texts, Hub};
use super::engine_thread::EngineThread;
use super::error::ServiceError;
use super::mqtt_states::{StateLink, StateLinkOptions};
use super::publish::publish_tracks;
use crate::engine::Outputs;
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// States (and tentative states) waiting that make a batch worth a wake-up at once.
pub const FLUSH_ITEMS: usize = 64;
/// The longest a message's states wait on the engine's side for a batch to fill.
pub const FLUSH_AFTER: Duration = Duration::from_millis(1);
/// Messages handed over and not yet done past which track states are shed.
pub const MAX_IN_FLIGHT: usize = 4096;
/// Cleared [`Outputs`] kept for reuse; more are dropped (a scan's can hold ~100 kB).
const SPARE_KEPT: usize = 64;

/// The engine's end of the output stage.
pub struct OutputStage {
    tx: Option<mpsc::UnboundedSender<Vec<Outputs>>>,
    back: std::sync::mpsc::Receiver<Vec<Outputs>>,
    spare: Vec<Outputs>,
    spare_batches: Vec<Vec<Outputs>>,
    pending: Vec<Outputs>,
    pending_items: usize,
    pending_since: Option<Instant>,
    /// States shed since the output thread fell behind (`None`: not behind): said once in
    /// the log when shedding begins and once when it has caught up, not per message.
    shedding: Option<u64>,
    in_flight: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    task: Option<JoinHandle<()>>,
    thread: Option<oneshot::Sender<()>>,
}

/// Where the stage sends what it is given.
pub struct Destinations {
    pub hub: Arc<Hub>,
    /// The main client: track states go through it when they have no connection of their
    /// own (`mqtts://` without `mqtt.ca_file`, see [`StateLink::start`]).
    pub client: rumqttc::AsyncClient,
    pub prefix: String,
    pub metrics: Arc<Metrics>,
}

impl OutputStage {
    /// Starts the thread at niceness `nice` (`threads.outputs_nice`), and the track
    /// states' connection on it.
    pub fn start(
        states: StateLinkOptions,
        to: Destinations,
        nice: i32,
    ) -> Result<(OutputStage, bool), ServiceError> {
        let thread = EngineThread::named("vigie-outputs", nice)?;
        let link = {
            let _on_output_thread = thread.handle.enter();
            StateLink::start(states)?
        };
        let own_connection = link.is_some();
        let (tx, rx) = mpsc::unbounded_channel();
        let (back_tx, back) = std::sync::mpsc::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let metrics = to.metrics.clone();
        let task = thread
            .handle
            .spawn(run(rx, back_tx, link, to, in_flight.clone()));
        Ok((
            OutputStage {
                tx: Some(tx),
                back,
                spare: Vec::new(),
                spare_batches: Vec::new(),
                pending: Vec::new(),
                pending_items: 0,
                pending_since: None,
                shedding: None,
                in_flight,
                metrics,
                task: Some(task),
                thread: Some(thread.done),
            },
            own_connection,
        ))
    }

    /// A cleared [`Outputs`] to swap into the pipeline for the next message.
    pub fn spare(&mut self) -> Outputs {
        if self.spare.is_empty() {
            while let Ok(mut batch) = self.back.try_recv() {
                let room = SPARE_KEPT.saturating_sub(self.spare.len());
                self.spare.extend(batch.drain(..).take(room));
                batch.clear();
                if self.spare_batches.len() < 4 {
                    self.spare_batches.push(batch);
                }
            }
        }
        self.spare.pop().unwrap_or_default()
    }

    /// Takes the pipeline's last outputs (swapped for a spare, not copied) with
    /// [`push`](Self::push).
    pub fn take_from(&mut self, pipeline: &mut crate::pipeline::Pipeline, now: Instant) {
        let mut o = self.spare();
        pipeline.swap_outputs(&mut o);
        self.push(o, now);
    }

    /// Takes one message's outputs; hands the batch over if it is due (see the module
    /// comment). True if something is left waiting: the caller then calls
    /// [`flush`](Self::flush) by [`due`](Self::due) at the latest.
    pub fn push(&mut self, out: Outputs, now: Instant) -> bool {
        let urgent = !out.alerts.is_empty();
        self.pending_items += out.tracks.len() + out.tentative.len();
        if self.pending.is_empty() {
            self.pending_since = Some(now);
        }
        self.pending.push(out);
        if urgent || self.pending_items >= FLUSH_ITEMS || self.due().is_some_and(|d| now >= d) {
            self.flush();
        }
        !self.pending.is_empty()
    }

    /// When what is waiting must be handed over.
    pub fn due(&self) -> Option<Instant> {
        self.pending_since.map(|t| t + FLUSH_AFTER)
    }

    /// Hands over everything waiting.
    pub fn flush(&mut self) {
        self.pending_since = None;
        self.pending_items = 0;
        if self.pending.is_empty() {
            return;
        }
        let n = self.pending.len();
        let behind = self.in_flight.load(Ordering::Relaxed);
        if behind + n > MAX_IN_FLIGHT {
            // The output thread is far behind: keep the alerts (and what the hub needs of
            // tentative tracks dropped), shed the states.
            let mut shed = 0u64;
            for o in &mut self.pending {
                shed += o.tracks.iter().filter(|t| t.publish).count() as u64;
                o.tracks.clear();
                o.tentative.clear();
            }
            self.metrics.publish_failures.inc_by(shed);
            if self.shedding.is_none() {
                tracing::warn!(
                    "track states shed: the output thread is {behind} messages behind (limit \
                     {MAX_IN_FLIGHT}); alerts are not affected; counted in \
                     vigie_mqtt_publish_failures_total"
                );
            }
            *self.shedding.get_or_insert(0) += shed;
        } else if behind < MAX_IN_FLIGHT / 4 {
            // Caught up well below the limit, not just under it: one line each way per
            // spell of overload, not one per batch at its edge.
            if let Some(shed) = self.shedding.take() {
                tracing::info!("the output thread has caught up; {shed} track states were shed");
            }
        }
        let next = self.spare_batches.pop().unwrap_or_default();
        let batch = std::mem::replace(&mut self.pending, next);
        self.in_flight.fetch_add(n, Ordering::Relaxed);
        if let Some(tx) = &self.tx {
            if tx.send(batch).is_err() {
                self.in_flight.fetch_sub(n, Ordering::Relaxed);
            }
        }
    }

    /// Hands over what is waiting, lets the thread finish it (the states' connection writes
    /// what it holds and disconnects), and stops the thread.
    pub async fn finish(mut self) {
        self.flush();
        self.tx = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(done) = self.thread.take() {
            let _ = done.send(());
        }
    }
}

/// The output thread's loop: each message's states to text, to the hub, to MQTT, in order.
async fn run(
    mut rx: mpsc::UnboundedReceiver<Vec<Outputs>>,
    back: std::sync::mpsc::Sender<Vec<Outputs>>,
    mut link: Option<StateLink>,
    to: Destinations,
    in_flight: Arc<AtomicUsize>,
) {
    while let Some(mut batch) = rx.recv().await {
        for out in &mut batch {
            // The states' text once, for the console and for MQTT.
            let mut texts = state_texts(out);
            to.hub.ingest_texts(out, &texts);
            publish_tracks(
                &to.client,
                link.as_mut(),
                &to.prefix,
                out,
                &mut texts,
                &to.metrics,
            );
            out.clear();
        }
        in_flight.fetch_sub(batch.len(), Ordering::Relaxed);
        // The engine may be gone at shutdown; the batch is then simply dropped.
        let _ = back.send(batch);
    }
    if let Some(l) = link {
        l.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TrackState;
    use crate::time::EventTime;

    fn state(n: usize) -> TrackState {
        TrackState {
            t: EventTime::from_secs(1_773_465_000 + n as i64),
            track_id: format!("T{n}").into(),
            lat: 50.7,
            lon: 1.6,
            speed_kn: 0.4,
            course_deg: 270.0,
            dark: true,
            mmsi: None,
            name: None,
            publish: true,
            exercise: false,
        }
    }

    /// A stage whose states' connection points at a port nothing listens on: it retries in
    /// the background, and the hub is what the test reads.
    fn stage() -> (OutputStage, Arc<Hub>, Arc<Metrics>) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("mqtt://127.0.0.1:{port}");
        let (client, _eventloop) =
            rumqttc::AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", port), 10);
        let hub = Hub::new(10_000, 400.0, None);
        let metrics = Arc::new(Metrics::new(&[], &[]));
        let (stage, own) = OutputStage::start(
            StateLinkOptions {
                url,
                client_id: "t".into(),
                security: Default::default(),
                keep_alive: Duration::from_secs(5),
                max_packet_bytes: 1 << 20,
                metrics: Some(metrics.clone()),
            },
            Destinations {
                hub: hub.clone(),
                client,
                prefix: "vigie".into(),
                metrics: metrics.clone(),
            },
            crate::config::ThreadsConfig::default().outputs_nice,
        )
        .unwrap();
        assert!(own, "plain mqtt://: the states' own connection");
        (stage, hub, metrics)
    }

    fn alert() -> crate::behaviour::AlertEvent {
        serde_json::from_str(
            r#"{"id":"tb-T1-20260314T051011Z","kind":"taxi_boat_pickup","state":"raised","track_id":"T1","t":"2026-03-14T05:11:41.500Z","lat":50.6767,"lon":1.5630,"zone":{"id":"equihen-plage","name":"Équihen"},"dwell_s":90.0,"speed_kn":0.4,"dark":true,"mmsi":null,"exercise":false,"emitted_at":null}"#,
        )
        .unwrap()
    }

    fn ids(hub: &Hub) -> Vec<String> {
        hub.since(0)
            .unwrap()
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                v["track_id"].as_str().unwrap_or(e.event).to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn the_hub_gets_every_state_in_order_in_batches() {
        let (mut stage, hub, _) = stage();
        let t0 = Instant::now();
        // Single-state messages (AIS reports) wait for a batch…
        for n in 0..10 {
            let mut o = stage.spare();
            o.tracks.push(state(n));
            assert!(stage.push(o, t0), "held on the engine's side");
        }
        assert_eq!(stage.due(), Some(t0 + FLUSH_AFTER));
        // …until one is due: the next message after FLUSH_AFTER takes them all.
        let mut o = stage.spare();
        o.tracks.push(state(10));
        assert!(!stage.push(o, t0 + FLUSH_AFTER), "handed over");
        // A radar scan's worth goes at once.
        let mut o = stage.spare();
        o.tracks.extend((11..11 + FLUSH_ITEMS).map(state));
        assert!(!stage.push(o, t0 + FLUSH_AFTER));
        // What is left at the end goes with `finish`.
        let mut o = stage.spare();
        o.tracks.push(state(99));
        assert!(stage.push(o, t0 + FLUSH_AFTER));
        stage.finish().await;
        let want: Vec<String> = (0..11 + FLUSH_ITEMS)
            .chain([99])
            .map(|n| format!("T{n}"))
            .collect();
        assert_eq!(ids(&hub), want);
    }

    #[tokio::test]
    async fn a_message_with_an_alert_is_handed_over_at_once() {
        let (mut stage, hub, _) = stage();
        let t0 = Instant::now();
        let mut o = stage.spare();
        o.tracks.push(state(1));
        assert!(stage.push(o, t0));
        let mut o = stage.spare();
        o.alerts.push(alert());
        assert!(!stage.push(o, t0), "nothing left waiting");
        assert_eq!(stage.due(), None);
        // The thread takes it without `finish`.
        let deadline = Instant::now() + Duration::from_secs(5);
        while hub.since(0).unwrap().len() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let events: Vec<&str> = hub.since(0).unwrap().iter().map(|e| e.event).collect();
        assert_eq!(events, ["track", "alert"]);
        stage.finish().await;
    }

    #[tokio::test]
    async fn outputs_come_back_to_be_reused() {
        let (mut stage, _hub, _) = stage();
        let mut o = stage.spare();
        o.tracks.extend((0..FLUSH_ITEMS).map(state));
        let cap = o.tracks.capacity();
        stage.push(o, Instant::now());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let o = stage.spare();
            if o.tracks.capacity() >= cap {
                assert!(o.tracks.is_empty(), "cleared before reuse");
                break;
            }
            assert!(Instant::now() < deadline, "never came back");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stage.finish().await;
    }

    /// Far behind, the stage sheds the states and counts them, and still hands over the
    /// alert; it stops shedding as soon as there is room, and says it has caught up only
    /// well below the limit.
    #[tokio::test]
    async fn states_are_shed_and_counted_when_far_behind_and_alerts_never() {
        let (mut stage, hub, metrics) = stage();
        let now = Instant::now();
        // As if the thread had MAX_IN_FLIGHT messages still to do (added, so the thread's
        // own decrements cannot make it wrap).
        stage.in_flight.fetch_add(MAX_IN_FLIGHT, Ordering::SeqCst);
        let mut o = stage.spare();
        o.tracks.extend((1..=3).map(state));
        o.alerts.push(alert());
        assert!(!stage.push(o, now), "an alert goes at once");
        assert_eq!(metrics.publish_failures.get(), 3, "three states shed");
        assert_eq!(stage.shedding, Some(3));
        // Half the way back: room again, nothing shed, but not yet "caught up".
        stage
            .in_flight
            .fetch_sub(MAX_IN_FLIGHT / 2, Ordering::SeqCst);
        let mut o = stage.spare();
        o.tracks.push(state(4));
        stage.push(o, now);
        stage.flush();
        // (Not the metric from here on: the states' connection, pointed at nothing, counts
        // the states it cannot send there too.)
        assert_eq!(stage.shedding, Some(3), "nothing more shed");
        stage
            .in_flight
            .fetch_sub(MAX_IN_FLIGHT - MAX_IN_FLIGHT / 2, Ordering::SeqCst);
        let mut o = stage.spare();
        o.tracks.push(state(5));
        stage.push(o, now);
        stage.flush();
        assert_eq!(stage.shedding, None, "caught up");
        stage.finish().await;
        let events: Vec<&str> = hub.since(0).unwrap().iter().map(|e| e.event).collect();
        assert_eq!(
            events,
            ["alert", "track", "track"],
            "the alert kept, T1–T3 shed"
        );
        assert_eq!(ids(&hub), ["T1", "T4", "T5"]);
    }
}
