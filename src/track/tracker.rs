//! The tracker: one scan of plots, or one AIS report, through the components in turn, as
//! Stone Soup's trackers do — predict ([`Predictor`]), hypothesise ([`Hypothesiser`]: gate
//! with a grid over predicted positions, never all tracks × all plots), associate
//! ([`associate`]: Kuhn–Munkres per cluster, confirmed tracks first), update ([`Updater`]),
//! initiate and confirm ([`Initiator`]), fuse identities ([`Identities`]), delete
//! ([`Deleter`]). Each component has its own file and tests; this file only sequences them
//! and keeps what a scan must be able to take back.
//!
//! Tracks live in an id-ordered table (`table.rs`) so every iteration is in a fixed order:
//! the same input always gives the same tracks, whatever the hash seed.

use super::associator::associate;
use super::deleter::Deleter;
use super::hypothesiser::Hypothesiser;
use super::identity::{Contested, Contradiction, Identities, Reach};
use super::imm::Imm;
use super::initiator::Initiator;
use super::jpda::Jpda;
use super::measurement::{AisMeasurement, Measurement};
use super::merger::{Merger, RadarSite};
use super::predictor::{Motion, Predictor};
use super::table::{Seen, Track, TrackTable};
use super::updater::Updater;
use crate::config::{AisConfig, TrackerConfig};
use crate::time::EventTime;

/// What the tracker did, for metrics.
#[derive(Default, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackerStats {
    pub initiated: u64,
    pub confirmed: u64,
    pub deleted: u64,
    /// Of those deleted, merged into a twin on the same object.
    pub merged: u64,
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
    /// The report contradicts its MMSI's track or the report before it (two transmitters
    /// of one MMSI, contract §4); the track it updated, if it agrees with the track the
    /// MMSI had before the conflict (then it is the other transmitter that contradicts).
    Conflict(Contradiction, Option<u64>),
    /// A report of an MMSI in conflict that agrees with the one before it but not with the
    /// MMSI's former track: applied to no track.
    Contested,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Tracker {
    max_tracks: usize,
    gate: f64,
    ais_pos_var: f64,
    /// An AIS report up to this much older than its track's state still updates it.
    ais_lateness_s: f64,
    reach: Reach,
    predictor: Predictor,
    hypothesiser: Hypothesiser,
    updater: Updater,
    initiator: Initiator,
    deleter: Deleter,
    merger: Merger,
    jpda: Jpda,
    /// Reused: the ids the merger takes away at a tick.
    merged: Vec<u64>,
    identities: Identities,
    tracks: TrackTable,
    next_id: u64,
    pub stats: TrackerStats,
    /// Per plot of the last scan: in no confirmed track's gate (a clutter candidate).
    unclaimed: Vec<bool>,
    /// Per plot of the last scan: the track that took it (updated or started by it).
    taken_by: Vec<Option<u64>>,
    /// While a scan is open (see [`begin_scan`](Self::begin_scan)): how to take it back.
    undo: Option<ScanUndo>,
    /// The undo's track list between scans, kept for its capacity: a fresh one per scan
    /// grew by doubling to the ~400 tracks a busy scan updates, copying them each time
    /// (2.4 % of an offline replay's instructions on load-2000).
    #[serde(skip)]
    undo_spare: Vec<Track>,
}

/// What the tracker was before the open scan: the tracks its plots updated, as they were,
/// and the first id its plots could start.
#[derive(serde::Serialize, serde::Deserialize)]
struct ScanUndo {
    next_id: u64,
    stats: TrackerStats,
    before: Vec<Track>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig, ais: AisConfig) -> Self {
        let predictor = Predictor::new(cfg.process_noise, cfg.manoeuvre_noise);
        Tracker {
            max_tracks: cfg.max_tracks,
            gate: cfg.gate_chi2,
            ais_pos_var: ais.sigma_m.powi(2),
            ais_lateness_s: ais.max_lateness_s,
            reach: Reach {
                speed: ais.conflict_speed_kn * 1852.0 / 3600.0,
                margin: ais.conflict_margin_m,
            },
            predictor,
            hypothesiser: Hypothesiser::new(
                predictor,
                cfg.gate_chi2,
                cfg.coast_s,
                cfg.max_lateness_s,
            ),
            updater: Updater::new(
                predictor,
                cfg.imm.then(|| {
                    Imm::new(
                        cfg.process_noise,
                        cfg.imm_manoeuvre_noise,
                        [cfg.imm_steady_sojourn_s, cfg.imm_manoeuvre_sojourn_s],
                    )
                }),
                ais.sigma_m,
                ais.velocity_sigma_mps,
            ),
            initiator: Initiator::new(&cfg, &ais),
            deleter: Deleter::new(&cfg),
            merger: Merger::new(&cfg),
            jpda: Jpda::new(cfg.jpda_max_tracks),
            merged: Vec::new(),
            identities: Identities::default(),
            tracks: TrackTable::default(),
            next_id: 1,
            stats: TrackerStats::default(),
            unclaimed: Vec::new(),
            taken_by: Vec::new(),
            undo: None,
            undo_spare: Vec::new(),
        }
    }

    /// The radars' places and errors, in the tracker's frame: the merger judges a dark track
    /// beside an AIS vessel against them ([`Merger`]).
    pub fn set_radar_sites(&mut self, sites: Vec<RadarSite>) {
        self.merger.set_sites(sites);
    }

    /// Opens a scan: from here until [`end_scan`](Self::end_scan), [`plots`](Self::plots)
    /// remembers what it changes so that [`rollback_scan`](Self::rollback_scan) can take it
    /// back. Why: a scan may come as several sector messages, and a track near a sector
    /// boundary must get the plot an assignment over the whole scan would give it, whatever
    /// the message boundaries (issue 3: batching changes no track).
    pub fn begin_scan(&mut self) {
        self.end_scan();
        self.undo = Some(ScanUndo {
            next_id: self.next_id,
            stats: self.stats.clone(),
            before: std::mem::take(&mut self.undo_spare),
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
            self.identities.forget(tr);
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
        if let Some(mut u) = self.undo.take() {
            u.before.clear();
            self.undo_spare = u.before;
        }
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

    /// Processes the plots of one scan; pushes the ids of tracks it updated. With `initiate`
    /// false (a scan older than the picture), a plot no track takes starts nothing and is
    /// counted out of sequence.
    pub fn plots(&mut self, plots: &[Measurement], updated: &mut Vec<u64>, initiate: bool) {
        self.unclaimed.clear();
        self.taken_by.clear();
        self.taken_by.resize(plots.len(), None);
        if plots.is_empty() {
            return;
        }
        let h = self.hypothesiser.hypothesise(&self.tracks, plots);
        self.unclaimed.extend(h.near_confirmed.iter().map(|&n| !n));
        let no_plot = self.hypothesiser.max_cost();
        // Weighed before the assignment takes the edges: which tracks share plots.
        let weights = self.jpda.weigh(&h.edges, plots);
        let soft: Vec<_> = weights
            .iter()
            .map(|w| {
                let plots: Vec<_> = w
                    .plots
                    .iter()
                    .map(|&(i, b)| (h.edges[i].plot, motion(&h.edges[i]), b))
                    .collect();
                (w.track, plots, w.miss)
            })
            .collect();
        for e in associate(h.edges, &mut self.taken_by, no_plot) {
            match soft.binary_search_by_key(&e.track, |s| s.0) {
                Ok(k) if !e.late => {
                    let (_, ref ws, miss) = soft[k];
                    self.update_weighted(e.track, plots, ws, miss, (e.plot, motion(&e)));
                }
                _ => self.update_with_plot(e.track, &plots[e.plot], motion(&e), e.late),
            }
            updated.push(e.track);
        }
        for (j, p) in plots.iter().enumerate() {
            if self.taken_by[j].is_some() || h.near_confirmed[j] {
                continue;
            }
            if h.oos_only[j] && !h.has_edge[j] {
                self.stats.out_of_sequence += 1;
                continue;
            }
            if h.has_edge[j] {
                // Lost the assignment to another plot of a tentative track: a split.
                continue;
            }
            if !initiate {
                self.stats.out_of_sequence += 1;
                continue;
            }
            self.taken_by[j] = self.initiate(p);
        }
    }

    /// Updates track `id` with the plot `p` of this scan (in time order, or late) under
    /// `motion`.
    fn update_with_plot(&mut self, id: u64, p: &Measurement, motion: Motion, late: bool) {
        self.update(id, p, |u, tr| {
            if late {
                u.late_plot(tr, p);
            } else {
                u.plot(tr, p, motion);
            }
        });
    }

    /// [`update_with_plot`](Self::update_with_plot) for a track of an ambiguous cluster:
    /// with each plot it could have (plot index, hypothesis, probability) and the chance it
    /// had none ([`Jpda`]); `hard` is the plot the assignment gave it.
    fn update_weighted(
        &mut self,
        id: u64,
        plots: &[Measurement],
        ws: &[(usize, Motion, f64)],
        miss: f64,
        (hard, how): (usize, Motion),
    ) {
        let comps: Vec<_> = ws.iter().map(|&(j, m, b)| (&plots[j], m, b)).collect();
        self.update(id, &plots[hard], |u, tr| {
            match ws.iter().position(|w| w.0 == hard) {
                Some(k) => u.plots_weighted(tr, &comps, miss, k),
                None => u.plot(tr, &plots[hard], how),
            }
        });
    }

    /// What every plot update does around the filter's own (`filter`): keeps the track as
    /// it was for the open scan's undo, notes the sensor of the plot it `took`, and reviews
    /// its confirmation.
    fn update(&mut self, id: u64, took: &Measurement, filter: impl FnOnce(&Updater, &mut Track)) {
        let tr = self.tracks.get_mut(id).expect("assigned track exists");
        if let Some(u) = &mut self.undo {
            // A track takes one plot per scan, so this is its state before the scan.
            u.before.push(tr.clone());
        }
        filter(&self.updater, tr);
        tr.seen.saw(took.sensor, took.t);
        if self.initiator.review(tr) {
            self.stats.confirmed += 1;
        }
    }

    fn new_id(&mut self) -> Option<u64> {
        if self.tracks.len() >= self.max_tracks {
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
        self.tracks.push(self.initiator.from_plot(id, p));
        self.identities.add_anonymous(id);
        Some(id)
    }

    /// Applies an AIS position report: updates the vessel's track, or gives its identity to
    /// the radar track it matches, or starts a confirmed track for it.
    pub fn ais(&mut self, m: &AisMeasurement) -> AisOutcome {
        if let Some(c) = self
            .identities
            .hear_contested(m.mmsi, m.t, m.z, &self.reach)
        {
            // Reports that agree with the track the MMSI had keep that track up to date (the
            // honest vessel stays in the picture), but identify it no more: it stays dark.
            let mut updated = None;
            let own = self.identities.contested(m.mmsi).and_then(|c| c.track);
            if let Some(tr) = own.and_then(|id| self.tracks.get_mut(id)) {
                let (x, y) = tr.pos();
                if tr.t.secs_since(m.t) <= self.ais_lateness_s
                    && self.reach.plausible((tr.t, [x, y]), (m.t, m.z))
                {
                    self.updater.ais(tr, m);
                    tr.seen.saw(Seen::AIS, m.t);
                    updated = Some(tr.id);
                }
            }
            return match c {
                // Said from the other transmitter's side: an alert's place stays the copy's,
                // whichever of the two spoke last.
                Some(mut c) if updated.is_some() => {
                    (c.z, c.other) = (c.other.1, (c.t, c.z));
                    AisOutcome::Conflict(c, updated)
                }
                Some(c) => AisOutcome::Conflict(c, updated),
                None => updated.map_or(AisOutcome::Contested, AisOutcome::Updated),
            };
        }
        let id = match self.identities.track_of(m.mmsi) {
            Some(id) => {
                let tr = self
                    .tracks
                    .get_mut(id)
                    .expect("identities name only live tracks");
                let (x, y) = tr.pos();
                if !self.reach.plausible((tr.t, [x, y]), (m.t, m.z)) {
                    return AisOutcome::Conflict(
                        self.identities.contest(tr, m.mmsi, m.t, m.z),
                        None,
                    );
                }
                id
            }
            None => {
                let found = self.identities.candidate(
                    &self.tracks,
                    &self.predictor,
                    m,
                    self.ais_pos_var,
                    self.gate,
                );
                match found {
                    Some(id) => {
                        let tr = self.tracks.get_mut(id).expect("matched track exists");
                        tr.mmsi = Some(m.mmsi);
                        if !tr.confirmed {
                            tr.confirmed = true;
                            self.stats.confirmed += 1;
                        }
                        self.identities.fuse(m.mmsi, id);
                        id
                    }
                    None => return self.initiate_ais(m),
                }
            }
        };
        let tr = self
            .tracks
            .get_mut(id)
            .expect("identities name only live tracks");
        if tr.t.secs_since(m.t) > self.ais_lateness_s {
            self.stats.out_of_sequence += 1;
            return AisOutcome::OutOfSequence(id);
        }
        self.updater.ais(tr, m);
        tr.seen.saw(Seen::AIS, m.t);
        AisOutcome::Updated(id)
    }

    fn initiate_ais(&mut self, m: &AisMeasurement) -> AisOutcome {
        let Some(id) = self.new_id() else {
            return AisOutcome::Refused;
        };
        self.stats.confirmed += 1;
        self.tracks.push(self.initiator.from_ais(id, m));
        self.identities.fuse(m.mmsi, id);
        AisOutcome::Updated(id)
    }

    /// Whether `mmsi` is in conflict now.
    pub fn contested(&self, mmsi: u32) -> Option<&Contested> {
        self.identities.contested(mmsi)
    }

    /// Takes back a conflict an earlier run published (see
    /// [`Identities::restore_contested`]); the track that held the MMSI, if any, goes dark.
    pub fn restore_contested(&mut self, mmsi: u32, c: Contested) {
        if let Some(tr) = self
            .identities
            .track_of(mmsi)
            .and_then(|id| self.tracks.get_mut(id))
        {
            tr.mmsi = None;
        }
        self.identities.restore_contested(mmsi, c);
    }

    /// Ends the identity conflicts that have not recurred for `clear_s` at `now`.
    pub fn settle_identities(&mut self, now: EventTime, clear_s: f64, settled: &mut Vec<u32>) {
        self.identities.settle(now, clear_s, settled);
    }

    /// Deletes tracks that have gone without contact too long at event time `now`, and
    /// those merged into a twin on the same object (once per housekeeping tick).
    pub fn expire(&mut self, now: EventTime, deleted: &mut Vec<Track>) {
        let first = deleted.len();
        self.merged.clear();
        self.merger
            .twins(self.tracks.as_slice(), now, &mut self.merged);
        self.stats.merged += self.merged.len() as u64;
        let (deleter, merged) = (&self.deleter, &self.merged);
        self.tracks.remove_where(
            |tr| deleter.is_lost(tr, now) || merged.contains(&tr.id),
            deleted,
        );
        for tr in &deleted[first..] {
            self.identities.forget(tr);
            self.stats.deleted += 1;
        }
    }
}

/// The filter's hypothesis an association was made under.
fn motion(e: &super::hypothesiser::Edge) -> Motion {
    if e.manoeuvre {
        Motion::Manoeuvre
    } else {
        Motion::Steady
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::EventTime;
    use crate::track::testing::plot as meas;

    /// A scan processed in two parts, the first taken back before the whole, leaves the
    /// tracker exactly as one pass over the whole scan does: tracks, ids, counters.
    #[test]
    fn a_rolled_back_sector_leaves_no_trace() {
        let snapshot = |tr: &Tracker| {
            let tracks: Vec<String> = tr.tracks().map(|t| format!("{t:?}")).collect();
            (tracks, tr.next_id, tr.stats.clone(), tr.identities.clone())
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
            whole.plots(&scan, &mut upd, true);
            whole.end_scan();
            split.begin_scan();
            split.plots(&scan[..1], &mut upd, true);
            split.rollback_scan(|_| {});
            split.plots(&scan, &mut upd, true);
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
                true,
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
    fn ais_identity_joins_radar_track_and_old_reports_are_counted() {
        let mut tr = Tracker::new(TrackerConfig::default(), AisConfig::default());
        let mut upd = vec![];
        for k in 0..8 {
            tr.plots(&[meas(k as f64 * 2.5, 0.0, 0.0)], &mut upd, true);
        }
        // 11.5 s older than the track (state at 17.5 s): more than AIS may be late.
        let m = AisMeasurement {
            t: EventTime(6_000_000),
            mmsi: 227006760,
            z: [10.0, 5.0],
            vel: None,
        };
        assert!(matches!(tr.ais(&m), AisOutcome::OutOfSequence(1)));
        assert_eq!(tr.get(1).unwrap().mmsi, Some(227006760));
        assert_eq!(tr.stats.out_of_sequence, 1);
        // 8.5 s older: a late report, filtered in where it belongs; the track keeps its time.
        let hits = tr.get(1).unwrap().hits;
        let m2 = AisMeasurement {
            t: EventTime(9_000_000),
            ..m
        };
        assert!(matches!(tr.ais(&m2), AisOutcome::Updated(1)));
        let t1 = tr.get(1).unwrap();
        assert_eq!((t1.t, t1.hits), (EventTime(17_500_000), hits + 1));
        let m3 = AisMeasurement {
            t: EventTime(20_000_000),
            ..m
        };
        assert!(matches!(tr.ais(&m3), AisOutcome::Updated(1)));
        assert_eq!((tr.len(), tr.stats.out_of_sequence), (1, 1));
    }

    #[test]
    fn a_scan_from_the_past_updates_tracks_but_starts_none() {
        let mut tr = Tracker::new(TrackerConfig::default(), AisConfig::default());
        let mut upd = vec![];
        tr.plots(&[meas(0.0, 0.0, 0.0)], &mut upd, true);
        assert_eq!(tr.len(), 1);
        // Far from the track, not to be started: counted out of sequence instead.
        tr.plots(&[meas(2.5, 5_000.0, 0.0)], &mut upd, false);
        assert_eq!((tr.len(), tr.stats.out_of_sequence), (1, 1));
        // Near it: still updates it.
        tr.plots(&[meas(2.5, 3.0, 0.0)], &mut upd, false);
        assert_eq!(tr.get(1).unwrap().hits, 2);
    }

    /// An AIS report of `mmsi` at `t` s, `x` m east of the origin, without velocity.
    fn ais_at(mmsi: u32, t: f64, x: f64) -> AisMeasurement {
        AisMeasurement {
            t: EventTime::from_secs(0).plus_secs(t),
            mmsi,
            z: [x, 0.0],
            vel: None,
        }
    }

    /// Contract §4: one MMSI from two places 18 km apart, alternately. The first report from
    /// the second place contests the MMSI (its track goes dark); reports from the first place
    /// still update that track, those from the second update nothing; every switch between
    /// them is a contradiction, told from the second place's side; ten quiet minutes settle
    /// it and the MMSI returns to its track.
    #[test]
    fn one_mmsi_from_two_places_is_contested_then_settled() {
        let mut tr = Tracker::new(TrackerConfig::default(), AisConfig::default());
        let at = |t, x| ais_at(227000001, t, x);
        assert!(matches!(tr.ais(&at(0.0, 0.0)), AisOutcome::Updated(1)));
        assert!(matches!(tr.ais(&at(10.0, 1.0)), AisOutcome::Updated(1)));
        let AisOutcome::Conflict(c, None) = tr.ais(&at(13.0, 18_000.0)) else {
            panic!("18 km in 3 s is a second transmitter")
        };
        assert!(c.first && c.track == Some(1) && (c.distance_m() - 17_999.0).abs() < 1.0);
        assert_eq!(tr.get(1).unwrap().mmsi, None, "the track is dark now");
        assert!(tr.contested(227000001).is_some());
        // The first place again: updates track 1, and contradicts the report before it.
        let AisOutcome::Conflict(c, Some(1)) = tr.ais(&at(20.0, 2.0)) else {
            panic!("a contradiction that updates the own track")
        };
        assert_eq!(c.z, [18_000.0, 0.0], "told from the copy's side");
        assert!(!c.first);
        // The second place twice: a contradiction, then agreement with itself, no track.
        assert!(matches!(
            tr.ais(&at(23.0, 18_010.0)),
            AisOutcome::Conflict(_, None)
        ));
        assert!(matches!(tr.ais(&at(33.0, 18_020.0)), AisOutcome::Contested));
        assert_eq!(tr.len(), 1, "the copy starts no track");
        // Only the first place from now on: no contradiction after its first report.
        assert!(matches!(
            tr.ais(&at(40.0, 3.0)),
            AisOutcome::Conflict(_, Some(1))
        ));
        assert!(matches!(tr.ais(&at(50.0, 3.0)), AisOutcome::Updated(1)));
        let mut settled = Vec::new();
        tr.settle_identities(
            EventTime::from_secs(0).plus_secs(600.0),
            600.0,
            &mut settled,
        );
        assert!(
            settled.is_empty(),
            "600 s after the last contradiction, not before"
        );
        tr.settle_identities(
            EventTime::from_secs(0).plus_secs(640.0),
            600.0,
            &mut settled,
        );
        assert_eq!(settled.len(), 1);
        assert!(matches!(tr.ais(&at(650.0, 4.0)), AisOutcome::Updated(1)));
        assert_eq!(tr.get(1).unwrap().mmsi, Some(227000001), "trusted again");
    }

    /// What is not a conflict: a report late by 9 s, a vessel at 40 kn, a fix 300 m off.
    #[test]
    fn honest_reports_are_not_contradictions() {
        let mut tr = Tracker::new(TrackerConfig::default(), AisConfig::default());
        let at = |t, x| ais_at(235000002, t, x);
        let v = 40.0 * 1852.0 / 3600.0;
        for k in 0..30 {
            let t = 10.0 * k as f64;
            let out = tr.ais(&at(t, v * t + if k == 12 { 300.0 } else { 0.0 }));
            assert!(matches!(out, AisOutcome::Updated(1)), "{k}: {out:?}");
        }
        // 9 s behind the track's state: late, still used.
        let late = tr.ais(&at(281.0, v * 281.0));
        assert!(matches!(late, AisOutcome::Updated(1)), "{late:?}");
        let old = tr.ais(&at(275.0, v * 275.0));
        assert!(matches!(old, AisOutcome::OutOfSequence(1)), "{old:?}");
        assert!(tr.contested(235000002).is_none());
    }
}
