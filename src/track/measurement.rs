//! What the tracker takes in: contacts already placed in the local frame (metres east and
//! north of the frame's origin) with their errors. The engine converts polar plots, geographic
//! plots and AIS reports into these; the tracker never sees a sensor's own coordinates.

use crate::time::EventTime;

/// A position measurement in the local frame, ready for the filter.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Measurement {
    pub t: EventTime,
    pub z: [f64; 2],
    pub r: [[f64; 2]; 2],
    /// Detection probability of the sensor, for the track score.
    pub pd: f64,
    /// False plots per square metre per scan of the sensor.
    pub clutter_density: f64,
    /// The sensor's bit ([`super::table::Seen::radar`]).
    pub sensor: u32,
}

/// An AIS report in the local frame.
#[derive(Clone, Copy, Debug)]
pub struct AisMeasurement {
    pub t: EventTime,
    pub mmsi: u32,
    pub z: [f64; 2],
    /// Velocity from SOG/COG, when both were given.
    pub vel: Option<[f64; 2]>,
}
