//! Multi-target tracking: Kalman models, gating and assignment, track management.
pub mod clutter;
pub mod grid;
pub mod kalman;
pub mod manager;
pub mod table;

pub use manager::{Measurement, Track, Tracker, TrackerStats};
