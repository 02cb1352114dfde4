//! The coastline, for saying where a boat is as a watch officer would: "180 m off the beach,
//! bearing 275° from it".
//!
//! The land polygons are projected once into the tracker's metric frame; the nearest shore
//! point is then the closest point (geo's `ClosestPoint`) on any ring of any land polygon, in
//! metres, so the answer has no latitude distortion. Only alert reports ask (a few a minute
//! at most), so a walk over every ring is cheap enough: ~2,000 vertices for the Dover Strait.

use super::frame::LocalFrame;
use geo::{Closest, ClosestPoint, Coord, LineString, Point};

/// The land of the Dover Strait from OpenStreetMap (ODbL; see `fixtures/coast/README.md`):
/// the coast the fixture zones were derived from, embedded so that reports and the console's
/// map need no file and no internet.
pub const DOVER_STRAIT_LAND: &str = include_str!("../../fixtures/coast/dover-strait-land.geojson");

/// Land rings (exteriors and holes alike: each is shore) in the local frame.
#[derive(Debug, Clone)]
pub struct Coast {
    frame: LocalFrame,
    rings: Vec<LineString<f64>>,
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
        let mut rings = vec![];
        for f in &fc.features {
            let Some(g) = &f.geometry else { continue };
            let polygons = match &g.value {
                geojson::GeometryValue::Polygon { coordinates: p } => vec![p],
                geojson::GeometryValue::MultiPolygon { coordinates: mp } => mp.iter().collect(),
                _ => continue,
            };
            for p in polygons {
                for ring in p {
                    let ls: LineString<f64> = ring
                        .iter()
                        .map(|c| c.as_slice())
                        .filter(|c| c.len() >= 2)
                        .map(|c| {
                            let (x, y) = frame.to_local(c[1], c[0]);
                            Coord { x, y }
                        })
                        .collect();
                    if ls.0.len() >= 2 {
                        rings.push(ls);
                    }
                }
            }
        }
        Ok(Coast {
            frame: frame.clone(),
            rings,
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
        let p = Point::new(x, y);
        let mut best: Option<(f64, Point<f64>)> = None;
        for ring in &self.rings {
            let q = match ring.closest_point(&p) {
                Closest::Intersection(q) | Closest::SinglePoint(q) => q,
                Closest::Indeterminate => continue,
            };
            let d = ((q.x() - x).powi(2) + (q.y() - y).powi(2)).sqrt();
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, q));
            }
        }
        let (d, q) = best.filter(|(d, _)| *d <= max_m)?;
        let (slat, slon) = self.frame.to_geodetic(q.x(), q.y());
        Some(Shore {
            lat: slat,
            lon: slon,
            distance_m: d,
            bearing_deg: (x - q.x()).atan2(y - q.y()).to_degrees().rem_euclid(360.0),
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
}
