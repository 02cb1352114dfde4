//! Kalman models for adskalman: constant velocity (white-noise acceleration) rebuilt for
//! each time step (predicted through adskalman's transition trait, its F P Fᵀ + Q written
//! out for this F), a position observation for plots and a position+velocity observation
//! for AIS reports that carry SOG/COG.
//!
//! The updates the tracker runs are closed forms of adskalman's Joseph-form update for
//! these two observations ([`update_position`], [`update_pos_vel`]): adskalman's update
//! cannot take the innovation covariance the tracker has already computed, and its general
//! products cost more than the rest of the update. Tests hold each to adskalman's
//! `ObservationModel::update` with the models below on random states.

#![allow(non_snake_case)] // adskalman's trait methods are named after the matrices.

use adskalman::{ObservationModel, StateAndCovariance, TransitionModelLinearNoControl};
use nalgebra::{Matrix2, Matrix2x4, Matrix4, Matrix4x2, Vector4, U2, U4};

/// State [east, north, v_east, v_north] in metres and m/s, with covariance.
pub type State = StateAndCovariance<f64, U4>;

/// serde for [`State`], which adskalman does not give: mean and covariance as plain
/// arrays, bit for bit, so that an engine restored from a snapshot (contract §9) predicts
/// exactly as the one that wrote it. Use with `#[serde(with = "state_serde")]`.
pub mod state_serde {
    use super::State;
    use nalgebra::{Matrix4, Vector4};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    pub(crate) struct Raw {
        x: [f64; 4],
        /// Column-major.
        p: [f64; 16],
    }

    impl Raw {
        pub(crate) fn of(s: &State) -> Raw {
            let mut r = Raw {
                x: [0.0; 4],
                p: [0.0; 16],
            };
            r.x.copy_from_slice(s.state().as_slice());
            r.p.copy_from_slice(s.covariance().as_slice());
            r
        }
        pub(crate) fn state(&self) -> State {
            State::new(
                Vector4::from_column_slice(&self.x),
                Matrix4::from_column_slice(&self.p),
            )
        }
    }

    pub fn serialize<S: Serializer>(s: &State, ser: S) -> Result<S::Ok, S::Error> {
        Raw::of(s).serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<State, D::Error> {
        Ok(Raw::deserialize(d)?.state())
    }

    /// The same for a pair (the IMM's two model-conditioned estimates).
    pub mod pair {
        use super::{Raw, State};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(s: &[State; 2], ser: S) -> Result<S::Ok, S::Error> {
            [Raw::of(&s[0]), Raw::of(&s[1])].serialize(ser)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[State; 2], D::Error> {
            let [a, b] = <[Raw; 2]>::deserialize(d)?;
            Ok([a.state(), b.state()])
        }
    }
}

/// Constant-velocity motion over `dt` seconds with acceleration noise `q` (m²/s³).
pub struct ConstantVelocity {
    dt: f64,
    f: Matrix4<f64>,
    ft: Matrix4<f64>,
    q: Matrix4<f64>,
}

impl ConstantVelocity {
    pub fn new(dt: f64, q: f64) -> Self {
        #[rustfmt::skip]
        let f = Matrix4::new(
            1.0, 0.0, dt, 0.0,
            0.0, 1.0, 0.0, dt,
            0.0, 0.0, 1.0, 0.0,
            0.0, 0.0, 0.0, 1.0,
        );
        // Going back in time (dt < 0: retrodiction, identity gating against a newer track)
        // adds uncertainty as going forward does: the noise that x(t − Δ) = x − Δ v leaves
        // has variance q Δ³/3 in position and q Δ in velocity, and their covariance changes
        // sign (−q Δ²/2). For dt > 0 these are the usual terms, bit for bit.
        let back = dt.abs();
        let (d2, d3) = (dt * back / 2.0, back * back * back / 3.0);
        #[rustfmt::skip]
        let qm = Matrix4::new(
            d3, 0.0, d2, 0.0,
            0.0, d3, 0.0, d2,
            d2, 0.0, back, 0.0,
            0.0, d2, 0.0, back,
        ) * q;
        ConstantVelocity {
            dt,
            f,
            ft: f.transpose(),
            q: qm,
        }
    }
}

impl TransitionModelLinearNoControl<f64, U4> for ConstantVelocity {
    fn F(&self) -> &Matrix4<f64> {
        &self.f
    }
    fn FT(&self) -> &Matrix4<f64> {
        &self.ft
    }
    fn Q(&self) -> &Matrix4<f64> {
        &self.q
    }

    /// F P Fᵀ + Q written out for this F, in place of adskalman's general products.
    ///
    /// Why: the general form multiplies two 4×4 matrices twice (128 multiplications, most
    /// by 0 or 1) and was 4 % of replaying the strait scene; here F only adds `dt` times
    /// the velocity rows and then columns, 16 multiplications. Same arithmetic as the
    /// general product for finite numbers (a term times 1 is itself, one times 0 adds
    /// zero, and the sums run in the same order), so the result is bit for bit
    /// adskalman's: a test holds it to the trait's own `predict` on random states.
    fn predict(&self, previous: &State) -> State {
        let dt = self.dt;
        let x = previous.state();
        let state = Vector4::new(x[0] + dt * x[2], x[1] + dt * x[3], x[2], x[3]);
        // Column-major storage: `p[column][row]`.
        let p = &previous.covariance().data.0;
        // F P: rows 0 and 1 gain dt times rows 2 and 3.
        let mut fp = *p;
        for col in fp.iter_mut() {
            col[0] += dt * col[2];
            col[1] += dt * col[3];
        }
        // (F P) Fᵀ: columns 0 and 1 gain dt times columns 2 and 3.
        let mut c = fp;
        for row in 0..4 {
            c[0][row] += dt * fp[2][row];
            c[1][row] += dt * fp[3][row];
        }
        let cov = Matrix4::from_data(nalgebra::ArrayStorage(c)) + self.q;
        State::new(state, cov)
    }
}

/// A position measurement with its 2×2 covariance.
pub struct PositionObservation {
    h: Matrix2x4<f64>,
    ht: Matrix4x2<f64>,
    r: Matrix2<f64>,
}

impl PositionObservation {
    pub fn new(r: [[f64; 2]; 2]) -> Self {
        let h = Matrix2x4::new(1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0);
        PositionObservation {
            h,
            ht: h.transpose(),
            r: Matrix2::new(r[0][0], r[0][1], r[1][0], r[1][1]),
        }
    }
}

impl ObservationModel<f64, U4, U2> for PositionObservation {
    fn H(&self) -> &Matrix2x4<f64> {
        &self.h
    }
    fn HT(&self) -> &Matrix4x2<f64> {
        &self.ht
    }
    fn R(&self) -> &Matrix2<f64> {
        &self.r
    }
}

/// Position and velocity measured together (AIS with SOG/COG).
pub struct PosVelObservation {
    h: Matrix4<f64>,
    r: Matrix4<f64>,
}

impl PosVelObservation {
    pub fn new(pos_var: f64, vel_var: f64) -> Self {
        PosVelObservation {
            h: Matrix4::identity(),
            r: Matrix4::from_diagonal(&Vector4::new(pos_var, pos_var, vel_var, vel_var)),
        }
    }
}

impl ObservationModel<f64, U4, U4> for PosVelObservation {
    fn H(&self) -> &Matrix4<f64> {
        &self.h
    }
    fn HT(&self) -> &Matrix4<f64> {
        &self.h
    }
    fn R(&self) -> &Matrix4<f64> {
        &self.r
    }
}

/// Squared Mahalanobis distance of a position `z` (covariance `r`) from the state's position,
/// and ln det of the innovation covariance S = P_pos + R. Because H only selects position,
/// H P Hᵀ is P's top-left block and S costs three additions: no matrix product.
pub fn position_innovation(s: &State, z: [f64; 2], r: [[f64; 2]; 2]) -> (f64, f64) {
    let p = s.covariance();
    let x = s.state();
    let (d2, det) = innovation([x[0], x[1]], [p[(0, 0)], p[(0, 1)], p[(1, 1)]], z, r);
    (d2, det.ln())
}

/// [`position_innovation`] of the state predicted `dt` seconds ahead with
/// [`ConstantVelocity`]`(dt, q)`, computing only the predicted position and its 2×2
/// covariance in closed form.
///
/// Why: gating tries every track near every plot and keeps few; building the whole 4×4
/// prediction (F P Fᵀ + Q) for each try was a fifth of the tracker's instructions on the
/// load scene. The filter update still predicts the whole state and covariance.
///
/// Returns det S, not its logarithm as [`position_innovation`] does: most tries fall
/// outside the gate and never need it (`ln` was 2 % of the engine on the load scene).
pub fn predicted_position_innovation(
    s: &State,
    dt: f64,
    q: f64,
    z: [f64; 2],
    r: [[f64; 2]; 2],
) -> (f64, f64) {
    let p = s.covariance();
    let x = s.state();
    // |dt|: a late plot is gated against the state taken back to its time, and going back
    // adds uncertainty as going forward does.
    let back = dt.abs();
    let qd = q * back * back * back / 3.0;
    let block = |i: usize, j: usize| {
        p[(i, j)] + dt * (p[(i, j + 2)] + p[(i + 2, j)]) + dt * dt * p[(i + 2, j + 2)]
    };
    innovation(
        [x[0] + x[2] * dt, x[1] + x[3] * dt],
        [block(0, 0) + qd, block(0, 1), block(1, 1) + qd],
        z,
        r,
    )
}

/// The Kalman update of `prior` with a position plot `z` (covariance `r`), Joseph form,
/// with the squared Mahalanobis distance and ln det S of the innovation it used; `None`
/// when S is not positive definite.
///
/// Why not adskalman's `update`: it builds S = H P Hᵀ + R with general 2×4 and 4×4
/// products and inverts it by Cholesky, after the tracker has already built the same S for
/// the track's score, so every plot update computed S twice (issue 3 asks once), and the
/// products were a tenth of the load scene's instructions. Here H only selects position, so
/// S is P's top-left block plus R and its inverse is the 2×2 adjugate. The equations are
/// adskalman's (`JosephForm`); a test holds this to its answer on random states.
pub fn update_position(prior: &State, z: [f64; 2], r: [[f64; 2]; 2]) -> Option<(State, f64, f64)> {
    let p = prior.covariance();
    let x = prior.state();
    let (a, b, c) = (
        p[(0, 0)] + r[0][0],
        p[(0, 1)] + r[0][1],
        p[(1, 1)] + r[1][1],
    );
    let det = a * c - b * b;
    if det.is_nan() || det <= 0.0 || a <= 0.0 {
        return None;
    }
    let (si00, si01, si11) = (c / det, -b / det, a / det);
    let nu = [z[0] - x[0], z[1] - x[1]];
    let d2 = (c * nu[0] * nu[0] - 2.0 * b * nu[0] * nu[1] + a * nu[1] * nu[1]) / det;
    // K = P Hᵀ S⁻¹: P's first two columns times S⁻¹.
    let mut k = Matrix4x2::zeros();
    for i in 0..4 {
        let (p0, p1) = (p[(i, 0)], p[(i, 1)]);
        k[(i, 0)] = p0 * si00 + p1 * si01;
        k[(i, 1)] = p0 * si01 + p1 * si11;
    }
    let state = x + k * nalgebra::Vector2::new(nu[0], nu[1]);
    // (I − K H) P (I − K H)ᵀ + K R Kᵀ.
    let mut ikh = Matrix4::identity();
    for i in 0..4 {
        ikh[(i, 0)] -= k[(i, 0)];
        ikh[(i, 1)] -= k[(i, 1)];
    }
    let rm = Matrix2::new(r[0][0], r[0][1], r[1][0], r[1][1]);
    let cov = mul_t(&mul(&ikh, p), &ikh) + k * rm * k.transpose();
    Some((State::new(state, cov), d2, det.ln()))
}

/// The Kalman update of `prior` with an AIS position and velocity `z` (independent errors
/// of variance `pos_var` and `vel_var`), Joseph form; `None` when S is not positive
/// definite.
///
/// Why not adskalman's `update`: with H the identity, its nine general 4×4 products
/// (H P Hᵀ, P Hᵀ S⁻¹, K H, …) reduce to S = P + R, K = P S⁻¹ and the Joseph form, four
/// products; adskalman's update was a twelfth of a 2,000-AIS-vessel replay. Same equations,
/// held to adskalman's answer by a test.
pub fn update_pos_vel(prior: &State, z: Vector4<f64>, pos_var: f64, vel_var: f64) -> Option<State> {
    let p = prior.covariance();
    let r = Vector4::new(pos_var, pos_var, vel_var, vel_var);
    let s = p + Matrix4::from_diagonal(&r);
    let s_inv = nalgebra::linalg::Cholesky::new(s)?.inverse();
    let k = mul(p, &s_inv);
    let state = prior.state() + k * (z - prior.state());
    let ik = Matrix4::identity() - k;
    // K R Kᵀ with R diagonal: columns of K scaled.
    let kr = Matrix4::from_fn(|i, j| k[(i, j)] * r[j]);
    let cov = mul_t(&mul(&ik, p), &ik) + mul_t(&kr, &k);
    Some(State::new(state, cov))
}

/// The squared Mahalanobis distance and ln det S of the innovation of an AIS position and
/// velocity `z` against `prior` (S = P + R, as in [`update_pos_vel`]): how well a model
/// predicted the report, for the IMM. Apart from the update, which without the IMM never
/// needs it (measured: 2 % of strait-200's instructions when computed on every report).
pub fn pos_vel_fit(
    prior: &State,
    z: Vector4<f64>,
    pos_var: f64,
    vel_var: f64,
) -> Option<(f64, f64)> {
    let r = Vector4::new(pos_var, pos_var, vel_var, vel_var);
    let chol = nalgebra::linalg::Cholesky::new(prior.covariance() + Matrix4::from_diagonal(&r))?;
    let nu = z - prior.state();
    let d2 = nu.dot(&chol.solve(&nu));
    let ln_det = 2.0
        * chol
            .l_dirty()
            .diagonal()
            .iter()
            .map(|v| v.ln())
            .sum::<f64>();
    Some((d2, ln_det))
}

/// A B for 4×4 matrices: each element summed over k in order, as nalgebra's product sums it,
/// written out so the compiler unrolls it. Why: nalgebra's generic product (through its
/// GEMM and the storage copies around it) was 5 % of the instructions of replaying the
/// strait scene, and these products are most of the AIS update's work.
fn mul(a: &Matrix4<f64>, b: &Matrix4<f64>) -> Matrix4<f64> {
    // Storage is column-major: `.0[column][row]`.
    let (a, b) = (&a.data.0, &b.data.0);
    Matrix4::from_fn(|i, j| {
        a[0][i] * b[j][0] + a[1][i] * b[j][1] + a[2][i] * b[j][2] + a[3][i] * b[j][3]
    })
}

/// A Bᵀ for 4×4 matrices, as [`mul`].
fn mul_t(a: &Matrix4<f64>, b: &Matrix4<f64>) -> Matrix4<f64> {
    let (a, b) = (&a.data.0, &b.data.0);
    Matrix4::from_fn(|i, j| {
        a[0][i] * b[0][j] + a[1][i] * b[1][j] + a[2][i] * b[2][j] + a[3][i] * b[3][j]
    })
}

/// Squared Mahalanobis distance and det S (1 when S is not positive definite, whose
/// distance is infinite).
fn innovation(x: [f64; 2], p: [f64; 3], z: [f64; 2], r: [[f64; 2]; 2]) -> (f64, f64) {
    let (a, b, c) = (p[0] + r[0][0], p[1] + r[0][1], p[2] + r[1][1]);
    let det = a * c - b * b;
    if det.is_nan() || det <= 0.0 {
        return (f64::INFINITY, 1.0);
    }
    let (dx, dy) = (z[0] - x[0], z[1] - x[1]);
    let d2 = (c * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / det;
    (d2, det)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adskalman::CovarianceUpdateMethod;

    #[test]
    fn filter_converges_on_a_straight_run() {
        let mut s = State::new(
            Vector4::new(0.0, 0.0, 0.0, 0.0),
            Matrix4::from_diagonal(&Vector4::new(400.0, 400.0, 36.0, 36.0)),
        );
        let obs = PositionObservation::new([[100.0, 0.0], [0.0, 100.0]]);
        for k in 1..=40 {
            let t = k as f64 * 2.5;
            s = ConstantVelocity::new(2.5, 0.05).predict(&s);
            let z = nalgebra::Vector2::new(3.0 * t, -t);
            s = obs
                .update(&s, &z, CovarianceUpdateMethod::JosephForm)
                .unwrap();
        }
        assert!((s.state()[2] - 3.0).abs() < 0.05 && (s.state()[3] + 1.0).abs() < 0.05);
        let (d2, _) = position_innovation(&s, [300.0, -100.0], [[100.0, 0.0], [0.0, 100.0]]);
        assert!(d2 < 1.0);
    }

    /// A random state: covariance A Aᵀ + εI (positive definite), position within 10 km.
    fn random_state(rng: &mut impl rand::Rng) -> State {
        let a = Matrix4::from_fn(|_, _| rng.random_range(-20.0..20.0));
        let p = a * a.transpose() + Matrix4::identity() * 0.1;
        State::new(Vector4::from_fn(|_, _| rng.random_range(-1e4..1e4)), p)
    }

    /// Ours equals adskalman's to 1e-9, relative to the prior's size.
    fn assert_same(ours: &State, theirs: &State, prior: &State) {
        let scale = 1.0 + prior.state().norm();
        assert!((ours.state() - theirs.state()).norm() < 1e-9 * scale);
        let scale = prior.covariance().norm();
        assert!((ours.covariance() - theirs.covariance()).norm() < 1e-9 * scale);
    }

    /// The same model without its own `predict`: adskalman's general F P Fᵀ + Q.
    struct GeneralPrediction(ConstantVelocity);

    impl TransitionModelLinearNoControl<f64, U4> for GeneralPrediction {
        fn F(&self) -> &Matrix4<f64> {
            self.0.F()
        }
        fn FT(&self) -> &Matrix4<f64> {
            self.0.FT()
        }
        fn Q(&self) -> &Matrix4<f64> {
            self.0.Q()
        }
    }

    #[test]
    fn written_out_prediction_is_adskalmans_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for i in 0..2_000 {
            let prior = random_state(&mut rng);
            // Forwards and backwards (gating an AIS identity against a newer state).
            let dt = rng.random_range(-30.0..120.0);
            let q = rng.random_range(0.0..2.0);
            let ours = ConstantVelocity::new(dt, q).predict(&prior);
            let theirs = GeneralPrediction(ConstantVelocity::new(dt, q)).predict(&prior);
            assert_eq!(ours.state(), theirs.state(), "state, try {i}");
            assert_eq!(
                ours.covariance(),
                theirs.covariance(),
                "covariance, try {i}"
            );
        }
    }

    #[test]
    fn closed_form_update_equals_adskalman() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..2_000 {
            // A random state, a random plot covariance, a random plot.
            let prior = random_state(&mut rng);
            let x = *prior.state();
            let (sa, sb): (f64, f64) = (rng.random_range(1.0..400.0), rng.random_range(1.0..400.0));
            let rho = rng.random_range(-0.9..0.9) * (sa * sb).sqrt();
            let r = [[sa, rho], [rho, sb]];
            let z = [x[0] + rng.random_range(-300.0..300.0), x[1] - 50.0];
            let theirs = PositionObservation::new(r)
                .update(
                    &prior,
                    &nalgebra::Vector2::new(z[0], z[1]),
                    CovarianceUpdateMethod::JosephForm,
                )
                .unwrap();
            let (ours, d2, ln_det) = update_position(&prior, z, r).unwrap();
            assert_same(&ours, &theirs, &prior);
            let (d2_ref, ln_det_ref) = position_innovation(&prior, z, r);
            assert!((d2 - d2_ref).abs() <= 1e-12 * d2_ref.max(1.0));
            assert_eq!(ln_det, ln_det_ref);
        }
        // Not positive definite: no update, as adskalman refuses one.
        let flat = State::new(Vector4::zeros(), Matrix4::zeros());
        assert!(update_position(&flat, [1.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]).is_none());
    }

    #[test]
    fn pos_vel_update_equals_adskalman() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for _ in 0..2_000 {
            let prior = random_state(&mut rng);
            let x = *prior.state();
            let (pv, vv) = (rng.random_range(1.0..400.0), rng.random_range(0.01..4.0));
            let z = x + Vector4::from_fn(|_, _| rng.random_range(-50.0..50.0));
            let theirs = PosVelObservation::new(pv, vv)
                .update(&prior, &z, CovarianceUpdateMethod::JosephForm)
                .unwrap();
            let ours = update_pos_vel(&prior, z, pv, vv).unwrap();
            let (d2, ln_det) = pos_vel_fit(&prior, z, pv, vv).unwrap();
            assert_same(&ours, &theirs, &prior);
            // The innovation's statistics, from S built the long way.
            let s = prior.covariance() + Matrix4::from_diagonal(&Vector4::new(pv, pv, vv, vv));
            let nu = z - x;
            let d2_ref = nu.dot(&(s.try_inverse().unwrap() * nu));
            assert!(
                (d2 - d2_ref).abs() <= 1e-6 * d2_ref.max(1.0),
                "{d2} {d2_ref}"
            );
            assert!((ln_det - s.determinant().ln()).abs() < 1e-6);
        }
        let flat = State::new(Vector4::zeros(), Matrix4::zeros());
        assert!(update_pos_vel(&flat, Vector4::zeros(), 0.0, 0.0).is_none());
    }

    #[test]
    fn closed_form_gate_equals_the_full_prediction() {
        #[rustfmt::skip]
        let p = Matrix4::new(
            90.0, 12.0, 8.0, -3.0,
            12.0, 60.0, 2.0, 5.0,
            8.0, 2.0, 4.0, 0.5,
            -3.0, 5.0, 0.5, 3.0,
        );
        let s = State::new(Vector4::new(10.0, -20.0, 3.0, -1.5), p);
        let r = [[100.0, 20.0], [20.0, 50.0]];
        for (dt, q) in [(0.0, 0.05), (2.5, 0.05), (7.0, 2.0), (-1.0, 0.05)] {
            let full =
                position_innovation(&ConstantVelocity::new(dt, q).predict(&s), [25.0, -31.0], r);
            let fast = predicted_position_innovation(&s, dt, q, [25.0, -31.0], r);
            assert!(
                (full.0 - fast.0).abs() < 1e-9 * full.0,
                "{dt}: {full:?} {fast:?}"
            );
            assert!(
                (full.1 - fast.1.ln()).abs() < 1e-9,
                "{dt}: {full:?} {fast:?}"
            );
        }
    }
}
