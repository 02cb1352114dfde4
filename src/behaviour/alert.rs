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
    pub zone: ZoneRef,
    pub dwell_s: f64,
    pub speed_kn: f64,
    pub dark: bool,
    pub mmsi: Option<u32>,
    pub exercise: bool,
    /// Wall-clock time of publication, stamped by the adapter that publishes it.
    pub emitted_at: Option<EventTime>,
    /// Why a `cleared` event was emitted (extension): `left_zone`, `under_way`,
    /// `track_lost`, `allow_listed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

pub const KIND_TAXI_BOAT: &str = "taxi_boat_pickup";
