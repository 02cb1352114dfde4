//! The deleter: when a track has gone too long without a contact to be believed.
//!
//! Three lives: a tentative track is clutter until shown otherwise (seconds); a confirmed
//! radar track may coast through a few missed scans and a short shadow (20 s: longer, its
//! gate takes the surf's clutter for the boat; `tracker.coast_s` says more);
//! an AIS vessel may coast between class B reports, which come only every 3 minutes at
//! anchor (minutes).

use super::table::Track;
use crate::config::TrackerConfig;
use crate::time::EventTime;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Deleter {
    tentative_timeout_s: f64,
    coast_s: f64,
    ais_coast_s: f64,
}

impl Deleter {
    pub fn new(cfg: &TrackerConfig) -> Self {
        Deleter {
            tentative_timeout_s: cfg.tentative_timeout_s,
            coast_s: cfg.coast_s,
            ais_coast_s: cfg.ais_coast_s,
        }
    }

    /// Whether `tr` is to be deleted at event time `now`.
    pub fn is_lost(&self, tr: &Track, now: EventTime) -> bool {
        let age = now.secs_since(tr.last_hit);
        match (tr.confirmed, tr.mmsi) {
            (false, _) => age > self.tentative_timeout_s,
            (true, None) => age > self.coast_s,
            (true, Some(_)) => age > self.ais_coast_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_track_has_its_own_life() {
        let cfg = TrackerConfig::default();
        let d = Deleter::new(&cfg);
        let mut tr = crate::track::testing::track(1, [0.0; 4], [1.0; 4], 0.0, false);
        let at = |s: f64| EventTime((s * 1e6) as i64);
        let just = |s: f64| (at(s), at(s + 0.001));
        let (before, after) = just(cfg.tentative_timeout_s);
        assert!(!d.is_lost(&tr, before) && d.is_lost(&tr, after));
        tr.confirmed = true;
        assert!(!d.is_lost(&tr, after), "a confirmed track coasts longer");
        let (before, after) = just(cfg.coast_s);
        assert!(!d.is_lost(&tr, before) && d.is_lost(&tr, after));
        tr.mmsi = Some(227006760);
        assert!(
            !d.is_lost(&tr, after),
            "an AIS vessel coasts between reports"
        );
        let (before, after) = just(cfg.ais_coast_s);
        assert!(!d.is_lost(&tr, before) && d.is_lost(&tr, after));
    }
}
