//! Joint probabilistic weighting (JPDA) inside ambiguous clusters: where two or more
//! confirmed tracks gate a common plot, each track is filtered with every plot it could
//! have, weighted by the probability that the plot is its own, instead of with the one plot
//! the assignment gave it.
//!
//! Why: two boats crossing or running close give plots a few tens of metres apart for
//! several scans, inside both tracks' gates. The assignment then picks, each scan, the
//! pairing that noise makes look cheapest; a wrong pick pulls each track toward the other
//! boat, its velocity bends, the manoeuvre detector sees the large innovations and lets the
//! velocity follow — and after the crossing each track goes on with the other boat
//! (crossing-pair, seed 3: a permanent swap). Weighting every hypothesis by its probability
//! (Bar-Shalom & Fortmann's JPDA) moves each track only as far as the evidence says, so its
//! velocity survives the ambiguous scans and carries it out on its own boat.
//!
//! Only between dark tracks: a track with an AIS identity has its velocity from its own
//! reports, so a wrong plot cannot carry it off, and weighting its plots only fed a dark
//! twin beside it (load-2000: a far radar's twin of an AIS ship, starved within a minute by
//! the assignment, lived on for the whole scene 40-120 m off the ship's track).
//!
//! Only inside ambiguous clusters: elsewhere (nearly every plot of a busy strait) one track
//! and its plot are alone and the assignment is exact. The assignment still decides which
//! track *took* which plot (confirmation, clutter learning, what starts a new track: the
//! bookkeeping of "GNN-JPDA"); this component only changes the state each track ends with.
//! Clusters too large to enumerate (more than `tracker.jpda_max_tracks` tracks, or more
//! joint events than [`MAX_EVENTS`]) keep the assignment's update.

use super::hypothesiser::Edge;
use super::measurement::Measurement;

/// Beyond this many joint association events a cluster keeps the assignment's update
/// (a cluster of six tracks each gating three plots has a few hundred).
pub const MAX_EVENTS: usize = 20_000;

/// Only tracks at least this old (event time) are weighted: the weighting exists to carry
/// a settled velocity through a few ambiguous scans, and a track of a few plots has none.
/// Weighting young tracks too kept false tracks alive in heavy surf clutter (storm: mean
/// GOSPA 73.7 -> 79.3 m, the false tracks' covariance spread by the mixture caught more
/// clutter); they lived at most 27 s there, boats that cross have been followed for minutes.
pub const MIN_AGE_S: f64 = 60.0;

/// What one track of an ambiguous cluster is filtered with.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    pub track: u64,
    /// Probability that none of the scan's plots is this track's.
    pub miss: f64,
    /// (edge index in the hypotheses, probability that its plot is this track's).
    pub plots: Vec<(usize, f64)>,
}

/// The JPDA weighting component; holds its buffer between scans.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Jpda {
    max_tracks: usize,
    /// Per plot of the scan: how many settled dark tracks gate it.
    per_plot: Vec<u8>,
}

impl Jpda {
    /// `max_tracks` 0 turns the weighting off (pure assignment everywhere).
    pub fn new(max_tracks: usize) -> Self {
        Jpda {
            max_tracks,
            per_plot: Vec::new(),
        }
    }

    /// The weights of every confirmed dark track older than [`MIN_AGE_S`] in an ambiguous
    /// cluster of this scan, in track id order. `edges` are the hypothesiser's; late plots
    /// (filtered in at their own time), tentative and young tracks and tracks with an AIS
    /// identity keep the assignment.
    pub fn weigh(&mut self, edges: &[Edge], plots: &[Measurement]) -> Vec<Weights> {
        let mut out = Vec::new();
        if self.max_tracks < 2 || edges.len() < 2 {
            return out;
        }
        let t = plots[0].t;
        let take = |e: &Edge| e.confirmed && e.dark && !e.late && t.secs_since(e.born) >= MIN_AGE_S;
        // A plot gated by two confirmed tracks is what makes a cluster ambiguous; most scans
        // have none, and then nothing else is done.
        let per_plot = &mut self.per_plot;
        per_plot.clear();
        per_plot.resize(plots.len(), 0);
        let mut shared = false;
        for e in edges.iter().filter(|e| take(e)) {
            per_plot[e.plot] = per_plot[e.plot].saturating_add(1);
            shared |= per_plot[e.plot] > 1;
        }
        if !shared {
            return out;
        }
        // Clusters: plots joined through the tracks that gate them (union-find); each
        // edge goes to the cluster of its plot.
        let mut parent: Vec<usize> = (0..plots.len()).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        let mut idx: Vec<usize> = (0..edges.len()).filter(|&i| take(&edges[i])).collect();
        idx.sort_unstable_by_key(|&i| (edges[i].track, edges[i].plot));
        for w in idx.windows(2) {
            let (a, b) = (&edges[w[0]], &edges[w[1]]);
            if a.track == b.track {
                let (ra, rb) = (find(&mut parent, a.plot), find(&mut parent, b.plot));
                if ra != rb {
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        // Only the clusters holding a shared plot; edges grouped by cluster, then track.
        let mut ambiguous = vec![false; plots.len()];
        for (j, &n) in per_plot.iter().enumerate() {
            if n > 1 {
                let r = find(&mut parent, j);
                ambiguous[r] = true;
            }
        }
        let mut groups: Vec<(usize, u64, usize)> = idx
            .iter()
            .filter_map(|&i| {
                let r = find(&mut parent, edges[i].plot);
                ambiguous[r].then_some((r, edges[i].track, i))
            })
            .collect();
        groups.sort_unstable();
        for cluster in groups.chunk_by(|a, b| a.0 == b.0) {
            self.cluster(edges, plots, cluster, &mut out);
        }
        out.sort_unstable_by_key(|w| w.track);
        out
    }

    /// Enumerates the joint events of one cluster (each track: no plot, or one of its
    /// gated plots, no plot to two tracks) and sums each (track, plot)'s probability.
    fn cluster(
        &self,
        edges: &[Edge],
        plots: &[Measurement],
        cluster: &[(usize, u64, usize)],
        out: &mut Vec<Weights>,
    ) {
        // Per track: its options as (edge index, likelihood ratio relative to missing).
        let mut tracks: Vec<(u64, Vec<(usize, f64)>)> = Vec::new();
        for group in cluster.chunk_by(|a, b| a.1 == b.1) {
            let opts = group
                .iter()
                .map(|&(_, _, i)| (i, likelihood_ratio(&edges[i], &plots[edges[i].plot])))
                .collect();
            tracks.push((group[0].1, opts));
        }
        if tracks.len() > self.max_tracks {
            return;
        }
        let events: usize = tracks
            .iter()
            .map(|(_, o)| o.len() + 1)
            .try_fold(1usize, |acc, n| acc.checked_mul(n))
            .unwrap_or(usize::MAX);
        if events > MAX_EVENTS {
            return;
        }
        // Depth-first over tracks: the weight of each complete event added to the marginal
        // of every choice in it.
        let mut used: Vec<usize> = Vec::with_capacity(tracks.len());
        let mut choice = vec![usize::MAX; tracks.len()];
        let mut marginal: Vec<Vec<f64>> =
            tracks.iter().map(|(_, o)| vec![0.0; o.len() + 1]).collect();
        let mut total = 0.0;
        #[allow(clippy::too_many_arguments)]
        fn walk(
            k: usize,
            w: f64,
            tracks: &[(u64, Vec<(usize, f64)>)],
            edges: &[Edge],
            used: &mut Vec<usize>,
            choice: &mut [usize],
            marginal: &mut [Vec<f64>],
            total: &mut f64,
        ) {
            if k == tracks.len() {
                *total += w;
                for (t, &c) in choice.iter().enumerate() {
                    marginal[t][c] += w;
                }
                return;
            }
            // No plot: the ratio's reference (1).
            choice[k] = 0;
            walk(k + 1, w, tracks, edges, used, choice, marginal, total);
            for (o, &(i, l)) in tracks[k].1.iter().enumerate() {
                let p = edges[i].plot;
                if used.contains(&p) {
                    continue;
                }
                used.push(p);
                choice[k] = o + 1;
                walk(k + 1, w * l, tracks, edges, used, choice, marginal, total);
                used.pop();
            }
        }
        walk(
            0,
            1.0,
            &tracks,
            edges,
            &mut used,
            &mut choice,
            &mut marginal,
            &mut total,
        );
        if !(total.is_finite() && total > 0.0) {
            return;
        }
        for ((track, opts), m) in tracks.iter().zip(&marginal) {
            out.push(Weights {
                track: *track,
                miss: m[0] / total,
                plots: opts
                    .iter()
                    .zip(&m[1..])
                    .map(|(&(i, _), &w)| (i, w / total))
                    .collect(),
            });
        }
    }
}

/// How much likelier the plot makes "it is this track's" than "this track was missed and
/// the plot is clutter": Pd · N(z; ẑ, S) / ((1 − Pd) · λ), from the edge's cost (the
/// squared Mahalanobis distance, with the manoeuvre hypothesis' penalty as its prior) and
/// ln det S — the same terms as the track score's evidence.
fn likelihood_ratio(e: &Edge, p: &Measurement) -> f64 {
    let pd = p.pd.clamp(1e-6, 1.0 - 1e-6);
    let ln = pd.ln()
        - (1.0 - pd).ln()
        - (2.0 * std::f64::consts::PI).ln()
        - 0.5 * e.ln_det
        - 0.5 * e.cost
        - p.clutter_density.max(1e-15).ln();
    // Bounded so a product over a cluster of six cannot overflow; at e^300 the weights are
    // already certainties.
    ln.clamp(-300.0, 100.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::testing::plot;

    fn edge(track: u64, plot: usize, cost: f64) -> Edge {
        Edge {
            track,
            plot,
            cost,
            ln_det: (400.0f64 * 400.0).ln(),
            manoeuvre: false,
            late: false,
            confirmed: true,
            dark: true,
            born: crate::time::EventTime(0),
        }
    }

    fn scan(n: usize) -> Vec<Measurement> {
        (0..n).map(|j| plot(100.0, 30.0 * j as f64, 0.0)).collect()
    }

    #[test]
    fn tracks_alone_with_their_plots_are_left_to_the_assignment() {
        let edges = [edge(1, 0, 1.0), edge(2, 1, 0.5), edge(2, 2, 6.0)];
        assert!(Jpda::new(6).weigh(&edges, &scan(3)).is_empty());
    }

    #[test]
    fn two_tracks_sharing_two_plots_share_them_by_their_fit() {
        // Track 1 fits plot 0 well and plot 1 badly; track 2 the other way round; a third,
        // far track with a plot of its own is not in the cluster.
        let edges = [
            edge(1, 0, 0.5),
            edge(1, 1, 6.0),
            edge(2, 0, 6.0),
            edge(2, 1, 0.5),
            edge(3, 2, 0.1),
        ];
        let w = Jpda::new(6).weigh(&edges, &scan(3));
        assert_eq!(w.iter().map(|w| w.track).collect::<Vec<_>>(), [1, 2]);
        for (k, w) in w.iter().enumerate() {
            let sum = w.miss + w.plots.iter().map(|p| p.1).sum::<f64>();
            assert!((sum - 1.0).abs() < 1e-9, "{w:?}");
            let own = w.plots.iter().find(|p| edges[p.0].plot == k).unwrap().1;
            let other = w.plots.iter().find(|p| edges[p.0].plot != k).unwrap().1;
            assert!(own > 0.9 && other < 0.05 && other > 0.0, "{w:?}");
        }
        // Equal fits: each plot is either track's with equal probability.
        let even = [
            edge(1, 0, 1.0),
            edge(1, 1, 1.0),
            edge(2, 0, 1.0),
            edge(2, 1, 1.0),
        ];
        let w = Jpda::new(6).weigh(&even, &scan(2));
        assert!((w[0].plots[0].1 - w[0].plots[1].1).abs() < 1e-12);
        assert!((w[0].plots[0].1 - w[1].plots[0].1).abs() < 1e-12);
        // Off: nothing weighted.
        assert!(Jpda::new(0).weigh(&even, &scan(2)).is_empty());
    }

    #[test]
    fn one_plot_between_two_tracks_is_not_given_to_both() {
        // One plot, two tracks: each joint event gives it to one track at most, so the two
        // tracks' shares of it sum to less than one.
        let edges = [edge(1, 0, 1.0), edge(2, 0, 1.0)];
        let w = Jpda::new(6).weigh(&edges, &scan(1));
        let shares = w[0].plots[0].1 + w[1].plots[0].1;
        assert!(shares < 1.0 && w[0].miss > 0.0, "{w:?}");
    }
}
