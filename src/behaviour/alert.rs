//! Alert events as published (contract §4).

use crate::time::EventTime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Raised,
    Updated,
    Cleared,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Raised => "raised",
            AlertState::Updated => "updated",
            AlertState::Cleared => "cleared",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneRef {
    pub id: String,
    pub name: String,
}

/// One event in an alert's life. Field order is the contract's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub id: String,
    pub kind: String,
    pub state: AlertState,
    pub track_id: String,
    /// Event time of the contact that caused this event.
    pub t: EventTime,
    pub lat: f64,
    pub lon: f64,
    /// The zone the alert is about; `null` for an identity conflict far from every zone.
    pub zone: Option<ZoneRef>,
    pub dwell_s: f64,
    pub speed_kn: f64,
    pub dark: bool,
    pub mmsi: Option<u32>,
    pub exercise: bool,
    /// Wall-clock time of publication, stamped by the adapter that publishes it.
    pub emitted_at: Option<EventTime>,
    /// Why a `cleared` event was emitted (extension): `left_zone`, `under_way`,
    /// `track_lost`, `allow_listed`, `fixed_object`; `identity_consistent` for an identity
    /// conflict that has not recurred for `alerts.identity_clear_s`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Identity conflicts (extension): how far apart (m) the two reports that contradict
    /// each other were.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub distance_m: Option<f64>,
    /// Identity conflicts (extension): the other place the MMSI was reported from (`lat`/`lon`
    /// is the place away from the track the MMSI was fused with).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub other_lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub other_lon: Option<f64>,
    /// The vessel's AIS name when the track is identified and a static report named it
    /// (extension). Attacker-controlled text: every output that prints it escapes it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Pickups (extension): the sensors that fed the track in the last one to two minutes —
    /// the configured radar or camera ids, and `ais` — so an officer can judge the alert.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sensors: Option<Vec<String>>,
    /// Pickups (extension): how well the boat's position is known, metres (1-sigma along
    /// the estimate's worst axis).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub position_error_m: Option<f64>,
}

impl AlertEvent {
    /// The zone's id, or `-` when the alert names none (for logs and tables).
    pub fn zone_id(&self) -> &str {
        self.zone.as_ref().map_or("-", |z| z.id.as_str())
    }
}

/// Knots per m/s, for alert speeds.
pub(crate) const MPS_TO_KN: f64 = 3600.0 / 1852.0;

/// Rounds an alert figure to `1 / scale` (1e6: ~0.1 m of latitude; 10: a tenth).
pub(crate) fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

pub const KIND_TAXI_BOAT: &str = "taxi_boat_pickup";
pub const KIND_IDENTITY_CONFLICT: &str = "ais_identity_conflict";

/// serde through JSON text, for a type whose serde leaves fields out (the contract's
/// alert events), inside a binary format (engine snapshots). JSON floats go through bit
/// for bit (`serde_json`'s `float_roundtrip`). Here, not in the snapshot module: the
/// behaviour types use it, and the snapshot module depends on them.
pub mod as_json {
    use serde::de::{DeserializeOwned, Error as _};
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_string(v)
            .map_err(S::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        serde_json::from_str(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}
