//! AIS identity fusion: which track is which vessel (MMSI).
//!
//! A newly heard MMSI is matched against the radar tracks that have no identity yet (the
//! nearest inside the gate takes it); from then on its reports update that track. Tracks
//! without an MMSI are kept apart in id order: on a busy strait most tracks are AIS
//! vessels, and walking all of them for every newly heard MMSI was a tenth of a
//! 2,000-vessel replay.

use super::kalman::position_innovation;
use super::measurement::AisMeasurement;
use super::predictor::{Motion, Predictor};
use super::table::{Track, TrackTable};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// How far (m) from a radar track a new MMSI's report may be for the track to be tried at
/// all (the gate decides; this only spares the prediction).
const MATCH_REACH_M: f64 = 2_000.0;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identities {
    by_mmsi: FxHashMap<u32, u64>,
    /// Tracks without an MMSI, in id order: the candidates when a new MMSI is heard.
    anonymous: BTreeSet<u64>,
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
