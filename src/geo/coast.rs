//! The coastline, for saying where a boat is as a watch officer would: "180 m off the beach,
//! bearing 275° from it".
//!
//! The land polygons are projected once into the tracker's metric frame, and every shore
//! segment goes into an R-tree (rstar); the nearest shore point is then the closest point on
//! the nearest segment, in metres, so the answer has no latitude distortion. Only alert
//! reports ask, but each alert event asks (CAP, CISE, SITREP): a walk over the ~2,000
//! segments of the Dover Strait cost 430,000 instructions a call, the tree ~1 % of that.

use super::frame::LocalFrame;
use rstar::primitives::Line;
use rstar::RTree;

/// The land of the Dover Strait from OpenStreetMap (ODbL; see `fixtures/coast/README.md`):
/// the coast the fixture zones were derived from, embedded so that reports and the console's
/// map need no file and no internet.
pub const DOVER_STRAIT_LAND: &str = include_str!("../../fixtures/coast/dover-strait-land.geojson");

/// Shore segments of the land rings (exteriors and holes alike: each is shore) in the
/// local frame.
#[derive(Debug, Clone)]
pub struct Coast {
    frame: LocalFrame,
    segments: RTree<Line<[f64; 2]>>,
}

/// The nearest shore point to a position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shore {
    pub lat: f64,
    pub lon: f64,
    /// Metres from the shore point to the position.
    pub distance_m: f64,
    /// True bearing (degrees, 0–360) from the shore point to the position: where to look
    /// from the beach.
    pub bearing_deg: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("coastline GeoJSON: {0}")]
pub struct CoastError(String);

impl Coast {
    /// Reads land (Multi)Polygons from a GeoJSON FeatureCollection; other geometries are
    /// ignored.
    pub fn parse(geojson: &str, frame: &LocalFrame) -> Result<Self, CoastError> {
        let gj: geojson::GeoJson = geojson
            .parse()
            .map_err(|e: geojson::Error| CoastError(e.to_string()))?;
        let geojson::GeoJson::FeatureCollection(fc) = gj else {
            return Err(CoastError("top level is not a FeatureCollection".into()));
        };
        let mut segments = vec![];
        for f in &fc.features {
            let Some(g) = &f.geometry else { continue };
            let polygons: Vec<&Vec<Vec<geojson::Position>>> = match &g.value {
                geojson::GeometryValue::Polygon { coordinates: p } => vec![p],
                geojson::GeometryValue::MultiPolygon { coordinates: mp } => mp.iter().collect(),
                _ => continue,
            };
            for ring in polygons.into_iter().flatten() {
                let points: Vec<[f64; 2]> = ring
                    .iter()
                    .map(|c| c.as_slice())
                    .filter(|c| c.len() >= 2)
                    .map(|c| {
                        let (x, y) = frame.to_local(c[1], c[0]);
                        [x, y]
                    })
                    .collect();
                segments.extend(points.windows(2).map(|w| Line::new(w[0], w[1])));
            }
        }
        Ok(Coast {
            frame: frame.clone(),
            segments: RTree::bulk_load(segments),
        })
    }

    /// The embedded Dover Strait coast in `frame`.
    pub fn dover_strait(frame: &LocalFrame) -> Self {
        Self::parse(DOVER_STRAIT_LAND, frame).expect("the embedded coast is valid GeoJSON")
    }

    /// The nearest shore point within `max_m`, or `None` (no coast near: zones elsewhere
    /// than the embedded coast, or a position far at sea).
    pub fn nearest(&self, lat: f64, lon: f64, max_m: f64) -> Option<Shore> {
        let (x, y) = self.frame.to_local(lat, lon);
        let seg = self.segments.nearest_neighbor(&[x, y])?;
        let q = seg.nearest_point(&[x, y]);
        let d = ((q[0] - x).powi(2) + (q[1] - y).powi(2)).sqrt();
        if d > max_m {
            return None;
        }
        let (slat, slon) = self.frame.to_geodetic(q[0], q[1]);
        Some(Shore {
            lat: slat,
            lon: slon,
            distance_m: d,
            bearing_deg: (x - q[0]).atan2(y - q[1]).to_degrees().rem_euclid(360.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boat_off_equihen_is_a_few_hundred_metres_west_of_the_beach() {
        let frame = LocalFrame::new(50.8, 1.6);
        let coast = Coast::dover_strait(&frame);
        // The equihen-pickup scene's boat, in the 300 m band off the beach.
        let s = coast.nearest(50.676755, 1.563061, 20_000.0).unwrap();
        assert!(s.distance_m > 20.0 && s.distance_m < 400.0, "{s:?}");
        // The beach faces west: the boat is seaward, between south-west and north-west.
        assert!((225.0..315.0).contains(&s.bearing_deg), "{s:?}");
        // Mid-Channel is far from every shore; the limit says so.
        assert!(coast.nearest(50.95, 1.35, 5_000.0).is_none());
    }

    /// The tree finds what a walk over every shore segment finds, on the real coast, for
    /// points on land, in the surf and at sea across the strait.
    #[test]
    fn the_tree_agrees_with_a_walk_over_every_segment() {
        let frame = LocalFrame::new(50.8, 1.6);
        let coast = Coast::dover_strait(&frame);
        let all: Vec<&Line<[f64; 2]>> = coast.segments.iter().collect();
        assert!(all.len() > 1000, "{} segments", all.len());
        for i in 0..40 {
            for j in 0..40 {
                let (lat, lon) = (50.35 + 0.02 * i as f64, 1.0 + 0.04 * j as f64);
                let (x, y) = frame.to_local(lat, lon);
                let walk = all
                    .iter()
                    .map(|l| {
                        let q = l.nearest_point(&[x, y]);
                        ((q[0] - x).powi(2) + (q[1] - y).powi(2)).sqrt()
                    })
                    .fold(f64::INFINITY, f64::min);
                let got = coast.nearest(lat, lon, f64::INFINITY).unwrap();
                assert!(
                    (got.distance_m - walk).abs() < 1e-6,
                    "{lat},{lon}: {got:?} vs {walk}"
                );
            }
        }
    }
}
