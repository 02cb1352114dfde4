//! The interacting multiple model filter (Blom & Bar-Shalom, 1988): each track carries two
//! constant-velocity filters, one with the steady process noise (a boat holding course and
//! speed) and one with a manoeuvre noise (a boat stopping, setting off, turning), and the
//! probability that the boat is moving as each says. At each contact the two estimates are
//! mixed according to how likely the boat is to have changed model since the last one
//! (interaction), each is predicted and updated under its own model, the probabilities are
//! updated with how well each model predicted the contact, and the track's state is the
//! probability-weighted moments of the two.
//!
//! Why: taxi-boats stop and start. A single filter is either too stiff (it lags a boat
//! that sets off, and its plots fall outside the gate) or too loose (it jitters around a
//! stopped boat, and the loiter rule measures jitter). The tracker used to switch to the
//! manoeuvre noise when a faded sum of innovations passed a threshold (a detector with one
//! tuned limit); the IMM weighs the two models continuously from the same innovations.
//!
//! Model changes are a two-state continuous-time Markov chain (mean time in each model),
//! so the transition probabilities follow the irregular intervals between contacts of
//! several radars and AIS exactly, instead of a per-scan matrix that assumes one rate.

use super::kalman::{ConstantVelocity, State};
use adskalman::TransitionModelLinearNoControl;
use nalgebra::{Matrix4, Vector4};
use serde::{Deserialize, Serialize};

/// The two models' parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Imm {
    /// Acceleration noise of each model, m²/s³: `[steady, manoeuvring]`.
    pub q: [f64; 2],
    /// Rate of leaving each model, 1/s (one over its mean sojourn).
    rate: [f64; 2],
}

/// A track's two model-conditioned estimates (at the track's time) and their
/// probabilities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Modes {
    #[serde(with = "super::kalman::state_serde::pair")]
    pub x: [State; 2],
    pub mu: [f64; 2],
}

/// The two models predicted to a contact's time, after interaction: what each model's
/// filter updates, and the predicted model probabilities.
pub struct Prior {
    pub x: [State; 2],
    pub c: [f64; 2],
}

impl Imm {
    /// Models with acceleration noises `q_steady` and `q_manoeuvre`, in which a boat stays
    /// `sojourn_s` seconds on average (`[steady, manoeuvring]`).
    pub fn new(q_steady: f64, q_manoeuvre: f64, sojourn_s: [f64; 2]) -> Self {
        Imm {
            q: [q_steady, q_manoeuvre],
            rate: [1.0 / sojourn_s[0].max(1e-3), 1.0 / sojourn_s[1].max(1e-3)],
        }
    }

    /// The models of a new track at `s`: both at `s`, with the chain's long-run
    /// probabilities (nothing yet says how this boat moves).
    pub fn start(&self, s: &State) -> Modes {
        let [a, b] = self.rate;
        Modes {
            x: [s.clone(), s.clone()],
            mu: [b / (a + b), a / (a + b)],
        }
    }

    /// `p[i][j]`: the probability of being in model `j` `dt` seconds after being in `i`.
    fn transition(&self, dt: f64) -> [[f64; 2]; 2] {
        let [a, b] = self.rate;
        let s = a + b;
        let e = (-s * dt.max(0.0)).exp();
        let (to1, to0) = (a / s * (1.0 - e), b / s * (1.0 - e));
        [[1.0 - to1, to1], [to0, 1.0 - to0]]
    }

    /// Interaction and prediction `dt` seconds ahead: each model's filter starts from the
    /// estimates mixed by the probability that the boat came from each model.
    pub fn predict(&self, m: &Modes, dt: f64) -> Prior {
        let p = self.transition(dt);
        let mut c = [0.0; 2];
        let mut x: [Option<State>; 2] = [None, None];
        for j in 0..2 {
            c[j] = p[0][j] * m.mu[0] + p[1][j] * m.mu[1];
            let w = if c[j] > 0.0 {
                [p[0][j] * m.mu[0] / c[j], p[1][j] * m.mu[1] / c[j]]
            } else {
                [0.5, 0.5]
            };
            let mixed = moments(&m.x, &w);
            x[j] = Some(if dt == 0.0 {
                mixed
            } else {
                ConstantVelocity::new(dt, self.q[j]).predict(&mixed)
            });
        }
        let [Some(x0), Some(x1)] = x else {
            unreachable!("both models predicted")
        };
        Prior { x: [x0, x1], c }
    }
}

impl Prior {
    /// Each model's prior updated by `update` (the posterior and the contact's
    /// log-likelihood under that model); a model `update` cannot apply to keeps its prior,
    /// with likelihood zero (log −∞).
    pub fn update_each(
        &self,
        mut update: impl FnMut(&State) -> Option<(State, f64)>,
    ) -> ([State; 2], [f64; 2]) {
        let (mut post, mut ll) = (self.x.clone(), [f64::NEG_INFINITY; 2]);
        for ((p, l), prior) in post.iter_mut().zip(&mut ll).zip(&self.x) {
            if let Some(u) = update(prior) {
                (*p, *l) = u;
            }
        }
        (post, ll)
    }
}

impl Modes {
    /// The track's state: the moments of the two estimates, weighted by their
    /// probabilities.
    pub fn combined(&self) -> State {
        moments(&self.x, &self.mu)
    }
}

/// New model probabilities from the predicted ones `c` and each model's log-likelihood of
/// the contact; and the log-likelihood of the contact under the mixture, ln Σ c_j N_j (the
/// track score's evidence). Log-sum-exp: a plot far from one model's prediction has a
/// likelihood that underflows.
pub fn posterior(c: [f64; 2], ll: [f64; 2]) -> ([f64; 2], f64) {
    let l = [c[0].ln() + ll[0], c[1].ln() + ll[1]];
    let top = l[0].max(l[1]);
    if !top.is_finite() {
        return (c, top);
    }
    let e = [(l[0] - top).exp(), (l[1] - top).exp()];
    let sum = e[0] + e[1];
    ([e[0] / sum, e[1] / sum], top + sum.ln())
}

/// ln N(ν; 0, S) without the 2π term, from the squared Mahalanobis distance and ln det S.
pub fn log_likelihood(d2: f64, ln_det: f64) -> f64 {
    -0.5 * (d2 + ln_det)
}

/// The mean and covariance of a two-component mixture (spread of the means included).
fn moments(x: &[State; 2], w: &[f64; 2]) -> State {
    let mean: Vector4<f64> = x[0].state() * w[0] + x[1].state() * w[1];
    let mut cov = Matrix4::zeros();
    for k in 0..2 {
        let d = x[k].state() - mean;
        cov += (x[k].covariance() + d * d.transpose()) * w[k];
    }
    State::new(mean, cov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::kalman::update_position;

    fn imm() -> Imm {
        Imm::new(0.05, 4.0, [60.0, 10.0])
    }

    /// One IMM cycle 2.5 s on, with a plot at `z`.
    fn step(m: &Imm, modes: &mut Modes, z: [f64; 2], r: [[f64; 2]; 2]) {
        let prior = m.predict(modes, 2.5);
        let mut ll = [0.0; 2];
        for ((x, l), p) in modes.x.iter_mut().zip(&mut ll).zip(&prior.x) {
            let (post, d2, ln_det) = update_position(p, z, r).unwrap();
            (*x, *l) = (post, log_likelihood(d2, ln_det));
        }
        modes.mu = posterior(prior.c, ll).0;
    }

    #[test]
    fn transitions_are_a_markov_chain_over_any_interval() {
        let m = imm();
        for dt in [0.0, 0.5, 2.5, 10.0, 600.0] {
            let p = m.transition(dt);
            for row in p {
                assert!((row[0] + row[1] - 1.0).abs() < 1e-12 && row.iter().all(|&v| v >= 0.0));
            }
            // Two steps of dt are one of 2 dt (Chapman–Kolmogorov).
            let two = m.transition(2.0 * dt);
            let sq = p[0][0] * p[0][1] + p[0][1] * p[1][1];
            assert!((two[0][1] - sq).abs() < 1e-12, "{dt}");
        }
        assert_eq!(m.transition(0.0), [[1.0, 0.0], [0.0, 1.0]]);
        // Long after, the chain has forgotten where it was: its long-run probabilities.
        let far = m.transition(1e6);
        let start = m
            .start(&State::new(Vector4::zeros(), Matrix4::identity()))
            .mu;
        assert!((far[0][0] - start[0]).abs() < 1e-9 && (far[1][0] - start[0]).abs() < 1e-9);
    }

    #[test]
    fn equal_models_leave_the_single_filter_unchanged() {
        // With one noise for both models, the IMM is one Kalman filter.
        let m = Imm::new(0.05, 0.05, [60.0, 10.0]);
        let s0 = State::new(
            Vector4::new(0.0, 0.0, 3.0, 1.0),
            Matrix4::from_diagonal(&Vector4::new(100.0, 100.0, 4.0, 4.0)),
        );
        let (mut modes, mut single) = (m.start(&s0), s0);
        for k in 1..=20 {
            let z = [7.5 * k as f64 + 3.0, 2.5 * k as f64 - 4.0];
            let r = [[100.0, 0.0], [0.0, 100.0]];
            step(&m, &mut modes, z, r);
            single = update_position(&ConstantVelocity::new(2.5, 0.05).predict(&single), z, r)
                .unwrap()
                .0;
        }
        let c = modes.combined();
        assert!((c.state() - single.state()).norm() < 1e-9);
        assert!((c.covariance() - single.covariance()).norm() < 1e-9);
    }

    #[test]
    fn a_boat_that_stops_is_followed_faster_than_by_the_steady_filter_alone() {
        let m = imm();
        let s0 = State::new(
            Vector4::new(0.0, 0.0, 6.0, 0.0),
            Matrix4::from_diagonal(&Vector4::new(100.0, 100.0, 0.25, 0.25)),
        );
        let (mut modes, mut single) = (m.start(&s0), s0);
        let r = [[100.0, 0.0], [0.0, 100.0]];
        let mut x = 0.0;
        let mut mu_steady = 0.0;
        let (mut peak, mut speeds) = (0.0f64, vec![]);
        // 12 kn east for a minute, then stopped dead for two: plots without noise, so
        // what is measured is the filters' lag alone.
        for k in 0..72 {
            if k < 24 {
                x += 15.0;
            }
            step(&m, &mut modes, [x, 0.0], r);
            single = update_position(
                &ConstantVelocity::new(2.5, 0.05).predict(&single),
                [x, 0.0],
                r,
            )
            .unwrap()
            .0;
            if k == 23 {
                mu_steady = modes.mu[1];
            }
            if k >= 24 {
                peak = peak.max(modes.mu[1]);
                speeds.push((modes.combined().state()[2], single.state()[2]));
            }
        }
        assert!(
            peak > 4.0 * mu_steady,
            "the stop is a manoeuvre: {mu_steady} -> {peak}"
        );
        // Six scans (15 s) after the stop the IMM has the boat stopped; the steady filter
        // alone still has it moving.
        let (imm_v, single_v) = speeds[5];
        assert!(
            imm_v.abs() < 1.0 && single_v > 2.0 * imm_v.abs(),
            "{speeds:?}"
        );
        // Stopped for two minutes: the manoeuvre model has handed back.
        assert!(modes.mu[1] < 1.5 * mu_steady, "{:?}", modes.mu);
        assert!(modes.combined().state()[2].abs() < 0.1);
    }

    #[test]
    fn a_far_plot_does_not_underflow_the_probabilities() {
        let (mu, ll) = posterior([0.9, 0.1], [-5_000.0, -900.0]);
        assert!(mu[1] > 0.999 && mu.iter().all(|v| v.is_finite()), "{mu:?}");
        assert!(ll.is_finite());
    }
}
