//! Radar (and other plot-producing sensor) JSON, contract §2.1.

use super::lex::{once, Lexer, Scalar};
use super::DecodeError;
use crate::contact::{Plot, PlotPos, RadarScan};
use crate::time::EventTime;
use serde::Deserialize;
use std::borrow::Cow;

/// One plot as it appears on the wire. Unknown fields are ignored so that sensors can
/// add their own (SNR, size) without being rejected.
#[derive(Deserialize, Default)]
struct RawPlot<'a> {
    range_m: Option<f64>,
    bearing_deg: Option<f64>,
    lat: Option<f64>,
    lon: Option<f64>,
    sigma_m: Option<f64>,
    #[serde(borrow)]
    t: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct RawScan<'a> {
    #[serde(borrow)]
    sensor: Option<Cow<'a, str>>,
    #[serde(borrow)]
    t: Option<Cow<'a, str>>,
    #[serde(borrow)]
    plots: Option<Vec<RawPlot<'a>>>,
    #[serde(default)]
    exercise: bool,
    // Shorthand: one plot's fields at top level.
    range_m: Option<f64>,
    bearing_deg: Option<f64>,
    lat: Option<f64>,
    lon: Option<f64>,
    sigma_m: Option<f64>,
}

/// Decodes one radar message from the sensor named by the topic.
///
/// `sensor_index` maps a sensor id to its configuration index. A plot that breaks the
/// contract (negative range, bearing outside [0, 360), position off the globe, non-positive
/// sigma) is rejected alone; the rest of the scan is kept.
pub fn decode(
    payload: &[u8],
    topic_sensor: &str,
    sensor_index: impl Fn(&str) -> Option<usize>,
    t_rx: EventTime,
    rejects: &mut Vec<DecodeError>,
) -> Result<RadarScan, DecodeError> {
    decode_with(payload, topic_sensor, sensor_index, t_rx, rejects, true)
}

fn decode_with(
    payload: &[u8],
    topic_sensor: &str,
    sensor_index: impl Fn(&str) -> Option<usize>,
    t_rx: EventTime,
    rejects: &mut Vec<DecodeError>,
    try_fast: bool,
) -> Result<RadarScan, DecodeError> {
    let raw: RawScan = match fast(payload).filter(|_| try_fast) {
        Some(r) => r,
        None => serde_json::from_slice(payload).map_err(json_error)?,
    };
    if let Some(s) = &raw.sensor {
        if s != topic_sensor {
            return Err(DecodeError::SensorMismatch {
                field: s.to_string(),
                topic: topic_sensor.to_string(),
            });
        }
    }
    let sensor = sensor_index(topic_sensor)
        .ok_or_else(|| DecodeError::UnknownSensor(topic_sensor.to_string()))?;
    let t = match &raw.t {
        Some(s) => EventTime::parse_rfc3339(s)?,
        None => t_rx,
    };
    let before = rejects.len();
    let mut scan = RadarScan {
        sensor,
        t,
        plots: Vec::new(),
        exercise: raw.exercise,
    };
    match raw.plots {
        Some(plots) => {
            scan.plots.reserve(plots.len());
            for (index, p) in plots.iter().enumerate() {
                match plot(p, t) {
                    Ok(p) => scan.plots.push(p),
                    Err(reason) => rejects.push(DecodeError::BadPlot { index, reason }),
                }
            }
        }
        None => {
            let p = RawPlot {
                range_m: raw.range_m,
                bearing_deg: raw.bearing_deg,
                lat: raw.lat,
                lon: raw.lon,
                sigma_m: raw.sigma_m,
                t: None,
            };
            match plot(&p, t) {
                Ok(p) => scan.plots.push(p),
                Err(reason) => rejects.push(DecodeError::BadPlot { index: 0, reason }),
            }
        }
    }
    // Plots came and none was usable: a message with nothing in it, not a scan in which
    // the radar saw nothing (which would say what time it is; this must move no clock).
    if scan.plots.is_empty() && rejects.len() > before {
        return Err(rejects.pop().expect("a plot was rejected"));
    }
    Ok(scan)
}

/// The common case without serde (see [`super::lex`]): `None` for anything else, which
/// serde_json then reads, so the answer never depends on which path ran (test
/// `fast_path_changes_nothing`).
fn fast(payload: &[u8]) -> Option<RawScan<'_>> {
    let mut r = RawScan::default();
    let mut seen = 0u32;
    let mut l = Lexer::new(payload);
    l.object(|l, key| {
        if key == b"plots" {
            once(&mut seen, 0)?;
            if l.peek()? == b'n' {
                // `null`: no plots array (`r.plots` stays `None`).
                return (l.scalar()? == Scalar::Null).then_some(());
            }
            let mut plots = Vec::new();
            l.array(|l| {
                let mut p = RawPlot::default();
                let mut seen = 0u32;
                l.object(|l, key| {
                    let v = l.scalar()?;
                    let slot = match key {
                        b"range_m" => (0, &mut p.range_m),
                        b"bearing_deg" => (1, &mut p.bearing_deg),
                        b"lat" => (2, &mut p.lat),
                        b"lon" => (3, &mut p.lon),
                        b"sigma_m" => (4, &mut p.sigma_m),
                        b"t" => {
                            once(&mut seen, 5)?;
                            p.t = v.text()?;
                            return Some(());
                        }
                        _ => return Some(()),
                    };
                    once(&mut seen, slot.0)?;
                    *slot.1 = v.number()?;
                    Some(())
                })?;
                plots.push(p);
                Some(())
            })?;
            r.plots = Some(plots);
            return Some(());
        }
        let v = l.scalar()?;
        let text = match key {
            b"sensor" => Some((1, &mut r.sensor)),
            b"t" => Some((2, &mut r.t)),
            _ => None,
        };
        if let Some((bit, slot)) = text {
            once(&mut seen, bit)?;
            *slot = v.text()?;
            return Some(());
        }
        let slot = match key {
            b"exercise" => {
                once(&mut seen, 3)?;
                r.exercise = v.flag()?;
                return Some(());
            }
            b"range_m" => (4, &mut r.range_m),
            b"bearing_deg" => (5, &mut r.bearing_deg),
            b"lat" => (6, &mut r.lat),
            b"lon" => (7, &mut r.lon),
            b"sigma_m" => (8, &mut r.sigma_m),
            _ => return Some(()),
        };
        once(&mut seen, slot.0)?;
        *slot.1 = v.number()?;
        Some(())
    })?;
    l.at_end().then_some(r)
}

fn plot(p: &RawPlot, scan_t: EventTime) -> Result<Plot, String> {
    let t = match &p.t {
        Some(s) => EventTime::parse_rfc3339(s).map_err(|e| e.to_string())?,
        None => scan_t,
    };
    let pos = match (p.range_m, p.bearing_deg, p.lat, p.lon) {
        (Some(r), Some(b), None, None) => {
            if !(r.is_finite() && r >= 0.0) {
                return Err(format!("range_m {r} must be a finite number >= 0"));
            }
            if !(b.is_finite() && (0.0..360.0).contains(&b)) {
                return Err(format!("bearing_deg {b} must be in [0, 360)"));
            }
            PlotPos::Polar {
                range_m: r,
                bearing_deg: b,
            }
        }
        (None, None, Some(lat), Some(lon)) => {
            if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                return Err(format!("lat {lat} must be in [-90, 90]"));
            }
            if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
                return Err(format!("lon {lon} must be in [-180, 180]"));
            }
            let sigma_m = p.sigma_m.ok_or("geographic plot needs sigma_m")?;
            if !(sigma_m.is_finite() && sigma_m > 0.0) {
                return Err(format!("sigma_m {sigma_m} must be a finite number > 0"));
            }
            PlotPos::Geo { lat, lon, sigma_m }
        }
        _ => {
            return Err(
                "a plot needs either range_m and bearing_deg, or lat, lon and sigma_m".into(),
            )
        }
    };
    Ok(Plot { t, pos })
}

pub(crate) fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::Json(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_changes_nothing() {
        use rand::{Rng, SeedableRng};
        let keys = [
            "plots",
            "range_m",
            "bearing_deg",
            "lat",
            "lon",
            "sigma_m",
            "t",
            "snr",
            "exercise",
            "sensor",
        ];
        let values = [
            "1500.5",
            "0",
            "-0",
            "359.9",
            "360",
            "-3",
            "51.01",
            "1.7",
            "12",
            "01",
            "1e400",
            "null",
            "true",
            "\"x\"",
            "\"2026-03-14T05:02:17.500Z\"",
            "\"gris-nez\"",
            "\"a\\nb\"",
            "{\"a\":1}",
            "[1]",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let member = |rng: &mut rand::rngs::StdRng| {
            let k = keys[rng.random_range(0..keys.len())];
            let v = values[rng.random_range(0..values.len())];
            format!("\"{k}\":{v}")
        };
        let (mut fast_taken, n) = (0, 20_000);
        for _ in 0..n {
            let mut top = vec![];
            if rng.random_bool(0.9) {
                top.push("\"t\":\"2026-03-14T05:02:17.500Z\"".to_string());
            }
            for _ in 0..rng.random_range(0..3) {
                top.push(member(&mut rng));
            }
            if rng.random_bool(0.8) {
                let plots: Vec<String> = (0..rng.random_range(0..5))
                    .map(|_| {
                        let mut m = vec![];
                        if rng.random_bool(0.7) {
                            m.push("\"range_m\":1500.5".to_string());
                            m.push("\"bearing_deg\":12.25".to_string());
                        }
                        for _ in 0..rng.random_range(0..3) {
                            m.push(member(&mut rng));
                        }
                        if rng.random_bool(0.05) {
                            "7".to_string()
                        } else {
                            format!("{{{}}}", m.join(", "))
                        }
                    })
                    .collect();
                top.push(format!("\"plots\" : [{}]", plots.join(",")));
            }
            let mut text = format!("{{{}}}", top.join(","));
            if rng.random_bool(0.05) {
                text.push(']');
            }
            let run = |fast_ok: bool| {
                let mut rej = vec![];
                let r = decode_with(
                    text.as_bytes(),
                    "gris-nez",
                    idx,
                    EventTime(9),
                    &mut rej,
                    fast_ok,
                );
                format!("{r:?} {rej:?}")
            };
            assert_eq!(run(true), run(false), "{text}");
            fast_taken += fast(text.as_bytes()).is_some() as usize;
        }
        assert!(
            fast_taken > n / 5 && fast_taken < n * 4 / 5,
            "{fast_taken} of {n}"
        );
    }

    fn idx(s: &str) -> Option<usize> {
        (s == "gris-nez").then_some(0)
    }

    #[test]
    fn contract_example_decodes() {
        let msg = br#"{"sensor": "gris-nez", "t": "2026-03-14T05:02:17.500Z",
 "plots": [ {"range_m": 4210.5, "bearing_deg": 247.3},
            {"range_m": 812.0,  "bearing_deg": 190.2, "t": "2026-03-14T05:02:17.620Z"},
            {"lat": 50.7312, "lon": 1.5905, "sigma_m": 25.0} ]}"#;
        let mut rej = vec![];
        let s = decode(msg, "gris-nez", idx, EventTime(0), &mut rej).unwrap();
        assert!(rej.is_empty());
        assert_eq!(s.plots.len(), 3);
        assert_eq!(s.t.to_rfc3339(), "2026-03-14T05:02:17.500Z");
        assert_eq!(s.plots[1].t.to_rfc3339(), "2026-03-14T05:02:17.620Z");
        assert_eq!(
            s.plots[2].pos,
            PlotPos::Geo {
                lat: 50.7312,
                lon: 1.5905,
                sigma_m: 25.0
            }
        );
    }

    #[test]
    fn shorthand_single_plot_and_receive_time() {
        let mut rej = vec![];
        let s = decode(
            br#"{"range_m": 10, "bearing_deg": 0}"#,
            "gris-nez",
            idx,
            EventTime(42),
            &mut rej,
        )
        .unwrap();
        assert_eq!(s.plots.len(), 1);
        assert_eq!(s.t, EventTime(42));
    }

    #[test]
    fn bad_plots_are_rejected_alone() {
        let mut rej = vec![];
        let s = decode(
            br#"{"plots":[{"range_m":-1,"bearing_deg":3},{"range_m":5,"bearing_deg":360},
            {"lat":91,"lon":1,"sigma_m":3},{"lat":50,"lon":1},{"range_m":5,"bearing_deg":359.9}]}"#,
            "gris-nez",
            idx,
            EventTime(0),
            &mut rej,
        )
        .unwrap();
        assert_eq!(s.plots.len(), 1);
        assert_eq!(rej.len(), 4);
    }

    #[test]
    fn whole_message_errors() {
        let mut rej = vec![];
        let e = |m: &[u8], t: &str| decode(m, t, idx, EventTime(0), &mut vec![]).unwrap_err();
        assert_eq!(e(b"{\"plots\":[", "gris-nez").reason(), "malformed_json");
        assert_eq!(
            e(b"{\"range_m\":\"x\"}", "gris-nez").reason(),
            "malformed_json"
        );
        assert_eq!(e(b"{}", "nowhere").reason(), "unknown_sensor");
        assert_eq!(
            e(b"{\"sensor\":\"b\"}", "gris-nez").reason(),
            "sensor_mismatch"
        );
        assert_eq!(e(b"{\"t\":\"soon\"}", "gris-nez").reason(), "bad_time");
        let _ = decode(
            b"{\"range_m\":NaN}",
            "gris-nez",
            idx,
            EventTime(0),
            &mut rej,
        )
        .unwrap_err();
    }
}
