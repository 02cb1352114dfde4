//! Clutter map: the false-plot density each sensor produces, learned per map cell.
//!
//! The track score weighs every plot against the clutter density where it fell:
//! `Δscore = ln(Pd · N(z; ẑ, S) / λ)`. A single configured λ (clutter spread evenly over
//! the coverage) is badly wrong on this coast: surf, breakwaters and beaches return far more
//! false plots than open water, exactly where taxi-boats loiter. Measured before this map:
//! an hour of clutter with half of it in the surf confirmed 86 false tracks. The map counts,
//! per sensor and cell, the plots that fell in no confirmed track's gate, with exponential
//! forgetting (time constant `tau_s` of event time), and the density at a plot is the
//! larger of the configured one and the learned one, so the map can only make confirmation
//! harder where clutter has been seen, never easier.
//!
//! Deterministic: driven by plot event times only; a `HashMap` is used for lookups, never
//! iterated in an order that could change a result.

use crate::time::EventTime;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// A clutter candidate waiting `delay_s` before it may be learned.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Pending {
    sensor: usize,
    z: [f64; 2],
    t: EventTime,
    /// The track it updated or started: if that track is confirmed when the plot comes due,
    /// the plot was a boat's, not clutter.
    track: Option<u64>,
}

/// Bound on plots waiting to be learned (a scan timestamped far in the future must not hold
/// every later plot back): beyond it the oldest are learned at once.
const MAX_PENDING: usize = 100_000;

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Cell {
    /// Decayed count of clutter candidates as of `last`.
    count: f64,
    last: EventTime,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ClutterMap {
    cell_m: f64,
    tau_s: f64,
    cells: FxHashMap<(u16, i32, i32), Cell>,
    /// First scan seen per sensor: until `tau_s` has passed, counts are divided by the time
    /// actually observed, not by `tau_s` (no under-estimate while warming up).
    first: FxHashMap<u16, EventTime>,
    /// More cells than this triggers a prune of the faded ones.
    max_cells: usize,
    /// Faded cells are also pruned every `tau_s` of event time: without it a day of
    /// clutter spread over the coverage left ~145,000 cells, most of them counting nothing
    /// (24 h soak in `cargo bench --bench engine`).
    last_prune: Option<EventTime>,
    /// Candidates are learned this long after they came (see [`learn_later`](Self::learn_later)).
    delay_s: f64,
    pending: VecDeque<Pending>,
}

impl ClutterMap {
    /// `cell_m`: cell side in metres; `tau_s`: forgetting time constant in seconds.
    pub fn new(cell_m: f64, tau_s: f64) -> Self {
        ClutterMap {
            cell_m,
            tau_s,
            cells: FxHashMap::default(),
            first: FxHashMap::default(),
            max_cells: 500_000,
            last_prune: None,
            delay_s: 0.0,
            pending: VecDeque::new(),
        }
    }

    /// Learns candidates `delay_s` late (see [`learn_later`](Self::learn_later)).
    pub fn with_delay(mut self, delay_s: f64) -> Self {
        self.delay_s = delay_s;
        self
    }

    /// Plots waiting to be learned.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Forgets the plots queued after the first `len` (the engine taking back a sector of
    /// a scan it is about to process again with the rest of the scan).
    pub fn truncate_pending(&mut self, len: usize) {
        self.pending.truncate(len);
    }

    /// Queues a plot that fell in no confirmed track's gate, with the track it updated or
    /// started. It is learned by [`learn_due`](Self::learn_due) once `delay_s` old, unless
    /// that track has been confirmed by then: a new boat's first plots are unclaimed too,
    /// and learning them at once made the map read the boat as clutter and delay its
    /// confirmation (6th plot instead of the 3rd, issue 3 notes).
    pub fn learn_later(&mut self, sensor: usize, z: [f64; 2], t: EventTime, track: Option<u64>) {
        self.pending.push_back(Pending {
            sensor,
            z,
            t,
            track,
        });
    }

    /// Learns the queued plots that are `delay_s` old at `now`, except those whose track
    /// `confirmed(id)` says is confirmed.
    pub fn learn_due(&mut self, now: EventTime, confirmed: impl Fn(u64) -> bool) {
        while let Some(p) = self.pending.front().copied() {
            let due = now.secs_since(p.t) >= self.delay_s || self.pending.len() > MAX_PENDING;
            if !due {
                break;
            }
            self.pending.pop_front();
            if !p.track.is_some_and(&confirmed) {
                self.add(p.sensor, p.z[0], p.z[1], p.t);
            }
        }
    }

    fn key(&self, sensor: usize, x: f64, y: f64) -> (u16, i32, i32) {
        let c = |v: f64| {
            (v / self.cell_m)
                .floor()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        };
        (sensor.min(u16::MAX as usize) as u16, c(x), c(y))
    }

    /// Learned false plots per square metre per scan of `sensor` at (x, y), at time `t`, for
    /// a sensor scanning every `period_s`. Zero where nothing has been seen.
    ///
    /// The larger of the plot's own cell and the mean of the 3 × 3 cells around it. Why the
    /// neighbourhood: surf clutter is dense along the shore but sparse per cell (about one
    /// plot per cell per ten minutes), so one cell's count is mostly Poisson noise and an
    /// empty cell read as "no clutter here" let clutter confirm tracks; nine cells count
    /// nine times as many plots. The own cell keeps a point source (a breakwater) sharp.
    pub fn density(&self, sensor: usize, x: f64, y: f64, t: EventTime, period_s: f64) -> f64 {
        let (s, cx, cy) = self.key(sensor, x, y);
        let count_at = |k: (u16, i32, i32)| {
            self.cells.get(&k).map_or(0.0, |cell| {
                let age = t.secs_since(cell.last).max(0.0);
                cell.count * (-age / self.tau_s).exp()
            })
        };
        let (mut own, mut around) = (0.0, 0.0);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let c = count_at((s, cx.saturating_add(dx), cy.saturating_add(dy)));
                if dx == 0 && dy == 0 {
                    own = c;
                }
                around += c;
            }
        }
        let count = own.max(around / 9.0);
        if count == 0.0 {
            return 0.0;
        }
        let observed = self
            .first
            .get(&s)
            .map_or(self.tau_s, |f| t.secs_since(*f).clamp(period_s, self.tau_s));
        // A steady rate r gives count ≈ r·τ (or r·observed while warming up).
        let rate = count / observed;
        rate * period_s / (self.cell_m * self.cell_m)
    }

    /// Records a plot that fell in no confirmed track's gate.
    pub fn add(&mut self, sensor: usize, x: f64, y: f64, t: EventTime) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let key = self.key(sensor, x, y);
        self.first.entry(key.0).or_insert(t);
        let tau = self.tau_s;
        let cell = self.cells.entry(key).or_insert(Cell {
            count: 0.0,
            last: t,
        });
        let age = t.secs_since(cell.last).max(0.0);
        cell.count = cell.count * (-age / tau).exp() + 1.0;
        cell.last = cell.last.max(t);
        let due = self
            .last_prune
            .is_none_or(|l| t.secs_since(l) >= self.tau_s);
        if due || self.cells.len() > self.max_cells {
            self.prune(t);
            self.last_prune = Some(t);
        }
    }

    /// Drops cells whose decayed count has fallen below a tenth of a plot: bounded memory
    /// however long vigie runs and wherever clutter wanders.
    pub fn prune(&mut self, now: EventTime) {
        let tau = self.tau_s;
        self.cells
            .retain(|_, c| c.count * (-now.secs_since(c.last).max(0.0) / tau).exp() >= 0.1);
    }

    pub fn cells(&self) -> usize {
        self.cells.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_steady_rate_and_forgets_it() {
        let mut m = ClutterMap::new(250.0, 600.0);
        let t0 = EventTime::from_secs(1_000_000);
        // One false plot every other scan (2.5 s) in one cell for an hour.
        for k in 0..1440 {
            if k % 2 == 0 {
                m.add(0, 100.0, 100.0, t0.plus_secs(k as f64 * 2.5));
            }
        }
        let t = t0.plus_secs(3600.0);
        let d = m.density(0, 120.0, 80.0, t, 2.5);
        let expected = 0.5 / (250.0 * 250.0);
        assert!((d / expected - 1.0).abs() < 0.05, "{d} vs {expected}");
        // Another sensor, another cell: nothing learned.
        assert_eq!(m.density(1, 100.0, 100.0, t, 2.5), 0.0);
        assert_eq!(m.density(0, 600.0, 100.0, t, 2.5), 0.0);
        // The next cell reads the mean of its 3 × 3 neighbourhood: a ninth.
        let next = m.density(0, 400.0, 100.0, t, 2.5);
        assert!((next / (expected / 9.0) - 1.0).abs() < 0.05, "{next}");
        // An hour later with no clutter: forgotten (e^-6).
        let later = m.density(0, 100.0, 100.0, t.plus_secs(3600.0), 2.5);
        assert!(later < expected * 0.01);
        m.prune(t.plus_secs(3600.0 * 3.0));
        assert_eq!(m.cells(), 0);
    }

    #[test]
    fn candidates_are_learned_late_and_not_when_their_track_was_confirmed() {
        let mut m = ClutterMap::new(250.0, 600.0).with_delay(10.0);
        let t0 = EventTime::from_secs(1_000_000);
        m.learn_later(0, [100.0, 100.0], t0, Some(7));
        m.learn_later(0, [5000.0, 5000.0], t0, Some(8));
        m.learn_later(0, [9000.0, 9000.0], t0, None);
        let confirmed = |id: u64| id == 7;
        m.learn_due(t0.plus_secs(9.9), confirmed);
        assert_eq!(m.cells(), 0, "nothing is learned before the delay");
        m.learn_due(t0.plus_secs(10.0), confirmed);
        let d = |m: &ClutterMap, x: f64| m.density(0, x, x, t0.plus_secs(10.0), 2.5);
        assert_eq!(d(&m, 100.0), 0.0, "track 7 was confirmed: a boat's plot");
        assert!(d(&m, 5000.0) > 0.0 && d(&m, 9000.0) > 0.0);
    }

    #[test]
    fn faded_cells_are_pruned_as_time_goes_on() {
        let mut m = ClutterMap::new(250.0, 600.0);
        let t0 = EventTime::from_secs(1_000_000);
        m.add(0, 5000.0, 5000.0, t0);
        // Three hours of clutter in another cell: the first has long faded (e^-18).
        for k in 1..4320 {
            m.add(0, 0.0, 0.0, t0.plus_secs(k as f64 * 2.5));
        }
        assert_eq!(m.cells(), 1);
    }

    #[test]
    fn warming_up_does_not_underestimate() {
        let mut m = ClutterMap::new(250.0, 600.0);
        let t0 = EventTime::from_secs(1_000_000);
        for k in 0..24 {
            m.add(0, 0.0, 0.0, t0.plus_secs(k as f64 * 2.5));
        }
        // One plot per scan for one minute: the rate is already one per scan.
        let d = m.density(0, 0.0, 0.0, t0.plus_secs(60.0), 2.5);
        let expected = 1.0 / (250.0 * 250.0);
        assert!((d / expected - 1.0).abs() < 0.1, "{d} vs {expected}");
    }
}
