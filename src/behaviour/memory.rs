//! What the loiter rule has learned that must outlive a track and a process: the fixed
//! objects it has seen (buoys, moored hulks) and where boats that were under way were last
//! seen (issue 19).
//!
//! Why both: a return that has sat in one place since its track began may be a buoy or a
//! boat that stopped while vigie was not watching it (its track lost in the surf, a radar
//! back from an outage, vigie restarted). Telling them apart needs history the new track
//! does not have. A buoy is one because it has been seen sitting there for a long time
//! (learned fixed objects, kept across restarts); a stopped boat is one because a boat under
//! way was seen there shortly before (movers). The adapter saves this to
//! `alerts.memory_file` and loads it at start; the core only converts it.

use crate::time::EventTime;
use serde::{Deserialize, Serialize};

/// The format version written and read; a file of another version is ignored (with a log
/// line) rather than misread.
pub const MEMORY_FORMAT: u32 = 1;

/// One engine's learned picture, in geodetic coordinates (the local frame is not part of the
/// contract and may change with the configuration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoiterMemory {
    /// Fixed objects learned from the radar picture (configured ones stay in the
    /// configuration).
    pub fixed_objects: Vec<LearnedFixed>,
    /// Boats that were under way, where and when last seen: a track that begins stopped near
    /// one is that boat re-acquired, and may alert.
    pub movers: Vec<Mover>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LearnedFixed {
    pub lat: f64,
    pub lon: f64,
    /// When the rule learned it.
    pub learned: EventTime,
    /// When a track last sat there: one not seen for `alerts.fixed_object_forget_s` (a buoy
    /// taken away) is forgotten.
    pub seen: EventTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mover {
    pub lat: f64,
    pub lon: f64,
    pub t: EventTime,
}

/// The file: the live and the exercise engines learn apart (exercise data must not teach
/// the live picture that a place is a buoy's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryFile {
    pub format: u32,
    pub live: LoiterMemory,
    pub exercise: LoiterMemory,
}
