//! The predictor: where a track will be at a later (or, for identity gating, earlier) time
//! under the constant-velocity model, with its covariance grown by white-noise acceleration.
//!
//! Two process noises: the steady one for a boat that keeps its course and speed, and the
//! manoeuvre one (much larger) for a boat that turns, stops or sets off. Which one a plot is
//! filtered under is the hypothesiser's and updater's decision; this only predicts.

use super::kalman::{ConstantVelocity, State};
use super::table::Track;
use crate::time::EventTime;
use adskalman::TransitionModelLinearNoControl;

/// Which process noise a prediction uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Motion {
    Steady,
    Manoeuvre,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Predictor {
    /// Spectral density of the steady model's acceleration noise (m²/s³).
    pub process_noise: f64,
    /// The same for a manoeuvring boat.
    pub manoeuvre_noise: f64,
}

impl Predictor {
    pub fn new(process_noise: f64, manoeuvre_noise: f64) -> Self {
        Predictor {
            process_noise,
            manoeuvre_noise,
        }
    }

    /// The noise of `motion`.
    pub fn noise(&self, motion: Motion) -> f64 {
        match motion {
            Motion::Steady => self.process_noise,
            Motion::Manoeuvre => self.manoeuvre_noise,
        }
    }

    /// A track's state predicted to `t`.
    pub fn predict(&self, tr: &Track, t: EventTime, motion: Motion) -> State {
        predict(&tr.state, tr.t, t, self.noise(motion))
    }
}

/// `state` (at `from`) predicted to `to` under process noise `q`. The same instant gives the
/// state itself, bit for bit.
pub fn predict(state: &State, from: EventTime, to: EventTime, q: f64) -> State {
    let dt = to.secs_since(from);
    if dt == 0.0 {
        return state.clone();
    }
    // Backwards (dt < 0) only for gating an AIS identity against a newer radar state.
    ConstantVelocity::new(dt, q).predict(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(t: f64) -> Track {
        crate::track::testing::track(1, [100.0, -50.0, 3.0, 4.0], [1.0; 4], t, true)
    }

    #[test]
    fn moves_with_the_velocity_and_grows_more_under_the_manoeuvre_noise() {
        let p = Predictor::new(0.05, 2.0);
        let tr = track(10.0);
        let same = p.predict(&tr, tr.t, Motion::Manoeuvre);
        assert_eq!(same.state(), tr.state.state());
        assert_eq!(same.covariance(), tr.state.covariance());
        let t = EventTime(12_500_000);
        let steady = p.predict(&tr, t, Motion::Steady);
        let x = steady.state();
        assert!((x[0] - 107.5).abs() < 1e-9 && (x[1] - -40.0).abs() < 1e-9);
        let man = p.predict(&tr, t, Motion::Manoeuvre);
        assert_eq!(man.state(), steady.state(), "the noise moves no estimate");
        for k in 0..4 {
            assert!(man.covariance()[(k, k)] > steady.covariance()[(k, k)]);
        }
        // Backwards, for identity gating: the position the track had.
        let back = p.predict(&tr, EventTime(8_000_000), Motion::Steady);
        assert!((back.state()[0] - 94.0).abs() < 1e-9);
    }
}
