//! Why an input was rejected. Each variant maps to one bounded metric label.

use crate::time::TimeError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("topic `{0}` is not a contact topic: expected PREFIX/contacts/radar/SENSOR or PREFIX/contacts/ais/SOURCE")]
    UnknownTopic(String),
    #[error("payload of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("{n} plots in one message exceed the limit of {max} (limits.max_plots_per_message)")]
    TooManyPlots { n: usize, max: usize },
    #[error("empty payload")]
    Empty,
    #[error("payload is not UTF-8 text")]
    NotUtf8,
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("unknown sensor `{0}`: add a [[radar]] table with id = \"{0}\" to the configuration")]
    UnknownSensor(String),
    #[error("message says sensor `{field}` but arrived on the topic of sensor `{topic}`")]
    SensorMismatch { field: String, topic: String },
    #[error("plot {index}: {reason}")]
    BadPlot { index: usize, reason: String },
    #[error("{0}")]
    BadTime(#[from] TimeError),
    #[error("AIS JSON object {index}: {reason}")]
    BadAisJson { index: usize, reason: String },
    #[error(
        "line {line}: NMEA checksum mismatch (computed {computed:02X}, sentence says {given})"
    )]
    Checksum {
        line: usize,
        computed: u8,
        given: String,
    },
    #[error("line {line}: malformed NMEA sentence: {reason}")]
    Nmea { line: usize, reason: String },
    #[error("line {line}: fragment {num} of {total} arrived without its predecessors")]
    Fragment { line: usize, num: u8, total: u8 },
    #[error("AIS message body: {0}")]
    AisBody(String),
    /// Contract §1: event time checked against receive time.
    #[error("contact {index}: stamped {ahead_s:.1} s after it was received (limit limits.max_future_s = {max_s} s): the sensor's clock is ahead")]
    FutureTime {
        index: usize,
        ahead_s: f64,
        max_s: f64,
    },
    #[error("contact {index}: stamped {behind_s:.1} s before it was received (limit limits.max_age_s = {max_s} s): the sensor's clock is behind, or the contact was held back")]
    StaleTime {
        index: usize,
        behind_s: f64,
        max_s: f64,
    },
    /// Issue 19: a sensor sending far more than its usual rate (see `admission.rs`).
    #[error("message refused: its sensor sends over {limit_per_s:.0} contacts/s of event time, {factor:.0}× its usual {usual_per_s:.1}/s (limits.sensor_rate_factor, limits.sensor_rate_floor_per_s)")]
    RateLimited {
        usual_per_s: f64,
        limit_per_s: f64,
        factor: f64,
    },
}

impl DecodeError {
    /// A short, bounded label for the `vigie_rejected_total{reason}` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::UnknownTopic(_) => "unknown_topic",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::TooManyPlots { .. } => "too_many_plots",
            DecodeError::Empty => "empty",
            DecodeError::NotUtf8 => "not_utf8",
            DecodeError::Json(_) => "malformed_json",
            DecodeError::UnknownSensor(_) => "unknown_sensor",
            DecodeError::SensorMismatch { .. } => "sensor_mismatch",
            DecodeError::BadPlot { .. } => "bad_plot",
            DecodeError::BadTime(_) => "bad_time",
            DecodeError::BadAisJson { .. } => "bad_ais_json",
            DecodeError::Checksum { .. } => "nmea_checksum",
            DecodeError::Nmea { .. } => "nmea_malformed",
            DecodeError::Fragment { .. } => "nmea_fragment",
            DecodeError::AisBody(_) => "ais_body",
            DecodeError::FutureTime { .. } => "future_time",
            DecodeError::StaleTime { .. } => "stale_time",
            DecodeError::RateLimited { .. } => "rate_limited",
        }
    }

    /// Every label [`reason`](Self::reason) can return, so metrics can pre-register them.
    pub const REASONS: &'static [&'static str] = &[
        "unknown_topic",
        "too_large",
        "too_many_plots",
        "empty",
        "not_utf8",
        "malformed_json",
        "unknown_sensor",
        "sensor_mismatch",
        "bad_plot",
        "bad_time",
        "bad_ais_json",
        "nmea_checksum",
        "nmea_malformed",
        "nmea_fragment",
        "ais_body",
        "future_time",
        "stale_time",
        "rate_limited",
    ];

    /// A rejection that says something about its sensor (its clock, its rate), not about
    /// one message's format: logged once a minute per sensor for as long as it lasts.
    pub fn is_per_sensor(&self) -> bool {
        matches!(
            self,
            DecodeError::FutureTime { .. }
                | DecodeError::StaleTime { .. }
                | DecodeError::RateLimited { .. }
        )
    }
}
