//! An SVG picture of a scene for trainers and debriefs: coast, interception zones, each
//! vessel's true track, and its stops (red: should raise a pickup alert; grey: should not,
//! with the reason).

use crate::geo::zones::Zone;
use crate::training::score::Truth;
use std::fmt::Write;

const W: f64 = 1000.0;
const COLOURS: &[&str] = &[
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `coast` is an optional GeoJSON FeatureCollection of land polygons.
pub fn svg(truth: &Truth, zones: &[Zone], coast: Option<&serde_json::Value>) -> String {
    // Frame on the vessels' tracks, with a margin.
    let pts = truth
        .vessels
        .iter()
        .flat_map(|v| v.track.iter().map(|p| (p.lon, p.lat)));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let k = ((y0 + y1) / 2.0).to_radians().cos();
    let pad = 0.01_f64.max((y1 - y0) * 0.1);
    let (x0, x1, y0, y1) = (x0 - pad / k, x1 + pad / k, y0 - pad, y1 + pad);
    let scale = W / ((x1 - x0) * k);
    let h = (y1 - y0) * scale;
    let px = |lon: f64, lat: f64| ((lon - x0) * k * scale, (y1 - lat) * scale);
    let path = |ring: &mut dyn Iterator<Item = (f64, f64)>| {
        let mut d = String::new();
        for (i, (lon, lat)) in ring.enumerate() {
            let (x, y) = px(lon, lat);
            let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
        }
        d + "Z"
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W:.0}" height="{h:.0}" viewBox="0 0 {W:.0} {h:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#d8ecf7"/>"##);
    if let Some(c) = coast {
        for f in c["features"].as_array().into_iter().flatten() {
            let g = &f["geometry"];
            let polys: Vec<&serde_json::Value> = match g["type"].as_str() {
                Some("Polygon") => vec![&g["coordinates"]],
                Some("MultiPolygon") => g["coordinates"].as_array().into_iter().flatten().collect(),
                _ => vec![],
            };
            for p in polys {
                if let Some(ring) = p[0].as_array() {
                    let mut it = ring
                        .iter()
                        .filter_map(|c| Some((c[0].as_f64()?, c[1].as_f64()?)));
                    let _ = writeln!(
                        s,
                        r##"<path d="{}" fill="#efe6cf" stroke="#8a7f65" stroke-width="0.8"/>"##,
                        path(&mut it)
                    );
                }
            }
        }
    }
    for z in zones {
        for p in &z.geometry {
            let mut it = p.exterior().coords().map(|c| (c.x, c.y));
            let _ = writeln!(
                s,
                r##"<path d="{}" fill="#ff9f1c" fill-opacity="0.45" stroke="#e07000" stroke-width="0.8"><title>{}</title></path>"##,
                path(&mut it),
                esc(&z.name)
            );
        }
        if let Some(c) = z.geometry.0.first().and_then(|p| p.exterior().0.first()) {
            let (x, y) = px(c.x, c.y);
            if (0.0..W).contains(&x) && (0.0..h).contains(&y) {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" fill="#a04000">{}</text>"##,
                    x + 4.0,
                    y,
                    esc(&z.name)
                );
            }
        }
    }
    for (i, v) in truth.vessels.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let mut d = String::new();
        for (j, p) in v.track.iter().enumerate() {
            let (x, y) = px(p.lon, p.lat);
            let _ = write!(d, "{}{x:.1},{y:.1} ", if j == 0 { "M" } else { "L" });
        }
        let dash = if v.ais {
            r#" stroke-dasharray="6,3""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="2"{dash}/>"#
        );
        if let Some(p) = v.track.first() {
            let (x, y) = px(p.lon, p.lat);
            let label = match v.mmsi {
                Some(m) => format!("{} (AIS {m})", v.name),
                None => format!("{} (dark)", v.name),
            };
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{c}"/><text x="{:.1}" y="{:.1}" fill="{c}">{}</text>"#,
                x + 5.0,
                y - 5.0,
                esc(&label)
            );
        }
    }
    for e in &truth.episodes {
        let (x, y) = px(e.lon, e.lat);
        let secs = e.end.secs_since(e.start);
        let (fill, text) = if e.should_alert {
            ("#d62728", format!("pickup {secs:.0} s"))
        } else {
            (
                "none",
                format!("{} ({secs:.0} s)", e.reason.replace('_', " ")),
            )
        };
        let _ = writeln!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="7" fill="{fill}" stroke="#d62728" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="#d62728">{}</text>"##,
            x + 9.0,
            y + 14.0,
            esc(&text)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="16" font-weight="bold">{} (seed {}), {:.0} min from {}</text>"##,
        esc(&truth.scene),
        truth.seed,
        truth.duration_s / 60.0,
        truth.start
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="{:.0}" font-size="10" fill="#555">Coast and zones © OpenStreetMap contributors, ODbL 1.0. Solid: dark; dashed: AIS.</text>"##,
        h - 8.0
    );
    s.push_str("</svg>\n");
    s
}
