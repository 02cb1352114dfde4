//! The merger: two confirmed tracks that are one object.
//!
//! Why they happen: a boat's return split into two plots tens of metres apart (a wake,
//! multipath, a hull seen in two range cells), or a far radar's scattered plots beside a
//! near radar's tight ones, can start a second track beside the first; once both are
//! confirmed, each scan feeds one plot to each and neither dies. Two tracks on one boat
//! mean two alerts for one pickup, and identities that swap back and forth.
//!
//! The test: the two stay close by both measures — within `tracker.merge_distance_m` and
//! within their combined position uncertainty (Mahalanobis distance under the 99 % point
//! of χ² with 2 degrees of freedom) — and move alike (speed difference within
//! `tracker.merge_speed_kn`). Evidence is counted in event time, gained while a pair looks
//! alike and lost as fast while it does not; at `tracker.merge_after_s` the pair is one
//! object. Twins fed by split plots jitter across any fixed threshold from one second to
//! the next, so "alike at every tick" never held long enough; a leaky count still needs a
//! pair to look alike most of the time. A boat passing a buoy, boats crossing, boats side
//! by side 150 m apart fail the test nearly always; two real boats that pass it are not
//! separable by the sensors anyway. Two tracks with different MMSIs are two vessels and
//! never merge.
//!
//! A dark track beside an AIS vessel is judged against what the radars can resolve there.
//! The vessel's place is its own GPS fix (±10 m); its echo is placed no better than the
//! radar's plot error, and across the beam that is the range times the bearing error (0.3°:
//! 46 m at 9 km, 113 m at 21 km). Three radars 9, 13 and 21 km from an AIS fishing boat
//! off Wissant fed a dark track 35-70 m from it for minutes, out of split returns and
//! scatter (`fixtures/probes/split-returns.toml`, four draws in six: a second, dark alert
//! for the fishing boat's loiter); under the 50 m cap it never looked alike long enough.
//! So for such a pair the positions are compared under the two tracks' uncertainty *plus*
//! the plot error of the most precise radar that saw the dark track lately, within twice
//! that radar's across-beam error (never less than `merge_distance_m`, never more than
//! twice it: a dark boat 150 m from a fishing boat, late-radar, stays a boat). Two dark
//! tracks keep the plain test: neither place is known better than the other, and a boat
//! beside a buoy is two objects.
//!
//! Which one stays: the one with an AIS identity, else the older (smaller id: ids only
//! grow), which carries the longer history — loiter window, alert, identity.

use super::table::Track;
use crate::config::TrackerConfig;
use crate::geo::KN_TO_MPS;
use crate::time::EventTime;
use rustc_hash::FxHashMap;

/// 99 % point of χ² with 2 degrees of freedom.
const CHI2_2_99: f64 = 9.21;

/// A radar's place in the tracker's frame and its errors: how finely it places an echo
/// near a given point. (The frame's small rotation against east/north at the site is left
/// out: this judges a resolution, it filters nothing.)
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RadarSite {
    /// Its bit in a track's [`Seen`](super::table::Seen).
    pub bit: u32,
    pub x: f64,
    pub y: f64,
    pub range_var: f64,
    /// Bearing variance in rad².
    pub bearing_var: f64,
}

impl RadarSite {
    /// The covariance (xx, xy, yy) of this radar's plot of an echo at (x, y), and its
    /// larger variance (across the beam, past a few km).
    fn plot_cov(&self, x: f64, y: f64) -> ([f64; 3], f64) {
        let (dx, dy) = (x - self.x, y - self.y);
        let r2 = dx * dx + dy * dy;
        let cross = r2 * self.bearing_var;
        if r2 <= 0.0 {
            return (
                [self.range_var, 0.0, self.range_var],
                self.range_var.max(cross),
            );
        }
        // along · u uᵀ + cross · (I − u uᵀ), u the unit vector from the radar.
        let (ux, uy) = (dx * dx / r2, dy * dy / r2);
        let uxy = dx * dy / r2;
        let d = self.range_var - cross;
        (
            [cross + d * ux, d * uxy, cross + d * uy],
            self.range_var.max(cross),
        )
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Merger {
    max_distance_m: f64,
    max_speed_diff_mps: f64,
    after_s: f64,
    /// Per pair (kept, merged away): seconds of evidence that they are one object.
    evidence: FxHashMap<(u64, u64), f64>,
    last_tick: Option<EventTime>,
    /// Reused buffers: cells near a dark track, the confirmed tracks in them, the pairs
    /// alike at this tick (rebuilt at every tick, so not part of a snapshot).
    #[serde(skip)]
    hot: rustc_hash::FxHashSet<(i64, i64)>,
    #[serde(skip)]
    candidates: Vec<Candidate>,
    #[serde(skip)]
    alike_now: Vec<(u64, u64)>,
    /// Pairs that first looked alike while the younger was at most [`MEET_AGE_S`] old:
    /// the only ones that may merge (kept while both tracks live).
    twins_from_birth: rustc_hash::FxHashSet<(u64, u64)>,
    /// The radars with a known place ([`set_sites`](Self::set_sites)); none: every pair
    /// takes the plain test.
    sites: Vec<RadarSite>,
}

/// A pair can only be one object if they looked alike before the younger track was this
/// old (event time). Twins start beside their object — a split return, a far radar's
/// scatter, a track begun again after a break — and look alike within seconds of being
/// confirmed. Two boats that meet have each been followed on their own for minutes: two
/// dark boats crossing at 30° at the same speed (velocities 3.6 kn apart, pulled closer
/// still while their plots are shared) looked alike for 15 s and one was merged into the
/// other, the boat losing its track (six draws of a shallow crossing: three such losses,
/// none with this rule).
const MEET_AGE_S: f64 = 120.0;

/// The most one tick counts for (a gap in event time is not evidence).
const MAX_TICK_S: f64 = 5.0;
/// How often pairs are looked at (event time): twins live for minutes, and each look
/// visits every confirmed track.
const TICK_S: f64 = 2.0;

impl Merger {
    pub fn new(cfg: &TrackerConfig) -> Self {
        Merger {
            max_distance_m: cfg.merge_distance_m,
            max_speed_diff_mps: cfg.merge_speed_kn * KN_TO_MPS,
            after_s: cfg.merge_after_s,
            evidence: FxHashMap::default(),
            last_tick: None,
            hot: Default::default(),
            candidates: Vec::new(),
            alike_now: Vec::new(),
            twins_from_birth: Default::default(),
            sites: Vec::new(),
        }
    }

    /// The radars whose plot error judges a dark track beside an AIS vessel.
    pub fn set_sites(&mut self, sites: Vec<RadarSite>) {
        self.sites = sites;
    }

    /// The ids of tracks to merge away at `now` (each into a track that stays). Call once
    /// per housekeeping tick.
    pub fn twins(&mut self, tracks: &[Track], now: EventTime, out: &mut Vec<u64>) {
        if self.max_distance_m <= 0.0 {
            return;
        }
        if self.last_tick.is_some_and(|l| now.secs_since(l) < TICK_S) {
            return;
        }
        let dt = self
            .last_tick
            .map_or(0.0, |l| now.secs_since(l).clamp(0.0, MAX_TICK_S));
        self.last_tick = Some(now);
        // Twice the distance: a pair with an AIS vessel may be that far apart (see the module).
        let cell = 2.0 * self.max_distance_m;
        // Only a pair with a dark track can be one object (two AIS vessels have their own
        // MMSIs), and dark tracks are few: mark the 3 × 3 cells around each, keep the
        // confirmed tracks that fall in a marked cell, and compare within those. (Sorting
        // every confirmed track into cells each second cost 0.7× the engine on a
        // 2,000-vessel strait.)
        self.hot.clear();
        for tr in tracks.iter().filter(|t| t.confirmed && t.mmsi.is_none()) {
            let (x, y) = at(tr, now);
            let (cx, cy) = cell_at(x, y, cell);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    self.hot.insert((cx + dx, cy + dy));
                }
            }
        }
        // The confirmed tracks in marked cells, sorted by cell, each with its position
        // now (computed once, not once per pair).
        self.candidates.clear();
        if !self.hot.is_empty() {
            for (i, t) in tracks.iter().enumerate().filter(|(_, t)| t.confirmed) {
                let (x, y) = at(t, now);
                let c = cell_at(x, y, cell);
                if self.hot.contains(&c) {
                    self.candidates.push(Candidate { cell: c, i, x, y });
                }
            }
        }
        self.candidates.sort_unstable_by_key(|c| (c.cell, c.i));
        // Every pair with a dark track, both within one cell of each other (a pair farther
        // apart is beyond any pair's reach, the cell's side); a dark-dark pair once.
        self.alike_now.clear();
        let cands = &self.candidates;
        for a in cands.iter().filter(|c| tracks[c.i].mmsi.is_none()) {
            for dx in -1..=1 {
                let (lo, hi) = ((a.cell.0 + dx, a.cell.1 - 1), (a.cell.0 + dx, a.cell.1 + 1));
                let from = cands.partition_point(|c| c.cell < lo);
                let to = cands.partition_point(|c| c.cell <= hi);
                for b in &cands[from..to] {
                    let (ta, tb) = (&tracks[a.i], &tracks[b.i]);
                    if b.i == a.i || (tb.mmsi.is_none() && b.i < a.i) {
                        continue;
                    }
                    if self.alike(ta, tb, (a.x - b.x, a.y - b.y), (a.x, a.y)) {
                        let pair = keep_first(ta, tb);
                        let younger = ta.born.max(tb.born);
                        if now.secs_since(younger) <= MEET_AGE_S {
                            self.twins_from_birth.insert(pair);
                        }
                        if self.twins_from_birth.contains(&pair) {
                            self.alike_now.push(pair);
                        }
                    }
                }
            }
        }
        self.alike_now.sort_unstable();
        let alike = &self.alike_now;
        self.evidence.retain(|pair, e| {
            if alike.binary_search(pair).is_err() {
                *e -= dt;
            }
            *e > 0.0
        });
        for &pair in alike {
            *self.evidence.entry(pair).or_insert(0.0) += dt;
        }
        let mut gone: Vec<u64> = self
            .evidence
            .iter()
            .filter(|(_, e)| **e >= self.after_s)
            .map(|(&(_, merged), _)| merged)
            .collect();
        gone.sort_unstable();
        gone.dedup();
        self.evidence
            .retain(|(kept, merged), _| !gone.contains(kept) && !gone.contains(merged));
        let live = |id: &u64| tracks.binary_search_by_key(id, |t| t.id).is_ok();
        self.twins_from_birth
            .retain(|(kept, merged)| live(kept) && live(merged) && !gone.contains(merged));
        out.extend(gone);
    }

    /// Whether two tracks `(dx, dy)` apart now look like one object; `a` is dark, at
    /// `dark_at`.
    fn alike(&self, a: &Track, b: &Track, (dx, dy): (f64, f64), dark_at: (f64, f64)) -> bool {
        if matches!((a.mmsi, b.mmsi), (Some(m), Some(n)) if m != n) {
            return false;
        }
        // Beside an AIS vessel: the plot error of the best radar that saw the dark track.
        let plot = match b.mmsi {
            Some(_) => self.best_plot(a, dark_at),
            None => None,
        };
        let reach = plot.map_or(self.max_distance_m, |(_, var)| {
            (2.0 * var.sqrt()).clamp(self.max_distance_m, 2.0 * self.max_distance_m)
        });
        if dx * dx + dy * dy > reach * reach {
            return false;
        }
        let (va, vb) = (a.vel(), b.vel());
        let (dvx, dvy) = (va.0 - vb.0, va.1 - vb.1);
        if dvx * dvx + dvy * dvy > self.max_speed_diff_mps * self.max_speed_diff_mps {
            return false;
        }
        // Positions within their combined uncertainty too. Not velocities: a settled
        // track's velocity is known to ~0.8 m/s only, so a 5 kn boat passing a buoy would
        // pass such a test.
        let (ca, cb) = (a.state.covariance(), b.state.covariance());
        let extra = plot.map_or([0.0; 3], |(cov, _)| cov);
        mahalanobis2(dx, dy, ca, cb, extra) <= CHI2_2_99
    }

    /// The plot covariance of the most precise radar (smallest larger variance) that fed
    /// `tr` lately, at `at`.
    fn best_plot(&self, tr: &Track, (x, y): (f64, f64)) -> Option<([f64; 3], f64)> {
        let bits = tr.seen.bits();
        self.sites
            .iter()
            .filter(|s| s.bit & bits != 0)
            .map(|s| s.plot_cov(x, y))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The squared Mahalanobis distance of a position difference (dx, dy) under the sum of
/// the two tracks' position covariances and `extra` (xx, xy, yy).
fn mahalanobis2(
    dx: f64,
    dy: f64,
    ca: &nalgebra::Matrix4<f64>,
    cb: &nalgebra::Matrix4<f64>,
    extra: [f64; 3],
) -> f64 {
    let (sxx, sxy, syy) = (
        ca[(0, 0)] + cb[(0, 0)] + extra[0],
        ca[(0, 1)] + cb[(0, 1)] + extra[1],
        ca[(1, 1)] + cb[(1, 1)] + extra[2],
    );
    let det = sxx * syy - sxy * sxy;
    if det <= 0.0 {
        return f64::INFINITY;
    }
    (syy * dx * dx - 2.0 * sxy * dx * dy + sxx * dy * dy) / det
}

fn cell_at(x: f64, y: f64, cell: f64) -> (i64, i64) {
    ((x / cell).floor() as i64, (y / cell).floor() as i64)
}

/// A confirmed track in a marked cell, with its position now.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    cell: (i64, i64),
    /// Index in the track table.
    i: usize,
    x: f64,
    y: f64,
}

/// A track's position carried to `now` at its velocity (tracks are updated at different
/// times by different sensors; a 5 m/s boat moves 10 m between two radars' scans).
fn at(tr: &Track, now: EventTime) -> (f64, f64) {
    let dt = now.secs_since(tr.t).max(0.0);
    let (x, y) = tr.pos();
    let (vx, vy) = tr.vel();
    (x + vx * dt, y + vy * dt)
}

/// (kept, merged away): the identified one stays, else the older.
fn keep_first(a: &Track, b: &Track) -> (u64, u64) {
    match (a.mmsi, b.mmsi) {
        (None, Some(_)) => (b.id, a.id),
        (Some(_), None) => (a.id, b.id),
        _ => (a.id.min(b.id), a.id.max(b.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::testing::track;

    fn at_s(s: f64) -> EventTime {
        EventTime((s * 1e6) as i64)
    }

    /// Runs the merger once a second for `secs` over tracks placed by `place(t)`.
    fn run(place: impl FnMut(f64) -> Vec<Track>, secs: u32) -> Vec<u64> {
        run_with(Merger::new(&TrackerConfig::default()), place, secs)
    }

    fn run_with(mut m: Merger, mut place: impl FnMut(f64) -> Vec<Track>, secs: u32) -> Vec<u64> {
        let mut gone = vec![];
        for s in 0..=secs {
            let tracks = place(s as f64);
            gone.clear();
            m.twins(&tracks, at_s(s as f64), &mut gone);
            if !gone.is_empty() {
                return gone;
            }
        }
        gone
    }

    fn confirmed(id: u64, x: [f64; 4], var: f64, t: f64) -> Track {
        track(id, x, [var, var, 0.5, 0.5], t, true)
    }

    #[test]
    fn twins_on_one_boat_merge_into_the_older_after_the_wait() {
        let cfg = TrackerConfig::default();
        // Two tracks 25 m apart on a boat drifting at 0.5 m/s, positions known to ±15 m.
        let gone = run(
            |t| {
                vec![
                    confirmed(7, [0.5 * t, 0.0, 0.5, 0.0], 225.0, t),
                    confirmed(9, [0.5 * t + 15.0, 20.0, 0.4, 0.1], 225.0, t),
                ]
            },
            60,
        );
        assert_eq!(gone, [9]);
        // Not before the wait (the first tick counts nothing: no time has passed), and by
        // the first tick after it.
        let still = |t: f64| {
            vec![
                confirmed(7, [0.0, 0.0, 0.0, 0.0], 225.0, t),
                confirmed(9, [15.0, 20.0, 0.0, 0.0], 225.0, t),
            ]
        };
        assert!(run(still, cfg.merge_after_s as u32 - 1).is_empty());
        assert_eq!(run(still, (cfg.merge_after_s + TICK_S) as u32), [9]);
    }

    /// Two boats each followed for five minutes that come together and run alike (a
    /// shallow crossing, tracks pulled together while they share plots) are two objects;
    /// the same pair with one track begun ten seconds before is a twin.
    #[test]
    fn tracks_that_meet_after_minutes_apart_are_not_twins() {
        let pair = |born_second: f64, t: f64| {
            let mut b = confirmed(9, [15.0, 20.0, 3.0, 0.2], 225.0, t);
            b.born = at_s(born_second);
            vec![confirmed(7, [0.0, 0.0, 3.0, 0.0], 225.0, t), b]
        };
        for (born, merges) in [(0.0, false), (290.0, true)] {
            let mut m = Merger::new(&TrackerConfig::default());
            let mut gone = Vec::new();
            for s in 300..400 {
                m.twins(&pair(born, s as f64), at_s(s as f64), &mut gone);
            }
            assert_eq!(
                gone.contains(&9),
                merges,
                "second track born at {born} s: {gone:?}"
            );
        }
    }

    #[test]
    fn separable_boats_buoys_and_crossings_do_not_merge() {
        // Side by side 150 m apart, even with far-radar uncertainty (±60 m).
        assert!(run(
            |t| vec![
                confirmed(1, [0.0, 0.0, 0.0, 0.0], 3600.0, t),
                confirmed(2, [150.0, 0.0, 0.0, 0.0], 3600.0, t),
            ],
            120
        )
        .is_empty());
        // 30 m apart but each known to ±5 m: two objects.
        assert!(run(
            |t| vec![
                confirmed(1, [0.0, 0.0, 0.0, 0.0], 25.0, t),
                confirmed(2, [30.0, 0.0, 0.0, 0.0], 25.0, t),
            ],
            120
        )
        .is_empty());
        // A boat at 5 kn passing 10 m from a buoy.
        assert!(run(
            |t| vec![
                confirmed(1, [0.0, 0.0, 0.0, 0.0], 225.0, t),
                confirmed(2, [2.57 * (t - 30.0), 10.0, 2.57, 0.0], 225.0, t),
            ],
            60
        )
        .is_empty());
        // Two AIS vessels with their own MMSIs, moored together.
        assert!(run(
            |t| {
                let mut a = confirmed(1, [0.0, 0.0, 0.0, 0.0], 225.0, t);
                let mut b = confirmed(2, [10.0, 0.0, 0.0, 0.0], 225.0, t);
                a.mmsi = Some(227000001);
                b.mmsi = Some(227000002);
                vec![a, b]
            },
            60
        )
        .is_empty());
    }

    #[test]
    fn a_dark_twin_of_an_ais_vessel_goes_and_the_vessel_stays() {
        let gone = run(
            |t| {
                let mut ship = confirmed(9, [5.0 * t, 0.0, 5.0, 0.0], 225.0, t);
                ship.mmsi = Some(228000111);
                vec![
                    confirmed(3, [5.0 * t + 20.0, 10.0, 5.0, 0.2], 225.0, t),
                    ship,
                ]
            },
            60,
        );
        assert_eq!(gone, [3], "the older dark track is the twin");
    }

    /// Contract-level case of `fixtures/probes/split-returns.toml`: a radar 9 km west (0.3°:
    /// 47 m across its beam, north-south here) feeds a dark track 65 m north of an AIS
    /// fishing boat, both at rest. Across the beam that is within the radar's error: one
    /// boat, the dark track goes. The same 65 m along the beam (15 m range error), or 65 m
    /// between two dark tracks, or 150 m across the beam, or no radar known: two objects.
    #[test]
    fn a_dark_track_within_the_radars_error_of_an_ais_vessel_is_its_echo() {
        let radar = RadarSite {
            bit: 1,
            x: -9000.0,
            y: 0.0,
            range_var: 225.0,
            bearing_var: 0.3f64.to_radians().powi(2),
        };
        let with_radar = || {
            let mut m = Merger::new(&TrackerConfig::default());
            m.set_sites(vec![radar]);
            m
        };
        let pair = |off: [f64; 2], ais: bool| {
            move |t: f64| {
                let mut boat = track(4, [0.0, 0.0, 0.0, 0.0], [25.0, 25.0, 0.5, 0.5], t, true);
                if ais {
                    boat.mmsi = Some(227300506);
                }
                let echo = track(
                    7,
                    [off[0], off[1], 0.0, 0.0],
                    [25.0, 25.0, 0.5, 0.5],
                    t,
                    true,
                );
                vec![boat, echo]
            }
        };
        assert_eq!(run_with(with_radar(), pair([0.0, 65.0], true), 60), [7]);
        assert!(
            run(pair([0.0, 65.0], true), 60).is_empty(),
            "no radar known"
        );
        assert!(run_with(with_radar(), pair([65.0, 0.0], true), 60).is_empty());
        assert!(run_with(with_radar(), pair([0.0, 65.0], false), 60).is_empty());
        assert!(run_with(with_radar(), pair([0.0, 150.0], true), 60).is_empty());
    }

    #[test]
    fn a_pair_that_parts_loses_its_evidence() {
        let cfg = TrackerConfig::default();
        let w = cfg.merge_after_s;
        // Alike for two thirds of the wait, apart as long, alike again: merged only a
        // whole wait after coming together again, not before.
        let place = |t: f64| {
            let apart = t > 2.0 * w / 3.0 && t <= 4.0 * w / 3.0;
            vec![
                confirmed(1, [0.0, 0.0, 0.0, 0.0], 225.0, t),
                confirmed(
                    2,
                    [if apart { 500.0 } else { 20.0 }, 0.0, 0.0, 0.0],
                    225.0,
                    t,
                ),
            ]
        };
        let back = (4.0 * w / 3.0).floor();
        assert!(run(place, (back + w) as u32 - 2).is_empty());
        assert_eq!(run(place, (back + w + TICK_S) as u32 + 1), [2]);
        // Alike most of the time, apart one tick in four (a jittering twin): merged.
        let gone = run(
            |t| {
                let x = if (t as u32) % 8 == 6 { 70.0 } else { 20.0 };
                vec![
                    confirmed(1, [0.0, 0.0, 0.0, 0.0], 225.0, t),
                    confirmed(2, [x, 0.0, 0.0, 0.0], 225.0, t),
                ]
            },
            (3.0 * w) as u32,
        );
        assert_eq!(gone, [2]);
    }
}
