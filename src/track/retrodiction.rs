//! Retrodiction: a contact observed *before* the track's state (a late sensor, contract §1)
//! updates the track where it belongs in time, without holding back anyone else's contacts.
//!
//! The track's state `x` (covariance `P`) is at its own time `t`; the contact `z = H x(t−Δ)
//! + w` was observed Δ seconds earlier. Bar-Shalom's one-step out-of-sequence update
//! ("Update with out-of-sequence measurements in tracking: exact solution", 2002, the B1
//! form): take the state back to the contact's time, `x_d = F(−Δ) x`,
//! `P_d = F(−Δ) P F(−Δ)ᵀ + Q(Δ)`; the innovation covariance is `S = H P_d Hᵀ + R`, the
//! cross-covariance between the state now and the contact `C = P F(−Δ)ᵀ Hᵀ`, and
//! `x ← x + C S⁻¹ (z − H x_d)`, `P ← P − C S⁻¹ Cᵀ`.
//!
//! Why this and not reprocessing (keep each track's last updates and run them again with
//! the late one in its place): reprocessing is exact, but every track would carry its
//! history, and the undo of a scan (`Tracker::begin_scan`) clones each updated track, so
//! every plot of every scan would pay for a late sensor that most deployments do not have.
//! Here nothing is kept, and a late contact costs one small update. The process noise
//! between the two times enters `S` only (not the cross-covariance), which makes the update
//! slightly cautious; without process noise it is exact — the test below holds it to
//! filtering the same contacts in time order.

use super::kalman::{ConstantVelocity, State};
use adskalman::TransitionModelLinearNoControl;
use nalgebra::{SMatrix, SVector};

/// The out-of-sequence update of `s` with `z` (observation matrix `h`, error covariance
/// `r`), observed `back` seconds (≥ 0) before `s`, under acceleration noise `q`. Returns the
/// updated state (at `s`'s own time), the squared Mahalanobis distance of the innovation and
/// ln det S (for the track score), or `None` when S is not positive definite.
pub fn update_late<const M: usize>(
    s: &State,
    back: f64,
    q: f64,
    h: &SMatrix<f64, M, 4>,
    z: &SVector<f64, M>,
    r: &SMatrix<f64, M, M>,
) -> Option<(State, f64, f64)> {
    let model = ConstantVelocity::new(-back, q);
    let (f, qm) = (model.F(), model.Q());
    let (x, p) = (s.state(), s.covariance());
    let x_back = f * x;
    let p_back = f * p * f.transpose() + qm;
    let innovation_cov = h * p_back * h.transpose() + r;
    let chol = innovation_cov.cholesky()?;
    let nu = z - h * x_back;
    let s_inv_nu = chol.solve(&nu);
    let d2 = nu.dot(&s_inv_nu);
    let ln_det = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let c = p * f.transpose() * h.transpose();
    let state = x + c * s_inv_nu;
    let cov = p - c * chol.solve(&c.transpose());
    // Symmetric by construction; rounding is not.
    let cov = (cov + cov.transpose()) * 0.5;
    if !(d2.is_finite() && cov.iter().all(|v| v.is_finite())) {
        return None;
    }
    Some((State::new(state, cov), d2, ln_det))
}

/// H for a position plot: the first two state components.
pub fn position_h() -> SMatrix<f64, 2, 4> {
    SMatrix::<f64, 2, 4>::new(1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::kalman::{update_pos_vel, update_position};
    use nalgebra::{Matrix2, Matrix4, Vector2, Vector4};
    use rand::{Rng, SeedableRng};

    fn start() -> State {
        State::new(
            Vector4::new(0.0, 0.0, 4.0, -2.0),
            Matrix4::from_diagonal(&Vector4::new(400.0, 400.0, 25.0, 25.0)),
        )
    }

    fn forward(s: &State, dt: f64, q: f64) -> State {
        ConstantVelocity::new(dt, q).predict(s)
    }

    /// Plots at 0, 2, 4, …, 20 s; the one at `late` comes last instead of in its turn.
    fn both_orders(q: f64, late: usize, seed: u64) -> (State, State, State) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let r = [[225.0, 40.0], [40.0, 900.0]];
        let plots: Vec<(f64, [f64; 2])> = (0..=10)
            .map(|k| {
                let t = 2.0 * k as f64;
                let z = [
                    4.0 * t + rng.random_range(-20.0..20.0),
                    -2.0 * t + rng.random_range(-30.0..30.0),
                ];
                (t, z)
            })
            .collect();
        let run = |order: &[usize]| {
            let (mut s, mut t) = (start(), 0.0);
            let mut without = None;
            for &k in order {
                let (tk, z) = plots[k];
                if tk < t {
                    without = Some(s.clone());
                    let (post, _, _) = update_late(
                        &s,
                        t - tk,
                        q,
                        &position_h(),
                        &Vector2::new(z[0], z[1]),
                        &Matrix2::new(r[0][0], r[0][1], r[1][0], r[1][1]),
                    )
                    .unwrap();
                    s = post;
                } else {
                    s = update_position(&forward(&s, tk - t, q), z, r).unwrap().0;
                    t = tk;
                }
            }
            (s, without)
        };
        let in_order: Vec<usize> = (0..=10).collect();
        let mut shuffled: Vec<usize> = (0..=10).filter(|&k| k != late).collect();
        shuffled.push(late);
        let (ordered, _) = run(&in_order);
        let (retro, without) = run(&shuffled);
        (ordered, retro, without.unwrap())
    }

    #[test]
    fn without_process_noise_a_late_plot_gives_what_it_would_have_in_its_turn() {
        for (late, seed) in [(8, 1), (9, 2), (7, 3)] {
            let (ordered, retro, _) = both_orders(0.0, late, seed);
            let dx = (ordered.state() - retro.state()).abs().max();
            let dp = (ordered.covariance() - retro.covariance()).abs().max();
            assert!(dx < 1e-6 && dp < 1e-6, "late {late}: dx {dx}, dP {dp}");
        }
    }

    #[test]
    fn with_process_noise_it_is_close_to_the_ordered_filter_and_never_overconfident() {
        for seed in 0..20 {
            let (ordered, retro, without) = both_orders(0.5, 9, seed);
            let err = (ordered.state() - retro.state()).fixed_rows::<2>(0).norm();
            let err_without = (ordered.state() - without.state())
                .fixed_rows::<2>(0)
                .norm();
            // Much nearer the in-order answer than leaving the plot out.
            assert!(
                err < 0.2 * err_without.max(1.0),
                "seed {seed}: {err} vs {err_without}"
            );
            // Cautious: never claims less position variance than the in-order filter.
            let (pr, po) = (retro.covariance(), ordered.covariance());
            assert!(pr[(0, 0)] >= po[(0, 0)] - 1e-9 && pr[(1, 1)] >= po[(1, 1)] - 1e-9);
            // And it used the plot: less variance than without it.
            assert!(pr[(0, 0)] < without.covariance()[(0, 0)]);
        }
    }

    #[test]
    fn a_late_ais_report_with_velocity_without_process_noise_is_exact() {
        let s0 = start();
        let (pos_var, vel_var) = (100.0, 0.25);
        let z1 = Vector4::new(9.0, -3.0, 4.2, -2.1);
        let z2 = Vector4::new(22.0, -9.0, 3.9, -1.8);
        // In order: report at 2 s, then at 5 s.
        let a = update_pos_vel(&forward(&s0, 2.0, 0.0), z1, pos_var, vel_var).unwrap();
        let ordered = update_pos_vel(&forward(&a, 3.0, 0.0), z2, pos_var, vel_var).unwrap();
        // The 2 s report arriving after the 5 s one.
        let b = update_pos_vel(&forward(&s0, 5.0, 0.0), z2, pos_var, vel_var).unwrap();
        let r = Matrix4::from_diagonal(&Vector4::new(pos_var, pos_var, vel_var, vel_var));
        let (retro, _, _) = update_late(&b, 3.0, 0.0, &Matrix4::identity(), &z1, &r).unwrap();
        assert!((ordered.state() - retro.state()).abs().max() < 1e-6);
        assert!((ordered.covariance() - retro.covariance()).abs().max() < 1e-6);
    }

    #[test]
    fn a_degenerate_covariance_is_refused_not_propagated() {
        let s = State::new(Vector4::zeros(), Matrix4::from_element(f64::NAN));
        let z = Vector2::new(1.0, 1.0);
        assert!(update_late(&s, 2.0, 0.1, &position_h(), &z, &Matrix2::identity()).is_none());
    }
}
