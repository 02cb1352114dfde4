//! A uniform grid over points, rebuilt for every radar scan, answering "which points lie
//! within r of here".
//!
//! Why not rstar, which vigie uses for zones: gating needs a fresh index every scan (tracks
//! move), and bulk-loading an R-tree of a scan's worth of points was 15 % of all
//! instructions of the load-scene replay (BENCHMARKS.md). A grid whose cell is the search
//! radius answers each query from at most 3 × 3 cells; building it is one sort of packed
//! cell keys into a buffer that is reused from scan to scan, so no allocation either.

/// Points sorted by the cell they fall in; `slot` is the caller's index of the point.
#[derive(Debug, Default)]
pub struct Grid {
    cell: f64,
    /// (packed cell key, slot); sorted.
    entries: Vec<(u64, u32)>,
    points: Vec<[f64; 2]>,
}

fn cell_of(v: f64, cell: f64) -> i32 {
    // Saturating: a point 10⁹ cells away shares the edge cell with its neighbours, which
    // only costs distance checks; it cannot be missed, since every candidate is checked.
    (v / cell).floor().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

fn key(cx: i32, cy: i32) -> u64 {
    // Offset so that the packed key sorts by (cx, cy) as signed numbers.
    (((cx as i64 - i32::MIN as i64) as u64) << 32) | (cy as i64 - i32::MIN as i64) as u64
}

impl Grid {
    /// Empties the grid and sets its cell size (the search radius it will be queried with).
    pub fn reset(&mut self, cell: f64) {
        self.cell = cell.max(1.0);
        self.entries.clear();
        self.points.clear();
    }

    /// Adds a point with the caller's `slot`; call [`build`](Self::build) after the last.
    pub fn push(&mut self, p: [f64; 2], slot: u32) {
        let k = key(cell_of(p[0], self.cell), cell_of(p[1], self.cell));
        self.entries.push((k, slot));
        self.points.push(p);
    }

    pub fn build(&mut self) {
        self.entries.sort_unstable();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Calls `f(slot)` for every point within `radius` of `at`, in a fixed order. Any
    /// radius works; a radius about the cell size visits at most 3 × 3 cells.
    pub fn within(&self, at: [f64; 2], radius: f64, mut f: impl FnMut(u32)) {
        let r2 = radius * radius;
        let (x0, x1) = (
            cell_of(at[0] - radius, self.cell),
            cell_of(at[0] + radius, self.cell),
        );
        let (y0, y1) = (
            cell_of(at[1] - radius, self.cell),
            cell_of(at[1] + radius, self.cell),
        );
        for cx in x0..=x1 {
            let (lo, hi) = (key(cx, y0), key(cx, y1));
            let start = self.entries.partition_point(|e| e.0 < lo);
            for &(k, slot) in &self.entries[start..] {
                if k > hi {
                    break;
                }
                let p = self.points[slot as usize];
                let (dx, dy) = (p[0] - at[0], p[1] - at[1]);
                if dx * dx + dy * dy <= r2 {
                    f(slot);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn finds_exactly_the_points_a_brute_force_search_finds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pts: Vec<[f64; 2]> = (0..2_000)
            .map(|_| {
                [
                    rng.random_range(-30_000.0..30_000.0),
                    rng.random_range(-30_000.0..30_000.0),
                ]
            })
            .collect();
        let radius = 750.0;
        let mut g = Grid::default();
        g.reset(radius);
        for (i, p) in pts.iter().enumerate() {
            g.push(*p, i as u32);
        }
        g.build();
        let mut found_any = 0;
        for _ in 0..500 {
            let at = [
                rng.random_range(-31_000.0..31_000.0),
                rng.random_range(-31_000.0..31_000.0),
            ];
            let mut got = vec![];
            g.within(at, radius, |s| got.push(s));
            got.sort_unstable();
            let want: Vec<u32> = (0..pts.len() as u32)
                .filter(|&i| {
                    let p = pts[i as usize];
                    (p[0] - at[0]).powi(2) + (p[1] - at[1]).powi(2) <= radius * radius
                })
                .collect();
            assert_eq!(got, want, "at {at:?}");
            found_any += got.len();
        }
        assert!(found_any > 100, "the test queried where points are");
    }

    #[test]
    fn far_and_negative_coordinates_are_not_lost() {
        let mut g = Grid::default();
        g.reset(100.0);
        for (i, p) in [[-150.0, -0.5], [1e12, 5.0], [-1e12, -1e12], [0.0, 99.9]]
            .into_iter()
            .enumerate()
        {
            g.push(p, i as u32);
        }
        g.build();
        let mut got = vec![];
        g.within([-60.0, 0.0], 100.0, |s| got.push(s));
        g.within([1e12, 0.0], 100.0, |s| got.push(s));
        g.within([-1e12, -1e12], 100.0, |s| got.push(s));
        g.within([0.0, 0.0], 100.0, |s| got.push(s));
        assert_eq!(got, vec![0, 1, 2, 3]);
    }
}
