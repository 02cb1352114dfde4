//! Operator actions on alerts (contract §7): plain data, so that the core's report formats
//! (CAP `Update`/`Ack`) can speak of them without knowing who took them or where.

use crate::time::EventTime;
use serde::{Deserialize, Serialize};

/// One operator action on an alert (contract §7), as stored, published and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub alert_id: String,
    /// `acknowledge`, `assign`, `resolve` or `note`.
    pub action: String,
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    /// Wall-clock time the action was taken.
    pub at: EventTime,
}
