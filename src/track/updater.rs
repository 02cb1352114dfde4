//! The updater: a track's state after the contact it was given, and what that contact says
//! of the track (its score, its manoeuvre statistic).
//!
//! Plots update position (converted-measurement Kalman update); AIS reports update position,
//! and velocity too when SOG and COG came with them. The updates are the closed forms in
//! [`super::kalman`] (adskalman's Joseph-form equations, tested against it).

use super::kalman::{update_pos_vel, update_position, State};
use super::measurement::{AisMeasurement, Measurement};
use super::predictor::{Motion, Predictor};
use super::retrodiction::{position_h, update_late};
use super::table::Track;
use nalgebra::{Matrix2, Matrix4, Vector2, Vector4};

/// Manoeuvre detection on the sequence of a track's plots (Bar-Shalom's fading-memory
/// normalised innovation): each plot's squared Mahalanobis distance is added to the track's
/// sum, which fades by this factor per plot (a memory of about five plots).
///
/// Why: a boat turning or speeding up far from the radars, where plots scatter ~100 m
/// across the beam, gives a run of innovations each inside the gate but all on one side;
/// the filter, told the boat keeps its velocity, lags until plots leave even the manoeuvre
/// gate and a new track takes the boat (busy-night's taxi-1 turning from 15 to 8 kn).
pub const NIS_FADE: f64 = 0.8;
/// The faded sum above which the plot is filtered under the manoeuvre noise: its 99.9 %
/// point when the boat does move as the model says (χ² with 2 degrees of freedom per plot,
/// faded; Monte Carlo), so a steady boat's filter is left alone. Swept on the scenes: 20
/// (its 99 % point) and 25 remove busy-night's one identity switch, 15 loses pickups, 30
/// keeps the switch.
pub const NIS_LIMIT: f64 = 25.0;

pub struct Updater {
    predictor: Predictor,
    /// AIS position error variance (m²).
    ais_pos_var: f64,
    /// AIS velocity error variance per axis ((m/s)²).
    ais_vel_var: f64,
}

impl Updater {
    pub fn new(predictor: Predictor, ais_sigma_m: f64, ais_velocity_sigma_mps: f64) -> Self {
        Updater {
            predictor,
            ais_pos_var: ais_sigma_m.powi(2),
            ais_vel_var: ais_velocity_sigma_mps.powi(2),
        }
    }

    /// Filters plot `p` into `tr` under `motion` (the association's hypothesis), and adds
    /// the plot's evidence to the track score.
    pub fn plot(&self, tr: &mut Track, p: &Measurement, motion: Motion) {
        let prior = self.predictor.predict(tr, p.t, motion);
        // One S for the filter and the score.
        let (mut post, d2, ln_det) =
            update_position(&prior, p.z, p.r).unwrap_or((prior, f64::INFINITY, 0.0));
        // A run of plots each inside the gate but all to one side is a manoeuvre the gate
        // alone does not see (each plot alone looks like noise): filter with the
        // manoeuvre noise until the innovations are small again.
        if d2.is_finite() {
            tr.nis = NIS_FADE * tr.nis + d2;
        }
        if motion == Motion::Steady && tr.confirmed && tr.nis > NIS_LIMIT {
            let prior = self.predictor.predict(tr, p.t, Motion::Manoeuvre);
            if let Some((m, _, _)) = update_position(&prior, p.z, p.r) {
                post = m;
            }
        }
        tr.accept(post, p.t);
        tr.score += evidence(p, d2, ln_det);
    }

    /// Filters into `tr` every plot it could have in an ambiguous cluster, each weighted by
    /// the probability that it is this track's, and "none of them" by `miss`
    /// ([`super::jpda`]): the state is the moments of that mixture (Bar-Shalom's PDA
    /// update, written for plots of different errors). `hard` (its index in `plots`) is the
    /// plot the assignment gave the track: its evidence goes to the track score, as for
    /// any plot taken. The manoeuvre detector is fed the expected innovation but does not
    /// switch the filter here: innovations of plots of uncertain origin are not a
    /// manoeuvre, and following them is how two crossing tracks swap.
    pub fn plots_weighted(
        &self,
        tr: &mut Track,
        plots: &[(&Measurement, Motion, f64)],
        miss: f64,
        hard: usize,
    ) {
        let t = plots[hard].0.t;
        let steady = self.predictor.predict(tr, t, Motion::Steady);
        let manoeuvre = plots
            .iter()
            .any(|c| c.1 == Motion::Manoeuvre)
            .then(|| self.predictor.predict(tr, t, Motion::Manoeuvre));
        let mut parts: Vec<(f64, State)> = Vec::with_capacity(plots.len() + 1);
        let (mut miss, mut nis, mut hard_fit) = (miss, 0.0, None);
        for (k, &(p, motion, w)) in plots.iter().enumerate() {
            let prior = match motion {
                Motion::Manoeuvre => manoeuvre.as_ref().unwrap_or(&steady),
                Motion::Steady => &steady,
            };
            match update_position(prior, p.z, p.r) {
                Some((post, d2, ln_det)) if p.t == t => {
                    if k == hard {
                        hard_fit = Some((d2, ln_det));
                    }
                    nis += w * d2;
                    parts.push((w, post));
                }
                _ => miss += w,
            }
        }
        let Some((d2, ln_det)) = hard_fit else {
            // The assignment's own plot does not fit (S not positive definite): as alone.
            return self.plot(tr, plots[hard].0, plots[hard].1);
        };
        parts.push((miss, steady));
        let total: f64 = parts.iter().map(|p| p.0).sum();
        let mut mean = Vector4::zeros();
        for (w, s) in &parts {
            mean += s.state() * (*w / total);
        }
        let mut cov = Matrix4::zeros();
        for (w, s) in &parts {
            let d = s.state() - mean;
            cov += (s.covariance() + d * d.transpose()) * (*w / total);
        }
        tr.nis = NIS_FADE * tr.nis + nis / total.max(f64::MIN_POSITIVE);
        tr.accept(State::new(mean, cov), t);
        tr.score += evidence(plots[hard].0, d2, ln_det);
    }

    /// Filters plot `p`, observed before the track's state (a late sensor, contract §1),
    /// into `tr` where it belongs in time ([`update_late`]); the track keeps its time, and
    /// the plot's evidence counts in its score as an in-order plot's does.
    pub fn late_plot(&self, tr: &mut Track, p: &Measurement) {
        let back = tr.t.secs_since(p.t).max(0.0);
        let z = Vector2::new(p.z[0], p.z[1]);
        let r = Matrix2::new(p.r[0][0], p.r[0][1], p.r[1][0], p.r[1][1]);
        let q = self.predictor.process_noise;
        let Some((post, d2, ln_det)) = update_late(&tr.state, back, q, &position_h(), &z, &r)
        else {
            return;
        };
        tr.state = post;
        tr.hits += 1;
        tr.score += evidence(p, d2, ln_det);
    }

    /// Filters AIS report `m`, observed before the track's state, into `tr` where it
    /// belongs in time, as [`late_plot`](Self::late_plot).
    fn late_ais(&self, tr: &mut Track, m: &AisMeasurement) {
        let back = tr.t.secs_since(m.t).max(0.0);
        let q = self.predictor.process_noise;
        let (pv, vv) = (self.ais_pos_var, self.ais_vel_var);
        let post = match m.vel {
            Some(v) => {
                let z = Vector4::new(m.z[0], m.z[1], v[0], v[1]);
                let r = Matrix4::from_diagonal(&Vector4::new(pv, pv, vv, vv));
                update_late(&tr.state, back, q, &Matrix4::identity(), &z, &r)
            }
            None => {
                let z = Vector2::new(m.z[0], m.z[1]);
                let r = Matrix2::new(pv, 0.0, 0.0, pv);
                update_late(&tr.state, back, q, &position_h(), &z, &r)
            }
        };
        if let Some((post, _, _)) = post {
            tr.state = post;
            tr.hits += 1;
        }
    }

    /// Filters AIS report `m` into `tr`: in time order, or where it belongs in time when it
    /// is older than the track's state (AIS reaching vigie late, contract §1).
    pub fn ais(&self, tr: &mut Track, m: &AisMeasurement) {
        if m.t < tr.t {
            self.late_ais(tr, m);
            return;
        }
        let prior = self.predictor.predict(tr, m.t, Motion::Steady);
        let pos_var = self.ais_pos_var;
        let post = match m.vel {
            Some(v) => {
                let z = Vector4::new(m.z[0], m.z[1], v[0], v[1]);
                update_pos_vel(&prior, z, pos_var, self.ais_vel_var)
            }
            None => update_position(&prior, m.z, [[pos_var, 0.0], [0.0, pos_var]])
                .map(|(post, _, _)| post),
        }
        .unwrap_or(prior);
        tr.accept(post, m.t);
    }
}

/// What a plot says of its track being real: Δ score = ln( Pd · N(z; ẑ, S) / λ_clutter ),
/// from the innovation's squared Mahalanobis distance and ln det S.
fn evidence(p: &Measurement, d2: f64, ln_det: f64) -> f64 {
    p.pd.ln()
        - (2.0 * std::f64::consts::PI).ln()
        - 0.5 * ln_det
        - 0.5 * d2
        - p.clutter_density.max(1e-15).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::EventTime;
    use crate::track::testing::{self, plot};

    fn track(confirmed: bool) -> Track {
        testing::track(
            1,
            [0.0, 0.0, 5.0, 0.0],
            [100.0, 100.0, 0.5, 0.5],
            0.0,
            confirmed,
        )
    }

    fn updater() -> Updater {
        Updater::new(Predictor::new(0.05, 40.0), 10.0, 0.5)
    }

    #[test]
    fn a_plot_where_the_track_said_raises_its_score_and_takes_its_time() {
        let u = updater();
        let mut tr = track(true);
        u.plot(&mut tr, &plot(2.5, 12.5, 0.0), Motion::Steady);
        assert_eq!(
            (tr.t, tr.last_hit, tr.hits),
            (EventTime(2_500_000), EventTime(2_500_000), 4)
        );
        assert!(
            tr.score > 5.0,
            "a plot on the prediction is strong evidence: {}",
            tr.score
        );
        assert!(tr.nis < 0.1, "{}", tr.nis);
        let (x, _) = tr.pos();
        assert!((x - 12.5).abs() < 1e-6);
    }

    #[test]
    fn plots_all_to_one_side_switch_a_confirmed_track_to_the_manoeuvre_noise() {
        // The boat turned north at 10 m/s; each plot alone is inside the gate.
        let (u, mut steady_only) = (updater(), track(true));
        let mut tr = track(true);
        let mut t = 0.0;
        let mut exceeded = false;
        for k in 1..=8 {
            t += 2.5;
            let p = plot(t, 12.5 * k as f64, 25.0 * k as f64);
            u.plot(&mut tr, &p, Motion::Steady);
            exceeded |= tr.nis > NIS_LIMIT;
            // The same plots with the manoeuvre switch out of reach (a tentative track).
            steady_only.confirmed = false;
            u.plot(&mut steady_only, &p, Motion::Steady);
        }
        assert!(exceeded, "the faded sum crossed its limit");
        let lag = |tr: &Track| (tr.pos().1 - 200.0).abs();
        assert!(
            lag(&tr) < lag(&steady_only),
            "{} vs {}",
            lag(&tr),
            lag(&steady_only)
        );
    }

    #[test]
    fn ais_with_speed_and_course_sets_the_velocity() {
        let u = updater();
        let mut tr = track(true);
        let m = AisMeasurement {
            t: EventTime(2_000_000),
            mmsi: 227006760,
            z: [10.0, 0.0],
            vel: Some([0.0, 4.0]),
        };
        u.ais(&mut tr, &m);
        // Closer to what the vessel reported than to what the track believed.
        let (vx, vy) = tr.vel();
        let to = |a: f64, b: f64| (vx - a).hypot(vy - b);
        assert!(to(0.0, 4.0) < to(5.0, 0.0), "{vx} {vy}");
        assert_eq!(tr.t, m.t);
    }
}
