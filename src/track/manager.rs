//! Track management: gating, global-nearest-neighbour assignment, initiation, confirmation,
//! AIS identity fusion, coasting and deletion.
//!
//! One job per step, as in Stone Soup's simple tracker: predict (constant velocity),
//! hypothesise (gate with a grid over predicted positions, never all tracks × all
//! plots), associate (Kuhn–Munkres per cluster of tracks and plots that share gates;
//! confirmed tracks first, tentative ones on the plots they leave),
//! update (adskalman), initiate (one-point, tentative), confirm (sequential log-likelihood
//! ratio score plus a minimum number of hits), delete (by time since the last contact).
//! Tracks live in an id-ordered table (`table.rs`) so every iteration is in a fixed order:
//! the same input always gives the same tracks, whatever the hash seed.

use super::grid::Grid;
use super::kalman::{
    position_innovation, predicted_position_innovation, update_pos_vel, update_position,
    ConstantVelocity, State,
};
use super::table::TrackTable;
use crate::config::{AisConfig, TrackerConfig};
use crate::geo::KN_TO_MPS;
use crate::time::EventTime;
use adskalman::TransitionModelLinearNoControl;
use nalgebra::{Matrix4, Vector4};
use pathfinding::prelude::{kuhn_munkres_min, Matrix};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// Bound on a gating track's predicted 1-sigma position error used to size the grid
/// search (a tentative track: 6 m/s speed uncertainty over its 8 s life, plus its plot).
const TRACK_SIGMA_BOUND_M: f64 = 150.0;
/// Margin for the straight-line extrapolation used to place tracks in the grid.
const SEARCH_MARGIN_M: f64 = 50.0;
/// Minimum hits before a tentative track may be confirmed, whatever its score: two
/// clutter plots falling in one gate by chance must not make a track.
const CONFIRM_HITS: u32 = 3;
/// Added to the cost of an association made under the manoeuvre hypothesis, so that the
/// steady hypothesis wins whenever both fit.
const MANOEUVRE_PENALTY: f64 = 4.0;
/// The manoeuvre hypothesis only bridges short gaps: after longer without a plot, its gate
/// (hundreds of metres) would catch clutter; such a track is coasting, not manoeuvring.
const MANOEUVRE_MAX_DT_S: f64 = 6.0;
/// Manoeuvre detection on the sequence of a track's plots (Bar-Shalom's fading-memory
/// normalised innovation): each plot's squared Mahalanobis distance is added to the track's
/// sum, which fades by this factor per plot (a memory of about five plots).
///
/// Why: a boat turning or speeding up far from the radars, where plots scatter ~100 m
/// across the beam, gives a run of innovations each inside the gate but all on one side;
/// the filter, told the boat keeps its velocity, lags until plots leave even the manoeuvre
/// gate and a new track takes the boat (busy-night's taxi-1 turning from 15 to 8 kn).
const NIS_FADE: f64 = 0.8;
/// The faded sum above which the plot is filtered under the manoeuvre noise: its 99.9 %
/// point when the boat does move as the model says (χ² with 2 degrees of freedom per plot,
/// faded; Monte Carlo), so a steady boat's filter is left alone. Swept on the scenes: 20
/// (its 99 % point) and 25 remove busy-night's one identity switch, 15 loses pickups, 30
/// keeps the switch.
const NIS_LIMIT: f64 = 25.0;
/// Costs are scaled to integers for Kuhn–Munkres (which needs a total order).
const COST_SCALE: f64 = 1e6;

/// A position measurement in the local frame, ready for the filter.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    pub t: EventTime,
    pub z: [f64; 2],
    pub r: [[f64; 2]; 2],
    /// Detection probability of the sensor, for the track score.
    pub pd: f64,
    /// False plots per square metre per scan of the sensor.
    pub clutter_density: f64,
}

/// An AIS report in the local frame.
#[derive(Clone, Copy, Debug)]
pub struct AisMeasurement {
    pub t: EventTime,
    pub mmsi: u32,
    pub z: [f64; 2],
    /// Velocity from SOG/COG, when both were given.
    pub vel: Option<[f64; 2]>,
}

#[derive(Clone, Debug)]
pub struct Track {
    pub id: u64,
    pub state: State,
    /// Time of `state`.
    pub t: EventTime,
    pub confirmed: bool,
    /// Log-likelihood ratio of "real target" over "clutter".
    pub score: f64,
    /// Faded sum of its plots' squared Mahalanobis distances ([`NIS_FADE`]): manoeuvre
    /// detection.
    pub nis: f64,
    pub hits: u32,
    pub born: EventTime,
    pub last_hit: EventTime,
    pub mmsi: Option<u32>,
}

impl Track {
    /// The id operators see (`T` and the number), built without allocating or going
    /// through `fmt` (which cost 3 % of the load-scene replay).
    pub fn label(&self) -> compact_str::CompactString {
        let mut digits = itoa::Buffer::new();
        let mut s = compact_str::CompactString::const_new("T");
        s.push_str(digits.format(self.id));
        s
    }
    pub fn pos(&self) -> (f64, f64) {
        let x = self.state.state();
        (x[0], x[1])
    }
    pub fn vel(&self) -> (f64, f64) {
        let x = self.state.state();
        (x[2], x[3])
    }
    pub fn speed_mps(&self) -> f64 {
        let (vx, vy) = self.vel();
        // Not `hypot`: speeds never overflow, and libm's hypot was 4 % of all instructions.
        (vx * vx + vy * vy).sqrt()
    }
    /// Takes a filtered state from a contact at `t`.
    fn accept(&mut self, state: State, t: EventTime) {
        self.state = state;
        self.t = t;
        self.last_hit = t;
        self.hits += 1;
    }

    /// Course over ground, degrees clockwise from grid north, in [0, 360).
    pub fn course_deg(&self) -> f64 {
        let (vx, vy) = self.vel();
        let c = vx.atan2(vy).to_degrees();
        if c < 0.0 {
            c + 360.0
        } else {
            c
        }
    }
}

/// What the tracker did, for metrics.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct TrackerStats {
    pub initiated: u64,
    pub confirmed: u64,
    pub deleted: u64,
    pub out_of_sequence: u64,
    /// New tracks refused because `max_tracks` was reached.
    pub refused: u64,
}

#[derive(Debug)]
pub enum AisOutcome {
    /// The track was updated with the report.
    Updated(u64),
    /// The report was older than the track's state: identity kept, position not applied.
    OutOfSequence(u64),
    Refused,
}

pub struct Tracker {
    cfg: TrackerConfig,
    ais: AisConfig,
    tracks: TrackTable,
    by_mmsi: FxHashMap<u32, u64>,
    /// Tracks without an MMSI, in id order: the candidates when a new MMSI is heard. Why
    /// kept apart: on a busy strait most tracks are AIS vessels, and walking all of them
    /// for every newly heard MMSI was a tenth of a 2,000-vessel replay.
    anonymous: BTreeSet<u64>,
    next_id: u64,
    pub stats: TrackerStats,
    /// Per plot of the last scan: in no confirmed track's gate (a clutter candidate).
    unclaimed: Vec<bool>,
    /// Per plot of the last scan: the track that took it (updated or started by it).
    taken_by: Vec<Option<u64>>,
    /// Gating index of predicted track positions, rebuilt per scan in place.
    grid: Grid,
    /// While a scan is open (see [`begin_scan`](Self::begin_scan)): how to take it back.
    undo: Option<ScanUndo>,
}

/// What the tracker was before the open scan: the tracks its plots updated, as they were,
/// and the first id its plots could start.
struct ScanUndo {
    next_id: u64,
    stats: TrackerStats,
    before: Vec<Track>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig, ais: AisConfig) -> Self {
        Tracker {
            cfg,
            ais,
            tracks: TrackTable::default(),
            by_mmsi: FxHashMap::default(),
            anonymous: BTreeSet::new(),
            next_id: 1,
            stats: TrackerStats::default(),
            unclaimed: Vec::new(),
            taken_by: Vec::new(),
            grid: Grid::default(),
            undo: None,
        }
    }

    /// Opens a scan: from here until [`end_scan`](Self::end_scan), [`plots`](Self::plots)
    /// remembers what it changes so that [`rollback_scan`](Self::rollback_scan) can take it
    /// back. Why: a scan may come as several sector messages, and a track near a sector
    /// boundary must get the plot an assignment over the whole scan would give it, whatever
    /// the message boundaries (issue 3: batching changes no track).
    pub fn begin_scan(&mut self) {
        self.undo = Some(ScanUndo {
            next_id: self.next_id,
            stats: self.stats.clone(),
            before: Vec::new(),
        });
    }

    /// Takes back every plot of the open scan: tracks it started are gone, tracks it
    /// updated are as they were, counters too; `updated` sees each updated track as the
    /// scan left it, before it is put back. The scan stays open.
    pub fn rollback_scan(&mut self, mut updated: impl FnMut(&Track)) {
        let Some(u) = &mut self.undo else { return };
        let mut started = Vec::new();
        let first = u.next_id;
        self.tracks.remove_where(|tr| tr.id >= first, &mut started);
        for tr in &started {
            self.anonymous.remove(&tr.id);
        }
        for tr in u.before.drain(..) {
            let now = self
                .tracks
                .get_mut(tr.id)
                .expect("an updated track outlives its scan");
            updated(now);
            *now = tr;
        }
        self.next_id = u.next_id;
        self.stats = u.stats.clone();
    }

    /// Closes the open scan: what it did stays.
    pub fn end_scan(&mut self) {
        self.undo = None;
    }

    /// For each plot of the last [`plots`](Self::plots) call: whether it fell in no
    /// confirmed track's gate. Those are what a clutter map learns from; plots of real
    /// targets being tracked (and their splits) never count as clutter.
    pub fn unclaimed(&self) -> &[bool] {
        &self.unclaimed
    }

    /// For each plot of the last [`plots`](Self::plots) call: the track it updated or
    /// started, if any. A clutter map asks later whether that track was confirmed.
    pub fn taken_by(&self) -> &[Option<u64>] {
        &self.taken_by
    }

    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.get(id)
    }

    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter()
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    fn predicted(&self, tr: &Track, t: EventTime) -> State {
        predict(tr, t, self.cfg.process_noise)
    }

    /// Processes the plots of one scan; pushes the ids of tracks it updated.
    pub fn plots(&mut self, plots: &[Measurement], updated: &mut Vec<u64>) {
        self.unclaimed.clear();
        self.taken_by.clear();
        self.taken_by.resize(plots.len(), None);
        if plots.is_empty() {
            return;
        }
        let t0 = plots[0].t;
        let gate = self.cfg.gate_chi2;
        // Search only as far as any gate can reach: sized from the largest plot error of
        // the scan, not a fixed radius (a fixed 2 km returned dozens of candidates per plot
        // in dense traffic, each costing a prediction).
        let max_plot_var = plots
            .iter()
            .map(|p| p.r[0][0].max(p.r[1][1]))
            .fold(0.0, f64::max);
        let radius = (gate + MANOEUVRE_PENALTY).sqrt()
            * (TRACK_SIGMA_BOUND_M * TRACK_SIGMA_BOUND_M + max_plot_var).sqrt()
            + SEARCH_MARGIN_M;
        // Index the predicted positions of the tracks near this scan, then look up each
        // plot: a scan covers one radar's area (or one sector), so most of the picture is
        // skipped by one bounding-box test per track. The grid is rebuilt per scan into
        // reused buffers (an R-tree bulk load per scan was 15 % of all instructions on the
        // load scene, BENCHMARKS.md).
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in plots {
            for k in 0..2 {
                lo[k] = lo[k].min(p.z[k]);
                hi[k] = hi[k].max(p.z[k]);
            }
        }
        let mut near: Vec<&Track> = Vec::new();
        self.grid.reset(
            radius,
            [lo[0] - radius, lo[1] - radius],
            [hi[0] + radius, hi[1] + radius],
        );
        for tr in self.tracks.iter() {
            let x = tr.state.state();
            let dt = t0.secs_since(tr.t).max(0.0);
            let at = [x[0] + x[2] * dt, x[1] + x[3] * dt];
            if at[0] < lo[0] - radius
                || at[0] > hi[0] + radius
                || at[1] < lo[1] - radius
                || at[1] > hi[1] + radius
            {
                continue;
            }
            self.grid.push(at);
            near.push(tr);
        }
        self.grid.build();
        // (track, plot, cost, under the manoeuvre hypothesis); per plot: in some track's
        // gate, in a confirmed track's gate, in the gate only of tracks newer than it.
        let mut edges: Vec<Edge> = Vec::new();
        let mut has_edge = vec![false; plots.len()];
        let mut near_confirmed = vec![false; plots.len()];
        let mut oos_only = vec![false; plots.len()];
        for (j, p) in plots.iter().enumerate() {
            self.grid.within(p.z, radius, |k| {
                let tr = near[k as usize];
                // A track that has gone without any contact longer than a radar-only track
                // survives claims no plot: its gate would be hundreds of metres wide and
                // catch clutter. This is an AIS-only vessel coasting between class B reports
                // (3 minutes apart when slow); a vessel the radars see is updated by its
                // plots.
                if p.t.secs_since(tr.last_hit) > self.cfg.coast_s {
                    return;
                }
                let late = p.t < tr.t;
                let dt = if late { 0.0 } else { p.t.secs_since(tr.t) };
                let q = self.cfg.process_noise;
                let (mut d2, _) = predicted_position_innovation(&tr.state, dt, q, p.z, p.r);
                let mut manoeuvre = false;
                if !late
                    && tr.confirmed
                    && (d2.is_nan() || d2 > gate)
                    && p.t.secs_since(tr.t) <= MANOEUVRE_MAX_DT_S
                {
                    let qm = self.cfg.manoeuvre_noise;
                    let (dm, _) = predicted_position_innovation(&tr.state, dt, qm, p.z, p.r);
                    if dm <= gate {
                        manoeuvre = true;
                        d2 = dm + MANOEUVRE_PENALTY;
                    }
                }
                if d2.is_nan() || d2 > gate + MANOEUVRE_PENALTY {
                    return;
                }
                // Already updated by a plot of this very instant: a sector of the same scan
                // that came after the engine closed the scan (another message came between
                // the sectors, so it could not be taken back). A track takes one plot per
                // scan, and this plot is a split or clutter beside it.
                if tr.last_hit == p.t {
                    near_confirmed[j] |= tr.confirmed;
                    has_edge[j] = true;
                    return;
                }
                if late {
                    oos_only[j] = true;
                    return;
                }
                near_confirmed[j] |= tr.confirmed;
                has_edge[j] = true;
                edges.push(Edge {
                    track: tr.id,
                    plot: j,
                    cost: d2,
                    manoeuvre,
                    confirmed: tr.confirmed,
                });
            });
        }
        self.unclaimed.extend(near_confirmed.iter().map(|&n| !n));
        // Confirmed tracks choose first; tentative tracks share the plots they left.
        //
        // Why: a boat that sets off from a stop outruns its track's velocity for a few
        // seconds, and a plot just beyond the track's gate starts a tentative track that is
        // already at the boat's new position. Assigned together, the tentative track fits
        // the next plots better and takes them; the vessel's track, with its history and its
        // loiter dwell, starves and is deleted (three-pickups' taxi-boat lost its track so,
        // leaving Équihen at 20 kn). Established tracks first is the usual order of track
        // maintenance before initiation; a new boat beside a confirmed one still gets the
        // plots the confirmed track does not take.
        let (confirmed, tentative): (Vec<Edge>, Vec<Edge>) =
            edges.into_iter().partition(|e| e.confirmed);
        // Not assigning a track costs as much as the worst association it could make.
        let first = assign(&confirmed, plots.len(), gate + MANOEUVRE_PENALTY);
        for &e in &first {
            self.taken_by[confirmed[e].plot] = Some(confirmed[e].track);
        }
        let left: Vec<Edge> = tentative
            .into_iter()
            .filter(|e| self.taken_by[e.plot].is_none())
            .collect();
        let second = assign(&left, plots.len(), gate + MANOEUVRE_PENALTY);
        let assigned = first
            .iter()
            .map(|&e| confirmed[e])
            .chain(second.iter().map(|&e| left[e]));
        for e in assigned {
            let Edge {
                track,
                plot: j,
                manoeuvre,
                ..
            } = e;
            self.taken_by[j] = Some(track);
            self.update_with_plot(track, &plots[j], manoeuvre);
            updated.push(track);
        }
        for (j, p) in plots.iter().enumerate() {
            if self.taken_by[j].is_some() || near_confirmed[j] {
                continue;
            }
            if oos_only[j] && !has_edge[j] {
                self.stats.out_of_sequence += 1;
                continue;
            }
            if has_edge[j] {
                // Lost the assignment to another plot of a tentative track: a split.
                continue;
            }
            self.taken_by[j] = self.initiate(p);
        }
    }

    fn update_with_plot(&mut self, id: u64, p: &Measurement, manoeuvre: bool) {
        let q = if manoeuvre {
            self.cfg.manoeuvre_noise
        } else {
            self.cfg.process_noise
        };
        let tr = self.tracks.get_mut(id).expect("assigned track exists");
        if let Some(u) = &mut self.undo {
            // A track takes one plot per scan, so this is its state before the scan.
            u.before.push(tr.clone());
        }
        let prior = predict(tr, p.t, q);
        // One S for the filter and the score.
        let (mut post, d2, ln_det) =
            update_position(&prior, p.z, p.r).unwrap_or((prior, f64::INFINITY, 0.0));
        // A run of plots each inside the gate but all to one side is a manoeuvre the gate
        // alone does not see (each plot alone looks like noise): filter with the
        // manoeuvre noise until the innovations are small again.
        if d2.is_finite() {
            tr.nis = NIS_FADE * tr.nis + d2;
        }
        if !manoeuvre && tr.confirmed && tr.nis > NIS_LIMIT {
            let prior = predict(tr, p.t, self.cfg.manoeuvre_noise);
            if let Some((m, _, _)) = update_position(&prior, p.z, p.r) {
                post = m;
            }
        }
        tr.accept(post, p.t);
        // Δ score = ln( Pd · N(z; ẑ, S) / λ_clutter ).
        tr.score += p.pd.ln()
            - (2.0 * std::f64::consts::PI).ln()
            - 0.5 * ln_det
            - 0.5 * d2
            - p.clutter_density.max(1e-15).ln();
        // No small boat does 60 kn: a dark track that claims to is clutter strung together
        // (busy-night had confirmed "tracks" at 66-148 kn). It is not confirmed, or stops
        // being so; AIS-identified tracks are vessels whatever their filter says.
        let implausible = tr.mmsi.is_none() && tr.speed_mps() > self.cfg.max_speed_kn * KN_TO_MPS;
        if implausible {
            tr.confirmed = false;
        } else if !tr.confirmed && tr.hits >= CONFIRM_HITS && tr.score >= self.cfg.confirm_score {
            tr.confirmed = true;
            self.stats.confirmed += 1;
        }
    }

    fn new_id(&mut self) -> Option<u64> {
        if self.tracks.len() >= self.cfg.max_tracks {
            self.stats.refused += 1;
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.initiated += 1;
        Some(id)
    }

    fn initiate(&mut self, p: &Measurement) -> Option<u64> {
        let id = self.new_id()?;
        let v = self.cfg.init_speed_sigma_mps.powi(2);
        let mut cov = Matrix4::from_diagonal(&Vector4::new(p.r[0][0], p.r[1][1], v, v));
        cov[(0, 1)] = p.r[0][1];
        cov[(1, 0)] = p.r[1][0];
        self.tracks.push(Track {
            id,
            state: State::new(Vector4::new(p.z[0], p.z[1], 0.0, 0.0), cov),
            t: p.t,
            confirmed: false,
            score: 0.0,
            nis: 0.0,
            hits: 1,
            born: p.t,
            last_hit: p.t,
            mmsi: None,
        });
        self.anonymous.insert(id);
        Some(id)
    }

    /// Applies an AIS position report: updates the vessel's track, or gives its identity to
    /// the radar track it matches, or starts a confirmed track for it.
    pub fn ais(&mut self, m: &AisMeasurement) -> AisOutcome {
        let pos_var = self.ais.sigma_m.powi(2);
        let id = match self.by_mmsi.get(&m.mmsi) {
            Some(&id) => id,
            None => match self.match_identity(m, pos_var) {
                Some(id) => {
                    let tr = self.tracks.get_mut(id).expect("matched track exists");
                    tr.mmsi = Some(m.mmsi);
                    if !tr.confirmed {
                        tr.confirmed = true;
                        self.stats.confirmed += 1;
                    }
                    self.anonymous.remove(&id);
                    self.by_mmsi.insert(m.mmsi, id);
                    id
                }
                None => return self.initiate_ais(m, pos_var),
            },
        };
        let tr = self
            .tracks
            .get_mut(id)
            .expect("by_mmsi names only live tracks");
        if m.t < tr.t {
            self.stats.out_of_sequence += 1;
            return AisOutcome::OutOfSequence(id);
        }
        let prior = predict(tr, m.t, self.cfg.process_noise);
        // The closed-form updates of `kalman` (adskalman's equations, tested against it).
        let post = match m.vel {
            Some(v) => {
                let z = Vector4::new(m.z[0], m.z[1], v[0], v[1]);
                let vel_var = self.ais.velocity_sigma_mps.powi(2);
                update_pos_vel(&prior, z, pos_var, vel_var)
            }
            None => update_position(&prior, m.z, [[pos_var, 0.0], [0.0, pos_var]])
                .map(|(post, _, _)| post),
        }
        .unwrap_or(prior);
        tr.accept(post, m.t);
        AisOutcome::Updated(id)
    }

    /// The radar track (without identity) nearest an AIS report inside the gate. Runs only
    /// for an MMSI not yet tracked, over the tracks without one.
    fn match_identity(&self, m: &AisMeasurement, pos_var: f64) -> Option<u64> {
        let r = [[pos_var, 0.0], [0.0, pos_var]];
        self.anonymous
            .iter()
            .filter_map(|&id| self.tracks.get(id))
            .filter(|tr| {
                let (x, y) = tr.pos();
                (x - m.z[0]).powi(2) + (y - m.z[1]).powi(2) < 2_000.0 * 2_000.0
            })
            .filter_map(|tr| {
                let (d2, _) = position_innovation(&self.predicted(tr, m.t), m.z, r);
                (d2 <= self.cfg.gate_chi2).then_some((d2, tr.id))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id)
    }

    fn initiate_ais(&mut self, m: &AisMeasurement, pos_var: f64) -> AisOutcome {
        let Some(id) = self.new_id() else {
            return AisOutcome::Refused;
        };
        let (v, vvar) = match m.vel {
            Some(v) => (v, self.ais.velocity_sigma_mps.powi(2)),
            None => ([0.0, 0.0], self.cfg.init_speed_sigma_mps.powi(2)),
        };
        self.stats.confirmed += 1;
        self.tracks.push(Track {
            id,
            state: State::new(
                Vector4::new(m.z[0], m.z[1], v[0], v[1]),
                Matrix4::from_diagonal(&Vector4::new(pos_var, pos_var, vvar, vvar)),
            ),
            t: m.t,
            confirmed: true,
            score: self.cfg.confirm_score,
            nis: 0.0,
            hits: 1,
            born: m.t,
            last_hit: m.t,
            mmsi: Some(m.mmsi),
        });
        self.by_mmsi.insert(m.mmsi, id);
        AisOutcome::Updated(id)
    }

    /// Deletes tracks that have gone without contact too long at event time `now`.
    pub fn expire(&mut self, now: EventTime, deleted: &mut Vec<Track>) {
        let (tent, coast, ais_coast) = (
            self.cfg.tentative_timeout_s,
            self.cfg.coast_s,
            self.cfg.ais_coast_s,
        );
        let first = deleted.len();
        self.tracks.remove_where(
            |tr| {
                let age = now.secs_since(tr.last_hit);
                match (tr.confirmed, tr.mmsi) {
                    (false, _) => age > tent,
                    (true, None) => age > coast,
                    (true, Some(_)) => age > ais_coast,
                }
            },
            deleted,
        );
        for tr in &deleted[first..] {
            match tr.mmsi {
                Some(m) => {
                    self.by_mmsi.remove(&m);
                }
                None => {
                    self.anonymous.remove(&tr.id);
                }
            }
            self.stats.deleted += 1;
        }
    }
}

/// A track's state predicted to `t` under process noise `q`.
fn predict(tr: &Track, t: EventTime, q: f64) -> State {
    let dt = t.secs_since(tr.t);
    if dt == 0.0 {
        return tr.state.clone();
    }
    // Backwards (dt < 0) only for gating an AIS identity against a newer radar state.
    ConstantVelocity::new(dt, q).predict(&tr.state)
}

/// A possible association of one track with one plot.
#[derive(Clone, Copy, Debug)]
struct Edge {
    track: u64,
    plot: usize,
    /// Squared Mahalanobis distance, plus the penalty under the manoeuvre hypothesis.
    cost: f64,
    manoeuvre: bool,
    /// The track is confirmed: it chooses its plot before tentative tracks do.
    confirmed: bool,
}

/// Global nearest neighbour: solves the assignment separately for each cluster of tracks
/// and plots linked by gates, with a "no plot" option per track costing the gate value.
/// Returns the indices of the chosen edges (which edges, not their order, is independent
/// of the order of `edges`).
fn assign(edges: &[Edge], n_plots: usize, gate: f64) -> Vec<usize> {
    if edges.is_empty() {
        return Vec::new();
    }
    // Most edges are alone: the only plot in their track's gate and the only track near
    // their plot. Those are taken as they are; only the rest are clustered and sorted (the
    // sort of every edge was 4 % of the load-scene replay).
    let mut per_plot = vec![0u32; n_plots];
    let mut per_track: FxHashMap<u64, u32> =
        FxHashMap::with_capacity_and_hasher(edges.len(), Default::default());
    for e in edges {
        per_plot[e.plot] += 1;
        *per_track.entry(e.track).or_insert(0) += 1;
    }
    let mut out = Vec::new();
    let mut shared = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        if per_plot[e.plot] == 1 && per_track[&e.track] == 1 {
            out.push(i);
        } else {
            shared.push(i);
        }
    }
    if shared.is_empty() {
        return out;
    }
    // Union-find over plots; tracks join the cluster of their first plot.
    let mut parent: Vec<usize> = (0..n_plots).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut first_plot: FxHashMap<u64, usize> =
        FxHashMap::with_capacity_and_hasher(shared.len(), Default::default());
    for &i in &shared {
        let e = &edges[i];
        let root = *first_plot.entry(e.track).or_insert(e.plot);
        let (a, b) = (find(&mut parent, root), find(&mut parent, e.plot));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    // Edges sorted by (cluster root, track, plot): each cluster is one run, in a fixed order.
    let mut order: Vec<(usize, u64, usize, usize)> = shared
        .iter()
        .map(|&i| {
            let e = &edges[i];
            (find(&mut parent, e.plot), e.track, e.plot, i)
        })
        .collect();
    order.sort_unstable();
    for es in order.chunk_by(|a, b| a.0 == b.0) {
        if es.len() == 1 {
            out.push(es[0].3);
            continue;
        }
        let mut tids: Vec<u64> = es.iter().map(|e| e.1).collect();
        tids.dedup();
        let mut pids: Vec<usize> = es.iter().map(|e| e.2).collect();
        pids.sort_unstable();
        pids.dedup();
        let (n, m) = (tids.len(), pids.len());
        let forbidden = (gate * 1e3 * COST_SCALE) as i64;
        let mut w = Matrix::new(n, m + n, forbidden);
        for (i, _) in tids.iter().enumerate() {
            w[(i, m + i)] = (gate * COST_SCALE) as i64;
        }
        let mut which = vec![usize::MAX; n * m];
        for &(_, tid, j, ei) in es {
            let i = tids.binary_search(&tid).expect("track in cluster");
            let k = pids.binary_search(&j).expect("plot in cluster");
            w[(i, k)] = (edges[ei].cost * COST_SCALE) as i64;
            which[i * m + k] = ei;
        }
        let (_, cols) = kuhn_munkres_min(&w);
        for (i, &k) in cols.iter().enumerate() {
            if k < m && w[(i, k)] < forbidden {
                out.push(which[i * m + k]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meas(t: f64, x: f64, y: f64) -> Measurement {
        Measurement {
            t: EventTime((t * 1e6) as i64),
            z: [x, y],
            r: [[225.0, 0.0], [0.0, 225.0]],
            pd: 0.8,
            clutter_density: 5.0 / (std::f64::consts::PI * 24e3 * 24e3),
        }
    }

    /// A scan processed in two parts, the first taken back before the whole, leaves the
    /// tracker exactly as one pass over the whole scan does: tracks, ids, counters.
    #[test]
    fn a_rolled_back_sector_leaves_no_trace() {
        let snapshot = |tr: &Tracker| {
            let tracks: Vec<String> = tr.tracks().map(|t| format!("{t:?}")).collect();
            (tracks, tr.next_id, tr.stats.clone(), tr.anonymous.clone())
        };
        let (mut whole, mut split) = (
            Tracker::new(TrackerConfig::default(), AisConfig::default()),
            Tracker::new(TrackerConfig::default(), AisConfig::default()),
        );
        let mut upd = vec![];
        for k in 0..8 {
            let t = k as f64 * 2.5;
            // Two boats 60 m apart and a clutter plot; the sector seam between the boats.
            let scan = [
                meas(t, 3.0 * t, 0.0),
                meas(t, 3.0 * t + 60.0, 10.0),
                meas(t, -4000.0 + 500.0 * k as f64, 7000.0),
            ];
            whole.begin_scan();
            whole.plots(&scan, &mut upd);
            whole.end_scan();
            split.begin_scan();
            split.plots(&scan[..1], &mut upd);
            split.rollback_scan(|_| {});
            split.plots(&scan, &mut upd);
            split.end_scan();
            assert_eq!(snapshot(&whole), snapshot(&split), "scan {k}");
        }
        assert!(whole.tracks().any(|t| t.confirmed));
    }

    #[test]
    fn confirms_a_target_in_three_scans_and_keeps_its_id() {
        let mut tr = Tracker::new(TrackerConfig::default(), AisConfig::default());
        let mut upd = vec![];
        for k in 0..10 {
            let t = k as f64 * 2.5;
            tr.plots(
                &[
                    meas(t, 3.0 * t, 0.0),
                    meas(
                        t,
                        5000.0 + 100.0 * k as f64 * (k % 2) as f64,
                        9000.0 * (k % 3) as f64,
                    ),
                ],
                &mut upd,
            );
            if k == 2 {
                let c: Vec<_> = tr.tracks().filter(|t| t.confirmed).map(|t| t.id).collect();
                assert_eq!(c, vec![1], "the real target, confirmed on its third plot");
            }
        }
        let confirmed: Vec<_> = tr.tracks().filter(|t| t.confirmed).collect();
        assert_eq!(confirmed.len(), 1, "clutter never confirmed");
        assert!((confirmed[0].vel().0 - 3.0).abs() < 0.5);
    }

    #[test]
    fn assignment_prefers_the_global_optimum() {
        // Track A at 0, track B at 10: plot at 9 is nearer A's rival... GNN must give
        // plot 0 → A and plot 9 → B.
        let edges =
            [(1, 0, 0.1), (1, 1, 8.0), (2, 1, 0.2), (2, 0, 9.0)].map(|(track, plot, cost)| Edge {
                track,
                plot,
                cost,
                manoeuvre: false,
                confirmed: true,
            });
        let mut a: Vec<(u64, usize)> = assign(&edges, 2, 13.8)
            .into_iter()
            .map(|e| (edges[e].track, edges[e].plot))
            .collect();
        a.sort();
        assert_eq!(a, vec![(1, 0), (2, 1)]);
    }

    #[test]
    fn ais_identity_joins_radar_track_and_old_reports_are_counted() {
        let mut tr = Tracker::new(TrackerConfig::default(), AisConfig::default());
        let mut upd = vec![];
        for k in 0..4 {
            tr.plots(&[meas(k as f64 * 2.5, 0.0, 0.0)], &mut upd);
        }
        let m = AisMeasurement {
            t: EventTime(6_000_000),
            mmsi: 227006760,
            z: [10.0, 5.0],
            vel: None,
        };
        assert!(matches!(tr.ais(&m), AisOutcome::OutOfSequence(1)));
        assert_eq!(tr.get(1).unwrap().mmsi, Some(227006760));
        assert_eq!(tr.stats.out_of_sequence, 1);
        let m2 = AisMeasurement {
            t: EventTime(9_000_000),
            ..m
        };
        assert!(matches!(tr.ais(&m2), AisOutcome::Updated(1)));
        assert_eq!(tr.len(), 1);
    }
}
