//! Scene simulation: vessels with routes and stops, seen by the configured radars (noise,
//! detection probability, Poisson clutter) and by AIS, written as a contract recording.
//!
//! Truth is computed on the WGS 84 ellipsoid (geo's Karney geodesics), independently of
//! vigie's local frame, so tests built on scenes check the frame as well as the tracker.
//! Scenes are data (serde), so they can live in files.

use crate::config::RadarConfig;
use crate::recording::RecordLine;
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
    /// gpsd-style scaled JSON.
    Json,
    /// NMEA AIVDM text with tag blocks, from vigie's own 6-bit encoder.
    Nmea,
}

/// Transponder class: sets the reporting interval (ITU-R M.1371).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AisClass {
    /// Ships: every 10 s below 14 kn, 6 s to 23 kn, 2 s above; static data (type 5).
    #[default]
    A,
    /// Leisure craft: every 30 s above 2 kn, every 3 minutes at 2 kn or less; static data
    /// (type 24).
    B,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vessel {
    pub name: String,
    /// What it is, for the truth and the picture: `taxi_boat`, `ferry`, `fishing`,
    /// `lifeboat`, `yacht`, `buoy`… (default: from its AIS and motion).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub mmsi: Option<u32>,
    #[serde(default)]
    pub ais: AisMode,
    #[serde(default)]
    pub ais_class: AisClass,
    /// The transponder is switched off this many seconds into the scene (a smuggler
    /// stops copying a police MMSI; a boat goes silent). Absent: on throughout.
    #[serde(default)]
    pub ais_off_after_s: Option<f64>,
    /// Seconds added before its first AIS report (two transmitters of one MMSI out of step).
    #[serde(default)]
    pub ais_delay_s: f64,
    /// AIS ship type (37 pleasure craft, 30 fishing, 60 passenger, 70 cargo…).
    #[serde(default)]
    pub ship_type: u8,
    /// Per-scan radar detection probability (small boat 0.8, ship 0.98; 0: radars never
    /// see it, e.g. low in the surf).
    #[serde(default = "d_pd")]
    pub pd: f64,
    /// Windows `[from, to]`, seconds into the scene, in which no radar or observer detects
    /// it (low in the surf, behind breaking swell). Hidden for longer than
    /// `tracker.coast_s`, a stopped boat loses its track and is found again still stopped.
    #[serde(default)]
    pub hidden_s: Vec<[f64; 2]>,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub legs: Vec<Leg>,
}

impl Vessel {
    fn hidden(&self, t: f64) -> bool {
        self.hidden_s.iter().any(|w| w[0] <= t && t < w[1])
    }

    /// First and last second (after the scene start) of its AIS reports, if it sends any.
    pub fn ais_span(&self, duration_s: f64) -> Option<(f64, f64)> {
        self.mmsi?;
        if self.ais == AisMode::None {
            return None;
        }
        let first = 1.0 + (self.mmsi? % 7) as f64 + self.ais_delay_s;
        let last = self.ais_off_after_s.unwrap_or(duration_s).min(duration_s);
        (first < last).then_some((first, last))
    }
}

fn d_circle_kn() -> f64 {
    1.5
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
    /// Share of each scan's clutter that falls in the surf, within 500 m of the shore (the
    /// zones' edges), rather than uniformly over the coverage.
    #[serde(default = "d_shore_clutter")]
    pub shore_clutter: f64,
    /// Probability that a detection is split into two plots 20-40 m apart.
    #[serde(default = "d_split")]
    pub split_probability: f64,
    #[serde(default)]
    pub vessels: Vec<Vessel>,
    /// Drones or thermal cameras: sensors that report positions, not range and bearing.
    #[serde(default)]
    pub observers: Vec<Observer>,
    /// Random through-traffic added to `vessels` (load scenes): one `[traffic]` table or
    /// several `[[traffic]]` groups (say, radar targets near the coast and AIS-only ships
    /// beyond radar cover).
    #[serde(default, deserialize_with = "one_or_many")]
    pub traffic: Vec<Traffic>,
    /// The configured radars that see this scene, by id (absent: all of them). Load scenes
    /// use it to match a benchmark's sensor count.
    #[serde(default)]
    pub radars: Option<Vec<String>>,
    /// Longest acceptable event-time delay from a stop to its alert, when this scene needs
    /// more than the rule's dwell + 10 s (AIS-only boats report every 3 minutes when slow).
    #[serde(default)]
    pub max_delay_s: Option<f64>,
    /// Identity switches ([`crate::training::score::Identity`]) the scene's test allows: none unless
    /// said. Set on the throughput scenes, where vessels in dense traffic cross closer than
    /// their radar plots' errors, to what was measured, so that a regression shows.
    #[serde(default)]
    pub max_identity_switches: usize,
    /// Track swaps (a track moving to another vessel) the scene's test allows: none unless
    /// said, as [`Scene::max_identity_switches`].
    #[serde(default)]
    pub max_track_swaps: usize,
    /// Per sensor id: how long after a scan's time its message reaches vigie (s). A radar
    /// with a lag longer than the others' scan period arrives late and out of order with
    /// them, as a radar behind a slow link does (contract §1, late sensors).
    #[serde(default)]
    pub delivery_lag_s: std::collections::BTreeMap<String, f64>,
    /// Each AIS transmission reaches vigie between 0 and this many seconds after it was
    /// sent (receivers and aggregators buffer; contract §1 expects up to ~10 s). Drawn from
    /// a generator of its own, so scenes without it are unchanged.
    #[serde(default)]
    pub ais_lag_max_s: f64,
}

/// A drone or thermal camera watching a disc: geographic plots (`lat`, `lon`, `sigma_m`)
/// on the topic of a configured sensor without a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observer {
    pub sensor: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    #[serde(default = "d_obs_sigma")]
    pub sigma_m: f64,
    #[serde(default = "d_obs_period")]
    pub period_s: f64,
    #[serde(default = "d_obs_pd")]
    pub pd: f64,
}

fn d_obs_sigma() -> f64 {
    8.0
}
fn d_obs_period() -> f64 {
    1.0
}
fn d_obs_pd() -> f64 {
    0.9
}

/// Seeded random traffic: straight runs across a box at 2-20 kn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Vessels in the group: at most 100,000 (the MMSI numbering below).
    pub count: usize,
    pub lat: [f64; 2],
    pub lon: [f64; 2],
    /// Share of the vessels with AIS (JSON, class A). MMSIs are 200000000 + 100000 × the
    /// group's index + the vessel's index, so groups never share one.
    pub ais_fraction: f64,
}

/// A TOML table or an array of tables.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Traffic>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Traffic),
        Many(Vec<Traffic>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(t) => vec![t],
        OneOrMany::Many(v) => v,
    })
}

impl Scene {
    /// The scene's vessels plus its generated traffic, the same for the same seed.
    pub fn all_vessels(&self) -> Vec<Vessel> {
        let mut v = self.vessels.clone();
        // One generator across the groups: a scene with one group draws what it always drew.
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x7261_6666);
        for (g, t) in self.traffic.iter().enumerate() {
            for i in 0..t.count {
                let mut at = || {
                    (
                        t.lat[0] + (t.lat[1] - t.lat[0]) * rng.random::<f64>(),
                        t.lon[0] + (t.lon[1] - t.lon[0]) * rng.random::<f64>(),
                    )
                };
                let ((lat, lon), (lat2, lon2)) = (at(), at());
                let speed_kn = 2.0 + 18.0 * rng.random::<f64>();
                let ais = rng.random::<f64>() < t.ais_fraction;
                v.push(Vessel {
                    name: if g == 0 {
                        format!("traffic-{i}")
                    } else {
                        format!("traffic{g}-{i}")
                    },
                    kind: Some(if ais { "ship" } else { "dark_boat" }.into()),
                    mmsi: ais.then_some(200_000_000 + 100_000 * g as u32 + i as u32),
                    ais: if ais { AisMode::Json } else { AisMode::None },
                    ais_class: AisClass::A,
                    ais_off_after_s: None,
                    ais_delay_s: 0.0,
                    ship_type: 70,
                    pd: 0.95,
                    hidden_s: Vec::new(),
                    lat,
                    lon,
                    legs: vec![Leg::Goto {
                        lat: lat2,
                        lon: lon2,
                        speed_kn,
                    }],
                });
            }
        }
        v
    }
}

fn d_clutter_scale() -> f64 {
    1.0
}
fn d_shore_clutter() -> f64 {
    0.5
}
fn d_split() -> f64 {
    0.02
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

/// Simulates the scene through `radars` and AIS into a recording, in arrival order; `shore`
/// (points on the coast, e.g. zone vertices) is where surf clutter falls. The same scene and
/// seed always give the same recording.
pub fn simulate(
    scene: &Scene,
    radars: &[RadarConfig],
    shore: &[Point<f64>],
    prefix: &str,
) -> Vec<RecordLine> {
    let mut rng = StdRng::seed_from_u64(scene.seed);
    let vessels = scene.all_vessels();
    let trajs: Vec<Trajectory> = vessels.iter().map(Trajectory::new).collect();
    let mut lines = Vec::new();
    let radars: Vec<&RadarConfig> = radars
        .iter()
        .filter(|r| scene.radars.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .collect();
    let n = radars.len().max(1) as f64;
    let lag = |sensor: &str| scene.delivery_lag_s.get(sensor).copied().unwrap_or(0.0);
    let mut ais_rng = StdRng::seed_from_u64(scene.seed ^ 0x0A15_1A60);
    for (ri, r) in radars.iter().enumerate() {
        let (Some(lat), Some(lon)) = (r.lat, r.lon) else {
            continue;
        };
        let site = Point::new(lon, lat);
        let mut t = r.scan_period_s * ri as f64 / n;
        while t < scene.duration_s {
            let mut plots = Vec::new();
            for (v, tr) in vessels.iter().zip(&trajs) {
                let (p, _) = tr.at(t);
                let range = Geodesic.distance(site, p);
                // The draw happens whether or not the vessel is hidden: a scene's other
                // vessels see the same random numbers with or without a hidden window.
                if range > r.range_max_m || rng.random::<f64>() > v.pd || v.hidden(t) {
                    continue;
                }
                let rr = (range + r.range_sigma_m * gauss(&mut rng)).max(0.0);
                let b = (Geodesic.bearing(site, p) + r.bearing_sigma_deg * gauss(&mut rng))
                    .rem_euclid(360.0);
                // Rounded up to 360.000 is 0: bearings are in [0, 360).
                let b = round(b, 1000.0).rem_euclid(360.0);
                plots.push(json!({"range_m": round(rr, 10.0), "bearing_deg": b}));
                if rng.random::<f64>() < scene.split_probability {
                    // A split: a second plot 20-40 m off the first.
                    let off = 20.0 + 20.0 * rng.random::<f64>();
                    let q = Geodesic.destination(p, 360.0 * rng.random::<f64>(), off);
                    let b2 = Geodesic.bearing(site, q).rem_euclid(360.0);
                    let r2 = Geodesic.distance(site, q);
                    plots.push(json!({"range_m": round(r2, 10.0), "bearing_deg": round(b2.min(359.999), 1000.0)}));
                }
            }
            let near: Vec<&Point<f64>> = shore
                .iter()
                .filter(|s| Geodesic.distance(site, **s) < r.range_max_m)
                .collect();
            for _ in 0..poisson(&mut rng, r.clutter_per_scan * scene.clutter_scale) {
                let (rr, b) = if !near.is_empty() && rng.random::<f64>() < scene.shore_clutter {
                    // Surf clutter: within 500 m of a point of the shore.
                    let s = near[rng.random_range(0..near.len())];
                    let q = Geodesic.destination(
                        *s,
                        360.0 * rng.random::<f64>(),
                        500.0 * rng.random::<f64>(),
                    );
                    (
                        Geodesic.distance(site, q),
                        Geodesic.bearing(site, q).rem_euclid(360.0),
                    )
                } else {
                    (
                        r.range_max_m * rng.random::<f64>().sqrt(),
                        360.0 * rng.random::<f64>(),
                    )
                };
                plots.push(json!({"range_m": round(rr, 10.0), "bearing_deg": round(b.min(359.999), 1000.0)}));
            }
            let te = scene.start.plus_secs(t);
            lines.push(RecordLine {
                t_rx: te.plus_secs(0.05 + lag(&r.id)),
                topic: format!("{prefix}/contacts/radar/{}", r.id),
                payload: json!({"sensor": r.id, "t": rfc(te), "plots": plots}),
            });
            t += r.scan_period_s;
        }
    }
    for o in &scene.observers {
        let centre = Point::new(o.lon, o.lat);
        let mut t = 0.5;
        while t < scene.duration_s {
            let mut plots = Vec::new();
            for (v, tr) in vessels.iter().zip(&trajs) {
                let (p, _) = tr.at(t);
                if Geodesic.distance(centre, p) > o.radius_m
                    || rng.random::<f64>() > o.pd
                    || v.hidden(t)
                {
                    continue;
                }
                let err = o.sigma_m * gauss(&mut rng).abs();
                let q = Geodesic.destination(p, 360.0 * rng.random::<f64>(), err);
                plots.push(json!({"lat": round(q.y(), 1e7), "lon": round(q.x(), 1e7), "sigma_m": o.sigma_m}));
            }
            let te = scene.start.plus_secs(t);
            if !plots.is_empty() {
                lines.push(RecordLine {
                    t_rx: te.plus_secs(0.1 + lag(&o.sensor)),
                    topic: format!("{prefix}/contacts/radar/{}", o.sensor),
                    payload: json!({"sensor": o.sensor, "t": rfc(te), "plots": plots}),
                });
            }
            t += o.period_s;
        }
    }
    for (v, tr) in vessels.iter().zip(&trajs) {
        let Some(mmsi) = v.mmsi else { continue };
        if v.ais == AisMode::None {
            continue;
        }
        let topic = format!("{prefix}/contacts/ais/sim");
        let Some((first, last)) = v.ais_span(scene.duration_s) else {
            continue;
        };
        let mut t = first;
        let mut next_static = t;
        let mut seq = 0u8;
        while t < last {
            let (p, speed) = tr.at(t);
            let (p2, _) = tr.at(t + 1.0);
            let sog = round(speed / 1852.0 * 3600.0, 10.0);
            let cog =
                (speed > 0.05).then(|| round(Geodesic.bearing(p, p2).rem_euclid(360.0), 10.0));
            let te = scene.start.plus_secs(t);
            let (lat, lon) = (round(p.y(), 1e6), round(p.x(), 1e6));
            let callsign = format!("V{}", mmsi % 100_000);
            let dims = [10, 5, 2, 2];
            let statics = t >= next_static;
            let class_a = v.ais_class == AisClass::A;
            let mut payloads = Vec::new();
            if v.ais == AisMode::Json {
                let mut msg = json!({"class": "AIS", "type": if class_a { 1 } else { 18 },
                    "mmsi": mmsi, "scaled": true, "lat": lat, "lon": lon, "speed": sog, "t": rfc(te)});
                if let Some(c) = cog {
                    msg["course"] = json!(c);
                }
                payloads.push(msg);
                if statics {
                    payloads.push(json!({"class": "AIS", "type": if class_a { 5 } else { 24 },
                        "mmsi": mmsi, "shipname": v.name.to_uppercase(), "callsign": callsign,
                        "shiptype": v.ship_type, "to_bow": dims[0], "to_stern": dims[1],
                        "to_port": dims[2], "to_starboard": dims[3], "t": rfc(te)}));
                }
            } else {
                use crate::training::encode::{sentences, type1, type18, type24, type5};
                let ch = if seq.is_multiple_of(2) { 'A' } else { 'B' };
                let mut text = if class_a {
                    sentences(&type1(mmsi, te, lat, lon, Some(sog), cog, 0), te, seq, ch)
                } else {
                    sentences(&type18(mmsi, te, lat, lon, Some(sog), cog), te, seq, ch)
                };
                if statics {
                    seq = seq.wrapping_add(1);
                    if class_a {
                        text.extend(sentences(
                            &type5(mmsi, &v.name, &callsign, v.ship_type, dims),
                            te,
                            seq,
                            ch,
                        ));
                    } else {
                        for part in type24(mmsi, &v.name, &callsign, v.ship_type, dims) {
                            text.extend(sentences(&part, te, seq, ch));
                        }
                    }
                }
                seq = seq.wrapping_add(1);
                payloads.push(serde_json::Value::String(text.join("\n") + "\n"));
            }
            if statics {
                next_static = t + 360.0;
            }
            let ais_lag = if scene.ais_lag_max_s > 0.0 {
                scene.ais_lag_max_s * ais_rng.random::<f64>()
            } else {
                0.0
            };
            for payload in payloads {
                lines.push(RecordLine {
                    t_rx: te.plus_secs(0.2 + ais_lag),
                    topic: topic.clone(),
                    payload,
                });
            }
            let kn = speed / 1852.0 * 3600.0;
            t += match v.ais_class {
                AisClass::A if kn > 23.0 => 2.0,
                AisClass::A if kn > 14.0 => 6.0,
                AisClass::A => 10.0,
                AisClass::B if kn > 2.0 => 30.0,
                AisClass::B => 180.0,
            };
        }
    }
    lines.sort_by_key(|l| l.t_rx);
    lines
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

/// Points along the shore for surf clutter: the vertices of the zones' outlines.
pub fn shore_points(zones: &[crate::geo::zones::Zone]) -> Vec<Point<f64>> {
    zones
        .iter()
        .flat_map(|z| z.geometry.iter().flat_map(|p| p.exterior().points()))
        .collect()
}

/// Simulates with the surf clutter placed along the configured zones.
pub fn simulate_for(scene: &Scene, cfg: &crate::config::Config, prefix: &str) -> Vec<RecordLine> {
    let shore = crate::geo::zones::load(&cfg.zones.path)
        .map(|z| shore_points(&z))
        .unwrap_or_default();
    simulate(scene, &cfg.radar, &shore, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trajectory_runs_holds_and_circles() {
        let v = Vessel {
            name: "a".into(),
            kind: None,
            mmsi: None,
            ais: AisMode::None,
            ais_class: AisClass::A,
            ais_off_after_s: None,
            ais_delay_s: 0.0,
            ship_type: 0,
            pd: 0.8,
            hidden_s: Vec::new(),
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
