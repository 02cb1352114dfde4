//! Behaviour on top of tracks: loiter detection and the alert lifecycle.
pub mod alert;
pub mod loiter;

pub use alert::{AlertEvent, AlertState};
