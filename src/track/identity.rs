//! AIS identity fusion: which track is which vessel (MMSI), and which MMSIs cannot be
//! believed.
//!
//! A newly heard MMSI is matched against the radar tracks that have no identity yet (the
//! nearest inside the gate takes it); from then on its reports update that track. Tracks
//! without an MMSI are kept apart in id order: on a busy strait most tracks are AIS
//! vessels, and walking all of them for every newly heard MMSI was a tenth of a
//! 2,000-vessel replay.
//!
//! AIS is unauthenticated (contract §4): anyone can transmit a police boat's MMSI. A report
//! further from its track than the vessel could have gone since the track's last contact
//! ([`Reach`]) comes from a second transmitter, or contradicts the radar track it is fused
//! with. The MMSI is then *contested*: it leaves its track (which goes on as a dark track, so
//! an allow-list entry spares nobody; reports that agree with it still update it, so the
//! honest vessel stays in the picture), its other reports update and start nothing, and it
//! stays contested until it has told no contradiction for `alerts.identity_clear_s`.

use super::kalman::position_innovation;
use super::measurement::AisMeasurement;
use super::predictor::{Motion, Predictor};
use super::table::{Track, TrackTable};
use crate::time::EventTime;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

/// How far (m) from a radar track a new MMSI's report may be for the track to be tried at
/// all (the gate decides; this only spares the prediction).
const MATCH_REACH_M: f64 = 2_000.0;

/// How far a vessel can be from where it was: two positions of one MMSI further apart than
/// this come from two places at once.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reach {
    /// m/s.
    pub speed: f64,
    /// m.
    pub margin: f64,
}

impl Reach {
    /// Whether a vessel at `a` could be at `b`, whichever came first.
    /// On every AIS report of a fused MMSI: squared distances, no `hypot` (libm's was 4 %
    /// of a replay's instructions where it stood on the per-contact path).
    pub fn plausible(&self, a: (EventTime, [f64; 2]), b: (EventTime, [f64; 2])) -> bool {
        let (dx, dy) = (a.1[0] - b.1[0], a.1[1] - b.1[1]);
        let reach = self.margin + self.speed * b.0.secs_since(a.0).abs();
        dx * dx + dy * dy <= reach * reach
    }
}

/// An MMSI heard from two places at once.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Contested {
    /// When the contradiction was first seen.
    pub since: EventTime,
    /// The latest report that contradicted the one before it.
    pub last_contradiction: EventTime,
    /// The latest report heard (time, position): the next is judged against it, so reports
    /// alternating between two transmitters contradict each other every time.
    pub last: (EventTime, [f64; 2]),
    /// The track the MMSI was fused with when the contradiction began.
    pub track: Option<u64>,
}

/// A report that contradicted what came before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Contradiction {
    pub mmsi: u32,
    pub t: EventTime,
    /// This report's position.
    pub z: [f64; 2],
    /// Where the vessel was, by the track or the report it contradicts, and when.
    pub other: (EventTime, [f64; 2]),
    /// The track the MMSI was fused with when the conflict began.
    pub track: Option<u64>,
    /// The first contradiction of this conflict (the MMSI was trusted until now).
    pub first: bool,
    pub since: EventTime,
}

impl Contradiction {
    /// Distance (m) between the two positions.
    pub fn distance_m(&self) -> f64 {
        (self.z[0] - self.other.1[0]).hypot(self.z[1] - self.other.1[1])
    }

    /// The speed (m/s) a single vessel would have needed, with at least a second between.
    pub fn implied_speed(&self) -> f64 {
        self.distance_m() / self.t.secs_since(self.other.0).abs().max(1.0)
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Identities {
    by_mmsi: FxHashMap<u32, u64>,
    /// Tracks without an MMSI, in id order: the candidates when a new MMSI is heard.
    anonymous: BTreeSet<u64>,
    /// MMSIs in conflict, in MMSI order (cleared in a fixed order).
    contested: BTreeMap<u32, Contested>,
}

impl Identities {
    /// The track of a vessel already heard.
    pub fn track_of(&self, mmsi: u32) -> Option<u64> {
        self.by_mmsi.get(&mmsi).copied()
    }

    /// A new track without identity.
    pub fn add_anonymous(&mut self, id: u64) {
        self.anonymous.insert(id);
    }

    /// Track `id` is vessel `mmsi` from now on.
    pub fn fuse(&mut self, mmsi: u32, id: u64) {
        self.anonymous.remove(&id);
        self.by_mmsi.insert(mmsi, id);
    }

    /// Whether `mmsi` is in conflict now.
    pub fn contested(&self, mmsi: u32) -> Option<&Contested> {
        self.contested.get(&mmsi)
    }

    /// A report of a contested MMSI: remembered as the latest, and returned as a
    /// contradiction when it contradicts the one before (the conflict recurs). `None` for a
    /// trusted MMSI.
    pub fn hear_contested(
        &mut self,
        mmsi: u32,
        t: EventTime,
        z: [f64; 2],
        reach: &Reach,
    ) -> Option<Option<Contradiction>> {
        let c = self.contested.get_mut(&mmsi)?;
        let before = std::mem::replace(&mut c.last, (t, z));
        if reach.plausible(before, (t, z)) {
            return Some(None);
        }
        c.last_contradiction = c.last_contradiction.max(t);
        Some(Some(Contradiction {
            mmsi,
            t,
            z,
            other: before,
            track: c.track,
            first: false,
            since: c.since,
        }))
    }

    /// `mmsi`, fused with track `tr`, sent a report the track contradicts: the MMSI leaves
    /// the track (now anonymous, a dark radar track) and is contested from now on.
    pub fn contest(
        &mut self,
        tr: &mut Track,
        mmsi: u32,
        t: EventTime,
        z: [f64; 2],
    ) -> Contradiction {
        let other = (tr.t, [tr.pos().0, tr.pos().1]);
        tr.mmsi = None;
        self.by_mmsi.remove(&mmsi);
        self.anonymous.insert(tr.id);
        self.contested.insert(
            mmsi,
            Contested {
                since: t,
                last_contradiction: t,
                last: (t, z),
                track: Some(tr.id),
            },
        );
        Contradiction {
            mmsi,
            t,
            z,
            other,
            track: Some(tr.id),
            first: true,
            since: t,
        }
    }

    /// Takes back a conflict published by an earlier run (its latest retained event), so
    /// that a restart does not trust again an MMSI a second transmitter is copying.
    pub fn restore_contested(&mut self, mmsi: u32, c: Contested) {
        if let Some(id) = self.by_mmsi.remove(&mmsi) {
            self.anonymous.insert(id);
        }
        self.contested.entry(mmsi).or_insert(c);
    }

    /// Ends the conflicts whose contradiction has not recurred for `clear_s` at `now`;
    /// pushes their MMSIs, in order. Those MMSIs are trusted again from their next report.
    pub fn settle(&mut self, now: EventTime, clear_s: f64, settled: &mut Vec<u32>) {
        self.contested.retain(|&m, c| {
            let quiet = now.secs_since(c.last_contradiction) >= clear_s;
            if quiet {
                settled.push(m);
            }
            !quiet
        });
    }

    /// A track is gone (deleted, or taken back with its scan).
    pub fn forget(&mut self, tr: &Track) {
        match tr.mmsi {
            Some(m) => {
                self.by_mmsi.remove(&m);
            }
            None => {
                self.anonymous.remove(&tr.id);
            }
        }
    }

    /// The radar track (without identity) nearest an AIS report inside the gate.
    pub fn candidate(
        &self,
        tracks: &TrackTable,
        predictor: &Predictor,
        m: &AisMeasurement,
        pos_var: f64,
        gate: f64,
    ) -> Option<u64> {
        let r = [[pos_var, 0.0], [0.0, pos_var]];
        self.anonymous
            .iter()
            .filter_map(|&id| tracks.get(id))
            .filter(|tr| {
                let (x, y) = tr.pos();
                (x - m.z[0]).powi(2) + (y - m.z[1]).powi(2) < MATCH_REACH_M * MATCH_REACH_M
            })
            .filter_map(|tr| {
                let prior = predictor.predict(tr, m.t, Motion::Steady);
                let (d2, _) = position_innovation(&prior, m.z, r);
                (d2 <= gate).then_some((d2, tr.id))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::EventTime;

    fn track(id: u64, x: f64) -> Track {
        crate::track::testing::track(id, [x, 0.0, 0.0, 0.0], [225.0, 225.0, 1.0, 1.0], 0.0, true)
    }

    #[test]
    fn a_new_mmsi_goes_to_the_nearest_anonymous_track_in_the_gate() {
        let mut tracks = TrackTable::default();
        let mut ids = Identities::default();
        for (id, x) in [(1, 0.0), (2, 40.0), (3, 900.0)] {
            tracks.push(track(id, x));
            ids.add_anonymous(id);
        }
        let p = Predictor::new(0.05, 40.0);
        let m = |x: f64| AisMeasurement {
            t: EventTime(1_000_000),
            mmsi: 227006760,
            z: [x, 0.0],
            vel: None,
        };
        assert_eq!(ids.candidate(&tracks, &p, &m(30.0), 100.0, 13.8), Some(2));
        assert_eq!(
            ids.candidate(&tracks, &p, &m(500.0), 100.0, 13.8),
            None,
            "no track near"
        );
        ids.fuse(227006760, 2);
        assert_eq!(ids.track_of(227006760), Some(2));
        assert_eq!(
            ids.candidate(&tracks, &p, &m(30.0), 100.0, 13.8),
            Some(1),
            "2 is taken"
        );
        let mut two = track(2, 40.0);
        two.mmsi = Some(227006760);
        ids.forget(&two);
        assert_eq!(ids.track_of(227006760), None);
    }
}
