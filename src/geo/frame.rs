//! Local metric frame: WGS 84 latitude/longitude ↔ east/north metres around an origin.
//!
//! The tracker works in metres. We use the exact local tangent plane (ENU) of the WGS 84
//! ellipsoid at the origin, projected orthographically: forward goes through ECEF, and the
//! inverse finds the point *on the ellipsoid* (sea level) under a given (east, north) by
//! solving a quadratic, then converts ECEF back to geodetic. Positions are exact; lengths
//! shrink radially by cos(d/R), i.e. 1.1e-4 at 75 km and 2.8e-4 at 150 km from the origin,
//! so a 4 km radar range is off by under 1.2 m at 150 km: far below radar noise. Polar plots
//! are placed with the local Jacobian at their radar's site (see [`LocalFrame::jacobian`]),
//! which removes meridian convergence (≈0.5° at 50 km east of the origin at 51° N).

/// WGS 84 semi-major axis, metres.
const A: f64 = 6_378_137.0;
/// WGS 84 flattening.
const F: f64 = 1.0 / 298.257_223_563;
const E2: f64 = F * (2.0 - F);
const B: f64 = A * (1.0 - F);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LocalFrame {
    origin_lat: f64,
    origin_lon: f64,
    origin_ecef: [f64; 3],
    /// Rows: east, north, up unit vectors in ECEF.
    rot: [[f64; 3]; 3],
}

fn geodetic_to_ecef(lat_deg: f64, lon_deg: f64) -> [f64; 3] {
    let (sl, cl) = lat_deg.to_radians().sin_cos();
    let (so, co) = lon_deg.to_radians().sin_cos();
    let n = A / (1.0 - E2 * sl * sl).sqrt();
    [n * cl * co, n * cl * so, n * (1.0 - E2) * sl]
}

/// ECEF → geodetic latitude/longitude (degrees) of a point *on the ellipsoid*. There the
/// surface normal is (x/a², y/a², z/b²), so tan φ = z / (r (1 − e²)) exactly: no
/// iteration. Why this and not a general ECEF inverse (Bowring plus Newton steps): every
/// published track state goes through it, and the general one was 7 % of the load-scene
/// replay's instructions.
fn surface_to_geodetic(p: [f64; 3]) -> (f64, f64) {
    let [x, y, z] = p;
    let r = (x * x + y * y).sqrt();
    (
        z.atan2(r * (1.0 - E2)).to_degrees(),
        y.atan2(x).to_degrees(),
    )
}

impl LocalFrame {
    pub fn new(origin_lat: f64, origin_lon: f64) -> Self {
        let (sl, cl) = origin_lat.to_radians().sin_cos();
        let (so, co) = origin_lon.to_radians().sin_cos();
        let rot = [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ];
        LocalFrame {
            origin_lat,
            origin_lon,
            origin_ecef: geodetic_to_ecef(origin_lat, origin_lon),
            rot,
        }
    }

    pub fn origin(&self) -> (f64, f64) {
        (self.origin_lat, self.origin_lon)
    }

    /// (lat, lon) in degrees → (east, north) in metres.
    pub fn to_local(&self, lat: f64, lon: f64) -> (f64, f64) {
        let p = geodetic_to_ecef(lat, lon);
        let d = [
            p[0] - self.origin_ecef[0],
            p[1] - self.origin_ecef[1],
            p[2] - self.origin_ecef[2],
        ];
        let e = self.rot[0][0] * d[0] + self.rot[0][1] * d[1] + self.rot[0][2] * d[2];
        let n = self.rot[1][0] * d[0] + self.rot[1][1] * d[1] + self.rot[1][2] * d[2];
        (e, n)
    }

    /// (east, north) in metres → (lat, lon) in degrees of the sea-level point below.
    pub fn to_geodetic(&self, e: f64, n: f64) -> (f64, f64) {
        // Point = o + e·E + n·N + u·U; find u so the point lies on the ellipsoid.
        let [ex, nx, ux] = [self.rot[0], self.rot[1], self.rot[2]];
        let c = [
            self.origin_ecef[0] + e * ex[0] + n * nx[0],
            self.origin_ecef[1] + e * ex[1] + n * nx[1],
            self.origin_ecef[2] + e * ex[2] + n * nx[2],
        ];
        let (ia, ib) = (1.0 / (A * A), 1.0 / (B * B));
        let qa = (ux[0] * ux[0] + ux[1] * ux[1]) * ia + ux[2] * ux[2] * ib;
        let qb = 2.0 * ((c[0] * ux[0] + c[1] * ux[1]) * ia + c[2] * ux[2] * ib);
        let qc = (c[0] * c[0] + c[1] * c[1]) * ia + c[2] * c[2] * ib - 1.0;
        let disc = (qb * qb - 4.0 * qa * qc).max(0.0);
        // The root nearest zero (the other is on the far side of the Earth); written in the
        // cancellation-free form.
        let q = -0.5 * (qb + qb.signum() * disc.sqrt());
        let u = if q.abs() > 0.0 { qc / q } else { 0.0 };
        surface_to_geodetic([c[0] + u * ux[0], c[1] + u * ux[1], c[2] + u * ux[2]])
    }

    /// The 2×2 matrix that maps east/north metres *at a site* to frame metres, found by
    /// finite differences over 100 m. Polar plots are placed with it, so a radar far from
    /// the origin still points its bearings at true north.
    pub fn jacobian(&self, lat: f64, lon: f64) -> [[f64; 2]; 2] {
        let (x0, y0) = self.to_local(lat, lon);
        let h = 100.0;
        let m_per_deg_lat = {
            let sl = lat.to_radians().sin();
            let w = 1.0 - E2 * sl * sl;
            A * (1.0 - E2) / (w * w.sqrt()) * std::f64::consts::PI / 180.0
        };
        let m_per_deg_lon = {
            let sl = lat.to_radians().sin();
            A / (1.0 - E2 * sl * sl).sqrt() * lat.to_radians().cos() * std::f64::consts::PI / 180.0
        };
        let (xe, ye) = self.to_local(lat, lon + h / m_per_deg_lon);
        let (xn, yn) = self.to_local(lat + h / m_per_deg_lat, lon);
        [
            [(xe - x0) / h, (xn - x0) / h],
            [(ye - y0) / h, (yn - y0) / h],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Distance, Geodesic, Point};

    #[test]
    fn round_trip_is_exact_over_150_km() {
        let f = LocalFrame::new(50.75, 1.6);
        for &(lat, lon) in &[
            (50.75, 1.6),
            (51.4, 2.7),
            (50.1, 0.5),
            (51.35, 0.6),
            (49.9, 2.9),
        ] {
            let (e, n) = f.to_local(lat, lon);
            let (la, lo) = f.to_geodetic(e, n);
            // 1e-10° is 11 µm.
            assert!(
                (la - lat).abs() < 1e-10 && (lo - lon).abs() < 1e-10,
                "{lat} {lon}: {la} {lo}"
            );
        }
    }

    #[test]
    fn local_distances_match_geodesic_far_from_origin() {
        // A 4 km radar range measured 110 km from the origin: the frame distance must agree
        // with the true (Karney) geodesic far below radar noise (~15 m).
        let f = LocalFrame::new(50.75, 1.6);
        let (a, b) = ((51.35, 2.9), (51.38, 2.95));
        let (xa, ya) = f.to_local(a.0, a.1);
        let (xb, yb) = f.to_local(b.0, b.1);
        let d_frame = ((xa - xb).powi(2) + (ya - yb).powi(2)).sqrt();
        let d_true = Geodesic.distance(Point::new(a.1, a.0), Point::new(b.1, b.0));
        assert!((d_frame - d_true).abs() < 1.5, "{d_frame} vs {d_true}");
    }

    #[test]
    fn jacobian_places_polar_plots_true_north() {
        // A point 5 km due north of a site 60 km east of the origin.
        let f = LocalFrame::new(50.75, 1.6);
        let site = (50.9, 2.45);
        let j = f.jacobian(site.0, site.1);
        let (sx, sy) = f.to_local(site.0, site.1);
        let (e, n) = (0.0, 5000.0);
        let (px, py) = (
            sx + j[0][0] * e + j[0][1] * n,
            sy + j[1][0] * e + j[1][1] * n,
        );
        let (lat, lon) = f.to_geodetic(px, py);
        let d = Geodesic.distance(Point::new(site.1, site.0), Point::new(lon, lat));
        assert!((d - 5000.0).abs() < 1.0, "range {d}");
        assert!((lon - site.1).abs() < 2e-5, "bearing off: lon {lon}");
    }
}
