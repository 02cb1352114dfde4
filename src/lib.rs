//! # vigie — real-time maritime tracking for the Côte d'Opale
//!
//! vigie ingests radar plots and AIS reports over MQTT, tracks every target with Kalman
//! filters, and raises a `taxi_boat_pickup` alert within milliseconds of the contact that
//! proves a boat is loitering in a shallow-water interception zone.
//!
//! ## The flow
//!
//! ```text
//!  MQTT / recording ─► decode ─► Contact ─► Tracker ─► track update ─► Zones + Loiter ─► AlertEvent ─► MQTT / files
//!    (io::*)          (decode)  (contact)   (track)                    (geo, behaviour)   (behaviour)     (io::*)
//! ```
//!
//! Everything between the adapters is the pure core ([`pipeline::Pipeline`]): synchronous,
//! deterministic and driven only by the event time carried in the messages. Adapters in
//! [`io`] own the sockets, files, clocks and tasks. Offline replay, live replay and tests
//! therefore produce the same tracks and alerts from the same input.
//!
//! ## Where things are, and why
//!
//! - The core: [`config`], [`contact`], [`time`], [`recording`] (the format, not the files),
//!   [`decode`], [`geo`], [`track`], [`behaviour`], [`engine`], [`report`] (CAP, CISE,
//!   SITREP). It never imports what is
//!   below; `tests/layout.rs` fails if it does, or if any import closes a cycle.
//! - [`metrics`]: the Prometheus observer, fed the core's outputs and counts as plain data.
//! - [`io`]: the adapters, and the commands built from them (`run`, `replay`, `record`).
//! - [`training`]: the second product, for trainers and tests — simulate a scene, replay
//!   it, score it against its truth, draw it.

pub mod admission;
pub mod behaviour;
pub mod config;
pub mod contact;
pub mod decode;
pub mod engine;
pub mod geo;
pub mod io;
pub mod metrics;
pub mod pipeline;
pub mod recording;
pub mod report;
pub mod snapshot;
pub mod time;
pub mod track;
pub mod training;

pub use config::Config;
pub use engine::{Engine, Outputs, TrackState};
pub use pipeline::Pipeline;
pub use time::EventTime;
