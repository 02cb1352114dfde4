//! Derives `fixtures/zones/cote-dopale.geojson` from the OpenStreetMap coastline in
//! `../shared/data/coast/dover-strait-land.geojson` (© OpenStreetMap contributors, ODbL 1.0).
//!
//! Re-run with:
//!   cargo run --example derive_zones -- ../shared/data/coast/dover-strait-land.geojson fixtures/zones/cote-dopale.geojson
//!
//! Method, all in vigie's local metric frame:
//! 1. land = France and Belgium polygons of the coast file;
//! 2. strip = (land buffered by 300 m) minus land: the sea-side coastal band where a
//!    taxi-boat sits in the surf while people wade out;
//! 3. the strip is cut into named beach sectors by a one-dimensional Voronoi along the coast:
//!    each anchor (a beach, listed north-east to south-west) owns the part of the strip
//!    nearer to it than to its neighbours, within 12 km;
//! 4. the Aa, Canche and Authie estuary mouths are added as the water within 1.5 km of each
//!    mouth (these overlap the beach sectors, which vigie's zone index handles).

use geo::{Area, BooleanOps, Buffer, Coord, LineString, MultiPolygon, Polygon, Simplify};
use serde_json::{json, Value};
use vigie::geo::frame::LocalFrame;

/// (id, name, lat, lon): beach anchors in order along the coast, Belgian border to Authie.
const SECTORS: &[(&str, &str, f64, f64)] = &[
    ("bray-dunes", "Bray-Dunes", 51.0830, 2.5250),
    (
        "zuydcoote-malo",
        "Zuydcoote – Malo-les-Bains",
        51.0600,
        2.4200,
    ),
    ("dunkerque-port", "Dunkerque – Loon-Plage", 51.0300, 2.2600),
    (
        "gravelines",
        "Gravelines – Petit-Fort-Philippe",
        51.0080,
        2.1150,
    ),
    ("oye-plage", "Oye-Plage", 50.9950, 2.0200),
    ("calais", "Calais – Blériot-Plage", 50.9650, 1.8300),
    ("sangatte", "Sangatte", 50.9450, 1.7500),
    ("wissant", "Wissant – Cap Blanc-Nez", 50.8900, 1.6600),
    ("audresselles", "Audresselles – Ambleteuse", 50.8250, 1.5950),
    ("wimereux", "Wimereux", 50.7700, 1.6050),
    (
        "boulogne-le-portel",
        "Boulogne-sur-Mer – Le Portel",
        50.7100,
        1.5700,
    ),
    ("equihen-plage", "Équihen-Plage", 50.6750, 1.5650),
    ("hardelot", "Hardelot – Sainte-Cécile", 50.6200, 1.5750),
    ("le-touquet", "Le Touquet-Paris-Plage", 50.5200, 1.5800),
    (
        "stella-merlimont",
        "Stella-Plage – Merlimont",
        50.4600,
        1.5700,
    ),
    ("berck-authie", "Berck-sur-Mer – Authie", 50.4000, 1.5550),
];

/// (id, name, lat, lon) of estuary mouths.
const ESTUARIES: &[(&str, &str, f64, f64)] = &[
    (
        "aa-estuary",
        "Estuaire de l'Aa (Gravelines)",
        51.0130,
        2.1030,
    ),
    ("canche-estuary", "Baie de Canche", 50.5420, 1.5900),
    ("authie-estuary", "Baie d'Authie", 50.3700, 1.5800),
];

const STRIP_M: f64 = 300.0;
const SECTOR_REACH_M: f64 = 12_000.0;
const ESTUARY_RADIUS_M: f64 = 1_500.0;
const MIN_PIECE_M2: f64 = 5_000.0;

fn disc(cx: f64, cy: f64, r: f64) -> Polygon<f64> {
    let n = 72;
    let mut pts: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            Coord {
                x: cx + r * a.cos(),
                y: cy + r * a.sin(),
            }
        })
        .collect();
    pts.push(pts[0]);
    Polygon::new(LineString::new(pts), vec![])
}

/// The half-plane (as a big polygon) of points nearer to `a` than to `b`.
fn nearer(a: (f64, f64), b: (f64, f64)) -> Polygon<f64> {
    let m = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let (dx, dy) = (a.0 - b.0, a.1 - b.1);
    let len = dx.hypot(dy);
    let (ux, uy) = (dx / len, dy / len); // towards a
    let (px, py) = (-uy, ux); // along the bisector
    let big = 100_000.0;
    let c = |s: f64, t: f64| Coord {
        x: m.0 + px * s + ux * t,
        y: m.1 + py * s + uy * t,
    };
    Polygon::new(
        LineString::new(vec![
            c(-big, 0.0),
            c(big, 0.0),
            c(big, big),
            c(-big, big),
            c(-big, 0.0),
        ]),
        vec![],
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (src, dst) = match args.as_slice() {
        [_, s, d] => (s.clone(), d.clone()),
        _ => {
            eprintln!("usage: derive_zones COAST.geojson OUT.geojson");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(&src).expect("reading the coast file");
    let out = derive(&text);
    std::fs::write(&dst, out).expect("writing the zones");
    eprintln!("wrote {dst}");
}

/// The derivation, as a function so the test suite can check the committed file is its output.
pub fn derive(coast_geojson: &str) -> String {
    let frame = LocalFrame::new(50.75, 1.6);
    let gj: Value = serde_json::from_str(coast_geojson).expect("coast GeoJSON");
    let mut land: Vec<Polygon<f64>> = Vec::new();
    for f in gj["features"].as_array().expect("features") {
        let c = f["properties"]["country"].as_str().unwrap_or("");
        if c != "FRA" && c != "BEL" {
            continue;
        }
        let g = &f["geometry"];
        let polys: Vec<&Value> = match g["type"].as_str() {
            Some("Polygon") => vec![&g["coordinates"]],
            Some("MultiPolygon") => g["coordinates"].as_array().expect("polys").iter().collect(),
            _ => continue,
        };
        for p in polys {
            let rings: Vec<LineString<f64>> = p
                .as_array()
                .expect("rings")
                .iter()
                .map(|r| {
                    LineString::new(
                        r.as_array()
                            .expect("ring")
                            .iter()
                            .map(|pt| {
                                let (x, y) = frame
                                    .to_local(pt[1].as_f64().unwrap(), pt[0].as_f64().unwrap());
                                Coord { x, y }
                            })
                            .collect(),
                    )
                })
                .collect();
            // Exterior only: holes are inland water (lakes, docks), whose shores are not
            // the coast.
            land.push(Polygon::new(
                rings.into_iter().next().expect("exterior"),
                vec![],
            ));
        }
    }
    let land = MultiPolygon::new(land);
    let strip = land.buffer(STRIP_M).difference(&land);
    let anchors: Vec<(f64, f64)> = SECTORS.iter().map(|s| frame.to_local(s.2, s.3)).collect();
    let mut features = Vec::new();
    let mut push = |id: &str, name: &str, mp: MultiPolygon<f64>| {
        let mut polys: Vec<Polygon<f64>> =
            mp.0.into_iter()
                .filter(|p| p.unsigned_area() >= MIN_PIECE_M2)
                .map(|p| p.simplify(5.0))
                .collect();
        polys.sort_by(|a, b| b.unsigned_area().total_cmp(&a.unsigned_area()));
        let to_ll = |ls: &LineString<f64>| -> Vec<[f64; 2]> {
            ls.coords()
                .map(|c| {
                    let (lat, lon) = frame.to_geodetic(c.x, c.y);
                    [(lon * 1e6).round() / 1e6, (lat * 1e6).round() / 1e6]
                })
                .collect()
        };
        let coords: Vec<Vec<Vec<[f64; 2]>>> = polys
            .iter()
            .map(|p| {
                std::iter::once(to_ll(p.exterior()))
                    .chain(p.interiors().iter().map(to_ll))
                    .collect()
            })
            .collect();
        if coords.is_empty() {
            panic!("zone {id} came out empty: check its anchor");
        }
        features.push(json!({
            "type": "Feature",
            "properties": {"id": id, "name": name, "kind": "shallow_water",
                           "source": "derived from OpenStreetMap coastline (c) OpenStreetMap contributors, ODbL 1.0, by examples/derive_zones.rs"},
            "geometry": {"type": "MultiPolygon", "coordinates": coords}
        }));
    };
    for (i, s) in SECTORS.iter().enumerate() {
        let a = anchors[i];
        let mut cell = MultiPolygon::new(vec![disc(a.0, a.1, SECTOR_REACH_M)]);
        if i > 0 {
            cell = cell.intersection(&nearer(a, anchors[i - 1]));
        }
        if i + 1 < anchors.len() {
            cell = cell.intersection(&nearer(a, anchors[i + 1]));
        }
        push(s.0, s.1, strip.intersection(&cell));
    }
    for e in ESTUARIES {
        let (x, y) = frame.to_local(e.2, e.3);
        push(
            e.0,
            e.1,
            MultiPolygon::new(vec![disc(x, y, ESTUARY_RADIUS_M)]).difference(&land),
        );
    }
    let fc = json!({
        "type": "FeatureCollection",
        "attribution": "Coastline data (c) OpenStreetMap contributors, Open Data Commons Open Database License (ODbL) 1.0",
        "features": features
    });
    let mut s = serde_json::to_string(&fc).expect("serialises");
    s.push('\n');
    s
}
