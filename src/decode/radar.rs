//! Radar (and other plot-producing sensor) JSON, contract §2.1.

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

#[derive(Deserialize)]
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
    let raw: RawScan = serde_json::from_slice(payload).map_err(json_error)?;
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
    Ok(scan)
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
