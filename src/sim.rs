//! Scene simulation: vessels with routes and stops, seen by the configured radars (noise,
//! detection probability, Poisson clutter) and by AIS, written as a contract recording.
//!
//! Truth is computed on the WGS 84 ellipsoid (geo's Karney geodesics), independently of
//! vigie's local frame, so tests built on scenes check the frame as well as the tracker.
//! Scenes are data (serde), so they can live in files.

use crate::config::RadarConfig;
use crate::io::recording::RecordLine;
use crate::time::EventTime;
use geo::{Bearing, Destination, Distance, Geodesic, Point};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a vessel does next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Leg {
    /// Run in a straight line (geodesic) to a point.
    Goto { lat: f64, lon: f64, speed_kn: f64 },
    /// Stay for `secs`, circling on a circle of `circle_m` (0: stopped) at `circle_kn`.
    Hold {
        secs: f64,
        #[serde(default)]
        circle_m: f64,
        #[serde(default = "d_circle_kn")]
        circle_kn: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AisMode {
    /// No transponder (the taxi-boats).
    #[default]
    None,
    /// gpsd-style scaled JSON every `ais_interval_s`.
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vessel {
    pub name: String,
    #[serde(default)]
    pub mmsi: Option<u32>,
    #[serde(default)]
    pub ais: AisMode,
    #[serde(default = "d_ais_interval")]
    pub ais_interval_s: f64,
    /// Per-scan detection probability (small boat 0.8, ship 0.98).
    #[serde(default = "d_pd")]
    pub pd: f64,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub legs: Vec<Leg>,
}

fn d_circle_kn() -> f64 {
    1.5
}

fn d_ais_interval() -> f64 {
    10.0
}
fn d_pd() -> f64 {
    0.8
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    pub name: String,
    pub start: EventTime,
    pub duration_s: f64,
    #[serde(default)]
    pub seed: u64,
    /// Multiply each radar's configured clutter rate (0: no clutter).
    #[serde(default = "d_clutter_scale")]
    pub clutter_scale: f64,
    pub vessels: Vec<Vessel>,
}

fn d_clutter_scale() -> f64 {
    1.0
}

#[derive(Debug, Clone)]
enum Seg {
    Line {
        t0: f64,
        t1: f64,
        from: Point<f64>,
        bearing: f64,
        dist: f64,
    },
    Hold {
        t0: f64,
        t1: f64,
        at: Point<f64>,
        circle_m: f64,
        speed: f64,
    },
}

/// A vessel's trajectory as timed segments.
#[derive(Debug, Clone)]
pub struct Trajectory {
    segs: Vec<Seg>,
    end: Point<f64>,
}

impl Trajectory {
    pub fn new(v: &Vessel) -> Self {
        let mut t = 0.0;
        let mut at = Point::new(v.lon, v.lat);
        let mut segs = Vec::new();
        for leg in &v.legs {
            match *leg {
                Leg::Goto { lat, lon, speed_kn } => {
                    let to = Point::new(lon, lat);
                    let dist = Geodesic.distance(at, to);
                    let dt = dist / (speed_kn.max(0.1) * 1852.0 / 3600.0);
                    segs.push(Seg::Line {
                        t0: t,
                        t1: t + dt,
                        from: at,
                        bearing: Geodesic.bearing(at, to),
                        dist,
                    });
                    t += dt;
                    at = to;
                }
                Leg::Hold {
                    secs,
                    circle_m,
                    circle_kn,
                } => {
                    segs.push(Seg::Hold {
                        t0: t,
                        t1: t + secs,
                        at,
                        circle_m,
                        speed: circle_kn * 1852.0 / 3600.0,
                    });
                    t += secs;
                }
            }
        }
        Trajectory { segs, end: at }
    }

    /// The stops: (start, end) in seconds after the scene start, where, and the radius of
    /// the circle the boat turns on.
    pub fn holds(&self) -> Vec<(f64, f64, Point<f64>, f64)> {
        self.segs
            .iter()
            .filter_map(|s| match *s {
                Seg::Hold {
                    t0,
                    t1,
                    at,
                    circle_m,
                    ..
                } => Some((t0, t1, at, circle_m)),
                _ => None,
            })
            .collect()
    }

    /// Position (lon, lat as a Point) `t` seconds after the scene start, and speed (m/s).
    pub fn at(&self, t: f64) -> (Point<f64>, f64) {
        for s in &self.segs {
            match *s {
                Seg::Line {
                    t0,
                    t1,
                    from,
                    bearing,
                    dist,
                } if t < t1 => {
                    let f = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
                    return (
                        Geodesic.destination(from, bearing, dist * f),
                        dist / (t1 - t0),
                    );
                }
                Seg::Hold {
                    t0,
                    t1,
                    at,
                    circle_m,
                    speed,
                } if t < t1 => {
                    if circle_m <= 0.0 || speed <= 0.0 {
                        return (at, 0.0);
                    }
                    // A circle through the arrival point (centre to its east), clockwise from
                    // it, so the position is continuous when the hold begins.
                    let centre = Geodesic.destination(at, 90.0, circle_m);
                    let a = 270.0 + ((t - t0) * speed / circle_m).to_degrees();
                    return (Geodesic.destination(centre, a, circle_m), speed);
                }
                _ => {}
            }
        }
        (self.end, 0.0)
    }
}

fn gauss(rng: &mut StdRng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn poisson(rng: &mut StdRng, mean: f64) -> usize {
    // Knuth; means here are small.
    let l = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn rfc(t: EventTime) -> String {
    t.to_rfc3339()
}

/// Simulates the scene through `radars` and AIS into a recording, in arrival order.
/// The same scene and seed always give the same recording.
pub fn simulate(scene: &Scene, radars: &[RadarConfig], prefix: &str) -> Vec<RecordLine> {
    let mut rng = StdRng::seed_from_u64(scene.seed);
    let trajs: Vec<Trajectory> = scene.vessels.iter().map(Trajectory::new).collect();
    let mut lines = Vec::new();
    let n = radars.len().max(1) as f64;
    for (ri, r) in radars.iter().enumerate() {
        let (Some(lat), Some(lon)) = (r.lat, r.lon) else {
            continue;
        };
        let site = Point::new(lon, lat);
        let mut t = r.scan_period_s * ri as f64 / n;
        while t < scene.duration_s {
            let mut plots = Vec::new();
            for (v, tr) in scene.vessels.iter().zip(&trajs) {
                let (p, _) = tr.at(t);
                let range = Geodesic.distance(site, p);
                if range > r.range_max_m || rng.random::<f64>() > v.pd {
                    continue;
                }
                let rr = (range + r.range_sigma_m * gauss(&mut rng)).max(0.0);
                let b = (Geodesic.bearing(site, p) + r.bearing_sigma_deg * gauss(&mut rng))
                    .rem_euclid(360.0);
                plots.push(json!({"range_m": round(rr, 10.0), "bearing_deg": round(b, 1000.0)}));
            }
            for _ in 0..poisson(&mut rng, r.clutter_per_scan * scene.clutter_scale) {
                let rr = r.range_max_m * rng.random::<f64>().sqrt();
                let b = 360.0 * rng.random::<f64>();
                plots.push(json!({"range_m": round(rr, 10.0), "bearing_deg": round(b.min(359.999), 1000.0)}));
            }
            let te = scene.start.plus_secs(t);
            lines.push(RecordLine {
                t_rx: te.plus_secs(0.05),
                topic: format!("{prefix}/contacts/radar/{}", r.id),
                payload: json!({"sensor": r.id, "t": rfc(te), "plots": plots}),
            });
            t += r.scan_period_s;
        }
    }
    for (v, tr) in scene.vessels.iter().zip(&trajs) {
        let (Some(mmsi), AisMode::Json) = (v.mmsi, v.ais) else {
            continue;
        };
        let mut t = 1.0 + (mmsi % 7) as f64;
        while t < scene.duration_s {
            let (p, speed) = tr.at(t);
            let (p2, _) = tr.at(t + 1.0);
            let course = Geodesic.bearing(p, p2).rem_euclid(360.0);
            let te = scene.start.plus_secs(t);
            let mut msg = json!({"class": "AIS", "type": 1, "mmsi": mmsi, "scaled": true,
                "lat": round(p.y(), 1e6), "lon": round(p.x(), 1e6),
                "speed": round(speed / 1852.0 * 3600.0, 10.0), "t": rfc(te)});
            if speed > 0.05 {
                msg["course"] = json!(round(course, 10.0));
            }
            lines.push(RecordLine {
                t_rx: te.plus_secs(0.2),
                topic: format!("{prefix}/contacts/ais/sim"),
                payload: msg,
            });
            t += v.ais_interval_s;
        }
    }
    lines.sort_by_key(|l| l.t_rx);
    lines
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trajectory_runs_holds_and_circles() {
        let v = Vessel {
            name: "a".into(),
            mmsi: None,
            ais: AisMode::None,
            ais_interval_s: 10.0,
            pd: 0.8,
            lat: 50.7,
            lon: 1.5,
            legs: vec![
                Leg::Goto {
                    lat: 50.71,
                    lon: 1.5,
                    speed_kn: 6.0,
                },
                Leg::Hold {
                    secs: 120.0,
                    circle_m: 40.0,
                    circle_kn: 1.5,
                },
            ],
        };
        let tr = Trajectory::new(&v);
        let (p0, s0) = tr.at(0.0);
        assert!((p0.y() - 50.7).abs() < 1e-9 && (s0 - 3.0867).abs() < 1e-3);
        let run = 1112.0 / 3.0867; // ≈ 1.11 km at 6 kn
        let (p1, _) = tr.at(run + 30.0);
        let centre = Geodesic.destination(Point::new(1.5, 50.71), 90.0, 40.0);
        let d = Geodesic.distance(p1, centre);
        assert!((d - 40.0).abs() < 0.5, "circling at 40 m: {d}");
        let (start, _) = tr.at(run + 0.01);
        assert!(
            Geodesic.distance(start, Point::new(1.5, 50.71)) < 1.0,
            "continuous"
        );
    }
}
