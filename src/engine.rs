//! The pure core: decoded contacts in, track states and alert events out.
//!
//! No sockets, no tasks, no clock: everything the engine knows about time comes from the
//! messages, which is what makes offline replay, live replay and tests agree.
//!
//! [`crate::pipeline::Pipeline`] is what adapters drive: it decodes a message and hands it
//! to one of two [`Engine`]s, the live one or the exercise one. Replayed data (marked by
//! `vigie replay`, see the README) is tracked apart from live data so that an exercise can
//! never move, merge with or clear a live track, and every alert it raises says
//! `exercise: true`.

use crate::behaviour::identity::IdentityAlerts;
use crate::behaviour::loiter::{Loiter, TrackView};
use crate::behaviour::memory::LoiterMemory;
use crate::behaviour::AlertEvent;
use crate::config::{Config, RadarConfig};
use crate::contact::{AisReport, Decoded, PlotPos, RadarScan};
use crate::decode::DecodeError;
use crate::geo::frame::LocalFrame;
use crate::geo::zones::ZoneIndex;
use crate::geo::KN_TO_MPS;
use crate::time::EventTime;
use crate::track::clutter::ClutterMap;
use crate::track::merger::RadarSite;
use crate::track::table::Seen;
use crate::track::{AisMeasurement, AisOutcome, Measurement, Track, Tracker, TrackerStats};
use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::collections::BTreeMap;

/// Housekeeping (track deletion, gauges) runs at most once per this much event time.
const HOUSEKEEPING_S: f64 = 1.0;

/// A confirmed track's state after a message (contract §6.2, plus optional extensions).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TrackState {
    pub t: EventTime,
    /// `T` and a number: kept inline (no allocation per state; one state is built per
    /// track update).
    pub track_id: CompactString,
    pub lat: f64,
    pub lon: f64,
    pub speed_kn: f64,
    pub course_deg: f64,
    pub dark: bool,
    pub mmsi: Option<u32>,
    /// Inline up to 24 bytes (AIS names have 20 characters at most): no allocation per state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<CompactString>,
    /// Due for MQTT publication (at most once per `mqtt.track_interval_s` of event time).
    #[serde(skip)]
    pub publish: bool,
    #[serde(skip)]
    pub exercise: bool,
}

/// Live tracks by state, sampled at housekeeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackCounts {
    pub tentative: usize,
    pub confirmed_dark: usize,
    pub confirmed_ais: usize,
}

/// Everything one message caused. Reused between messages to avoid allocation.
#[derive(Debug, Default)]
pub struct Outputs {
    pub alerts: Vec<AlertEvent>,
    pub tracks: Vec<TrackState>,
    /// States of tentative tracks this message updated, and the labels of tentative tracks
    /// deleted at its housekeeping: only when asked for ([`Engine::set_tentative_states`]),
    /// for the operator's console. Never published on MQTT nor written to `--tracks-out`
    /// (contract §6.2 speaks of confirmed tracks only).
    pub tentative: Vec<TrackState>,
    pub tentative_dropped: Vec<CompactString>,
    /// Rejections: a whole-message failure and/or single contacts inside it.
    pub rejects: Vec<DecodeError>,
    /// The message was decoded (possibly with some contacts rejected).
    pub accepted: bool,
    /// `radar` or `ais`, when the topic said.
    pub kind: Option<&'static str>,
    /// Configured sensor index for radar messages.
    pub sensor: Option<usize>,
    pub contacts: usize,
    /// Tracks confirmed and updated for the first time by this message (each counted once
    /// in its life): what a replay's summary counts as confirmed tracks, whether or not
    /// their states are wanted ([`Engine::set_track_states`]).
    pub new_confirmed: u32,
    pub exercise: bool,
    /// Latest event time in the message.
    pub event_time: Option<EventTime>,
    /// Contacts not applied because older than the state they would update.
    pub out_of_sequence: u64,
    /// Contacts recognised as repeats of ones already processed (a QoS 1 redelivery, the
    /// same AIS transmission from two receivers), not applied again.
    pub duplicates: u64,
}

impl Outputs {
    pub(crate) fn clear(&mut self) {
        self.alerts.clear();
        self.tracks.clear();
        self.tentative.clear();
        self.tentative_dropped.clear();
        self.rejects.clear();
        self.accepted = false;
        self.kind = None;
        self.sensor = None;
        self.contacts = 0;
        self.new_confirmed = 0;
        self.exercise = false;
        self.event_time = None;
        self.out_of_sequence = 0;
        self.duplicates = 0;
    }
}

/// A radar site in the frame and the Jacobian from its local east/north to the frame.
type Site = ((f64, f64), [[f64; 2]; 2]);

/// A plot sensor's geometry in the local frame, computed once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SensorGeom {
    site: Option<Site>,
    range_var: f64,
    bearing_var: f64,
    pd: f64,
    clutter_density: f64,
    scan_period_s: f64,
    /// Its bit in a track's [`Seen`], and its configured id (named in alerts).
    bit: u32,
    id: CompactString,
}

impl SensorGeom {
    fn new(index: usize, r: &RadarConfig, frame: &LocalFrame) -> Self {
        let site = match (r.lat, r.lon) {
            (Some(lat), Some(lon)) => Some((frame.to_local(lat, lon), frame.jacobian(lat, lon))),
            _ => None,
        };
        SensorGeom {
            site,
            range_var: r.range_sigma_m.powi(2),
            bearing_var: r.bearing_sigma_deg.to_radians().powi(2),
            pd: r.pd,
            clutter_density: r.clutter_per_scan
                / (std::f64::consts::PI * r.range_max_m * r.range_max_m),
            scan_period_s: r.scan_period_s,
            bit: Seen::radar(index),
            id: CompactString::from(r.id.as_str()),
        }
    }

    /// Converted measurement: polar (r, θ) → east/north with covariance J·diag(σr², σθ²)·Jᵀ,
    /// then into the frame with the site's Jacobian.
    fn measurement(
        &self,
        pos: PlotPos,
        t: EventTime,
        frame: &LocalFrame,
    ) -> Result<Measurement, &'static str> {
        let (z, r) = match pos {
            PlotPos::Polar {
                range_m,
                bearing_deg,
            } => {
                let ((sx, sy), j) = self
                    .site
                    .ok_or("polar plot from a sensor with no configured lat/lon")?;
                let (sb, cb) = bearing_deg.to_radians().sin_cos();
                let (e, n) = (range_m * sb, range_m * cb);
                // d(e, n)/d(r, θ)
                let jp = [[sb, range_m * cb], [cb, -range_m * sb]];
                let c = |a: usize, b: usize| {
                    jp[a][0] * jp[b][0] * self.range_var + jp[a][1] * jp[b][1] * self.bearing_var
                };
                let cl = [[c(0, 0), c(0, 1)], [c(1, 0), c(1, 1)]];
                let z = [
                    sx + j[0][0] * e + j[0][1] * n,
                    sy + j[1][0] * e + j[1][1] * n,
                ];
                // R = J · cl · Jᵀ
                let mut r = [[0.0; 2]; 2];
                for (a, row) in r.iter_mut().enumerate() {
                    for (b, cell) in row.iter_mut().enumerate() {
                        *cell = (0..2)
                            .flat_map(|k| (0..2).map(move |l| (k, l)))
                            .map(|(k, l)| j[a][k] * cl[k][l] * j[b][l])
                            .sum();
                    }
                }
                (z, r)
            }
            PlotPos::Geo { lat, lon, sigma_m } => {
                let (x, y) = frame.to_local(lat, lon);
                let v = sigma_m * sigma_m;
                ([x, y], [[v, 0.0], [0.0, v]])
            }
        };
        Ok(Measurement {
            t,
            z,
            r,
            pd: self.pd,
            clutter_density: self.clutter_density,
            sensor: self.bit,
        })
    }
}

/// A message's contacts placed in the local frame: what the engine tracks with.
///
/// Computed from the decoded message and the sensors' fixed geometry alone, so that it can
/// be done before the engine, on the intake's thread (the polar conversion and the
/// geodetic projection were a twentieth of the engine's work on a busy strait).
#[derive(Debug, Default)]
pub struct Placed {
    /// Each radar plot's measurement, or why it could not be placed; in plot order.
    plots: Vec<Result<Measurement, &'static str>>,
    /// Each AIS report's position and velocity in the frame (zeros for static data), in
    /// report order.
    ais: Vec<([f64; 2], Option<[f64; 2]>)>,
}

/// Places contacts in the local frame (see [`Placed`]): the frame and every radar's
/// geometry, as the engines have them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Placer {
    frame: LocalFrame,
    sensors: Vec<SensorGeom>,
}

impl Placer {
    pub fn new(cfg: &Config, frame: &LocalFrame) -> Self {
        Placer {
            frame: frame.clone(),
            sensors: sensor_geometry(cfg, frame),
        }
    }

    /// `d`'s contacts placed into `out` (emptied first).
    pub fn place(&self, d: &Decoded, out: &mut Placed) {
        out.plots.clear();
        out.ais.clear();
        match d {
            Decoded::Radar(scan) => {
                // A scan from a radar the configuration lacks is dropped by the engine.
                if let Some(geom) = self.sensors.get(scan.sensor) {
                    out.plots.extend(
                        scan.plots
                            .iter()
                            .map(|p| geom.measurement(p.pos, p.t, &self.frame)),
                    );
                }
            }
            Decoded::Ais(batch) => out.ais.extend(batch.reports.iter().map(|r| match r {
                AisReport::Position(p) => {
                    let (x, y) = self.frame.to_local(p.lat, p.lon);
                    let vel = match (p.sog_kn, p.cog_deg) {
                        (Some(s), Some(c)) => {
                            let (sc, cc) = c.to_radians().sin_cos();
                            let v = s * KN_TO_MPS;
                            Some([v * sc, v * cc])
                        }
                        _ => None,
                    };
                    ([x, y], vel)
                }
                AisReport::Static(_) => ([0.0; 2], None),
            })),
        }
    }
}

/// The radars with a place, as the merger sees them.
fn radar_sites(sensors: &[SensorGeom]) -> Vec<RadarSite> {
    sensors
        .iter()
        .filter_map(|g| {
            let ((x, y), _) = g.site?;
            Some(RadarSite {
                bit: g.bit,
                x,
                y,
                range_var: g.range_var,
                bearing_var: g.bearing_var,
            })
        })
        .collect()
}

fn sensor_geometry(cfg: &Config, frame: &LocalFrame) -> Vec<SensorGeom> {
    cfg.radar
        .iter()
        .enumerate()
        .map(|(i, r)| SensorGeom::new(i, r, frame))
        .collect()
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct VesselInfo {
    name: Option<CompactString>,
}

/// Tracking, zones and alerts for one stream of contacts (live, or exercise).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Engine {
    frame: LocalFrame,
    sensors: Vec<SensorGeom>,
    /// Not in a snapshot: loaded from the configured file (whose contents the snapshot's
    /// configuration fingerprint covers).
    #[serde(skip, default = "ZoneIndex::empty")]
    zones: ZoneIndex,
    tracker: Tracker,
    clutter: Option<ClutterMap>,
    loiter: Loiter,
    /// `ais_identity_conflict` alerts from the tracker's contradictions.
    conflicts: IdentityAlerts,
    /// Conflicts the tracker settled at the last housekeeping (reused buffer).
    #[serde(skip)]
    settled: Vec<u32>,
    exercise: bool,
    track_interval_s: f64,
    max_lateness_s: f64,
    now: EventTime,
    last_housekeeping: Option<EventTime>,
    last_published: FxHashMap<u64, EventTime>,
    vessels: FxHashMap<u32, VesselInfo>,
    /// Per plot sensor: the plots of its recent scans, to recognise a scan delivered again
    /// after other messages closed it.
    recent: Vec<RecentScans>,
    /// Per MMSI: the last position reports taken, to recognise the same report delivered
    /// again. Bounded like `vessels`.
    last_ais: FxHashMap<u32, RecentAis>,
    counts: TrackCounts,
    /// The radar scan processed last, while the next message may be another sector of it.
    open: Option<OpenScan>,
    // Scratch buffers, reused: a scan's plots and emitted states, updated tracks.
    #[serde(skip)]
    scan_buffers: (Vec<Measurement>, Emitted),
    #[serde(skip)]
    updated: Vec<u64>,
    #[serde(skip)]
    deleted: Vec<Track>,
    /// Whether tentative tracks' states are wanted (a console is open); not in a snapshot:
    /// the adapter that restores one says again.
    #[serde(skip)]
    tentative_states: bool,
    /// Confirmed tracks' states not wanted (an offline replay without `--tracks-out`):
    /// negative so that a restored snapshot, which does not keep it, wants them.
    #[serde(skip)]
    no_track_states: bool,
    /// The tentative tracks whose states went out, to say when they are deleted.
    #[serde(skip)]
    tentative_out: FxHashSet<u64>,
    /// The plots of the scan being split that make its first part
    /// ([`Engine::process_first`]), and where the tracks inside zones are.
    #[serde(skip)]
    first_plots: Vec<Result<Measurement, &'static str>>,
    #[serde(skip)]
    in_zone: Vec<[f64; 2]>,
    /// Scans with fewer plots are not split ([`FIRST_MIN_PLOTS`]; lower in a test that
    /// splits every scan it can).
    #[serde(skip, default = "first_min_plots")]
    first_min_plots: usize,
}

fn first_min_plots() -> usize {
    FIRST_MIN_PLOTS
}

/// Plots within this distance (east and north) of a track inside an interception zone make
/// the first part of a split scan ([`Engine::process_first`]). Why this far: the plots such
/// a track could take, and those of the tracks competing with it for them, are within a
/// gate or two of it — hundreds of metres, a kilometre for a far radar's plots.
const FIRST_MARGIN_M: f64 = 3_000.0;
/// With more tracks than this inside zones, no scan is split (each plot is compared with
/// each of them).
const FIRST_MAX_TRACKS: usize = 32;
/// Scans with fewer plots are not split: the whole costs little more than the first part.
const FIRST_MIN_PLOTS: usize = 64;

/// Which part of a message [`Engine::process_part`] processes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The whole message.
    Whole,
    /// A split scan's plots near the tracks inside zones.
    First,
    /// The whole of a split scan, after its first part.
    Rest,
}

/// Per track, a time and filter state.
type Emitted = FxHashMap<u64, (EventTime, [f64; 4])>;

/// A radar scan kept open while the next message may be another sector of it (same sensor,
/// same scan time `t`). A later sector takes back what the earlier ones did to the tracker
/// and the clutter map, and the scan's plots so far are processed together, so a track near
/// a sector boundary gets the plot an assignment over the whole scan gives it: splitting a
/// scan into sectors changes no track and no alert (test
/// `message_batching_changes_no_track_and_no_alert`). Any other message closes it; nothing
/// waits for it (each sector's states go out at once, revised by a later sector if need be).
/// What remains different: a track an earlier sector updated that the whole scan leaves
/// without a plot keeps, outside the tracker, the state that sector published (the contract
/// has no retraction); no scene has shown one. Housekeeping waits until the scan closes: it
/// could delete a track a later sector updates.
#[derive(serde::Serialize, serde::Deserialize)]
struct OpenScan {
    sensor: usize,
    t: EventTime,
    /// The scan's plots so far, in message order.
    meas: Vec<Measurement>,
    /// Clutter-map plots queued before this scan queued its own.
    pending: usize,
    /// The tracks earlier sectors updated, with the time and filter state they left (and
    /// emitted, if confirmed), recorded when those sectors are taken back: a later sector
    /// that leaves a track as it was does not emit it again. (Name and MMSI cannot change
    /// within the scan: any AIS message closes it.)
    emitted: Emitted,
}

/// A plot's identity: its time and converted position, bit for bit (a redelivered message
/// converts to the same bits).
type PlotKey = (EventTime, u64, u64);

fn plot_key(m: &Measurement) -> PlotKey {
    (m.t, m.z[0].to_bits(), m.z[1].to_bits())
}

/// Scans of each sensor remembered for recognising repeats: 64 scans are 160 s of a radar
/// turning every 2.5 s, far beyond a broker's in-flight window (Mosquitto's default is 20
/// messages) and the seconds a reconnection takes.
const RECENT_SCANS: usize = 64;

/// The plots of one sensor's newest [`RECENT_SCANS`] closed scans, by scan time.
/// Why newest by time and not last closed: a burst of redelivered scans older than those
/// remembered (a long in-flight window) must not push out the recent ones, whose copies
/// would then be filtered in a second time as late plots.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct RecentScans {
    keys: FxHashSet<PlotKey>,
    by_time: std::collections::BTreeMap<EventTime, Vec<PlotKey>>,
}

impl RecentScans {
    fn remember(&mut self, t: EventTime, meas: &[Measurement]) {
        let full = self.by_time.len() >= RECENT_SCANS;
        if full
            && self
                .by_time
                .first_key_value()
                .is_some_and(|(&old, _)| t < old)
        {
            return;
        }
        let keys: Vec<PlotKey> = meas.iter().map(plot_key).collect();
        self.keys.extend(keys.iter().copied());
        self.by_time.entry(t).or_default().extend(keys);
        while self.by_time.len() > RECENT_SCANS {
            let (_, old) = self.by_time.pop_first().expect("not empty");
            for k in old {
                self.keys.remove(&k);
            }
        }
    }
}

/// Vessel names remembered at most (static reports of vessels never seen are not kept
/// beyond this).
const MAX_VESSELS: usize = 100_000;

/// Position reports of one MMSI remembered to recognise repeats: a late report is still
/// filtered in (contract §1), so one delivered twice would count twice unless recognised.
/// Eight reports are 16 s of the fastest class A rate (2 s), more than AIS may be late.
const RECENT_AIS: usize = 8;

/// The newest [`RECENT_AIS`] position reports taken for one MMSI (time, lat and lon bits).
/// Why newest by time and not last in: a burst of redelivered old reports (older than a late
/// report may be, so never applied) must not push out the recent ones whose copies would
/// then be taken twice.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct RecentAis {
    seen: [(EventTime, u64, u64); RECENT_AIS],
}

impl RecentAis {
    fn new(first: (EventTime, u64, u64)) -> Self {
        let mut r = RecentAis {
            seen: [(EventTime(i64::MIN), 0, 0); RECENT_AIS],
        };
        r.push(first);
        r
    }
    fn contains(&self, report: (EventTime, u64, u64)) -> bool {
        self.seen.contains(&report)
    }
    /// Remembers `report` in place of the oldest, unless it is older than all of them.
    fn push(&mut self, report: (EventTime, u64, u64)) {
        let oldest = (0..RECENT_AIS)
            .min_by_key(|&i| self.seen[i].0)
            .expect("RECENT_AIS > 0");
        if report.0 > self.seen[oldest].0 {
            self.seen[oldest] = report;
        }
    }
}

impl Engine {
    pub fn new(cfg: &Config, zones: ZoneIndex, frame: LocalFrame, exercise: bool) -> Self {
        let loiter = Loiter::new(cfg.alerts.clone(), exercise, &frame);
        let sensors = sensor_geometry(cfg, &frame);
        let mut tracker = Tracker::new(cfg.tracker.clone(), cfg.ais.clone());
        tracker.set_radar_sites(radar_sites(&sensors));
        Engine {
            sensors,
            frame,
            zones,
            tracker,
            clutter: (cfg.tracker.clutter_map_cell_m > 0.0).then(|| {
                ClutterMap::new(
                    cfg.tracker.clutter_map_cell_m,
                    cfg.tracker.clutter_map_tau_s,
                )
                .with_delay(cfg.tracker.clutter_map_delay_s)
            }),
            loiter,
            conflicts: IdentityAlerts::new(&cfg.alerts, exercise),
            settled: Vec::new(),
            exercise,
            track_interval_s: cfg.mqtt.track_interval_s,
            max_lateness_s: cfg.tracker.max_lateness_s,
            now: EventTime(i64::MIN),
            last_housekeeping: None,
            last_published: FxHashMap::default(),
            vessels: FxHashMap::default(),
            recent: cfg.radar.iter().map(|_| RecentScans::default()).collect(),
            last_ais: FxHashMap::default(),
            counts: TrackCounts::default(),
            open: None,
            scan_buffers: Default::default(),
            updated: Vec::new(),
            deleted: Vec::new(),
            tentative_states: false,
            no_track_states: false,
            tentative_out: FxHashSet::default(),
            first_plots: Vec::new(),
            in_zone: Vec::new(),
            first_min_plots: FIRST_MIN_PLOTS,
        }
    }

    /// Splits every radar scan of at least `n` plots that has plots both near the tracks
    /// inside zones and elsewhere ([`process_first`](Self::process_first)); for tests,
    /// which force the split onto scenes whose scans are small.
    pub fn set_first_min_plots(&mut self, n: usize) {
        self.first_min_plots = n;
    }

    /// Whether confirmed tracks' states are wanted in [`Outputs::tracks`] (the default).
    /// An offline replay that writes no `--tracks-out` does not want them: building a
    /// state (geodetic position, speed, course, the vessel's name) for every update was
    /// ~15 % of such a replay's time (BENCHMARKS.md, issue 23). Changes nothing else the
    /// engine does or emits: tracks, the loiter rule and alerts see the same updates.
    pub fn set_track_states(&mut self, on: bool) {
        self.no_track_states = !on;
    }

    /// Asks for tentative tracks' states in [`Outputs::tentative`] (and their deletions in
    /// [`Outputs::tentative_dropped`]): what an operator sees when looking at what the radar
    /// may be starting to follow. Changes nothing else the engine does or emits.
    pub fn set_tentative_states(&mut self, on: bool) {
        self.tentative_states = on;
        if !on {
            self.tentative_out.clear();
        }
    }

    pub fn tracker_stats(&self) -> &TrackerStats {
        &self.tracker.stats
    }

    pub fn track_counts(&self) -> TrackCounts {
        self.counts
    }

    /// Cells the clutter map holds (0 without one): bounded by the radars' coverage, and
    /// pruned beyond a ceiling.
    pub fn clutter_cells(&self) -> usize {
        self.clutter.as_ref().map_or(0, |m| m.cells())
    }

    /// Active alerts per zone id.
    pub fn active_alerts_by_zone(&self) -> BTreeMap<&str, usize> {
        let mut m = BTreeMap::new();
        for z in self.loiter.active_by_zone() {
            *m.entry(z).or_insert(0) += 1;
        }
        m
    }

    pub fn zones(&self) -> &ZoneIndex {
        &self.zones
    }

    /// The local frame tracks are kept in.
    pub fn frame(&self) -> &LocalFrame {
        &self.frame
    }

    /// Active `ais_identity_conflict` alerts.
    pub fn identity_conflicts(&self) -> usize {
        self.conflicts.active()
    }

    /// The zones of an engine restored from a snapshot (which does not carry them): set as
    /// they are, every track and alert already pointing at them by index.
    pub(crate) fn set_restored_zones(&mut self, zones: ZoneIndex) {
        self.zones = zones;
    }

    /// Replaces the zones (hot reload) without touching tracks or active alerts, which
    /// follow their zones by id.
    pub fn set_zones(&mut self, zones: ZoneIndex) {
        self.loiter.remap_zones(&self.zones, &zones);
        self.zones = zones;
    }

    /// Takes back an active alert published by an earlier run (see
    /// [`Loiter::restore`]). Returns whether it was taken.
    pub fn restore_alert(&mut self, ev: &AlertEvent) -> bool {
        if let Some((mmsi, c)) = self.conflicts.restore(ev, &self.frame) {
            // Still contested after the restart: no allow-list entry spares its boat.
            self.tracker.restore_contested(mmsi, c);
            return true;
        }
        self.loiter.restore(ev, &self.zones, &self.frame)
    }

    /// What the loiter rule learned that should outlive this process (see
    /// [`crate::behaviour::memory`]).
    pub fn memory(&self) -> LoiterMemory {
        self.loiter.memory(&self.frame)
    }

    /// Takes back what an earlier run learned; before any contact.
    pub fn load_memory(&mut self, m: &LoiterMemory) {
        self.loiter.load_memory(m, &self.frame)
    }

    /// Processes one decoded message, its contacts placed by [`Placer::place`].
    pub fn process(&mut self, d: &Decoded, placed: &Placed, out: &mut Outputs) {
        if self.process_first(d, placed, out) {
            self.process_rest(d, placed, out);
        }
    }

    /// The first part of [`process`](Self::process), for an adapter that publishes alerts
    /// as soon as they are decided: a large radar scan with plots near the tracks inside
    /// interception zones is split, those plots associated and judged first (what the next
    /// alert depends on: a few plots, against hundreds across the strait), the alerts and
    /// states they give left in `out`; true then, and [`process_rest`](Self::process_rest)
    /// must follow with the same message before any other. Any other message is processed
    /// whole here (false); so is every scan while no track is inside a zone.
    ///
    /// The rest is done as a scan sent in two sectors is: the first part taken back and the
    /// whole scan associated together, so every track ends as one pass over the scan leaves
    /// it, and a state the first part already gave is not given again. The loiter rule sees
    /// a zone's tracks from the first part; the margin ([`FIRST_MARGIN_M`]) is what makes
    /// them those the whole scan gives. Offline replay and replicas split alike, through
    /// `process`, so every mode emits the same events.
    pub fn process_first(&mut self, d: &Decoded, placed: &Placed, out: &mut Outputs) -> bool {
        let mut first = std::mem::take(&mut self.first_plots);
        first.clear();
        let split = self.split_scan(d, placed, &mut first);
        if split {
            self.process_part(d, placed, &first, Part::First, out);
        } else {
            self.process_part(d, placed, &placed.plots, Part::Whole, out);
        }
        self.first_plots = first;
        split
    }

    /// The rest of a scan [`process_first`](Self::process_first) split.
    pub fn process_rest(&mut self, d: &Decoded, placed: &Placed, out: &mut Outputs) {
        self.process_part(d, placed, &placed.plots, Part::Rest, out);
    }

    /// Whether to split this message, and if so the plots of its first part into `first`.
    fn split_scan(
        &mut self,
        d: &Decoded,
        placed: &Placed,
        first: &mut Vec<Result<Measurement, &'static str>>,
    ) -> bool {
        let Decoded::Radar(scan) = d else {
            return false;
        };
        if placed.plots.len() < self.first_min_plots
            || self
                .open
                .as_ref()
                .is_some_and(|o| o.sensor == scan.sensor && o.t == scan.t)
        {
            return false;
        }
        let mut in_zone = std::mem::take(&mut self.in_zone);
        in_zone.clear();
        self.loiter.in_zone(&mut in_zone);
        let near = |z: [f64; 2]| {
            in_zone.iter().any(|p| {
                (p[0] - z[0]).abs() < FIRST_MARGIN_M && (p[1] - z[1]).abs() < FIRST_MARGIN_M
            })
        };
        let split = !in_zone.is_empty()
            && in_zone.len() <= FIRST_MAX_TRACKS
            && !self.repeats_recent_scan(scan.sensor, &placed.plots)
            && {
                first.extend(placed.plots.iter().filter(|m| m.is_ok_and(|m| near(m.z))));
                !first.is_empty() && first.len() < placed.plots.len()
            };
        self.in_zone = in_zone;
        split
    }

    /// A scan this sensor sent before, delivered again after other messages closed it
    /// (QoS 1 redelivery after a reconnection): every plot is one already processed.
    fn repeats_recent_scan(
        &self,
        sensor: usize,
        placed: &[Result<Measurement, &'static str>],
    ) -> bool {
        !placed.is_empty()
            && self
                .recent
                .get(sensor)
                .filter(|r| !r.keys.is_empty())
                .is_some_and(|recent| {
                    placed
                        .iter()
                        .all(|m| m.is_ok_and(|m| recent.keys.contains(&plot_key(&m))))
                })
    }

    fn process_part(
        &mut self,
        d: &Decoded,
        placed: &Placed,
        plots: &[Result<Measurement, &'static str>],
        part: Part,
        out: &mut Outputs,
    ) {
        self.updated.clear();
        let continues = match d {
            Decoded::Radar(scan) => self
                .open
                .as_ref()
                .is_some_and(|o| o.sensor == scan.sensor && o.t == scan.t),
            Decoded::Ais(_) => false,
        };
        if !continues {
            self.close_scan(out);
        }
        let oos_before = self.tracker.stats.out_of_sequence;
        match d {
            Decoded::Radar(scan) => self.radar(scan, plots, continues, part, out),
            Decoded::Ais(batch) => {
                for (r, &(z, vel)) in batch.reports.iter().zip(&placed.ais) {
                    match r {
                        AisReport::Position(p) => {
                            out.event_time = out.event_time.max(Some(p.t));
                            // The same report again (redelivered, or heard by two
                            // receivers): one transmission, one update.
                            let seen = (p.t, p.lat.to_bits(), p.lon.to_bits());
                            let room = self.last_ais.len() < MAX_VESSELS;
                            match self.last_ais.get_mut(&p.mmsi) {
                                Some(recent) if recent.contains(seen) => {
                                    out.duplicates += 1;
                                    continue;
                                }
                                Some(recent) => recent.push(seen),
                                None if room => {
                                    self.last_ais.insert(p.mmsi, RecentAis::new(seen));
                                }
                                None => {}
                            }
                            let m = AisMeasurement {
                                t: p.t,
                                mmsi: p.mmsi,
                                z,
                                vel,
                            };
                            match self.tracker.ais(&m) {
                                AisOutcome::Updated(id) => self.updated.push(id),
                                AisOutcome::Conflict(c, updated) => {
                                    self.updated.extend(updated);
                                    let label = c
                                        .track
                                        .and_then(|id| self.tracker.get(id))
                                        .map(|tr| tr.label());
                                    self.conflicts.on_contradiction(
                                        &c,
                                        label.as_deref(),
                                        &self.zones,
                                        &self.frame,
                                        &mut out.alerts,
                                    );
                                }
                                AisOutcome::OutOfSequence(_)
                                | AisOutcome::Refused
                                | AisOutcome::Contested => {}
                            }
                        }
                        AisReport::Static(s) => {
                            if let Some(name) = s.name.as_ref().filter(|n| !n.is_empty()) {
                                if self.vessels.len() < MAX_VESSELS
                                    || self.vessels.contains_key(&s.mmsi)
                                {
                                    self.vessels.entry(s.mmsi).or_default().name =
                                        Some(CompactString::from(name.as_str()));
                                }
                            }
                        }
                    }
                }
            }
        }
        // A sector processed again counts its out-of-sequence plots again, from the
        // scan's start: only the new ones are this message's.
        out.out_of_sequence += self
            .tracker
            .stats
            .out_of_sequence
            .saturating_sub(oos_before);
        if let Some(t) = out.event_time {
            self.now = self.now.max(t);
        }
        self.emit_updates(out);
        if self.open.is_none() {
            self.housekeeping(out);
        }
        self.describe_alerts(out);
    }

    /// What the alert events of this message say beyond the contract's fields.
    ///
    /// An identified alert gets its vessel's AIS name, from the static reports: what a
    /// watch officer reads first, and what the CAP and CISE documents carry. Not a dark
    /// alert's: a contested MMSI's static reports come from both transmitters, so its name
    /// is whichever spoke last. A pickup whose track is still tracked gets the sensors that
    /// fed it lately and how well its position is known, so an officer can tell a boat seen
    /// by two radars and AIS to ±10 m from one a far radar alone places to ±60 m.
    fn describe_alerts(&self, out: &mut Outputs) {
        for a in out.alerts.iter_mut() {
            if !a.dark && a.name.is_none() {
                if let Some(n) = a
                    .mmsi
                    .and_then(|m| self.vessels.get(&m))
                    .and_then(|v| v.name.as_ref())
                {
                    a.name = Some(n.to_string());
                }
            }
            if a.kind != crate::behaviour::alert::KIND_TAXI_BOAT {
                continue;
            }
            let Some(tr) = a
                .track_id
                .strip_prefix('T')
                .and_then(|n| n.parse().ok())
                .and_then(|id| self.tracker.get(id))
            else {
                continue;
            };
            let bits = tr.seen.bits();
            let mut names: Vec<String> = self
                .sensors
                .iter()
                .filter(|s| bits & s.bit != 0)
                .map(|s| s.id.to_string())
                .collect();
            if bits & Seen::AIS != 0 {
                names.push("ais".into());
            }
            a.sensors = Some(names);
            a.position_error_m = Some(position_error_m(tr));
        }
    }

    /// Closes the open scan, if any: its changes stay, and the housekeeping it deferred runs.
    fn close_scan(&mut self, out: &mut Outputs) {
        let Some(o) = self.open.take() else { return };
        self.tracker.end_scan();
        if let Some(r) = self.recent.get_mut(o.sensor) {
            r.remember(o.t, &o.meas);
        }
        self.scan_buffers = (o.meas, o.emitted);
        self.housekeeping(out);
    }

    fn radar(
        &mut self,
        scan: &RadarScan,
        placed: &[Result<Measurement, &'static str>],
        continues: bool,
        part: Part,
        out: &mut Outputs,
    ) {
        let Some(geom) = self.sensors.get(scan.sensor) else {
            return;
        };
        // A scan this sensor sent before, delivered again after other messages closed it
        // (QoS 1 redelivery after a reconnection): every plot is one already processed.
        // Nothing of it is taken again, and no scan is opened for it, so the picture is as
        // if it had never come. (A split scan was found not to be one before its split.)
        if !continues && part == Part::Whole && self.repeats_recent_scan(scan.sensor, placed) {
            out.duplicates += scan.plots.len() as u64;
            return;
        }
        // A sector of the open scan delivered again (the message just before, redelivered
        // or replayed): every plot is one the scan already has. Taking the scan back and
        // doing it again would give the same picture; skipping it does too, at no cost.
        // (The plots an earlier message of the scan already brought: also what a later
        // sector must not take twice, below.) The rest of a split scan is the whole scan
        // again, its first part's plots included: it replaces them, in the scan's order.
        let earlier: FxHashSet<_> = match (&self.open, continues, part) {
            (Some(o), true, Part::Whole) => o.meas.iter().map(plot_key).collect(),
            _ => FxHashSet::default(),
        };
        if !earlier.is_empty()
            && !scan.plots.is_empty()
            && placed
                .iter()
                .all(|m| m.is_ok_and(|m| earlier.contains(&plot_key(&m))))
        {
            out.duplicates += scan.plots.len() as u64;
            return;
        }
        // A scan older than the picture by more than a late sensor may be (contract §1)
        // updates the tracks it meets but starts none.
        let initiate =
            self.now == EventTime(i64::MIN) || scan.t.secs_since(self.now) >= -self.max_lateness_s;
        let mut open = match self.open.take().filter(|_| continues) {
            Some(mut o) => {
                // Another sector of the open scan: take the earlier ones back, then
                // process all of the scan's plots together below.
                self.tracker.rollback_scan(|tr| {
                    let x = tr.state.state();
                    o.emitted.insert(tr.id, (tr.t, [x[0], x[1], x[2], x[3]]));
                });
                if let Some(map) = &mut self.clutter {
                    map.truncate_pending(o.pending);
                }
                if part == Part::Rest {
                    o.meas.clear();
                }
                o
            }
            None => {
                self.tracker.begin_scan();
                let (mut meas, mut emitted) = std::mem::take(&mut self.scan_buffers);
                meas.clear();
                emitted.clear();
                OpenScan {
                    sensor: scan.sensor,
                    t: scan.t,
                    meas,
                    pending: 0,
                    emitted,
                }
            }
        };
        // A plot an earlier message of the scan already brought (the broker redelivering a
        // scan, QoS 1) is the same detection, not a second one (`earlier`, above).
        // Only plots that could be placed say what time it is: a scan whose every plot was
        // rejected moves no clock. A scan without plots (the radar saw nothing) does.
        let mut any_placed = false;
        for (index, &m) in placed.iter().enumerate() {
            match m {
                Ok(m) => {
                    any_placed = true;
                    out.event_time = out.event_time.max(Some(m.t));
                    if earlier.contains(&plot_key(&m)) {
                        out.duplicates += 1;
                    } else {
                        open.meas.push(m);
                    }
                }
                Err(reason) => out.rejects.push(DecodeError::BadPlot {
                    index,
                    reason: reason.to_string(),
                }),
            }
        }
        if any_placed || scan.plots.is_empty() {
            out.event_time = out.event_time.max(Some(scan.t));
        }
        if let Some(map) = &mut self.clutter {
            // Learn what has come due: plots whose track was not confirmed in time.
            let now = open.meas.iter().map(|m| m.t).max().unwrap_or(scan.t);
            let tracker = &self.tracker;
            map.learn_due(now, |id| tracker.get(id).is_some_and(|tr| tr.confirmed));
            open.pending = map.pending();
            for m in &mut open.meas {
                let learned = map.density(scan.sensor, m.z[0], m.z[1], m.t, geom.scan_period_s);
                m.clutter_density = m.clutter_density.max(learned);
            }
            self.tracker.plots(&open.meas, &mut self.updated, initiate);
            let plots = open.meas.iter().zip(self.tracker.unclaimed());
            for ((m, &free), &track) in plots.zip(self.tracker.taken_by()) {
                // A scan from the past was learned when it first came.
                if free && initiate {
                    map.learn_later(scan.sensor, m.z, m.t, track);
                }
            }
        } else {
            self.tracker.plots(&open.meas, &mut self.updated, initiate);
        }
        self.open = Some(open);
    }

    fn emit_updates(&mut self, out: &mut Outputs) {
        self.updated.sort_unstable();
        self.updated.dedup();
        for &id in &self.updated {
            let Some(tr) = self.tracker.get(id) else {
                continue;
            };
            if !tr.confirmed {
                if self.tentative_states {
                    self.tentative_out.insert(id);
                    out.tentative.push(self.state_of(tr, false));
                }
                continue;
            }
            if self.tentative_states {
                self.tentative_out.remove(&id);
            }
            if let Some(o) = self.open.as_ref().filter(|o| !o.emitted.is_empty()) {
                // A later sector of the scan that left this track as the earlier one made
                // it: already out, and already seen by the loiter rule.
                let x = tr.state.state();
                if o.emitted.get(&id) == Some(&(tr.t, [x[0], x[1], x[2], x[3]])) {
                    continue;
                }
            }
            // A state at the time of one already published revises it (a later sector of
            // the same scan): published too.
            let last = self.last_published.get(&id).copied();
            // A track has an entry from its first confirmed state until it is deleted, and
            // ids are never given again: none means this is its first.
            if last.is_none() {
                out.new_confirmed += 1;
            }
            let publish =
                last.is_none_or(|l| l == tr.t || tr.t.secs_since(l) >= self.track_interval_s);
            if publish {
                self.last_published.insert(id, tr.t);
            }
            let state = (!self.no_track_states).then(|| self.state_of(tr, publish));
            // The state's label when there is a state, not made twice.
            let own_label;
            let label: &str = match &state {
                Some(s) => &s.track_id,
                None => {
                    own_label = tr.label();
                    &own_label
                }
            };
            let (x, y) = tr.pos();
            let view = TrackView {
                id,
                label,
                t: tr.t,
                x,
                y,
                speed_mps: tr.speed_mps(),
                mmsi: tr.mmsi,
            };
            self.loiter
                .on_update(view, &self.zones, &self.frame, &mut out.alerts);
            out.tracks.extend(state);
        }
    }

    /// A track's state as published (contract §6.2): geodetic, rounded as on the wire.
    fn state_of(&self, tr: &Track, publish: bool) -> TrackState {
        let (x, y) = tr.pos();
        let (lat, lon) = self.frame.to_geodetic(x, y);
        TrackState {
            t: tr.t,
            track_id: tr.label(),
            lat: (lat * 1e7).round() / 1e7,
            lon: (lon * 1e7).round() / 1e7,
            speed_kn: (tr.speed_mps() / KN_TO_MPS * 100.0).round() / 100.0,
            course_deg: (tr.course_deg() * 10.0).round() / 10.0,
            dark: tr.mmsi.is_none(),
            mmsi: tr.mmsi,
            name: tr
                .mmsi
                .and_then(|m| self.vessels.get(&m))
                .and_then(|v| v.name.clone()),
            publish,
            exercise: self.exercise,
        }
    }

    fn housekeeping(&mut self, out: &mut Outputs) {
        // No event time seen yet (e.g. only AIS reports without a usable position).
        if self.now == EventTime(i64::MIN) {
            return;
        }
        if self
            .last_housekeeping
            .is_some_and(|l| self.now.secs_since(l) < HOUSEKEEPING_S)
        {
            return;
        }
        self.last_housekeeping = Some(self.now);
        self.loiter
            .tick(self.now, &self.zones, &self.frame, &mut out.alerts);
        self.settled.clear();
        self.tracker
            .settle_identities(self.now, self.conflicts.clear_s(), &mut self.settled);
        for &mmsi in &self.settled {
            self.conflicts.on_settled(mmsi, self.now, &mut out.alerts);
        }
        self.deleted.clear();
        self.tracker.expire(self.now, &mut self.deleted);
        for tr in &self.deleted {
            self.last_published.remove(&tr.id);
            if self.tentative_out.remove(&tr.id) {
                out.tentative_dropped.push(tr.label());
            }
            self.loiter
                .on_deleted(tr.id, self.now, &self.frame, &mut out.alerts);
        }
        let mut c = TrackCounts::default();
        for tr in self.tracker.tracks() {
            match (tr.confirmed, tr.mmsi) {
                (false, _) => c.tentative += 1,
                (true, None) => c.confirmed_dark += 1,
                (true, Some(_)) => c.confirmed_ais += 1,
            }
        }
        self.counts = c;
    }
}

/// 1-sigma error of a track's position along its worst axis (the larger eigenvalue of its
/// 2×2 position covariance), metres, to the metre.
fn position_error_m(tr: &Track) -> f64 {
    let p = tr.state.covariance();
    let (a, b, c) = (p[(0, 0)], p[(0, 1)], p[(1, 1)]);
    let worst = 0.5 * (a + c) + (0.25 * (a - c) * (a - c) + b * b).sqrt();
    worst.max(0.0).sqrt().round()
}
