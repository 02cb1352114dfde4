//! What the components' tests build their tracks and plots from (test builds only).

use super::kalman::State;
use super::measurement::Measurement;
use super::table::Track;
use crate::time::EventTime;
use nalgebra::{Matrix4, Vector4};

/// A track `id` with state `x` ([x, y, vx, vy]) and diagonal covariance `var`, last updated
/// (and hit) at `t_s`, born at 0, three hits, no identity.
pub fn track(id: u64, x: [f64; 4], var: [f64; 4], t_s: f64, confirmed: bool) -> Track {
    let t = EventTime((t_s * 1e6) as i64);
    Track {
        id,
        state: State::new(
            Vector4::from(x),
            Matrix4::from_diagonal(&Vector4::from(var)),
        ),
        t,
        confirmed,
        score: 0.0,
        nis: 0.0,
        hits: 3,
        born: EventTime(0),
        last_hit: t,
        mmsi: None,
        seen: super::table::Seen::new(1, t),
        modes: None,
    }
}

/// A plot at `t` s, (x, y), with a 15 m error each way, a small boat's Pd and a coastal
/// radar's clutter density (5 false plots a scan over 24 km).
pub fn plot(t: f64, x: f64, y: f64) -> Measurement {
    Measurement {
        t: EventTime((t * 1e6) as i64),
        z: [x, y],
        r: [[225.0, 0.0], [0.0, 225.0]],
        pd: 0.8,
        clutter_density: 5.0 / (std::f64::consts::PI * 24e3 * 24e3),
        sensor: 1,
    }
}
