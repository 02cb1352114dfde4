//! A uniform grid over points, rebuilt for every radar scan, answering "which points lie
//! within r of here".
//!
//! Why not rstar, which vigie uses for zones: gating needs a fresh index every scan (tracks
//! move), and bulk-loading an R-tree of a scan's worth of points was 15 % of all
//! instructions of the load-scene replay (BENCHMARKS.md). A grid over the scan's bounding
//! box whose cell is the search radius answers each query from at most 3 × 3 cells, found
//! by index; building it is a counting sort into buffers reused from scan to scan (a
//! comparison sort of cell keys, the first version, cost 5 % of the replay on its own).

/// Most cells a grid spans: past this (a scan spread over hundreds of kilometres, say) the
/// cells grow instead, which only costs distance checks. Clearing the cell table is then at
/// most 64 K writes per scan.
const MAX_CELLS: usize = 1 << 16;

/// Points bucketed by cell in one array (compressed rows: `start[c]..start[c + 1]` are the
/// slots of cell `c`), built by a counting sort: no comparison sort, no hashing, and a query
/// finds its cells by index.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    cell: f64,
    origin: [f64; 2],
    nx: usize,
    ny: usize,
    start: Vec<u32>,
    /// Insertion indices, grouped by cell, in insertion order within a cell.
    slots: Vec<u32>,
    /// Per insertion: the point.
    points: Vec<[f64; 2]>,
    /// Per insertion: its cell.
    cell_of: Vec<u32>,
}

impl Grid {
    /// Empties the grid for points in the box `lo`..`hi` (points outside are kept in the
    /// edge cells, never lost), with cells about `cell` metres wide.
    pub fn reset(&mut self, cell: f64, lo: [f64; 2], hi: [f64; 2]) {
        let (w, h) = ((hi[0] - lo[0]).max(0.0), (hi[1] - lo[1]).max(0.0));
        let mut cell = cell.max(1.0);
        if !(w.is_finite() && h.is_finite()) {
            cell = f64::INFINITY;
        } else if (w / cell + 1.0) * (h / cell + 1.0) > MAX_CELLS as f64 {
            cell = ((w + cell) * (h + cell) / MAX_CELLS as f64)
                .sqrt()
                .max(cell)
                * 1.01;
        }
        self.cell = cell;
        self.origin = if lo[0].is_finite() && lo[1].is_finite() {
            lo
        } else {
            [0.0; 2]
        };
        self.nx = if cell.is_finite() {
            (w / cell) as usize + 1
        } else {
            1
        };
        self.ny = if cell.is_finite() {
            (h / cell) as usize + 1
        } else {
            1
        };
        self.points.clear();
        self.cell_of.clear();
        self.slots.clear();
        self.start.clear();
    }

    fn index(&self, v: f64, o: f64, n: usize) -> usize {
        // NaN and negatives go to 0; beyond the box to the last cell.
        let i = ((v - o) / self.cell).floor();
        if i >= 1.0 {
            (i as usize).min(n - 1)
        } else {
            0
        }
    }

    /// Adds a point; [`within`](Self::within) names it by its insertion index (0, 1, …).
    /// Call [`build`](Self::build) after the last.
    pub fn push(&mut self, p: [f64; 2]) {
        let c = self.index(p[1], self.origin[1], self.ny) * self.nx
            + self.index(p[0], self.origin[0], self.nx);
        self.points.push(p);
        self.cell_of.push(c as u32);
    }

    pub fn build(&mut self) {
        let cells = self.nx * self.ny;
        self.start.resize(cells + 1, 0);
        for &c in &self.cell_of {
            self.start[c as usize + 1] += 1;
        }
        for c in 0..cells {
            self.start[c + 1] += self.start[c];
        }
        self.slots.resize(self.points.len(), 0);
        // `start[c]` walks forward as cell c fills, then is put back.
        for (k, &c) in self.cell_of.iter().enumerate() {
            let at = &mut self.start[c as usize];
            self.slots[*at as usize] = k as u32;
            *at += 1;
        }
        for c in (1..=cells).rev() {
            self.start[c] = self.start[c - 1];
        }
        self.start[0] = 0;
    }

    /// Calls `f(k)` for every point within `radius` of `at` (`k`: its insertion index), in
    /// a fixed order. Any
    /// radius works; a radius about the cell size visits at most 3 × 3 cells.
    pub fn within(&self, at: [f64; 2], radius: f64, mut f: impl FnMut(u32)) {
        if self.points.is_empty() {
            return;
        }
        let r2 = radius * radius;
        let (x0, x1) = (
            self.index(at[0] - radius, self.origin[0], self.nx),
            self.index(at[0] + radius, self.origin[0], self.nx),
        );
        let (y0, y1) = (
            self.index(at[1] - radius, self.origin[1], self.ny),
            self.index(at[1] + radius, self.origin[1], self.ny),
        );
        for cy in y0..=y1 {
            let row = cy * self.nx;
            let span = self.start[row + x0] as usize..self.start[row + x1 + 1] as usize;
            for &k in &self.slots[span] {
                let p = self.points[k as usize];
                let (dx, dy) = (p[0] - at[0], p[1] - at[1]);
                if dx * dx + dy * dy <= r2 {
                    f(k);
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
        g.reset(radius, [-30_000.0; 2], [30_000.0; 2]);
        for p in &pts {
            g.push(*p);
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
        // A box smaller than where the points are: the far ones sit in edge cells.
        g.reset(100.0, [-200.0; 2], [200.0; 2]);
        for p in [[-150.0, -0.5], [1e12, 5.0], [-1e12, -1e12], [0.0, 99.9]] {
            g.push(p);
        }
        g.build();
        let mut got = vec![];
        g.within([-60.0, 0.0], 100.0, |s| got.push(s));
        g.within([1e12, 0.0], 100.0, |s| got.push(s));
        g.within([-1e12, -1e12], 100.0, |s| got.push(s));
        g.within([0.0, 0.0], 100.0, |s| got.push(s));
        assert_eq!(got, vec![0, 1, 2, 3]);
        // A box so wide that the cells must grow; NaN lands somewhere and is never found.
        g.reset(10.0, [-1e9; 2], [1e9; 2]);
        assert!(g.nx * g.ny <= MAX_CELLS);
        for p in [[5.0, 5.0], [f64::NAN, 0.0], [9e8, -9e8]] {
            g.push(p);
        }
        g.build();
        let mut got = vec![];
        g.within([0.0, 0.0], 10.0, |s| got.push(s));
        g.within([9e8, -9e8 + 3.0], 10.0, |s| got.push(s));
        assert_eq!(got, vec![0, 2]);
    }
}
