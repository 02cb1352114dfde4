//! The updater: a track's state after the contact it was given, and what that contact says
//! of the track (its score, and which motion model it supports).
//!
//! Plots update position (converted-measurement Kalman update); AIS reports update position,
//! and velocity too when SOG and COG came with them. The updates are the closed forms in
//! [`super::kalman`] (adskalman's Joseph-form equations, tested against it).
//!
//! By default one filter under the steady noise, switched to the manoeuvre noise by the
//! association's hypothesis or by the fading-memory detector below. With `tracker.imm` on
//! ([`super::imm`]) every update of a confirmed track runs on its two motion models and
//! its state is their combination; it is off by default because in heavy surf clutter its
//! manoeuvring model follows clutter (BENCHMARKS.md).

use super::imm::{log_likelihood, posterior, Imm, Modes, Prior};
use super::kalman::{pos_vel_fit, update_pos_vel, update_position, State};
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

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Updater {
    predictor: Predictor,
    /// The two motion models, when the IMM is on.
    imm: Option<Imm>,
    /// AIS position error variance (m²).
    ais_pos_var: f64,
    /// AIS velocity error variance per axis ((m/s)²).
    ais_vel_var: f64,
}

impl Updater {
    pub fn new(
        predictor: Predictor,
        imm: Option<Imm>,
        ais_sigma_m: f64,
        ais_velocity_sigma_mps: f64,
    ) -> Self {
        Updater {
            predictor,
            imm,
            ais_pos_var: ais_sigma_m.powi(2),
            ais_vel_var: ais_velocity_sigma_mps.powi(2),
        }
    }

    /// Filters plot `p` into `tr` under `motion` (the association's hypothesis; the IMM
    /// weighs its models itself and needs none), and adds the plot's evidence to the track
    /// score.
    pub fn plot(&self, tr: &mut Track, p: &Measurement, motion: Motion) {
        if let Some(prior) = self.imm_prior(tr, p.t) {
            let (post, ll) = prior.update_each(|x| {
                update_position(x, p.z, p.r).map(|(s, d2, ln_det)| (s, log_likelihood(d2, ln_det)))
            });
            let (mu, fit) = posterior(prior.c, ll);
            return self.accept_modes(tr, Modes { x: post, mu }, p.t, evidence(p, fit));
        }
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
        tr.score += evidence(p, log_likelihood(d2, ln_det));
    }

    /// The IMM's models of `tr` mixed and predicted to `t` (the models start from the
    /// track's state when it is confirmed); `None` when the IMM is off, or for a tentative
    /// track: a string of clutter plots is most likely under the manoeuvring model, and
    /// tentative tracks filtered by the IMM were confirmed more often and lived longer
    /// (storm, measured in BENCHMARKS.md).
    fn imm_prior(&self, tr: &mut Track, t: crate::time::EventTime) -> Option<Prior> {
        let imm = self.imm?;
        if !tr.confirmed {
            tr.modes = None;
            return None;
        }
        let modes = tr
            .modes
            .get_or_insert_with(|| Box::new(imm.start(&tr.state)));
        Some(imm.predict(modes, t.secs_since(tr.t)))
    }

    /// Takes the IMM's updated models: the track's state is their combination.
    fn accept_modes(&self, tr: &mut Track, modes: Modes, t: crate::time::EventTime, ev: f64) {
        tr.accept(modes.combined(), t);
        match &mut tr.modes {
            Some(m) => **m = modes,
            None => tr.modes = Some(Box::new(modes)),
        }
        tr.score += ev;
    }

    /// Filters into `tr` every plot it could have in an ambiguous cluster, each weighted by
    /// the probability that it is this track's, and "none of them" by `miss`
    /// ([`super::jpda`]): the state is the moments of that mixture (Bar-Shalom's PDA
    /// update, written for plots of different errors). `hard` (its index in `plots`) is the
    /// plot the assignment gave the track: its evidence goes to the track score, as for
    /// any plot taken. Neither the IMM's model probabilities nor the single filter's
    /// manoeuvre detector follow these plots (the detector is fed the expected innovation
    /// but does not switch): innovations of plots of uncertain origin are not a manoeuvre,
    /// and following them is how two crossing tracks swap.
    pub fn plots_weighted(
        &self,
        tr: &mut Track,
        plots: &[(&Measurement, Motion, f64)],
        miss: f64,
        hard: usize,
    ) {
        let t = plots[hard].0.t;
        if let Some(prior) = self.imm_prior(tr, t) {
            // Each model takes the weighted plots; the model probabilities stay as
            // predicted (plots of uncertain origin say nothing sure of how the boat moves).
            let (post, ll) =
                prior.update_each(|x| pda(|_| x, plots, miss, hard).map(|(s, fit, _)| (s, fit)));
            if ll.contains(&f64::NEG_INFINITY) {
                // The assignment's own plot does not fit a model: as alone.
                return self.plot(tr, plots[hard].0, plots[hard].1);
            }
            let fit = posterior(prior.c, ll).1;
            let modes = Modes {
                x: post,
                mu: prior.c,
            };
            return self.accept_modes(tr, modes, t, evidence(plots[hard].0, fit));
        }
        let steady = self.predictor.predict(tr, t, Motion::Steady);
        let manoeuvre = plots
            .iter()
            .any(|c| c.1 == Motion::Manoeuvre)
            .then(|| self.predictor.predict(tr, t, Motion::Manoeuvre));
        let prior = |m: Motion| match m {
            Motion::Manoeuvre => manoeuvre.as_ref().unwrap_or(&steady),
            Motion::Steady => &steady,
        };
        let Some((state, fit, nis)) = pda(prior, plots, miss, hard) else {
            // The assignment's own plot does not fit (S not positive definite): as alone.
            return self.plot(tr, plots[hard].0, plots[hard].1);
        };
        tr.nis = NIS_FADE * tr.nis + nis;
        tr.accept(state, t);
        tr.score += evidence(plots[hard].0, fit);
    }

    /// Filters plot `p`, observed before the track's state (a late sensor, contract §1),
    /// into `tr` where it belongs in time ([`update_late`]); the track keeps its time, and
    /// the plot's evidence counts in its score as an in-order plot's does.
    pub fn late_plot(&self, tr: &mut Track, p: &Measurement) {
        let z = Vector2::new(p.z[0], p.z[1]);
        let r = Matrix2::new(p.r[0][0], p.r[0][1], p.r[1][0], p.r[1][1]);
        if let Some(fit) = self.late(tr, p.t, &position_h(), &z, &r) {
            tr.hits += 1;
            tr.score += evidence(p, fit);
        }
    }

    /// Filters AIS report `m`, observed before the track's state, into `tr` where it
    /// belongs in time, as [`late_plot`](Self::late_plot).
    fn late_ais(&self, tr: &mut Track, m: &AisMeasurement) {
        let (pv, vv) = (self.ais_pos_var, self.ais_vel_var);
        let fit = match m.vel {
            Some(v) => {
                let z = Vector4::new(m.z[0], m.z[1], v[0], v[1]);
                let r = Matrix4::from_diagonal(&Vector4::new(pv, pv, vv, vv));
                self.late(tr, m.t, &Matrix4::identity(), &z, &r)
            }
            None => {
                let z = Vector2::new(m.z[0], m.z[1]);
                let r = Matrix2::new(pv, 0.0, 0.0, pv);
                self.late(tr, m.t, &position_h(), &z, &r)
            }
        };
        if fit.is_some() {
            tr.hits += 1;
        }
    }

    /// The out-of-sequence update of `tr` with `z` observed at `t` ([`update_late`]): of
    /// the single filter, or of each IMM model under its own noise (the model
    /// probabilities, which are the probabilities *now*, left as they are). The
    /// contact's log-likelihood, or `None` if it could not be applied.
    fn late<const M: usize>(
        &self,
        tr: &mut Track,
        t: crate::time::EventTime,
        h: &nalgebra::SMatrix<f64, M, 4>,
        z: &nalgebra::SVector<f64, M>,
        r: &nalgebra::SMatrix<f64, M, M>,
    ) -> Option<f64> {
        let back = tr.t.secs_since(t).max(0.0);
        let Some(imm) = self.imm else {
            let q = self.predictor.process_noise;
            let (post, d2, ln_det) = update_late(&tr.state, back, q, h, z, r)?;
            tr.state = post;
            return Some(log_likelihood(d2, ln_det));
        };
        let modes = tr
            .modes
            .get_or_insert_with(|| Box::new(imm.start(&tr.state)));
        let mut post = modes.x.clone();
        let mut ll = [0.0; 2];
        for j in 0..2 {
            let (s, d2, ln_det) = update_late(&modes.x[j], back, imm.q[j], h, z, r)?;
            (post[j], ll[j]) = (s, log_likelihood(d2, ln_det));
        }
        let fit = posterior(modes.mu, ll).1;
        modes.x = post;
        tr.state = modes.combined();
        Some(fit)
    }

    /// Filters AIS report `m` into `tr`: in time order, or where it belongs in time when it
    /// is older than the track's state (AIS reaching vigie late, contract §1).
    pub fn ais(&self, tr: &mut Track, m: &AisMeasurement) {
        if m.t < tr.t {
            self.late_ais(tr, m);
            return;
        }
        let pos_var = self.ais_pos_var;
        // The updated state, and with `fit` the report's log-likelihood (for the IMM).
        let update = |prior: &State, fit: bool| match m.vel {
            Some(v) => {
                let z = Vector4::new(m.z[0], m.z[1], v[0], v[1]);
                let post = update_pos_vel(prior, z, pos_var, self.ais_vel_var)?;
                let ll = match fit {
                    true => pos_vel_fit(prior, z, pos_var, self.ais_vel_var)
                        .map_or(f64::NEG_INFINITY, |(d2, ln_det)| log_likelihood(d2, ln_det)),
                    false => 0.0,
                };
                Some((post, ll))
            }
            None => update_position(prior, m.z, [[pos_var, 0.0], [0.0, pos_var]])
                .map(|(post, d2, ln_det)| (post, log_likelihood(d2, ln_det))),
        };
        if let Some(prior) = self.imm_prior(tr, m.t) {
            // A report's velocity is the clearest word on how the boat moves: the models
            // are weighed by the whole innovation, position and velocity.
            let (post, ll) = prior.update_each(|x| update(x, true));
            let mu = posterior(prior.c, ll).0;
            return self.accept_modes(tr, Modes { x: post, mu }, m.t, 0.0);
        }
        let prior = self.predictor.predict(tr, m.t, Motion::Steady);
        let post = update(&prior, false).map_or(prior, |u| u.0);
        tr.accept(post, m.t);
    }
}

/// The PDA update of a prior (`prior_of` gives it for each plot's hypothesis) with `plots`
/// weighted by their probabilities and "none of them" by `miss`: the moments of that
/// mixture, the log-likelihood of the plot at `hard` (for the score) and the expected
/// squared innovation (for the single filter's manoeuvre detector). `None` when `hard`
/// does not fit (S not positive definite).
fn pda<'a>(
    prior_of: impl Fn(Motion) -> &'a State,
    plots: &[(&Measurement, Motion, f64)],
    miss: f64,
    hard: usize,
) -> Option<(State, f64, f64)> {
    let t = plots[hard].0.t;
    let mut parts: Vec<(f64, State)> = Vec::with_capacity(plots.len() + 1);
    let (mut miss, mut nis, mut hard_fit) = (miss, 0.0, None);
    for (k, &(p, motion, w)) in plots.iter().enumerate() {
        match update_position(prior_of(motion), p.z, p.r) {
            Some((post, d2, ln_det)) if p.t == t => {
                if k == hard {
                    hard_fit = Some(log_likelihood(d2, ln_det));
                }
                nis += w * d2;
                parts.push((w, post));
            }
            _ => miss += w,
        }
    }
    let fit = hard_fit?;
    parts.push((miss, prior_of(Motion::Steady).clone()));
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
    Some((
        State::new(mean, cov),
        fit,
        nis / total.max(f64::MIN_POSITIVE),
    ))
}

/// What a plot says of its track being real: Δ score = ln( Pd · N(z; ẑ, S) / λ_clutter ),
/// from the plot's log-likelihood `fit` (ln N without its 2π term: see
/// [`log_likelihood`]; under the IMM, of the two models' mixture).
fn evidence(p: &Measurement, fit: f64) -> f64 {
    p.pd.ln() - (2.0 * std::f64::consts::PI).ln() + fit - p.clutter_density.max(1e-15).ln()
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
        Updater::new(Predictor::new(0.05, 40.0), None, 10.0, 0.5)
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
