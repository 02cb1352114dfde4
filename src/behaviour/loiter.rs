//! Loiter detection: a track confined to a small circle inside one interception strip for
//! long enough raises `taxi_boat_pickup` (contract §4).
//!
//! Works on the *filtered* track (not raw plots), so plot noise and missed detections do not
//! break a dwell. Over the last `loiter_dwell_s` the track must have stayed in one strip of
//! touching zones, its positions must fit in a circle of `loiter_radius_m` (minimum
//! enclosing circle), it must have made good at most that radius (net displacement from the
//! window's start), and it must not be drawing away from where it sat as the window closes
//! (a boat leaving, its estimate lagging): stopped, drifting and circling, however fast,
//! all pass; a transit, even a slow one, or a short stop between two runs, does not; and a
//! low speed alone is never enough. It raises once the window, circle and made good have
//! held at every update for `loiter_hold_s`: far from the radars the estimate wanders for
//! a scan or two, and a transit's made good can dip under the radius for one. The alert
//! names the zone where the boat spent most of the window, so a boat on the line between
//! two beaches is one alert whichever side its estimate jitters to. Hysteresis (clear only
//! after `clear_outside_s` outside the strip or `clear_underway_s` above `underway_kn` and
//! away from where it loiters) makes one pickup one alert, not a flicker.
//!
//! The filtered estimate is not the boat: it converges for a few seconds after a track is
//! confirmed, and follows clutter taken for the boat for a scan or two. So "has moved since
//! it began" is measured from where the track settled and counts only a displacement that
//! lasts, and "away from where it loiters" is measured from a centre that follows a
//! drifting boat — a buoy is not taken for a boat that arrived, and a drifting boat keeps its
//! one alert through a speed spike.

use super::alert::{round, AlertEvent, AlertState, ZoneRef, KIND_TAXI_BOAT, MPS_TO_KN};
use super::memory::{LearnedFixed, LoiterMemory, Mover};
use crate::config::AlertsConfig;
use crate::geo::frame::LocalFrame;
use crate::geo::zones::ZoneIndex;
use crate::time::EventTime;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// Positions closer in time than this are not both kept: bounds memory per track.
const SAMPLE_SPACING_S: f64 = 1.0;
/// The seconds over which a track drawing away from where it sat over its window (the mean
/// of the window's positions) is leaving ([`drawing_away`]). Twenty, not ten: the fit's
/// scatter falls with the span, and a boat really leaving has drawn away for that long
/// by the time the rule, held for `loiter_hold_s`, would raise.
///
/// Why this and not the share of the window spent fast (which it replaced): the filtered
/// speed of a constant-velocity track lags an abrupt stop from 12 kn by up to 50 s, so a
/// share held alerts back 20-35 s past the rule (three-pickups, seeds 101-190: 4 draws
/// over the delay bound), and a boat circling at 5 kn on a 50 m circle, loitering by the
/// rule, never alerted at all. The rule's made good already rejects a short stop between
/// two runs; what it misses is the boat leaving as the window closes, its estimate lagging
/// both the stop and the start (a 30 s slow-down, then on along the strip at 5 kn), and
/// the 3 kn transit turning out to sea at the end of the strip. Not the speed over these
/// seconds either: one clutter-made spike of 10-15 kn held three-pickups' third alert
/// back 18 s, and decoys' 40 s stop alerted. Not the distance from the window's enclosing
/// circle's centre: a boat leaving along that circle's edge barely draws away from it.
const RECENT_S: f64 = 20.0;
/// Drawing away from where the boat sat faster than this share of `underway_kn` (over
/// [`RECENT_S`]) is leaving: three quarters (3 kn by default), as the estimate lags a start.
/// Not half (2 kn): on a 40 m circle at 2 kn the constant-velocity estimate, lagging round
/// the circle, wanders outward at up to 2 kn for 10 s and held a pickup back 16 s.
const LEAVING_SHARE: f64 = 0.75;

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

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Active {
    id: String,
    /// Index in the current zone index; `None` if a reload removed the zone (the alert then
    /// clears as if the boat had left it).
    zone: Option<usize>,
    zone_ref: ZoneRef,
    start: EventTime,
    last_emit: EventTime,
    /// Where the boat is loitering: the centre of the circle it was confined to when the
    /// alert was raised, then following it while it is not under way (see
    /// [`CENTRE_ROPE`]), so a boat drifting for a quarter of an hour is measured from
    /// where it drifted to, not from where it stopped.
    centre: (f64, f64),
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PerTrack {
    label: String,
    birth: (f64, f64),
    /// Has moved away from where it was first confirmed: a buoy never does.
    moved: bool,
    /// Since when it has been more than twice the loiter radius from `birth` (and
    /// `anchor`'s: more than the radius from it), if it still is: a displacement counts
    /// once it has lasted [`SUSTAIN_S`].
    #[serde(default)]
    away_from_birth: Option<EventTime>,
    #[serde(default)]
    away_from_anchor: Option<EventTime>,
    /// When it was first seen.
    born_t: EventTime,
    /// When it was last updated.
    last_t: EventTime,
    /// When and where it was last not under way (at most `underway_kn`).
    #[serde(default)]
    last_slow: Option<(EventTime, f64, f64)>,
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
    /// Since when the rule has held at every update, if it holds now: it raises only once
    /// it has held for `alerts.loiter_hold_s`.
    #[serde(default)]
    holding_since: Option<EventTime>,
    last: (f64, f64, f64, Option<u32>),
    alert: Option<Active>,
}

/// A filtered position of a track in a zone: time, x, y, speed (m/s), zone index.
type Sample = (EventTime, f64, f64, f64, usize);

#[derive(serde::Serialize, serde::Deserialize)]
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
    fixed: Vec<Fixed>,
    /// Where tracks that had moved were last seen before they were lost, oldest first (at
    /// most [`MAX_LOST`], none older than `alerts.reacquire_s`): a track that begins
    /// stopped near one is that boat re-acquired, not a buoy.
    lost: VecDeque<LostMover>,
}

/// A fixed object in the local frame; `learned` (when learned, when last seen) is `None` for
/// a configured one, which is never forgotten nor saved.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Fixed {
    x: f64,
    y: f64,
    learned: Option<(EventTime, EventTime)>,
}

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct LostMover {
    t: EventTime,
    x: f64,
    y: f64,
    /// Where it was last seen not under way, if elsewhere: a boat lost while stopped in
    /// the surf whose coasting track then took clutter for it and ran off at 60 kn was
    /// last "seen" 600 m from where it sat, and its new track there was taken for a buoy's
    /// (surf-reacquire, seed 130). Not kept across a restart (the memory file keeps `x, y`).
    #[serde(default)]
    slow: Option<(f64, f64)>,
}

impl LostMover {
    /// Squared distance from (x, y) to the nearer of the places it was last seen.
    fn dist2(&self, x: f64, y: f64) -> f64 {
        let d2 = |(px, py): (f64, f64)| (px - x).powi(2) + (py - y).powi(2);
        self.slow
            .map_or(f64::INFINITY, d2)
            .min(d2((self.x, self.y)))
    }
}

/// See [`Loiter::hand_over`]: how long before an old track's last update its boat's new
/// track may have begun (a confirmed dark track coasts 20 s by default; three times that).
const HANDOVER_BORN_S: f64 = 60.0;

/// Bounds the lost-mover memory on a busy strait (hundreds of ships leave the radars'
/// cover every hour); the newest are kept.
const MAX_LOST: usize = 4096;

/// A restored alert is not taken over while another confirmed track is within this many
/// times `restore_reach_m` of its position: two boats side by side, one alerted before the
/// restart, must not swap alerts on a guess.
const AMBIGUITY_FACTOR: f64 = 2.0;

/// A track that moved before and then stays in one place this many times
/// `fixed_object_learn_s` marks a fixed object too (a boat's track left on a buoy's returns
/// after the buoy's own track died); its alert, if any, is cleared as `fixed_object`.
const FIXED_AFTER_MOVING_FACTOR: f64 = 6.0;

/// How long a track's first confirmed position is still its filter converging: its birth
/// place is where it is at the end of this (event time). A track confirmed from a plot
/// of clutter beside a buoy and the buoy's own returns began 140 m off the buoy at 5 kn
/// and sat on it 7 s later; measured from that first estimate, a later excursion "moved"
/// the buoy 220 m and it was taken for a boat that had arrived and stopped.
const BIRTH_SETTLE_S: f64 = 10.0;

/// How long a track must stay displaced before the displacement counts, for "has moved
/// since it began" and for the place it sits in. A filtered position follows clutter taken
/// for the boat for a scan or two (tens of metres, 5-10 s) and comes back; a boat that has
/// moved stays moved.
const SUSTAIN_S: f64 = 10.0;

/// How far (a fraction of the loiter radius) a boat under an active alert may sit from the
/// alert's centre before the centre follows it: the estimate's jitter around a stopped boat
/// (tens of metres) moves nothing, a boat drifting at 0.5 kn for a quarter of an hour
/// drags it along half a radius behind, and clutter taken for the drifting boat for a few
/// seconds is not "away" from where it now loiters.
const CENTRE_ROPE: f64 = 0.5;

/// Whether a displacement (`away` now) has lasted [`SUSTAIN_S`]; `since` keeps when it
/// began and is reset when it ends.
fn sustained(since: &mut Option<EventTime>, away: bool, now: EventTime) -> bool {
    if !away {
        *since = None;
        return false;
    }
    now.secs_since(*since.get_or_insert(now)) >= SUSTAIN_S
}

fn near_fixed(fixed: &[Fixed], x: f64, y: f64, r: f64) -> bool {
    fixed.iter().any(|f| (f.x - x).hypot(f.y - y) <= r)
}

/// Takes the lost mover nearest to a new track's first position, if one lies within
/// `alerts.reacquire_radius_m` and `alerts.reacquire_s`.
fn take_mover(
    lost: &mut VecDeque<LostMover>,
    cfg: &AlertsConfig,
    t: EventTime,
    x: f64,
    y: f64,
) -> Option<LostMover> {
    let r2 = cfg.reacquire_radius_m * cfg.reacquire_radius_m;
    let (i, _) = lost
        .iter()
        .enumerate()
        .filter(|(_, m)| t.secs_since(m.t).abs() <= cfg.reacquire_s)
        .map(|(i, m)| (i, m.dist2(x, y)))
        .filter(|&(_, d2)| d2 <= r2)
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    lost.remove(i)
}

/// An alert that was active when vigie stopped (read back from the broker's retained
/// `alerts/active/#` at start-up). Its track died with the old process, so the first
/// confirmed track found near its centre, in its zone and not under way takes it over
/// under the same id; if none does within `restore_grace_s` of event time, the boat has gone
/// and the alert is cleared (`track_lost`). Either way a restart neither raises the pickup a
/// second time nor leaves an alert that can never clear.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Orphan {
    alert: Active,
    label: String,
    last: (f64, f64, f64, Option<u32>),
    /// Event time by which a track must take it over; set by the first time seen.
    deadline: Option<EventTime>,
    /// Since when one track alone has been its boat's (see [`Loiter::adopt_orphans`]).
    settle_since: Option<(EventTime, u64)>,
}

/// How long one track must be the only one near a restored alert before it takes it over.
const RESTORE_SETTLE_S: f64 = 5.0;

/// A track not updated for this long is not counted near a restored alert.
const RESTORE_RECENT_S: f64 = 10.0;

impl Loiter {
    pub fn new(cfg: AlertsConfig, exercise: bool, frame: &LocalFrame) -> Self {
        Loiter {
            fixed: cfg
                .fixed_objects
                .iter()
                .map(|&[lat, lon]| {
                    let (x, y) = frame.to_local(lat, lon);
                    Fixed {
                        x,
                        y,
                        learned: None,
                    }
                })
                .collect(),
            lost: VecDeque::new(),
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
            settle_since: None,
        });
        true
    }

    /// Clears restored alerts that no track took over in time.
    pub fn tick(
        &mut self,
        now: EventTime,
        zones: &ZoneIndex,
        frame: &LocalFrame,
        out: &mut Vec<AlertEvent>,
    ) {
        if !self.orphans.is_empty() {
            self.adopt_orphans(now, zones, frame, out);
        }
        let keep_s = self.cfg.reacquire_s;
        while self
            .lost
            .front()
            .is_some_and(|m| now.secs_since(m.t) > keep_s)
        {
            self.lost.pop_front();
        }
        let forget_s = self.cfg.fixed_object_forget_s;
        self.fixed.retain(|f| match f.learned {
            Some((_, seen)) => now.secs_since(seen) <= forget_s,
            None => true,
        });
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

    /// Restored alerts go to the track of their own boat: the one confirmed track, recently
    /// updated, in the alert's strip, not under way, within `restore_reach_m` of where the
    /// boat last was, with no other track within twice that, for [`RESTORE_SETTLE_S`] (so
    /// that a second boat's track, confirmed a scan later, is seen before the choice).
    /// Otherwise the alert waits; if its grace runs out, it clears as `track_lost` and the
    /// boat, re-acquired, is alerted afresh. Never a guess between two boats.
    fn adopt_orphans(
        &mut self,
        now: EventTime,
        zones: &ZoneIndex,
        frame: &LocalFrame,
        out: &mut Vec<AlertEvent>,
    ) {
        let cfg = &self.cfg;
        let reach = cfg.restore_reach_m;
        let underway_mps = cfg.underway_kn / MPS_TO_KN;
        let mut i = 0;
        while i < self.orphans.len() {
            let o = &mut self.orphans[i];
            let (cx, cy) = o.alert.centre;
            let strip = o.alert.zone.map(|z| zones.strip(z));
            let mut near = self.tracks.iter().filter(|(_, q)| {
                q.alert.is_none()
                    && now.secs_since(q.last_t) <= RESTORE_RECENT_S
                    && (q.last.0 - cx).hypot(q.last.1 - cy) <= AMBIGUITY_FACTOR * reach
            });
            let (first, second) = (near.next(), near.next());
            let chosen = match (first, second) {
                (Some((&id, q)), None)
                    if (q.last.0 - cx).hypot(q.last.1 - cy) <= reach
                        && q.last.2 <= underway_mps
                        && strip.is_some()
                        && q.zone.map(|z| zones.strip(z)) == strip
                        && !q.last.3.is_some_and(|m| self.allow.contains(&m)) =>
                {
                    Some(id)
                }
                _ => None,
            };
            let Some(id) = chosen else {
                o.settle_since = None;
                i += 1;
                continue;
            };
            if o.settle_since.is_none_or(|(_, who)| who != id) {
                o.settle_since = Some((now, id));
            }
            let (since, _) = o.settle_since.expect("set above");
            if now.secs_since(since) < RESTORE_SETTLE_S {
                i += 1;
                continue;
            }
            let mut a = self.orphans.swap_remove(i).alert;
            let p = self.tracks.get_mut(&id).expect("found above");
            tracing::info!(
                "alert {} taken over by track {} after a restart",
                a.id,
                p.label
            );
            a.last_emit = now;
            p.moved = true;
            p.alert = Some(a);
            out.push(event(
                p,
                p.last_t,
                AlertState::Updated,
                None,
                frame,
                self.exercise,
            ));
        }
    }

    /// Where the tracks inside a zone were last seen (local frame), in no particular order:
    /// the tracks whose next states can raise or update an alert.
    pub fn in_zone(&self, out: &mut Vec<[f64; 2]>) {
        out.extend(
            self.tracks
                .values()
                .filter(|p| p.zone.is_some())
                .map(|p| [p.last.0, p.last.1]),
        );
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
        let lost = &mut self.lost;
        let fixed = &self.fixed;
        let p = self.tracks.entry(v.id).or_insert_with(|| {
            // A buoy's track begun again is the buoy: it takes no boat's history.
            if near_fixed(fixed, v.x, v.y, cfg.fixed_object_radius_m) {
                return new_track(&v, false);
            }
            // A track that begins where a boat under way was lost moments ago is that boat
            // (re-acquired in the surf, a radar back, vigie restarted): it has moved, and
            // may alert after the dwell like any other; a buoy's new track has no such
            // history and stays a fixed-object candidate.
            let reacquired = take_mover(lost, cfg, v.t, v.x, v.y);
            if let Some(m) = reacquired {
                tracing::info!(
                    "track {} begins {:.0} m from where a boat under way was last seen {:.0} s earlier: re-acquired",
                    v.label,
                    (m.x - v.x).hypot(m.y - v.y),
                    v.t.secs_since(m.t)
                );
            }
            new_track(&v, reacquired.is_some())
        });
        let gap_s = v.t.secs_since(p.last_t);
        p.last_t = v.t;
        p.last = (v.x, v.y, v.speed_mps, v.mmsi);
        if v.speed_mps * MPS_TO_KN <= cfg.underway_kn {
            p.last_slow = Some((v.t, v.x, v.y));
        }
        let settling = v.t.secs_since(p.born_t) <= BIRTH_SETTLE_S;
        if settling && !p.moved {
            p.birth = (v.x, v.y);
            if p.anchor.0 == p.born_t {
                p.anchor.1 = v.x;
                p.anchor.2 = v.y;
            }
        }
        let far = (v.x - p.birth.0).hypot(v.y - p.birth.1) > 2.0 * cfg.loiter_radius_m;
        if !p.moved && sustained(&mut p.away_from_birth, far, v.t) {
            p.moved = true;
        }
        // Learn fixed objects from the picture: a return that has not moved since it was
        // first seen, for `fixed_object_learn_s`; or, after moving, one that stays within
        // the loiter radius for six times as long.
        let fixed_r = cfg.fixed_object_radius_m;
        let off = (v.x - p.anchor.1).hypot(v.y - p.anchor.2) > cfg.loiter_radius_m;
        if sustained(&mut p.away_from_anchor, off, v.t) {
            // A track that sat on a fixed object and has left it follows something that
            // moves: a boat that passed close by and took the buoy's track with it.
            p.moved |= p.learned;
            p.anchor = (v.t, v.x, v.y);
            p.away_from_anchor = None;
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
                self.fixed.push(Fixed {
                    x: v.x,
                    y: v.y,
                    learned: Some((v.t, v.t)),
                });
            }
        }
        if p.learned {
            // Still there: not a buoy taken away.
            for f in self.fixed.iter_mut() {
                if let Some((_, seen)) = f.learned.as_mut() {
                    if (f.x - v.x).hypot(f.y - v.y) <= fixed_r {
                        *seen = v.t;
                    }
                }
            }
        }
        let allowed = v.mmsi.is_some_and(|m| self.allow.contains(&m));
        let prefer = p.alert.as_ref().and_then(|a| a.zone).or(p.zone);
        let zone = zones.locate(v.x, v.y, prefer);
        // Zones that touch are one strip (contract §4): where the boat is, for the rule, is
        // its strip; the zone only names the alert.
        let strip = zone.map(|z| zones.strip(z));

        if let Some(a) = p.alert.as_mut() {
            // A boat drifting out of the middle of its circle drags the centre along, on a
            // rope of half the radius; jitter within that rope moves nothing. Only while
            // the boat is slow and within the circle: a boat leaving slowly, its speed
            // flickering about `underway_kn`, must not put off its own clearing.
            let d = (v.x - a.centre.0).hypot(v.y - a.centre.1);
            let rope = CENTRE_ROPE * cfg.loiter_radius_m;
            if d > rope && d <= cfg.loiter_radius_m && v.speed_mps * MPS_TO_KN <= cfg.underway_kn {
                let k = (d - rope) / d;
                a.centre.0 += k * (v.x - a.centre.0);
                a.centre.1 += k * (v.y - a.centre.1);
            }
        }
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

        if strip != p.zone.map(|z| zones.strip(z)) {
            p.samples.clear();
        }
        p.zone = zone;
        let Some(zi) = zone else {
            p.holding_since = None;
            return;
        };
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
        let verdict = if allowed || !p.moved {
            None
        } else {
            loiters(&p.samples, cfg, &self.fixed, &v, window_start)
        };
        let Some((first_t, cx, cy)) = verdict else {
            p.holding_since = None;
            return;
        };
        // Held, not glimpsed: the estimate of a boat far from the radars wanders by tens of
        // metres for a few scans, and a transit's made good (3 kn: 140 m in 90 s) can dip
        // under the radius for a scan or two. The rule must hold at every update over the
        // hold; a track not updated for longer than that before it first held (a class B
        // yacht at anchor reports every 3 minutes) has nothing newer to wait for.
        let since = *p
            .holding_since
            .get_or_insert(if gap_s >= cfg.loiter_hold_s {
                v.t.plus_secs(-cfg.loiter_hold_s)
            } else {
                v.t
            });
        if v.t.secs_since(since) < cfg.loiter_hold_s {
            return;
        }
        if drawing_away(&p.samples, cfg, v.t) {
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

    /// What this rule has learned that should outlive the process: learned fixed objects,
    /// and boats under way (lost recently, or tracked now) that a track beginning stopped
    /// may be.
    pub fn memory(&self, frame: &LocalFrame) -> LoiterMemory {
        let geo = |x: f64, y: f64| frame.to_geodetic(x, y);
        let fixed_objects = self
            .fixed
            .iter()
            .filter_map(|f| {
                let (learned, seen) = f.learned?;
                let (lat, lon) = geo(f.x, f.y);
                Some(LearnedFixed {
                    lat,
                    lon,
                    learned,
                    seen,
                })
            })
            .collect();
        let mut movers: Vec<Mover> = self
            .lost
            .iter()
            .map(|m| (m.t, m.x, m.y))
            .chain(
                self.tracks
                    .values()
                    .filter(|p| p.moved)
                    .map(|p| (p.last_t, p.last.0, p.last.1)),
            )
            .map(|(t, x, y)| {
                let (lat, lon) = geo(x, y);
                Mover { lat, lon, t }
            })
            .collect();
        // Deterministic file content whatever the hash map's order.
        movers.sort_by(|a, b| {
            (a.t, a.lat, a.lon)
                .partial_cmp(&(b.t, b.lat, b.lon))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        LoiterMemory {
            fixed_objects,
            movers,
        }
    }

    /// Takes back what an earlier run learned (see [`Loiter::memory`]); before any contact.
    pub fn load_memory(&mut self, m: &LoiterMemory, frame: &LocalFrame) {
        let r = self.cfg.fixed_object_radius_m;
        for f in &m.fixed_objects {
            let (x, y) = frame.to_local(f.lat, f.lon);
            if x.is_finite() && y.is_finite() && !near_fixed(&self.fixed, x, y, r) {
                self.fixed.push(Fixed {
                    x,
                    y,
                    learned: Some((f.learned, f.seen)),
                });
            }
        }
        let mut movers: Vec<LostMover> = m
            .movers
            .iter()
            .map(|mv| {
                let (x, y) = frame.to_local(mv.lat, mv.lon);
                LostMover {
                    t: mv.t,
                    x,
                    y,
                    slow: None,
                }
            })
            .filter(|mv| mv.x.is_finite() && mv.y.is_finite())
            .chain(self.lost.drain(..))
            .collect();
        movers.sort_by_key(|mv| mv.t);
        let skip = movers.len().saturating_sub(MAX_LOST);
        self.lost = movers.into_iter().skip(skip).collect();
    }

    /// A boat's old track can outlive the moment its new one begins: it coasts on for
    /// `tracker.coast_s`, and may feed on a neighbour's returns meanwhile (a buoy's). When
    /// such a track dies in a zone, the nearest track still stationary since it began, born
    /// no earlier than [`HANDOVER_BORN_S`] before the old one's last update and within
    /// `reacquire_radius_m` of it, is its boat re-acquired. Tracks that existed while the
    /// old one was still tracked (a buoy's) are other objects.
    fn hand_over(&mut self, old: &mut PerTrack) -> bool {
        let r2 = self.cfg.reacquire_radius_m * self.cfg.reacquire_radius_m;
        let fixed_r = self.cfg.fixed_object_radius_m;
        let since = old.last_t.plus_secs(-HANDOVER_BORN_S);
        // Where the old track's boat was last seen (moving or not).
        let lost = LostMover {
            t: old.last_t,
            x: old.last.0,
            y: old.last.1,
            slow: old.recent_slow(),
        };
        let fixed = &self.fixed;
        let best = self
            .tracks
            .iter_mut()
            .filter(|(_, q)| !q.moved && !q.learned && q.born_t >= since)
            .filter(|(_, q)| !near_fixed(fixed, q.birth.0, q.birth.1, fixed_r))
            .map(|(_, q)| (lost.dist2(q.birth.0, q.birth.1), q))
            .filter(|(d2, _)| *d2 <= r2)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.born_t.cmp(&b.1.born_t)));
        let Some((d2, q)) = best else {
            return false;
        };
        tracing::info!(
            "track {} began {:.0} m from track {}, a boat under way now lost: re-acquired",
            q.label,
            d2.sqrt(),
            old.label
        );
        q.moved = true;
        // The boat's loiter goes on in its new track if it began where the boat sat: the
        // rule's window is the boat's time in the zone, not the track's (a track that broke while its boat sat still used
        // to start the 90 s again: alerts 143-163 s after the stop). Its alert, if it had
        // one, goes on too, under the same id: one pickup, one alert.
        // Only where the old track's boat sat: a new track 150 m away may be a neighbour's
        // (two boats side by side), re-acquired or not.
        if d2 > self.cfg.loiter_radius_m * self.cfg.loiter_radius_m {
            return true;
        }
        let zone = q.zone;
        let first = q.samples.front().map(|s| s.0);
        for s in old.samples.iter().rev() {
            if Some(s.4) == zone && first.is_none_or(|f| s.0 < f) {
                q.samples.push_front(*s);
            }
        }
        if q.alert.is_none() {
            q.alert = old.alert.take();
        }
        true
    }

    /// The track is gone: clears its alert, if any (unless its boat's new track took it).
    pub fn on_deleted(
        &mut self,
        id: u64,
        t: EventTime,
        frame: &LocalFrame,
        out: &mut Vec<AlertEvent>,
    ) {
        if let Some(mut p) = self.tracks.remove(&id) {
            if p.moved && p.zone.is_some() && self.hand_over(&mut p) {
                // Its boat already has a new track.
            } else if p.moved {
                if self.lost.len() >= MAX_LOST {
                    self.lost.pop_front();
                }
                self.lost.push_back(LostMover {
                    t: p.last_t,
                    x: p.last.0,
                    y: p.last.1,
                    slow: p.recent_slow(),
                });
            }
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

/// A track's last place not under way counts as where its boat was lost only if it was
/// there at most this long before its last update: a boat that stopped, ran on for
/// minutes and was lost elsewhere left nothing where it had stopped. (Three times a
/// confirmed dark track's 20 s of coasting, in which clutter may drag it off.)
const LAST_SLOW_S: f64 = 60.0;

impl PerTrack {
    fn recent_slow(&self) -> Option<(f64, f64)> {
        self.last_slow
            .filter(|s| self.last_t.secs_since(s.0) <= LAST_SLOW_S)
            .map(|(_, x, y)| (x, y))
    }
}

fn new_track(v: &TrackView, moved: bool) -> PerTrack {
    PerTrack {
        label: v.label.to_string(),
        birth: (v.x, v.y),
        moved,
        away_from_birth: None,
        away_from_anchor: None,
        born_t: v.t,
        last_t: v.t,
        last_slow: None,
        anchor: (v.t, v.x, v.y),
        learned: false,
        zone: None,
        samples: VecDeque::new(),
        outside_since: None,
        fast_since: None,
        holding_since: None,
        last: (v.x, v.y, v.speed_mps, v.mmsi),
        alert: None,
    }
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
        name: None,
        sensors: None,
        position_error_m: None,
    }
}

/// Whether the track loiters by the rule over the window ending now (its samples, the
/// first at or before `window_start`): the window's start and the centre of the circle it
/// was confined to, if so.
fn loiters(
    samples: &VecDeque<Sample>,
    cfg: &AlertsConfig,
    fixed: &[Fixed],
    v: &TrackView,
    window_start: EventTime,
) -> Option<(EventTime, f64, f64)> {
    let &(first_t, ..) = samples.front()?;
    if first_t > window_start {
        return None;
    }
    let (cx, cy, r) = enclosing_circle(samples.iter().map(|s| (s.1, s.2)));
    if r > cfg.loiter_radius_m {
        return None;
    }
    // Where the boat sits now, not the circle's centre (which the approach pulls off).
    if near_fixed(fixed, v.x, v.y, cfg.fixed_object_radius_m) {
        return None;
    }
    // At most the radius made good over the window (contract §4): a boat transiting
    // the strip slowly (3 kn makes 140 m in 90 s) is not loitering, however tight its
    // track; stopped, drifting and circling boats make good almost nothing.
    if made_good(samples) > cfg.loiter_radius_m {
        return None;
    }
    Some((first_t, cx, cy))
}

/// Whether the track is drawing away from where it sat over its window, now: its distance
/// from there (the mean of the window's positions, which come at the sensors' steady rate,
/// so each place weighs as the time spent there) grows faster than [`LEAVING_SHARE`] of
/// `underway_kn`, by a least-squares fit over the last [`RECENT_S`].
///
/// A boat that slows down for half a minute and runs on along the strip, its estimate
/// lagging both the stop and the start, can look confined over the window just as it
/// leaves; it is drawing away from where it sat. A boat circling, however fast, is not.
/// Why a fit and not the distance now against [`RECENT_S`] ago: each end is one filtered
/// position, 15-25 m off far from the radars, and the difference of two made a boat
/// circling at 1.2 kn 9 km from the nearest radar "draw away" at 3-4 kn for 12 s
/// (slow-movers seed 103).
fn drawing_away(samples: &VecDeque<Sample>, cfg: &AlertsConfig, now: EventTime) -> bool {
    let k = samples.len() as f64;
    let (mx, my) = samples
        .iter()
        .fold((0.0, 0.0), |(x, y), s| (x + s.1 / k, y + s.2 / k));
    // Sums for the slope of distance against time (t <= 0, seconds before now).
    let (mut n, mut st, mut sd, mut stt, mut std) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in samples.iter().rev() {
        let t = -now.secs_since(s.0);
        if t < -RECENT_S {
            break;
        }
        let d = (s.1 - mx).hypot(s.2 - my);
        n += 1.0;
        st += t;
        sd += d;
        stt += t * t;
        std += t * d;
    }
    let den = n * stt - st * st;
    if n < 3.0 || den <= 0.0 {
        return false;
    }
    let slope = (n * std - st * sd) / den;
    slope > LEAVING_SHARE * cfg.underway_kn / MPS_TO_KN
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

    /// The rule raises once it has held for `loiter_hold_s`, not when it is glimpsed: a
    /// transit at 2.4 kn (112 m made good in 90 s) whose estimate falls back 80 m for one
    /// scan (a far radar's plot, clutter taken for it) meets the rule for as long as that
    /// position counts in the window's last 10 s, and no longer; a boat that stops meets
    /// it from then on and is raised the hold later.
    #[test]
    fn the_rule_raises_once_it_has_held_not_when_it_is_glimpsed() {
        let b = Bench::new();
        let hold = |s: f64| AlertsConfig {
            loiter_hold_s: s,
            ..AlertsConfig::default()
        };
        let glimpse = arrive(|t| {
            let back = if t == 160.0 { 80.0 } else { 0.0 };
            (700.0, 500.0 - 1.25 * t + back, 1.25)
        });
        assert_eq!(
            b.raised(hold(0.0), 400.0, &[(1, &glimpse)]),
            vec![(1, 260.0)]
        );
        assert_eq!(
            b.raised(hold(10.0), 400.0, &[(1, &glimpse)]),
            vec![(1, 270.0)]
        );
        assert!(b.raised(hold(12.5), 400.0, &[(1, &glimpse)]).is_empty());
        let stop = arrive(|_| (700.0, 500.0, 0.0));
        let at = |s: f64| b.raised(hold(s), 400.0, &[(1, &stop)])[0].1;
        assert_eq!(at(5.0) - at(0.0), 5.0);
        assert_eq!(at(30.0) - at(0.0), 30.0);
    }

    /// Drawing away is the trend of the last 20 s, not two positions' difference: a boat
    /// sitting still whose estimate jumps 20 m either side scan by scan (far from the
    /// radars) is not leaving, whichever two scans are compared; one setting off at 5 kn
    /// is, within 20 s.
    #[test]
    fn drawing_away_is_a_trend_not_two_scans() {
        let cfg = AlertsConfig::default();
        let window = |f: &dyn Fn(f64) -> (f64, f64)| -> VecDeque<Sample> {
            (0..=36)
                .map(|i| {
                    let t = 2.5 * i as f64;
                    let (x, y) = f(t);
                    (EventTime((t * 1e6) as i64), x, y, 0.0, 0)
                })
                .collect()
        };
        let now = EventTime(90_000_000);
        // Scan by scan ±20 m across, and one scan far out at the end.
        let jitter = window(&|t| {
            let side = if (t / 2.5) as i64 % 2 == 0 {
                20.0
            } else {
                -20.0
            };
            (side, if t == 90.0 { 40.0 } else { 0.0 })
        });
        assert!(!drawing_away(&jitter, &cfg, now));
        // Sat still for 70 s, then off at 5 kn (2.6 m/s) for the last 20 s.
        let leaving = window(&|t| (0.0, 2.6 * (t - 70.0).max(0.0)));
        assert!(drawing_away(&leaving, &cfg, now));
        let sat = window(&|_| (0.0, 0.0));
        assert!(!drawing_away(&sat, &cfg, now));
    }

    /// A boat circling at 5 kn on a 50 m circle is loitering (contract §4: speed through
    /// the water is not the test); the share of the window under way that the "drawing
    /// away" test replaced never alerted it. (Drawing away is checked end to end by
    /// decoys' 40 s stop, which a mean-speed test alerted on.)
    #[test]
    fn a_boat_circling_fast_on_a_small_circle_is_loitering() {
        let b = Bench::new();
        let circle = arrive(|t| {
            let a = 2.6 * t / 50.0;
            (700.0 + 50.0 * a.sin(), 550.0 - 50.0 * a.cos(), 2.6)
        });
        let r = b.raised(AlertsConfig::default(), 400.0, &[(1, &circle)]);
        assert_eq!(r.len(), 1, "{r:?}");
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

    /// A loiter rule driven by hand: updates and deletions of tracks at given times.
    struct Drive<'a> {
        b: &'a Bench,
        l: Loiter,
        events: Vec<(u64, AlertEvent)>,
    }

    impl<'a> Drive<'a> {
        fn new(b: &'a Bench) -> Self {
            Drive {
                b,
                l: Loiter::new(AlertsConfig::default(), false, &b.frame),
                events: Vec::new(),
            }
        }

        /// Track `id` at (x, y, speed) every 2.5 s over [t0, t1).
        fn run(&mut self, id: u64, t0: f64, t1: f64, path: &dyn Fn(f64) -> (f64, f64, f64)) {
            let label = format!("T{id}");
            let mut t = t0;
            while t < t1 {
                let (x, y, speed_mps) = path(t);
                let v = TrackView {
                    id,
                    label: &label,
                    t: EventTime((t * 1e6) as i64),
                    x,
                    y,
                    speed_mps,
                    mmsi: None,
                };
                let mut out = Vec::new();
                self.l.on_update(v, &self.b.zones, &self.b.frame, &mut out);
                self.l.tick(v.t, &self.b.zones, &self.b.frame, &mut out);
                self.events.extend(out.into_iter().map(|e| (id, e)));
                t += 2.5;
            }
        }

        fn delete(&mut self, id: u64, t: f64) {
            let mut out = Vec::new();
            let t = EventTime((t * 1e6) as i64);
            self.l.on_deleted(id, t, &self.b.frame, &mut out);
            self.events.extend(out.into_iter().map(|e| (id, e)));
        }

        fn raised(&self) -> Vec<u64> {
            self.events
                .iter()
                .filter(|(_, e)| e.state == AlertState::Raised)
                .map(|(id, _)| *id)
                .collect()
        }
    }

    /// Stopped at (700, 500) after arriving from the west (see [`arrive`]).
    fn stopped(_t: f64) -> (f64, f64, f64) {
        (700.0, 500.0, 0.0)
    }

    fn buoy(_t: f64) -> (f64, f64, f64) {
        (300.0, 300.0, 0.0)
    }

    #[test]
    fn a_boat_reacquired_while_stopped_is_alerted_a_buoy_is_not() {
        let b = Bench::new();
        let mut d = Drive::new(&b);
        // The buoy from the start; the boat arrives and stops at t = 100, is lost in the
        // surf at 130 (before its dwell), and a new track finds it, still stopped, at 170.
        d.run(1, 0.0, 400.0, &buoy);
        d.run(2, 0.0, 130.0, &arrive(stopped));
        d.delete(2, 160.0);
        d.run(3, 170.0, 400.0, &stopped);
        // The buoy's track is lost too, and begins again where it was.
        d.delete(1, 420.0);
        d.run(4, 450.0, 900.0, &buoy);
        assert_eq!(d.raised(), vec![3], "{:?}", d.events);
        let raised = &d.events.iter().find(|(id, _)| *id == 3).unwrap().1;
        assert!(
            raised.t.0 as f64 / 1e6 <= 170.0 + 90.0 + 5.0,
            "alerted after the dwell of its new track: {raised:?}"
        );
        // A track that begins stopped far from any boat under way stays a candidate fixed
        // object: nothing there in 15 minutes.
        let mut d = Drive::new(&b);
        d.run(5, 0.0, 900.0, &stopped);
        assert!(d.raised().is_empty(), "{:?}", d.events);
    }

    /// A buoy's track begun from a plot of clutter beside it: its first estimate 140 m off
    /// at 5 kn, on the buoy 7 s later; later, clutter taken for it drags the estimate 80 m
    /// the other way for one update. Measured from that first estimate, the excursion is
    /// 220 m, which used to make the buoy a boat that "had moved since it began" and then
    /// stopped: a false pickup (low-pd, seed 101). The birth place is where the track has
    /// settled, and a displacement counts once it has lasted.
    #[test]
    fn a_buoy_is_not_a_boat_for_its_first_estimate_or_one_jump() {
        let b = Bench::new();
        let mut d = Drive::new(&b);
        let buoy_seen = |t: f64| {
            if t < 5.0 {
                (560.0, 500.0, 2.6)
            } else if (300.0..303.0).contains(&t) {
                (780.0, 500.0, 10.0)
            } else {
                (700.0, 500.0, 0.3)
            }
        };
        d.run(1, 0.0, 900.0, &buoy_seen);
        assert!(d.raised().is_empty(), "{:?}", d.events);
        // A boat that arrives, held more than twice the loiter radius from where its track
        // settled for longer than a jump, has moved: its stop is a pickup.
        let mut d = Drive::new(&b);
        d.run(2, 0.0, 400.0, &arrive(stopped));
        assert_eq!(d.raised(), vec![2], "{:?}", d.events);
    }

    /// A boat drifting at 0.5 kn for a quarter of an hour after its pickup moves 230 m from
    /// where it stopped; clutter taken for it then puts its speed at 8-18 kn for 8 s. The
    /// alert used to clear as "under way" (fast, and far from where it was raised) and be
    /// raised again 90 s later: two alerts for one boat (slow-movers, seed 104). The alert's
    /// centre follows the drift, so it clears only when the boat really leaves.
    #[test]
    fn a_drifting_boat_keeps_its_alert_through_a_speed_spike_and_clears_when_it_leaves() {
        let b = Bench::new();
        let mut d = Drive::new(&b);
        let drift = |t: f64| (700.0, 500.0 - 0.25 * t, 0.25);
        let path = arrive(move |t| {
            if (900.0..908.0).contains(&t) {
                let (x, y, _) = drift(t);
                (x + 30.0, y, 7.0)
            } else if t < 1000.0 {
                drift(t)
            } else {
                // Under way west at 6 m/s.
                (700.0 - 6.0 * (t - 1000.0), 250.0, 6.0)
            }
        });
        d.run(1, 0.0, 1200.0, &path);
        let states: Vec<_> = d
            .events
            .iter()
            .map(|(_, e)| (e.state, e.t.0 / 1_000_000))
            .collect();
        let raised = states.iter().filter(|s| s.0 == AlertState::Raised).count();
        let cleared: Vec<_> = states
            .iter()
            .filter(|s| s.0 == AlertState::Cleared)
            .collect();
        assert_eq!(raised, 1, "{states:?}");
        assert_eq!(cleared.len(), 1, "{states:?}");
        assert!(cleared[0].1 > 1100 && cleared[0].1 < 1140, "{states:?}");
    }

    /// A boat stops in the surf and is lost; its coasting track takes clutter for it and
    /// runs off at 60 kn for 20 s before it dies 600 m away. The new track that finds the
    /// boat where it sat is that boat re-acquired (alerted after its dwell), not a buoy —
    /// and a boat that stopped, ran on for minutes and was lost far away leaves nothing
    /// where it had stopped (surf-reacquire, seed 130).
    #[test]
    fn a_boat_lost_in_the_surf_is_reacquired_where_it_sat_not_where_clutter_took_its_track() {
        let b = Bench::new();
        let mut d = Drive::new(&b);
        d.run(1, 0.0, 120.0, &arrive(stopped));
        d.run(1, 120.0, 140.0, &|t| {
            (700.0 - 30.0 * (t - 120.0), 500.0, 30.0)
        });
        d.delete(1, 170.0);
        d.run(2, 190.0, 400.0, &stopped);
        assert_eq!(d.raised(), vec![2], "{:?}", d.events);
        // Stopped at (700, 500) until 120 s, then ran west at 6 m/s for three minutes and
        // was lost there: a track beginning at the stop later is not that boat.
        let mut d = Drive::new(&b);
        d.run(1, 0.0, 120.0, &arrive(stopped));
        d.run(1, 120.0, 300.0, &|t| {
            (700.0 - 6.0 * (t - 120.0), 500.0, 6.0)
        });
        d.delete(1, 330.0);
        d.run(2, 340.0, 700.0, &stopped);
        assert!(d.raised().is_empty(), "{:?}", d.events);
    }

    /// A boat's track breaks while the boat sits still (a new track starts on it and the
    /// old one dies): the new track carries on the boat's loiter — alerted when the boat
    /// has loitered 90 s, not 90 s after the new track began (busy-night seed 126: 143 s
    /// after the stop) — and, when the old track had already alerted, its alert under the
    /// same id, not a second one.
    #[test]
    fn a_boat_whose_track_breaks_while_it_loiters_keeps_its_window_and_its_alert() {
        let b = Bench::new();
        let mut d = Drive::new(&b);
        d.run(1, 0.0, 140.0, &arrive(stopped));
        d.run(2, 130.0, 150.0, &stopped);
        d.delete(1, 150.0);
        d.run(2, 150.0, 400.0, &stopped);
        let raised: Vec<_> = d
            .events
            .iter()
            .filter(|(_, e)| e.state == AlertState::Raised)
            .map(|(id, e)| (*id, e.t.0 / 1_000_000))
            .collect();
        assert_eq!(raised.len(), 1, "{:?}", d.events);
        assert_eq!(raised[0].0, 2);
        assert!(
            raised[0].1 <= 200,
            "the boat's 90 s, not the new track's: {raised:?}"
        );

        let mut d = Drive::new(&b);
        d.run(1, 0.0, 260.0, &arrive(stopped));
        d.run(2, 250.0, 270.0, &stopped);
        d.delete(1, 270.0);
        d.run(2, 270.0, 400.0, &arrive(stopped));
        let states: Vec<_> = d
            .events
            .iter()
            .map(|(_, e)| (e.state, e.id.clone(), e.track_id.clone()))
            .collect();
        let raised = states.iter().filter(|s| s.0 == AlertState::Raised).count();
        assert_eq!(raised, 1, "{states:?}");
        assert!(
            states.iter().all(|s| s.0 != AlertState::Cleared),
            "not cleared as lost: {states:?}"
        );
        assert!(
            states.iter().all(|s| s.1 == states[0].1),
            "one alert id: {states:?}"
        );
        assert_eq!(states.last().unwrap().2, "T2", "{states:?}");
    }

    #[test]
    fn the_memory_carries_buoys_and_boats_across_a_restart() {
        let b = Bench::new();
        let mut before = Drive::new(&b);
        before.run(1, 0.0, 400.0, &buoy);
        // The boat arrives late and stops at 350; vigie stops at 400, before its dwell.
        before.run(2, 250.0, 400.0, &|t| arrive(stopped)(t - 250.0));
        assert!(before.raised().is_empty());
        let saved = before.l.memory(&b.frame);
        assert_eq!(saved.fixed_objects.len(), 1, "the buoy, learned: {saved:?}");
        assert_eq!(
            saved.movers.len(),
            1,
            "the boat, under way before: {saved:?}"
        );
        let json = serde_json::to_string(&saved).unwrap();

        // Restarted with the memory: the boat's new track is alerted after its dwell, the
        // buoy's is not, ever.
        let mut after = Drive::new(&b);
        after
            .l
            .load_memory(&serde_json::from_str(&json).unwrap(), &b.frame);
        after.run(11, 405.0, 1200.0, &buoy);
        after.run(12, 405.0, 1200.0, &stopped);
        assert_eq!(after.raised(), vec![12], "{:?}", after.events);
        // Without it, neither: a stopped boat and a buoy look alike to a new track.
        let mut amnesic = Drive::new(&b);
        amnesic.run(12, 405.0, 1200.0, &stopped);
        assert!(amnesic.raised().is_empty());
    }

    #[test]
    fn a_restored_alert_goes_to_its_own_boat_or_to_none() {
        let b = Bench::new();
        let alerted = |x: f64, y: f64| {
            let (lat, lon) = b.frame.to_geodetic(x, y);
            AlertEvent {
                id: "tb-T9-x".into(),
                kind: KIND_TAXI_BOAT.into(),
                state: AlertState::Raised,
                track_id: "T9".into(),
                t: EventTime(100_000_000),
                lat,
                lon,
                zone: Some(ZoneRef {
                    id: "z".into(),
                    name: "Z".into(),
                }),
                dwell_s: 90.0,
                speed_kn: 0.0,
                dark: true,
                mmsi: None,
                exercise: false,
                emitted_at: None,
                reason: None,
                distance_m: None,
                other_lat: None,
                other_lon: None,
                name: None,
                sensors: None,
                position_error_m: None,
            }
        };
        let other = |_t: f64| (850.0, 500.0, 0.0); // a second boat 150 m away
                                                   // Its own boat's new track is found first, or the other boat's: either way the alert
                                                   // goes to the track at (700, 500).
        for order in [[1u64, 2], [2, 1]] {
            let mut d = Drive::new(&b);
            assert!(d.l.restore(&alerted(700.0, 500.0), &b.zones, &b.frame));
            for id in order {
                let path: &dyn Fn(f64) -> (f64, f64, f64) = if id == 1 { &stopped } else { &other };
                d.run(id, 105.0, 107.0, path);
            }
            d.run(1, 107.5, 140.0, &stopped);
            d.run(2, 107.5, 140.0, &other);
            let took: Vec<_> = d.events.iter().map(|(id, e)| (*id, e.state)).collect();
            assert_eq!(
                took,
                vec![(1, AlertState::Updated)],
                "taken over by its own boat"
            );
        }
        // Two tracks 40 m either side of where the alerted boat was: no guess; the alert
        // clears as lost after its grace.
        let mut d = Drive::new(&b);
        assert!(d.l.restore(&alerted(700.0, 500.0), &b.zones, &b.frame));
        let mut t = 105.0;
        while t < 200.0 {
            d.run(1, t, t + 1.0, &|_| (660.0, 500.0, 0.0));
            d.run(2, t, t + 1.0, &|_| (740.0, 500.0, 0.0));
            t += 2.5;
        }
        let states: Vec<_> = d
            .events
            .iter()
            .map(|(_, e)| (e.state, e.reason.clone()))
            .collect();
        assert_eq!(
            states,
            vec![(AlertState::Cleared, Some("track_lost".to_string()))]
        );
    }
}
