//! Behaviour on top of tracks: loiter detection, identity conflicts and the alert lifecycle.
pub mod action;
pub mod alert;
pub mod identity;
pub mod loiter;
pub mod memory;

pub use action::Action;
pub use alert::{AlertEvent, AlertState};
