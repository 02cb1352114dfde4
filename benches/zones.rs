//! Zone lookup: the R-tree index against a linear scan of the same polygons, same run.
//!
//!   cargo bench --bench zones
//!
//! 10 and 1,000 synthetic shallow-water strips (300 m × 3 km, 40 vertices each, the shape
//! of the real fixtures) along 300 km of coast; lookups at points spread over and around
//! them, most of them (like most tracks) in no zone.

use geo::{Contains, Coord, LineString, MultiPolygon, Point, Polygon};
use std::hint::black_box;
use std::time::Instant;
use vigie::geo::frame::LocalFrame;
use vigie::geo::zones::{Zone, ZoneIndex};

fn strip(i: usize, n: usize) -> Zone {
    // Strips side by side along a meridian, each with a wavy seaward edge.
    let lat0 = 49.5 + 2.7 * i as f64 / n as f64;
    let len = (2.7 / n as f64).min(0.027);
    let mut pts = Vec::new();
    for k in 0..=19 {
        let lat = lat0 + len * k as f64 / 19.0;
        pts.push(Coord {
            x: 1.6 + 0.0002 * ((k as f64).sin()),
            y: lat,
        });
    }
    for k in (0..=19).rev() {
        let lat = lat0 + len * k as f64 / 19.0;
        pts.push(Coord {
            x: 1.6 - 0.0042 + 0.0002 * ((k as f64).cos()),
            y: lat,
        });
    }
    pts.push(pts[0]);
    Zone {
        id: format!("z{i}"),
        name: format!("zone {i}"),
        kind: "shallow_water".into(),
        geometry: MultiPolygon::new(vec![Polygon::new(LineString::new(pts), vec![])]),
    }
}

fn main() {
    let frame = LocalFrame::new(50.85, 1.6);
    println!("| zones | R-tree lookup | linear scan (same run) | ratio | hits |");
    println!("|---|---|---|---|---|");
    for n in [10usize, 1000] {
        let zones: Vec<Zone> = (0..n).map(|i| strip(i, n)).collect();
        let index = ZoneIndex::new(zones.clone(), &frame);
        let projected: Vec<Polygon<f64>> = zones
            .iter()
            .map(|z| {
                let p = &z.geometry.0[0];
                Polygon::new(
                    LineString::new(
                        p.exterior()
                            .coords()
                            .map(|c| {
                                let (x, y) = frame.to_local(c.y, c.x);
                                Coord { x, y }
                            })
                            .collect(),
                    ),
                    vec![],
                )
            })
            .collect();
        // Deterministic query points: 1 in 4 inside some strip's span of longitude.
        let queries: Vec<(f64, f64)> = (0..100_000)
            .map(|k| {
                let lat = 49.5 + 2.7 * ((k as f64 * 0.618_033_988) % 1.0);
                let lon = 1.6 - 0.016 + 0.02 * ((k as f64 * 0.414_213_56) % 1.0);
                frame.to_local(lat, lon)
            })
            .collect();
        let best = |f: &mut dyn FnMut() -> usize| {
            let mut hits = 0;
            let t = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    hits = f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            (t / queries.len() as f64, hits)
        };
        let (tree, hits) = best(&mut || {
            queries
                .iter()
                .filter(|(x, y)| black_box(index.locate(*x, *y, None)).is_some())
                .count()
        });
        let (scan, hits2) = best(&mut || {
            queries
                .iter()
                .filter(|(x, y)| projected.iter().any(|p| p.contains(&Point::new(*x, *y))))
                .count()
        });
        assert_eq!(hits, hits2, "index and scan agree");
        println!(
            "| {n} | {:.0} ns | {:.0} ns | {:.1}x | {:.0} % |",
            tree * 1e9,
            scan * 1e9,
            scan / tree,
            100.0 * hits as f64 / queries.len() as f64
        );
    }
}
