//! Multi-target tracking, one component a job (as Stone Soup's trackers):
//!
//! | file | job |
//! |---|---|
//! | `measurement.rs` | what comes in: plots and AIS reports in the local frame |
//! | `table.rs` | what a track is, and the id-ordered table of them |
//! | `kalman.rs` | the constant-velocity model and the closed-form updates (adskalman) |
//! | `predictor.rs` | a track's state at another time, steady or manoeuvring |
//! | `imm.rs` | the two motion models a track carries (steady, manoeuvring) and their mixing |
//! | `grid.rs`, `hypothesiser.rs` | which plot could be which track's (gating) |
//! | `associator.rs` | which track takes which plot (GNN, confirmed tracks first) |
//! | `jpda.rs` | inside ambiguous clusters, each track's plots weighted by their probability |
//! | `updater.rs` | the filter update (IMM or single model), the track score |
//! | `initiator.rs` | new tracks, and confirmation |
//! | `identity.rs` | AIS identity fusion |
//! | `deleter.rs` | when a track is lost |
//! | `merger.rs` | when two confirmed tracks are one object |
//! | `clutter.rs` | the clutter map the engine keeps beside the tracker |
//! | `tracker.rs` | the sequence of those steps for one scan or report, and taking a scan back |
//!
//! A multi-hypothesis window would be a new component here, not another branch inside the
//! tracker.
pub mod associator;
pub mod clutter;
pub mod deleter;
pub mod grid;
pub mod hypothesiser;
pub mod identity;
pub mod imm;
pub mod initiator;
pub mod jpda;
pub mod kalman;
pub mod measurement;
pub mod merger;
pub mod predictor;
pub mod retrodiction;
pub mod table;
#[cfg(test)]
pub(crate) mod testing;
pub mod tracker;
pub mod updater;

pub use measurement::{AisMeasurement, Measurement};
pub use table::Track;
pub use tracker::{AisOutcome, Tracker, TrackerStats};
