//! Event time: the instant a contact was observed, carried in the message.
//!
//! Every tracking and alert decision is taken on this clock (contract §1), never on the
//! wall clock, so that a recording replayed at any speed gives the same tracks and alerts.
//! Microseconds since the Unix epoch in an `i64` keep arithmetic exact and cheap.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use std::fmt;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

/// A timestamp that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad timestamp `{0}`: expected RFC 3339 UTC, e.g. 2026-03-14T05:02:17.500Z")]
pub struct TimeError(pub String);

impl EventTime {
    /// Parses an RFC 3339 timestamp (any offset; normalised to UTC).
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimeError> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|_| TimeError(truncate(s)))?;
        Ok(EventTime(dt.timestamp_micros()))
    }

    /// From Unix seconds, which may carry a fraction (AIS-catcher `rxuxtime`).
    pub fn from_unix_secs_f64(s: f64) -> Option<Self> {
        if !s.is_finite() || !(0.0..=32_503_680_000.0).contains(&s) {
            return None;
        }
        Some(EventTime((s * 1e6).round() as i64))
    }

    pub fn from_secs(s: i64) -> Self {
        EventTime(s.saturating_mul(1_000_000))
    }

    /// Seconds elapsed from `earlier` to `self` (negative if `earlier` is later).
    /// Saturating: hostile input can carry any time, and a difference must never overflow
    /// (found by the flood test: a panic in debug builds, a wrapped difference in release).
    #[inline]
    pub fn secs_since(self, earlier: EventTime) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 * 1e-6
    }

    /// Saturating, for the same reason (float-to-int casts already saturate).
    #[inline]
    pub fn plus_secs(self, s: f64) -> EventTime {
        EventTime(self.0.saturating_add((s * 1e6).round() as i64))
    }

    /// The current wall-clock time: for adapters only (receive stamps, `emitted_at`).
    pub fn now() -> Self {
        EventTime(Utc::now().timestamp_micros())
    }

    fn datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// RFC 3339 with milliseconds and `Z`, the contract's format.
    pub fn to_rfc3339(self) -> String {
        self.datetime().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Compact basic-format second, for identifiers: `20260314T050432Z`.
    pub fn compact(self) -> String {
        self.datetime().format("%Y%m%dT%H%M%SZ").to_string()
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for EventTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for EventTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        EventTime::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_contract_example() {
        let t = EventTime::parse_rfc3339("2026-03-14T05:02:17.500Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-14T05:02:17.500Z");
        assert_eq!(t.compact(), "20260314T050217Z");
        let t2 = EventTime::parse_rfc3339("2026-03-14T06:02:17.5+01:00").unwrap();
        assert_eq!(t, t2);
    }

    #[test]
    fn extreme_times_never_overflow() {
        let (lo, hi) = (EventTime(i64::MIN), EventTime(i64::MAX));
        assert!(hi.secs_since(lo) > 0.0 && lo.secs_since(hi) < 0.0);
        assert_eq!(hi.plus_secs(1e300), hi);
        assert_eq!(lo.plus_secs(-1e300), lo);
    }

    #[test]
    fn rejects_garbage() {
        assert!(EventTime::parse_rfc3339("yesterday").is_err());
        assert!(EventTime::parse_rfc3339("2026-13-14T05:02:17Z").is_err());
        assert!(EventTime::from_unix_secs_f64(f64::NAN).is_none());
    }
}
