//! The data associator: which track takes which plot, given the hypothesiser's gated pairs.
//!
//! Global nearest neighbour: the least total cost over each cluster of tracks and plots
//! linked by gates (Kuhn–Munkres), with a "no plot" option per track. Confirmed tracks
//! choose first and tentative tracks share the plots they left.
//!
//! Why confirmed first: a boat that sets off from a stop outruns its track's velocity for a
//! few seconds, and a plot just beyond the track's gate starts a tentative track that is
//! already at the boat's new position. Assigned together, the tentative track fits the next
//! plots better and takes them; the vessel's track, with its history and its loiter dwell,
//! starves and is deleted (three-pickups' taxi-boat lost its track so, leaving Équihen at
//! 20 kn). Established tracks first is the usual order of track maintenance before
//! initiation; a new boat beside a confirmed one still gets the plots the confirmed track
//! does not take.

use super::hypothesiser::Edge;
use pathfinding::prelude::{kuhn_munkres_min, Matrix};
use rustc_hash::FxHashMap;

/// Costs are scaled to integers for Kuhn–Munkres (which needs a total order).
const COST_SCALE: f64 = 1e6;

/// The associations of one scan: confirmed tracks' first, then tentative tracks' on the
/// plots left. `taken_by` (one entry per plot, all `None` on entry) is left naming the
/// track each plot went to. `no_plot` is what leaving a track without a plot costs.
pub fn associate(edges: Vec<Edge>, taken_by: &mut [Option<u64>], no_plot: f64) -> Vec<Edge> {
    let n_plots = taken_by.len();
    let (confirmed, tentative): (Vec<Edge>, Vec<Edge>) =
        edges.into_iter().partition(|e| e.confirmed);
    let first = assign(&confirmed, n_plots, no_plot);
    for &e in &first {
        taken_by[confirmed[e].plot] = Some(confirmed[e].track);
    }
    let left: Vec<Edge> = tentative
        .into_iter()
        .filter(|e| taken_by[e.plot].is_none())
        .collect();
    let second = assign(&left, n_plots, no_plot);
    let mut out: Vec<Edge> = first.iter().map(|&e| confirmed[e]).collect();
    out.extend(second.iter().map(|&e| left[e]));
    for e in &out {
        taken_by[e.plot] = Some(e.track);
    }
    out
}

/// Global nearest neighbour: solves the assignment separately for each cluster of tracks
/// and plots linked by gates, with a "no plot" option per track costing the gate value.
/// Returns the indices of the chosen edges (which edges, not their order, is independent
/// of the order of `edges`).
fn assign(edges: &[Edge], n_plots: usize, gate: f64) -> Vec<usize> {
    if edges.is_empty() {
        return Vec::new();
    }
    // Most edges are alone: the only plot in their track's gate and the only track near
    // their plot. Those are taken as they are; only the rest are clustered and sorted (the
    // sort of every edge was 4 % of the load-scene replay).
    let mut per_plot = vec![0u32; n_plots];
    let mut per_track: FxHashMap<u64, u32> =
        FxHashMap::with_capacity_and_hasher(edges.len(), Default::default());
    for e in edges {
        per_plot[e.plot] += 1;
        *per_track.entry(e.track).or_insert(0) += 1;
    }
    let mut out = Vec::new();
    let mut shared = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        if per_plot[e.plot] == 1 && per_track[&e.track] == 1 {
            out.push(i);
        } else {
            shared.push(i);
        }
    }
    if shared.is_empty() {
        return out;
    }
    // Union-find over plots; tracks join the cluster of their first plot.
    let mut parent: Vec<usize> = (0..n_plots).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut first_plot: FxHashMap<u64, usize> =
        FxHashMap::with_capacity_and_hasher(shared.len(), Default::default());
    for &i in &shared {
        let e = &edges[i];
        let root = *first_plot.entry(e.track).or_insert(e.plot);
        let (a, b) = (find(&mut parent, root), find(&mut parent, e.plot));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    // Edges sorted by (cluster root, track, plot): each cluster is one run, in a fixed order.
    let mut order: Vec<(usize, u64, usize, usize)> = shared
        .iter()
        .map(|&i| {
            let e = &edges[i];
            (find(&mut parent, e.plot), e.track, e.plot, i)
        })
        .collect();
    order.sort_unstable();
    for es in order.chunk_by(|a, b| a.0 == b.0) {
        if es.len() == 1 {
            out.push(es[0].3);
            continue;
        }
        let mut tids: Vec<u64> = es.iter().map(|e| e.1).collect();
        tids.dedup();
        let mut pids: Vec<usize> = es.iter().map(|e| e.2).collect();
        pids.sort_unstable();
        pids.dedup();
        let (n, m) = (tids.len(), pids.len());
        let forbidden = (gate * 1e3 * COST_SCALE) as i64;
        let mut w = Matrix::new(n, m + n, forbidden);
        for (i, _) in tids.iter().enumerate() {
            w[(i, m + i)] = (gate * COST_SCALE) as i64;
        }
        let mut which = vec![usize::MAX; n * m];
        for &(_, tid, j, ei) in es {
            let i = tids.binary_search(&tid).expect("track in cluster");
            let k = pids.binary_search(&j).expect("plot in cluster");
            w[(i, k)] = (edges[ei].cost * COST_SCALE) as i64;
            which[i * m + k] = ei;
        }
        let (_, cols) = kuhn_munkres_min(&w);
        for (i, &k) in cols.iter().enumerate() {
            if k < m && w[(i, k)] < forbidden {
                out.push(which[i * m + k]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge((track, plot, cost, confirmed): (u64, usize, f64, bool)) -> Edge {
        Edge {
            track,
            plot,
            cost,
            ln_det: 0.0,
            manoeuvre: false,
            late: false,
            confirmed,
            dark: true,
            born: crate::time::EventTime(0),
        }
    }

    #[test]
    fn assignment_prefers_the_global_optimum() {
        // Track 1's nearest plot is 0, track 2's is 1, but plot 1 is also in track 1's
        // gate: GNN must give plot 0 → 1 and plot 1 → 2, not plot 1 to whoever asks first.
        let edges = [
            (1, 0, 0.1, true),
            (1, 1, 8.0, true),
            (2, 1, 0.2, true),
            (2, 0, 9.0, true),
        ]
        .map(edge);
        let mut a: Vec<(u64, usize)> = assign(&edges, 2, 13.8)
            .into_iter()
            .map(|e| (edges[e].track, edges[e].plot))
            .collect();
        a.sort();
        assert_eq!(a, vec![(1, 0), (2, 1)]);
        // The chosen edges do not depend on the order they come in.
        let mut rev = edges;
        rev.reverse();
        let mut b: Vec<(u64, usize)> = assign(&rev, 2, 13.8)
            .into_iter()
            .map(|e| (rev[e].track, rev[e].plot))
            .collect();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn a_confirmed_track_keeps_its_plot_from_a_better_fitting_tentative_one() {
        // The tentative track 7 fits plot 0 better than the confirmed track 3 does; a joint
        // assignment would give it plot 0 and leave 3 with nothing.
        let edges = vec![
            edge((3, 0, 6.0, true)),
            edge((7, 0, 0.5, false)),
            edge((7, 1, 2.0, false)),
        ];
        let mut taken = vec![None; 2];
        let got: Vec<(u64, usize)> = associate(edges, &mut taken, 17.8)
            .iter()
            .map(|e| (e.track, e.plot))
            .collect();
        assert_eq!(got, vec![(3, 0), (7, 1)]);
        assert_eq!(taken, vec![Some(3), Some(7)]);
    }

    #[test]
    fn a_track_whose_only_plots_cost_more_than_none_takes_none() {
        let edges = [(1, 0, 1.0, true), (2, 0, 2.0, true), (2, 1, 20.0, true)].map(edge);
        let a: Vec<usize> = assign(&edges, 2, 13.8);
        let pairs: Vec<(u64, usize)> = a.iter().map(|&e| (edges[e].track, edges[e].plot)).collect();
        assert_eq!(pairs, vec![(1, 0)]);
    }
}
