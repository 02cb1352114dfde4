//! Loiter detection: a track confined to a small circle inside one interception strip for
//! long enough raises `taxi_boat_pickup` (contract §4).
//!
//! Works on the *filtered* track (not raw plots), so plot noise and missed detections do not
//! break a dwell. Over the last `loiter_dwell_s` the track must have stayed in one strip of
//! touching zones, its positions must fit in a circle of `loiter_radius_m` (minimum
//! enclosing circle), it must have made good at most that radius (net displacement from the
//! window's start), and at most about a third of its samples may be under way (above
//! `underway_kn`): stopped, drifting and slow circling all pass; a transit, even a slow one,
//! or a short stop between two runs, does not; and a low speed alone is never enough. The
//! alert names the zone where the boat spent most of the window, so a boat on the line
//! between two beaches is one alert whichever side its estimate jitters to. Hysteresis
//! (clear only after `clear_outside_s` outside the strip or `clear_underway_s` above
//! `underway_kn`) makes one pickup one alert, not a flicker.

use super::alert::{round, AlertEvent, AlertState, ZoneRef, KIND_TAXI_BOAT, MPS_TO_KN};
use crate::config::AlertsConfig;
use crate::geo::frame::LocalFrame;
use crate::geo::zones::ZoneIndex;
use crate::time::EventTime;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// Positions closer in time than this are not both kept: bounds memory per track.
const SAMPLE_SPACING_S: f64 = 1.0;
/// Largest share of a dwell window's samples that may be under way. The filtered speed of a
/// constant-velocity track lags an abrupt stop by 15-25 s (from 6-12 kn), which this
/// absorbs; a 40 s stop between two 6 kn runs is still more than half under way. Measured
/// on the fixture scenes: 0.2 missed the 100 s deadline after a 12 kn stop (106 s), 0.35
/// alerts 70-94 s after the stop. An IMM (constant velocity + near-stationary) would remove
/// the lag instead of tolerating it.
const MAX_UNDERWAY_FRACTION: f64 = 0.35;

/// What the detector needs to know of a confirmed track after an update.
#[derive(Clone, Copy, Debug)]
pub struct TrackView<'a> {
    pub id: u64,
    pub label: &'a str,
    pub t: EventTime,
    pub x: f64,
    pub y: f64,
    pub speed_mps: f64,
    pub mmsi: Option<u32>,
}

#[derive(Debug)]
struct Active {
    id: String,
    /// Index in the current zone index; `None` if a reload removed the zone (the alert then
    /// clears as if the boat had left it).
    zone: Option<usize>,
    zone_ref: ZoneRef,
    start: EventTime,
    last_emit: EventTime,
    /// Centre of the circle the boat was confined to when the alert was raised.
    centre: (f64, f64),
}

#[derive(Debug)]
struct PerTrack {
    label: String,
    birth: (f64, f64),
    /// Has moved away from where it was first confirmed: a buoy never does.
    moved: bool,
    /// When it was first seen.
    born_t: EventTime,
    /// Where and since when it has stayed within `loiter_radius_m`: a return that sits in
    /// one place long enough is a fixed object (see [`Loiter::fixed`]).
    anchor: (EventTime, f64, f64),
    /// Its place is already a known fixed object.
    learned: bool,
    zone: Option<usize>,
    /// (time, x, y, speed m/s, zone) since entering the zone's strip, one per
    /// `SAMPLE_SPACING_S`.
    samples: VecDeque<Sample>,
    outside_since: Option<EventTime>,
    fast_since: Option<EventTime>,
    last: (f64, f64, f64, Option<u32>),
    alert: Option<Active>,
}

/// A filtered position of a track in a zone: time, x, y, speed (m/s), zone index.
type Sample = (EventTime, f64, f64, f64, usize);

pub struct Loiter {
    cfg: AlertsConfig,
    allow: FxHashSet<u32>,
    exercise: bool,
    /// Looked up once per track state; iterated only where order does not matter (metrics
    /// counts, zone reload). A B-tree here was 2 % of the instructions of replaying the
    /// strait scene and a twentieth of its mispredicted branches.
    tracks: FxHashMap<u64, PerTrack>,
    /// Alerts restored after a restart that no track has taken over yet.
    orphans: Vec<Orphan>,
    /// Known fixed objects in the local frame: configured (`alerts.fixed_objects`) and
    /// learned from the radar picture. No loiter within `fixed_object_radius_m` of one is
    /// a pickup, whichever track sits there: a boat passing a buoy may leave its own track
    /// on the buoy's returns (the sensors cannot always tell two returns 10 m apart), and
    /// that track "moved since it began".
    fixed: Vec<(f64, f64)>,
}

/// A track that moved before and then stays in one place this many times
/// `fixed_object_learn_s` marks a fixed object too (a boat's track left on a buoy's returns
/// after the buoy's own track died); its alert, if any, is cleared as `fixed_object`.
const FIXED_AFTER_MOVING_FACTOR: f64 = 6.0;

fn near_fixed(fixed: &[(f64, f64)], x: f64, y: f64, r: f64) -> bool {
    fixed.iter().any(|f| (f.0 - x).hypot(f.1 - y) <= r)
}

/// An alert that was active when vigie stopped (read back from the broker's retained
/// `alerts/active/#` at start-up). Its track died with the old process, so the first
/// confirmed track found near its centre, in its zone and not under way takes it over
/// under the same id; if none does within `restore_grace_s` of event time, the boat has gone
/// and the alert is cleared (`track_lost`). Either way a restart neither raises the pickup a
/// second time nor leaves an alert that can never clear.
#[derive(Debug)]
struct Orphan {
    alert: Active,
    label: String,
    last: (f64, f64, f64, Option<u32>),
    /// Event time by which a track must take it over; set by the first time seen.
    deadline: Option<EventTime>,
}

impl Loiter {
    pub fn new(cfg: AlertsConfig, exercise: bool, frame: &LocalFrame) -> Self {
        Loiter {
            fixed: cfg
                .fixed_objects
                .iter()
                .map(|&[lat, lon]| frame.to_local(lat, lon))
                .collect(),
            allow: cfg.allow_mmsi.iter().copied().collect(),
            cfg,
            exercise,
            tracks: FxHashMap::default(),
            orphans: Vec::new(),
        }
    }

    /// Takes back an alert published by an earlier run (its latest retained event). Events
    /// of the other stream (exercise vs live) and cleared ones are ignored.
    pub fn restore(&mut self, ev: &AlertEvent, zones: &ZoneIndex, frame: &LocalFrame) -> bool {
        if ev.exercise != self.exercise
            || ev.kind != KIND_TAXI_BOAT
            || ev.state == AlertState::Cleared
            || self.orphans.iter().any(|o| o.alert.id == ev.id)
        {
            return false;
        }
        let Some(zone_ref) = ev.zone.clone() else {
            return false;
        };
        let (x, y) = frame.to_local(ev.lat, ev.lon);
        self.orphans.push(Orphan {
            alert: Active {
                id: ev.id.clone(),
                zone: zones.index_of(&zone_ref.id),
                zone_ref,
                start: ev.t.plus_secs(-ev.dwell_s),
                last_emit: ev.t,
                centre: (x, y),
            },
            label: ev.track_id.clone(),
            last: (x, y, ev.speed_kn / MPS_TO_KN, ev.mmsi),
            deadline: None,
        });
        true
    }

    /// Clears restored alerts that no track took over in time.
    pub fn tick(&mut self, now: EventTime, frame: &LocalFrame, out: &mut Vec<AlertEvent>) {
        let grace = self.cfg.restore_grace_s;
        let exercise = self.exercise;
        self.orphans.retain_mut(|o| {
            let deadline = *o.deadline.get_or_insert(now.plus_secs(grace));
            if now < deadline {
                return true;
            }
            out.push(make_event(
                &o.alert,
                &o.label,
                o.last,
                now,
                AlertState::Cleared,
                Some("track_lost"),
                frame,
                exercise,
            ));
            false
        });
    }

    /// The zone id of each active alert, for the metrics gauge.
    pub fn active_by_zone(&self) -> impl Iterator<Item = &str> + '_ {
        self.tracks
            .values()
            .filter_map(|p| p.alert.as_ref())
            .chain(self.orphans.iter().map(|o| &o.alert))
            .map(|a| a.zone_ref.id.as_str())
    }

    /// Zones were reloaded: re-point every track and active alert at its zone by id, so
    /// nothing is lost when the file's order changes. Dwell windows in zones that still
    /// exist are kept.
    pub fn remap_zones(&mut self, old: &ZoneIndex, new: &ZoneIndex) {
        let remap = |i: usize| new.index_of(&old.zones()[i].id);
        for p in self.tracks.values_mut() {
            p.zone = p.zone.and_then(remap);
            let mut lost = p.zone.is_none();
            for s in p.samples.iter_mut() {
                match remap(s.4) {
                    Some(z) => s.4 = z,
                    None => lost = true,
                }
            }
            // A window across zones no longer in one strip is no window.
            let strip = p.zone.map(|z| new.strip(z));
            if lost || p.samples.iter().any(|s| Some(new.strip(s.4)) != strip) {
                p.samples.clear();
            }
            if let Some(a) = p.alert.as_mut() {
                a.zone = new.index_of(&a.zone_ref.id);
            }
        }
    }

    /// Feeds one update of a confirmed track; pushes any alert events it causes.
    pub fn on_update(
        &mut self,
        v: TrackView,
        zones: &ZoneIndex,
        frame: &LocalFrame,
        out: &mut Vec<AlertEvent>,
    ) {
        let cfg = &self.cfg;
        let p = self.tracks.entry(v.id).or_insert_with(|| PerTrack {
            label: v.label.to_string(),
            birth: (v.x, v.y),
            moved: false,
            born_t: v.t,
            anchor: (v.t, v.x, v.y),
            learned: false,
            zone: None,
            samples: VecDeque::new(),
            outside_since: None,
            fast_since: None,
            last: (v.x, v.y, v.speed_mps, v.mmsi),
            alert: None,
        });
        p.last = (v.x, v.y, v.speed_mps, v.mmsi);
        if !p.moved && (v.x - p.birth.0).hypot(v.y - p.birth.1) > 2.0 * cfg.loiter_radius_m {
            p.moved = true;
        }
        // Learn fixed objects from the picture: a return that has not moved since it was
        // first seen, for `fixed_object_learn_s`; or, after moving, one that stays within
        // the loiter radius for six times as long.
        let fixed_r = cfg.fixed_object_radius_m;
        if (v.x - p.anchor.1).hypot(v.y - p.anchor.2) > cfg.loiter_radius_m {
            p.anchor = (v.t, v.x, v.y);
            p.learned = false;
        }
        let still_s = v.t.secs_since(p.anchor.0);
        let learn_s = if !p.moved && p.anchor.0 == p.born_t {
            cfg.fixed_object_learn_s
        } else {
            FIXED_AFTER_MOVING_FACTOR * cfg.fixed_object_learn_s
        };
        if !p.learned && v.mmsi.is_none() && still_s >= learn_s {
            p.learned = true;
            if !near_fixed(&self.fixed, v.x, v.y, fixed_r) {
                tracing::info!(
                    "track {} has sat in one place for {still_s:.0} s: a fixed object",
                    p.label
                );
                self.fixed.push((v.x, v.y));
            }
        }
        let allowed = v.mmsi.is_some_and(|m| self.allow.contains(&m));
        let prefer = p.alert.as_ref().and_then(|a| a.zone).or(p.zone);
        let zone = zones.locate(v.x, v.y, prefer);
        // Zones that touch are one strip (contract §4): where the boat is, for the rule, is
        // its strip; the zone only names the alert.
        let strip = zone.map(|z| zones.strip(z));

        if let Some(a) = &p.alert {
            let in_zone = strip.is_some() && a.zone.map(|z| zones.strip(z)) == strip;
            let reason = if allowed {
                Some("allow_listed")
            } else if p.learned {
                // Its own place turned out to be a fixed object's: it has sat there for
                // half an hour (a boat's track left on a buoy's returns).
                Some("fixed_object")
            } else {
                if !in_zone {
                    let since = *p.outside_since.get_or_insert(v.t);
                    if v.t.secs_since(since) >= cfg.clear_outside_s {
                        Some("left_zone")
                    } else {
                        None
                    }
                } else {
                    p.outside_since = None;
                    None
                }
                .or_else(|| {
                    // Under way: fast *and* out of the loiter circle. A boat circling
                    // quickly inside the circle is still loitering.
                    let away = (v.x - a.centre.0).hypot(v.y - a.centre.1) > cfg.loiter_radius_m;
                    if away && v.speed_mps * MPS_TO_KN > cfg.underway_kn {
                        let since = *p.fast_since.get_or_insert(v.t);
                        (v.t.secs_since(since) >= cfg.clear_underway_s).then_some("under_way")
                    } else {
                        p.fast_since = None;
                        None
                    }
                })
            };
            if let Some(reason) = reason {
                let ev = event(
                    p,
                    v.t,
                    AlertState::Cleared,
                    Some(reason),
                    frame,
                    self.exercise,
                );
                out.push(ev);
                p.alert = None;
                p.samples.clear();
                p.zone = zone;
                p.outside_since = None;
                p.fast_since = None;
            } else if v.t.secs_since(a.last_emit) >= cfg.update_interval_s {
                let ev = event(p, v.t, AlertState::Updated, None, frame, self.exercise);
                out.push(ev);
                if let Some(a) = p.alert.as_mut() {
                    a.last_emit = v.t;
                }
            }
            return;
        }

        if !self.orphans.is_empty() && !allowed {
            if let Some(mut a) = adopt(&mut self.orphans, cfg, &v, zone, zones) {
                tracing::info!(
                    "alert {} taken over by track {} after a restart",
                    a.id,
                    p.label
                );
                a.last_emit = v.t;
                p.zone = zone;
                p.moved = true;
                p.alert = Some(a);
                out.push(event(
                    p,
                    v.t,
                    AlertState::Updated,
                    None,
                    frame,
                    self.exercise,
                ));
                return;
            }
        }
        if strip != p.zone.map(|z| zones.strip(z)) {
            p.samples.clear();
        }
        p.zone = zone;
        let Some(zi) = zone else { return };
        let sample = (v.t, v.x, v.y, v.speed_mps, zi);
        match p.samples.back_mut() {
            // A revised state for the same instant (a later sector of the same radar
            // scan) replaces the sample it revises.
            Some(s) if s.0 == v.t => *s = sample,
            Some(s) if v.t.secs_since(s.0) < SAMPLE_SPACING_S => {}
            _ => p.samples.push_back(sample),
        }
        // Keep exactly one sample at or before the start of the dwell window.
        let window_start = v.t.plus_secs(-cfg.loiter_dwell_s);
        while p.samples.len() >= 2 && p.samples[1].0 <= window_start {
            p.samples.pop_front();
        }
        if allowed || !p.moved {
            return;
        }
        let Some(&(first_t, ..)) = p.samples.front() else {
            return;
        };
        if first_t > window_start {
            return;
        }
        // Mostly not under way: a boat that runs in at 6 kn, stops 40 s and runs on spends
        // ~105 s inside a 200 m circle, but more than half of that under way. A fraction
        // rather than "never" tolerates the filter's lag after an abrupt stop and speed
        // noise on a stopped target.
        let underway_mps = cfg.underway_kn / MPS_TO_KN;
        let fast = p.samples.iter().filter(|s| s.3 > underway_mps).count();
        if fast as f64 > MAX_UNDERWAY_FRACTION * p.samples.len() as f64 {
            return;
        }
        let (cx, cy, r) = enclosing_circle(p.samples.iter().map(|s| (s.1, s.2)));
        if r > cfg.loiter_radius_m {
            return;
        }
        // Where the boat sits now, not the circle's centre (which the approach pulls off).
        if near_fixed(&self.fixed, v.x, v.y, fixed_r) {
            return;
        }
        // At most the radius made good over the window (contract §4): a boat transiting
        // the strip slowly (3 kn makes 140 m in 90 s) is not loitering, however tight its
        // track; stopped, drifting and circling boats make good almost nothing.
        if made_good(&p.samples) > cfg.loiter_radius_m {
            return;
        }
        // The zone named: where the boat spent most of the window (ties: the lowest index).
        let mut time_in: Vec<(usize, usize)> = Vec::new();
        for s in &p.samples {
            match time_in.iter_mut().find(|(z, _)| *z == s.4) {
                Some((_, n)) => *n += 1,
                None => time_in.push((s.4, 1)),
            }
        }
        let zi = time_in
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map_or(zi, |&(z, _)| z);
        let z = &zones.zones()[zi];
        p.alert = Some(Active {
            id: format!("tb-{}-{}", p.label, first_t.compact()),
            zone: Some(zi),
            zone_ref: ZoneRef {
                id: z.id.clone(),
                name: z.name.clone(),
            },
            start: first_t,
            last_emit: v.t,
            centre: (cx, cy),
        });
        out.push(event(
            p,
            v.t,
            AlertState::Raised,
            None,
            frame,
            self.exercise,
        ));
    }

    /// The track is gone: clears its alert, if any.
    pub fn on_deleted(
        &mut self,
        id: u64,
        t: EventTime,
        frame: &LocalFrame,
        out: &mut Vec<AlertEvent>,
    ) {
        if let Some(p) = self.tracks.remove(&id) {
            if p.alert.is_some() {
                out.push(event(
                    &p,
                    t,
                    AlertState::Cleared,
                    Some("track_lost"),
                    frame,
                    self.exercise,
                ));
            }
        }
    }
}

/// A restored alert this track should take over: same zone, near its centre, not under
/// way.
fn adopt(
    orphans: &mut Vec<Orphan>,
    cfg: &AlertsConfig,
    v: &TrackView,
    zone: Option<usize>,
    zones: &ZoneIndex,
) -> Option<Active> {
    let strip = zones.strip(zone?);
    if v.speed_mps > cfg.underway_kn / MPS_TO_KN {
        return None;
    }
    // The circle's centre is where the boat was confined; a new track's first positions are
    // noisier than the old filtered ones, hence twice the radius.
    let reach = 2.0 * cfg.loiter_radius_m;
    let i = orphans.iter().position(|o| {
        o.alert.zone.map(|z| zones.strip(z)) == Some(strip)
            && (v.x - o.alert.centre.0).hypot(v.y - o.alert.centre.1) <= reach
    })?;
    Some(orphans.swap_remove(i).alert)
}

fn event(
    p: &PerTrack,
    t: EventTime,
    state: AlertState,
    reason: Option<&str>,
    frame: &LocalFrame,
    exercise: bool,
) -> AlertEvent {
    let a = p.alert.as_ref().expect("event of an active alert");
    make_event(a, &p.label, p.last, t, state, reason, frame, exercise)
}

#[allow(clippy::too_many_arguments)]
fn make_event(
    a: &Active,
    label: &str,
    last: (f64, f64, f64, Option<u32>),
    t: EventTime,
    state: AlertState,
    reason: Option<&str>,
    frame: &LocalFrame,
    exercise: bool,
) -> AlertEvent {
    let (x, y, speed, mmsi) = last;
    let (lat, lon) = frame.to_geodetic(x, y);
    AlertEvent {
        id: a.id.clone(),
        kind: KIND_TAXI_BOAT.into(),
        state,
        track_id: label.to_string(),
        t,
        lat: round(lat, 1e6),
        lon: round(lon, 1e6),
        zone: Some(a.zone_ref.clone()),
        dwell_s: round(t.secs_since(a.start), 10.0),
        speed_kn: round(speed * MPS_TO_KN, 10.0),
        dark: mmsi.is_none(),
        mmsi,
        exercise,
        emitted_at: None,
        reason: reason.map(str::to_string),
        distance_m: None,
        other_lat: None,
        other_lon: None,
    }
}

/// Seconds at each end of the window averaged for [`made_good`].
const MADE_GOOD_END_S: f64 = 10.0;

/// The net displacement over a window of samples: from the mean position of its first
/// [`MADE_GOOD_END_S`] to that of its last, scaled to the whole window (exact for steady
/// motion).
///
/// Why not the first and last sample alone: each carries the whole error of one filtered
/// position (tens of metres across the beam far from the radars); averaging a few scans at
/// each end takes a part of it off. Why not a straight-line fit over the whole window: it
/// counts the approach of a boat that has just stopped (a fit through 30 s at 9 kn and 60 s
/// stopped "makes good" far more than the boat did), and delayed such alerts by 40 s.
fn made_good(samples: &VecDeque<Sample>) -> f64 {
    let (Some(first), Some(last)) = (samples.front(), samples.back()) else {
        return 0.0;
    };
    let span = last.0.secs_since(first.0);
    if span <= 2.0 * MADE_GOOD_END_S {
        return (last.1 - first.1).hypot(last.2 - first.2);
    }
    let mean = |it: &mut dyn Iterator<Item = &Sample>| {
        let (mut n, mut t, mut x, mut y) = (0.0, 0.0, 0.0, 0.0);
        for s in it {
            n += 1.0;
            t += s.0.secs_since(first.0);
            x += s.1;
            y += s.2;
        }
        (t / n, x / n, y / n)
    };
    let head = mean(
        &mut samples
            .iter()
            .take_while(|s| s.0.secs_since(first.0) <= MADE_GOOD_END_S),
    );
    let tail = mean(
        &mut samples
            .iter()
            .rev()
            .take_while(|s| last.0.secs_since(s.0) <= MADE_GOOD_END_S),
    );
    let dt = tail.0 - head.0;
    if dt <= 0.0 {
        return 0.0;
    }
    (tail.1 - head.1).hypot(tail.2 - head.2) * span / dt
}

/// Minimum enclosing circle (centre x, centre y, radius) by Welzl's algorithm in its
/// iterative form. Points are visited in a fixed scrambled order so that a steady drift
/// (points in order along a line) does not hit the cubic worst case.
pub fn enclosing_circle(points: impl Iterator<Item = (f64, f64)>) -> (f64, f64, f64) {
    let pts: Vec<(f64, f64)> = points.collect();
    match pts.len() {
        0 => return (0.0, 0.0, 0.0),
        1 => return (pts[0].0, pts[0].1, 0.0),
        _ => {}
    }
    let n = pts.len();
    // Visit in order i·k mod n with k coprime to n: deterministic and well spread.
    let mut k = (n as f64 * 0.618) as usize | 1;
    while gcd(k, n) != 1 {
        k += 2;
    }
    let p: Vec<(f64, f64)> = (0..n).map(|i| pts[(i * k) % n]).collect();
    let inside = |c: (f64, f64, f64), q: (f64, f64)| {
        (q.0 - c.0).hypot(q.1 - c.1) <= c.2 * (1.0 + 1e-12) + 1e-9
    };
    let mut c = (p[0].0, p[0].1, 0.0);
    for i in 1..n {
        if inside(c, p[i]) {
            continue;
        }
        c = (p[i].0, p[i].1, 0.0);
        for j in 0..i {
            if inside(c, p[j]) {
                continue;
            }
            c = circle2(p[i], p[j]);
            for kk in 0..j {
                if !inside(c, p[kk]) {
                    c = circle3(p[i], p[j], p[kk]);
                }
            }
        }
    }
    c
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn circle2(a: (f64, f64), b: (f64, f64)) -> (f64, f64, f64) {
    let c = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    (c.0, c.1, (a.0 - b.0).hypot(a.1 - b.1) / 2.0)
}

fn circle3(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> (f64, f64, f64) {
    let (bx, by) = (b.0 - a.0, b.1 - a.1);
    let (cx, cy) = (c.0 - a.0, c.1 - a.1);
    let d = 2.0 * (bx * cy - by * cx);
    if d.abs() < 1e-12 {
        // Collinear: the circle on the two farthest points.
        let cands = [circle2(a, b), circle2(a, c), circle2(b, c)];
        return cands
            .into_iter()
            .max_by(|x, y| x.2.total_cmp(&y.2))
            .expect("three candidates");
    }
    let ux = (cy * (bx * bx + by * by) - by * (cx * cx + cy * cy)) / d;
    let uy = (bx * (cx * cx + cy * cy) - cx * (bx * bx + by * by)) / d;
    (a.0 + ux, a.1 + uy, ux.hypot(uy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_enclosing_circle() {
        let radius = |p: Vec<(f64, f64)>| enclosing_circle(p.into_iter()).2;
        assert_eq!(radius(vec![(3.0, 4.0)]), 0.0);
        let (cx, cy, r) = enclosing_circle([(0.0, 0.0), (10.0, 0.0), (5.0, 1.0)].into_iter());
        assert!((r - 5.0).abs() < 1e-9 && (cx - 5.0).abs() < 1e-9 && cy.abs() < 1e-9);
        // A circle of radius 80 sampled 100 times, and a straight drift of 190 m.
        let ring = (0..100).map(|i| {
            let a = i as f64 * 0.37;
            (80.0 * a.cos(), 80.0 * a.sin())
        });
        assert!((radius(ring.collect()) - 80.0).abs() < 0.5);
        let line = (0..=190).map(|i| (i as f64, 0.5 * i as f64));
        let r = radius(line.collect());
        assert!((r - 0.5 * 190f64.hypot(95.0)).abs() < 1e-6);
    }

    /// Where a test track is at a time: x, y, speed (m/s).
    type PathFn<'a> = &'a dyn Fn(f64) -> (f64, f64, f64);

    /// A 1.4 km × 1.1 km zone at the frame's origin; the loiter rule fed a track by a
    /// function of time (x, y, speed m/s) every 2.5 s.
    struct Bench {
        frame: LocalFrame,
        zones: ZoneIndex,
    }

    impl Bench {
        fn new() -> Self {
            let text = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"z","name":"Z"},"geometry":{"type":"Polygon","coordinates":[[[1.0,50.0],[1.02,50.0],[1.02,50.01],[1.0,50.01],[1.0,50.0]]]}}]}"#;
            let frame = LocalFrame::new(50.0, 1.0);
            let zones = ZoneIndex::new(crate::geo::zones::parse(text, "t").unwrap(), &frame);
            Bench { frame, zones }
        }

        /// Raised alerts of tracks `paths` (id, path) over `secs`.
        fn raised(&self, cfg: AlertsConfig, secs: f64, paths: &[(u64, PathFn)]) -> Vec<(u64, f64)> {
            let mut l = Loiter::new(cfg, false, &self.frame);
            let mut out = Vec::new();
            let mut raised = Vec::new();
            let mut t = 0.0;
            while t <= secs {
                for (id, path) in paths {
                    let (x, y, speed_mps) = path(t);
                    let label = format!("T{id}");
                    let v = TrackView {
                        id: *id,
                        label: &label,
                        t: EventTime((t * 1e6) as i64),
                        x,
                        y,
                        speed_mps,
                        mmsi: None,
                    };
                    out.clear();
                    l.on_update(v, &self.zones, &self.frame, &mut out);
                    for a in &out {
                        if a.state == AlertState::Raised {
                            raised.push((*id, t));
                        }
                    }
                }
                t += 2.5;
            }
            raised
        }
    }

    /// Arrives from 600 m west at 6 m/s, then does `then` from (700, 500).
    fn arrive(then: impl Fn(f64) -> (f64, f64, f64)) -> impl Fn(f64) -> (f64, f64, f64) {
        move |t| {
            if t < 100.0 {
                (100.0 + 6.0 * t, 500.0, 6.0)
            } else {
                then(t - 100.0)
            }
        }
    }

    #[test]
    fn what_is_made_good_decides_not_the_speed() {
        let b = Bench::new();
        // Drifting at 0.25 m/s (0.5 kn): 22 m made good in 90 s. Alerted.
        let drift = arrive(|t| (700.0, 500.0 - 0.25 * t, 0.25));
        let r = b.raised(AlertsConfig::default(), 400.0, &[(1, &drift)]);
        assert_eq!(r.len(), 1, "{r:?}");
        // The rule counts the slow last metres of the approach: within the dwell of slowing.
        assert!(r[0].1 > 160.0 && r[0].1 < 200.0, "{r:?}");
        // Transiting at 1.5 m/s (3 kn), tight as a line: 135 m made good in 90 s. Not.
        let transit = arrive(|t| (700.0, 500.0 - 1.5 * t, 1.5));
        assert!(b
            .raised(AlertsConfig::default(), 500.0, &[(1, &transit)])
            .is_empty());
        // Circling at 1.5 m/s on a 40 m circle: alerted.
        let circle = arrive(|t| {
            let a = 1.5 * t / 40.0;
            (700.0 + 40.0 * a.sin(), 540.0 - 40.0 * a.cos(), 1.5)
        });
        assert_eq!(
            b.raised(AlertsConfig::default(), 400.0, &[(1, &circle)])
                .len(),
            1
        );
    }

    #[test]
    fn no_pickup_at_a_fixed_object_learned_or_configured() {
        let b = Bench::new();
        let buoy = |_t: f64| (700.0, 480.0, 0.0);
        // The boat arrives after the buoy has been seen for 5 minutes and stops 20 m from it.
        let boat = |t: f64| {
            if t < 400.0 {
                (100.0, 900.0, 0.0)
            } else if t < 500.0 {
                (100.0 + 6.0 * (t - 400.0), 900.0 - 4.0 * (t - 400.0), 7.2)
            } else {
                (700.0, 500.0, 0.0)
            }
        };
        let cfg = AlertsConfig::default();
        // The boat alone, stopped there: a pickup.
        assert_eq!(b.raised(cfg.clone(), 800.0, &[(2, &boat)]).len(), 1);
        // Beside a buoy seen since the start: the buoy's place is a fixed object's.
        assert_eq!(
            b.raised(cfg.clone(), 800.0, &[(1, &buoy), (2, &boat)]),
            vec![]
        );
        // A charted buoy there, configured: the same without having seen it.
        let (lat, lon) = b.frame.to_geodetic(700.0, 480.0);
        let charted = AlertsConfig {
            fixed_objects: vec![[lat, lon]],
            ..cfg
        };
        assert_eq!(b.raised(charted, 800.0, &[(2, &boat)]), vec![]);
    }
}
