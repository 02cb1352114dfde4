//! Interception zones: GeoJSON (Multi)Polygons in an R-tree, looked up by local position.
//!
//! Zones are projected once into the tracker's metric frame, so a lookup is an R-tree query
//! on bounding boxes (rstar) and an exact point-in-polygon test (geo) on the few candidates,
//! with no per-lookup coordinate conversion.

use super::frame::LocalFrame;
use geo::{Contains, Coord, LineString, MultiPolygon, Point, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{Envelope, RTree};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("cannot read zone file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("zone file {path} is not valid GeoJSON: {message}\n  fix: give a FeatureCollection of Polygon/MultiPolygon features")]
    Json { path: String, message: String },
    #[error("zone file {path}, feature {index}{id}: {reason}\n  fix: {fix}")]
    Feature {
        path: String,
        index: usize,
        id: String,
        reason: String,
        fix: String,
    },
}

/// One interception zone.
#[derive(Debug, Clone)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// WGS 84, x = longitude, y = latitude.
    pub geometry: MultiPolygon<f64>,
}

/// Loads a GeoJSON FeatureCollection. Every feature needs a Polygon or MultiPolygon whose
/// rings are closed, with at least 4 positions, inside WGS 84 bounds.
pub fn load(path: &Path) -> Result<Vec<Zone>, ZoneError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ZoneError::Read {
        path: p.clone(),
        source,
    })?;
    parse(&text, &p)
}

pub fn parse(text: &str, origin: &str) -> Result<Vec<Zone>, ZoneError> {
    let gj: geojson::GeoJson = text.parse().map_err(|e: geojson::Error| ZoneError::Json {
        path: origin.to_string(),
        message: e.to_string(),
    })?;
    let geojson::GeoJson::FeatureCollection(fc) = gj else {
        return Err(ZoneError::Json {
            path: origin.to_string(),
            message: "top level is not a FeatureCollection".into(),
        });
    };
    let mut zones = Vec::with_capacity(fc.features.len());
    let mut ids = std::collections::HashSet::new();
    for (index, f) in fc.features.iter().enumerate() {
        let prop = |k: &str| {
            f.properties
                .as_ref()
                .and_then(|p| p.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let id = prop("id").unwrap_or_else(|| format!("zone-{index}"));
        let err = |reason: String, fix: &str| ZoneError::Feature {
            path: origin.to_string(),
            index,
            id: format!(" (id {id:?})"),
            reason,
            fix: fix.to_string(),
        };
        if !ids.insert(id.clone()) {
            return Err(err(
                "duplicate id".into(),
                "give every zone its own `id` property",
            ));
        }
        let Some(g) = &f.geometry else {
            return Err(err(
                "no geometry".into(),
                "give the feature a Polygon or MultiPolygon",
            ));
        };
        let polys: Vec<&Vec<Vec<geojson::Position>>> = match &g.value {
            geojson::GeometryValue::Polygon { coordinates: p } => vec![p],
            geojson::GeometryValue::MultiPolygon { coordinates: mp } => mp.iter().collect(),
            other => {
                return Err(err(
                    format!(
                        "geometry is a {}, not a Polygon or MultiPolygon",
                        other.type_name()
                    ),
                    "zones must be areas",
                ))
            }
        };
        let mut out = Vec::with_capacity(polys.len());
        for (pi, rings) in polys.into_iter().enumerate() {
            let mut lines = Vec::with_capacity(rings.len());
            for (ri, ring) in rings.iter().enumerate() {
                let at = format!("polygon {pi}, ring {ri}");
                if ring.len() < 4 {
                    return Err(err(
                        format!("{at} has {} positions; a ring needs at least 4", ring.len()),
                        "a closed ring repeats its first position last",
                    ));
                }
                let mut coords = Vec::with_capacity(ring.len());
                for pos in ring {
                    let xy = pos.as_slice();
                    let (lon, lat) = (
                        *xy.first().unwrap_or(&f64::NAN),
                        *xy.get(1).unwrap_or(&f64::NAN),
                    );
                    if !((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)) {
                        return Err(err(
                            format!("{at} has a position off the globe: [{lon}, {lat}]"),
                            "positions are [longitude, latitude] in WGS 84 degrees",
                        ));
                    }
                    coords.push(Coord { x: lon, y: lat });
                }
                if coords.first() != coords.last() {
                    return Err(err(
                        format!("{at} does not close (first position differs from last)"),
                        "repeat the first position at the end of the ring",
                    ));
                }
                lines.push(LineString::new(coords));
            }
            let mut it = lines.into_iter();
            let exterior = it
                .next()
                .ok_or_else(|| err(format!("polygon {pi} has no ring"), "give an exterior ring"))?;
            out.push(Polygon::new(exterior, it.collect()));
        }
        zones.push(Zone {
            name: prop("name").unwrap_or_else(|| id.clone()),
            kind: prop("kind").unwrap_or_else(|| "shallow_water".into()),
            id,
            geometry: MultiPolygon::new(out),
        });
    }
    Ok(zones)
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Zones in the local frame with an R-tree over their polygons' bounding boxes.
#[derive(Debug, Clone)]
pub struct ZoneIndex {
    zones: Vec<Zone>,
    /// One projected polygon per R-tree entry: (zone index, polygon).
    polygons: Vec<(usize, Polygon<f64>)>,
    tree: RTree<Entry>,
    by_id: std::collections::HashMap<String, usize>,
    /// Per zone: its strip, the lowest zone index among the zones it touches directly or
    /// through others (see [`strip`](Self::strip)).
    strips: Vec<usize>,
}

/// Zones closer than this (m) touch: derived zones share their boundary to within the
/// projection's rounding, and a hand-drawn file leaves gaps of a few centimetres.
const TOUCH_M: f64 = 1.0;

/// The strips of `polygons` (zone index, polygon): union-find over zones whose polygons
/// intersect or come within [`TOUCH_M`].
fn strips(n_zones: usize, polygons: &[(usize, Polygon<f64>)], tree: &RTree<Entry>) -> Vec<usize> {
    use geo::{Distance, Euclidean};
    use rstar::RTreeObject;
    let mut parent: Vec<usize> = (0..n_zones).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for e in tree.iter() {
        let (za, pa) = &polygons[e.data];
        let env = e.envelope();
        let (lo, hi) = (env.lower(), env.upper());
        let near = rstar::AABB::from_corners(
            [lo[0] - TOUCH_M, lo[1] - TOUCH_M],
            [hi[0] + TOUCH_M, hi[1] + TOUCH_M],
        );
        for f in tree.locate_in_envelope_intersecting(&near) {
            let (zb, pb) = &polygons[f.data];
            if za == zb {
                continue;
            }
            let (ra, rb) = (find(&mut parent, *za), find(&mut parent, *zb));
            if ra == rb {
                continue;
            }
            if Euclidean.distance(pa, pb) <= TOUCH_M {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    (0..n_zones).map(|i| find(&mut parent, i)).collect()
}

impl ZoneIndex {
    /// No zones: what an engine restored from a snapshot holds until its zones are set
    /// (the snapshot does not carry them).
    pub fn empty() -> Self {
        ZoneIndex::new(Vec::new(), &LocalFrame::new(0.0, 0.0))
    }

    pub fn new(zones: Vec<Zone>, frame: &LocalFrame) -> Self {
        let mut polygons = Vec::new();
        for (zi, z) in zones.iter().enumerate() {
            for poly in &z.geometry {
                let proj = |ls: &LineString<f64>| {
                    LineString::new(
                        ls.coords()
                            .map(|c| {
                                let (x, y) = frame.to_local(c.y, c.x);
                                Coord { x, y }
                            })
                            .collect(),
                    )
                };
                let p = Polygon::new(
                    proj(poly.exterior()),
                    poly.interiors().iter().map(proj).collect(),
                );
                polygons.push((zi, p));
            }
        }
        let entries = polygons
            .iter()
            .enumerate()
            .map(|(i, (_, p))| {
                let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
                for c in p.exterior().coords() {
                    lo = [lo[0].min(c.x), lo[1].min(c.y)];
                    hi = [hi[0].max(c.x), hi[1].max(c.y)];
                }
                GeomWithData::new(Rectangle::from_corners(lo, hi), i)
            })
            .collect();
        let tree = RTree::bulk_load(entries);
        ZoneIndex {
            strips: strips(zones.len(), &polygons, &tree),
            by_id: zones
                .iter()
                .enumerate()
                .map(|(i, z)| (z.id.clone(), i))
                .collect(),
            zones,
            polygons,
            tree,
        }
    }

    /// The strip of zone `zi`: zones that touch count as one strip for the loiter rule
    /// (contract §4), so a boat sitting on or near the line between two adjacent zones is
    /// still loitering, whichever side of the line its estimate jitters to. Two zones are in
    /// one strip exactly when their strips are equal.
    pub fn strip(&self, zi: usize) -> usize {
        self.strips[zi]
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// Is the point inside the box around every zone? Most tracks (ships in the strait) are
    /// far from the beaches; one box test spares them the R-tree's query iterator, which
    /// was most of the zone check per track state.
    fn covers(&self, x: f64, y: f64) -> bool {
        self.tree.root().envelope().contains_point(&[x, y])
    }

    /// Is the local point inside zone `zi`?
    pub fn contains(&self, zi: usize, x: f64, y: f64) -> bool {
        if !self.covers(x, y) {
            return false;
        }
        let pt = Point::new(x, y);
        self.tree
            .locate_all_at_point(&[x, y])
            .any(|e| self.polygons[e.data].0 == zi && self.polygons[e.data].1.contains(&pt))
    }

    /// The zone containing the point: `prefer` if it still does (so a track on an overlap
    /// does not hop between zones), else the one with the lowest index.
    pub fn locate(&self, x: f64, y: f64, prefer: Option<usize>) -> Option<usize> {
        if !self.covers(x, y) {
            return None;
        }
        let pt = Point::new(x, y);
        let mut best: Option<usize> = None;
        for e in self.tree.locate_all_at_point(&[x, y]) {
            let (zi, poly) = &self.polygons[e.data];
            if best.is_some_and(|b| b <= *zi) && prefer != Some(*zi) {
                continue;
            }
            if poly.contains(&pt) {
                if prefer == Some(*zi) {
                    return Some(*zi);
                }
                best = Some(best.map_or(*zi, |b| b.min(*zi)));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"id":"a","name":"A","kind":"shallow_water"},
       "geometry":{"type":"Polygon","coordinates":[[[1.0,50.0],[1.01,50.0],[1.01,50.01],[1.0,50.01],[1.0,50.0]],
                                                    [[1.004,50.004],[1.006,50.004],[1.006,50.006],[1.004,50.006],[1.004,50.004]]]}},
      {"type":"Feature","properties":{"id":"b","name":"B"},
       "geometry":{"type":"MultiPolygon","coordinates":[[[[1.005,50.0],[1.02,50.0],[1.02,50.01],[1.005,50.01],[1.005,50.0]]]]}}]}"#;

    #[test]
    fn zones_that_touch_make_one_strip() {
        // a and b share the meridian 1.01; c is 700 m beyond b; d overlaps c: {a, b}, {c, d}.
        let sq = |id: &str, lon0: f64, lon1: f64| {
            format!(
                r#"{{"type":"Feature","properties":{{"id":"{id}","name":"{id}"}},"geometry":{{"type":"Polygon","coordinates":[[[{lon0},50.0],[{lon1},50.0],[{lon1},50.01],[{lon0},50.01],[{lon0},50.0]]]}}}}"#
            )
        };
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{},{},{}]}}"#,
            sq("a", 1.0, 1.01),
            sq("b", 1.01, 1.02),
            sq("c", 1.03, 1.04),
            sq("d", 1.035, 1.05)
        );
        let f = LocalFrame::new(50.0, 1.0);
        let idx = ZoneIndex::new(parse(&text, "t").unwrap(), &f);
        let s: Vec<usize> = (0..4).map(|i| idx.strip(i)).collect();
        assert_eq!(s, [0, 0, 2, 2]);
        // The fixture's beaches run along one coast: some of them touch.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/zones/cote-dopale.geojson"
        );
        let zones = load(Path::new(path)).unwrap();
        let n = zones.len();
        let idx = ZoneIndex::new(zones, &f);
        let strips: std::collections::BTreeSet<usize> = (0..n).map(|i| idx.strip(i)).collect();
        assert!(
            strips.len() < n && !strips.is_empty(),
            "{} strips of {n} zones",
            strips.len()
        );
    }

    #[test]
    fn holes_overlaps_and_preference() {
        let f = LocalFrame::new(50.0, 1.0);
        let idx = ZoneIndex::new(parse(TWO, "t").unwrap(), &f);
        let at = |lat, lon, pref| {
            let (x, y) = f.to_local(lat, lon);
            idx.locate(x, y, pref)
        };
        assert_eq!(at(50.002, 1.002, None), Some(0));
        assert_eq!(
            at(50.005, 1.0045, None),
            None,
            "inside the hole of a, outside b"
        );
        assert_eq!(at(50.002, 1.008, None), Some(0), "overlap: lowest index");
        assert_eq!(
            at(50.002, 1.008, Some(1)),
            Some(1),
            "overlap: stays in its zone"
        );
        assert_eq!(at(50.002, 1.015, None), Some(1));
        assert_eq!(at(50.02, 1.015, None), None);
        assert_eq!(idx.zones()[1].kind, "shallow_water");
    }

    #[test]
    fn invalid_geometry_names_feature_and_reason() {
        let open = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"z"},
          "geometry":{"type":"Polygon","coordinates":[[[1,50],[2,50],[2,51],[1,51]]]}}]}"#;
        let e = parse(open, "f.geojson").unwrap_err().to_string();
        assert!(
            e.contains("feature 0") && e.contains("does not close") && e.contains("\"z\""),
            "{e}"
        );
        let pt = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
          "geometry":{"type":"Point","coordinates":[1,50]}}]}"#;
        assert!(parse(pt, "f").unwrap_err().to_string().contains("Point"));
        assert!(parse("{", "f")
            .unwrap_err()
            .to_string()
            .contains("not valid GeoJSON"));
    }
}
