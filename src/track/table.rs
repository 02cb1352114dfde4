//! The live tracks: what a track is ([`Track`]), and the table that holds them, one vector
//! in id order with an id → position map.
//!
//! Why not a `BTreeMap<u64, Track>`: every AIS report and every plot update looks a track
//! up by id, and on a 2,000-vessel strait those B-tree searches (a dozen key comparisons
//! across three or four nodes) were a tenth of the tracker's instructions. Ids only grow
//! (a new track always has the largest), so pushing keeps the vector sorted and iteration
//! keeps the id order the B-tree gave: gating, identity matching and deletion visit tracks
//! in the same order as before, so outputs are unchanged. Tracks leave only in batches (at
//! housekeeping), when the map is rebuilt.

use super::imm::Modes;
use super::kalman::State;
use crate::time::EventTime;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Track {
    pub id: u64,
    #[serde(with = "super::kalman::state_serde")]
    pub state: State,
    /// Time of `state`.
    pub t: EventTime,
    pub confirmed: bool,
    /// Log-likelihood ratio of "real target" over "clutter".
    pub score: f64,
    /// Faded sum of its plots' squared Mahalanobis distances
    /// ([`NIS_FADE`](super::updater::NIS_FADE)): manoeuvre detection.
    pub nis: f64,
    pub hits: u32,
    pub born: EventTime,
    pub last_hit: EventTime,
    pub mmsi: Option<u32>,
    /// Which sensors fed it lately (for the alert: an officer judges a boat seen by two
    /// radars and AIS differently from one seen by one far radar).
    pub seen: Seen,
    /// The IMM's two model-conditioned estimates ([`super::imm`]), from the track's
    /// confirmation on; `state` is their combination. None when the IMM is off. Boxed: 336
    /// bytes inline made every track bigger, and moving and cloning tracks (the table, a
    /// scan's undo) cost 3 % more instructions on strait-200 with the IMM off.
    pub modes: Option<Box<Modes>>,
}

/// The sensors that contributed to a track lately: a bit per radar or camera (its index in
/// the configuration, the first 31) and [`Seen::AIS`], over the current and the previous
/// window of [`Seen::WINDOW_S`] of event time — so "lately" is the last one to two minutes,
/// kept in 12 bytes, without a list per track.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    current: u32,
    previous: u32,
    since: EventTime,
}

impl Seen {
    pub const AIS: u32 = 1 << 31;
    pub const WINDOW_S: f64 = 60.0;

    /// The bit of the radar at `index` in the configuration (none past the 31st).
    pub fn radar(index: usize) -> u32 {
        if index < 31 {
            1 << index
        } else {
            0
        }
    }

    /// Seen by `bits` at `t` and by nothing before.
    pub fn new(bits: u32, t: EventTime) -> Self {
        Seen {
            current: bits,
            previous: 0,
            since: t,
        }
    }

    /// Adds a contact from `bits` at `t`.
    pub fn saw(&mut self, bits: u32, t: EventTime) {
        let age = t.secs_since(self.since);
        if age >= Self::WINDOW_S {
            self.previous = if age < 2.0 * Self::WINDOW_S {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.since = t;
        }
        self.current |= bits;
    }

    /// The sensors of the last one to two windows.
    pub fn bits(&self) -> u32 {
        self.current | self.previous
    }
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
    pub(super) fn accept(&mut self, state: State, t: EventTime) {
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

#[derive(Default, Serialize, Deserialize)]
pub struct TrackTable {
    list: Vec<Track>,
    at: FxHashMap<u64, u32>,
}

impl TrackTable {
    pub fn get(&self, id: u64) -> Option<&Track> {
        self.at.get(&id).map(|&i| &self.list[i as usize])
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Track> {
        self.at.get(&id).map(|&i| &mut self.list[i as usize])
    }

    /// Adds a track whose id is larger than every id in the table.
    pub fn push(&mut self, tr: Track) {
        debug_assert!(self.list.last().is_none_or(|l| l.id < tr.id));
        self.at.insert(tr.id, self.list.len() as u32);
        self.list.push(tr);
    }

    /// Moves the tracks `dead` says to `out`, in id order; the rest keep theirs. Only the
    /// tracks after the first removed one change position (the young ones, mostly: dead
    /// tentative tracks are the newest).
    pub fn remove_where(&mut self, dead: impl Fn(&Track) -> bool, out: &mut Vec<Track>) {
        let Some(first) = self.list.iter().position(&dead) else {
            return;
        };
        let from = out.len();
        out.extend(self.list.extract_if(first.., |tr| dead(tr)));
        for tr in &out[from..] {
            self.at.remove(&tr.id);
        }
        for (i, tr) in self.list.iter().enumerate().skip(first) {
            self.at.insert(tr.id, i as u32);
        }
    }

    pub fn as_slice(&self) -> &[Track] {
        &self.list
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Track> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u64) -> Track {
        let mut tr = crate::track::testing::track(id, [0.0; 4], [1.0; 4], 0.0, false);
        tr.hits = id as u32;
        tr
    }

    #[test]
    fn seen_keeps_the_sensors_of_the_last_one_to_two_minutes() {
        let at = |s: f64| EventTime::from_secs(0).plus_secs(s);
        let mut seen = Seen::new(Seen::radar(0), at(0.0));
        seen.saw(Seen::AIS, at(30.0));
        assert_eq!(seen.bits(), 1 | Seen::AIS);
        // A new window at 65 s: the first window's sensors are still "lately".
        seen.saw(Seen::radar(2), at(65.0));
        assert_eq!(seen.bits(), 1 | 4 | Seen::AIS);
        // At 130 s the first window is two windows old: only radar 2 and what comes now.
        seen.saw(Seen::radar(1), at(130.0));
        assert_eq!(seen.bits(), 2 | 4);
        // After a silence of more than two windows nothing old is left.
        seen.saw(Seen::radar(1), at(400.0));
        assert_eq!(seen.bits(), 2);
        assert_eq!(Seen::radar(40), 0, "past the 31st radar: not named");
    }

    #[test]
    fn lookups_and_order_survive_removals() {
        let mut t = TrackTable::default();
        for id in 1..=10 {
            t.push(track(id));
        }
        let mut gone = Vec::new();
        t.remove_where(|tr| tr.id % 3 == 0, &mut gone);
        assert_eq!(gone.iter().map(|t| t.id).collect::<Vec<_>>(), [3, 6, 9]);
        assert_eq!(
            t.iter().map(|t| t.id).collect::<Vec<_>>(),
            [1, 2, 4, 5, 7, 8, 10]
        );
        for id in 1..=10 {
            assert_eq!(
                t.get(id).map(|tr| tr.hits),
                (id % 3 != 0).then_some(id as u32)
            );
        }
        t.push(track(11));
        t.get_mut(11).unwrap().hits = 99;
        assert_eq!(t.get(11).unwrap().hits, 99);
        assert_eq!(t.len(), 8);
        t.remove_where(|_| true, &mut gone);
        assert!(t.is_empty() && t.get(1).is_none());
    }
}
