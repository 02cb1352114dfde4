//! What every adapter drives: a message's bytes in, the engines' outputs out.
//!
//! A [`Pipeline`] is two stages run one after the other on each message:
//! - the [`Intake`] reads the topic and decodes the payload (JSON, NMEA reassembly, the
//!   time window of contract §1): state driven only by the messages, in their order;
//! - the [`Engines`] admit the message against its sensor's rate, then hand it to the live
//!   or the exercise [`Engine`].
//!
//! Why two stages: decoding is a third of the work on a busy strait and depends on nothing
//! the engines do, so an adapter with two cores runs the intake on one thread and the
//! engines on another (see `vigie replay --offline`), handing [`Message`]s across in
//! order. Each stage stays sequential and deterministic, so the outputs are byte for byte
//! those of [`Pipeline::process`] on one thread.

use crate::admission::{Admission, Admit, RateLimit, Source};
use crate::behaviour::memory::{MemoryFile, MEMORY_FORMAT};
use crate::behaviour::AlertEvent;
use crate::config::Config;
use crate::contact::{AisReport, Decoded};
use crate::decode::time_check::TimeWindow;
use crate::decode::{DecodeError, Decoder, TopicKind};
use crate::engine::{Engine, Outputs, Placed, Placer, TrackCounts};
use crate::geo::frame::LocalFrame;
use crate::geo::zones::ZoneIndex;
use crate::time::EventTime;

/// What both engines hold, as plain data for observers (the Prometheus gauges): the core
/// reports it, and knows nothing of who reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineCounts<'a> {
    /// Live and exercise tracks together.
    pub tracks: TrackCounts,
    /// Tracks ever started and deleted (counters, for rates).
    pub initiated: u64,
    pub deleted: u64,
    /// Active alerts per zone of the current zone file (zero included), live and exercise.
    pub active_by_zone: Vec<(&'a str, usize)>,
    /// Active `ais_identity_conflict` alerts (they belong to no zone).
    pub identity_conflicts: usize,
}

/// The kind of contact topic a message came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plot sensor, by configuration index (`None`: a radar the configuration lacks).
    Radar(Option<usize>),
    Ais,
}

/// One message through the [`Intake`], on its way to the [`Engines`].
///
/// Owns everything decoded (no borrow of the message's bytes), so that it can cross to
/// another thread; the topic travels beside it (the AIS rate limit is kept per source
/// name, the topic's last segment). Handed back to [`Intake::recycle`] once processed, so
/// that its buffers serve the next message instead of new allocations.
#[derive(Debug, Default)]
pub struct Message {
    /// `None`: not a contact topic (the rejection is in `error`).
    kind: Option<Kind>,
    decoded: Option<Decoded>,
    /// Its contacts in the local frame (buffers kept from message to message).
    placed: Placed,
    /// Contacts rejected one by one inside an otherwise good message.
    rejects: Vec<DecodeError>,
    /// The whole message's rejection.
    error: Option<DecodeError>,
}

/// The decoding stage: topic and payload bytes → [`Message`], its contacts decoded and
/// placed in the local frame.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Intake {
    decoder: Decoder,
    placer: Placer,
}

impl Intake {
    /// Decodes one message; `t_rx` stamps contacts that carry no time.
    pub fn take(&mut self, topic: &str, payload: &[u8], t_rx: EventTime) -> Message {
        let mut m = Message::default();
        self.take_into(topic, payload, t_rx, &mut m);
        m
    }

    /// [`take`](Self::take) into a message handed back by [`recycle`](Self::recycle)
    /// (its buffers are kept).
    pub fn take_into(&mut self, topic: &str, payload: &[u8], t_rx: EventTime, m: &mut Message) {
        m.kind = None;
        m.error = None;
        m.rejects.clear();
        let Some(kind) = self.decoder.topic_kind(topic) else {
            m.error = Some(crate::decode::unknown_topic(topic));
            return;
        };
        m.kind = Some(match kind {
            // Known from the topic, so that a rejected message is put down to its sensor.
            TopicKind::Radar(name) => Kind::Radar(self.decoder.sensor_index(name)),
            TopicKind::Ais(_) => Kind::Ais,
        });
        match self
            .decoder
            .decode_kind(kind, payload, t_rx, &mut m.rejects)
        {
            Ok(d) => {
                self.placer.place(&d, &mut m.placed);
                m.decoded = Some(d);
            }
            Err(e) => m.error = Some(e),
        }
    }

    /// Takes back a processed message's buffers.
    pub fn recycle(&mut self, m: &mut Message) {
        if let Some(d) = m.decoded.take() {
            self.decoder.recycle(d);
        }
    }
}

/// The tracking stage: rate admission, then the live or the exercise engine.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Engines {
    live: Engine,
    exercise: Engine,
    /// Offline replay: everything is exercise data.
    force_exercise: bool,
    #[serde(skip)]
    out: Outputs,
    sensor_ids: Vec<String>,
    /// Per-sensor rate limits, live and exercise apart (a replay's rate says nothing of a
    /// live sensor's).
    admission: [Admission; 2],
}

impl Engines {
    /// Processes one message from the [`Intake`]; `topic` is the one it was taken from.
    /// The message's rejects are moved into the outputs; the rest is left for
    /// [`Intake::recycle`].
    pub fn apply(&mut self, topic: &str, m: &mut Message) -> &Outputs {
        if self.apply_first(topic, m) {
            self.apply_rest(topic, m);
        }
        &self.out
    }

    /// [`apply`](Self::apply) in two parts for an adapter that publishes alerts as soon as
    /// they are decided (see [`Engine::process_first`]): true if
    /// [`apply_rest`](Self::apply_rest) must follow with the same message, before any other
    /// and before [`Intake::recycle`].
    pub fn apply_first(&mut self, topic: &str, m: &mut Message) -> bool {
        let out = &mut self.out;
        out.clear();
        out.rejects.append(&mut m.rejects);
        if let Some(e) = m.error.take() {
            out.rejects.push(e);
        }
        let Some(kind) = m.kind else {
            return false;
        };
        out.kind = Some(match kind {
            Kind::Radar(sensor) => {
                out.sensor = sensor;
                "radar"
            }
            Kind::Ais => "ais",
        });
        let Some(d) = m.decoded.as_ref() else {
            return false;
        };
        out.exercise = self.force_exercise || d.exercise();
        let source = source_of(d, topic);
        let t = message_time(d);
        let admission = &mut self.admission[usize::from(out.exercise)];
        if let Admit::No {
            usual_per_s,
            limit_per_s,
            factor,
        } = admission.admit(source, t)
        {
            out.rejects.push(DecodeError::RateLimited {
                usual_per_s,
                limit_per_s,
                factor,
            });
            return false;
        }
        out.accepted = true;
        out.contacts = d.contacts();
        let engine = if out.exercise {
            &mut self.exercise
        } else {
            &mut self.live
        };
        if engine.process_first(d, &m.placed, out) {
            return true;
        }
        self.record_applied(topic, m);
        false
    }

    /// The rest of a message [`apply_first`](Self::apply_first) split.
    pub fn apply_rest(&mut self, topic: &str, m: &mut Message) {
        let Some(d) = m.decoded.as_ref() else {
            return;
        };
        let out = &mut self.out;
        let engine = if out.exercise {
            &mut self.exercise
        } else {
            &mut self.live
        };
        engine.process_rest(d, &m.placed, out);
        self.record_applied(topic, m);
    }

    /// Counts a processed message's applied contacts to its sensor's rate.
    fn record_applied(&mut self, topic: &str, m: &Message) {
        let Some(d) = m.decoded.as_ref() else {
            return;
        };
        let out = &self.out;
        let applied =
            (out.contacts as u64).saturating_sub(out.duplicates + out.out_of_sequence) as usize;
        self.admission[usize::from(out.exercise)].record(
            source_of(d, topic),
            message_time(d),
            applied,
        );
    }

    /// The outputs of the last [`apply`](Self::apply).
    pub fn last_outputs(&self) -> &Outputs {
        &self.out
    }

    /// Confirmed tracks' states wanted in the outputs (both engines; the default); see
    /// [`Engine::set_track_states`].
    pub fn set_track_states(&mut self, on: bool) {
        self.live.set_track_states(on);
        self.exercise.set_track_states(on);
    }

    /// Tentative tracks' states wanted in the outputs (both engines); see
    /// [`Engine::set_tentative_states`].
    pub fn set_tentative_states(&mut self, on: bool) {
        self.live.set_tentative_states(on);
        self.exercise.set_tentative_states(on);
    }
}

/// Decoder plus the live and exercise engines, one message at a time on one thread.
///
/// Serialised (for snapshots) as its stages' fields in order, which is the byte layout of
/// the single struct it was before the split.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pipeline {
    intake: Intake,
    engines: Engines,
    /// The message buffers reused from one message to the next.
    #[serde(skip)]
    message: Message,
}

impl Pipeline {
    /// Builds the pipeline from a validated configuration and loaded zones.
    pub fn new(cfg: &Config, zones: Vec<crate::geo::zones::Zone>, force_exercise: bool) -> Self {
        let (lat, lon) = cfg.frame_origin();
        let frame = LocalFrame::new(lat, lon);
        let index = ZoneIndex::new(zones, &frame);
        let sensor_ids: Vec<String> = cfg.radar.iter().map(|r| r.id.clone()).collect();
        let decoder = Decoder::new(&cfg.mqtt.prefix, &sensor_ids, cfg.limits.max_payload_bytes)
            .with_max_plots(cfg.limits.max_plots_per_message)
            .with_time_window(
                TimeWindow::new(cfg.limits.max_future_s, cfg.limits.max_age_s),
                force_exercise,
            );
        Pipeline {
            intake: Intake {
                decoder,
                placer: Placer::new(cfg, &frame),
            },
            engines: Engines {
                live: Engine::new(cfg, index.clone(), frame.clone(), false),
                exercise: Engine::new(cfg, index, frame, true),
                force_exercise,
                out: Outputs::default(),
                admission: std::array::from_fn(|_| {
                    Admission::new(
                        RateLimit {
                            factor: cfg.limits.sensor_rate_factor,
                            floor_per_s: cfg.limits.sensor_rate_floor_per_s,
                        },
                        sensor_ids.len(),
                    )
                }),
                sensor_ids,
            },
            message: Message::default(),
        }
    }

    /// The two stages, for an adapter that runs them on two threads.
    pub fn into_stages(self) -> (Intake, Engines) {
        (self.intake, self.engines)
    }

    /// See [`Engine::set_first_min_plots`] (both engines).
    pub fn set_first_min_plots(&mut self, n: usize) {
        self.engines.live.set_first_min_plots(n);
        self.engines.exercise.set_first_min_plots(n);
    }

    pub fn sensor_ids(&self) -> &[String] {
        &self.engines.sensor_ids
    }

    /// See [`Engines::set_tentative_states`].
    pub fn set_tentative_states(&mut self, on: bool) {
        self.engines.set_tentative_states(on);
    }

    pub fn live(&self) -> &Engine {
        &self.engines.live
    }

    pub fn exercise(&self) -> &Engine {
        &self.engines.exercise
    }

    /// Swaps in new zones in both engines without touching tracks or active alerts.
    pub fn reload_zones(&mut self, zones: Vec<crate::geo::zones::Zone>) {
        let e = &mut self.engines;
        let index = ZoneIndex::new(zones, e.live.frame());
        e.live.set_zones(index.clone());
        e.exercise.set_zones(index);
    }

    /// The zones of a pipeline restored from a snapshot (which does not carry them): set
    /// as they are, every track and alert already pointing at them by index.
    pub(crate) fn set_restored_zones(&mut self, zones: Vec<crate::geo::zones::Zone>) {
        let e = &mut self.engines;
        let index = ZoneIndex::new(zones, e.live.frame());
        e.live.set_restored_zones(index.clone());
        e.exercise.set_restored_zones(index);
    }

    /// Takes back the active alerts an earlier run left (their latest events), each into
    /// the live or exercise engine it came from. Returns how many were taken.
    pub fn restore_alerts(&mut self, events: &[AlertEvent]) -> usize {
        let e = &mut self.engines;
        events
            .iter()
            .filter(|ev| {
                if ev.exercise {
                    e.exercise.restore_alert(ev)
                } else {
                    e.live.restore_alert(ev)
                }
            })
            .count()
    }

    /// Both engines' learned picture, for `alerts.memory_file`.
    pub fn memory(&self) -> MemoryFile {
        MemoryFile {
            format: MEMORY_FORMAT,
            live: self.engines.live.memory(),
            exercise: self.engines.exercise.memory(),
        }
    }

    /// Takes back what an earlier run learned (see [`Pipeline::memory`]); before any
    /// contact.
    pub fn load_memory(&mut self, m: &MemoryFile) {
        self.engines.live.load_memory(&m.live);
        self.engines.exercise.load_memory(&m.exercise);
    }

    /// What both engines hold now (see [`PipelineCounts`]). Not for the per-message path:
    /// it walks the zones and active alerts.
    pub fn counts(&self) -> PipelineCounts<'_> {
        let (l, x) = (&self.engines.live, &self.engines.exercise);
        let (lc, xc) = (l.track_counts(), x.track_counts());
        let mut by_zone = l.active_alerts_by_zone();
        for (z, n) in x.active_alerts_by_zone() {
            *by_zone.entry(z).or_insert(0) += n;
        }
        PipelineCounts {
            tracks: TrackCounts {
                tentative: lc.tentative + xc.tentative,
                confirmed_dark: lc.confirmed_dark + xc.confirmed_dark,
                confirmed_ais: lc.confirmed_ais + xc.confirmed_ais,
            },
            identity_conflicts: l.identity_conflicts() + x.identity_conflicts(),
            initiated: l.tracker_stats().initiated + x.tracker_stats().initiated,
            deleted: l.tracker_stats().deleted + x.tracker_stats().deleted,
            active_by_zone: l
                .zones()
                .zones()
                .iter()
                .map(|z| {
                    (
                        z.id.as_str(),
                        by_zone.get(z.id.as_str()).copied().unwrap_or(0),
                    )
                })
                .collect(),
        }
    }

    /// The outputs of the last [`process`](Self::process) call.
    pub fn last_outputs(&self) -> &Outputs {
        self.engines.last_outputs()
    }

    /// Takes the last message's outputs out, leaving `spare` in their place (cleared by the
    /// next message): for the live service, which hands them to its output thread as they
    /// are rather than copying them ([`crate::io::outputs`]).
    pub fn swap_outputs(&mut self, spare: &mut Outputs) {
        std::mem::swap(&mut self.engines.out, spare);
    }

    /// Decodes and processes one message; `t_rx` stamps contacts that carry no time.
    pub fn process(&mut self, topic: &str, payload: &[u8], t_rx: EventTime) -> &Outputs {
        if self.process_first(topic, payload, t_rx) {
            self.process_rest(topic);
        }
        self.engines.last_outputs()
    }

    /// [`process`](Self::process) in two parts, for the live service: the alerts in
    /// [`last_outputs`](Self::last_outputs) after this part can be published before the
    /// rest is done (see [`Engine::process_first`]). True if
    /// [`process_rest`](Self::process_rest) must follow, with the same topic, before any
    /// other message.
    pub fn process_first(&mut self, topic: &str, payload: &[u8], t_rx: EventTime) -> bool {
        let m = &mut self.message;
        self.intake.take_into(topic, payload, t_rx, m);
        if self.engines.apply_first(topic, m) {
            return true;
        }
        self.intake.recycle(m);
        false
    }

    /// The rest of a message [`process_first`](Self::process_first) split; its outputs are
    /// added to the first part's.
    pub fn process_rest(&mut self, topic: &str) {
        let m = &mut self.message;
        self.engines.apply_rest(topic, m);
        self.intake.recycle(m);
    }
}

/// The sensor a message is counted to for its rate.
fn source_of<'a>(d: &Decoded, topic: &'a str) -> Source<'a> {
    match d {
        Decoded::Radar(scan) => Source::Radar(scan.sensor),
        // The source name is the topic's last segment (the intake checked the topic).
        Decoded::Ais(_) => Source::Ais(topic.rsplit('/').next().unwrap_or(topic)),
    }
}

/// The time a message is counted at for its sensor's rate: a scan's time, an AIS message's
/// latest report time; none for static data alone.
fn message_time(d: &Decoded) -> Option<EventTime> {
    match d {
        Decoded::Radar(scan) => Some(scan.t),
        Decoded::Ais(batch) => batch
            .reports
            .iter()
            .filter_map(|r| match r {
                AisReport::Position(p) => Some(p.t),
                AisReport::Static(_) => None,
            })
            .max(),
    }
}
