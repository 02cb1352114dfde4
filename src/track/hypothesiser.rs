//! The hypothesiser (gater): which plot could be which track's, and at what cost.
//!
//! Never all tracks × all plots: the predicted positions of the tracks near a scan go into a
//! grid rebuilt per scan, and each plot looks up only the cells its gate can reach. Each
//! pair that passes the χ² gate becomes an [`Edge`] for the associator; a confirmed track
//! also gets a second, penalised hypothesis under the manoeuvre noise, so a boat that turns
//! or sets off keeps its plots. What each plot was near is kept too: the tracker needs it
//! to tell a split or a clutter plot beside a track from a new target.

use super::grid::Grid;
use super::kalman::predicted_position_innovation;
use super::measurement::Measurement;
use super::predictor::Predictor;
use super::table::TrackTable;

/// Bound on a gating track's predicted 1-sigma position error used to size the grid
/// search (a tentative track: 6 m/s speed uncertainty over its 8 s life, plus its plot).
const TRACK_SIGMA_BOUND_M: f64 = 150.0;
/// Margin for the straight-line extrapolation used to place tracks in the grid.
const SEARCH_MARGIN_M: f64 = 50.0;
/// Added to the cost of an association made under the manoeuvre hypothesis, so that the
/// steady hypothesis wins whenever both fit.
pub const MANOEUVRE_PENALTY: f64 = 4.0;
/// The manoeuvre hypothesis only bridges short gaps: after longer without a plot, its gate
/// (hundreds of metres) would catch clutter; such a track is coasting, not manoeuvring.
const MANOEUVRE_MAX_DT_S: f64 = 6.0;

/// A possible association of one track with one plot.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub track: u64,
    pub plot: usize,
    /// Squared Mahalanobis distance, plus the penalty under the manoeuvre hypothesis.
    pub cost: f64,
    /// ln det of the innovation covariance (for the association's likelihood, [`super::jpda`]).
    pub ln_det: f64,
    pub manoeuvre: bool,
    /// The plot is older than the track's state (a late sensor, contract §1): it is filtered
    /// in where it belongs in time ([`super::retrodiction`]).
    pub late: bool,
    /// The track is confirmed: it chooses its plot before tentative tracks do.
    pub confirmed: bool,
    /// The track has no AIS identity.
    pub dark: bool,
    /// When the track began.
    pub born: crate::time::EventTime,
}

/// What the hypothesiser found for one scan.
#[derive(Debug, Default)]
pub struct Hypotheses {
    pub edges: Vec<Edge>,
    /// Per plot: in some track's gate (an edge, or a track this very instant already took).
    pub has_edge: Vec<bool>,
    /// Per plot: in a confirmed track's gate.
    pub near_confirmed: Vec<bool>,
    /// Per plot: in the gate only of tracks newer than it by more than a late sensor may
    /// be (out of sequence for them).
    pub oos_only: Vec<bool>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Hypothesiser {
    predictor: Predictor,
    /// χ² gate on the squared Mahalanobis distance.
    gate: f64,
    /// A track without contact longer than this claims no plot.
    coast_s: f64,
    /// A plot up to this much older than a track's state still updates it (contract §1).
    max_lateness_s: f64,
    /// Gating index of predicted track positions, rebuilt per scan in place.
    grid: Grid,
}

impl Hypothesiser {
    pub fn new(predictor: Predictor, gate: f64, coast_s: f64, max_lateness_s: f64) -> Self {
        Hypothesiser {
            predictor,
            gate,
            coast_s,
            max_lateness_s,
            grid: Grid::default(),
        }
    }

    /// The cost of leaving a track without a plot: as much as the worst association it
    /// could make.
    pub fn max_cost(&self) -> f64 {
        self.gate + MANOEUVRE_PENALTY
    }

    /// Every gated (track, plot) pair of one scan.
    pub fn hypothesise(&mut self, tracks: &TrackTable, plots: &[Measurement]) -> Hypotheses {
        let mut h = Hypotheses {
            edges: Vec::new(),
            has_edge: vec![false; plots.len()],
            near_confirmed: vec![false; plots.len()],
            oos_only: vec![false; plots.len()],
        };
        if plots.is_empty() {
            return h;
        }
        let t0 = plots[0].t;
        let gate = self.gate;
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
        let mut near = Vec::new();
        self.grid.reset(
            radius,
            [lo[0] - radius, lo[1] - radius],
            [hi[0] + radius, hi[1] + radius],
        );
        for tr in tracks.iter() {
            let x = tr.state.state();
            // Back in time too for a late scan: where the track was when the plots were seen.
            let dt = t0.secs_since(tr.t).max(-self.max_lateness_s);
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
        let (q, qm) = (self.predictor.process_noise, self.predictor.manoeuvre_noise);
        for (j, p) in plots.iter().enumerate() {
            self.grid.within(p.z, radius, |k| {
                let tr = near[k as usize];
                // A track that has gone without any contact longer than a radar-only track
                // survives claims no plot: its gate would be hundreds of metres wide and
                // catch clutter. This is an AIS-only vessel coasting between class B reports
                // (3 minutes apart when slow); a vessel the radars see is updated by its
                // plots.
                if p.t.secs_since(tr.last_hit) > self.coast_s {
                    return;
                }
                let dt = p.t.secs_since(tr.t);
                let late = dt < 0.0;
                if dt < -self.max_lateness_s {
                    // Older than a late sensor may be: out of sequence for this track, but
                    // still near it (so it starts nothing).
                    if predicted_position_innovation(&tr.state, dt, q, p.z, p.r).0 <= gate {
                        h.oos_only[j] = true;
                    }
                    return;
                }
                let (mut d2, mut det) = predicted_position_innovation(&tr.state, dt, q, p.z, p.r);
                let mut manoeuvre = false;
                if !late
                    && tr.confirmed
                    && (d2.is_nan() || d2 > gate)
                    && p.t.secs_since(tr.t) <= MANOEUVRE_MAX_DT_S
                {
                    let (dm, detm) = predicted_position_innovation(&tr.state, dt, qm, p.z, p.r);
                    if dm <= gate {
                        manoeuvre = true;
                        d2 = dm + MANOEUVRE_PENALTY;
                        det = detm;
                    }
                }
                // A steady-motion pair is kept out to where manoeuvre pairs end, the penalty
                // beyond the gate, whether or not the manoeuvre hypothesis applies: a plot
                // there goes to the track only when nothing in its cluster fits better.
                // Measured both ways (2026-12-05, `scripts/seed-sweep.sh`, seeds 109-140):
                // held to the χ² gate, a track coasting in a storm's surf lives on plausible
                // clutter instead of being dragged to an implausible speed and unconfirmed
                // (storm GOSPA 72 → 87 m), and surf-reacquire traded one draw's failure for
                // another's. A plot likelier clutter than the track's, refused, did worse
                // (storm: 5-7 false alarms in 32 draws). What settled surf-reacquire was a
                // shorter coast (`tracker.coast_s`).
                if d2.is_nan() || d2 > gate + MANOEUVRE_PENALTY {
                    return;
                }
                // Already updated by a plot of this very instant: a sector of the same scan
                // that came after the engine closed the scan (another message came between
                // the sectors, so it could not be taken back). A track takes one plot per
                // scan, and this plot is a split or clutter beside it.
                if tr.last_hit == p.t {
                    h.near_confirmed[j] |= tr.confirmed;
                    h.has_edge[j] = true;
                    return;
                }
                h.near_confirmed[j] |= tr.confirmed;
                h.has_edge[j] = true;
                h.edges.push(Edge {
                    track: tr.id,
                    plot: j,
                    cost: d2,
                    ln_det: det.ln(),
                    manoeuvre,
                    late,
                    confirmed: tr.confirmed,
                    dark: tr.mmsi.is_none(),
                    born: tr.born,
                });
            });
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::table::Track;
    use crate::track::testing;

    fn track(id: u64, x: f64, vx: f64, confirmed: bool) -> Track {
        testing::track(
            id,
            [x, 0.0, vx, 0.0],
            [100.0, 100.0, 1.0, 1.0],
            10.0,
            confirmed,
        )
    }

    /// A plot on the x axis.
    fn plot(t: f64, x: f64) -> Measurement {
        testing::plot(t, x, 0.0)
    }

    fn hypothesiser() -> Hypothesiser {
        Hypothesiser::new(Predictor::new(0.05, 40.0), 13.8, 30.0, 5.0)
    }

    #[test]
    fn gates_near_plots_only_and_knows_what_each_plot_was_near() {
        let mut tracks = TrackTable::default();
        tracks.push(track(1, 0.0, 5.0, true));
        tracks.push(track(2, 5_000.0, 0.0, false));
        // Track 1 predicted to 12.5 m at t = 12.5 s; a plot there, one 3 km away.
        let h = hypothesiser().hypothesise(&tracks, &[plot(12.5, 15.0), plot(12.5, 3_000.0)]);
        assert_eq!(h.edges.len(), 1);
        let e = h.edges[0];
        assert_eq!(
            (e.track, e.plot, e.manoeuvre, e.confirmed),
            (1, 0, false, true)
        );
        assert!(e.cost < 1.0, "{}", e.cost);
        assert_eq!(h.near_confirmed, [true, false]);
        assert_eq!(h.has_edge, [true, false]);
    }

    #[test]
    fn a_confirmed_track_gets_the_manoeuvre_hypothesis_a_tentative_one_does_not() {
        let mut tracks = TrackTable::default();
        tracks.push(track(1, 0.0, 5.0, true));
        tracks.push(track(2, 10_000.0, 5.0, false));
        // 5 s later, 120 m short of where either track should be: the boat stopped.
        let h = hypothesiser().hypothesise(&tracks, &[plot(15.0, -95.0), plot(15.0, 9_905.0)]);
        assert_eq!(h.edges.len(), 1, "{:?}", h.edges);
        assert!(h.edges[0].manoeuvre && h.edges[0].track == 1);
        assert!(h.edges[0].cost > MANOEUVRE_PENALTY);
        assert_eq!(h.has_edge, [true, false]);
    }

    #[test]
    fn a_late_plot_is_gated_where_the_track_was_and_an_older_one_is_out_of_sequence() {
        let mut tracks = TrackTable::default();
        // At x = 0 moving at 5 m/s, state at t = 10 s.
        tracks.push(track(1, 0.0, 5.0, true));
        // Seen 3 s before the state, where the boat was then (15 m behind): a late sensor's
        // plot, gated as such.
        let h = hypothesiser().hypothesise(&tracks, &[plot(7.0, -15.0)]);
        assert_eq!(h.edges.len(), 1);
        let e = h.edges[0];
        assert!(e.late && !e.manoeuvre && e.cost < 1.0, "{e:?}");
        assert_eq!((h.oos_only[0], h.has_edge[0]), (false, true));
        // Where the boat is now, but 3 s ago: it was not there then.
        let h = hypothesiser().hypothesise(&tracks, &[plot(7.0, 100.0)]);
        assert!(h.edges.is_empty());
        // 8 s older than the state (more than the 5 s a late sensor may be): out of sequence.
        let h = hypothesiser().hypothesise(&tracks, &[plot(2.0, -40.0)]);
        assert!(h.edges.is_empty());
        assert_eq!((h.oos_only[0], h.has_edge[0]), (true, false));
        // A track that took a plot at this very instant: the plot is beside it, not new.
        let h = hypothesiser().hypothesise(&tracks, &[plot(10.0, 5.0)]);
        assert!(h.edges.is_empty());
        assert_eq!((h.has_edge[0], h.near_confirmed[0]), (true, true));
    }
}
