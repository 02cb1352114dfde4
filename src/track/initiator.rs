//! The initiator: new tracks, and when a tentative track becomes a confirmed one.
//!
//! A plot no track took starts a tentative track at the plot, at rest with a wide velocity
//! prior (one-point initiation). It is confirmed by a sequential log-likelihood ratio (the
//! score the updater keeps) and a minimum number of hits. An AIS report of an unknown
//! vessel starts a confirmed track at once: the vessel said it is there.

use super::kalman::State;
use super::measurement::{AisMeasurement, Measurement};
use super::table::{Seen, Track};
use crate::config::{AisConfig, TrackerConfig};
use crate::geo::KN_TO_MPS;
use nalgebra::{Matrix4, Vector4};

/// Minimum hits before a tentative track may be confirmed, whatever its score: two
/// clutter plots falling in one gate by chance must not make a track.
pub const CONFIRM_HITS: u32 = 3;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Initiator {
    /// Velocity variance of a new track per axis ((m/s)²).
    init_speed_var: f64,
    confirm_score: f64,
    max_speed_kn: f64,
    ais_pos_var: f64,
    ais_vel_var: f64,
}

impl Initiator {
    pub fn new(cfg: &TrackerConfig, ais: &AisConfig) -> Self {
        Initiator {
            init_speed_var: cfg.init_speed_sigma_mps.powi(2),
            confirm_score: cfg.confirm_score,
            max_speed_kn: cfg.max_speed_kn,
            ais_pos_var: ais.sigma_m.powi(2),
            ais_vel_var: ais.velocity_sigma_mps.powi(2),
        }
    }

    /// A tentative track `id` at plot `p`.
    pub fn from_plot(&self, id: u64, p: &Measurement) -> Track {
        let v = self.init_speed_var;
        let mut cov = Matrix4::from_diagonal(&Vector4::new(p.r[0][0], p.r[1][1], v, v));
        cov[(0, 1)] = p.r[0][1];
        cov[(1, 0)] = p.r[1][0];
        Track {
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
            seen: Seen::new(p.sensor, p.t),
            modes: None,
        }
    }

    /// A confirmed track `id` for the vessel that sent `m`.
    pub fn from_ais(&self, id: u64, m: &AisMeasurement) -> Track {
        let pos_var = self.ais_pos_var;
        let (v, vvar) = match m.vel {
            Some(v) => (v, self.ais_vel_var),
            None => ([0.0, 0.0], self.init_speed_var),
        };
        Track {
            id,
            state: State::new(
                Vector4::new(m.z[0], m.z[1], v[0], v[1]),
                Matrix4::from_diagonal(&Vector4::new(pos_var, pos_var, vvar, vvar)),
            ),
            t: m.t,
            confirmed: true,
            score: self.confirm_score,
            nis: 0.0,
            hits: 1,
            born: m.t,
            last_hit: m.t,
            mmsi: Some(m.mmsi),
            seen: Seen::new(Seen::AIS, m.t),
            modes: None,
        }
    }

    /// Decides a plot-updated track's standing; true when it has just been confirmed.
    ///
    /// No small boat does 60 kn: a dark track that claims to is clutter strung together
    /// (busy-night had confirmed "tracks" at 66-148 kn). It is not confirmed, or stops
    /// being so; AIS-identified tracks are vessels whatever their filter says.
    pub fn review(&self, tr: &mut Track) -> bool {
        let implausible = tr.mmsi.is_none() && tr.speed_mps() > self.max_speed_kn * KN_TO_MPS;
        if implausible {
            tr.confirmed = false;
        } else if !tr.confirmed && tr.hits >= CONFIRM_HITS && tr.score >= self.confirm_score {
            tr.confirmed = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::EventTime;

    fn initiator() -> Initiator {
        Initiator::new(&TrackerConfig::default(), &AisConfig::default())
    }

    fn plot() -> Measurement {
        Measurement {
            t: EventTime(5_000_000),
            z: [100.0, 200.0],
            r: [[225.0, 30.0], [30.0, 400.0]],
            pd: 0.8,
            clutter_density: 1e-9,
            sensor: 1,
        }
    }

    #[test]
    fn a_plot_starts_a_tentative_track_at_rest_with_the_plots_error() {
        let tr = initiator().from_plot(7, &plot());
        assert_eq!((tr.id, tr.confirmed, tr.hits, tr.mmsi), (7, false, 1, None));
        assert_eq!(tr.pos(), (100.0, 200.0));
        assert_eq!(tr.vel(), (0.0, 0.0));
        let p = tr.state.covariance();
        assert_eq!((p[(0, 0)], p[(0, 1)], p[(1, 1)]), (225.0, 30.0, 400.0));
    }

    #[test]
    fn confirmation_needs_hits_and_score_and_a_plausible_speed() {
        let i = initiator();
        let cfg = TrackerConfig::default();
        let mut tr = i.from_plot(1, &plot());
        tr.score = cfg.confirm_score + 1.0;
        assert!(
            !i.review(&mut tr),
            "one hit is not enough whatever the score"
        );
        tr.hits = CONFIRM_HITS;
        assert!(i.review(&mut tr) && tr.confirmed);
        assert!(!i.review(&mut tr), "confirmed once, not again");
        // A dark track at 70 kn is clutter strung together: no longer confirmed.
        tr.state.state_mut()[2] = 70.0 * KN_TO_MPS;
        assert!(!i.review(&mut tr) && !tr.confirmed);
        // The same speed with an AIS identity is a vessel (its filter may be off).
        tr.mmsi = Some(227006760);
        assert!(i.review(&mut tr) && tr.confirmed);
    }

    #[test]
    fn an_unknown_vessel_starts_confirmed_with_its_reported_velocity() {
        let m = AisMeasurement {
            t: EventTime(1),
            mmsi: 227006760,
            z: [1.0, 2.0],
            vel: Some([3.0, 4.0]),
        };
        let tr = initiator().from_ais(9, &m);
        assert!(tr.confirmed && tr.mmsi == Some(227006760));
        assert_eq!(tr.vel(), (3.0, 4.0));
    }
}
