//! The types that cross the core's border: decoded contacts, still in sensor terms.
//!
//! Decoders know formats, not geometry: a polar plot stays (range, bearing) here and the
//! engine places it with its radar's site, so the same decoder serves any configuration.

use crate::time::EventTime;

/// Where a plot says the target is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlotPos {
    /// Range and true bearing from the configured site of the sensor.
    Polar { range_m: f64, bearing_deg: f64 },
    /// WGS 84 position with its 1-sigma horizontal error.
    Geo { lat: f64, lon: f64, sigma_m: f64 },
}

/// One anonymous detection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plot {
    pub t: EventTime,
    pub pos: PlotPos,
}

/// One radar message: a scan or a sector of plots from one sensor.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RadarScan {
    /// Index of the sensor in the configuration's `[[radar]]` list.
    pub sensor: usize,
    /// Scan time (the message's `t`, or receive time).
    pub t: EventTime,
    pub plots: Vec<Plot>,
    pub exercise: bool,
}

/// An AIS position report (types 1, 2, 3, 18, 19, 27), in degrees and knots.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AisPosition {
    pub t: EventTime,
    pub msg_type: u8,
    pub mmsi: u32,
    pub lat: f64,
    pub lon: f64,
    pub sog_kn: Option<f64>,
    pub cog_deg: Option<f64>,
    pub heading_deg: Option<u16>,
    pub status: Option<u8>,
}

/// AIS static data (types 5, 19, 24): identity that enriches a vessel.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AisStatic {
    pub msg_type: u8,
    pub mmsi: u32,
    pub name: Option<String>,
    pub callsign: Option<String>,
    pub ship_type: Option<u8>,
    /// Metres to bow, stern, port, starboard from the GNSS antenna.
    pub dims: Option<[u16; 4]>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AisReport {
    Position(AisPosition),
    Static(AisStatic),
}

impl AisReport {
    pub fn mmsi(&self) -> u32 {
        match self {
            AisReport::Position(p) => p.mmsi,
            AisReport::Static(s) => s.mmsi,
        }
    }
}

/// One AIS message's worth of reports (a JSON array or several NMEA lines).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AisBatch {
    pub reports: Vec<AisReport>,
    pub exercise: bool,
}

/// A decoded inbound message.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Radar(RadarScan),
    Ais(AisBatch),
}

impl Decoded {
    pub fn exercise(&self) -> bool {
        match self {
            Decoded::Radar(r) => r.exercise,
            Decoded::Ais(a) => a.exercise,
        }
    }

    pub fn contacts(&self) -> usize {
        match self {
            Decoded::Radar(r) => r.plots.len(),
            Decoded::Ais(a) => a.reports.len(),
        }
    }
}
