//! Training and evaluation: a second product beside the live service, for trainers and for
//! the tests that hold vigie to known truth.
//!
//! The round trip: [`sim`] turns a scene file (`fixtures/scenarios/*.toml`: vessels, routes,
//! stops, radars, AIS, clutter) into a recording exactly as sensors would have published it
//! (AIS as NMEA through [`encode`], vigie's own AIVDM encoder), with the truth of every
//! stop; `vigie replay --offline` runs that recording through the same core as live; [`score`]
//! sets the alerts and tracks against the truth (recall, false alarms, delays, GOSPA,
//! identity switches); [`picture`] draws the scene as SVG for a debrief.
//!
//! Why apart from the core: nothing here runs live, and nothing in the core may depend on
//! it. It reads the core's outputs and the recording format ([`crate::recording`]), never
//! an adapter.
pub mod encode;
pub mod picture;
pub mod score;
pub mod sim;
