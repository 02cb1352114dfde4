//! Ground truth of a simulated scene, and scoring vigie's alerts and tracks against it.
//!
//! The truth says which episodes *should* alert (and why the others should not), from the
//! scene alone, by the contract's rule (§4) applied to each vessel's true trajectory: over
//! `loiter_dwell_s`, inside one strip of touching zones, within a circle of
//! `loiter_radius_m`, having made good at most that radius, by a boat that moved before and
//! is not on the allow-list. The rule is applied with a margin either side
//! ([`RULE_MARGIN`]): an episode that loiters only by the wide reading is `borderline`,
//! and neither an alert nor its absence counts against vigie there. Stops of the scene that
//! never loiter by the rule are listed too, with why not. Scoring matches raised alerts
//! to those episodes (recall, false alarms, duplicates, delay, uncleared alerts) and
//! measures track accuracy with GOSPA (c = 100 m, p = 2, α = 2) on the local frame.

use crate::behaviour::alert::KIND_TAXI_BOAT;
use crate::behaviour::{AlertEvent, AlertState};
use crate::config::Config;
use crate::engine::TrackState;
use crate::geo::frame::LocalFrame;
use crate::geo::zones::{Zone, ZoneIndex};
use crate::time::EventTime;
use crate::training::sim::{Scene, Trajectory};
use pathfinding::prelude::{kuhn_munkres_min, Matrix};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Seconds between truth samples (and GOSPA evaluations).
const TRUTH_STEP_S: f64 = 5.0;
/// An alert matches an episode if raised between its start and end + this, within
/// `MATCH_DISTANCE_M` of where the boat stopped.
const MATCH_GRACE_S: f64 = 60.0;
const MATCH_DISTANCE_M: f64 = 300.0;
const GOSPA_C: f64 = 100.0;
/// A track within this of the vessel it followed still follows it (identity scoring,
/// [`keep_correspondences`]): about a far radar's across-beam error at 10 km.
const ID_KEEP_M: f64 = 50.0;
/// The rule's radius is read as `1 ∓ RULE_MARGIN` of itself: clearly loitering within the
/// narrow reading, possibly within the wide one. A boat circling on an 85 m circle, or
/// drifting 95 m in 90 s, is too close to call.
const RULE_MARGIN: f64 = 0.2;
/// And clearly loitering must last this long beyond the dwell (a 95 s stop is too close).
const RULE_MARGIN_S: f64 = 10.0;
/// A boat that spent this share of its window in a second zone of the strip sat on the
/// line: an alert naming either zone is right.
const ZONE_SHARE: f64 = 0.3;
/// Seconds between the true positions the rule is applied to.
const RULE_STEP_S: f64 = 1.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthPoint {
    pub t: EventTime,
    pub lat: f64,
    pub lon: f64,
    pub speed_kn: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthVessel {
    pub name: String,
    pub kind: String,
    pub mmsi: Option<u32>,
    pub ais: bool,
    pub track: Vec<TruthPoint>,
}

/// A stop, and whether it should raise `taxi_boat_pickup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub vessel: String,
    pub start: EventTime,
    pub end: EventTime,
    pub lat: f64,
    pub lon: f64,
    pub zone: Option<String>,
    pub should_alert: bool,
    /// `pickup`, or why not: `too_short`, `outside_zones`, `allow_listed`, `fixed_object`,
    /// `not_confined`, `borderline`.
    pub reason: String,
    /// Too close to the rule's thresholds to call: an alert here is neither a detection nor
    /// a false alarm, and no alert is no miss.
    #[serde(default)]
    pub borderline: bool,
    /// The identity its alert must carry: the vessel's MMSI when it transmits AIS that
    /// nobody else copies, else none (`dark`).
    #[serde(default)]
    pub mmsi: Option<u32>,
    /// Other zones of the strip where the boat spent a good part of its window too (it sat
    /// on the line between them): its alert may name any of them.
    #[serde(default)]
    pub other_zones: Vec<String>,
}

/// An MMSI transmitted by two vessels of the scene: `ais_identity_conflict` expected from
/// when both have been heard, cleared `alerts.identity_clear_s` after one of them falls
/// silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictTruth {
    pub mmsi: u32,
    pub vessels: Vec<String>,
    pub start: EventTime,
    /// When the conflict should be cleared, if within the scene.
    pub clears: Option<EventTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub scene: String,
    pub seed: u64,
    pub start: EventTime,
    pub duration_s: f64,
    pub vessels: Vec<TruthVessel>,
    pub episodes: Vec<Episode>,
    #[serde(default)]
    pub conflicts: Vec<ConflictTruth>,
}

/// The truth of a scene under a configuration (its rule and zones).
pub fn truth(scene: &Scene, cfg: &Config, zones: Vec<Zone>) -> Truth {
    let (olat, olon) = cfg.frame_origin();
    let frame = LocalFrame::new(olat, olon);
    let index = ZoneIndex::new(zones, &frame);
    let allow: HashSet<u32> = cfg.alerts.allow_mmsi.iter().copied().collect();
    let mut vessels = Vec::new();
    let mut episodes = Vec::new();
    let all = scene.all_vessels();
    // Who transmits which MMSI, and from when to when (the simulator's AIS schedule).
    let mut senders: BTreeMap<u32, Vec<(&str, f64, f64)>> = BTreeMap::new();
    for v in &all {
        if let (Some(m), Some((a, b))) = (v.mmsi, v.ais_span(scene.duration_s)) {
            senders.entry(m).or_default().push((v.name.as_str(), a, b));
        }
    }
    let conflicts: Vec<ConflictTruth> = senders
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(&m, s)| {
            let start = s.iter().map(|x| x.1).fold(f64::MIN, f64::max);
            // The contradiction recurs while two of them are on the air.
            let mut ends: Vec<f64> = s.iter().map(|x| x.2).collect();
            ends.sort_by(f64::total_cmp);
            let clears = ends[ends.len() - 2] + cfg.alerts.identity_clear_s;
            ConflictTruth {
                mmsi: m,
                vessels: s.iter().map(|x| x.0.to_string()).collect(),
                start: scene.start.plus_secs(start),
                clears: (clears < scene.duration_s).then(|| scene.start.plus_secs(clears)),
            }
        })
        .collect();
    let contested: HashSet<u32> = conflicts.iter().map(|c| c.mmsi).collect();
    for v in &all {
        let tr = Trajectory::new(v);
        let mut track = Vec::new();
        let mut t = 0.0;
        while t <= scene.duration_s {
            let (p, speed) = tr.at(t);
            track.push(TruthPoint {
                t: scene.start.plus_secs(t),
                lat: (p.y() * 1e7).round() / 1e7,
                lon: (p.x() * 1e7).round() / 1e7,
                speed_kn: (speed * 3600.0 / 1852.0 * 100.0).round() / 100.0,
            });
            t += TRUTH_STEP_S;
        }
        // A copied MMSI spares nobody (contract §4), and identifies nobody.
        let trusted = v
            .mmsi
            .filter(|m| !contested.contains(m) && v.ais_span(scene.duration_s).is_some());
        let allowed = trusted.is_some_and(|m| allow.contains(&m));
        if v.legs.is_empty() {
            // Never moves: a buoy, a moored hulk.
            let (x, y) = frame.to_local(v.lat, v.lon);
            episodes.push(Episode {
                vessel: v.name.clone(),
                start: scene.start,
                end: scene.start.plus_secs(scene.duration_s),
                lat: v.lat,
                lon: v.lon,
                zone: index
                    .locate(x, y, None)
                    .map(|z| index.zones()[z].id.clone()),
                should_alert: false,
                reason: "fixed_object".into(),
                borderline: false,
                mmsi: trusted,
                other_zones: Vec::new(),
            });
        } else {
            let runs = loiter_runs(&tr, scene.duration_s, cfg, &index, &frame);
            let holds = tr.holds();
            for r in &runs {
                // Delays count from the true stop where there is one (the rule's window
                // also takes in the slow last metres of the approach), else from when the
                // boat began to loiter (a drift, a slow circle).
                let (start, at) = holds
                    .iter()
                    .find(|h| h.0 < r.end && h.1 > r.start)
                    .map_or((r.start, r.at), |h| (h.0.max(r.start), h.2));
                let reason = if allowed {
                    "allow_listed"
                } else if r.clear {
                    "pickup"
                } else {
                    "borderline"
                };
                episodes.push(Episode {
                    vessel: v.name.clone(),
                    start: scene.start.plus_secs(start),
                    end: scene.start.plus_secs(r.end),
                    lat: at.y(),
                    lon: at.x(),
                    zone: Some(index.zones()[r.zone].id.clone()),
                    should_alert: reason == "pickup",
                    borderline: reason == "borderline",
                    reason: reason.into(),
                    mmsi: trusted,
                    other_zones: r
                        .also
                        .iter()
                        .map(|&z| index.zones()[z].id.clone())
                        .collect(),
                });
            }
            // The scene's stops the rule never saw loitering, with why not.
            for (a, b, p, circle) in holds {
                if a >= scene.duration_s {
                    continue;
                }
                let b = b.min(scene.duration_s);
                if runs.iter().any(|r| r.start < b && r.end > a) {
                    continue;
                }
                let (x, y) = frame.to_local(p.y(), p.x());
                let zone = index
                    .locate(x, y, None)
                    .map(|z| index.zones()[z].id.clone());
                let reason = if zone.is_none() {
                    "outside_zones"
                } else if circle > cfg.alerts.loiter_radius_m {
                    "not_confined"
                } else {
                    "too_short"
                };
                episodes.push(Episode {
                    vessel: v.name.clone(),
                    start: scene.start.plus_secs(a),
                    end: scene.start.plus_secs(b),
                    lat: p.y(),
                    lon: p.x(),
                    zone,
                    should_alert: false,
                    reason: reason.into(),
                    borderline: false,
                    mmsi: trusted,
                    other_zones: Vec::new(),
                });
            }
        }
        let kind = v.kind.clone().unwrap_or_else(|| {
            match (
                v.legs.is_empty(),
                v.mmsi.is_some() && v.ais != crate::training::sim::AisMode::None,
            ) {
                (true, _) => "fixed_object",
                (false, true) => "ais_vessel",
                (false, false) => "dark_boat",
            }
            .into()
        });
        vessels.push(TruthVessel {
            name: v.name.clone(),
            kind,
            mmsi: v.mmsi,
            ais: v.ais != crate::training::sim::AisMode::None,
            track,
        });
    }
    Truth {
        scene: scene.name.clone(),
        seed: scene.seed,
        start: scene.start,
        duration_s: scene.duration_s,
        vessels,
        episodes,
        conflicts,
    }
}

/// A stretch of a true trajectory during which the loiter rule holds by its wide reading
/// (seconds after the scene start): from when the boat began to loiter (the start of the
/// first window that passes) to the end of the last.
struct Run {
    start: f64,
    end: f64,
    /// Where the boat was when the first window passed.
    at: geo::Point<f64>,
    /// Where it spent most of that window.
    zone: usize,
    /// Other zones where it spent at least [`ZONE_SHARE`] of that window.
    also: Vec<usize>,
    /// The narrow reading held too, for at least [`RULE_MARGIN_S`].
    clear: bool,
}

/// The contract's loiter rule (§4) applied to a true trajectory, sampled every
/// [`RULE_STEP_S`].
fn loiter_runs(
    tr: &Trajectory,
    duration_s: f64,
    cfg: &Config,
    zones: &ZoneIndex,
    frame: &LocalFrame,
) -> Vec<Run> {
    use crate::behaviour::loiter::enclosing_circle;
    let (dwell, radius) = (cfg.alerts.loiter_dwell_s, cfg.alerts.loiter_radius_m);
    let (narrow, wide) = (radius * (1.0 - RULE_MARGIN), radius * (1.0 + RULE_MARGIN));
    let n = (duration_s / RULE_STEP_S).floor() as usize + 1;
    let w = (dwell / RULE_STEP_S).round() as usize;
    // x, y, zone, position, speed (m/s) every RULE_STEP_S.
    type TruePoint = (f64, f64, Option<usize>, geo::Point<f64>, f64);
    let pts: Vec<TruePoint> = (0..n)
        .map(|i| {
            let (p, speed) = tr.at(i as f64 * RULE_STEP_S);
            let (x, y) = frame.to_local(p.y(), p.x());
            (x, y, zones.locate(x, y, None), p, speed)
        })
        .collect();
    let slow_mps = cfg.alerts.underway_kn * 1852.0 / 3600.0;
    // Per window end i: 0 no, 1 wide reading only, 2 narrow too.
    let mut level = vec![0u8; n];
    for i in w..n {
        let win = &pts[i - w..=i];
        let Some(strip) = win[0].2.map(|z| zones.strip(z)) else {
            continue;
        };
        if win
            .iter()
            .any(|p| p.2.map(|z| zones.strip(z)) != Some(strip))
        {
            continue;
        }
        let made_good = (win[w].0 - win[0].0).hypot(win[w].1 - win[0].1);
        if made_good > wide {
            continue;
        }
        let (_, _, r) = enclosing_circle(win.iter().map(|p| (p.0, p.1)));
        if r > wide {
            continue;
        }
        level[i] = if r <= narrow && made_good <= narrow {
            2
        } else {
            1
        };
    }
    let mut runs = Vec::new();
    let mut i = w;
    while i < n {
        if level[i] == 0 {
            i += 1;
            continue;
        }
        let first = i;
        let mut clear_len = 0usize;
        let mut best_clear = 0usize;
        while i < n && level[i] > 0 {
            clear_len = if level[i] == 2 { clear_len + 1 } else { 0 };
            best_clear = best_clear.max(clear_len);
            i += 1;
        }
        let win = &pts[first - w..=first];
        let mut count: Vec<(usize, usize)> = Vec::new();
        for p in win {
            let z = p.2.expect("every point of a passing window is in a zone");
            match count.iter_mut().find(|c| c.0 == z) {
                Some(c) => c.1 += 1,
                None => count.push((z, 1)),
            }
        }
        let zone = count
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|c| c.0)
            .expect("a window has points");
        // The boat began to loiter when it slowed down within the first passing window (a
        // drift after a run), else when that window began.
        let slowed = (first - w..=first)
            .find(|&k| pts[k].4 <= slow_mps)
            .unwrap_or(first - w);
        let also = count
            .iter()
            .filter(|c| c.0 != zone && c.1 as f64 >= ZONE_SHARE * win.len() as f64)
            .map(|c| c.0)
            .collect();
        runs.push(Run {
            also,
            start: slowed as f64 * RULE_STEP_S,
            end: (i - 1) as f64 * RULE_STEP_S,
            at: pts[first].3,
            zone,
            clear: best_clear as f64 * RULE_STEP_S >= RULE_MARGIN_S,
        });
    }
    runs
}

/// What the scoring found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Score {
    pub pickups: usize,
    pub detected: usize,
    /// Episodes too close to the rule's thresholds to call (alerts there count for nothing).
    #[serde(default)]
    pub borderline: usize,
    pub recall: f64,
    pub false_alarms: usize,
    pub duplicates: usize,
    pub uncleared: usize,
    /// Event-time delay from the start of each detected pickup to its `raised`.
    pub delays_s: Vec<f64>,
    pub max_delay_s: Option<f64>,
    /// Mean GOSPA (c = 100 m, p = 2) per evaluation step, when tracks were given.
    pub gospa_m: Option<f64>,
    /// Identity, when tracks were given: at each evaluation step GOSPA's assignment pairs
    /// vessels with tracks (within c); these count how that pairing changes over the run.
    pub identity: Option<Identity>,
    pub unmatched_alerts: Vec<String>,
    /// Detected pickups whose alert named the wrong zone, or got `dark`/`mmsi` wrong.
    #[serde(default)]
    pub wrong_fields: Vec<String>,
    /// MMSIs the truth has two transmitters for, and how many of them raised
    /// `ais_identity_conflict`.
    #[serde(default)]
    pub conflicts: usize,
    #[serde(default)]
    pub conflicts_detected: usize,
    /// `ais_identity_conflict` alerts on an MMSI nobody copied, or raised twice for one
    /// conflict.
    #[serde(default)]
    pub false_conflicts: usize,
}

/// How well tracks keep the identity of the vessels they follow, from GOSPA's pairing of
/// vessels and tracks at each evaluation step, a pairing kept while its track stays within
/// 50 m of its vessel (as CLEAR-MOT counts identity switches).
///
/// Why both: a boat whose track is dropped and started again (a break) costs the centre its
/// history and its alert's dwell; a track that moves from one boat to another (a swap) puts
/// an alert on the wrong boat. Two taxi-boats stopping side by side must give neither.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Times a vessel was paired with a different track than the last one it was paired
    /// with (breaks and swaps alike; a vessel's first pairing is not a switch).
    pub switches: usize,
    /// Times a track was paired with a different vessel than the last one it followed.
    pub swaps: usize,
    /// Per vessel with switches: name and the track ids it had, in order.
    pub switched: Vec<String>,
}

fn dist_m(frame: &LocalFrame, a: (f64, f64), b: (f64, f64)) -> f64 {
    let (xa, ya) = frame.to_local(a.0, a.1);
    let (xb, yb) = frame.to_local(b.0, b.1);
    (xa - xb).hypot(ya - yb)
}

/// Scores alert events (and optionally track states) against the truth.
pub fn score(truth: &Truth, alerts: &[AlertEvent], tracks: Option<&[TrackState]>) -> Score {
    let frame = LocalFrame::new(
        truth.episodes.first().map_or(50.75, |e| e.lat),
        truth.episodes.first().map_or(1.6, |e| e.lon),
    );
    let (pickup_alerts, conflict_alerts): (Vec<&AlertEvent>, Vec<&AlertEvent>) =
        alerts.iter().partition(|a| a.kind == KIND_TAXI_BOAT);
    let raised: Vec<&AlertEvent> = pickup_alerts
        .iter()
        .copied()
        .filter(|a| a.state == AlertState::Raised)
        .collect();
    let cleared: HashSet<&str> = alerts
        .iter()
        .filter(|a| a.state == AlertState::Cleared)
        .map(|a| a.id.as_str())
        .collect();
    let mut s = Score {
        pickups: truth.episodes.iter().filter(|e| e.should_alert).count(),
        borderline: truth.episodes.iter().filter(|e| e.borderline).count(),
        uncleared: raised
            .iter()
            .filter(|a| !cleared.contains(a.id.as_str()))
            .count(),
        ..Default::default()
    };
    // Every (episode, alert) pair close enough in time and space, nearest first: two boats
    // stopping 150 m apart each get their own alert.
    let pickups: Vec<&Episode> = truth.episodes.iter().filter(|e| e.should_alert).collect();
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (ei, e) in pickups.iter().enumerate() {
        for (ai, a) in raised.iter().enumerate() {
            let d = dist_m(&frame, (a.lat, a.lon), (e.lat, e.lon));
            if a.t >= e.start && a.t <= e.end.plus_secs(MATCH_GRACE_S) && d <= MATCH_DISTANCE_M {
                pairs.push((d, ei, ai));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut delay: Vec<Option<f64>> = vec![None; pickups.len()];
    let mut alert_used = vec![false; raised.len()];
    let mut matched = Vec::new();
    for &(_, ei, ai) in &pairs {
        if delay[ei].is_none() && !alert_used[ai] {
            delay[ei] = Some((raised[ai].t.secs_since(pickups[ei].start) * 10.0).round() / 10.0);
            alert_used[ai] = true;
            matched.push((ei, ai));
        }
    }
    for (ei, ai) in matched {
        let (e, a) = (pickups[ei], raised[ai]);
        let zone_ok = a
            .zone
            .as_ref()
            .is_some_and(|z| e.zone.as_deref() == Some(&z.id) || e.other_zones.contains(&z.id));
        if !zone_ok || a.dark != e.mmsi.is_none() || a.mmsi != e.mmsi {
            s.wrong_fields.push(format!(
                "{} ({}): zone {} dark {} mmsi {:?}, truth zone {:?} mmsi {:?}",
                a.id,
                e.vessel,
                a.zone_id(),
                a.dark,
                a.mmsi,
                e.zone,
                e.mmsi
            ));
        }
    }
    s.delays_s = delay.iter().flatten().copied().collect();
    s.detected = s.delays_s.len();
    let near_borderline = |a: &AlertEvent| {
        truth.episodes.iter().filter(|e| e.borderline).any(|e| {
            a.t >= e.start
                && a.t <= e.end.plus_secs(MATCH_GRACE_S)
                && dist_m(&frame, (a.lat, a.lon), (e.lat, e.lon)) <= MATCH_DISTANCE_M
        })
    };
    for (ai, a) in raised.iter().enumerate() {
        if alert_used[ai] || near_borderline(a) {
            continue;
        }
        if pairs.iter().any(|p| p.2 == ai) {
            s.duplicates += 1;
        } else {
            s.false_alarms += 1;
            s.unmatched_alerts
                .push(format!("{} {} at {}", a.id, a.zone_id(), a.t));
        }
    }
    s.recall = if s.pickups == 0 {
        1.0
    } else {
        s.detected as f64 / s.pickups as f64
    };
    s.max_delay_s = s.delays_s.iter().copied().reduce(f64::max);
    // Identity conflicts: one alert per copied MMSI, from when both were on the air, and
    // cleared when the truth says it should be.
    s.conflicts = truth.conflicts.len();
    let mut seen: HashSet<u32> = HashSet::new();
    for a in conflict_alerts
        .iter()
        .filter(|a| a.state == AlertState::Raised)
    {
        let truth_c = truth.conflicts.iter().find(|c| Some(c.mmsi) == a.mmsi);
        match truth_c {
            Some(c) if a.t >= c.start && seen.insert(c.mmsi) => {
                s.conflicts_detected += 1;
                let cleared_at = conflict_alerts
                    .iter()
                    .find(|x| x.id == a.id && x.state == AlertState::Cleared)
                    .map(|x| x.t);
                if c.clears.is_some() && cleared_at.is_none() {
                    s.uncleared += 1;
                }
            }
            _ => {
                s.false_conflicts += 1;
                s.unmatched_alerts
                    .push(format!("{} {:?} at {}", a.id, a.mmsi, a.t));
            }
        }
    }
    if let Some(t) = tracks {
        let (g, identity) = gospa(truth, t, &frame);
        s.gospa_m = Some(g);
        s.identity = Some(identity);
    }
    s
}

/// Mean GOSPA over the truth's sample times (the truth set is every vessel, the estimate set
/// every confirmed track whose latest state is at most one step old), and what GOSPA's
/// pairings say of identity.
fn gospa(truth: &Truth, tracks: &[TrackState], frame: &LocalFrame) -> (f64, Identity) {
    let mut latest: BTreeMap<&str, &TrackState> = BTreeMap::new();
    let mut k = 0;
    let (mut sum, mut n) = (0.0, 0);
    let mut identity = Identity::default();
    // Per vessel, the track ids it was paired with, in order; per track, its last vessel.
    let mut history: Vec<Vec<&str>> = vec![Vec::new(); truth.vessels.len()];
    let mut followed: BTreeMap<&str, usize> = BTreeMap::new();
    let steps = truth.vessels.first().map_or(0, |v| v.track.len());
    for step in 0..steps {
        let t = truth.vessels[0].track[step].t;
        while k < tracks.len() && tracks[k].t <= t {
            latest.insert(tracks[k].track_id.as_str(), &tracks[k]);
            k += 1;
        }
        let (ids, est): (Vec<&str>, Vec<(f64, f64)>) = latest
            .iter()
            .filter(|(_, s)| t.secs_since(s.t) <= TRUTH_STEP_S)
            .map(|(&id, s)| (id, frame.to_local(s.lat, s.lon)))
            .unzip();
        let tru: Vec<(f64, f64)> = truth
            .vessels
            .iter()
            .map(|v| frame.to_local(v.track[step].lat, v.track[step].lon))
            .collect();
        let (g, mut pairs) = gospa_pairs(&tru, &est);
        sum += g;
        n += 1;
        keep_correspondences(&history, &ids, &tru, &est, &mut pairs);
        for (vessel, j) in pairs.into_iter().enumerate() {
            let Some(j) = j else { continue };
            let id = ids[j];
            if history[vessel].last() != Some(&id) {
                history[vessel].push(id);
            }
            if followed.insert(id, vessel).is_some_and(|v| v != vessel) {
                identity.swaps += 1;
            }
        }
    }
    // Each track a vessel had after its first is a switch.
    identity.switches = history.iter().map(|ids| ids.len().saturating_sub(1)).sum();
    for (v, ids) in truth.vessels.iter().zip(&history) {
        if ids.len() > 1 {
            identity
                .switched
                .push(format!("{}: {}", v.name, ids.join(" -> ")));
        }
    }
    let mean = if n == 0 { 0.0 } else { sum / n as f64 };
    (mean, identity)
}

/// A vessel keeps the track it followed while that track is reported within
/// [`ID_KEEP_M`] of it, whatever the step's optimal pairing prefers (CLEAR-MOT's rule for
/// counting identity switches, Bernardin & Stiefelhagen 2008); the vessels left take GOSPA's
/// pairing where its track is not kept by another.
///
/// Why: where two boats cross, both are within a few metres of each other and of both
/// tracks for a few scans, and the optimal pairing flips with every plot's noise although
/// each track goes on with its own boat: counted as switches, the score said the tracks
/// swapped twice where nothing swapped. A track that does carry on with the other boat is
/// more than `ID_KEEP_M` from its own within seconds, and counted.
fn keep_correspondences(
    history: &[Vec<&str>],
    ids: &[&str],
    tru: &[(f64, f64)],
    est: &[(f64, f64)],
    pairs: &mut [Option<usize>],
) {
    let mut kept: Vec<Option<usize>> = vec![None; tru.len()];
    let mut taken = vec![false; est.len()];
    for (v, h) in history.iter().enumerate() {
        let Some(last) = h.last() else { continue };
        let Some(j) = ids.iter().position(|id| id == last) else {
            continue;
        };
        let d = (tru[v].0 - est[j].0).hypot(tru[v].1 - est[j].1);
        if d < ID_KEEP_M && !taken[j] {
            kept[v] = Some(j);
            taken[j] = true;
        }
    }
    for (v, p) in pairs.iter_mut().enumerate() {
        *p = match (kept[v], *p) {
            (Some(j), _) => Some(j),
            (None, Some(j)) if !taken[j] => Some(j),
            _ => None,
        };
    }
}

/// GOSPA (α = 2, p = 2, cut-off c) between two point sets.
pub fn gospa_step(truth: &[(f64, f64)], est: &[(f64, f64)]) -> f64 {
    gospa_pairs(truth, est).0
}

/// [`gospa_step`], and for each truth point the estimate GOSPA pairs it with, if closer
/// than the cut-off.
fn gospa_pairs(truth: &[(f64, f64)], est: &[(f64, f64)]) -> (f64, Vec<Option<usize>>) {
    let c2 = GOSPA_C * GOSPA_C;
    let truth_small = truth.len() <= est.len();
    let (small, big) = if truth_small {
        (truth, est)
    } else {
        (est, truth)
    };
    let mut pairs = vec![None; truth.len()];
    if small.is_empty() {
        return ((c2 / 2.0 * big.len() as f64).sqrt(), pairs);
    }
    let mut w = Matrix::new(small.len(), big.len(), 0i64);
    for (i, a) in small.iter().enumerate() {
        for (j, b) in big.iter().enumerate() {
            let d2 = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).min(c2);
            w[(i, j)] = (d2 * 1000.0) as i64;
        }
    }
    let (_, cols) = kuhn_munkres_min(&w);
    // An assigned pair at the cut-off counts c²: one miss and one false estimate (c²/2 each).
    let mut total = 0.0;
    for (i, &j) in cols.iter().enumerate() {
        let d2 = w[(i, j)] as f64 / 1000.0;
        total += d2;
        if d2 < c2 {
            let (t, e) = if truth_small { (i, j) } else { (j, i) };
            pairs[t] = Some(e);
        }
    }
    total += c2 / 2.0 * (big.len() - small.len()) as f64;
    (total.sqrt(), pairs)
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "| measure | value |\n|---|---|")?;
        writeln!(f, "| pickups in truth | {} |", self.pickups)?;
        if self.borderline > 0 {
            writeln!(f, "| too close to the rule to call | {} |", self.borderline)?;
        }
        writeln!(
            f,
            "| detected (recall) | {} ({:.0} %) |",
            self.detected,
            self.recall * 100.0
        )?;
        writeln!(f, "| false alarms | {} |", self.false_alarms)?;
        writeln!(f, "| duplicates | {} |", self.duplicates)?;
        writeln!(f, "| uncleared alerts | {} |", self.uncleared)?;
        let d = self
            .delays_s
            .iter()
            .map(|d| format!("{d:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(f, "| delay after stop, s | {d} |")?;
        for w in &self.wrong_fields {
            writeln!(f, "| wrong fields | {w} |")?;
        }
        if self.conflicts > 0 || self.false_conflicts > 0 {
            writeln!(
                f,
                "| AIS identity conflicts (detected / in truth / false) | {} / {} / {} |",
                self.conflicts_detected, self.conflicts, self.false_conflicts
            )?;
        }
        if let Some(g) = self.gospa_m {
            writeln!(f, "| mean GOSPA (c=100 m, p=2), m | {g:.1} |")?;
        }
        if let Some(id) = &self.identity {
            writeln!(
                f,
                "| identity switches (vessel to another track) | {} |",
                id.switches
            )?;
            writeln!(
                f,
                "| track swaps (track to another vessel) | {} |",
                id.swaps
            )?;
            for v in &id.switched {
                writeln!(f, "| switched | {v} |")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity score of two boats `a` and `b` over `n` steps: `boat(i, k)` is boat i's
    /// place at step k, `tracks(k)` each track's id and place then (local metres).
    fn identity_along(
        n: usize,
        boat: impl Fn(usize, usize) -> (f64, f64),
        tracks: impl Fn(usize) -> Vec<(&'static str, (f64, f64))>,
    ) -> Identity {
        let start = EventTime(1_700_000_000_000);
        let frame = LocalFrame::new(50.7, 1.5);
        let at = |k: usize| start.plus_secs(k as f64 * TRUTH_STEP_S);
        let vessel = |i: usize| TruthVessel {
            name: ["a", "b"][i].into(),
            kind: "taxi".into(),
            mmsi: None,
            ais: false,
            track: (0..n)
                .map(|k| {
                    let (lat, lon) = frame.to_geodetic(boat(i, k).0, boat(i, k).1);
                    TruthPoint {
                        t: at(k),
                        lat,
                        lon,
                        speed_kn: 0.0,
                    }
                })
                .collect(),
        };
        let truth = Truth {
            scene: "two".into(),
            seed: 0,
            start,
            duration_s: n as f64 * TRUTH_STEP_S,
            vessels: vec![vessel(0), vessel(1)],
            episodes: vec![],
            conflicts: vec![],
        };
        let mut states = Vec::new();
        for k in 0..n {
            for (id, (x, y)) in tracks(k) {
                let (lat, lon) = frame.to_geodetic(x, y);
                states.push(TrackState {
                    t: at(k),
                    track_id: id.into(),
                    lat,
                    lon,
                    speed_kn: 0.0,
                    course_deg: 0.0,
                    dark: true,
                    mmsi: None,
                    name: None,
                    publish: true,
                    exercise: false,
                });
            }
        }
        gospa(&truth, &states, &frame).1
    }

    /// Two boats 1 km apart, still, scored over four steps; `steps[k][boat]` is the track
    /// on that boat at step k, 20 m off it (well inside the cut-off).
    fn identity_of(steps: [[&'static str; 2]; 4]) -> Identity {
        let spot = |i: usize| (0.0, 1000.0 * i as f64);
        identity_along(
            4,
            |i, _| spot(i),
            |k| {
                (0..2)
                    .map(|i| (steps[k][i], (spot(i).0, spot(i).1 + 20.0)))
                    .collect()
            },
        )
    }

    #[test]
    fn identity_counts_breaks_and_swaps() {
        let kept = identity_of([["T1", "T2"]; 4]);
        assert_eq!((kept.switches, kept.swaps), (0, 0));
        // Boat a's track dropped at step 2, a new one started: a break.
        let broken = identity_of([["T1", "T2"], ["T1", "T2"], ["T3", "T2"], ["T3", "T2"]]);
        assert_eq!((broken.switches, broken.swaps), (1, 0));
        assert_eq!(broken.switched, vec!["a: T1 -> T3"]);
        // The two tracks change boats at step 2: a swap each way.
        let swapped = identity_of([["T1", "T2"], ["T1", "T2"], ["T2", "T1"], ["T2", "T1"]]);
        assert_eq!((swapped.switches, swapped.swaps), (2, 2));
    }

    /// Two boats crossing at right angles (a east, b north, both at the origin at step 5,
    /// 15 m a step); `follows(k)` says which boat each of T1, T2 is 8 m from at step k.
    fn crossing(follows: impl Fn(usize) -> [usize; 2]) -> Identity {
        let pos = |boat: usize, k: usize| {
            let s = 15.0 * (k as f64 - 5.0);
            if boat == 0 {
                (s, 0.0)
            } else {
                (0.0, s)
            }
        };
        identity_along(12, pos, |k| {
            follows(k)
                .iter()
                .enumerate()
                .map(|(i, &boat)| {
                    let (x, y) = pos(boat, k);
                    (["T1", "T2"][i], (x + 8.0, y + 8.0 * i as f64))
                })
                .collect()
        })
    }

    #[test]
    fn a_pairing_that_flips_only_where_boats_cross_is_no_switch_a_lasting_swap_is() {
        // At the crossing (steps 4-6) each track sits nearer the other boat: the optimal
        // pairing flips, but each track is still within a few metres of its own boat.
        let flips = crossing(|k| if (4..=6).contains(&k) { [1, 0] } else { [0, 1] });
        assert_eq!((flips.switches, flips.swaps), (0, 0), "{flips:?}");
        // From the crossing on, each track goes on with the other boat: two switches.
        let swapped = crossing(|k| if k >= 5 { [1, 0] } else { [0, 1] });
        assert_eq!((swapped.switches, swapped.swaps), (2, 2), "{swapped:?}");
    }

    #[test]
    fn gospa_of_simple_sets() {
        assert_eq!(gospa_step(&[], &[]), 0.0);
        assert!((gospa_step(&[(0.0, 0.0)], &[(3.0, 4.0)]) - 5.0).abs() < 1e-6);
        // A miss costs c / sqrt(2).
        assert!((gospa_step(&[(0.0, 0.0)], &[]) - 100.0 / 2f64.sqrt()).abs() < 1e-6);
        // Too far apart: a miss and a false track.
        assert!((gospa_step(&[(0.0, 0.0)], &[(500.0, 0.0)]) - 100.0).abs() < 1e-6);
    }
}
